"""Withdrawal requests: validation, creation, approval and rejection (issue 5).

Plain functions; the back office and the merchant API call them.

* ``validate_fields`` checks a request's fields against its payment system's schema
  (required ones, regex patterns, nothing unknown); each fault names its field as
  ``fields.<name>``.
* ``create_withdrawal`` refuses a request above the available balance. Two requests
  at once cannot together overdraw: the merchant's row is locked first
  (``SELECT … FOR NO KEY UPDATE`` on PostgreSQL; on SQLite the transaction takes the
  write lock at its start, ``BEGIN IMMEDIATE``), and only then is the balance read.
  ``(merchant, withdrawal_id)`` is the idempotency key: the same request again gives
  the stored one back, a different one is a conflict. The back office's form
  (``replay=False``) takes the merchant's own ID too, optional (one is made when it is
  left empty): an ID used before is refused beside its field (``DuplicateWithdrawalId``),
  never answered with the stored request.
* ``approve`` / ``reject`` decide a request once: a conditional
  ``UPDATE … WHERE status = 'new'`` and its row count, so two operators clicking at
  once cannot both decide it. Each decision writes the audit log and the postback
  outbox row in the same transaction.

Withdrawal controls (SPEC §14):

* ``cancel``: the merchant cancels its own new request (``cancelled``; the hold is
  released; postback ``withdrawal.cancelled``), by the same conditional update, so a
  cancel racing an approval leaves exactly one decision and one ledger entry.
* Two operators above a threshold (``Merchant.withdrawal_dual_approval_above``, read
  at approval time): the first approval is recorded (``first_approved_by`` / ``_at``,
  the request stays new), the second, by another operator, decides. Both steps are
  conditional updates (the first only while none is recorded; the deciding one only
  while the first is still the one it saw and not the decider's own).
* The deciding approval records the payout reference (required) and, optionally, a
  receipt picture (re-encoded by ``services.receipts``; stored in
  ``WithdrawalReceipt``).
* ``approve_from_csv``: bulk approval from an uploaded file, checked whole first
  (``parse_approval_csv``), then each line approved in its own transaction, with a
  per-line report.
"""
import csv
import io
import re
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from peewee import IntegrityError

from .. import labels
from ..db import db, is_postgres, is_sqlite
from ..errors import RuleError
from ..models import (
    STANDARD_WITHDRAWAL_FIELDS,
    Merchant,
    PaymentSystem,
    Wallet,
    Withdrawal,
    WithdrawalReceipt,
    utcnow,
)
from ..money import AmountError, parse_amount, to_str
from . import audit, ledger, receipts, stats_rollup
from .postbacks import create_event, iso

WITHDRAWAL_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")
FIELD_MAX_LENGTH = 255
LABEL_MAX_LENGTH = 255
COMMENT_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 2000
PAYOUT_REFERENCE_MAX_LENGTH = 255


class WithdrawalError(RuleError):
    """A refusal. ``code`` is machine-readable; ``details`` are field faults (a list of
    ``{"field", "message"}``, in order; ``fields`` has them by field)."""

    status = 400
    code = "invalid_request"

    def __init__(self, message, details=None):
        self.details = details or []
        super().__init__(str(message), {d["field"]: d["message"] for d in self.details})

    def detail_list(self):
        return list(self.details)


class ValidationFailed(WithdrawalError):
    code = "invalid_request"


class InsufficientBalance(WithdrawalError):
    status = 422
    code = "insufficient_balance"

    def __init__(self, available_amount, currency):
        message = _("Insufficient balance: %(available)s %(currency)s available.",
                    available=to_str(available_amount), currency=currency)
        super().__init__(message, [{"field": "amount", "message": message}])
        self.available = available_amount
        self.currency = currency


class IdempotencyConflict(WithdrawalError):
    status = 409
    code = "conflict"


class DuplicateWithdrawalId(IdempotencyConflict):
    """The back office's form gave a withdrawal ID the merchant has used already."""

    def __init__(self, withdrawal_id):
        super().__init__(
            _("A withdrawal request with the ID %(id)s exists already.", id=withdrawal_id),
            [{"field": "withdrawal_id", "message": _(
                "is the ID of another request already: enter another one, or leave it empty to have one made")}])


class AlreadyDecided(WithdrawalError):
    """The request is no longer new (approved, rejected or cancelled already)."""

    status = 409
    code = "already_decided"


class NotFound(WithdrawalError):
    status = 404
    code = "not_found"


class SecondApprovalRequired(WithdrawalError):
    """The operator who gave a request's first approval tried to give its second."""

    status = 409
    code = "second_approval_required"


class ApprovalChanged(WithdrawalError):
    """Another operator's first approval landed while this one was being given."""

    status = 409
    code = "approval_changed"


