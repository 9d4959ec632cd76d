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
  same database transaction;
* the merchant's matching policy and the risk rules (SPEC §11, ``matching``, ``risk``)
  sit inside the claim's ``UPDATE``: a payment whose stated sender digits, amount or
  age do not fit, or that a blocklist or a velocity limit refuses, is simply not
  claimed, and the visitor gets exactly what an unknown number gets (``not_found``,
  or ``pending`` with an entry that can never activate it). Only then is the reason
  looked up, for the attempt log;
* a deposit above a review threshold is held (``review``): activated but not
  complete, nothing booked or sent, the visitor told ``pending``, until an operator
  approves (:func:`complete_held`) or refuses (:func:`refuse_held`) it;
* every attempt is logged (``attempts``) in the attempt's own database transaction.

Plain functions: the plugin API, the connector API (through ingest), the back office
and the CLI call them.
"""
import datetime
from dataclasses import dataclass, field

from flask_babel import gettext as _
from peewee import JOIN, Case, IntegrityError, fn

from ..db import CompiledInsert, CompiledQuery, Slot, db, write_transaction
from ..errors import FieldError
from ..models import (
    BINDING_REASONS,
    COMPLETED_DEPOSIT_POSTBACK_STATUSES,
    HELD_POSTBACK_STATUSES,
    ActivationAttempt,
    DepositReview,
    MatchingPolicy,
    Merchant,
    MerchantPaymentSystem,
    PaymentSystem,
    PendingActivation,
    Stockpiling,
    Transaction,
    utcnow,
)
from ..money import to_str
from . import attempts, audit, ledger, matching, postbacks, risk, stats_rollup

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
    attempt_reason: str = None  # the attempt log's reason code (SPEC §11); the status when None

    @property
    def reason_code(self):
        return self.attempt_reason or self.status

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


_OWN_POLICY = MatchingPolicy.alias("own_policy")
_DEFAULT_POLICY = MatchingPolicy.alias("default_policy")
_PLUGIN_SETTINGS = CompiledQuery(lambda: (
    MerchantPaymentSystem.select(MerchantPaymentSystem, PaymentSystem, Merchant, _OWN_POLICY, _DEFAULT_POLICY)
    .join(PaymentSystem)
    .switch(MerchantPaymentSystem)
    .join(Merchant)
    .join(_OWN_POLICY, JOIN.LEFT_OUTER, on=(_OWN_POLICY.merchant == Merchant.id), attr="own_policy")
    .switch(Merchant)
    .join(_DEFAULT_POLICY, JOIN.LEFT_OUTER, on=_DEFAULT_POLICY.merchant.is_null(), attr="default_policy")
    .where((Merchant.public_key == Slot("public_key")) & (PaymentSystem.code == Slot("code")))
    .limit(1)
))


def settings_for_plugin(public_key, payment_system_code):
    """The merchant (by its public key) and its settings for a payment system, in one
    query on the hot path (its matching policy too: ``policy_of(settings)``); the error
    cases cost a second query."""
    row = _PLUGIN_SETTINGS.first(public_key=public_key, code=payment_system_code)
    merchant = row.merchant if row is not None else Merchant.get_or_none(Merchant.public_key == public_key)
    if merchant is None:
        raise ActivationError("merchant", _("Unknown merchant."))
    if not merchant.active:
        raise MerchantDisabled()
    if row is None or not row.enabled or not row.payment_system.active:
        raise ActivationError("payment_system", _("This payment system is not available for this merchant."))
    return row


def policy_of(settings):
    """The matching policy read with ``settings_for_plugin``'s row (no query), or looked up."""
    merchant = settings.merchant
    if hasattr(merchant, "default_policy"):  # joined by settings_for_plugin
        return matching.effective(getattr(merchant, "own_policy", None), getattr(merchant, "default_policy", None))
    return matching.policy_for(merchant.id)


