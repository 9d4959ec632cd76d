"""The ledger: where a merchant's money lives (SPEC §9).

Every money movement is booked by :func:`book`, the one function that writes
balances: it appends the source event's entries (``LedgerEntry``, never updated or
deleted) and moves the merchant's ``Balance`` row for that currency, in the caller's
database transaction, under the balance row's lock. Reading a balance is one indexed
row, whatever the history's length.

The source events and what they book (``amount`` moves ``available``, ``hold`` moves
``on_hold``):

==========================  =========================================  ==================
event                       entries                                    source
==========================  =========================================  ==================
deposit completed (single)  ``deposit`` +amount, ``commission`` −fee    transaction
stockpiling completed       ``deposit`` +Σamount, ``commission`` −Σfee  stockpiling
completed deposit → fraud   ``deposit_reversal`` −(amount − fee)        transaction
fraud mark withdrawn        ``deposit`` +(amount − fee)                 transaction
withdrawal requested        ``withdrawal_hold`` −A / hold +A            withdrawal
withdrawal rejected         ``withdrawal_release`` +A / hold −A         withdrawal
withdrawal cancelled        ``withdrawal_release`` +A / hold −A         withdrawal
withdrawal approved         ``withdrawal_payout`` hold −A               withdrawal
operator adjustment         ``adjustment`` ±X                           adjustment
==========================  =========================================  ==================

A unique key on (source, kind, occurrence) books each source event once: a retry or
a race that slipped past the caller's own conditional update fails instead of
booking twice. ``occurrence`` counts the events of one source that may repeat (a
deposit reversed, reinstated, reversed again).
"""
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _

from ..db import db, is_postgres, write_transaction
from ..errors import RuleError
from ..migrations import history
from ..models import Balance, LedgerEntry, Merchant, PaymentSystem, User, utcnow
from ..money import AmountError, parse_amount, quantize, to_str
from . import audit

ZERO = Decimal("0.00")
KINDS = ("deposit", "commission", "deposit_reversal", "withdrawal_hold", "withdrawal_release", "withdrawal_payout",
         "adjustment")
SOURCE_TYPES = ("transaction", "stockpiling", "withdrawal", "adjustment")

# One statement takes the balance row's lock and moves it: an upsert whose RETURNING
# gives the balance after the move (PostgreSQL and SQLite 3.35+ alike).
_MOVE_SQL = (
    'INSERT INTO "balance" ("merchant_id", "currency", "available", "on_hold", "updated_at") '
    "VALUES ({p}, {p}, {p}, {p}, {p}) "
    'ON CONFLICT ("merchant_id", "currency") DO UPDATE SET '
    '"available" = "balance"."available" + EXCLUDED."available", '
    '"on_hold" = "balance"."on_hold" + EXCLUDED."on_hold", '
    '"updated_at" = EXCLUDED."updated_at" '
    'RETURNING "available", "on_hold"'
)


def as_money(value):
    """A summed or raw money column as a 2-place Decimal (SQLite hands DECIMAL columns
    back as floats: back to the cent, exact below 10^13)."""
    return ZERO if value is None else quantize(Decimal(str(value)))


def lock_balance(merchant_id, currency):
    """The balance row, locked until the transaction ends (``FOR UPDATE`` on
    PostgreSQL; SQLite's write transaction holds the whole database already).
    ``(available, on_hold)``; zeros when the merchant has none in ``currency``."""
    query = Balance.select(Balance.available, Balance.on_hold).where(
        (Balance.merchant == merchant_id) & (Balance.currency == currency))
    if is_postgres():
        query = query.for_update()
    row = query.tuples().first()
    return (ZERO, ZERO) if row is None else (as_money(row[0]), as_money(row[1]))


