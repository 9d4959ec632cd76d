"""CORS on the plugin API: only for the merchant's allowed origins (SPEC §6).

The merchant is the ``merchant`` query parameter or JSON field. A preflight
(``OPTIONS``) carries no body: it is answered for the ``merchant`` query parameter
when there is one, else for any merchant that lists the origin. Never credentials.
"""
from flask import request

from peewee import Value

from ..models import Merchant
from ..origins import normalise_origin
from .blueprint import bp
from .config import merchant_by_public_key, origin_allowed

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Content-Type"


def _merchant_key():
    key = request.args.get("merchant")
    if not key and request.method == "POST":
        data = request.get_json(silent=True)
        if isinstance(data, dict) and isinstance(data.get("merchant"), str):
            key = data["merchant"]
    return key


def _origin_ok(origin):
    key = _merchant_key()
    if key:
        merchant = merchant_by_public_key(key)
        return merchant is not None and origin_allowed(merchant, origin)
    if request.method != "OPTIONS":
        return False
    pattern = Value("%" + origin.replace("%", "") + "%", converter=False)
    candidates = Merchant.select().where(Merchant.allowed_origins ** pattern).limit(50)
    return any(origin_allowed(m, origin) for m in candidates)


@bp.after_request
def add_cors_headers(response):
    if not request.path.startswith("/plugin/api/"):
        return response
    response.vary.add("Origin")
    origin = normalise_origin(request.headers.get("Origin"))
    if not origin:
        return response
    try:
        allowed = _origin_ok(origin)
    except Exception:  # noqa: BLE001 - a CORS header is never worth a failed answer
        allowed = False
    if allowed:
        response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin")
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
    return response