class Stated:
    """What the visitor stated beside the number (``sender_last4``, ``amount``) and
    where from (``network``); checked against the merchant's policy."""

    __slots__ = ("sender_last4", "amount", "network")

    def __init__(self, sender_last4=None, amount=None, network=""):
        self.sender_last4, self.amount, self.network = sender_last4, amount, network or ""


def activate(merchant, payment_system_code, transaction_number, label, order_id=None, now=None, settings=None,
             sender_last4=None, amount=None, network="", policy=None):
    """Activate ``transaction_number`` for a visitor of ``merchant`` (SPEC §6 outcomes).

    ``settings``: the merchant's MerchantPaymentSystem row when the caller looked it
    up already (the plugin API does, in the query that finds the merchant, with the
    matching policy). ``sender_last4`` / ``amount``: what the visitor stated (required
    when the policy asks for them); ``network``: the visitor's (``matching.network_of``).
    The attempt is logged whatever its outcome.
    """
    settings = settings or merchant_settings(merchant, payment_system_code)
    policy = policy or policy_of(settings)
    stated = Stated(sender_last4, amount, network)
    _check_stated(policy, stated)
    now = now or utcnow()
    with write_transaction():
        # The common case in one statement: claim it if it is this merchant's,
        # incoming, normal, new, and fits the policy and the risk rules. Only when
        # that fails do we look at why.
        tx = _claim_number(policy, settings, merchant, transaction_number, label, order_id, stated, now)
        if tx is not None:
            outcome = _claimed(tx, merchant, settings, now, policy)
        else:
            outcome = _not_claimed(policy, settings, merchant, transaction_number, label, order_id, stated, now)
        attempts.record(merchant.id, settings.payment_system_id, transaction_number, label, stated.network,
                        outcome.status, outcome.reason_code, outcome.transaction, now)
    return outcome


# The reported payment behind a number, for the reason of a missed claim: a prepared
# lookup of the few columns the reason needs. A miss and a hit cost the same (a
# ``get_or_none`` that misses compiles the SQL again for its exception's message: an
# unknown number would take longer than a mismatch).
_NUMBER_LOOKUP = CompiledQuery(lambda: (
    Transaction.select(Transaction.id, Transaction.counterparty, Transaction.amount, Transaction.created_at,
                       Transaction.direction, Transaction.originality, Transaction.status)
    .where(merchant_scope(Transaction, Slot("merchant"), Slot("payment_system"))
           & (Transaction.transaction_number == Slot("number")))
    .limit(1)
))


def _reported(merchant_id, payment_system_id, transaction_number):
    return _NUMBER_LOOKUP.first(merchant=merchant_id, payment_system=payment_system_id, number=transaction_number)


def log_refused_attempt(settings, transaction_number, label, network, reason):
    """An attempt refused before it reached the activation (``bad_signature``,
    ``rate_limited``): logged, nothing else; the visitor gets the refusal itself."""
    with write_transaction():
        tx = _reported(settings.merchant_id, settings.payment_system_id, transaction_number)
        attempts.record(settings.merchant_id, settings.payment_system_id, transaction_number, label, network,
                        "error", reason, tx)


def _check_stated(policy, stated):
    if policy.require_sender and not (isinstance(stated.sender_last4, str)
                                      and matching.SENDER_RE.fullmatch(stated.sender_last4)):
        raise ActivationError("sender_last4", _("Enter the last 4 digits of the wallet you paid from."))
    if policy.require_amount and stated.amount is None:
        raise ActivationError("amount", _("Enter the amount you paid."))


