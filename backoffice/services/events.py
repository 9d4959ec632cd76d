"""Reading a merchant's events and their deliveries (SPEC §10: the events API).

Plain queries, no web layer:

* :func:`page` — the merchant's events, newest first, one page at a time. The order is
  the Event table's id (it only grows: a new event always sorts in front), and the page
  goes on *below* the last id of the previous one (keyset ``id < before_id``), so
  walking every page sees each event that existed when the walk began exactly once,
  however many events arrive meanwhile (they land in front of the first page).
* :func:`find` — one of the merchant's events by its ``evt_…`` id (None otherwise).
* :func:`deliveries_of` — each event's deliveries (one per endpoint), with the time of
  its last attempt, in two queries for a whole page.
"""
import json
from collections import namedtuple

from peewee import fn

from ..models import Event, Postback, PostbackAttempt

Delivery = namedtuple("Delivery", "endpoint_id status attempts last_attempt_at last_http_status")


def _merchant_id(merchant):
    return getattr(merchant, "id", merchant)


def page(merchant, event_type=None, start=None, end=None, before_id=None, limit=100):
    """One page of the merchant's events, newest first: ``(events, more)``.

    ``event_type``: only that type. ``start`` / ``end`` bound ``created_at`` (naive UTC,
    ``start`` included, ``end`` excluded; None: open). ``before_id``: the cursor, the
    id of the previous page's last event (any id works: the page simply starts below
    it, so a cursor stays valid even once its event has expired).
    """
    query = Event.select().where(Event.merchant == _merchant_id(merchant))
    if event_type is not None:
        query = query.where(Event.event_type == event_type)
    if start is not None:
        query = query.where(Event.created_at >= start)
    if end is not None:
        query = query.where(Event.created_at < end)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    rows = list(query.order_by(Event.id.desc()).limit(limit + 1))
    return rows[:limit], len(rows) > limit


def find(merchant, event_id):
    """The merchant's event with this ``evt_…`` id, or None (another merchant's too)."""
    return Event.get_or_none((Event.event_id == event_id) & (Event.merchant == _merchant_id(merchant)))


def payload_of(event):
    """The event as its webhooks carry it: ``{"id", "type", "created_at", "data"}``."""
    return json.loads(event.payload)


def deliveries_of(events):
    """``{event_id: [Delivery…]}`` for these events (each list ordered by endpoint;
    an event without deliveries maps to ``[]``). ``attempts`` counts the current
    delivery's attempts (a resend starts again from 0); ``last_attempt_at`` is the
    latest attempt of any delivery of the event to that endpoint (naive UTC, or None)."""
    out = {event.event_id: [] for event in events}
    if not out:
        return out
    merchant_ids = {event.merchant_id for event in events}
    rows = list(Postback.select(Postback.id, Postback.event_id, Postback.endpoint, Postback.status,
                                Postback.attempts, Postback.last_http_status)
                .where(Postback.event_id.in_(list(out)) & Postback.merchant.in_(list(merchant_ids)))
                .order_by(Postback.event_id, Postback.endpoint, Postback.id))
    last = {}
    if rows:
        last = dict(PostbackAttempt.select(PostbackAttempt.postback, fn.MAX(PostbackAttempt.attempted_at))
                    .where(PostbackAttempt.postback.in_([row.id for row in rows]))
                    .group_by(PostbackAttempt.postback).tuples())
    for row in rows:
        out[row.event_id].append(Delivery(row.endpoint_id, row.status, row.attempts, last.get(row.id),
                                          row.last_http_status))
    return out