def book(merchant_id, currency, source_type, source_id, entries, actor=None, memo="", repeatable=False):
    """Book one source event: append its ``entries`` and move the balance.

    ``entries``: ``(kind, amount, hold)`` triples in booking order (zero ones are
    left out). Call inside the database transaction of the change that causes the
    event. Returns the entries written (a list of dicts).
    """
    merchant_id = getattr(merchant_id, "id", merchant_id)
    rows = [(kind, quantize(Decimal(amount)), quantize(Decimal(hold))) for kind, amount, hold in entries]
    rows = [row for row in rows if row[1] or row[2]]
    if not rows:
        return []
    if source_type not in SOURCE_TYPES or any(kind not in KINDS for kind, _, _ in rows):
        raise ValueError(f"unknown source type or kind: {source_type}, {[kind for kind, _, _ in rows]}")
    occurrence = 1
    if repeatable:
        occurrence += (LedgerEntry.select().where(
            (LedgerEntry.source_type == source_type) & (LedgerEntry.source_id == source_id)
            & (LedgerEntry.kind == rows[0][0])).count())
    if not db.in_transaction():
        raise RuntimeError("ledger.book() runs inside the transaction of the change it books")
    delta_available = sum((amount for _, amount, _ in rows), ZERO)
    delta_hold = sum((hold for _, _, hold in rows), ZERO)
    cursor = db.execute_sql(_MOVE_SQL.format(p=db.obj.param),
                            (merchant_id, currency, delta_available, delta_hold, utcnow()))
    after_available, after_hold = (as_money(value) for value in cursor.fetchone())
    now = utcnow()  # taken under the lock: the entries of one balance are in time order
    available, on_hold = after_available - delta_available, after_hold - delta_hold
    written = []
    for kind, amount, hold in rows:
        available, on_hold = available + amount, on_hold + hold
        written.append(dict(
            merchant=merchant_id, currency=currency, kind=kind, amount=amount, hold=hold,
            available_after=available, on_hold_after=on_hold, source_type=source_type,
            source_id=source_id, occurrence=occurrence, actor=getattr(actor, "id", actor), memo=memo or "",
            created_at=now,
        ))
    LedgerEntry.insert_many(written).execute()
    return written


# --- what the source events book ----------------------------------------------------------

def book_deposit(source_type, source_id, merchant_id, currency, transactions):
    """A completed deposit: its gross amount, then the commission taken (fraud-marked
    members of a stockpiling are not money the merchant has)."""
    counted = [t for t in transactions if t.originality == "normal"]
    amount = sum((t.amount for t in counted), ZERO)
    commission = sum((t.commission for t in counted), ZERO)
    return book(merchant_id, currency, source_type, source_id,
                [("deposit", amount, ZERO), ("commission", -commission, ZERO)])


def book_reversal(tx, actor=None, memo=""):
    """A completed deposit marked fraud (or reversed by hand): its net amount leaves."""
    return book(tx.merchant_id, tx.currency, "transaction", tx.id,
                [("deposit_reversal", -(tx.amount - tx.commission), ZERO)], actor=actor, memo=memo, repeatable=True)


def book_reinstatement(tx, actor=None, memo=""):
    """A fraud mark withdrawn from a completed deposit: its net amount comes back."""
    return book(tx.merchant_id, tx.currency, "transaction", tx.id,
                [("deposit", tx.amount - tx.commission, ZERO)], actor=actor, memo=memo, repeatable=True)


def book_withdrawal(withdrawal, kind, actor=None, memo=""):
    """A withdrawal request's hold, or its release (rejected, cancelled) or payout (approved)."""
    amount = withdrawal.amount
    moves = {
        "withdrawal_hold": (-amount, amount),
        "withdrawal_release": (amount, -amount),
        "withdrawal_payout": (ZERO, -amount),
    }
    available, hold = moves[kind]
    return book(withdrawal.merchant_id, withdrawal.currency, "withdrawal", withdrawal.id,
                [(kind, available, hold)], actor=actor, memo=memo)


def book_history():
    """Book what was written in bulk, beside the ledger (the demo's and the bench's
    seeders): every merchant without a balance yet gets its history booked in time
    order, exactly as migration 0007 booked an upgraded database. Returns the number
    of entries written."""
    return history.book_history(db)


# --- reading --------------------------------------------------------------------------------

def balance_rows(merchant):
    """The merchant's Balance rows, by currency."""
    merchant_id = getattr(merchant, "id", merchant)
    return list(Balance.select().where(Balance.merchant == merchant_id).order_by(Balance.currency))


