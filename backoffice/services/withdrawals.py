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
  the stored one back, a different one is a conflict.
* ``approve`` / ``reject`` decide a request once: a conditional
  ``UPDATE … WHERE status = 'new'`` and its row count, so two operators clicking at
  once cannot both decide it. Each decision writes the audit log and the postback
  outbox row in the same transaction.
"""
import re
import secrets
from contextlib import contextmanager
from decimal import Decimal

from flask_babel import gettext as _
from peewee import IntegrityError

from ..db import db, is_postgres, is_sqlite
from ..errors import RuleError
from ..models import STANDARD_WITHDRAWAL_FIELDS, Merchant, PaymentSystem, Wallet, Withdrawal, utcnow
from ..money import AmountError, parse_amount, to_str
from . import audit, stats_rollup
from .balances import available
from .postbacks import create_event, iso

WITHDRAWAL_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")
FIELD_MAX_LENGTH = 255
LABEL_MAX_LENGTH = 255
COMMENT_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 2000


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


class AlreadyDecided(WithdrawalError):
    status = 409
    code = "already_decided"


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
                      withdrawal_id=None, kind="manual", actor=None, ip="", label_required=False):
    """Create a request; return ``(withdrawal, created)``.

    ``created`` is False when the same request (same ``withdrawal_id`` and body) was
    made before: the stored one is returned. Raises ``ValidationFailed``,
    ``InsufficientBalance`` or ``IdempotencyConflict``.
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
                return _existing(existing, payment_system, values), False
            balance = available(merchant_id, values["currency"])
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
    """The ``data`` of a withdrawal postback (and the API's representation)."""
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


def _decide(withdrawal_pk, actor, status, ip="", wallet=None, reason=None):
    now = utcnow()
    updates = {Withdrawal.status: status, Withdrawal.decided_at: now,
               Withdrawal.decided_by: getattr(actor, "id", actor), Withdrawal.postback_status: "pending"}
    if wallet is not None:
        updates[Withdrawal.wallet_sender] = wallet.id
    if reason is not None:
        updates[Withdrawal.reject_reason] = reason
    with db.atomic():
        changed = (Withdrawal.update(updates)
                   .where((Withdrawal.id == withdrawal_pk) & (Withdrawal.status == "new"))
                   .execute())
        if changed != 1:
            raise AlreadyDecided(_("Withdrawal %(id)s was decided already.", id=withdrawal_pk))
        withdrawal = Withdrawal.get_by_id(withdrawal_pk)
        summary = {"status": {"before": "new", "after": status}, "withdrawal_id": withdrawal.withdrawal_id,
                   "amount": to_str(withdrawal.amount), "currency": withdrawal.currency}
        if wallet is not None:
            summary["wallet_sender"] = wallet.number
        if reason is not None:
            summary["reject_reason"] = reason
        audit.record(actor, f"withdrawal.{'approve' if status == 'approved' else 'reject'}", withdrawal,
                     summary=summary, ip=ip)
        create_event(withdrawal.merchant_id, f"withdrawal.{status}", payload_data(withdrawal),
                     object_type="withdrawal", object_id=withdrawal.id)
        if status == "approved":
            stats_rollup.record_withdrawal_approved(withdrawal, withdrawal.merchant.timezone)
    return withdrawal


def approve(withdrawal, actor, wallet, ip=""):
    """Approve a new request, paid from ``wallet`` (the merchant's, of its payment system)."""
    withdrawal = withdrawal if isinstance(withdrawal, Withdrawal) else Withdrawal.get_by_id(withdrawal)
    if wallet is None:
        raise ValidationFailed(_("Choose the sender wallet."), [{"field": "wallet_sender", "message": _("is required")}])
    wallet = wallet if isinstance(wallet, Wallet) else Wallet.get_or_none(Wallet.id == wallet)
    if (wallet is None or wallet.merchant_id != withdrawal.merchant_id
            or wallet.payment_system_id != withdrawal.payment_system_id or not wallet.active):
        raise ValidationFailed(_("The sender wallet must be an active wallet of the merchant on %(ps)s.",
                                 ps=withdrawal.payment_system.name),
                               [{"field": "wallet_sender", "message": _("is not a wallet of this request")}])
    return _decide(withdrawal.id, actor, "approved", ip=ip, wallet=wallet)


def reject(withdrawal, actor, reason, ip=""):
    """Reject a new request; the reason is required (it is sent to the merchant)."""
    pk = withdrawal.id if isinstance(withdrawal, Withdrawal) else withdrawal
    errors = []
    reason = _text(reason, "reject_reason", REASON_MAX_LENGTH, errors, required=True)
    if errors:
        raise ValidationFailed(_("Give the reason for the rejection."), errors)
    return _decide(pk, actor, "rejected", ip=ip, reason=reason)


def approve_many(withdrawals, actor, wallet_for, ip=""):
    """Approve each request with ``wallet_for(withdrawal)``; ``(approved, refused)``.

    Each request is decided in its own transaction; ``refused`` pairs a request with
    the reason it was not approved (decided already, no valid wallet).
    """
    done, refused = [], []
    for withdrawal in withdrawals:
        try:
            done.append(approve(withdrawal, actor, wallet_for(withdrawal), ip=ip))
        except WithdrawalError as exc:
            refused.append((withdrawal, exc.message))
    return done, refused


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


def decision_groups(withdrawals):
    """Requests chosen for a decision: ``(pending, decided, groups)``.

    ``pending`` are those still awaiting a decision, ``decided`` the others (left as
    they are); ``groups`` splits ``pending`` by merchant and payment system, in order
    of appearance, each a dict with its ``key`` (:func:`decision_group_key`), the
    ``merchant``, the ``payment_system``, the ``wallets`` that may pay its requests
    (:func:`sender_wallets`) and its ``withdrawals``: one sender wallet is chosen per group.
    """
    pending = [w for w in withdrawals if awaiting_decision(w)]
    decided = [w for w in withdrawals if not awaiting_decision(w)]
    groups = {}
    for w in pending:
        key = decision_group_key(w)
        if key not in groups:
            groups[key] = {"key": key, "merchant": w.merchant, "payment_system": w.payment_system,
                           "wallets": list(sender_wallets(w)), "withdrawals": []}
        groups[key]["withdrawals"].append(w)
    return pending, decided, list(groups.values())
