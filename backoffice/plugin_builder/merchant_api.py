"""Merchant API for the plugin's appearance (SPEC §6), on the ``/api/v1`` blueprint.

* ``PUT /api/v1/plugin/theme`` — body: the CSS (``text/css``). The same allowlist check
  as the upload form; ``200 {"url"}`` with the re-serialised sheet live (the theme
  becomes ``own``), or ``422`` ``invalid_css`` with ``details: [{line, column, reason}]``.
* ``PUT /api/v1/plugin/prompts/<payment_system>`` — body: the GIF (``image/gif``);
  ``200 {"url"}`` or ``422`` ``invalid_gif`` naming the rule broken.
* ``POST /api/v1/plugin/sessions`` — ``{label, order_id?, amount?, currency?,
  payment_systems?, expires_in?}`` → ``201 {"id": "pss_…", "token", "expires_at"}``: a
  plugin session for one visitor (SPEC §13; ``services.plugin_sessions``).

Bearer = the merchant's ``api_key`` (compared in constant time); a disabled merchant
gets ``403``.
"""
from flask import jsonify, request
from flask_babel import gettext as _

from ..api.base import ApiError, merchant_from_api_key
from ..api.openapi import document, error_responses, schema
from ..api.validation import Body
from ..money import to_str
from ..services import plugin_sessions
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


@bp.route("/plugin/sessions", methods=["POST"])
def create_session():
    merchant = api_merchant()
    body = Body()
    label = body.string("label", max_length=255)
    order_id = body.string("order_id", required=False, max_length=255)
    currency = body.string("currency", required=False, max_length=3)
    amount = body.amount("amount", required=False)
    codes = body.data.get("payment_systems")
    expires_in = body.data.get("expires_in")
    body.done()
    # The rest (payment systems enabled, currency offered, lifetime) is the service's
    # rule: a RuleError naming each field, answered 400 by the blueprint.
    session, token = plugin_sessions.create(merchant, label, order_id, amount, currency, codes, expires_in)
    out = {"id": session.public_id, "token": token,
           "expires_at": session.expires_at.isoformat(timespec="seconds") + "Z",
           "label": session.label, "order_id": session.order_id,
           "amount": None if session.amount is None else to_str(session.amount), "currency": session.currency,
           "payment_systems": session.payment_systems}
    response = jsonify(out)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


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
schema("PluginSessionRequest", {
    "type": "object",
    "required": ["label"],
    "properties": {
        "label": {"type": "string", "maxLength": 255, "description": "The visitor's user id on your site"},
        "order_id": {"type": "string", "maxLength": 255},
        "amount": {"allOf": [{"$ref": "#/components/schemas/Money"}],
                   "description": "The amount to pay (shown to the visitor, in the UPI link and QR code); needs "
                                  "`currency`"},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3,
                     "description": "The currency of a payment system offered"},
        "payment_systems": {"type": "array", "items": {"type": "string"},
                            "description": "The codes to offer (default: every one enabled for the plugin)"},
        "expires_in": {"type": "integer", "minimum": plugin_sessions.MIN_LIFETIME,
                       "maximum": plugin_sessions.MAX_LIFETIME, "default": plugin_sessions.DEFAULT_LIFETIME,
                       "description": "Seconds until the session expires"},
    },
})
schema("PluginSession", {
    "type": "object",
    "required": ["id", "token", "expires_at"],
    "properties": {
        "id": {"type": "string", "example": "pss_3q2x…"},
        "token": {"type": "string", "description": "Put it in the snippet as data-session (shown once)"},
        "expires_at": {"type": "string", "format": "date-time"},
        "label": {"type": "string"},
        "order_id": {"type": "string", "nullable": True},
        "amount": {"type": "string", "nullable": True, "pattern": r"^[0-9]{1,16}\.[0-9]{2}$"},
        "currency": {"type": "string", "nullable": True},
        "payment_systems": {"type": "array", "nullable": True, "items": {"type": "string"}},
    },
})
document("/api/v1/plugin/sessions", "post", {
    "summary": "Create a plugin session for one visitor (data-session)",
    "security": [{"merchantApiKey": []}],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/PluginSessionRequest"}}}},
    "responses": {
        "201": {"description": "Created", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PluginSession"}}}},
        **error_responses(400, 401, 403, 413),
    },
})