def _not_claimed(policy, settings, merchant, transaction_number, label, order_id, stated, now):
    """Why the claim took nothing, and the visitor's answer. Scoped to the merchant:
    another merchant's transaction is, for this merchant's visitors, a number never
    reported (no oracle across merchants)."""
    tx = _reported(merchant.id, settings.payment_system_id, transaction_number)
    if tx is None:
        return _not_reported(merchant, settings, transaction_number, label, order_id, now, stated)
    # A detail that does not fit answers as an unknown number would (no oracle).
    reason = matching.mismatch(policy, tx, stated.sender_last4, stated.amount, now)
    if reason is None:
        if tx.direction != "incoming":
            return Outcome(REJECTED, transaction=tx, reason="outgoing", attempt_reason=REJECTED)
        if tx.originality == "fraud":
            return Outcome(REJECTED, transaction=tx, reason="fraud", attempt_reason=REJECTED)
        if tx.status != "new":
            return Outcome(ALREADY_ACTIVATED, transaction=tx)
        # Still new: a blocklist or a velocity limit refused it (or, rarely, a
        # concurrent change did; it answers as unknown, and the visitor may try again).
        reason = risk.refusal(policy, merchant.id, label, stated.network, tx.counterparty, now) or NOT_FOUND
    outcome = _not_reported(merchant, settings, transaction_number, label, order_id, now, stated)
    outcome.transaction, outcome.attempt_reason = tx, reason
    return outcome


def _number_claim_query(flags):
    """The claim by number, with the policy's and the risk rules' conditions."""
    sender, amount, label_velocity, sender_velocity = flags
    where = ((Transaction.payment_system == Slot("payment_system"))
             & (Transaction.transaction_number == Slot("number"))
             & (Transaction.merchant == Slot("merchant"))
             & (Transaction.created_at >= Slot("oldest", Transaction.created_at)))
    if sender:
        where &= fn.SUBSTR(Transaction.counterparty, fn.LENGTH(Transaction.counterparty) - 3) == Slot("sender")
    if amount:
        where &= Transaction.amount.between(Slot("amount_low", Transaction.amount),
                                            Slot("amount_high", Transaction.amount))
    for probe in risk.block_probes(Slot("merchant"), Slot("label"), Slot("network"), Transaction.counterparty):
        where &= ~fn.EXISTS(probe)
    if label_velocity:
        where &= ActivationAttempt.select(fn.COUNT(ActivationAttempt.id)).where(
            (ActivationAttempt.merchant == Slot("merchant")) & (ActivationAttempt.label == Slot("label"))
            & ActivationAttempt.reason.in_(BINDING_REASONS)
            & (ActivationAttempt.created_at > Slot("hour_ago", ActivationAttempt.created_at))
        ) < Slot("label_velocity")
    if sender_velocity:
        where &= ActivationAttempt.select(fn.COUNT(ActivationAttempt.id)).where(
            (ActivationAttempt.sender == Transaction.counterparty)
            & ActivationAttempt.reason.in_(BINDING_REASONS)
            & (ActivationAttempt.created_at > Slot("day_ago", ActivationAttempt.created_at))
        ) < Slot("sender_velocity")
    return _claim_query(where)


_NUMBER_CLAIMS = {}


def _claim_number(policy, settings, merchant, number, label, order_id, stated, now):
    flags = (policy.require_sender, policy.require_amount, bool(policy.velocity_label_hour),
             bool(policy.velocity_sender_day))
    query = _NUMBER_CLAIMS.get(flags)
    if query is None:
        query = _NUMBER_CLAIMS.setdefault(flags, CompiledQuery(lambda: _number_claim_query(flags)))
    values = dict(payment_system=settings.payment_system_id, number=number, merchant=merchant.id,
                  oldest=policy.oldest(now), network=stated.network)
    if policy.require_sender:
        values["sender"] = stated.sender_last4
    if policy.require_amount:
        values["amount_low"], values["amount_high"] = matching.amount_bounds(policy, stated.amount)
    if policy.velocity_label_hour:
        values.update(hour_ago=now - risk.HOUR, label_velocity=policy.velocity_label_hour)
    if policy.velocity_sender_day:
        values.update(day_ago=now - risk.DAY, sender_velocity=policy.velocity_sender_day)
    return _claim(query, settings, label, order_id, now, **values)