def balances(merchant, currency=None):
    """``{currency: available}`` for every currency the merchant has a balance in."""
    rows = balance_rows(merchant)
    return {row.currency: row.available for row in rows if currency is None or row.currency == currency}


def available(merchant, currency):
    """What the merchant may withdraw in ``currency`` now (0.00 when it has none)."""
    merchant_id = getattr(merchant, "id", merchant)
    value = (Balance.select(Balance.available)
             .where((Balance.merchant == merchant_id) & (Balance.currency == currency)).scalar())
    return as_money(value)


# --- operator adjustments -------------------------------------------------------------------

REASON_MAX_LENGTH = 2000
_CURRENCY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class LedgerError(RuleError):
    """A refused adjustment or statement request; ``fields`` names each faulty field."""


def adjustment_currencies(merchant):
    """The currencies an operator may adjust a merchant's balance in: those of the
    payment systems, and those the merchant has a balance in already."""
    merchant_id = getattr(merchant, "id", merchant)
    systems = {row[0] for row in PaymentSystem.select(PaymentSystem.currency).distinct().tuples()}
    held = {row[0] for row in Balance.select(Balance.currency).where(Balance.merchant == merchant_id).tuples()}
    return sorted(systems | held)


def _clean_reason(reason, errors):
    if reason is not None and not isinstance(reason, str):
        errors["reason"] = _("must be text")
        return ""
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = _("is required")
    elif len(reason) > REASON_MAX_LENGTH:
        errors["reason"] = _("must be at most %(n)d characters", n=REASON_MAX_LENGTH)
    elif any((ord(c) < 32 and c not in "\r\n\t") or ord(c) == 127 for c in reason):
        errors["reason"] = _("must not contain control characters")
    return reason


def adjust(merchant, currency, amount, reason, actor, ip=""):
    """An operator's adjustment of a merchant's ``available`` balance by ``amount``
    (a signed, non-zero amount; it may take the balance below zero).

    ``reason`` is required: it becomes the entry's memo. The audit entry is written in
    the same transaction, and its id is the adjustment's id (the entry's
    ``source_id``: unique and stable). Returns the booked entry (a dict). Raises
    :class:`LedgerError` naming ``merchant``, ``currency``, ``amount`` or ``reason``.
    """
    errors = {}
    merchant_id = getattr(merchant, "id", merchant)
    merchant_row = None
    if isinstance(merchant_id, int) and not isinstance(merchant_id, bool):
        merchant_row = Merchant.get_or_none(Merchant.id == merchant_id)
    if merchant_row is None:
        errors["merchant"] = _("unknown merchant")
    currency = currency.strip().upper() if isinstance(currency, str) else ""
    if not currency:
        errors["currency"] = _("is required")
    elif len(currency) != 3 or not set(currency) <= _CURRENCY_CHARS:
        errors["currency"] = _("must be a three-letter currency code")
    elif merchant_row is not None and currency not in adjustment_currencies(merchant_row):
        errors["currency"] = _("is not a currency of a payment system or of this merchant's balances")
    parsed = None
    if amount is None or (isinstance(amount, str) and not amount.strip()):
        errors["amount"] = _("is required")
    else:
        try:
            parsed = parse_amount(str(amount).strip() if isinstance(amount, (str, Decimal)) else amount,
                                  allow_zero=True, allow_negative=True)
        except AmountError as exc:
            errors["amount"] = exc.message
        else:
            if parsed == 0:
                errors["amount"] = _("must not be zero")
    reason = _clean_reason(reason, errors)
    if errors:
        raise LedgerError(_("The adjustment has invalid fields."), errors)
    with write_transaction():
        entry = audit.record(actor, "balance.adjust", merchant_row, merchant=merchant_row.id, ip=ip, summary={
            "currency": currency, "amount": to_str(parsed), "reason": reason,
        })
        [written] = book(merchant_row.id, currency, "adjustment", entry.id, [("adjustment", parsed, ZERO)],
                         actor=actor, memo=reason)
    return written


# --- statements -----------------------------------------------------------------------------