# -- the payment systems' field schemas ----------------------------------------------------
def validate_schema(schema):
    """Check an operator-edited field schema; return it normalised, or raise ValidationFailed."""
    errors = []
    if not isinstance(schema, list):
        raise ValidationFailed(_("The schema must be a list of fields."))
    clean, seen = [], set()
    for index, item in enumerate(schema):
        where = f"withdrawal_fields[{index}]"
        if not isinstance(item, dict):
            errors.append({"field": where, "message": _("must be an object")})
            continue
        unknown = set(item) - {"name", "label", "required", "pattern"}
        if unknown:
            errors.append({"field": where, "message": _("unknown keys: %(keys)s", keys=", ".join(sorted(unknown)))})
        name = item.get("name")
        if name not in STANDARD_WITHDRAWAL_FIELDS:
            errors.append({"field": where + ".name", "message": _(
                "must be one of the standard fields: %(names)s", names=", ".join(STANDARD_WITHDRAWAL_FIELDS))})
            continue
        if name in seen:
            errors.append({"field": where + ".name", "message": _("appears twice")})
            continue
        seen.add(name)
        label = item.get("label") or name
        if not isinstance(label, str) or len(label) > 100:
            errors.append({"field": where + ".label", "message": _("must be text of at most 100 characters")})
            continue
        required = item.get("required", False)
        if not isinstance(required, bool):
            errors.append({"field": where + ".required", "message": _("must be true or false")})
            continue
        pattern = item.get("pattern") or ""
        if not isinstance(pattern, str) or len(pattern) > 500:
            errors.append({"field": where + ".pattern", "message": _("must be text of at most 500 characters")})
            continue
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                errors.append({"field": where + ".pattern",
                               "message": _("is not a valid regular expression: %(error)s", error=str(exc))})
                continue
        clean.append({"name": name, "label": label.strip() or name, "required": required, "pattern": pattern})
    if errors:
        raise ValidationFailed(_("The withdrawal field schema is invalid."), errors)
    return clean


def validate_fields(payment_system, fields, prefix="fields."):
    """``(clean_fields, errors)`` for a request's fields against the payment system's schema."""
    errors = []
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        return {}, [{"field": prefix.rstrip("."), "message": _("must be an object")}]
    schema = payment_system.withdrawal_fields or []
    known = {item["name"] for item in schema}
    for name in sorted(fields):
        if name not in known:
            errors.append({"field": f"{prefix}{name}", "message": _("is not a field of %(ps)s withdrawals",
                                                                    ps=payment_system.name)})
    clean = {}
    for item in schema:
        name = item["name"]
        path = f"{prefix}{name}"
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            errors.append({"field": path, "message": _("must be a string")})
            continue
        value = (value or "").strip()
        if not value:
            if item.get("required"):
                errors.append({"field": path, "message": _("is required")})
            continue
        if len(value) > FIELD_MAX_LENGTH:
            errors.append({"field": path, "message": _("must be at most %(n)d characters", n=FIELD_MAX_LENGTH)})
            continue
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            errors.append({"field": path, "message": _("must not contain control characters")})
            continue
        pattern = item.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            errors.append({"field": path, "message": _("has an invalid format for %(label)s",
                                                       label=item.get("label") or name)})
            continue
        clean[name] = value
    return clean, errors


def _text(value, field, max_length, errors, required=False):
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.append({"field": field, "message": _("must be a string")})
        return ""
    value = value.strip()
    if required and not value:
        errors.append({"field": field, "message": _("is required")})
    elif len(value) > max_length:
        errors.append({"field": field, "message": _("must be at most %(n)d characters", n=max_length)})
    elif any((ord(c) < 32 and c not in "\r\n\t") or ord(c) == 127 for c in value):
        errors.append({"field": field, "message": _("must not contain control characters")})
    return value


def validate_request(payment_system, amount, currency, label, fields, comment, withdrawal_id=None,
                     label_required=False):
    """Every check of a request's input; returns the normalised values or raises ValidationFailed."""
    errors = []
    if payment_system is None or not payment_system.active:
        errors.append({"field": "payment_system", "message": _("is not an active payment system")})
    if withdrawal_id is not None and not (isinstance(withdrawal_id, str) and WITHDRAWAL_ID_RE.match(withdrawal_id)):
        errors.append({"field": "withdrawal_id", "message": _(
            "must be 1 to 100 letters, digits, dots, colons, dashes or underscores")})
    try:
        parsed = parse_amount(str(amount) if isinstance(amount, Decimal) else amount)
    except AmountError as exc:
        errors.append({"field": "amount", "message": str(exc)})
        parsed = None
    if payment_system is not None and currency != payment_system.currency:
        errors.append({"field": "currency", "message": _("must be %(currency)s, the currency of %(ps)s",
                                                         currency=payment_system.currency, ps=payment_system.name)})
    label = _text(label, "label", LABEL_MAX_LENGTH, errors, required=label_required)
    comment = _text(comment, "comment", COMMENT_MAX_LENGTH, errors)
    clean_fields = {}
    if payment_system is not None:
        clean_fields, field_errors = validate_fields(payment_system, fields)
        errors.extend(field_errors)
    if errors:
        raise ValidationFailed(_("The request has invalid fields."), errors)
    return {"amount": parsed, "currency": currency, "label": label, "fields": clean_fields, "comment": comment}


