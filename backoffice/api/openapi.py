"""The OpenAPI document at ``/api/v1/openapi.json``, assembled from what each
endpoint module documents with ``document(path, method, operation)``."""
import copy

from flask import jsonify

from . import bp

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
    "Money": {"type": "string", "pattern": r"^\d{1,16}\.\d{2}$", "example": "500.00"},
}
_SECURITY = {
    "connectorToken": {"type": "http", "scheme": "bearer", "description": "A connector token (operators issue them)."},
    "merchantApiKey": {"type": "http", "scheme": "bearer", "description": "The merchant's API key."},
}


def document(path, method, operation):
    _PATHS.setdefault(path, {})[method.lower()] = operation


def schema(name, definition):
    _SCHEMAS[name] = definition


def error_responses(*statuses):
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {str(s): dict(ref, description="Error") for s in statuses}


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
