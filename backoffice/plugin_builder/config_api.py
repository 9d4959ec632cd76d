"""Plugin API: ``GET /plugin/api/config?merchant=PK`` (SPEC §6).

The payment systems enabled for the merchant's plugin (code, name, currency, minimum
deposit as ``"500.00"``, prompt URL, wallet number to pay to), the theme URL and the
after-payment behaviour. Optional ``label`` (the wallet shown is then stable for that
visitor), ``payment_systems`` (comma-separated codes) and ``amount`` (the visitor's
amount, when known: a wallet it would push over a limit is not offered, SPEC §12). Rate limited per address
(``PLUGIN_CONFIG_LIMIT``, default 120 per minute).
"""
from flask import current_app, jsonify, request
from flask_babel import gettext as _

from ..api.base import ApiError
from ..api.openapi import document, error_responses, schema
from ..extensions import address_key, limiter
from ..money import AmountError, parse_amount
from .blueprint import bp
from .config import config_json, merchant_by_public_key, parse_codes


def _limit():
    # Generous: every visitor's page load may call it; it stops scraping of wallet numbers.
    return current_app.config.get("PLUGIN_CONFIG_LIMIT", "120 per minute")


@bp.route("/api/config", methods=["GET"])
@limiter.limit(_limit, key_func=address_key)
def config_endpoint():
    public_key = request.args.get("merchant", "")
    if not public_key:
        raise ApiError(400, "invalid_request", _("The merchant's public key is required."),
                       details=[{"field": "merchant", "message": _("is required")}])
    merchant = merchant_by_public_key(public_key)
    if merchant is None:
        raise ApiError(404, "not_found", _("Unknown merchant."), details=[{"field": "merchant",
                                                                          "message": _("Unknown merchant.")}])
    if not merchant.active:
        raise ApiError(403, "merchant_disabled", _("This merchant is disabled: deposits are not accepted."))
    label = (request.args.get("label") or "")[:255] or None
    amount = None
    if request.args.get("amount"):
        try:
            amount = parse_amount(request.args["amount"])
        except AmountError as exc:
            raise ApiError(400, "invalid_request", str(exc), details=[{"field": "amount", "message": str(exc)}]) from None
    response = jsonify(config_json(merchant, label=label, only=parse_codes(request.args.get("payment_systems")),
                                   amount=amount))
    response.headers["Cache-Control"] = "no-store"
    return response


schema("PluginPaymentSystem", {
    "type": "object",
    "required": ["code", "name", "currency", "min_deposit", "wallet_number"],
    "properties": {
        "code": {"type": "string", "example": "bkash"},
        "name": {"type": "string"},
        "currency": {"type": "string", "example": "BDT"},
        "min_deposit": {"$ref": "#/components/schemas/Money"},
        "prompt_url": {"type": "string", "format": "uri", "nullable": True},
        "wallet_number": {"type": "string", "description": "The wallet the visitor sends the money to"},
    },
})
schema("PluginConfig", {
    "type": "object",
    "properties": {
        "merchant": {"type": "string"},
        "payment_systems": {"type": "array", "items": {"$ref": "#/components/schemas/PluginPaymentSystem"}},
        "theme": {"type": "string", "enum": ["dark", "light", "white-green", "own"]},
        "theme_url": {"type": "string", "format": "uri"},
        "after_payment": {"type": "object", "properties": {
            "behaviour": {"type": "string", "enum": ["message", "redirect", "close"]},
            "url": {"type": "string", "nullable": True}}},
        "require_signed_labels": {"type": "boolean"},
        "requires": {"type": "array", "items": {"type": "string", "enum": ["sender_last4", "amount"]},
                     "description": "What the visitor must state beside the transaction number (the merchant's "
                                    "matching policy): send each in the activation's body"},
    },
})
document("/plugin/api/config", "get", {
    "summary": "The plugin's configuration for a merchant",
    "security": [],
    "parameters": [
        {"name": "merchant", "in": "query", "required": True, "schema": {"type": "string"},
         "description": "The merchant's public key"},
        {"name": "label", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "The visitor's label: the wallet shown stays the same for it"},
        {"name": "payment_systems", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "Comma-separated payment system codes"},
        {"name": "amount", "in": "query", "required": False, "schema": {"type": "string", "example": "1500.00"},
         "description": "The amount the visitor will pay, when known: only wallets whose limits take it are "
                        "offered (SPEC §12)"},
    ],
    "responses": {
        "200": {"description": "The configuration", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PluginConfig"}}}},
        **error_responses(400, 403, 404, 429),
    },
})