# -- locking ----------------------------------------------------------------------------------
@contextmanager
def merchant_lock(merchant_id):
    """A transaction holding the merchant's write lock until it ends.

    PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` on the merchant row (requests of other
    merchants go on in parallel). Not ``FOR UPDATE``: that also blocks the
    ``FOR KEY SHARE`` lock every insert referencing the merchant takes for its
    foreign key (a transaction, a postback, a statistics row), which queued
    activations behind the withdrawal for the whole balance sum and closed
    deadlock cycles with the statistics upserts (bench/load.py at 210 requests/s:
    6 activations failed with "deadlock detected"). It still serialises the
    merchant's withdrawals (``FOR NO KEY UPDATE`` conflicts with itself).
    SQLite: the transaction begins ``IMMEDIATE`` (it takes the database's write
    lock before it reads anything), so the balance it reads cannot change before
    it commits.
    """
    nested = db.transaction_depth() > 0
    tx = db.atomic(lock_type="IMMEDIATE") if is_sqlite() and not nested else db.atomic()
    with tx:
        if is_postgres():
            Merchant.select(Merchant.id).where(Merchant.id == merchant_id).for_update("FOR NO KEY UPDATE").first()
        elif nested:
            # Inside a caller's transaction (SQLite): a write takes the lock now.
            Merchant.update(id=Merchant.id).where(Merchant.id == merchant_id).execute()
        yield


# -- creating a request --------------------------------------------------------------------
def _differences(existing, payment_system, values):
    """The body fields in which a repeated request differs from the stored one."""
    stored = {
        "payment_system": existing.payment_system_id, "amount": existing.amount, "currency": existing.currency,
        "label": existing.label or "", "fields": existing.fields or {}, "comment": existing.comment or "",
    }
    asked = dict(values, payment_system=payment_system.id)
    return [name for name in stored if stored[name] != asked[name]]


def find(merchant, withdrawal_id):
    return Withdrawal.get_or_none((Withdrawal.merchant == getattr(merchant, "id", merchant))
                                  & (Withdrawal.withdrawal_id == withdrawal_id))


def create_withdrawal(merchant, payment_system, amount, currency, label="", fields=None, comment="",
                      withdrawal_id=None, kind="manual", actor=None, ip="", label_required=False, replay=True):
    """Create a request; return ``(withdrawal, created)``.

    ``created`` is False when the same request (same ``withdrawal_id`` and body) was
    made before: the stored one is returned. Raises ``ValidationFailed``,
    ``InsufficientBalance`` or ``IdempotencyConflict``. With ``replay=False`` (a
    person typing the ID in a form) any request already holding the ID is refused:
    ``DuplicateWithdrawalId``, a fault of the ``withdrawal_id`` field. ``None`` (or,
    there, an empty ID) has one made: ``bo-<date>-<random>``.
    """
    if kind not in ("manual", "api"):
        raise ValueError(kind)
    if withdrawal_id is None:
        withdrawal_id = f"bo-{utcnow():%Y%m%d}-{secrets.token_hex(5)}"
    values = validate_request(payment_system, amount, currency, label, fields, comment, withdrawal_id,
                              label_required=label_required)
    merchant_id = getattr(merchant, "id", merchant)
    try:
        with merchant_lock(merchant_id):
            existing = find(merchant_id, withdrawal_id)
            if existing is not None:
                if not replay:
                    raise DuplicateWithdrawalId(withdrawal_id)
                return _existing(existing, payment_system, values), False
            balance, _on_hold = ledger.lock_balance(merchant_id, values["currency"])
            if values["amount"] > balance:
                raise InsufficientBalance(balance, values["currency"])
            withdrawal = Withdrawal.create(
                merchant=merchant_id,
                payment_system=payment_system,
                withdrawal_id=withdrawal_id,
                amount=values["amount"],
                currency=values["currency"],
                label=values["label"],
                wallet_recipient=values["fields"].get("recipient_wallet", ""),
                fields=values["fields"],
                comment=values["comment"],
                request_kind=kind,
                status="new",
                created_at=utcnow(),
            )
            ledger.book_withdrawal(withdrawal, "withdrawal_hold", actor=actor)
            audit.record(actor, "withdrawal.create", withdrawal, merchant=merchant_id, ip=ip, summary={
                "withdrawal_id": withdrawal_id, "amount": to_str(values["amount"]),
                "currency": values["currency"], "payment_system": payment_system.code, "kind": kind,
            })
            return withdrawal, True
    except IntegrityError:
        # Only reachable if the lock was bypassed; the UNIQUE index still holds.
        existing = find(merchant_id, withdrawal_id)
        if existing is None:
            raise
        if not replay:
            raise DuplicateWithdrawalId(withdrawal_id) from None
        return _existing(existing, payment_system, values), False


def _existing(existing, payment_system, values):
    different = _differences(existing, payment_system, values)
    if different:
        raise IdempotencyConflict(
            _("A withdrawal with the ID %(id)s exists already with different details.", id=existing.withdrawal_id),
            [{"field": name, "message": _("differs from the stored request")} for name in different])
    return existing


