"""Plugin API: ``POST /plugin/api/activate`` (SPEC §6), and ``POST /plugin/api/pending``,
which the plugin page asks while a delayed activation waits for its report.

Rate limited on failed attempts per address, per (merchant, label) and per
(payment system, transaction number): a transaction number is a secret anyone could
try to guess. Only answers that bind money (activated, stockpiling) are free; every
other answer, a bad signature included, counts against all three limits.
"""
from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded

from ..api.base import ApiError, error_response
from ..api.validation import Body, normalise_text
from ..api.openapi import document, error_responses, schema
from ..extensions import address_key, failure_limits, limiter
from ..services import matching, plugin_sessions
from ..services.activation import (
    BINDING,
    ActivationError,
    MerchantDisabled,
    activate,
    log_refused_attempt,
    pending_state,
    policy_of,
    settings_for_plugin,
)
from .blueprint import bp
from .visitor import read as read_visitor
from .visitor import resolve as resolve_visitor


def _body_value(name):
    """A body field as validation accepts it (``normalise_text``): the key of a limit
    is the value the activation looks up, so its variants share one allowance."""
    data = request.get_json(silent=True)
    value = data.get(name) if isinstance(data, dict) else None
    return normalise_text(value)[:255] if isinstance(value, str) else ""


def _label_key():
    """Per (merchant, label): under a plugin session, the session's label (a visitor who
    reloads the page for a new session keeps the same allowance)."""
    token = _body_value("session")
    label = (plugin_sessions.label_of(token) or "?session") if token else _body_value("label")
    return "label:" + _body_value("merchant") + ":" + label


def _number_key():
    return "number:" + _body_value("payment_system") + ":" + _body_value("transaction_number")


def _counts(response):
    if response.status_code != 200:
        return True
    return (response.get_json(silent=True) or {}).get("status") not in BINDING


def _limit(name):
    return lambda: current_app.config[name]


@bp.route("/api/activate", methods=["POST"])
@failure_limits((_limit("PLUGIN_LIMIT_PER_ADDRESS"), address_key), (_limit("PLUGIN_LIMIT_PER_LABEL"), _label_key),
                (_limit("PLUGIN_LIMIT_PER_NUMBER"), _number_key), counts=_counts)
def activate_endpoint():
    visitor = _visitor_request(stated=True)
    outcome = activate(visitor.settings.merchant, visitor.settings.payment_system.code, visitor.number,
                       visitor.label, visitor.order_id, settings=visitor.settings, sender_last4=visitor.sender_last4,
                       amount=visitor.amount, network=visitor.network, policy=visitor.policy)
    return jsonify(outcome.as_json())


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc):
    """A refused activation is an attempt too (``rate_limited`` in the attempt log)."""
    if request.endpoint == "plugin.activate_endpoint":
        _log_refused("rate_limited")
    return error_response(429, "too_many_requests", exc.description)


@bp.route("/api/pending", methods=["POST"])
@limiter.limit(_limit("PLUGIN_LIMIT_PENDING"), key_func=address_key)
def pending_endpoint():
    """What became of this visitor's delayed activation. Read only: it answers only the
    label that waits for the number (signed, when the merchant signs labels)."""
    visitor = _visitor_request()
    return jsonify(pending_state(visitor.settings, visitor.number, visitor.label).as_json())


def _visitor_request(stated=False):
    """The body both plugin calls share, checked (``visitor``); with ``stated``, the
    details the merchant's matching policy asks for too (``sender_last4``, ``amount``: a
    required one that is missing is a 400 naming it)."""
    body = Body()
    visitor = read_visitor(body)
    sender_last4 = body.string("sender_last4", required=False, max_length=4, pattern=matching.SENDER_RE)
    amount = body.amount("amount", required=False)
    body.done()
    network = matching.network_of(request.remote_addr)
    refused = (lambda settings: log_refused_attempt(settings, visitor.number, visitor.label, network,
                                                    "bad_signature")) if stated else None
    resolve_visitor(visitor, on_bad_signature=refused)
    policy = policy_of(visitor.settings)
    if stated:
        required = policy.requires()
        for name, value in (("sender_last4", sender_last4), ("amount", amount)):
            if name in required and value is None:
                body.fail(name, _("is required"))
        body.done()
    visitor.__dict__.update(sender_last4=sender_last4, amount=amount, network=network, policy=policy)
    return visitor


