"""Activation: binding a reported transaction to a site visitor's label.

The rules (SPEC §2, §6):

* a transaction number is activated once, ever: a conditional
  ``UPDATE … WHERE status = 'new'`` decides the winner, whatever the number of
  requests racing for it (the loser sees ``already_activated``);
* an amount at or over the merchant's minimum deposit completes a deposit at once;
  a smaller one opens or joins the visitor's **stockpiling** (merchant, payment
  system, label), which completes when its total reaches the minimum — stamping
  ``stockpiling_end_at`` on all its transactions and producing ONE deposit;
* a number not reported yet is stored as a **PendingActivation** when the merchant
  has delayed activation, and ingest activates it the moment the report arrives;
* every completed deposit writes its ``deposit.completed`` outbox postback in the
  same database transaction.

Plain functions: the plugin API, the connector API (through ingest), the back office
and the CLI call them.
"""
import datetime
from dataclasses import dataclass, field

from flask_babel import gettext as _
from peewee import Case, IntegrityError

from ..db import CompiledInsert, CompiledQuery, Slot, db, write_transaction
from ..errors import FieldError
from ..models import (
    COMPLETED_DEPOSIT_POSTBACK_STATUSES,
    Merchant,
    MerchantPaymentSystem,
    PaymentSystem,
    PendingActivation,
    Stockpiling,
    Transaction,
    utcnow,
)
from ..money import to_str
from . import audit, ledger, postbacks, stats_rollup

ACTIVATED = "activated"
STOCKPILING = "stockpiling"
PENDING = "pending"
NOT_FOUND = "not_found"
ALREADY_ACTIVATED = "already_activated"
REJECTED = "rejected"
EXPIRED = "expired"  # only from pending_state: the report did not arrive in time
OUTCOMES = (ACTIVATED, STOCKPILING, PENDING, NOT_FOUND, ALREADY_ACTIVATED, REJECTED)
BINDING = (ACTIVATED, STOCKPILING)  # the outcomes that bind the money to the label


class ActivationError(FieldError):
    """Input that names nothing activatable (unknown or disabled payment system)."""


@dataclass
class Outcome:
    status: str
    transaction: Transaction = None
    amount: object = None  # the deposit's total when complete
    currency: str = None
    accumulated: object = None
    required: object = None
    expires_at: datetime.datetime = None
    reason: str = None  # why "rejected"
    postback: object = None
    extra: dict = field(default_factory=dict)

    def as_json(self):
        """The plugin API's answer (SPEC §6); money as strings."""
        body = {"status": self.status}
        if self.status == ACTIVATED:
            body.update(amount=to_str(self.amount), currency=self.currency)
        elif self.status == STOCKPILING:
            body.update(accumulated=to_str(self.accumulated), required=to_str(self.required),
                        remaining=to_str(max(self.required - self.accumulated, 0)), currency=self.currency)
        elif self.status == PENDING:
            body["expires_at"] = postbacks.iso(self.expires_at)
        elif self.status == REJECTED and self.reason:
            body["reason"] = self.reason
        return body


def merchant_settings(merchant, payment_system_code):
    """The merchant's settings for a payment system it has enabled, or ActivationError."""
    row = (
        MerchantPaymentSystem.select(MerchantPaymentSystem, PaymentSystem)
        .join(PaymentSystem)
        .where(
            (MerchantPaymentSystem.merchant == merchant)
            & (PaymentSystem.code == payment_system_code)
            & (PaymentSystem.active == True)  # noqa: E712 - SQL comparison
            & (MerchantPaymentSystem.enabled == True)  # noqa: E712
        )
        .first()
    )
    if row is None:
        raise ActivationError("payment_system", _("This payment system is not available for this merchant."))
    return row


def merchant_scope(model, merchant_id, payment_system_id):
    """The first condition of every lookup a public endpoint (the plugin API) makes by
    a key a visitor typed (transaction number, label): that merchant's rows of that
    payment system only. Two merchants may share a label, and a number one merchant's
    visitor waits for says nothing to, and blocks nothing of, another merchant."""
    return (model.merchant == merchant_id) & (model.payment_system == payment_system_id)


class MerchantDisabled(Exception):
    """The merchant is switched off: its plugin accepts no deposits."""


