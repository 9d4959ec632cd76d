"""Postbacks: building the events, the outbox and its fan-out to the merchant's
webhook endpoints, signing, the delivery states, and each object's summary.

Every event is first a row of the Event table and one Postback row (a *delivery*)
per enabled endpoint whose filter takes it, all written in the same database
transaction as the change they report (transactional outbox, SPEC §7 and §10). The
deliveries of one event share its id (``webhook-id``). Sending is the delivery
dispatcher's (``services.postback_delivery``, run by the worker) and never happens
inside a web request; this module holds the plain rules:

* :func:`create_event` — the event and its deliveries (one INSERT … SELECT over the
  merchant's endpoints); :func:`deliver_event_again` — a resend or a recovery;
* :func:`sign` / :func:`signature_headers` — Standard Webhooks signatures;
* :func:`next_delay` — the back-off schedule with jitter;
* :func:`claim_due` / :func:`claim` — the conditional UPDATE that gives a worker a
  lease on a delivery's next attempt;
* :func:`record_attempt` — the attempt log row, the delivery's state
  (``pending`` → ``sent`` | ``pending`` again | ``error``), its endpoint's health
  (failures in a row, the circuit breaker, ``failing_since``) and the
  ``postback_status`` of the transactions / withdrawal the event is about;
* :func:`resend` and :func:`send_test` — what the back office's buttons do.

**What ``postback_status`` says when an event has several deliveries**: ``pending``
("Sending") while any of them is pending; then ``error`` if any ended in error (an
endpoint that should have had the event did not get it); else ``sent`` (withdrawals:
``received``). An event that no endpoint takes (the merchant has none enabled, or
every filter leaves it out) is ``error`` at once: nothing was delivered.

How a caller writes an event (the outbox pattern)::

    with db.atomic():
        ...the change itself...
        postbacks.create_event(merchant, "deposit.completed", data, "transaction", tx.id)

After the commit the dispatcher is woken (one Redis command); if the wake-up is
lost (Redis flushed, the process died) its periodic scan finds the delivery anyway.

Settings (``app.config``), with their defaults in :data:`DEFAULTS`, read through
:func:`setting`.
"""
import base64
import datetime
import hashlib
import hmac
import json
import random
import secrets
import time

from peewee import SQL, Case, Cast, fn

from flask_babel import gettext as _

from .. import queues
from ..db import CompiledInsert, CompiledQuery, Slot, db, is_postgres
from ..errors import RuleError
from ..models import Event, Postback, PostbackAttempt, Transaction, WebhookEndpoint, Withdrawal, utcnow
from ..money import to_str
from ..timeutil import iso_z as iso  # also imported from here as postbacks.iso
from . import audit, netguard

# SPEC §7: the delays before each retry, in seconds: immediately, 5 s, 5 min,
# 30 min, 2 h, 5 h, 10 h, 10 h. After the last retry fails, the delivery is "error".
DEFAULT_BACKOFF = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_JITTER = 0.1  # ± this share of each delay
EXCERPT_BYTES = 1024  # how much of an answer the attempt log keeps

WAKE_KEY = "backoffice:postbacks:wake"  # a dispatcher blocks on it (BLPOP)

DEFAULTS = {
    "POSTBACK_TIMEOUT": 10.0,  # seconds, the whole request
    "POSTBACK_BACKOFF": DEFAULT_BACKOFF,
    "POSTBACK_JITTER": DEFAULT_JITTER,
    "POSTBACK_LEASE_SECONDS": 60,
    "POSTBACK_DISPATCH_INTERVAL": 1.0,  # seconds between the dispatcher's scans when idle
    "POSTBACK_CONCURRENCY": 8,  # deliveries in flight per worker (threads)
    "POSTBACK_ENDPOINT_IN_FLIGHT": 2,  # per endpoint (SPEC §10)
    "POSTBACK_MERCHANT_IN_FLIGHT": 4,  # per merchant, whatever its number of endpoints
    "POSTBACK_CIRCUIT_FAILURES": 5,  # failures in a row that open an endpoint's circuit
    "POSTBACK_MAX_RESPONSE_BYTES": EXCERPT_BYTES,
    "POSTBACK_ALLOWED_PORTS": tuple(sorted(netguard.DEFAULT_ALLOWED_PORTS)),
    "ALLOW_PRIVATE_POSTBACKS": False,
}


