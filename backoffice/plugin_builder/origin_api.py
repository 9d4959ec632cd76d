"""Plugin API: ``GET /plugin/api/origin?merchant=PK&lang=xx`` — may the plugin be shown
on the site asking? (issue 22, point 8)

The loader asks before it inserts the plugin's frame. The site is the request's
``Origin`` header (normalised, ``origins.normalise_origin``), never a parameter; the
answer reveals only whether that origin is one of the merchant's allowed origins, so
it is public (``Access-Control-Allow-Origin: *``, no credentials):

* ``{"allowed": true}``;
* ``{"allowed": false, "message", "lang", "dir"}`` — a sentence for the visitor in their
  language (``data-lang``, else the browser's languages, else the merchant's
  ``plugin_language``), which the loader shows in place of the frame; the refusal is
  recorded for the merchant's installation page (``services.refused_origins``);
* ``404`` for an unknown merchant, with ``allowed: false`` and its sentence too;
  ``400`` without an ``Origin`` header (the loader then inserts the frame, and the
  page's ``frame-ancestors`` decides).

Rate limited per address (``PLUGIN_ORIGIN_LIMIT``, default 120 per minute), like the
configuration. The plugin page records a refused ``parent`` as well
(:func:`record_refusal`, with its own allowance per address).
"""
from flask import current_app, jsonify, request
from flask_babel import gettext as _
from limits import parse as parse_limit

from ..api.base import ApiError
from ..api.openapi import document, error_responses, schema
from ..extensions import address_key, limiter
from ..origins import normalise_origin
from ..services import refused_origins
from .blueprint import bp
from .config import merchant_by_public_key, origin_allowed
from .messages import Words, pick_language

ENDPOINT = "plugin.origin_endpoint"


def _limit():
    return current_app.config.get("PLUGIN_ORIGIN_LIMIT", "120 per minute")


def record_refusal(merchant, origin):
    """Record ``origin`` as refused for ``merchant``, within the address's allowance (the
    plugin page's refused ``parent``; the endpoint below is limited as a whole)."""
    if normalise_origin(origin) is None:
        return None
    try:
        fresh = limiter.limiter.hit(parse_limit(_limit()), "plugin-refused-parent", address_key())
    except Exception:  # noqa: BLE001 - the limiter away (or disabled): the bounded list still bounds it
        fresh = True
    return refused_origins.record(merchant, origin) if fresh else None


def _refusal(words, key):
    return {"allowed": False, "message": words(key), "lang": words.language, "dir": words.direction}


@bp.route("/api/origin", methods=["GET"])
@limiter.limit(_limit, key_func=address_key)
def origin_endpoint():
    public_key = request.args.get("merchant", "")
    if not public_key:
        raise ApiError(400, "invalid_request", _("The merchant's public key is required."),
                       details=[{"field": "merchant", "message": _("is required")}])
    merchant = merchant_by_public_key(public_key)
    words = Words(pick_language(request.args.get("lang"), request.accept_languages,
                                default=merchant.plugin_language if merchant is not None else None))
    if merchant is None:
        body = {"error": {"code": "not_found", "message": _("Unknown merchant."),
                          "details": [{"field": "merchant", "message": _("Unknown merchant.")}]}}
        body.update(_refusal(words, "unknown_merchant"))
        response = jsonify(body)
        response.status_code = 404
    else:
        header = request.headers.get("Origin")
        if header is None:
            raise ApiError(400, "origin_required", _("Ask from a web page: the Origin header names the site."),
                           details=[{"field": "Origin", "message": _("is required")}])
        if origin_allowed(merchant, header):
            response = jsonify({"allowed": True})
        else:
            # "null" (a sandboxed or local page) cannot be allowed, nor recorded.
            refused_origins.record(merchant, header)
            response = jsonify(_refusal(words, "site_not_allowed"))
    response.headers["Cache-Control"] = "no-store"
    return response


schema("PluginOrigin", {
    "type": "object",
    "required": ["allowed"],
    "properties": {
        "allowed": {"type": "boolean", "description": "Whether the requesting Origin is one of the merchant's "
                                                      "allowed origins"},
        "message": {"type": "string", "description": "When refused: a sentence for the visitor, in their "
                                                     "language, to show (as text) in place of the plugin"},
        "lang": {"type": "string", "enum": ["en", "ru", "bn", "hi", "ur"], "description": "The message's language"},
        "dir": {"type": "string", "enum": ["ltr", "rtl"], "description": "The message's direction"},
    },
})
document("/plugin/api/origin", "get", {
    "summary": "May the plugin be shown on the requesting site?",
    "description": "The site is the request's Origin header. Public: Access-Control-Allow-Origin is *; the "
                   "answer reveals only whether that origin is allowed. A refused origin is recorded for the "
                   "merchant's installation page.",
    "security": [],
    "parameters": [
        {"name": "merchant", "in": "query", "required": True, "schema": {"type": "string"},
         "description": "The merchant's public key"},
        {"name": "lang", "in": "query", "required": False, "schema": {"type": "string", "example": "ur"},
         "description": "The visitor's language (data-lang); else the browser's languages (Accept-Language), "
                        "else the merchant's plugin language"},
    ],
    "responses": {
        "200": {"description": "Allowed, or refused with the visitor's message", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/PluginOrigin"}}}},
        **error_responses(400, 429),
        "404": {"description": "Unknown merchant: the error, and beside it `allowed: false` with the "
                               "visitor's `message` (as in PluginOrigin)", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    },
})
