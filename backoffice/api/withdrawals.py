"""Merchant API: withdrawal requests (SPEC §6).

``POST /api/v1/withdrawals`` creates a request (kind ``api``), idempotent on the
merchant's ``withdrawal_id``: the same body again is ``200`` with the stored request,
a different body ``409``. A request above the available balance is ``422``
``insufficient_balance``: the body is well-formed and valid, it is the merchant's
current balance that refuses it (a ``400`` means "fix your request"; a ``422`` may
succeed unchanged later, once deposits arrive).
``GET /api/v1/withdrawals/<withdrawal_id>`` reads one of the caller's requests.

Withdrawal controls (SPEC §14):

* ``POST /api/v1/withdrawals/<withdrawal_id>/cancel`` cancels one of the caller's
  requests while it is ``new`` (the hold is released, postback
  ``withdrawal.cancelled``) and answers the withdrawal as GET does; another merchant's
  or an unknown id is ``404``; a request no longer new is ``409 already_decided``.
* The withdrawal JSON carries ``payout_reference`` and ``has_payout_receipt``; the
  receipt itself is ``GET /api/v1/withdrawals/<withdrawal_id>/receipt`` (the picture,
  ``image/png`` or ``image/jpeg``; ``404`` when there is none).
"""
from flask import jsonify, request
from flask_babel import gettext as _

from ..security import private_upload_response
from ..services import withdrawals as service
from .base import ApiError, bp, merchant_from_api_key
from .openapi import document, error_responses, schema
from .validation import Body


current_merchant = merchant_from_api_key


@bp.route("/withdrawals", methods=["POST"])
def create_withdrawal():
    merchant = current_merchant()
    body = Body()
    withdrawal_id = body.string("withdrawal_id", max_length=100)
    code = body.string("payment_system", max_length=32)
    body.amount("amount")  # reported here with the other type faults; parsed again by the service
    currency = body.string("currency", max_length=3)
    label = body.string("label")
    fields = body.mapping("fields", required=False)
    comment = body.string("comment", required=False, max_length=service.COMMENT_MAX_LENGTH)
    payment_system = service.payment_system_by_code(code) if code else None
    if code and (payment_system is None or not payment_system.active):
        body.fail("payment_system", _("is not an active payment system"))
    unknown = sorted(set(body.data) - {"withdrawal_id", "payment_system", "amount", "currency", "label", "fields",
                                       "comment"})
    for name in unknown:
        body.fail(name, _("is not a known field"))
    body.done()
    # A refusal (WithdrawalError, a RuleError) is answered by the blueprint's handler.
    withdrawal, created = service.create_withdrawal(
        merchant, payment_system, body.data.get("amount"), currency, label=label, fields=fields or {},
        comment=comment or "", withdrawal_id=withdrawal_id, kind="api", ip=request.remote_addr or "",
        label_required=True,
    )
    response = jsonify(service.payload_data(withdrawal))
    response.status_code = 201 if created else 200
    return response


def _own_withdrawal(withdrawal_id):
    """The caller's request with this ``withdrawal_id`` (404 for anything else)."""
    merchant = current_merchant()
    withdrawal = service.find(merchant, withdrawal_id) if len(withdrawal_id) <= 100 else None
    if withdrawal is None:
        raise ApiError(404, "not_found", _("No withdrawal with this ID."))
    return merchant, withdrawal


@bp.route("/withdrawals/<withdrawal_id>", methods=["GET"])
def get_withdrawal(withdrawal_id):
    _merchant, withdrawal = _own_withdrawal(withdrawal_id)
    return jsonify(service.payload_data(withdrawal))


@bp.route("/withdrawals/<withdrawal_id>/cancel", methods=["POST"])
def cancel_withdrawal(withdrawal_id):
    merchant, withdrawal = _own_withdrawal(withdrawal_id)
    # A refusal (AlreadyDecided: 409) is answered by the blueprint's RuleError handler.
    withdrawal = service.cancel(withdrawal, actor=None, merchant=merchant, ip=request.remote_addr or "")
    return jsonify(service.payload_data(withdrawal))


@bp.route("/withdrawals/<withdrawal_id>/receipt", methods=["GET"])
def get_withdrawal_receipt(withdrawal_id):
    _merchant, withdrawal = _own_withdrawal(withdrawal_id)
    receipt = service.receipt_of(withdrawal)
    if receipt is None:
        raise ApiError(404, "not_found", _("This withdrawal has no payout receipt."))
    content_type, data = receipt
    return private_upload_response(data, content_type, service.receipt_filename(withdrawal, content_type))