def _claim_query(where):
    complete = Case(None, [(Transaction.amount >= Slot("min_deposit"), "pending")], "stockpiling")
    return (
        Transaction.update(status="activated", label=Slot("label"), order_id=Slot("order_id"),
                           activated_at=Slot("now", Transaction.activated_at), postback_status=complete)
        .where(where & (Transaction.status == "new") & (Transaction.originality == "normal")
               & (Transaction.direction == "incoming"))
        .returning(Transaction)
    )


_CLAIM_ID = CompiledQuery(lambda: _claim_query(Transaction.id == Slot("id")))


def _claim(query, settings, label, order_id, now, **where):
    """``UPDATE … WHERE status = 'new' … RETURNING``: the one place a transaction is
    activated. Of any number of racing requests exactly one gets the row back."""
    return query.first(min_deposit=settings.min_deposit, label=label, order_id=order_id, now=now, **where)


def activate_transaction(tx, merchant, settings, label, order_id, now, policy=None):
    """Activate a reported transaction; the caller holds the database transaction.

    ``policy``: the matching policy whose review thresholds apply (None: an operator
    activates it by hand, and is the review)."""
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
    return _claimed(claimed, merchant, settings, now, policy)


def _claimed(tx, merchant, settings, now, policy):
    if tx.amount >= settings.min_deposit:
        return _complete_single(tx, merchant, settings, now, policy)
    return _stockpile(tx, merchant, settings, now, policy)


def activate_for_label(tx, label, order_id=None, now=None):
    """An operator activates a reported transaction for a label (from the back office)."""
    merchant = tx.merchant
    settings = merchant_settings(merchant, tx.payment_system.code)
    with write_transaction():
        fresh = Transaction.get_by_id(tx.id)
        return activate_transaction(fresh, merchant, settings, label, order_id, now or utcnow())


def _complete_single(tx, merchant, settings, now, policy):
    rule = review_rule(policy, merchant.id, tx.label, tx.amount, Transaction.id != tx.id)
    if rule is not None:
        return _hold(tx, merchant, settings, now, rule, tx.amount, tx.currency)
    data = postbacks.deposit_completed_data(
        merchant, settings.payment_system, tx.label, tx.order_id, tx.currency, [tx]
    )
    # The claim set its postback_status to "pending" already (one statement fewer).
    event = postbacks.create_event(merchant, "deposit.completed", data, object_type="transaction", object_id=tx.id,
                                   mark_objects=False)
    ledger.book_deposit("transaction", tx.id, merchant.id, tx.currency, [tx])
    stats_rollup.record_activation(tx, True, merchant.timezone)  # last: it locks the merchant's hottest row
    return Outcome(ACTIVATED, transaction=tx, amount=tx.amount, currency=tx.currency, postback=event)


def review_rule(policy, merchant_id, label, amount, not_this_deposit):
    """Which review threshold a deposit of ``amount`` for ``label`` crosses: ``above``,
    ``first_above`` (the label has no other completed deposit: ``not_this_deposit`` is
    the condition that leaves this deposit's transactions out), or None."""
    if policy is None:
        return None
    if policy.review_above is not None and amount > policy.review_above:
        return "above"
    if policy.review_first_above is not None and amount > policy.review_first_above:
        earlier = Transaction.select(Transaction.id).where(
            (Transaction.merchant == merchant_id) & (Transaction.label == label)
            & (Transaction.status == "activated")
            & Transaction.postback_status.in_(COMPLETED_DEPOSIT_POSTBACK_STATUSES)
            & not_this_deposit
        )
        if not earlier.exists():
            return "first_above"
    return None