_PLUGIN_SETTINGS = CompiledQuery(lambda: (
    MerchantPaymentSystem.select(MerchantPaymentSystem, PaymentSystem, Merchant)
    .join(PaymentSystem)
    .switch(MerchantPaymentSystem)
    .join(Merchant)
    .where((Merchant.public_key == Slot("public_key")) & (PaymentSystem.code == Slot("code")))
    .limit(1)
))


def settings_for_plugin(public_key, payment_system_code):
    """The merchant (by its public key) and its settings for a payment system, in one
    query on the hot path; the error cases cost a second query."""
    row = _PLUGIN_SETTINGS.first(public_key=public_key, code=payment_system_code)
    merchant = row.merchant if row is not None else Merchant.get_or_none(Merchant.public_key == public_key)
    if merchant is None:
        raise ActivationError("merchant", _("Unknown merchant."))
    if not merchant.active:
        raise MerchantDisabled()
    if row is None or not row.enabled or not row.payment_system.active:
        raise ActivationError("payment_system", _("This payment system is not available for this merchant."))
    return row


def activate(merchant, payment_system_code, transaction_number, label, order_id=None, now=None, settings=None):
    """Activate ``transaction_number`` for a visitor of ``merchant`` (SPEC §6 outcomes).

    ``settings``: the merchant's MerchantPaymentSystem row when the caller looked it
    up already (the plugin API does, in the query that finds the merchant).
    """
    settings = settings or merchant_settings(merchant, payment_system_code)
    now = now or utcnow()
    with write_transaction():
        # The common case in one statement: claim it if it is this merchant's,
        # incoming, normal and new. Only when that fails do we look at why.
        tx = _claim(_CLAIM_NUMBER, settings, label, order_id, now, payment_system=settings.payment_system_id,
                    number=transaction_number, merchant=merchant.id)
        if tx is not None:
            return _claimed(tx, merchant, settings, now)
        # Scoped to the merchant: another merchant's transaction is, for this
        # merchant's visitors, a number never reported (no oracle across merchants).
        tx = Transaction.get_or_none(
            merchant_scope(Transaction, merchant.id, settings.payment_system_id)
            & (Transaction.transaction_number == transaction_number)
        )
        if tx is None:
            return _not_reported(merchant, settings, transaction_number, label, order_id, now)
        return activate_transaction(tx, merchant, settings, label, order_id, now)


def _claim_query(where):
    complete = Case(None, [(Transaction.amount >= Slot("min_deposit"), "pending")], "stockpiling")
    return (
        Transaction.update(status="activated", label=Slot("label"), order_id=Slot("order_id"),
                           activated_at=Slot("now", Transaction.activated_at), postback_status=complete)
        .where(where & (Transaction.status == "new") & (Transaction.originality == "normal")
               & (Transaction.direction == "incoming"))
        .returning(Transaction)
    )


_CLAIM_NUMBER = CompiledQuery(lambda: _claim_query(
    (Transaction.payment_system == Slot("payment_system"))
    & (Transaction.transaction_number == Slot("number"))
    & (Transaction.merchant == Slot("merchant"))
))
_CLAIM_ID = CompiledQuery(lambda: _claim_query(Transaction.id == Slot("id")))


def _claim(query, settings, label, order_id, now, **where):
    """``UPDATE … WHERE status = 'new' … RETURNING``: the one place a transaction is
    activated. Of any number of racing requests exactly one gets the row back."""
    return query.first(min_deposit=settings.min_deposit, label=label, order_id=order_id, now=now, **where)


def activate_transaction(tx, merchant, settings, label, order_id, now):
    """Activate a reported transaction; the caller holds the database transaction."""
    if tx.merchant_id != merchant.id:
        return Outcome(REJECTED, reason="other_merchant")
    if tx.direction != "incoming":
        return Outcome(REJECTED, reason="outgoing")
    if tx.originality == "fraud":
        return Outcome(REJECTED, reason="fraud")
    if tx.status != "new":
        return Outcome(ALREADY_ACTIVATED, transaction=tx)
    claimed = _claim(_CLAIM_ID, settings, label, order_id, now, id=tx.id)
    if claimed is None:  # another request won the race (or an operator marked it fraud meanwhile)
        return Outcome(ALREADY_ACTIVATED, transaction=tx)
    return _claimed(claimed, merchant, settings, now)


