"""CORS on the plugin API: only for the allowed origins of the merchant the request is
for (SPEC §6), never for an origin some other merchant lists.

The merchant is named by its public key: the ``merchant`` query parameter, the
``merchant`` field of a JSON body, or a ``public_key`` in the path. A preflight
(``OPTIONS``) carries no body, so a site that posts to the plugin API names the
merchant in the query (``POST /plugin/api/activate?merchant=PK``); a preflight that
names no merchant gets no grant. When the request names more than one merchant (the
query says one, the body another) nothing is granted. Never credentials.

One exception: ``GET /plugin/api/origin`` (``origin_api``), which only tells the
asking site whether it is allowed, answers every site (``*``).
"""
from flask import request

from ..origins import normalise_origin
from .blueprint import bp
from .config import merchant_by_public_key, origin_allowed

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Content-Type"


def requested_merchant_keys():
    """Every public key the request names (query, path, JSON body), without repeats."""
    keys = [request.args.get("merchant"), (request.view_args or {}).get("public_key")]
    if request.method == "POST":
        data = request.get_json(silent=True)
        if isinstance(data, dict):
            keys.append(data.get("merchant"))
    out = []
    for key in keys:
        if key is not None and key not in out:
            out.append(key)
    return out


def origin_granted(origin):
    """Whether ``origin`` may read this answer: the request names exactly one merchant,
    and that merchant lists the origin."""
    keys = requested_merchant_keys()
    if len(keys) != 1 or not isinstance(keys[0], str):
        return False
    merchant = merchant_by_public_key(keys[0])
    return merchant is not None and origin_allowed(merchant, origin)


@bp.after_request
def add_cors_headers(response):
    if not request.path.startswith("/plugin/api/"):
        return response
    response.vary.add("Origin")
    if request.endpoint == "plugin.origin_endpoint":
        # Public: any site may ask whether it is allowed (the answer says only that).
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    origin = normalise_origin(request.headers.get("Origin"))
    if not origin:
        return response
    try:
        allowed = origin_granted(origin)
    except Exception:  # noqa: BLE001 - a CORS header is never worth a failed answer
        allowed = False
    if allowed:
        response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin")
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
    return response