def _hold(tx, merchant, settings, now, rule, amount, currency, stockpiling=None):
    """Hold a deposit for review: activated, not complete; nothing booked or sent."""
    members = Transaction.stockpiling == stockpiling.id if stockpiling is not None else Transaction.id == tx.id
    Transaction.update(postback_status="review").where(members).execute()
    DepositReview.create(merchant=merchant.id, payment_system=settings.payment_system_id, transaction=tx.id,
                         stockpiling=stockpiling.id if stockpiling is not None else None, label=tx.label,
                         amount=amount, currency=currency, rule=rule, created_at=now)
    tx.postback_status = "review"
    stats_rollup.record_activation(tx, False, merchant.timezone)
    return Outcome(PENDING, transaction=tx, expires_at=_review_expiry(merchant, now), attempt_reason="review")


def _review_expiry(merchant, now):
    """What a held deposit tells the visitor for ``expires_at``: how long the plugin
    keeps asking, as for a delayed activation (the review itself has no deadline)."""
    return now + datetime.timedelta(minutes=merchant.pending_activation_ttl)


def complete_held(review, now=None):
    """An operator approved a held deposit: it completes now (``stockpiling_end_at``,
    ``deposit.completed``, the ledger, the dashboard). The caller holds the database
    transaction and has taken the review (a conditional update)."""
    now = now or utcnow()
    merchant = Merchant.get_by_id(review.merchant_id)
    sp = Stockpiling.get_by_id(review.stockpiling_id) if review.stockpiling_id else None
    where = Transaction.stockpiling == sp.id if sp is not None else Transaction.id == review.transaction_id
    Transaction.update(stockpiling_end_at=now, postback_status="pending").where(
        where & (Transaction.postback_status == "review")).execute()
    members = list(Transaction.select().where(where).order_by(Transaction.activated_at, Transaction.id))
    last = next(m for m in members if m.id == review.transaction_id)
    payment_system = PaymentSystem.get_by_id(review.payment_system_id)
    order_id = last.order_id or members[0].order_id
    data = postbacks.deposit_completed_data(merchant, payment_system, review.label, order_id, review.currency,
                                            members, sp)
    object_type, object_id = ("stockpiling", sp.id) if sp is not None else ("transaction", last.id)
    event = postbacks.create_event(merchant, "deposit.completed", data, object_type=object_type, object_id=object_id,
                                   mark_objects=False)
    ledger.book_deposit(object_type, object_id, merchant.id, review.currency, members)
    stats_rollup.record_stockpiling_completed(members, now, None, merchant.timezone)
    return event


def refuse_held(review):
    """An operator refused a held deposit: its transactions stay activated for the
    label (the money is not the merchant's to credit) but never complete."""
    where = (Transaction.stockpiling == review.stockpiling_id if review.stockpiling_id
             else Transaction.id == review.transaction_id)
    return Transaction.update(postback_status="refused").where(
        where & (Transaction.postback_status == "review")).execute()


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


def _stockpile(tx, merchant, settings, now, policy):
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
    rule = review_rule(policy, merchant.id, sp.label, sp.accumulated_amount,
                       Transaction.stockpiling.is_null() | (Transaction.stockpiling != sp.id))
    if rule is not None:
        return _hold(tx, merchant, settings, now, rule, sp.accumulated_amount, sp.currency, stockpiling=sp)
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


def _not_reported(merchant, settings, transaction_number, label, order_id, now, stated):
    """The answer for a number not reported (or, to the visitor, as if not reported)."""
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
    # For a number that was reported (a detail did not fit), this entry can never
    # activate it: a report activates waiting entries only when it is new.
    PendingActivation.create(
        merchant=merchant.id, payment_system=settings.payment_system_id, transaction_number=transaction_number,
        label=label, order_id=order_id, created_at=now, expires_at=expires_at, sender_last4=stated.sender_last4,
        amount=stated.amount, network=stated.network,
    )
    return Outcome(PENDING, expires_at=expires_at)


