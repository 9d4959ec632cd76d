"""Merchant API: the caller's events (SPEC §10), to reconcile without webhooks.

* ``GET /api/v1/events?type&since&until&cursor&limit`` — newest first, ``{"items":
  [...], "next": cursor-or-null}``. Each item is the event as its webhooks carry it
  (``id``, ``type``, ``created_at``, ``data``) plus its ``deliveries`` (one per
  endpoint: ``endpoint_id``, ``status``, ``attempts``, ``last_attempt_at``,
  ``last_http_status``), the same shape as the detail.
* ``GET /api/v1/events/<evt_id>`` — one event; another merchant's, an expired or an
  unknown one is ``404``.

``since`` / ``until`` read as ``GET /api/v1/transactions`` reads its dates: a day
``YYYY-MM-DD`` is a whole day of the merchant's time zone (``since`` from its start,
``until`` to its end: both days included). They also take a date and time with its
offset (``2026-03-10T12:00:00Z``): ``since`` that instant included, ``until``
excluded, so consecutive windows neither overlap nor leave a gap.

The cursor (``next``) is opaque: pass it back as it is. It marks a place in the
events' order of arrival, so walking the pages sees every event that existed when the
walk began exactly once while new ones arrive (they come in front of the first page).
``limit``: 100 by default, at most 500. Unknown, empty or malformed parameters are a
``400`` naming each. Events are kept ``EVENT_RETENTION_DAYS`` (90).
"""

from flask import jsonify, request
from flask_babel import gettext as _

from ..i18n import zone
from ..services import events as service
from ..services.webhooks import EVENT_TYPES
from ..timeutil import iso_z
from .base import ApiError, bp, merchant_from_api_key
from .openapi import document, error_responses, list_schema, schema
from .validation import ID_CURSOR_PATTERN, INSTANT_PATTERN, Params

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
EVENT_ID_MAX = 64
KNOWN = {"type", "since", "until", "cursor", "limit"}


def delivery_json(delivery):
    return {
        "endpoint_id": delivery.endpoint_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_attempt_at": iso_z(delivery.last_attempt_at),
        "last_http_status": delivery.last_http_status,
    }


def event_json(event, deliveries):
    payload = service.payload_of(event)
    return {
        "id": event.event_id,
        "type": event.event_type,
        "created_at": payload.get("created_at") or iso_z(event.created_at),
        "data": payload.get("data"),
        "deliveries": [delivery_json(d) for d in deliveries],
    }


@bp.route("/events", methods=["GET"])
def list_events():
    merchant = merchant_from_api_key()
    params = Params(KNOWN)
    for name in sorted(KNOWN):
        # A parameter sent without a value is a mistake (``until=``), not one left out.
        if name in request.args and request.args.get(name) == "":
            params.fail(name, _("must not be empty"))
    event_type = params.string("type", max_length=32, choices=EVENT_TYPES)
    tz = zone(merchant.timezone)
    start, end = params.instant("since", tz), params.instant("until", tz, end=True)
    if start is not None and end is not None and start >= end:
        params.fail("since", _("must be before until"))
    limit = params.integer("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    before_id = params.id_cursor()
    params.done()
    rows, more = service.page(merchant, event_type, start, end, before_id, limit)
    deliveries = service.deliveries_of(rows)
    return jsonify({"items": [event_json(e, deliveries[e.event_id]) for e in rows],
                    "next": str(rows[-1].id) if more else None})


@bp.route("/events/<event_id>", methods=["GET"])
def get_event(event_id):
    merchant = merchant_from_api_key()
    event = service.find(merchant, event_id) if len(event_id) <= EVENT_ID_MAX else None
    if event is None:
        raise ApiError(404, "not_found", _("No event with this ID."))
    return jsonify(event_json(event, service.deliveries_of([event])[event.event_id]))


# -- the OpenAPI document ------------------------------------------------------------------

schema("EventDelivery", {
    "type": "object",
    "required": ["endpoint_id", "status", "attempts", "last_attempt_at", "last_http_status"],
    "properties": {
        "endpoint_id": {"type": "integer", "nullable": True,
                        "description": "The webhook endpoint (null: a delivery older than endpoints)."},
        "status": {"type": "string", "enum": ["pending", "sent", "error"]},
        "attempts": {"type": "integer", "minimum": 0, "description": "Attempts of the current delivery (a resend "
                                                                     "or a recovery starts again from 0)."},
        "last_attempt_at": {"type": "string", "format": "date-time", "nullable": True},
        "last_http_status": {"type": "integer", "nullable": True,
                             "description": "The endpoint's last answer; null: none yet, or no answer at all."},
    },
})
schema("Event", {
    "type": "object",
    "required": ["id", "type", "created_at", "data", "deliveries"],
    "properties": {
        "id": {"type": "string", "example": "evt_0f3c2a9b8e7d6c5b4a392810",
               "description": "The event id: the webhook-id header and the id of its body."},
        "type": {"type": "string", "enum": list(EVENT_TYPES)},
        "created_at": {"type": "string", "format": "date-time"},
        "data": {"type": "object", "description": "The data its webhooks carry (see the postback documentation)."},
        "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/EventDelivery"},
                       "description": "One per endpoint the event went to (none: no endpoint took it)."},
    },
})
list_schema("EventList", "Event")


def _query(name, description, **schema_):
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema_}


document("/api/v1/events", "get", {
    "summary": "Your events, newest first, with their deliveries",
    "description": "Paging with `cursor` sees every event that existed when the first page was read exactly "
                   "once, while new events arrive (they come in front of the first page). Events are kept "
                   "90 days.",
    "security": [{"merchantApiKey": []}],
    "parameters": [
        _query("type", "Only events of this type", type="string", enum=list(EVENT_TYPES)),
        _query("since", "Events created from then on: a date and time with its offset (included), or a day "
                        "(YYYY-MM-DD) of your time zone, from its start", type="string", pattern=INSTANT_PATTERN),
        _query("until", "Events created before then: a date and time with its offset (excluded), or a day "
                        "(YYYY-MM-DD) of your time zone, to its end (included)", type="string",
               pattern=INSTANT_PATTERN),
        _query("limit", "Page size", type="integer", minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
        _query("cursor", "The next value of the previous page (opaque)", type="string",
               pattern=f"^{ID_CURSOR_PATTERN}$"),
    ],
    "responses": {
        "200": {"description": "A page of events", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/EventList"}}}},
        **error_responses(400, 401, 403),
    },
})
document("/api/v1/events/{event_id}", "get", {
    "summary": "One of your events by its id (evt_…), with its deliveries",
    "security": [{"merchantApiKey": []}],
    "parameters": [{"name": "event_id", "in": "path", "required": True,
                    "schema": {"type": "string", "maxLength": EVENT_ID_MAX}}],
    "responses": {
        "200": {"description": "The event", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Event"}}}},
        **error_responses(401, 403, 404),
    },
})