# -- deciding -------------------------------------------------------------------------------------
def payload_data(withdrawal):
    """The ``data`` of a withdrawal postback (and the API's representation).

    ``payout_reference`` is what the approving operator recorded (null until then);
    ``has_payout_receipt`` says whether a receipt picture is stored (the merchant API
    serves it at ``GET /api/v1/withdrawals/<withdrawal_id>/receipt``).
    """
    sender = withdrawal.wallet_sender if withdrawal.wallet_sender_id else None
    return {
        "id": withdrawal.id,
        "withdrawal_id": withdrawal.withdrawal_id,
        "merchant_id": withdrawal.merchant_id,
        "payment_system": withdrawal.payment_system.code,
        "amount": to_str(withdrawal.amount),
        "currency": withdrawal.currency,
        "label": withdrawal.label,
        "status": withdrawal.status,
        "fields": withdrawal.fields or {},
        "comment": withdrawal.comment,
        "reject_reason": withdrawal.reject_reason,
        "wallet_sender": sender.number if sender is not None else None,
        "wallet_recipient": withdrawal.wallet_recipient,
        "request_kind": withdrawal.request_kind,
        "payout_reference": withdrawal.payout_reference,
        "has_payout_receipt": bool(withdrawal.payout_receipt_type),
        "created_at": iso(withdrawal.created_at),
        "decided_at": iso(withdrawal.decided_at),
    }


def sender_wallets(withdrawal):
    """Wallets that may pay a request: the merchant's active wallets of its payment system."""
    return (Wallet.select()
            .where((Wallet.merchant == withdrawal.merchant_id)
                   & (Wallet.payment_system == withdrawal.payment_system_id)
                   & (Wallet.active == True))  # noqa: E712
            .order_by(Wallet.identifier))


def _pk(withdrawal):
    return withdrawal.id if isinstance(withdrawal, Withdrawal) else withdrawal


def _refusal(pk, action, actor=None):
    """Why a conditional update changed nothing: the error to raise (the row as it is now)."""
    current = Withdrawal.get_or_none(Withdrawal.id == pk)
    if current is None:
        return NotFound(_("No withdrawal with this ID."))
    status = labels.WITHDRAWAL_STATUS.get(current.status, current.status)
    if current.status != "new":
        if action == "cancel":
            return AlreadyDecided(_("Withdrawal %(id)s cannot be cancelled: it is %(status)s already.",
                                    id=current.withdrawal_id, status=str(status).lower()))
        return AlreadyDecided(_("Withdrawal %(id)s was decided already.", id=current.withdrawal_id))
    if actor is not None and current.first_approved_by_id == getattr(actor, "id", actor):
        return _own_first(current)
    return ApprovalChanged(_("Withdrawal %(id)s was approved by another operator meanwhile: open it again to "
                             "give the second approval.", id=current.withdrawal_id))


def _decide(withdrawal_pk, actor, status, ip="", wallet=None, reason=None, reference=None, receipt=None,
            first_approver=None):
    """Decide a new request once. ``first_approver``: the first of two approvals, which
    must still be the one this decision saw (and not the deciding operator's)."""
    now = utcnow()
    actor_id = getattr(actor, "id", actor)
    updates = {Withdrawal.status: status, Withdrawal.decided_at: now,
               Withdrawal.decided_by: actor_id, Withdrawal.postback_status: "pending"}
    if wallet is not None:
        updates[Withdrawal.wallet_sender] = wallet.id
    if reason is not None:
        updates[Withdrawal.reject_reason] = reason
    if reference is not None:
        updates[Withdrawal.payout_reference] = reference
    if receipt is not None:
        updates[Withdrawal.payout_receipt_type] = receipt.content_type
    condition = (Withdrawal.id == withdrawal_pk) & (Withdrawal.status == "new")
    if first_approver is not None:
        condition &= (Withdrawal.first_approved_by == first_approver) & (Withdrawal.first_approved_by != actor_id)
    with db.atomic():
        changed = Withdrawal.update(updates).where(condition).execute()
        if changed != 1:
            raise _refusal(withdrawal_pk, "decide")
        withdrawal = Withdrawal.get_by_id(withdrawal_pk)
        ledger.book_withdrawal(withdrawal, "withdrawal_payout" if status == "approved" else "withdrawal_release",
                               actor=actor, memo=reason or "")
        if receipt is not None:
            WithdrawalReceipt.create(withdrawal=withdrawal.id, content_type=receipt.content_type, data=receipt.data,
                                     created_at=now)
        summary = {"status": {"before": "new", "after": status}, "withdrawal_id": withdrawal.withdrawal_id,
                   "amount": to_str(withdrawal.amount), "currency": withdrawal.currency}
        if wallet is not None:
            summary["wallet_sender"] = wallet.number
        if reason is not None:
            summary["reject_reason"] = reason
        if reference is not None:
            summary["payout_reference"] = reference
            summary["payout_receipt"] = receipt is not None
        if first_approver is not None:
            summary["first_approved_by"] = first_approver
        audit.record(actor, f"withdrawal.{'approve' if status == 'approved' else 'reject'}", withdrawal,
                     summary=summary, ip=ip)
        create_event(withdrawal.merchant_id, f"withdrawal.{status}", payload_data(withdrawal),
                     object_type="withdrawal", object_id=withdrawal.id)
        if status == "approved":
            stats_rollup.record_withdrawal_approved(withdrawal, withdrawal.merchant.timezone)
    return withdrawal