def setting(config, name):
    """A postback setting from ``config``, or its default."""
    value = config.get(name)
    return DEFAULTS[name] if value is None else value


def new_event_id():
    return "evt_" + secrets.token_hex(12)


_NEW_EVENT = CompiledInsert(Event)


def _fan_out_query():
    """One delivery per enabled endpoint of the merchant whose filter takes the type:
    ``event_types`` is a JSON list ("[]": every type), matched as a quoted string.

    The values are cast on PostgreSQL: a prepared INSERT … SELECT would otherwise
    type each parameter as text."""
    def typed(name, field, pg_type):
        slot = Slot(name, field)
        return Cast(slot, pg_type) if is_postgres() else slot

    e = WebhookEndpoint
    chosen = e.select(
        typed("event_id", Postback.event_id, "varchar"), e.merchant, e.id,
        typed("event_type", Postback.event_type, "varchar"), typed("object_type", Postback.object_type, "varchar"),
        typed("object_id", Postback.object_id, "integer"), typed("payload", Postback.payload, "text"),
        SQL("'pending'"), SQL("0"), typed("now", Postback.next_attempt_at, "timestamp"),
        typed("now2", Postback.created_at, "timestamp"), SQL("1"),
    ).where(
        (e.merchant == Slot("merchant")) & (e.enabled == True)  # noqa: E712
        # Compared as text: the JSON field would encode the values once more.
        & ((e.event_types == SQL("'[]'")) | (e.event_types.contains(Slot("quoted_type", e.description))))
    )
    fields = [Postback.event_id, Postback.merchant, Postback.endpoint, Postback.event_type, Postback.object_type,
              Postback.object_id, Postback.payload, Postback.status, Postback.attempts, Postback.next_attempt_at,
              Postback.created_at, Postback.delivery]
    return Postback.insert_from(chosen, fields)


_FAN_OUT = CompiledQuery(_fan_out_query)


def _frozen(event_id, event_type, now, data):
    return json.dumps({"id": event_id, "type": event_type, "created_at": iso(now), "data": data},
                      separators=(",", ":"), sort_keys=True)


def create_event(merchant, event_type, data, object_type=None, object_id=None, mark_objects=True, endpoint=None):
    """Write an event and its deliveries to the outbox; the Event row.

    The payload is frozen here and never rebuilt. ``endpoint``: deliver to that
    endpoint only, whatever its filter (a test send); otherwise to every enabled
    endpoint of the merchant whose filter takes ``event_type``.
    ``mark_objects=False``: the caller's own UPDATE set the objects to "pending".
    """
    now = utcnow()
    event_id = new_event_id()
    merchant_id = getattr(merchant, "id", merchant)
    payload = _frozen(event_id, event_type, now, data)
    event = _NEW_EVENT.create(event_id=event_id, merchant=merchant_id, event_type=event_type,
                              object_type=object_type, object_id=object_id, payload=payload, created_at=now)
    if endpoint is not None:
        Postback.create(event_id=event_id, merchant=merchant_id, endpoint=getattr(endpoint, "id", endpoint),
                        event_type=event_type, object_type=object_type, object_id=object_id, payload=payload,
                        status="pending", next_attempt_at=now, created_at=now)
        delivered = 1
    else:
        delivered = _FAN_OUT.count(event_id=event_id, event_type=event_type, object_type=object_type,
                                   object_id=object_id, payload=payload, now=now, now2=now, merchant=merchant_id,
                                   quoted_type=f'"{event_type}"')
    event.deliveries_created = delivered
    if event_type in STATUS_EVENTS:
        if not delivered:
            _set_object_status(object_type, object_id, "error")  # nowhere to go: nothing was delivered
        elif mark_objects:
            _set_object_status(object_type, object_id, "pending")  # the objects show "sending" from now on
    if delivered:
        wake_on_commit()
    return event


