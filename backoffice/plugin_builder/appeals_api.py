"""Plugin API: visitors' appeals (SPEC §12).

* ``POST /plugin/api/appeals`` — multipart form: ``merchant``, ``payment_system``,
  ``transaction_number``, ``amount``, ``sender``, ``paid_at`` (a date and time with its
  offset), ``label`` (with ``signature`` when the merchant signs labels, as for the
  activation), ``order_id``?, ``receipt``? (PNG or JPEG, at most 2 MiB, re-encoded
  without metadata) → ``201 {"id": "apl_…", "status": "open"}``; the same number
  appealed again by the same visitor while open → ``200`` with that appeal.
* ``GET /plugin/api/appeals/<id>?merchant=PK`` → ``{"id", "status", "reason"?}``.

Rate limited per address (``PLUGIN_APPEAL_LIMIT``); a visitor has at most
``APPEALS_OPEN_PER_LABEL`` open appeals (``409 too_many_open_appeals`` beyond).
"""
from flask import current_app, jsonify, request
from flask_babel import gettext as _

from ..api.base import ApiError
from ..api.openapi import document, error_responses, schema
from ..api.validation import Body
from ..extensions import address_key, limiter
from ..i18n import zone
from ..services import appeals, matching, receipts
from .blueprint import bp
from .config import merchant_by_public_key
from .visitor import read as read_visitor
from .visitor import resolve as resolve_visitor

PAID_AT_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
MAX_RECEIPT_BYTES = 2 * 1024 * 1024
# The form's text fields beside the receipt: a few hundred bytes, with room to spare.
MAX_REQUEST_BYTES = MAX_RECEIPT_BYTES + 64 * 1024


def _limit():
    return current_app.config.get("PLUGIN_APPEAL_LIMIT", "10 per hour")


def _receipt():
    upload = request.files.get("receipt")
    if upload is None or not upload.filename and not upload.content_length:
        return None
    data = upload.stream.read(MAX_RECEIPT_BYTES + 1)
    if not data:
        return None
    return receipts.clean_receipt(data, max_bytes=MAX_RECEIPT_BYTES, field="receipt")


@bp.route("/api/appeals", methods=["POST"])
@limiter.limit(_limit, key_func=address_key)
def appeal_create():
    request.max_content_length = MAX_REQUEST_BYTES
    body = Body(request.form.to_dict())
    visitor = read_visitor(body)
    sender = body.string("sender", max_length=100)
    amount = body.amount("amount")
    # A moment, not a day: a date and time with its offset.
    paid_at = body.string("paid_at", max_length=40, pattern=PAID_AT_RE)
    if paid_at is not None:
        paid_at = body.instant("paid_at", zone("UTC"))
    body.done()
    resolve_visitor(visitor)
    if amount <= 0:
        raise ApiError(400, "invalid_request", _("The amount must be more than zero."),
                       details=[{"field": "amount", "message": _("must be more than zero")}])
    appeal, created = appeals.file(
        visitor.settings, visitor.label, visitor.number, amount, sender, paid_at, order_id=visitor.order_id,
        network=matching.network_of(request.remote_addr), receipt=_receipt(),
        open_limit=current_app.config.get("APPEALS_OPEN_PER_LABEL", 5))
    return jsonify(appeals.visitor_state(appeal)), 201 if created else 200


@bp.route("/api/appeals/<public_id>", methods=["GET"])
@limiter.limit(lambda: current_app.config["PLUGIN_LIMIT_PENDING"], key_func=address_key)
def appeal_state(public_id):
    merchant = merchant_by_public_key(request.args.get("merchant", ""))
    appeal = appeals.by_public_id(public_id, merchant.id) if merchant is not None else None
    if appeal is None:
        raise ApiError(404, "not_found", _("No such appeal."))
    response = jsonify(appeals.visitor_state(appeal))
    response.headers["Cache-Control"] = "no-store"
    return response


schema("Appeal", {
    "type": "object",
    "required": ["id", "status"],
    "properties": {
        "id": {"type": "string", "example": "apl_3q2-7wQn0Yk1sVbXc9ZfLg"},
        "status": {"type": "string", "enum": list(appeals.STATUSES)},
        "reason": {"type": "string", "description": "Why it was rejected (only when rejected)"},
    },
})
document("/plugin/api/appeals", "post", {
    "summary": "A visitor's appeal: \"I paid, but it is not credited\"",
    "security": [],
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["merchant", "payment_system", "transaction_number", "amount", "sender", "paid_at", "label"],
        "properties": {
            "merchant": {"type": "string"}, "payment_system": {"type": "string"},
            "transaction_number": {"type": "string"}, "amount": {"$ref": "#/components/schemas/Money"},
            "sender": {"type": "string", "description": "The wallet the visitor paid from"},
            "paid_at": {"type": "string", "format": "date-time"},
            "label": {"type": "string"}, "order_id": {"type": "string"},
            "signature": {"type": "string", "description": "As for the activation, when labels are signed"},
            "receipt": {"type": "string", "format": "binary",
                        "description": "PNG or JPEG, at most 2 MiB; stored re-encoded without metadata"},
        }}}}},
    "responses": {
        "201": {"description": "Filed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Appeal"}}}},
        "200": {"description": "The same number was appealed by this visitor already: that appeal",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Appeal"}}}},
        **error_responses(400, 403, 404, 409, 413, 422, 429),
    },
})
document("/plugin/api/appeals/{public_id}", "get", {
    "summary": "The state of a visitor's appeal",
    "security": [],
    "parameters": [
        {"name": "public_id", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "The appeal's reference, apl_…"},
        {"name": "merchant", "in": "query", "required": True, "schema": {"type": "string"},
         "description": "The merchant's public key"},
    ],
    "responses": {
        "200": {"description": "The appeal", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Appeal"}}}},
        **error_responses(400, 404, 429),
    },
})