# -- two operators above a threshold ---------------------------------------------------------------
def dual_approval_threshold(merchant):
    """The amount above which the merchant's requests need two operators (None: never)."""
    merchant = merchant if isinstance(merchant, Merchant) else Merchant.get_by_id(merchant)
    return merchant.withdrawal_dual_approval_above


def parse_dual_approval_threshold(value):
    """The threshold setting from a form: a Decimal ≥ 0, or None (blank: never).
    Raises ValidationFailed naming ``withdrawal_dual_approval_above``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return parse_amount(value, allow_zero=True)
    except AmountError as exc:
        message = str(exc)
        raise ValidationFailed(message, [{"field": "withdrawal_dual_approval_above", "message": message}]) from None


def approvals_required(withdrawal):
    """1, or 2 when the amount is above the merchant's threshold (read now, not at request time)."""
    threshold = dual_approval_threshold(withdrawal.merchant_id)
    return 2 if threshold is not None and withdrawal.amount > threshold else 1


def approvals_given(withdrawal):
    """Approvals recorded on a request still to decide (0 or 1; a decided one: its decision)."""
    return 1 if withdrawal.first_approved_by_id is not None else 0


def approval_stage(withdrawal, actor):
    """What ``actor``'s approval of a new request would be:

    * ``"decides"``: it approves the request (one approval is enough, or it is the
      second of two, from another operator);
    * ``"first"``: the first of two approvals (recorded; the request stays new);
    * ``"own_first"``: ``actor`` gave the first approval and cannot give the second.
    """
    actor_id = getattr(actor, "id", actor)
    if approvals_required(withdrawal) == 1:
        return "decides"
    if withdrawal.first_approved_by_id is None:
        return "first"
    return "own_first" if withdrawal.first_approved_by_id == actor_id else "decides"


def _own_first(withdrawal):
    return SecondApprovalRequired(_(
        "You gave the first approval of withdrawal %(id)s: another operator must give the second.",
        id=withdrawal.withdrawal_id))


def _first_approval(withdrawal, actor, ip=""):
    actor_id = getattr(actor, "id", actor)
    now = utcnow()
    with db.atomic():
        changed = (Withdrawal.update({Withdrawal.first_approved_by: actor_id, Withdrawal.first_approved_at: now})
                   .where((Withdrawal.id == withdrawal.id) & (Withdrawal.status == "new")
                          & Withdrawal.first_approved_by.is_null())
                   .execute())
        if changed != 1:
            raise _refusal(withdrawal.id, "first", actor)
        fresh = Withdrawal.get_by_id(withdrawal.id)
        audit.record(actor, "withdrawal.approve_first", fresh, ip=ip, summary={
            "withdrawal_id": fresh.withdrawal_id, "amount": to_str(fresh.amount), "currency": fresh.currency,
            "approvals": {"given": 1, "required": 2}})
    return fresh


# -- approving, rejecting, cancelling -------------------------------------------------------------
def clean_payout_reference(value, errors):
    """The payout reference, trimmed (1 to 255 characters, no control characters)."""
    return _text(value, "payout_reference", PAYOUT_REFERENCE_MAX_LENGTH, errors, required=True).replace(
        "\r", " ").replace("\n", " ").replace("\t", " ")


def _sender_wallet(withdrawal, wallet, errors):
    if wallet is None:
        errors.append({"field": "wallet_sender", "message": _("is required")})
        return None
    wallet = wallet if isinstance(wallet, Wallet) else Wallet.get_or_none(Wallet.id == wallet)
    if (wallet is None or wallet.merchant_id != withdrawal.merchant_id
            or wallet.payment_system_id != withdrawal.payment_system_id or not wallet.active):
        errors.append({"field": "wallet_sender", "message": _(
            "must be an active wallet of the merchant on %(ps)s", ps=withdrawal.payment_system.name)})
        return None
    return wallet