schema("Withdrawal", {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "withdrawal_id": {"type": "string"},
        "merchant_id": {"type": "integer"},
        "payment_system": {"type": "string", "example": "bkash"},
        "amount": {"$ref": "#/components/schemas/Money"},
        "currency": {"type": "string", "example": "BDT"},
        "label": {"type": "string"},
        "status": {"type": "string", "enum": ["new", "approved", "rejected", "cancelled"]},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "comment": {"type": "string"},
        "reject_reason": {"type": "string", "nullable": True},
        "wallet_sender": {"type": "string", "nullable": True, "description": "The paying wallet's number."},
        "wallet_recipient": {"type": "string"},
        "request_kind": {"type": "string", "enum": ["manual", "api"]},
        "payout_reference": {"type": "string", "nullable": True,
                             "description": "The payout's reference, recorded by the approving operator."},
        "has_payout_receipt": {"type": "boolean",
                               "description": "A receipt picture is stored: GET "
                                              "/api/v1/withdrawals/{withdrawal_id}/receipt."},
        "created_at": {"type": "string", "format": "date-time"},
        "decided_at": {"type": "string", "format": "date-time", "nullable": True},
    },
})
schema("WithdrawalRequest", {
    "type": "object",
    "required": ["withdrawal_id", "payment_system", "amount", "currency", "label"],
    "additionalProperties": False,
    "properties": {
        "withdrawal_id": {"type": "string", "pattern": r"^[A-Za-z0-9._:\-]{1,100}$",
                          "description": "Your own ID of the request: the idempotency key."},
        "payment_system": {"type": "string", "example": "bkash"},
        "amount": {"$ref": "#/components/schemas/MoneyInput"},
        "currency": {"type": "string", "description": "The payment system's currency.", "example": "BDT"},
        "label": {"type": "string", "maxLength": 255},
        "fields": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "The payment system's withdrawal fields (its schema says which are required "
                                  "and their formats); faults are reported as fields.<name>."},
        "comment": {"type": "string", "maxLength": service.COMMENT_MAX_LENGTH},
    },
})
_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Withdrawal"}}}}
document("/api/v1/withdrawals", "post", {
    "summary": "Create a withdrawal request",
    "security": [{"merchantApiKey": []}],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/WithdrawalRequest"}}}},
    "responses": {
        "201": dict(_ref, description="Created."),
        "200": dict(_ref, description="The same withdrawal_id and body again: the stored request."),
        **error_responses(400, 401, 403, 413),
        "409": dict(error_responses(409)["409"],
                    description="The withdrawal_id exists with a different body (code conflict)."),
        "422": dict(error_responses(422)["422"],
                    description="Above the available balance (code insufficient_balance); the message and "
                                "details[amount] state the available amount."),
    },
})
document("/api/v1/withdrawals/{withdrawal_id}", "get", {
    "summary": "Read a withdrawal request by your withdrawal_id",
    "security": [{"merchantApiKey": []}],
    "parameters": [{"name": "withdrawal_id", "in": "path", "required": True, "schema": {"type": "string"}}],
    "responses": {"200": dict(_ref, description="The request."), **error_responses(401, 403, 404)},
})
document("/api/v1/withdrawals/{withdrawal_id}/cancel", "post", {
    "summary": "Cancel a new withdrawal request (the held amount becomes available again)",
    "security": [{"merchantApiKey": []}],
    "parameters": [{"name": "withdrawal_id", "in": "path", "required": True, "schema": {"type": "string"}}],
    "responses": {
        "200": dict(_ref, description="Cancelled: the request, status cancelled."),
        **error_responses(401, 403, 404),
        "409": dict(error_responses(409)["409"],
                    description="The request is no longer new (code already_decided)."),
    },
})
document("/api/v1/withdrawals/{withdrawal_id}/receipt", "get", {
    "summary": "The payout receipt picture of an approved withdrawal",
    "security": [{"merchantApiKey": []}],
    "parameters": [{"name": "withdrawal_id", "in": "path", "required": True, "schema": {"type": "string"}}],
    "responses": {
        "200": {"description": "The picture (re-encoded, no metadata).",
                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}},
                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(401, 403, 404),
    },
})