def _log_refused(reason):
    """Log a plugin call refused before the activation ran, when it names a merchant's
    payment system (anything else names nothing to log against)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return
    try:
        settings = settings_for_plugin(_body_value("merchant")[:64], _body_value("payment_system")[:32])
    except (ActivationError, MerchantDisabled):
        return
    log_refused_attempt(settings, _body_value("transaction_number")[:100], _body_value("label"),
                        matching.network_of(request.remote_addr), reason)


schema("ActivationRequest", {
    "type": "object",
    "required": ["merchant", "payment_system", "transaction_number"],
    "description": "Either `session`, or `label` (with `order_id` and `signature` as the merchant needs)",
    "properties": {
        "merchant": {"type": "string", "description": "The merchant's public key"},
        "payment_system": {"type": "string", "example": "bkash"},
        "transaction_number": {"type": "string", "maxLength": 100},
        "label": {"type": "string", "maxLength": 255, "description": "The visitor's user id on the merchant's site"},
        "order_id": {"type": "string", "maxLength": 255},
        "sender_last4": {"type": "string", "pattern": "^[0-9]{4}$",
                         "description": "The last 4 digits of the wallet the visitor paid from; required when "
                                        "the config's `requires` lists it"},
        "amount": {"allOf": [{"$ref": "#/components/schemas/Money"}],
                   "description": "The amount the visitor paid; required when the config's `requires` lists it"},
        "signature": {"type": "string",
                      "description": "v2=<expires>.<hex HMAC-SHA256, keyed with the plugin secret, of the "
                                     "length-prefixed label, order id and expiry> (README, The plugin); the "
                                     "forms keyed with the API key (v2=<hex>, bare hex v1) are deprecated"},
        "session": {"type": "string", "maxLength": 128,
                    "description": "A plugin session's token (POST /api/v1/plugin/sessions), in place of "
                                   "`label`, `order_id` and `signature`"},
    },
})
# What both answers may say of a deposit (activation.Outcome.as_json).
_DEPOSIT_FIELDS = {
    "amount": {"$ref": "#/components/schemas/Money"},
    "currency": {"type": "string"},
    "accumulated": {"$ref": "#/components/schemas/Money"},
    "required": {"$ref": "#/components/schemas/Money"},
    "remaining": {"$ref": "#/components/schemas/Money"},
    "expires_at": {"type": "string", "format": "date-time"},
}
schema("ActivationResult", {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["activated", "stockpiling", "pending", "not_found",
                                              "already_activated", "rejected"]},
        **_DEPOSIT_FIELDS,
        "reason": {"type": "string", "enum": ["fraud", "other_merchant", "outgoing"]},
    },
})
document("/plugin/api/activate", "post", {
    "summary": "Activate a transaction number for a site visitor",
    "security": [],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ActivationRequest"}}}},
    "responses": {
        "200": {"description": "The outcome", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ActivationResult"}}}},
        **error_responses(400, 403, 413, 429),
    },
})
schema("PendingState", {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["pending", "activated", "stockpiling", "expired", "rejected",
                                              "not_found"]},
        **_DEPOSIT_FIELDS,
    },
})
document("/plugin/api/pending", "post", {
    "summary": "What became of a visitor's delayed activation",
    "description": "Asked by the plugin page while an activation answered `pending` waits for the payment "
                   "system's report; the same body as the activation. `pending` while it waits; then the "
                   "deposit as it stands (`activated` with its amount, or `stockpiling`); `rejected` when "
                   "the reported payment could not be credited; `expired` when no report came in time; "
                   "`not_found` when this label never waited for that number. Changes nothing.",
    "security": [],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ActivationRequest"}}}},
    "responses": {
        "200": {"description": "The state", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PendingState"}}}},
        **error_responses(400, 403, 413, 429),
    },
})