def approve(withdrawal, actor, wallet=None, payout_reference=None, receipt=None, ip=""):
    """Approve a new request, paid from ``wallet`` (the merchant's, of its payment
    system), with the payout reference (required) and, optionally, a receipt picture
    (the uploaded bytes; re-encoded, see ``services.receipts``).

    Above the merchant's dual-approval threshold the first operator's approval is only
    recorded (the wallet, reference and receipt are given by the second, who decides):
    the request is returned still ``new``. The same operator cannot give both
    (``SecondApprovalRequired``).
    """
    withdrawal = withdrawal if isinstance(withdrawal, Withdrawal) else Withdrawal.get_or_none(
        Withdrawal.id == withdrawal)
    if withdrawal is None:
        raise NotFound(_("No withdrawal with this ID."))
    if withdrawal.status != "new":
        raise _refusal(withdrawal.id, "decide")
    stage = approval_stage(withdrawal, actor)
    if stage == "own_first":
        raise _own_first(withdrawal)
    if stage == "first":
        return _first_approval(withdrawal, actor, ip=ip)
    errors = []
    wallet = _sender_wallet(withdrawal, wallet, errors)
    reference = clean_payout_reference(payout_reference, errors)
    clean = None
    if receipt:
        try:
            clean = receipts.clean_receipt(receipt)
        except receipts.ReceiptError as exc:
            errors.append({"field": "payout_receipt", "message": exc.message})
    if errors:
        fields = {d["field"] for d in errors}
        if fields == {"wallet_sender"}:
            message = _("Choose the sender wallet: an active wallet of the merchant on %(ps)s.",
                        ps=withdrawal.payment_system.name)
        elif fields == {"payout_reference"}:
            message = _("Give the payout reference.")
        else:
            message = _("The approval has invalid fields.")
        raise ValidationFailed(message, errors)
    return _decide(withdrawal.id, actor, "approved", ip=ip, wallet=wallet, reference=reference, receipt=clean,
                   first_approver=withdrawal.first_approved_by_id if approvals_required(withdrawal) == 2 else None)


def reject(withdrawal, actor, reason, ip=""):
    """Reject a new request; the reason is required (it is sent to the merchant)."""
    errors = []
    reason = _text(reason, "reject_reason", REASON_MAX_LENGTH, errors, required=True)
    if errors:
        raise ValidationFailed(_("Give the reason for the rejection."), errors)
    return _decide(_pk(withdrawal), actor, "rejected", ip=ip, reason=reason)


def cancel(withdrawal, actor=None, merchant=None, ip=""):
    """The merchant cancels its own new request: ``cancelled``, the hold released, the
    ``withdrawal.cancelled`` postback written, all in one transaction.

    ``merchant``: the merchant that asks (its API key, its user's session); another
    merchant's request is ``NotFound``. ``actor``: the user (None through the API).
    A request decided (or cancelled) already is ``AlreadyDecided``: racing an
    approval, exactly one of the two wins (a conditional update on ``status = 'new'``).
    """
    pk = _pk(withdrawal)
    merchant_id = getattr(merchant, "id", merchant)
    actor_id = getattr(actor, "id", actor)
    condition = (Withdrawal.id == pk) & (Withdrawal.status == "new")
    if merchant_id is not None:
        condition &= Withdrawal.merchant == merchant_id
    with db.atomic():
        changed = (Withdrawal.update({Withdrawal.status: "cancelled", Withdrawal.decided_at: utcnow(),
                                      Withdrawal.decided_by: actor_id, Withdrawal.postback_status: "pending"})
                   .where(condition).execute())
        if changed != 1:
            current = Withdrawal.get_or_none(Withdrawal.id == pk)
            if current is None or (merchant_id is not None and current.merchant_id != merchant_id):
                raise NotFound(_("No withdrawal with this ID."))
            raise _refusal(pk, "cancel")
        withdrawal = Withdrawal.get_by_id(pk)
        ledger.book_withdrawal(withdrawal, "withdrawal_release", actor=actor_id)
        audit.record(actor_id, "withdrawal.cancel", withdrawal, ip=ip, summary={
            "status": {"before": "new", "after": "cancelled"}, "withdrawal_id": withdrawal.withdrawal_id,
            "amount": to_str(withdrawal.amount), "currency": withdrawal.currency,
            "by": "api" if actor_id is None else "back office"})
        create_event(withdrawal.merchant_id, "withdrawal.cancelled", payload_data(withdrawal),
                     object_type="withdrawal", object_id=withdrawal.id)
    return withdrawal


def may_cancel(withdrawal):
    """Whether a request may still be cancelled by its merchant (only a new one may)."""
    return withdrawal.status == "new"


def receipt_of(withdrawal):
    """``(content_type, bytes)`` of the request's payout receipt, or None."""
    if not withdrawal.payout_receipt_type:
        return None
    row = WithdrawalReceipt.get_or_none(WithdrawalReceipt.withdrawal == withdrawal.id)
    return None if row is None else (row.content_type, bytes(row.data))


def receipt_filename(withdrawal, content_type):
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", withdrawal.withdrawal_id)
    return f"receipt-{safe}.{receipts.EXTENSIONS.get(content_type, 'bin')}"


def approve_many(withdrawals, actor, wallet_for, reference_for, receipt_for=None, ip=""):
    """Approve each request with ``wallet_for(w)``, ``reference_for(w)`` and
    ``receipt_for(w)`` (bytes or None); ``(approved, refused)``.

    Each request is decided in its own transaction. ``approved`` holds the requests
    approved and those that got the first of their two approvals (still ``new``);
    ``refused`` pairs a request with the reason it was not approved (decided already,
    no valid wallet, no reference, the operator's own first approval, …).
    """
    done, refused = [], []
    for withdrawal in withdrawals:
        try:
            done.append(approve(withdrawal, actor, wallet_for(withdrawal), reference_for(withdrawal),
                                receipt_for(withdrawal) if receipt_for else None, ip=ip))
        except WithdrawalError as exc:
            refused.append((withdrawal, _refusal_text(exc)))
    return done, refused