def _claimed(tx, merchant, settings, now):
    if tx.amount >= settings.min_deposit:
        return _complete_single(tx, merchant, settings, now)
    return _stockpile(tx, merchant, settings, now)


def activate_for_label(tx, label, order_id=None, now=None):
    """An operator activates a reported transaction for a label (from the back office)."""
    merchant = tx.merchant
    settings = merchant_settings(merchant, tx.payment_system.code)
    with write_transaction():
        fresh = Transaction.get_by_id(tx.id)
        return activate_transaction(fresh, merchant, settings, label, order_id, now or utcnow())


def _complete_single(tx, merchant, settings, now):
    data = postbacks.deposit_completed_data(
        merchant, settings.payment_system, tx.label, tx.order_id, tx.currency, [tx]
    )
    # The claim set its postback_status to "pending" already (one statement fewer).
    event = postbacks.create_event(merchant, "deposit.completed", data, object_type="transaction", object_id=tx.id,
                                   mark_objects=False)
    ledger.book_deposit("transaction", tx.id, merchant.id, tx.currency, [tx])
    stats_rollup.record_activation(tx, True, merchant.timezone)  # last: it locks the merchant's hottest row
    return Outcome(ACTIVATED, transaction=tx, amount=tx.amount, currency=tx.currency, postback=event)


_OPEN_STOCKPILING = CompiledQuery(lambda: Stockpiling.select().where(
    (Stockpiling.merchant == Slot("merchant"))
    & (Stockpiling.payment_system == Slot("payment_system"))
    & (Stockpiling.label == Slot("label"))
    & (Stockpiling.status == "in_progress")
).limit(1))
_NEW_STOCKPILING = CompiledInsert(Stockpiling)
# Atomic increment on the open row; the row lock it takes serialises the visitor's
# concurrent payments until this transaction ends. RETURNING gives the new total.
_GROW_STOCKPILING = CompiledQuery(lambda: (
    Stockpiling.update(accumulated_amount=Stockpiling.accumulated_amount + Slot("amount", Stockpiling.accumulated_amount))
    .where((Stockpiling.id == Slot("id")) & (Stockpiling.status == "in_progress"))
    .returning(Stockpiling)
))
_JOIN_STOCKPILING = CompiledQuery(lambda: Transaction.update(stockpiling=Slot("stockpiling")).where(
    Transaction.id == Slot("id")))


def _open_stockpiling(tx, merchant, settings, now):
    """The visitor's open stockpiling, created when there is none (race-safe)."""
    key = dict(merchant=merchant.id, payment_system=settings.payment_system_id, label=tx.label)
    for _attempt in range(3):
        existing = _OPEN_STOCKPILING.first(**key)
        if existing is not None:
            return existing
        try:
            with db.atomic():  # a savepoint: the partial UNIQUE index may refuse it
                return _NEW_STOCKPILING.create(
                    merchant=merchant.id, payment_system=settings.payment_system_id, label=tx.label,
                    currency=tx.currency, required_amount=settings.min_deposit, created_at=now,
                )
        except IntegrityError:
            continue  # a concurrent activation opened it first: join that one
    raise RuntimeError("could not open a stockpiling")


def _stockpile(tx, merchant, settings, now):
    while True:
        sp = _GROW_STOCKPILING.first(id=_open_stockpiling(tx, merchant, settings, now).id, amount=tx.amount)
        if sp is not None:
            break  # otherwise it completed meanwhile: open a new one
    _JOIN_STOCKPILING.count(stockpiling=sp.id, id=tx.id)
    tx.stockpiling_id = sp.id
    if sp.accumulated_amount < sp.required_amount:
        stats_rollup.record_activation(tx, False, merchant.timezone)
        return Outcome(STOCKPILING, transaction=tx, accumulated=sp.accumulated_amount,
                       required=sp.required_amount, currency=sp.currency)
    Stockpiling.update(status="completed", completed_at=now).where(Stockpiling.id == sp.id).execute()
    Transaction.update(stockpiling_end_at=now, postback_status="pending").where(
        Transaction.stockpiling == sp.id
    ).execute()
    members = list(Transaction.select().where(Transaction.stockpiling == sp.id).order_by(Transaction.activated_at,
                                                                                           Transaction.id))
    first = members[0]
    data = postbacks.deposit_completed_data(
        merchant, settings.payment_system, sp.label, tx.order_id or first.order_id, sp.currency, members, sp
    )
    event = postbacks.create_event(merchant, "deposit.completed", data, object_type="stockpiling", object_id=sp.id,
                                   mark_objects=False)  # set with stockpiling_end_at above
    ledger.book_deposit("stockpiling", sp.id, merchant.id, sp.currency, members)
    stats_rollup.record_activation(tx, True, merchant.timezone)  # last: they lock the merchant's hottest rows
    stats_rollup.record_stockpiling_completed(members, now, tx, merchant.timezone)
    tx.stockpiling_end_at, tx.postback_status = now, "pending"
    return Outcome(ACTIVATED, transaction=tx, amount=sp.accumulated_amount, currency=sp.currency, postback=event)


