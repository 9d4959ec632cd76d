"""Visitors' appeals (SPEC §12): "I paid, but it is not credited".

* :func:`file` — a visitor states a payment the plugin could not find (number, amount,
  sender wallet, time, optional receipt picture, re-encoded by ``receipts``) and gets a
  reference (``apl_…``). The same number appealed again by the same visitor while the
  first is open gives back the first; a visitor has at most ``open_limit`` open
  (:class:`TooManyOpenAppeals`). A merchant's appeals are filed one at a time (its
  row locked on PostgreSQL), so neither rule can be raced past.
* :func:`match` — an operator matches the appeal to a reported transaction: it is
  activated for the appeal's label through the same rule as the plugin
  (``activation.activate_for_label``: ledger, postback, audit), in the database
  transaction that closes the appeal. If the visitor activated the same payment at the
  same moment, the claim's ``UPDATE`` lets exactly one of them complete the deposit;
  the appeal is matched either way. A payment already credited to another visitor is
  refused, and the appeal stays open.
* :func:`reject` — with a reason the visitor sees.
* :func:`candidates` — the reported transactions an operator searches to match (by
  number, amount, sender, time).
* :func:`visitor_state` — what the plugin shows: ``{"id", "status", "reason"?}``.

Plain functions: the plugin API, the Appeals screens and the tests call them.
"""
import datetime
import secrets

from flask_babel import gettext as _
from peewee import fn

from ..db import is_postgres, write_transaction
from ..errors import FieldError, RuleError
from ..models import Appeal, AppealReceipt, Merchant, Transaction, utcnow
from . import activation, audit

STATUSES = ("open", "matched", "rejected")
OPEN, MATCHED, REJECTED = STATUSES
MAX_REASON = 500
PREFIX = "apl_"
ID_LENGTH = len(PREFIX) + 22  # token_urlsafe(16)
# A payment stated this long ago is past what the wallets' own history lets anyone check.
OLDEST_PAYMENT = datetime.timedelta(days=90)
CLOCK_SKEW = datetime.timedelta(minutes=10)
SEARCH_LIMIT = 50


class AppealError(FieldError):
    """An appeal, or an operator's decision on one, refused for one field."""


class TooManyOpenAppeals(RuleError):
    """The visitor has ``open_limit`` appeals being checked already."""

    status = 409
    code = "too_many_open_appeals"


def new_public_id():
    return PREFIX + secrets.token_urlsafe(16)


def file(settings, label, transaction_number, amount, sender, paid_at, order_id=None, network="", receipt=None,
         open_limit=5, now=None):
    """A visitor's appeal for ``settings`` (the merchant's payment system settings).
    ``receipt``: a ``receipts.CleanReceipt`` or None. Returns ``(appeal, created)``."""
    now = now or utcnow()
    if paid_at > now + CLOCK_SKEW:
        raise AppealError("paid_at", _("The time of the payment is in the future."))
    if paid_at < now - OLDEST_PAYMENT:
        raise AppealError("paid_at", _("The payment is older than %(n)d days: ask the merchant's support.",
                                       n=OLDEST_PAYMENT.days))
    merchant_id, ps = settings.merchant_id, settings.payment_system
    with write_transaction():
        if is_postgres():
            # The merchant's appeals are filed one at a time (SQLite's write transaction
            # does this already): two at once could each miss the other, and two open
            # appeals for one number, or one over the limit, would be stored.
            Merchant.select(Merchant.id).where(Merchant.id == merchant_id).for_update("FOR NO KEY UPDATE").execute()
        mine = Appeal.select().where((Appeal.merchant == merchant_id) & (Appeal.label == label)
                                     & (Appeal.status == OPEN))
        same = mine.where((Appeal.payment_system == ps.id) & (Appeal.transaction_number == transaction_number)).first()
        if same is not None:
            return same, False
        if mine.count() >= open_limit:
            message = _("You have %(n)d appeals being checked already: please wait for their answer.", n=open_limit)
            raise TooManyOpenAppeals(message, {"transaction_number": message})
        appeal = Appeal.create(
            public_id=new_public_id(), merchant=merchant_id, payment_system=ps.id, label=label, order_id=order_id,
            transaction_number=transaction_number, amount=amount, currency=ps.currency, sender=sender,
            paid_at=paid_at, network=network or "", has_receipt=receipt is not None, created_at=now)
        if receipt is not None:
            AppealReceipt.create(appeal=appeal, content_type=receipt.content_type, data=receipt.data)
    return appeal, True


def by_public_id(public_id, merchant_id=None):
    if not isinstance(public_id, str) or not public_id.startswith(PREFIX) or len(public_id) > 40:
        return None
    query = Appeal.select().where(Appeal.public_id == public_id)
    if merchant_id is not None:
        query = query.where(Appeal.merchant == merchant_id)
    return query.first()


def visitor_state(appeal):
    """``GET /plugin/api/appeals/<id>`` (SPEC §12)."""
    out = {"id": appeal.public_id, "status": appeal.status}
    if appeal.status == REJECTED:
        out["reason"] = appeal.reason
    return out


