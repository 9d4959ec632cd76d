"""Merchant API: the caller's webhook endpoints (SPEC §10).

* ``GET /api/v1/webhook-endpoints`` — every endpoint (at most 10: one page,
  ``{"items": [...], "next": null}``).
* ``POST /api/v1/webhook-endpoints`` ``{url, description?, event_types?}`` — ``201``
  with the endpoint and its ``secret``, the only time the secret is shown; ``409
  too_many_endpoints`` over the limit.
* ``GET`` / ``PATCH`` / ``DELETE /api/v1/webhook-endpoints/<id>`` — read; change
  ``url``, ``description``, ``event_types``, ``enabled`` (only the fields sent);
  delete (``204``).
* ``POST …/<id>/rotate-secret`` — a new ``secret`` (shown once); the old one keeps
  signing next to it until ``previous_secret_until`` (24 h).
* ``POST …/<id>/recover`` ``{since}`` — enable the endpoint and re-send it every
  event since then that it did not receive: ``{"resent": n, "endpoint": …}``; a
  few a minute per merchant (``429`` with ``Retry-After`` beyond).

Another merchant's endpoint, or an unknown id, is ``404``. The rules (URL guard,
filters, the limit, the audit log) are ``services.webhooks``'; a refusal there is a
``RuleError`` the blueprint answers with its status and field faults. Writes are
audited without a user (the API key acts for the merchant), as the withdrawal API's.
The endpoint JSON never carries the secret, except in the two answers above.
"""
import re

from flask import current_app, jsonify, request
from flask_babel import gettext as _

from ..errors import RuleError
from ..i18n import zone
from ..models import WebhookEndpoint
from ..services import webhooks as service
from ..timeutil import iso_z
from .base import ApiError, bp, merchant_from_api_key
from .openapi import document, error_responses, list_schema, schema
from .validation import INSTANT_PATTERN, MAX_ID, Body, Params

MAX_URL = 2000  # the column's length
CREATE_FIELDS = ("url", "description", "event_types")
UPDATE_FIELDS = ("url", "description", "event_types", "enabled")


def endpoint_json(endpoint):
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description or "",
        "event_types": list(endpoint.event_types or []),
        "enabled": bool(endpoint.enabled),
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": iso_z(endpoint.failing_since),
        "created_at": iso_z(endpoint.created_at),
    }


def _values(body, fields, partial):
    """The body's values for the service, checked for type (the service checks content):
    every fault of both kinds is named by its field."""
    data = body.data
    for name in sorted(set(data) - set(fields)):
        body.fail(name, _("is not a known field"))
    values = {}
    if "url" in data or not partial:
        url = data.get("url")
        if isinstance(url, str) and len(url) > MAX_URL:
            body.fail("url", _("must be at most %(n)d characters", n=MAX_URL))
        elif body.string("url", max_length=MAX_URL) is not None:
            values["url"] = url
    if "description" in data:
        text = data["description"]
        if not isinstance(text, str):
            body.fail("description", _("must be a string"))
        elif len(text) > service.MAX_DESCRIPTION:
            body.fail("description", _("must be at most %(n)d characters", n=service.MAX_DESCRIPTION))
        else:
            values["description"] = body.string("description", required=False,
                                                max_length=service.MAX_DESCRIPTION) or ""
    if "event_types" in data:
        types = data["event_types"]
        if not isinstance(types, list):
            body.fail("event_types", _("must be a list of event types (empty: every type)"))
        else:
            values["event_types"] = types
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            body.fail("enabled", _("must be true or false"))
        else:
            values["enabled"] = data["enabled"]
    body.done()
    return values


def _no_store(response):
    """An answer carrying a secret is kept by no cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _ip():
    return request.remote_addr or ""


def _own_endpoint(endpoint_id):
    """The caller's endpoint with this id (404 for anything else) and the merchant."""
    merchant = merchant_from_api_key()
    endpoint = None
    if re.fullmatch(r"[0-9]{1,19}", endpoint_id) and 1 <= int(endpoint_id) <= MAX_ID:
        endpoint = WebhookEndpoint.get_or_none((WebhookEndpoint.id == int(endpoint_id))
                                               & (WebhookEndpoint.merchant == merchant.id))
    if endpoint is None:
        raise ApiError(404, "not_found", _("No webhook endpoint with this ID."))
    return merchant, endpoint


@bp.route("/webhook-endpoints", methods=["GET"])
def list_endpoints():
    merchant = merchant_from_api_key()
    Params(set()).done()
    return jsonify({"items": [endpoint_json(e) for e in service.endpoints_of(merchant)], "next": None})


