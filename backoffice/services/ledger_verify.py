"""``ledger verify``: every balance recomputed from the source records and from the
entries, and compared with its Balance row (SPEC §9).

The source records' rule is the one the balance followed before the ledger (SPEC §3,
issue 5): ``available`` = completed deposits (incoming, activated, not fraud, whose
postback status says the deposit completed) less their commission, less the
withdrawals that are new or approved, plus the operators' adjustments; ``on_hold`` =
the withdrawals that are new. These sums read the whole history: they are for this
check only, never for a balance that the product shows or a decision it takes.

:func:`check` is what the ``backoffice ledger verify`` command and the daily job
run: :func:`verify` on one snapshot of the database, then the run written to the
audit log (action ``ledger.verify``, no user, no merchant: operators' data). Each
entry also carries the *outstanding* differences after that run, which
:func:`latest_state` reads back (the newest such entry, one indexed row) for the
operators' banner.
"""
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from peewee import fn

from ..db import db, is_postgres
from ..models import (
    COMPLETED_DEPOSIT_POSTBACK_STATUSES,
    AuditLog,
    Balance,
    LedgerEntry,
    Merchant,
    Transaction,
    Withdrawal,
    utcnow,
)
from . import audit, ledger

ZERO = Decimal("0.00")
RESERVING_WITHDRAWAL_STATUSES = ("new", "approved")


@dataclass
class Difference:
    merchant_id: int
    merchant_name: str
    currency: str
    balance: tuple  # (available, on_hold) of the Balance row
    entries: tuple  # the same, summed from the entries
    sources: tuple  # the same, from the source records

    def describe(self):
        def pair(values):
            return f"available {values[0]}, on hold {values[1]}"

        return (f"merchant {self.merchant_id} ({self.merchant_name}) {self.currency}: balance row {pair(self.balance)}; "
                f"entries {pair(self.entries)}; source records {pair(self.sources)}")


def _scoped(query, column, merchant_id):
    return query if merchant_id is None else query.where(column == merchant_id)


def source_totals(merchant_id=None):
    """``{(merchant_id, currency): (available, on_hold)}`` from the source records."""
    totals = {}

    def add(key, available=ZERO, on_hold=ZERO):
        a, h = totals.get(key, (ZERO, ZERO))
        totals[key] = (a + available, h + on_hold)

    deposits = _scoped(
        Transaction.select(Transaction.merchant, Transaction.currency, fn.SUM(Transaction.amount),
                           fn.SUM(Transaction.commission))
        .where((Transaction.status == "activated") & (Transaction.originality == "normal")
               & (Transaction.direction == "incoming")
               & Transaction.postback_status.in_(COMPLETED_DEPOSIT_POSTBACK_STATUSES)),
        Transaction.merchant, merchant_id).group_by(Transaction.merchant, Transaction.currency)
    for m, cur, amount, commission in deposits.tuples():
        add((m, cur), ledger.as_money(amount) - ledger.as_money(commission))
    withdrawals = _scoped(
        Withdrawal.select(Withdrawal.merchant, Withdrawal.currency, Withdrawal.status, fn.SUM(Withdrawal.amount))
        .where(Withdrawal.status.in_(RESERVING_WITHDRAWAL_STATUSES)),
        Withdrawal.merchant, merchant_id).group_by(Withdrawal.merchant, Withdrawal.currency, Withdrawal.status)
    for m, cur, status, amount in withdrawals.tuples():
        amount = ledger.as_money(amount)
        add((m, cur), -amount, amount if status == "new" else ZERO)
    adjustments = _scoped(
        LedgerEntry.select(LedgerEntry.merchant, LedgerEntry.currency, fn.SUM(LedgerEntry.amount))
        .where(LedgerEntry.kind == "adjustment"),
        LedgerEntry.merchant, merchant_id).group_by(LedgerEntry.merchant, LedgerEntry.currency)
    for m, cur, amount in adjustments.tuples():
        add((m, cur), ledger.as_money(amount))
    return totals


def entry_totals(merchant_id=None):
    """``{(merchant_id, currency): (Σamount, Σhold)}`` over the entries."""
    query = _scoped(
        LedgerEntry.select(LedgerEntry.merchant, LedgerEntry.currency, fn.SUM(LedgerEntry.amount),
                           fn.SUM(LedgerEntry.hold)),
        LedgerEntry.merchant, merchant_id).group_by(LedgerEntry.merchant, LedgerEntry.currency)
    return {(m, c): (ledger.as_money(a), ledger.as_money(h)) for m, c, a, h in query.tuples()}


def balance_totals(merchant_id=None):
    query = _scoped(Balance.select(Balance.merchant, Balance.currency, Balance.available, Balance.on_hold),
                    Balance.merchant, merchant_id)
    return {(m, c): (ledger.as_money(a), ledger.as_money(h)) for m, c, a, h in query.tuples()}


def verify(merchant_id=None):
    """Every (merchant, currency) whose Balance row, entries and source records do
    not all agree, as :class:`Difference` rows (empty: the books are consistent)."""
    rows, entries, sources = balance_totals(merchant_id), entry_totals(merchant_id), source_totals(merchant_id)
    zero = (ZERO, ZERO)
    keys = sorted(set(rows) | set(entries) | set(sources))
    names = dict(Merchant.select(Merchant.id, Merchant.name).where(Merchant.id.in_({m for m, _ in keys}))
                 .tuples()) if keys else {}
    differences = []
    for key in keys:
        found = (rows.get(key, zero), entries.get(key, zero), sources.get(key, zero))
        if not (found[0] == found[1] == found[2]):
            differences.append(Difference(key[0], names.get(key[0], "?"), key[1], *found))
    return differences