@dataclass
class Statement:
    """A merchant's book in one currency over ``[start, end)`` (naive UTC): the balance
    right before ``start`` (``opening``), the entries booked in the period in booking
    order, and the balance after the last of them (``closing``). Each balance is an
    ``(available, on_hold)`` pair; ``current`` is the Balance row's now."""

    merchant_id: int
    currency: str
    start: object
    end: object
    opening: tuple
    closing: tuple
    current: tuple
    entries: list = field(default_factory=list)


def _entries_of(merchant_id, currency):
    return LedgerEntry.select().where((LedgerEntry.merchant == merchant_id) & (LedgerEntry.currency == currency))


def _booking_order(query):
    # (created_at, id): the order of the index; book() stamps created_at under the
    # balance's lock, so it is the id order within one merchant and currency.
    return query.order_by(LedgerEntry.created_at, LedgerEntry.id)


def balance_before(merchant, currency, moment):
    """``(available, on_hold)`` right before ``moment``: after the last entry booked
    earlier, or zeros."""
    merchant_id = getattr(merchant, "id", merchant)
    row = (_entries_of(merchant_id, currency).select(LedgerEntry.available_after, LedgerEntry.on_hold_after)
           .where(LedgerEntry.created_at < moment)
           .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc()).tuples().first())
    return (ZERO, ZERO) if row is None else (as_money(row[0]), as_money(row[1]))


def current_balance(merchant, currency):
    merchant_id = getattr(merchant, "id", merchant)
    row = (Balance.select(Balance.available, Balance.on_hold)
           .where((Balance.merchant == merchant_id) & (Balance.currency == currency)).tuples().first())
    return (ZERO, ZERO) if row is None else (as_money(row[0]), as_money(row[1]))


def statement(merchant, currency, start, end):
    """The :class:`Statement` of ``merchant`` in ``currency`` for ``[start, end)``
    (naive UTC; the caller turns the viewer's days into them). The entries carry their
    ``actor`` (a User, or None) loaded."""
    merchant_id = getattr(merchant, "id", merchant)
    opening = balance_before(merchant_id, currency, start)
    rows = list(_booking_order(_entries_of(merchant_id, currency)
                               .where((LedgerEntry.created_at >= start) & (LedgerEntry.created_at < end))))
    _load_actors(rows)
    closing = (rows[-1].available_after, rows[-1].on_hold_after) if rows else opening
    return Statement(merchant_id, currency, start, end, opening, (as_money(closing[0]), as_money(closing[1])),
                     current_balance(merchant_id, currency), rows)


def _load_actors(rows):
    """Each entry's actor in one query (not one per row)."""
    ids = {row.actor_id for row in rows if row.actor_id is not None}
    users = {u.id: u for u in User.select(User.id, User.login, User.role, User.merchant)
             .where(User.id.in_(ids))} if ids else {}
    for row in rows:
        row.actor = users.get(row.actor_id) if row.actor_id is not None else None


def entries_page(merchant, currency, start=None, end=None, after_id=None, limit=100):
    """One page of entries, oldest first: ``(entries, more)``.

    ``start`` / ``end`` bound ``created_at`` (naive UTC, ``end`` exclusive; None: open).
    ``after_id`` is the last id of the previous page (the cursor): the page goes on
    after that entry in booking order. An id that is not one of this merchant's
    entries in ``currency`` raises :class:`LedgerError` naming ``cursor``.
    """
    merchant_id = getattr(merchant, "id", merchant)
    query = _entries_of(merchant_id, currency)
    if start is not None:
        query = query.where(LedgerEntry.created_at >= start)
    if end is not None:
        query = query.where(LedgerEntry.created_at < end)
    if after_id is not None:
        at = (_entries_of(merchant_id, currency).select(LedgerEntry.created_at)
              .where(LedgerEntry.id == after_id).scalar())
        if at is None:
            raise LedgerError(_("The cursor is not valid."), {"cursor": _("is not a cursor this API returned")})
        # The keyset of the (created_at, id) order, written so the index range starts at ``at``.
        query = query.where((LedgerEntry.created_at >= at)
                            & ((LedgerEntry.created_at > at) | (LedgerEntry.id > after_id)))
    rows = list(_booking_order(query).limit(limit + 1))
    return rows[:limit], len(rows) > limit