def pending_state(settings, transaction_number, label, now=None):
    """What became of a visitor's delayed activation (the plugin page asks while it
    waits): ``pending`` while it waits (or while the deposit is held for review), then
    the deposit as it stands (``activated`` with its amount, or ``stockpiling`` with
    the total so far), ``rejected`` when the reported payment could not be credited
    (marked fraud, or refused in review), ``expired`` when no report came in time (or
    the report did not fit what the visitor stated: to the visitor, the same),
    ``not_found`` when this visitor never waited for that number.

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
    if waiting is not None and waiting.status == "waiting":
        return Outcome(PENDING, expires_at=waiting.expires_at) if waiting.expires_at > now else Outcome(EXPIRED)
    if waiting is not None and waiting.status == "expired":
        return Outcome(EXPIRED)
    tx = Transaction.get_or_none(
        merchant_scope(Transaction, settings.merchant_id, settings.payment_system_id)
        & (Transaction.transaction_number == transaction_number)
    )
    if tx is None or tx.status != "activated" or tx.label != label:
        return Outcome(REJECTED) if waiting is not None else Outcome(NOT_FOUND)
    if waiting is None and not _was_held(tx):
        # Activated at once: not this endpoint's to tell. A deposit held for review
        # told its visitor "pending": the visitor's plugin asks here what came of it.
        return Outcome(NOT_FOUND)
    return deposit_state(tx, now)


def _was_held(tx):
    return tx.postback_status in HELD_POSTBACK_STATUSES or DepositReview.select().where(
        (DepositReview.transaction == tx.id)
        | (DepositReview.stockpiling.is_null(False) & (DepositReview.stockpiling == tx.stockpiling_id))).exists()


def deposit_state(tx, now=None):
    """The deposit an activated transaction belongs to, as it stands now."""
    if tx.postback_status == "review":
        return Outcome(PENDING, transaction=tx, expires_at=_review_expiry(tx.merchant, now or utcnow()))
    if tx.postback_status == "refused":
        return Outcome(REJECTED, transaction=tx)
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
    activate it for the visitor who is waiting for it, if what that visitor stated fits
    (the matching policy, the risk rules). Returns an Outcome or None.

    An entry that does not fit stays waiting until it expires: its visitor sees what a
    payment that never came shows (no oracle); the attempt log says why."""
    now = now or utcnow()
    if tx.direction != "incoming":
        return None
    entries = list(
        PendingActivation.select()
        .where(
            (PendingActivation.payment_system == tx.payment_system_id)
            & (PendingActivation.transaction_number == tx.transaction_number)
            & (PendingActivation.merchant == tx.merchant_id)
            & (PendingActivation.status == "waiting")
            & (PendingActivation.expires_at > now)
        )
        .order_by(PendingActivation.created_at, PendingActivation.id)
    )
    if not entries:
        return None
    merchant = tx.merchant
    try:
        settings = merchant_settings(merchant, tx.payment_system.code)
    except ActivationError:
        return None
    policy = matching.policy_for(merchant.id)
    for waiting in entries:
        reason = (matching.mismatch(policy, tx, waiting.sender_last4, waiting.amount, waiting.created_at,
                                    required=True)
                  or risk.refusal(policy, merchant.id, waiting.label, waiting.network, tx.counterparty, now))
        if reason is not None:
            attempts.record(merchant.id, tx.payment_system_id, tx.transaction_number, waiting.label,
                            waiting.network, PENDING, reason, tx, now)
            continue
        taken = (
            PendingActivation.update(status="activated")
            .where((PendingActivation.id == waiting.id) & (PendingActivation.status == "waiting"))
            .execute()
        )
        if taken != 1:
            continue
        outcome = activate_transaction(tx, merchant, settings, waiting.label, waiting.order_id, now, policy)
        attempts.record(merchant.id, tx.payment_system_id, tx.transaction_number, waiting.label, waiting.network,
                        outcome.status, outcome.reason_code, tx, now)
        return outcome
    return None


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