@bp.route("/webhook-endpoints", methods=["POST"])
def create_endpoint():
    merchant = merchant_from_api_key()
    values = _values(Body(), CREATE_FIELDS, partial=False)
    # Refusals (WebhookError 400, EndpointLimit 409) are answered by the blueprint's handler.
    endpoint, secret = service.create_endpoint(merchant, values, actor=None, ip=_ip())
    response = _no_store(jsonify(dict(endpoint_json(endpoint), secret=secret)))
    response.status_code = 201
    return response


@bp.route("/webhook-endpoints/<endpoint_id>", methods=["GET"])
def get_endpoint(endpoint_id):
    _merchant, endpoint = _own_endpoint(endpoint_id)
    return jsonify(endpoint_json(endpoint))


@bp.route("/webhook-endpoints/<endpoint_id>", methods=["PATCH"])
def update_endpoint(endpoint_id):
    _merchant, endpoint = _own_endpoint(endpoint_id)
    values = _values(Body(), UPDATE_FIELDS, partial=True)
    service.update_endpoint(endpoint, values, actor=None, ip=_ip())
    return jsonify(endpoint_json(WebhookEndpoint.get_by_id(endpoint.id)))


@bp.route("/webhook-endpoints/<endpoint_id>", methods=["DELETE"])
def delete_endpoint(endpoint_id):
    _merchant, endpoint = _own_endpoint(endpoint_id)
    service.delete_endpoint(endpoint, actor=None, ip=_ip())
    return "", 204


@bp.route("/webhook-endpoints/<endpoint_id>/rotate-secret", methods=["POST"])
def rotate_secret(endpoint_id):
    _merchant, endpoint = _own_endpoint(endpoint_id)
    secret = service.rotate_secret(endpoint, actor=None, ip=_ip())
    endpoint = WebhookEndpoint.get_by_id(endpoint.id)
    return _no_store(jsonify(dict(endpoint_json(endpoint), secret=secret,
                                  previous_secret_until=iso_z(endpoint.previous_secret_until))))


@bp.route("/webhook-endpoints/<endpoint_id>/recover", methods=["POST"])
def recover(endpoint_id):
    merchant, endpoint = _own_endpoint(endpoint_id)
    body = Body()
    for name in sorted(set(body.data) - {"since"}):
        body.fail(name, _("is not a known field"))
    since = body.instant("since", zone(merchant.timezone))
    body.done()
    service.take_send_quota(current_app.config, merchant.id, "recover")  # 429 with Retry-After
    try:
        resent = service.recover(endpoint, since, actor=None, ip=_ip())
    except RuleError:
        service.give_back_send_quota(current_app.config, merchant.id, "recover")  # nothing was re-sent
        raise
    return jsonify({"resent": resent, "endpoint": endpoint_json(WebhookEndpoint.get_by_id(endpoint.id))})


# -- the OpenAPI document ------------------------------------------------------------------

_TYPES = {"type": "array", "items": {"type": "string", "enum": list(service.EVENT_TYPES)},
          "description": "The event types sent to this endpoint; empty: every type."}
schema("WebhookEndpoint", {
    "type": "object",
    "required": ["id", "url", "description", "event_types", "enabled", "disabled_reason", "failing_since",
                 "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string"},
        "description": {"type": "string"},
        "event_types": _TYPES,
        "enabled": {"type": "boolean"},
        "disabled_reason": {"type": "string", "nullable": True, "enum": [*service.DISABLED_REASONS, None],
                            "description": "Why it is disabled: failing (no 2xx for 5 days), merchant (you), "
                                           "operator; null while enabled."},
        "failing_since": {"type": "string", "format": "date-time", "nullable": True,
                          "description": "The first failed attempt since the last 2xx; null: not failing."},
        "created_at": {"type": "string", "format": "date-time"},
    },
})
list_schema("WebhookEndpointList", "WebhookEndpoint",
            next_description="Always null: every endpoint (at most 10) is on one page.")
_SECRET = {"type": "string", "pattern": "^whsec_", "description": "The signing secret: shown this once only."}
schema("WebhookEndpointCreated", {"allOf": [{"$ref": "#/components/schemas/WebhookEndpoint"}, {
    "type": "object", "required": ["secret"], "properties": {"secret": _SECRET}}]})
schema("WebhookEndpointRotated", {"allOf": [{"$ref": "#/components/schemas/WebhookEndpoint"}, {
    "type": "object", "required": ["secret", "previous_secret_until"], "properties": {
        "secret": _SECRET,
        "previous_secret_until": {"type": "string", "format": "date-time",
                                  "description": "Until then deliveries are signed with the new and the old "
                                                 "secret (webhook-signature: v1,<new> v1,<old>)."},
    }}]})