# --- the recorded check (CLI, daily job) and its latest state (the operators' banner) ------

AUDIT_ACTION = "ledger.verify"
# At most this many differences are written into one audit entry (the count is exact).
RECORDED_LIMIT = 100


@contextmanager
def _snapshot():
    """One consistent view of the database for the three sums: a deposit booked
    between two of them would otherwise look like a difference. PostgreSQL: a
    REPEATABLE READ, read-only transaction; SQLite: a read transaction (WAL: one
    snapshot from its first read). Inside a caller's transaction: the caller's."""
    if db.in_transaction():
        yield
        return
    with db.atomic():
        if is_postgres():
            db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _pair(values):
    return [str(values[0]), str(values[1])]


def _recorded(difference):
    return {"merchant_id": difference.merchant_id, "merchant": difference.merchant_name,
            "currency": difference.currency, "balance": _pair(difference.balance),
            "entries": _pair(difference.entries), "sources": _pair(difference.sources)}


def _outstanding(previous, merchant_id, differences):
    """The differences known after this run: all of this run's when it checked every
    merchant; else the previous run's, with ``merchant_id``'s replaced by this run's.
    ``(items, count)``; items are ``{"merchant_id", "merchant", "currency"}``."""
    found = [{"merchant_id": d.merchant_id, "merchant": d.merchant_name, "currency": d.currency}
             for d in differences]
    if merchant_id is None or previous is None:
        return found[:RECORDED_LIMIT], len(found)
    kept = [item for item in previous.outstanding if item["merchant_id"] != merchant_id]
    dropped = len(previous.outstanding) - len(kept)
    items = sorted(kept + found, key=lambda item: (item["merchant_id"], item["currency"]))
    count = max(previous.count - dropped, len(kept)) + len(found)
    return items[:RECORDED_LIMIT], count


def check(merchant_id=None):
    """Verify the ledger (every merchant, or one) and write the run to the audit log.

    Returns the :class:`Difference` rows found (empty: consistent). The audit entry's
    summary: ``merchant_id`` (the scope; null: every merchant), ``consistent``,
    ``difference_count``, ``differences`` (the first ``RECORDED_LIMIT``, with the
    three pairs), and ``outstanding`` / ``outstanding_count``, what the banner shows.
    """
    merchant_id = getattr(merchant_id, "id", merchant_id)
    with _snapshot():
        differences = verify(merchant_id)
    with db.atomic():
        if is_postgres():
            # The worker's connection commits asynchronously; this record is the
            # banner's state: wait for the flush.
            db.execute_sql("SET LOCAL synchronous_commit = on")
        outstanding, count = _outstanding(latest_state(), merchant_id, differences)
        audit.record(None, AUDIT_ACTION, summary={
            "merchant_id": merchant_id,
            "consistent": not differences,
            "difference_count": len(differences),
            "differences": [_recorded(d) for d in differences[:RECORDED_LIMIT]],
            "outstanding": outstanding,
            "outstanding_count": count,
        }, ip="")
    return differences


@dataclass
class CheckState:
    """What the latest recorded check left outstanding."""

    checked_at: object  # naive UTC datetime of the check
    merchant_id: object  # the scope of that check (None: every merchant)
    outstanding: list  # [{"merchant_id", "merchant", "currency"}], at most RECORDED_LIMIT
    count: int  # how many differences are outstanding in all

    @property
    def has_differences(self):
        return self.count > 0


def latest_state():
    """The state the latest ``ledger.verify`` run left (None: never checked).

    One query on the partial index ``audit_log_ledger_verify`` (migration 0009): the
    newest entry, whatever the audit log's size. Differences stay outstanding until a
    later check of the same merchants (or of all) finds none.
    """
    row = (AuditLog.select(AuditLog.created_at, AuditLog.summary)
           .where(AuditLog.action == AUDIT_ACTION)
           .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
           .limit(1).tuples().first())
    if row is None:
        return None
    created_at, summary = row
    summary = summary or {}
    outstanding = list(summary.get("outstanding") or [])
    return CheckState(checked_at=created_at, merchant_id=summary.get("merchant_id"), outstanding=outstanding,
                      count=int(summary.get("outstanding_count", len(outstanding))))


def last_full_check_at():
    """When every merchant was last checked (naive UTC; None: never). Reads the newest
    ``ledger.verify`` entries on the same index (a check of one merchant is rare)."""
    rows = (AuditLog.select(AuditLog.created_at, AuditLog.summary)
            .where(AuditLog.action == AUDIT_ACTION)
            .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
            .limit(50).tuples())
    for created_at, summary in rows:
        if (summary or {}).get("merchant_id") is None:
            return created_at
    return None


def check_due(min_age_seconds):
    """Whether a full check is due: none ran in the last ``min_age_seconds``. The
    daily job asks it, so that every worker starting (each runs its periodic jobs at
    once) does not check the whole history again."""
    last = last_full_check_at()
    return last is None or (utcnow() - last).total_seconds() >= min_age_seconds