# --- waking the dispatcher -----------------------------------------------------------------

def wake_on_commit():
    """Wake a delivery dispatcher the moment the surrounding transaction commits
    (one Redis command; lost wake-ups are caught by the dispatcher's periodic scan)."""
    queues.on_commit(lambda config: queues.wake(config, WAKE_KEY))


def deposit_completed_data(merchant, payment_system, label, order_id, currency, transactions, stockpiling=None):
    """The ``data`` of a ``deposit.completed`` event (SPEC §7)."""
    total = sum((t.amount for t in transactions), start=type(transactions[0].amount)("0"))
    commission = sum((t.commission for t in transactions), start=type(transactions[0].amount)("0"))
    return {
        "merchant_id": getattr(merchant, "id", merchant),
        "label": label,
        "order_id": order_id,
        "payment_system": payment_system.code,
        "currency": currency,
        "amount": to_str(total),
        "commission": to_str(commission),
        "stockpiling_id": stockpiling.id if stockpiling is not None else None,
        "transactions": [
            {
                "id": t.id,
                "transaction_number": t.transaction_number,
                "amount": to_str(t.amount),
                "created_at": iso(t.created_at),
                "activated_at": iso(t.activated_at),
            }
            for t in transactions
        ],
    }


# --- signing (Standard Webhooks) -----------------------------------------------------

def secret_bytes(secret):
    """The HMAC key of a ``whsec_<base64>`` secret (the decoded base64 part)."""
    if secret.startswith("whsec_"):
        secret = secret[len("whsec_"):]
    key = base64.b64decode(secret + "=" * (-len(secret) % 4))
    if not key:
        raise ValueError("empty postback secret")
    return key