_URL = {"type": "string", "minLength": 1, "maxLength": MAX_URL,
        "description": "http(s) on port 80, 443, 8080 or 8443, resolving to public addresses only."}
_DESCRIPTION = {"type": "string", "maxLength": service.MAX_DESCRIPTION}
schema("WebhookEndpointCreate", {
    "type": "object", "required": ["url"], "additionalProperties": False,
    "properties": {"url": _URL, "description": _DESCRIPTION, "event_types": _TYPES},
})
schema("WebhookEndpointUpdate", {
    "type": "object", "additionalProperties": False,
    "description": "Only the fields sent change.",
    "properties": {"url": _URL, "description": _DESCRIPTION, "event_types": _TYPES, "enabled": {
        "type": "boolean", "description": "false: no more deliveries (disabled_reason merchant; pending ones end "
                                          "as error); true: enabled again, its failure state cleared (nothing is "
                                          "re-sent: that is recover)."}},
})
_SINCE = {"type": "string", "pattern": INSTANT_PATTERN,
          "description": "A date and time with its offset (2026-03-10T12:00:00Z), or a day (YYYY-MM-DD) of your "
                         "time zone, from its start."}
schema("WebhookRecoverRequest", {"type": "object", "required": ["since"], "additionalProperties": False,
                                 "properties": {"since": _SINCE}})
schema("WebhookRecoverResult", {
    "type": "object", "required": ["resent", "endpoint"],
    "properties": {"resent": {"type": "integer", "minimum": 0, "description": "How many events are re-sent."},
                   "endpoint": {"$ref": "#/components/schemas/WebhookEndpoint"}},
})


def _json(name, description):
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}


def _body(name):
    return {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


_ID = [{"name": "endpoint_id", "in": "path", "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}]
_AUTH = [{"merchantApiKey": []}]
document("/api/v1/webhook-endpoints", "get", {
    "summary": "Your webhook endpoints",
    "security": _AUTH,
    "responses": {"200": _json("WebhookEndpointList", "Every endpoint"), **error_responses(400, 401, 403)},
})
document("/api/v1/webhook-endpoints", "post", {
    "summary": "Add a webhook endpoint (its secret is in this answer only)",
    "security": _AUTH,
    "requestBody": _body("WebhookEndpointCreate"),
    "responses": {
        "201": _json("WebhookEndpointCreated", "Created: the endpoint and its secret."),
        **error_responses(400, 401, 403, 413),
        "409": dict(error_responses(409)["409"],
                    description=f"You have {service.MAX_ENDPOINTS} endpoints already (code too_many_endpoints)."),
    },
})
document("/api/v1/webhook-endpoints/{endpoint_id}", "get", {
    "summary": "One of your webhook endpoints",
    "security": _AUTH,
    "parameters": _ID,
    "responses": {"200": _json("WebhookEndpoint", "The endpoint."), **error_responses(401, 403, 404)},
})
document("/api/v1/webhook-endpoints/{endpoint_id}", "patch", {
    "summary": "Change a webhook endpoint's URL, description, event types or enabled state",
    "security": _AUTH,
    "parameters": _ID,
    "requestBody": _body("WebhookEndpointUpdate"),
    "responses": {"200": _json("WebhookEndpoint", "The endpoint as it is now."),
                  **error_responses(400, 401, 403, 404, 413, 429)},
})
document("/api/v1/webhook-endpoints/{endpoint_id}", "delete", {
    "summary": "Delete a webhook endpoint and its delivery log",
    "security": _AUTH,
    "parameters": _ID,
    "responses": {"204": {"description": "Deleted."}, **error_responses(401, 403, 404)},
})
document("/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret", "post", {
    "summary": "A new signing secret (shown once); the old one also signs for 24 h",
    "security": _AUTH,
    "parameters": _ID,
    "responses": {"200": _json("WebhookEndpointRotated", "The endpoint, its new secret and when the old one "
                                                         "stops signing."),
                  **error_responses(401, 403, 404)},
})
document("/api/v1/webhook-endpoints/{endpoint_id}/recover", "post", {
    "summary": "Enable the endpoint and re-send it every event since a time that it did not receive",
    "description": "Events of every type its filter takes (test events excepted), created since `since` and "
                   "not before the endpoint existed, of which it has no delivery sent or pending.",
    "security": _AUTH,
    "parameters": _ID,
    "requestBody": _body("WebhookRecoverRequest"),
    "responses": {"200": _json("WebhookRecoverResult", "How many events are re-sent, and the endpoint."),
                  **error_responses(400, 401, 403, 404, 413, 429)},
})
