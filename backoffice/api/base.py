"""What every JSON endpoint shares: the error shape, bearer tokens, and the
blueprints they hang on.

Errors are ``{"error": {"code", "message", "details": [{"field", "message"}]}}``
(SPEC §6); lists are ``{"items": [...], "next": cursor-or-null}``.
"""
from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from ..errors import RuleError
from ..extensions import csrf
from ..models import Merchant
from ..security import constant_time_equals


class ApiError(Exception):
    def __init__(self, status, code, message, details=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


class JSONBodyTooDeep(BadRequest):
    """A JSON body nested deeper than ``JSON_MAX_DEPTH`` (refused before parsing: a
    parser recursing 10,000 levels down fails with a RecursionError, a 500)."""

    api_code = "json_too_deep"

    def __init__(self, limit):
        super().__init__()
        self.limit = limit

    def api_message(self):
        return _("The JSON body is nested too deeply.")

    def api_details(self):
        return [{"field": "body", "message": _("must be nested at most %(n)d levels deep", n=self.limit)}]


class JSONBodyTooLarge(RequestEntityTooLarge):
    """A JSON body over ``JSON_MAX_BYTES`` (refused before it is read or parsed)."""

    api_code = "payload_too_large"

    def __init__(self, limit):
        super().__init__()
        self.limit = limit

    def api_message(self):
        return _("The JSON body is too large.")

    def api_details(self):
        return [{"field": "body", "message": _("must be at most %(n)d bytes", n=self.limit)}]


def error_response(status, code, message, details=None, headers=None):
    body = {"error": {"code": code, "message": str(message)}}
    if details:
        body["error"]["details"] = details
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def handle_api_error(exc):
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def handle_rule_error(exc):
    """A service refused the input (any ``RuleError``): its status, code, message and
    field faults, so endpoints need not translate each service's error by hand."""
    headers = exc.headers() if callable(getattr(exc, "headers", None)) else None
    return error_response(exc.status, exc.code, exc.message, exc.detail_list(), headers)


def bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def merchant_from_api_key():
    """The merchant whose API key is the bearer token (401 without one, 403 when disabled)."""
    token = bearer_token()
    if not token or len(token) > 200:
        raise ApiError(401, "unauthorized", _("Send the merchant API key as a bearer token."),
                       headers={"WWW-Authenticate": "Bearer"})
    merchant = Merchant.get_or_none(Merchant.api_key == token)
    # The lookup finds the candidate; the comparison that decides is constant-time.
    if merchant is None or not constant_time_equals(merchant.api_key, token):
        raise ApiError(401, "unauthorized", _("The API key is not valid."), headers={"WWW-Authenticate": "Bearer"})
    if not merchant.active:
        raise ApiError(403, "merchant_disabled", _("This merchant account is disabled."))
    return merchant


def refuse_nul_parameters():
    """No NUL character in the path or the query string (a ``before_request`` hook).

    PostgreSQL cannot hold NUL in text: psycopg2 raises before the query runs (a 500),
    so such a value is refused here, before any view compares it with a column. Request
    bodies are checked field by field (``Body`` refuses every control character).
    """
    if any("\x00" in str(value) for value in (request.view_args or {}).values()):
        raise ApiError(404, "not_found", _("Not found."))
    bad = sorted({name for name, value in request.args.items(multi=True) if "\x00" in name or "\x00" in value})
    if bad:
        message = _("must not contain control characters")
        raise ApiError(400, "invalid_request", _("The request has invalid fields."),
                       details=[{"field": name.replace("\x00", "\ufffd"), "message": message} for name in bad])


def register_error_handlers(blueprint):
    """JSON errors for everything a JSON blueprint can fail with (and no NUL in its parameters)."""
    blueprint.before_request(refuse_nul_parameters)
    blueprint.register_error_handler(ApiError, handle_api_error)
    blueprint.register_error_handler(RuleError, handle_rule_error)

    @blueprint.errorhandler(HTTPException)
    def _http_error(exc):
        if isinstance(exc, (JSONBodyTooDeep, JSONBodyTooLarge)):
            return error_response(exc.code, exc.api_code, exc.api_message(), exc.api_details())
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)




def json_blueprint(name, import_name, url_prefix):
    """A blueprint of JSON endpoints: JSON errors, no NUL in parameters, and no CSRF
    token (bearer tokens or public JSON, no cookies: nothing for a token to protect)."""
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix)
    csrf.exempt(blueprint)
    register_error_handlers(blueprint)
    return blueprint


bp = json_blueprint("api", __name__, "/api/v1")
