"""The OpenAPI document at ``/api/v1/openapi.json``, assembled from what each
endpoint module documents with ``document(path, method, operation)``."""
import copy

from flask import jsonify

from .base import bp

_PATHS = {}
_SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                        },
                    },
                },
            }
        },
    },
    "Money": {"type": "string", "pattern": r"^[0-9]{1,16}\.[0-9]{2}$", "example": "500.00"},
    # What requests may send: a string of plain ASCII digits with at most 2 decimals (the
    # preferred form), or a JSON number. Never negative, zero, NaN, infinite or in exponent
    # notation; at most 9999999999999999.99. (Zero matches the pattern but is refused: 400.)
    "MoneyInput": {
        "description": "A positive amount with at most 2 decimal places: \"500.00\" (preferred) or 500.",
        "oneOf": [
            {"type": "string", "pattern": r"^[0-9]{1,16}(\.[0-9]{1,2})?$", "example": "500.00"},
            {"type": "number", "minimum": 0.01, "maximum": 9999999999999999},
        ],
    },
}
_SECURITY = {
    "connectorToken": {"type": "http", "scheme": "bearer", "description": "A connector token (operators issue them)."},
    "merchantApiKey": {"type": "http", "scheme": "bearer", "description": "The merchant's API key."},
}


def document(path, method, operation):
    _PATHS.setdefault(path, {})[method.lower()] = operation


def schema(name, definition):
    _SCHEMAS[name] = definition


NEXT_PAGE = "Pass as cursor for the next page; null: this is the last."


def list_schema(name, item, next_description=NEXT_PAGE):
    """A list answer (SPEC §6): ``{"items": [item…], "next": cursor-or-null}``."""
    schema(name, {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "next": {"type": "string", "nullable": True, "description": next_description},
        },
    })


_ERROR_DESCRIPTIONS = {
    400: "Malformed input: details name each faulty field (a dotted path)",
    401: "No or an unknown bearer token",
    403: "Not allowed (e.g. a disabled merchant)",
    404: "Not found",
    409: "Conflicts with what is stored (code conflict)",
    413: "The request body is over the size limit",
    422: "Well-formed but refused by the current state",
    429: "Too many requests: rate limited, try later",
}


def error_responses(*statuses):
    """The Error-schema responses for ``statuses`` (a 401 states its ``WWW-Authenticate``
    header, a 429 its ``Retry-After``)."""
    out = {}
    for status in statuses:
        response = {"description": _ERROR_DESCRIPTIONS.get(status, "Error"),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                                                        "description": "Bearer"}}
        if status == 429:
            response["headers"] = {"Retry-After": {"required": True, "schema": {"type": "integer"},
                                                   "description": "Seconds to wait before trying again"}}
        out[str(status)] = response
    return out


def build():
    return {
        "openapi": "3.0.3",
        "info": {"title": "Backoffice API", "version": "1.0.0"},
        "paths": copy.deepcopy(_PATHS),
        "components": {"schemas": copy.deepcopy(_SCHEMAS), "securitySchemes": _SECURITY},
    }


@bp.route("/openapi.json")
def openapi_document():
    return jsonify(build())


document("/api/v1/openapi.json", "get", {
    "summary": "This document",
    "security": [],
    "responses": {"200": {"description": "The OpenAPI document", "content": {"application/json": {
        "schema": {"type": "object", "required": ["openapi", "paths"]}}}}},
})
