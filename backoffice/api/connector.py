"""Connector API: payment-system connectors report wallet transactions (SPEC §6)."""
import datetime

from flask import g, jsonify
from flask_babel import gettext as _

from ..models import ConnectorToken, utcnow
from ..money import to_str
from ..security import token_digest
from ..services.ingest import IngestConflict, Report, ingest
from ..timeutil import iso_z
from .base import ApiError, bearer_token, bp
from .openapi import document, error_responses, schema
from .validation import Body

LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)  # not a write on every request


def authenticate_connector():
    token = bearer_token()
    row = ConnectorToken.get_or_none(ConnectorToken.token_hash == token_digest(token)) if token else None
    if row is None or not row.active:
        raise ApiError(401, "unauthorized", _("A valid connector token is required."),
                       headers={"WWW-Authenticate": "Bearer"})
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        ConnectorToken.update(last_used_at=now).where(ConnectorToken.id == row.id).execute()
    return row


def parse_time(body, field):
    value = body.string(field, required=False, max_length=40)
    if value is None:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        body.fail(field, _("must be an ISO-8601 date and time"))
        return None
    if parsed.tzinfo is None:
        body.fail(field, _("must include a time zone offset (e.g. Z)"))
        return None
    try:
        return parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        body.fail(field, _("must be an ISO-8601 date and time"))
        return None


def transaction_json(tx):
    return {
        "id": tx.id,
        "payment_system": tx.payment_system.code,
        "transaction_number": tx.transaction_number,
        "amount": to_str(tx.amount),
        "currency": tx.currency,
        "commission": to_str(tx.commission),
        "direction": tx.direction,
        "counterparty": tx.counterparty,
        "status": tx.status,
        "postback_status": tx.postback_status,
        "label": tx.label,
        "order_id": tx.order_id,
        "created_at": iso_z(tx.created_at),
        "activated_at": iso_z(tx.activated_at),
    }


@bp.route("/ps/transactions", methods=["POST"])
def report_transaction():
    token = authenticate_connector()
    body = Body()
    report = Report(
        payment_system=body.string("payment_system", max_length=32),
        wallet_number=body.string("wallet_number", max_length=100),
        transaction_number=body.string("transaction_number", max_length=100),
        amount=body.amount("amount"),
        currency=body.string("currency", max_length=3, pattern=r"[A-Z]{3}"),
        direction=body.string("direction", choices=("incoming", "outgoing")),
        counterparty=body.string("counterparty", required=False) or "",
        occurred_at=parse_time(body, "occurred_at"),
    )
    body.done()
    g.connector = token
    try:  # an IngestError is a RuleError: the blueprint's handler answers it
        result = ingest(report, allowed_codes=set(token.payment_systems or []), connector=token)
    except IngestConflict as exc:
        raise ApiError(409, "conflict", _("This transaction number was reported before with a different %(fields)s.",
                                          fields=", ".join(exc.differences)),
                       details=[{"field": f, "message": _("differs from the stored transaction")}
                                for f in exc.differences])
    answer = {"transaction": transaction_json(result.transaction), "created": result.created}
    if result.activation is not None:
        answer["activation"] = result.activation.as_json()
    return jsonify(answer), (201 if result.created else 200)


schema("ConnectorReport", {
    "type": "object",
    "required": ["payment_system", "wallet_number", "transaction_number", "amount", "currency", "direction"],
    "properties": {
        "payment_system": {"type": "string", "maxLength": 32, "example": "bkash"},
        "wallet_number": {"type": "string", "maxLength": 100},
        "transaction_number": {"type": "string", "maxLength": 100},
        "amount": {"$ref": "#/components/schemas/MoneyInput"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "direction": {"type": "string", "enum": ["incoming", "outgoing"]},
        "counterparty": {"type": "string", "maxLength": 255},
        "occurred_at": {"type": "string", "format": "date-time"},
    },
})
schema("Transaction", {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "payment_system": {"type": "string"},
        "transaction_number": {"type": "string"}, "amount": {"$ref": "#/components/schemas/Money"},
        "currency": {"type": "string"}, "commission": {"$ref": "#/components/schemas/Money"},
        "direction": {"type": "string"}, "counterparty": {"type": "string"}, "status": {"type": "string"},
        "postback_status": {"type": "string"}, "label": {"type": "string", "nullable": True},
        "order_id": {"type": "string", "nullable": True}, "created_at": {"type": "string", "format": "date-time"},
        "activated_at": {"type": "string", "format": "date-time", "nullable": True},
    },
})
_ok = {"application/json": {"schema": {"type": "object", "properties": {
    "transaction": {"$ref": "#/components/schemas/Transaction"}, "created": {"type": "boolean"},
    "activation": {"$ref": "#/components/schemas/ActivationResult"}}}}}
document("/api/v1/ps/transactions", "post", {
    "summary": "Report a wallet transaction (idempotent on payment system + transaction number)",
    "security": [{"connectorToken": []}],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ConnectorReport"}}}},
    "responses": {
        "201": {"description": "Stored (and activated for a waiting visitor, if any)", "content": _ok},
        "200": {"description": "The same report again: nothing changed", "content": _ok},
        **error_responses(400, 401, 403, 409, 413, 422),
    },
})