def _refusal_text(exc):
    """A refusal in one line: its message, and each field fault."""
    faults = [f"{d['field']}: {d['message']}" for d in exc.details]
    return exc.message + (" (" + "; ".join(faults) + ")" if faults and len(faults) > 1 else "")


def reject_many(withdrawals, actor, reason, ip=""):
    errors = []
    _text(reason, "reject_reason", REASON_MAX_LENGTH, errors, required=True)
    if errors:
        raise ValidationFailed(_("Give the reason for the rejection."), errors)
    done, refused = [], []
    for withdrawal in withdrawals:
        try:
            done.append(reject(withdrawal, actor, reason, ip=ip))
        except WithdrawalError as exc:
            refused.append((withdrawal, exc.message))
    return done, refused


def payment_system_by_code(code):
    return PaymentSystem.get_or_none(PaymentSystem.code == code) if isinstance(code, str) else None


def awaiting_decision(withdrawal):
    """Whether a request may still be approved or rejected (only a new one may)."""
    return withdrawal.status == "new"


def decision_group_key(withdrawal):
    """Requests paid from one sender wallet share this key: same merchant, same payment system."""
    return f"{withdrawal.merchant_id}_{withdrawal.payment_system_id}"


def decision_groups(withdrawals, actor=None):
    """Requests chosen for a decision: ``(pending, decided, groups)``.

    ``pending`` are those still awaiting a decision, ``decided`` the others (left as
    they are); ``groups`` splits ``pending`` by merchant and payment system, in order
    of appearance, each a dict with its ``key`` (:func:`decision_group_key`), the
    ``merchant``, the ``payment_system``, the ``wallets`` that may pay its requests
    (:func:`sender_wallets`), its ``withdrawals`` and ``stages`` (by request id:
    :func:`approval_stage` for ``actor``): one sender wallet is chosen per group.
    """
    pending = [w for w in withdrawals if awaiting_decision(w)]
    decided = [w for w in withdrawals if not awaiting_decision(w)]
    groups = {}
    for w in pending:
        key = decision_group_key(w)
        if key not in groups:
            groups[key] = {"key": key, "merchant": w.merchant, "payment_system": w.payment_system,
                           "wallets": list(sender_wallets(w)), "withdrawals": [], "stages": {}}
        groups[key]["withdrawals"].append(w)
        groups[key]["stages"][w.id] = approval_stage(w, actor)
    return pending, decided, list(groups.values())


# -- bulk approval from a CSV file -------------------------------------------------------------------
CSV_REQUIRED_COLUMNS = ("merchant_id", "withdrawal_id", "payout_reference")
CSV_OPTIONAL_COLUMNS = ("wallet_sender",)
CSV_MAX_BYTES = 1024 * 1024
CSV_MAX_ROWS = 5000
# What our exports put before a cell that a spreadsheet would run as a formula (SPEC §14).
_FORMULA_GUARD = re.compile(r"^'(?=[=+\-@\t\r])")


@dataclass
class CsvLine:
    line: int  # the line of the file the row starts on (the header is line 1)
    merchant_id: int
    withdrawal_id: str
    payout_reference: str
    wallet_sender: str = ""


class CsvFileError(WithdrawalError):
    """A malformed approval file: nothing is approved. ``faults``: ``(line, message)``
    pairs in file order (line 0: the file as a whole)."""

    status = 400
    code = "invalid_file"

    def __init__(self, faults):
        self.faults = faults
        super().__init__(_("The file has errors: nothing was approved."),
                         [{"field": f"line {line}" if line else "file", "message": message}
                          for line, message in faults])


def _cell(value):
    return _FORMULA_GUARD.sub("", value.strip())