def sign(secret, event_id, timestamp, body):
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` (Standard Webhooks)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    message = f"{event_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(secret_bytes(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(secret, event_id, body, timestamp=None):
    """The three Standard Webhooks headers for one attempt (a fresh timestamp each time).

    ``secret`` may be a list of secrets (a rotation's grace period: the new and the
    old one): each signs, space-separated (``v1,<new> v1,<old>``), as Standard
    Webhooks allows, so a receiver with either secret verifies the postback.
    """
    timestamp = int(time.time() if timestamp is None else timestamp)
    keys = [secret] if isinstance(secret, str) else [k for k in secret if k]
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(key, event_id, timestamp, body) for key in keys),
    }


# --- the delivery states -------------------------------------------------------------

def next_delay(attempts_done, schedule=DEFAULT_BACKOFF, jitter=DEFAULT_JITTER, rng=random):
    """Seconds until the next attempt after ``attempts_done`` failed ones; None: give up.

    The first attempt is made when the event is written; ``schedule[n-1]`` is the wait
    after the n-th failure. Jitter spreads retries of many postbacks (an outage of one
    merchant) over ± ``jitter`` of the delay; an immediate retry stays immediate.
    """
    if attempts_done > len(schedule):
        return None
    delay = float(schedule[max(attempts_done, 1) - 1])
    if delay > 0 and jitter:
        delay *= 1 + rng.uniform(-jitter, jitter)
    return max(delay, 0.0)


# What a delivery's state means for the objects its event is about. Only these
# events speak for their object's ``postback_status`` (a ``deposit.reversed`` or a
# ``test`` event leaves it alone).
TRANSACTION_STATUS_FOR = {"pending": "pending", "sent": "sent", "error": "error"}
WITHDRAWAL_STATUS_FOR = {"pending": "pending", "sent": "received", "error": "error"}
STATUS_EVENTS = frozenset({"deposit.completed", "withdrawal.approved", "withdrawal.rejected", "withdrawal.cancelled"})


_OBJECT_STATUS = {
    "transaction": CompiledQuery(lambda: Transaction.update(postback_status=Slot("status"))
                                 .where(Transaction.id == Slot("id"))),
    "stockpiling": CompiledQuery(lambda: Transaction.update(postback_status=Slot("status"))
                                 .where(Transaction.stockpiling == Slot("id"))),
    "withdrawal": CompiledQuery(lambda: Withdrawal.update(postback_status=Slot("status"))
                                .where(Withdrawal.id == Slot("id"))),
}


def _set_object_status(object_type, object_id, status):
    query = _OBJECT_STATUS.get(object_type)
    if object_id is None or query is None:
        return 0
    mapping = WITHDRAWAL_STATUS_FOR if object_type == "withdrawal" else TRANSACTION_STATUS_FOR
    return query.count(status=mapping[status], id=object_id)


def summary_status(statuses):
    """The ``postback_status`` an event's deliveries add up to (see the module's doc)."""
    statuses = set(statuses)
    if not statuses:
        return "error"
    if "pending" in statuses:
        return "pending"
    return "error" if "error" in statuses else "sent"


# A delivery in one of these states changes no more by itself (only a resend starts it again).
SETTLED_STATUSES = frozenset({"sent", "error"})


def is_settled(postback):
    return postback.status in SETTLED_STATUSES


def seconds_until_change(postbacks, now, least=2, most=60):
    """How long a screen showing ``postbacks`` may wait before one that is not settled can
    have changed (issue 22, point 7): until the earliest next attempt, within
    ``least``..``most`` seconds; ``least`` when one is due or in flight. None when every
    one is settled."""
    waits = []
    for postback in postbacks:
        if is_settled(postback):
            continue
        due = postback.next_attempt_at
        waits.append((due - now).total_seconds() if due is not None and postback.locked_until is None else 0)
    if not waits:
        return None
    return int(min(max(min(waits), least), most))


_EVENT_LOCK = CompiledQuery(lambda: Event.select(Event.id).where(Event.event_id == Slot("event_id"))
                            .for_update())
_DELIVERY_STATES = CompiledQuery(lambda: Postback.select(Postback.status)
                                 .where(Postback.event_id == Slot("event_id")).tuples())


def summarise_objects(event_id, event_type, object_type, object_id):
    """Set the objects' ``postback_status`` from every delivery of the event.

    Called inside the transaction that moved a delivery on. On PostgreSQL the event's
    row is locked first, so two deliveries ending at once cannot each read the other
    as still pending (SQLite writers are serialised already)."""
    if event_type not in STATUS_EVENTS or object_id is None:
        return 0
    if is_postgres():
        _EVENT_LOCK.rows(event_id=event_id)
    return _set_object_status(object_type, object_id, summary_status(s for (s,) in
                                                                     _DELIVERY_STATES.rows(event_id=event_id)))


def set_object_status(postback, status):
    """Make the transactions / withdrawal of a delivery's event show ``status``."""
    if postback.event_type not in STATUS_EVENTS:
        return 0
    return _set_object_status(postback.object_type, postback.object_id, status)


# --- claiming a delivery's next attempt ----------------------------------------------------

def _claim_query():
    now = Slot("now", Postback.next_attempt_at)
    query = Postback.update(locked_until=Slot("lease", Postback.locked_until)).where(
        (Postback.id == Slot("id"))
        & (Postback.status == "pending")
        & (Postback.delivery == Slot("delivery"))
        & (Postback.attempts == Slot("attempts"))
        & (Postback.next_attempt_at <= now)
        & (Postback.locked_until.is_null() | (Postback.locked_until < now))
    )
    return query.returning(*Postback._meta.sorted_fields) if db.obj.returning_clause else query


_CLAIM = CompiledQuery(_claim_query)


def new_lease(now, lease_seconds):
    """A lease end no other claim holds: ``now + lease_seconds`` and a random number of
    microseconds, so the rows one claim took can be read back by it."""
    return now + datetime.timedelta(seconds=lease_seconds, microseconds=random.randint(1, 999_999))


def claim(postback_id, delivery, attempts, lease_seconds, now=None):
    """Take the lease on the next attempt of a delivery; the row, or None if not ours.

    One conditional UPDATE (safe on SQLite and PostgreSQL alike): it succeeds only
    while the row is pending, due, still at this delivery and attempt count, and
    nobody else holds a live lease. A second worker trying the same attempt finds
    nothing to claim.
    """
    now = now or utcnow()
    lease = new_lease(now, lease_seconds)
    values = dict(id=postback_id, delivery=delivery, attempts=attempts, lease=lease, now=now)
    if db.obj.returning_clause:  # claim and read in one round trip
        postback = _CLAIM.first(**values)
        if postback is None:
            return None
    else:
        if _CLAIM.count(**values) != 1:
            return None
        postback = Postback.get_by_id(postback_id)
    postback.lease = lease
    return postback


def claim_due(postback_ids, lease_seconds, now=None):
    """Take the lease on every delivery of ``postback_ids`` that is still pending, due
    and not leased (one UPDATE); the rows taken, each with its ``lease``."""
    now = now or utcnow()
    ids = [int(i) for i in postback_ids]
    if not ids:
        return []
    lease = new_lease(now, lease_seconds)
    query = (Postback.update(locked_until=lease)
             .where(Postback.id.in_(ids) & (Postback.status == "pending") & (Postback.next_attempt_at <= now)
                    & (Postback.locked_until.is_null() | (Postback.locked_until < now))))
    if db.obj.returning_clause:
        rows = list(query.returning(*Postback._meta.sorted_fields).execute())
    else:
        query.execute()
        rows = list(Postback.select().where(Postback.id.in_(ids) & (Postback.locked_until == lease)))
    for row in rows:
        row.lease = lease
    order = {pid: n for n, pid in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row.id])


# --- the outcome of an attempt ---------------------------------------------------------------

def _short(text, limit=500):
    if text is None:
        return None
    text = str(text).replace("\x00", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def excerpt(body):
    """The first 1 KiB of an answer as text (no NUL: PostgreSQL text cannot hold it)."""
    if not body:
        return ""
    return body[:EXCERPT_BYTES].decode("utf-8", "replace").replace("\x00", "\ufffd")


_ENDPOINT_SUCCEEDED = CompiledQuery(lambda: WebhookEndpoint.update(
    consecutive_failures=0, failing_since=None, circuit_until=None,
    last_success_at=Slot("now", WebhookEndpoint.last_success_at),
).where(WebhookEndpoint.id == Slot("id")))

_ENDPOINT_FAILED = CompiledQuery(lambda: WebhookEndpoint.update(
    consecutive_failures=WebhookEndpoint.consecutive_failures + 1,
    failing_since=fn.COALESCE(WebhookEndpoint.failing_since, Slot("now", WebhookEndpoint.failing_since)),
).where(WebhookEndpoint.id == Slot("id")))

_ENDPOINT_FAILURES = CompiledQuery(lambda: WebhookEndpoint.select(WebhookEndpoint.consecutive_failures)
                                   .where(WebhookEndpoint.id == Slot("id")).tuples())

_OPEN_CIRCUIT = CompiledQuery(lambda: WebhookEndpoint.update(
    circuit_until=Slot("until", WebhookEndpoint.circuit_until)).where(WebhookEndpoint.id == Slot("id")))


def circuit_delay(failures, threshold, schedule=DEFAULT_BACKOFF, jitter=DEFAULT_JITTER):
    """How long an endpoint's open circuit waits before its next probe, in seconds.

    The back-off schedule of SPEC §7 applied to the endpoint itself: the threshold-th
    failure in a row waits ``schedule[1]`` (5 s), each failed probe the next step, up to
    the last (10 h). None while the circuit is closed."""
    if failures < threshold:
        return None
    step = min(failures - threshold + 1, len(schedule) - 1)
    return next_delay(step + 1, schedule, jitter)  # schedule[step], with the same jitter


def _endpoint_outcome(endpoint_id, ok, now, threshold, schedule, jitter):
    """An endpoint's health after one attempt: a 2xx closes its circuit and ends its
    failing streak; a failure counts, and from ``threshold`` in a row opens the circuit."""
    if endpoint_id is None:
        return
    if ok:
        _ENDPOINT_SUCCEEDED.count(now=now, id=endpoint_id)
        return
    _ENDPOINT_FAILED.count(now=now, id=endpoint_id)
    row = _ENDPOINT_FAILURES.first(id=endpoint_id)
    delay = circuit_delay(row[0], threshold, schedule, jitter) if row else None
    if delay is not None:
        _OPEN_CIRCUIT.count(until=now + datetime.timedelta(seconds=delay), id=endpoint_id)


def record_attempt(postback, http_status=None, error=None, duration_ms=None, body=b"",
                   schedule=DEFAULT_BACKOFF, jitter=DEFAULT_JITTER, now=None,
                   circuit_failures=DEFAULTS["POSTBACK_CIRCUIT_FAILURES"]):
    """Log one attempt and move the delivery on; returns (status, delay_or_None).

    ``postback`` is the row :func:`claim` returned (it carries the lease). A 2xx is
    ``sent``; anything else is retried after :func:`next_delay`, or is ``error``
    when the schedule is spent. The update is a compare-and-set on the lease, so an
    attempt whose lease ran out and was taken over cannot overwrite the newer state
    (its log row is still kept). Returns ``("lost", None)`` in that case. The
    endpoint's health and the objects' summary move in the same transaction.
    """
    now = now or utcnow()
    ok = http_status is not None and 200 <= http_status < 300
    attempts = postback.attempts + 1
    if ok:
        status, delay = "sent", None
    else:
        delay = next_delay(attempts, schedule, jitter)
        status = "error" if delay is None else "pending"
    with db.atomic():
        _NEW_ATTEMPT.create(
            postback=postback.id, delivery=postback.delivery, attempted_at=now, http_status=http_status,
            duration_ms=duration_ms, response_excerpt=excerpt(body), error=_short(error),
        )
        updated = _MOVE_ON[status].count(
            attempts=attempts, http_status=http_status, error=_short(error) if not ok else None, now=now,
            next_attempt_at=now + datetime.timedelta(seconds=delay) if status == "pending" else None,
            id=postback.id, delivery=postback.delivery, previous_attempts=postback.attempts, lease=postback.lease,
        )
        if updated != 1:
            # Resent (or taken over) meanwhile: the attempt still tells how the endpoint
            # is doing, and it gives back the lease if it still holds it.
            _endpoint_outcome(postback.endpoint_id, ok, now, circuit_failures, schedule, jitter)
            Postback.update(locked_until=None).where((Postback.id == postback.id)
                                                     & (Postback.locked_until == postback.lease)).execute()
            return "lost", None
        _endpoint_outcome(postback.endpoint_id, ok, now, circuit_failures, schedule, jitter)
        if status != "pending":
            summarise_objects(postback.event_id, postback.event_type, postback.object_type, postback.object_id)
    postback.attempts, postback.status = attempts, status
    return status, delay


def _move_on_query(status):
    """The compare-and-set that ends an attempt (on the lease the claim took)."""
    values = {
        Postback.attempts: Slot("attempts"),
        Postback.status: status,
        Postback.last_http_status: Slot("http_status"),
        Postback.last_error: Slot("error"),
        Postback.locked_until: None,
    }
    if status == "sent":
        values[Postback.sent_at] = Slot("now", Postback.sent_at)
    if status == "pending":
        values[Postback.next_attempt_at] = Slot("next_attempt_at", Postback.next_attempt_at)
    return Postback.update(values).where(
        (Postback.id == Slot("id"))
        & (Postback.delivery == Slot("delivery"))
        & (Postback.attempts == Slot("previous_attempts"))
        & (Postback.locked_until == Slot("lease"))
    )


_NEW_ATTEMPT = CompiledInsert(PostbackAttempt)
_MOVE_ON = {status: CompiledQuery(lambda status=status: _move_on_query(status)) for status in ("sent", "pending", "error")}


# --- sending again: resend, recovery, test ---------------------------------------------------

def restart_deliveries(postback_ids, now):
    """Start a new delivery of each of these rows (same event, same frozen payload):
    attempts from 0, due now. Returns how many rows changed."""
    ids = [int(i) for i in postback_ids]
    if not ids:
        return 0
    # A live lease stays: the attempt in flight still holds its endpoint's slot; when
    # it ends (record_attempt, "lost") it releases the lease and the new delivery is due.
    keep_lease = Case(None, [(Postback.locked_until > now, Postback.locked_until)], None)
    return (Postback.update(delivery=Postback.delivery + 1, attempts=0, status="pending", next_attempt_at=now,
                            locked_until=keep_lease, last_error=None, last_http_status=None, sent_at=None)
            .where(Postback.id.in_(ids)).execute())


def deliver_event_again(event, endpoints, now, skip_sent=False):
    """Deliver ``event`` (an Event row) again to each of ``endpoints``: a new delivery of
    the row it has there, or a first one where it has none. ``skip_sent``: leave the
    endpoints that received it (a recovery). Returns the Postback rows now pending."""
    existing = {pb.endpoint_id: pb for pb in Postback.select().where(
        (Postback.event_id == event.event_id) & Postback.endpoint.in_([e.id for e in endpoints]))}
    restart, created = [], []
    for endpoint in endpoints:
        row = existing.get(endpoint.id)
        if row is None:
            created.append(Postback.create(
                event_id=event.event_id, merchant=event.merchant_id, endpoint=endpoint.id,
                event_type=event.event_type, object_type=event.object_type, object_id=event.object_id,
                payload=event.payload, status="pending", next_attempt_at=now, created_at=now))
        elif skip_sent and row.status in ("sent", "pending"):
            continue
        else:
            restart.append(row.id)
    restart_deliveries(restart, now)
    pending = created + list(Postback.select().where(Postback.id.in_(restart))) if restart else created
    if pending:
        if event.event_type in STATUS_EVENTS:
            _set_object_status(event.object_type, event.object_id, "pending")
        wake_on_commit()
    return pending


def resend(postback, now=None, actor=None, ip=""):
    """Start a new delivery of one delivery's event to its endpoint (same id, same frozen
    payload): attempts restart from 0, it is due now, and the objects its event is
    about go back to "sending". ``actor``: the user who asked (audited). RuleError
    when its endpoint is disabled or gone (recovery is the way back then)."""
    now = now or utcnow()
    postback_id = getattr(postback, "id", postback)
    with db.atomic():
        current = Postback.get_by_id(postback_id)
        endpoint = WebhookEndpoint.get_or_none(WebhookEndpoint.id == current.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            # Nothing would send it: it would stay "pending" until the endpoint came back.
            raise RuleError(_("This delivery's endpoint is disabled or deleted: enable or recover it first."),
                            {"endpoint": _("disabled")})
        restart_deliveries([postback_id], now)
        fresh = Postback.get_by_id(postback_id)
        set_object_status(fresh, "pending")
        if actor is not None:
            audit.record(actor, "postback.resend", fresh, merchant=fresh.merchant_id, ip=ip,
                         summary={"event_id": fresh.event_id, "delivery": fresh.delivery,
                                  "endpoint_id": fresh.endpoint_id})
        wake_on_commit()
    return fresh


def latest_events_for_objects(object_type, object_ids):
    """The newest status event of each object (transactions: theirs or their
    stockpiling's), for the Resend action of the Transactions and Withdrawals screens:
    pass the (already scoped) ids; returns Event rows."""
    ids = [int(i) for i in object_ids]
    if not ids:
        return []
    if object_type == "transaction":
        rows = Transaction.select(Transaction.id, Transaction.stockpiling).where(Transaction.id.in_(ids)).tuples()
        wanted = {("transaction", tx_id) for tx_id, _ in rows}
        wanted |= {("stockpiling", sp_id) for _, sp_id in rows if sp_id is not None}
    elif object_type == "withdrawal":
        wanted = {("withdrawal", i) for i in ids}
    else:
        raise ValueError(f"unknown object type {object_type!r}")
    latest = {}
    for kind in {k for k, _ in wanted}:
        keys = [i for k, i in wanted if k == kind]
        for event in (Event.select().where((Event.object_type == kind) & Event.object_id.in_(keys)
                                           & Event.event_type.in_(sorted(STATUS_EVENTS)))
                      .order_by(Event.id)):
            latest[(kind, event.object_id)] = event  # the last one wins
    return sorted(latest.values(), key=lambda event: event.id)


def resend_event(event, now=None, actor=None, ip=""):
    """Deliver an event again to every enabled endpoint of its merchant whose filter
    takes it (the Transactions / Withdrawals screens' Resend); the deliveries."""
    now = now or utcnow()
    endpoints = [e for e in WebhookEndpoint.select().where(
        (WebhookEndpoint.merchant == event.merchant_id) & (WebhookEndpoint.enabled == True))  # noqa: E712
        if takes(e, event.event_type)]
    with db.atomic():
        pending = deliver_event_again(event, endpoints, now)
        if not pending and event.event_type in STATUS_EVENTS:
            _set_object_status(event.object_type, event.object_id, "error")
        if actor is not None:
            audit.record(actor, "postback.resend", event, merchant=event.merchant_id, ip=ip,
                         summary={"event_id": event.event_id, "endpoints": len(pending)})
    return pending


def takes(endpoint, event_type):
    """Whether an endpoint's filter takes an event type (an empty filter takes all)."""
    types = endpoint.event_types or []
    return not types or event_type in types


TEST_MESSAGE = "This is a test postback from the back office."


def send_test(merchant, endpoint=None):
    """Write a ``test`` event to the outbox (Send test postback): to ``endpoint`` only,
    or to every enabled endpoint of the merchant whose filter takes ``test``."""
    merchant_id = getattr(merchant, "id", merchant)
    if endpoint is not None and not endpoint.enabled:
        raise RuleError(_("This endpoint is disabled: enable it (or recover it) first."),
                        {"endpoint": _("disabled")})
    data = {"merchant_id": merchant_id, "message": TEST_MESSAGE}
    with db.atomic():
        return create_event(merchant_id, "test", data, endpoint=endpoint)


def example_payloads():
    """One example of each event type's body, for the merchant docs page and README."""
    created = "2026-01-31T12:00:05Z"
    deposit = {
        "merchant_id": 42, "label": "user-1001", "order_id": "order-77", "payment_system": "bkash",
        "currency": "BDT", "amount": "1000.00", "commission": "25.00", "stockpiling_id": 9,
        "transactions": [
            {"id": 501, "transaction_number": "8N7A6B5C4D", "amount": "400.00",
             "created_at": "2026-01-31T11:50:00Z", "activated_at": "2026-01-31T11:51:10Z"},
            {"id": 507, "transaction_number": "9Q8W7E6R5T", "amount": "600.00",
             "created_at": "2026-01-31T11:59:30Z", "activated_at": "2026-01-31T12:00:04Z"},
        ],
    }
    withdrawal = {
        "id": 77, "withdrawal_id": "wd-2026-0001", "merchant_id": 42, "payment_system": "bkash",
        "amount": "500.00", "currency": "BDT", "label": "user-1001", "status": "approved",
        "fields": {"recipient_wallet": "01712345678"}, "comment": "", "reject_reason": None,
        "wallet_sender": "01798765432", "wallet_recipient": "01712345678", "request_kind": "api",
        "payout_reference": "TRX-8N7A6B5C4D", "has_payout_receipt": True,
        "created_at": "2026-01-31T11:00:00Z", "decided_at": "2026-01-31T12:00:05Z",
    }
    rejected = dict(withdrawal, status="rejected", wallet_sender=None, reject_reason="Recipient wallet is blocked",
                    payout_reference=None, has_payout_receipt=False)
    cancelled = dict(withdrawal, status="cancelled", wallet_sender=None, payout_reference=None,
                     has_payout_receipt=False)
    test = {"merchant_id": 42, "message": TEST_MESSAGE}
    out = {}
    events = (("deposit.completed", deposit), ("withdrawal.approved", withdrawal), ("withdrawal.rejected", rejected),
              ("withdrawal.cancelled", cancelled), ("test", test))
    for n, (kind, data) in enumerate(events):
        out[kind] = {"id": f"evt_0f3c2a9b8e7d6c5b4a39281{n}", "type": kind, "created_at": created, "data": data}
    return out