def _not_reported(merchant, settings, transaction_number, label, order_id, now):
    if not merchant.delayed_activation:
        return Outcome(NOT_FOUND)
    waiting = PendingActivation.get_or_none(
        merchant_scope(PendingActivation, merchant.id, settings.payment_system_id)
        & (PendingActivation.transaction_number == transaction_number)
        & (PendingActivation.status == "waiting")
        & (PendingActivation.expires_at > now)
    )
    if waiting is not None:
        # The same visitor asking again sees the same answer; nobody else (of this
        # merchant: the lookup is scoped) may take over a number somebody waits for.
        if waiting.label == label:
            return Outcome(PENDING, expires_at=waiting.expires_at)
        return Outcome(NOT_FOUND)
    expires_at = now + datetime.timedelta(minutes=merchant.pending_activation_ttl)
    PendingActivation.create(
        merchant=merchant.id, payment_system=settings.payment_system_id, transaction_number=transaction_number,
        label=label, order_id=order_id, created_at=now, expires_at=expires_at,
    )
    return Outcome(PENDING, expires_at=expires_at)


def pending_state(settings, transaction_number, label, now=None):
    """What became of a visitor's delayed activation (the plugin page asks while it
    waits): ``pending`` while it waits, then the deposit as it stands (``activated``
    with its amount, or ``stockpiling`` with the total so far), ``rejected`` when the
    reported payment could not be credited (marked fraud), ``expired`` when no report
    came in time, ``not_found`` when this visitor never waited for that number.

    Read only; it answers only the label that waits, so it tells nobody else anything."""
    now = now or utcnow()
    waiting = (
        PendingActivation.select()
        .where(
            merchant_scope(PendingActivation, settings.merchant_id, settings.payment_system_id)
            & (PendingActivation.transaction_number == transaction_number)
            & (PendingActivation.label == label)
        )
        .order_by(PendingActivation.created_at.desc(), PendingActivation.id.desc())
        .first()
    )
    if waiting is None:
        return Outcome(NOT_FOUND)
    if waiting.status == "waiting":
        return Outcome(PENDING, expires_at=waiting.expires_at) if waiting.expires_at > now else Outcome(EXPIRED)
    if waiting.status == "expired":
        return Outcome(EXPIRED)
    tx = Transaction.get_or_none(
        merchant_scope(Transaction, settings.merchant_id, settings.payment_system_id)
        & (Transaction.transaction_number == transaction_number)
    )
    if tx is None or tx.status != "activated" or tx.label != label:
        return Outcome(REJECTED)
    return deposit_state(tx)


def deposit_state(tx):
    """The deposit an activated transaction belongs to, as it stands now."""
    if tx.stockpiling_id is None:
        return Outcome(ACTIVATED, transaction=tx, amount=tx.amount, currency=tx.currency)
    sp = Stockpiling.get(merchant_scope(Stockpiling, tx.merchant_id, tx.payment_system_id)
                         & (Stockpiling.id == tx.stockpiling_id))
    if sp.status == "completed":
        return Outcome(ACTIVATED, transaction=tx, amount=sp.accumulated_amount, currency=sp.currency)
    return Outcome(STOCKPILING, transaction=tx, accumulated=sp.accumulated_amount, required=sp.required_amount,
                   currency=sp.currency)