def receipt_of(appeal_id):
    return AppealReceipt.get_or_none(AppealReceipt.appeal == appeal_id)


def _claim(appeal_id, values):
    """Close an open appeal (one conditional ``UPDATE``): False when it was not open."""
    return Appeal.update(**values).where((Appeal.id == appeal_id) & (Appeal.status == OPEN)).execute() == 1


def match(appeal_id, transaction_id, actor, ip="", now=None):
    """Match an open appeal to a reported transaction and activate it for the appeal's
    visitor; returns the activation's ``Outcome``. ``AppealError`` leaves nothing changed."""
    now = now or utcnow()
    with write_transaction():
        appeal = Appeal.get_or_none(Appeal.id == appeal_id)
        if appeal is None:
            raise AppealError("appeal", _("No such appeal."))
        tx = Transaction.get_or_none(Transaction.id == transaction_id)
        if tx is None or tx.merchant_id != appeal.merchant_id or tx.payment_system_id != appeal.payment_system_id:
            raise AppealError("transaction", _("Choose a payment reported to this merchant's %(ps)s wallets.",
                                               ps=appeal.payment_system.name))
        if not _claim(appeal.id, dict(status=MATCHED, transaction=tx.id, resolved_at=now,
                                      resolved_by=getattr(actor, "id", actor))):
            raise AppealError("appeal", _("This appeal was resolved already."))
        try:
            outcome = activation.activate_for_label(tx, appeal.label, appeal.order_id, now=now)
        except activation.ActivationError as exc:  # the payment system is no longer enabled for the merchant
            raise AppealError("transaction", exc.message) from None
        if outcome.status == activation.ALREADY_ACTIVATED:
            credited = Transaction.select(Transaction.label).where(Transaction.id == tx.id).scalar()
            if credited != appeal.label:
                raise AppealError("transaction", _("This payment was credited to another visitor already."))
        elif outcome.status not in activation.BINDING:
            raise AppealError("transaction", _refusal(outcome.reason))
        audit.record(actor, "appeal.match", appeal, summary={
            "appeal": appeal.public_id, "transaction": tx.id, "transaction_number": tx.transaction_number,
            "label": appeal.label, "outcome": outcome.status}, ip=ip)
    return outcome


def _refusal(reason):
    if reason == "fraud":
        return _("This payment is marked as fraud: it cannot be credited.")
    if reason == "outgoing":
        return _("This is an outgoing payment: it cannot be credited.")
    return _("This payment cannot be credited.")


def reject(appeal_id, reason, actor, ip="", now=None):
    """Reject an open appeal with ``reason`` (the visitor reads it)."""
    reason = (reason or "").strip()
    if not reason:
        raise AppealError("reason", _("Say why: the visitor reads it."))
    if len(reason) > MAX_REASON:
        raise AppealError("reason", _("At most %(n)d characters.", n=MAX_REASON))
    now = now or utcnow()
    with write_transaction():
        appeal = Appeal.get_or_none(Appeal.id == appeal_id)
        if appeal is None:
            raise AppealError("appeal", _("No such appeal."))
        if not _claim(appeal.id, dict(status=REJECTED, reason=reason, resolved_at=now,
                                      resolved_by=getattr(actor, "id", actor))):
            raise AppealError("appeal", _("This appeal was resolved already."))
        audit.record(actor, "appeal.reject", appeal, summary={"appeal": appeal.public_id, "reason": reason}, ip=ip)
    return Appeal.get_by_id(appeal.id)


def candidates(appeal, number=None, amount=None, sender=None, start=None, end=None, limit=SEARCH_LIMIT):
    """Reported incoming transactions of the appeal's merchant and payment system an
    operator may match it to, newest first. With no criterion at all: the appeal's
    own number, or else its amount within a day either side of the stated time."""
    query = (Transaction.select()
             .where((Transaction.merchant == appeal.merchant_id)
                    & (Transaction.payment_system == appeal.payment_system_id)
                    & (Transaction.direction == "incoming")))
    if not any(v not in (None, "") for v in (number, amount, sender, start, end)):
        same = query.where(Transaction.transaction_number == appeal.transaction_number)
        if same.exists():
            return list(same)
        amount = appeal.amount
        start = appeal.paid_at - datetime.timedelta(days=1)
        end = appeal.paid_at + datetime.timedelta(days=1)
    if number:
        query = query.where(Transaction.transaction_number == number.strip())
    if amount is not None:
        query = query.where(Transaction.amount == amount)
    if sender:
        query = query.where(fn.LOWER(Transaction.counterparty).contains(sender.strip().lower()))
    if start is not None:
        query = query.where(Transaction.created_at >= start)
    if end is not None:
        query = query.where(Transaction.created_at < end)
    return list(query.order_by(Transaction.created_at.desc(), Transaction.id.desc()).limit(limit))


def open_count(merchant_id=None):
    query = Appeal.select(fn.COUNT(Appeal.id)).where(Appeal.status == OPEN)
    if merchant_id is not None:
        query = query.where(Appeal.merchant == merchant_id)
    return query.scalar() or 0
