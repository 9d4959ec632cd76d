"""Booking history that was written before (or beside) the ledger: what migration
0007 does to an existing database, and what the demo and bench seeders do after
inserting transactions and withdrawals in bulk. Not a migration itself (the runner
takes only files whose names start with a digit).

Plain SQL over the tables as 0007 made them, the same on SQLite and PostgreSQL: the
source events of every merchant that has no balance yet are booked in time order,
the running balances by a window sum, then the Balance rows from the entries. Each
balance ends exactly where ``SPEC §3``'s sum put it: completed deposits (not fraud)
less their commission, less the withdrawals that are new or approved; ``on_hold``
holds the new ones.
"""
COMPLETED = "('pending', 'sent', 'error')"  # postback statuses of a completed deposit
COUNTED = (
    "t.status = 'activated' AND t.direction = 'incoming' AND t.originality = 'normal' "
    f"AND t.postback_status IN {COMPLETED}"
)
UNBOOKED = 'NOT IN (SELECT "merchant_id" FROM "balance")'

EVENTS = f"""
SELECT t.merchant_id, t.currency, 'deposit' AS kind, t.amount AS amount, 0 AS hold,
       'transaction' AS source_type, t.id AS source_id, COALESCE(t.activated_at, t.created_at) AS ts, 1 AS seq
  FROM "transaction" t WHERE {COUNTED} AND t.stockpiling_id IS NULL AND t.merchant_id {UNBOOKED}
UNION ALL
SELECT t.merchant_id, t.currency, 'commission', -t.commission, 0,
       'transaction', t.id, COALESCE(t.activated_at, t.created_at), 2
  FROM "transaction" t WHERE {COUNTED} AND t.stockpiling_id IS NULL AND t.commission <> 0
   AND t.merchant_id {UNBOOKED}
UNION ALL
SELECT t.merchant_id, t.currency, 'deposit', SUM(t.amount), 0,
       'stockpiling', t.stockpiling_id, MAX(COALESCE(t.stockpiling_end_at, t.activated_at, t.created_at)), 1
  FROM "transaction" t WHERE {COUNTED} AND t.stockpiling_id IS NOT NULL AND t.merchant_id {UNBOOKED}
 GROUP BY t.merchant_id, t.currency, t.stockpiling_id
UNION ALL
SELECT t.merchant_id, t.currency, 'commission', -SUM(t.commission), 0,
       'stockpiling', t.stockpiling_id, MAX(COALESCE(t.stockpiling_end_at, t.activated_at, t.created_at)), 2
  FROM "transaction" t WHERE {COUNTED} AND t.stockpiling_id IS NOT NULL AND t.merchant_id {UNBOOKED}
 GROUP BY t.merchant_id, t.currency, t.stockpiling_id HAVING SUM(t.commission) <> 0
UNION ALL
SELECT w.merchant_id, w.currency, 'withdrawal_hold', -w.amount, w.amount,
       'withdrawal', w.id, w.created_at, 1
  FROM "withdrawal" w WHERE w.merchant_id {UNBOOKED}
UNION ALL
SELECT w.merchant_id, w.currency,
       CASE WHEN w.status = 'approved' THEN 'withdrawal_payout' ELSE 'withdrawal_release' END,
       CASE WHEN w.status = 'approved' THEN 0 ELSE w.amount END, -w.amount,
       'withdrawal', w.id, COALESCE(w.decided_at, w.created_at), 2
  FROM "withdrawal" w WHERE w.status <> 'new' AND w.merchant_id {UNBOOKED}
"""

INSERT_ENTRIES = f"""
INSERT INTO "ledger_entry" ("merchant_id", "currency", "kind", "amount", "hold", "available_after",
                            "on_hold_after", "source_type", "source_id", "occurrence", "actor_id", "memo",
                            "created_at")
SELECT e.merchant_id, e.currency, e.kind, e.amount, e.hold,
       SUM(e.amount) OVER w, SUM(e.hold) OVER w,
       e.source_type, e.source_id, 1, NULL, 'booked from the history', e.ts
  FROM ({EVENTS}) e
WINDOW w AS (PARTITION BY e.merchant_id, e.currency ORDER BY e.ts, e.source_type, e.source_id, e.seq
             ROWS UNBOUNDED PRECEDING)
 ORDER BY e.ts, e.source_type, e.source_id, e.seq
"""

INSERT_BALANCES = f"""
INSERT INTO "balance" ("merchant_id", "currency", "available", "on_hold", "updated_at")
SELECT "merchant_id", "currency", SUM("amount"), SUM("hold"), {{now}}
  FROM "ledger_entry" WHERE "merchant_id" {UNBOOKED}
 GROUP BY "merchant_id", "currency"
"""


def book_history(db):
    """Book every unbooked merchant's history; returns the number of entries written."""
    with db.atomic():
        cursor = db.execute_sql(INSERT_ENTRIES)
        written = cursor.rowcount
        db.execute_sql(INSERT_BALANCES.format(now="CURRENT_TIMESTAMP"))
    return written