def parse_approval_csv(data):
    """Read a bulk approval file; the rows (``CsvLine``) or ``CsvFileError`` listing
    every fault. Columns (a header row, any order, ``,`` or ``;`` between cells):
    ``merchant_id``, ``withdrawal_id`` (the merchant's own id), ``payout_reference``,
    and optionally ``wallet_sender`` (the paying wallet's number)."""
    data = bytes(data or b"")
    if not data.strip():
        raise CsvFileError([(0, _("The file is empty."))])
    if len(data) > CSV_MAX_BYTES:
        raise CsvFileError([(0, _("The file is over %(n)d KiB.", n=CSV_MAX_BYTES // 1024))])
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CsvFileError([(line, _("is not UTF-8 text: save the file as CSV UTF-8."))]) from None
    if "\x00" in text:
        raise CsvFileError([(text[:text.index("\x00")].count("\n") + 1, _("contains a NUL character."))])
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    faults, rows = [], []
    try:
        header = next(reader, None)
        columns = [name.strip().lower() for name in header or []]
        missing = [name for name in CSV_REQUIRED_COLUMNS if name not in columns]
        unknown = [name for name in columns if name not in CSV_REQUIRED_COLUMNS + CSV_OPTIONAL_COLUMNS]
        twice = sorted({name for name in columns if columns.count(name) > 1})
        if missing or unknown or twice:
            problems = []
            if missing:
                problems.append(_("missing columns: %(names)s", names=", ".join(missing)))
            if unknown:
                problems.append(_("unknown columns: %(names)s", names=", ".join(unknown)))
            if twice:
                problems.append(_("columns named twice: %(names)s", names=", ".join(twice)))
            raise CsvFileError([(1, _("The header must name the columns %(columns)s (and optionally "
                                      "%(optional)s): %(problems)s.",
                                      columns=", ".join(CSV_REQUIRED_COLUMNS),
                                      optional=", ".join(CSV_OPTIONAL_COLUMNS), problems="; ".join(problems)))])
        seen = {}
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) + len(faults) >= CSV_MAX_ROWS:
                raise CsvFileError([(0, _("The file has over %(n)d rows: split it.", n=CSV_MAX_ROWS))])
            if len(cells) != len(columns):
                faults.append((start, _("has %(got)d cells; the header has %(want)d.", got=len(cells),
                                         want=len(columns))))
                continue
            values = {name: _cell(cell) for name, cell in zip(columns, cells)}
            errors = []
            merchant_id = values["merchant_id"]
            if not (merchant_id.isascii() and merchant_id.isdigit() and len(merchant_id) <= 18):
                errors.append(_("merchant_id must be a merchant's number"))
            withdrawal_id = values["withdrawal_id"]
            if not WITHDRAWAL_ID_RE.match(withdrawal_id):
                errors.append(_("withdrawal_id must be 1 to 100 letters, digits, dots, colons, dashes or "
                                "underscores"))
            field_errors = []
            reference = clean_payout_reference(values["payout_reference"], field_errors)
            wallet = _text(values.get("wallet_sender", ""), "wallet_sender", 100, field_errors)
            errors.extend(f"{d['field']} {d['message']}" for d in field_errors)
            if not errors:
                key = (int(merchant_id), withdrawal_id)
                if key in seen:
                    errors.append(_("repeats line %(n)d (the same merchant and withdrawal ID)", n=seen[key]))
                else:
                    seen[key] = start
            if errors:
                faults.append((start, "; ".join(errors)))
                continue
            rows.append(CsvLine(start, int(merchant_id), withdrawal_id, reference, wallet))
    except csv.Error as exc:
        faults.append((reader.line_num, _("is not valid CSV: %(error)s", error=str(exc))))
    if faults:
        raise CsvFileError(faults)
    if not rows:
        raise CsvFileError([(0, _("The file has a header but no rows."))])
    return rows


def _csv_wallet(withdrawal, number):
    """The wallet a CSV line names, or the merchant's only active wallet of the system:
    ``(wallet, None)`` or ``(None, why)``."""
    wallets = list(sender_wallets(withdrawal))
    if number:
        wallet = next((w for w in wallets if w.number == number), None)
        if wallet is None:
            return None, _("wallet_sender %(number)s is not an active wallet of the merchant on %(ps)s",
                           number=number, ps=withdrawal.payment_system.name)
        return wallet, None
    if len(wallets) == 1:
        return wallets[0], None
    if not wallets:
        return None, _("the merchant has no active wallet on %(ps)s", ps=withdrawal.payment_system.name)
    return None, _("the merchant has %(n)d active wallets on %(ps)s: name one in wallet_sender",
                   n=len(wallets), ps=withdrawal.payment_system.name)


def approve_from_csv(data, actor, ip=""):
    """Bulk approval from an uploaded file (operators).

    The whole file is read and checked first (``parse_approval_csv``): a malformed file
    raises ``CsvFileError`` and approves nothing. Then each line is approved in its own
    transaction (``approve``: conditional, audited, booked, its postback written).
    Returns one report row per line: ``{"line", "merchant_id", "withdrawal_id",
    "outcome", "message", "withdrawal"}``, ``outcome`` being ``approved``,
    ``first_approval`` (the first of two: another operator must approve it) or
    ``refused`` (with the reason).
    """
    report = []
    for row in parse_approval_csv(data):
        entry = {"line": row.line, "merchant_id": row.merchant_id, "withdrawal_id": row.withdrawal_id,
                 "outcome": "refused", "message": "", "withdrawal": None}
        report.append(entry)
        withdrawal = find(row.merchant_id, row.withdrawal_id)
        if withdrawal is None:
            entry["message"] = _("unknown withdrawal: merchant %(m)d has no request %(id)s",
                                 m=row.merchant_id, id=row.withdrawal_id)
            continue
        entry["withdrawal"] = withdrawal
        wallet = None
        if withdrawal.status == "new" and approval_stage(withdrawal, actor) == "decides":
            wallet, why = _csv_wallet(withdrawal, row.wallet_sender)
            if why:
                entry["message"] = why
                continue
        try:
            result = approve(withdrawal, actor, wallet, row.payout_reference, ip=ip)
        except WithdrawalError as exc:
            entry["message"] = _refusal_text(exc)
            continue
        entry["withdrawal"] = result
        if result.status == "approved":
            entry["outcome"], entry["message"] = "approved", _("approved")
        else:
            entry["outcome"] = "first_approval"
            entry["message"] = _("first approval recorded (1 of 2): another operator must approve it")
    return report
