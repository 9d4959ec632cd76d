"""``backoffice seed-bench``: large synthetic data for the benchmarks in ``bench/``.

Rows are made by the database itself (``generate_series`` on PostgreSQL, a recursive
CTE on SQLite), so millions of transactions take minutes, not hours. They are single
deposits (70 % activated, the rest reported and never claimed) over the last
``days`` days, spread over every wallet; the dashboard rollup is rebuilt at the end.
"""
import random
from decimal import Decimal

from .db import db, is_postgres
from .demo import MIN_DEPOSIT, PAYMENT_SYSTEMS, RATE_TO_USD, _rates
from .models import ExchangeRate, Merchant, MerchantPaymentSystem, PaymentSystem, Transaction, Wallet
from .services import ledger, stats_rollup
from .services.merchants import create_merchant

BATCH = 500_000


def _reference_data(merchants):
    systems = []
    for code, name, currency, fields in PAYMENT_SYSTEMS:
        ps = PaymentSystem.get_or_none(PaymentSystem.code == code) or PaymentSystem.create(
            code=code, name=name, currency=currency, withdrawal_fields=fields)
        systems.append(ps)
    if not ExchangeRate.select().exists():
        _rates(random.Random(1))
    existing = Merchant.select().where(Merchant.name.startswith("Bench ")).count()
    for n in range(existing, merchants):
        m = create_merchant(f"Bench {n + 1}", None, timezone="Asia/Dhaka")
        for ps in systems:
            MerchantPaymentSystem.create(merchant=m, payment_system=ps, min_deposit=MIN_DEPOSIT[ps.currency],
                                         commission_percent=Decimal("2.00"))
            for k in range(2):
                Wallet.create(merchant=m, payment_system=ps, identifier=f"bench-{m.id}-{ps.code}-{k}",
                              number=f"9{m.id:04d}{ps.id:02d}{k}{n:04d}")
    assert RATE_TO_USD  # the demo's rates cover every bench currency


PG_INSERT = """
WITH wl AS (
    SELECT (row_number() OVER (ORDER BY w.id)) - 1 AS k, w.id, w.payment_system_id, w.merchant_id, ps.currency
    FROM wallet w JOIN payment_system ps ON ps.id = w.payment_system_id
    WHERE left(w.identifier, 6) = 'bench-'
), n AS (SELECT count(*) AS c FROM wl),
rows AS (
    SELECT g, random() AS r, random() AS a,
           (now() AT TIME ZONE 'UTC') - (random() * %s * interval '1 day') AS created
    FROM generate_series(%s::bigint, %s::bigint) AS g
)
INSERT INTO "transaction" (wallet_id, payment_system_id, merchant_id, amount, currency, commission,
    transaction_number, direction, counterparty, label, order_id, type, originality, status, postback_status,
    created_at, activated_at)
SELECT wl.id, wl.payment_system_id, wl.merchant_id, round((500 + a * 4500)::numeric, 2), wl.currency,
       round(((500 + a * 4500) * 0.02)::numeric, 2), 'S' || g, 'incoming', '',
       CASE WHEN r < 0.7 THEN 'user-' || mod(g, 50000) END, CASE WHEN r < 0.7 THEN 'ord-' || g END,
       'auto', 'normal', CASE WHEN r < 0.7 THEN 'activated' ELSE 'new' END,
       CASE WHEN r < 0.7 THEN 'sent' ELSE 'not_activated' END,
       date_trunc('second', created),
       CASE WHEN r < 0.7 THEN date_trunc('second', created + (r * 30) * interval '1 minute') END
FROM rows JOIN wl ON wl.k = mod(rows.g, (SELECT c FROM n))
"""

SQLITE_INSERT = """
WITH RECURSIVE seq(g) AS (SELECT ? UNION ALL SELECT g + 1 FROM seq WHERE g < ?),
wl AS (
    SELECT (row_number() OVER (ORDER BY w.id)) - 1 AS k, w.id, w.payment_system_id, w.merchant_id, ps.currency
    FROM wallet w JOIN payment_system ps ON ps.id = w.payment_system_id
    WHERE w.identifier LIKE 'bench-%'
), n AS (SELECT count(*) AS c FROM wl),
rows AS MATERIALIZED (  -- random() once per row, however often it is read
    SELECT g, (abs(random()) % 10000) / 10000.0 AS r, (abs(random()) % 10000) / 10000.0 AS a,
           (abs(random()) % (? * 86400)) AS back
    FROM seq
)
INSERT INTO "transaction" (wallet_id, payment_system_id, merchant_id, amount, currency, commission,
    transaction_number, direction, counterparty, label, order_id, type, originality, status, postback_status,
    created_at, activated_at)
SELECT wl.id, wl.payment_system_id, wl.merchant_id, round(500 + a * 4500, 2), wl.currency,
       round((500 + a * 4500) * 0.02, 2), 'S' || g, 'incoming', '',
       CASE WHEN r < 0.7 THEN 'user-' || (g % 50000) END, CASE WHEN r < 0.7 THEN 'ord-' || g END,
       'auto', 'normal', CASE WHEN r < 0.7 THEN 'activated' ELSE 'new' END,
       CASE WHEN r < 0.7 THEN 'sent' ELSE 'not_activated' END,
       datetime('now', '-' || back || ' seconds'),
       CASE WHEN r < 0.7 THEN datetime('now', '-' || back || ' seconds', '+' || cast(r * 30 AS integer)
                                       || ' minutes') END
FROM rows JOIN wl ON wl.k = rows.g % (SELECT c FROM n)
"""


def seed(transactions, merchants=5, days=180, progress=None):
    """Add ``transactions`` synthetic transactions (numbers continue after any earlier run)."""
    with db.atomic():
        _reference_data(merchants)
    start = Transaction.select().where(Transaction.transaction_number.startswith("S")).count() + 1
    stop = start + transactions - 1
    for first in range(start, stop + 1, BATCH):
        last = min(first + BATCH - 1, stop)
        with db.atomic():
            if is_postgres():
                db.execute_sql(PG_INSERT, (int(days), first, last))
            else:
                db.execute_sql(SQLITE_INSERT, (first, last, int(days)))
        if progress:
            progress(last - start + 1)
    # Booked as migration 0007 books an upgraded database: for the bench merchants that
    # have no balance yet (seed a fresh database: rows added later to a merchant that
    # has one are not booked).
    ledger.book_history()
    if is_postgres():
        db.execute_sql('ANALYZE "transaction"')
    return stats_rollup.rebuild()