def activate_waiting(tx, now=None):
    """Called by ingest, inside its transaction, for a newly reported transaction:
    activate it for the visitor who is waiting for it, if any. Returns an Outcome or None."""
    now = now or utcnow()
    if tx.direction != "incoming":
        return None
    waiting = (
        PendingActivation.select()
        .where(
            (PendingActivation.payment_system == tx.payment_system_id)
            & (PendingActivation.transaction_number == tx.transaction_number)
            & (PendingActivation.merchant == tx.merchant_id)
            & (PendingActivation.status == "waiting")
            & (PendingActivation.expires_at > now)
        )
        .order_by(PendingActivation.created_at)
        .first()
    )
    if waiting is None:
        return None
    taken = (
        PendingActivation.update(status="activated")
        .where((PendingActivation.id == waiting.id) & (PendingActivation.status == "waiting"))
        .execute()
    )
    if taken != 1:
        return None
    merchant = tx.merchant
    try:
        settings = merchant_settings(merchant, tx.payment_system.code)
    except ActivationError:
        return None
    return activate_transaction(tx, merchant, settings, waiting.label, waiting.order_id, now)


def expire_pending(now=None):
    """Mark every waiting entry past its time as expired; returns how many."""
    now = now or utcnow()
    return (
        PendingActivation.update(status="expired")
        .where((PendingActivation.status == "waiting") & (PendingActivation.expires_at <= now))
        .execute()
    )


def may_activate(tx):
    """Whether a reported transaction can still be activated for a label: a new,
    incoming, normal (not fraud) one — the conditions of the claim's ``UPDATE``."""
    return tx.status == "new" and tx.direction == "incoming" and tx.originality == "normal"


def activate_manually(tx, label, order_id, actor, ip=""):
    """An operator activates ``tx`` for ``label`` from the back office; audited with
    its outcome in the same transaction. Returns the :class:`Outcome`."""
    with write_transaction():
        outcome = activate_for_label(tx, label, order_id)
        audit.record(actor, "transaction.activate_manually", tx, summary={"label": label, "outcome": outcome.status},
                     ip=ip)
    return outcome


ORIGINALITIES = ("normal", "fraud")


def set_originality(ids, value, actor, ip="", reason=""):
    """An operator marks transactions as fraud (they can no longer be activated) or
    normal again; each change audited. Returns how many changed.

    A completed deposit marked fraud is reversed in the ledger (its net amount
    leaves the balance, ``deposit.reversed`` is sent); one marked normal again is
    booked back. Each mark is a conditional update, so of two racing marks one wins.
    """
    if value not in ORIGINALITIES:
        raise ValueError(f"originality must be one of {ORIGINALITIES}")
    changed = 0
    with write_transaction():
        for tx in Transaction.select().where(Transaction.id.in_(list(ids)) & (Transaction.originality != value)):
            won = (Transaction.update(originality=value)
                   .where((Transaction.id == tx.id) & (Transaction.originality == tx.originality)).execute())
            if won != 1:
                continue
            audit.record(actor, f"transaction.mark_{value}", tx, summary={"before": tx.originality, "after": value},
                         ip=ip)
            if is_completed_deposit(tx):
                _rebook(tx, value, actor, reason)
            changed += 1
    return changed


def is_completed_deposit(tx):
    """Whether ``tx`` is (part of) a deposit whose money was credited to the merchant."""
    return (tx.status == "activated" and tx.direction == "incoming"
            and tx.postback_status in COMPLETED_DEPOSIT_POSTBACK_STATUSES)


def _rebook(tx, value, actor, reason):
    """The ledger's side of a fraud mark on a completed deposit, and its postback."""
    if value == "normal":
        ledger.book_reinstatement(tx, actor=actor, memo=reason or "fraud mark withdrawn")
        return
    reason = reason or "fraud"
    ledger.book_reversal(tx, actor=actor, memo=reason)
    data = postbacks.deposit_completed_data(tx.merchant_id, tx.payment_system, tx.label, tx.order_id, tx.currency,
                                            [tx], tx.stockpiling)
    data["reason"] = reason
    postbacks.create_event(tx.merchant_id, "deposit.reversed", data, object_type="transaction", object_id=tx.id,
                           mark_objects=False)  # the deposit's own postback status stays as it is
