"""Merchant API for the plugin's appearance (SPEC §6), on the ``/api/v1`` blueprint.

* ``PUT /api/v1/plugin/theme`` — body: the CSS (``text/css``). The same allowlist check
  as the upload form; ``200 {"url"}`` with the re-serialised sheet live (the theme
  becomes ``own``), or ``422`` ``invalid_css`` with ``details: [{line, column, reason}]``.
* ``PUT /api/v1/plugin/prompts/<payment_system>`` — body: the GIF (``image/gif``);
  ``200 {"url"}`` or ``422`` ``invalid_gif`` naming the rule broken.

Bearer = the merchant's ``api_key`` (compared in constant time); a disabled merchant
gets ``403``.
"""
from flask import jsonify, request
from flask_babel import gettext as _

from ..api.base import ApiError, merchant_from_api_key
from ..api.openapi import document, error_responses
from ..models import MerchantPaymentSystem, PaymentSystem
from .blueprint import merchant_api_bp as bp
from .config import ThemeError, prompt_url, theme_url, upload_own_theme, upload_prompt
from .css import MAX_CSS_BYTES
from .gif import MAX_BYTES


api_merchant = merchant_from_api_key


def _body(limit):
    if request.content_length is not None and request.content_length > limit:
        return None
    data = request.get_data(cache=False)
    return data if len(data) <= limit else None


@bp.route("/plugin/theme", methods=["PUT"])
def put_theme():
    merchant = api_merchant()
    try:
        upload_own_theme(merchant, _body(MAX_CSS_BYTES), None, ip=request.remote_addr or "", via="api")
    except ThemeError as exc:
        raise ApiError(422, "invalid_css", exc.message, details=[p.as_json() for p in exc.problems]) from None
    return jsonify({"url": theme_url(merchant)})


@bp.route("/plugin/prompts/<payment_system>", methods=["PUT"])
def put_prompt(payment_system):
    merchant = api_merchant()
    settings = (MerchantPaymentSystem.select(MerchantPaymentSystem, PaymentSystem).join(PaymentSystem)
                .where((MerchantPaymentSystem.merchant == merchant) & (PaymentSystem.code == payment_system[:32]))
                .first())
    if settings is None:
        raise ApiError(404, "not_found", _("This payment system is not set up for your account."))
    # A refused GIF is a RuleError (GifError): the blueprint answers it, 422 invalid_gif.
    name = upload_prompt(settings, _body(MAX_BYTES), None, ip=request.remote_addr or "", via="api")
    return jsonify({"url": prompt_url(name)})


_TOO_BIG = {"description": "Refused: the error's details name the line, column and reason (CSS) or the rule (GIF)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
document("/api/v1/plugin/theme", "put", {
    "summary": "Upload the plugin's own theme (CSS, checked against an allowlist)",
    "security": [{"merchantApiKey": []}],
    "requestBody": {"required": True, "content": {"text/css": {"schema": {"type": "string", "maxLength": 65536}}}},
    "responses": {
        "200": {"description": "Stored and live", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"url": {"type": "string", "format": "uri"}}}}}},
        "422": _TOO_BIG,
        **error_responses(401, 403, 413),
    },
})
document("/api/v1/plugin/prompts/{payment_system}", "put", {
    "summary": "Upload the GIF prompt of a payment system",
    "security": [{"merchantApiKey": []}],
    "parameters": [{"name": "payment_system", "in": "path", "required": True, "schema": {"type": "string"}}],
    "requestBody": {"required": True, "content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}},
    "responses": {
        "200": {"description": "Stored", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"url": {"type": "string", "format": "uri"}}}}}},
        "422": _TOO_BIG,
        **error_responses(401, 403, 404, 413),
    },
})
