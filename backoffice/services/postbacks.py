"""Postbacks: building the events, the outbox, signing, the delivery states and
when each attempt is enqueued.

Every postback is first a row of the Postback table, written in the same database
transaction as the change it reports (transactional outbox, SPEC §7). Delivery is
the job of ``backoffice.jobs.postbacks`` (``services.postback_delivery`` holds what
the job does) and never happens inside a web request; this module holds the plain
rules:

* :func:`sign` / :func:`signature_headers` — Standard Webhooks signatures;
* :func:`next_delay` — the back-off schedule with jitter;
* :func:`claim` — the conditional UPDATE that gives one worker a lease on an attempt;
* :func:`record_attempt` — the attempt log row and the status transition
  (``pending`` → ``sent`` | ``pending`` again | ``error``), with the ``postback_status``
  of the transactions / withdrawal the event is about;
* :func:`resend` and :func:`send_test` — what the back office's buttons do;
* :func:`enqueue_on_commit` / :func:`enqueue_after_commit` — the fast path: the
  attempt's job is enqueued (by name, through ``backoffice.queues``) once the row is
  committed. :func:`create_event` and :func:`resend` do it themselves, so no caller
  has to remember.

How a caller writes an event (the outbox pattern)::

    with db.atomic():
        ...the change itself...
        postbacks.create_event(merchant, "deposit.completed", data, "transaction", tx.id)

If the process dies between the commit and the enqueue, or Redis loses the job, the
periodic outbox drain (``services.postback_delivery.drain``) enqueues the row later
(same event id).

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

from .. import queues
from ..db import CompiledInsert, CompiledQuery, Slot, db
from ..models import Postback, PostbackAttempt, Transaction, Withdrawal, utcnow
from ..money import to_str
from ..timeutil import iso_z as iso  # also imported from here as postbacks.iso
from . import audit, netguard

# SPEC §7: the delays before each retry, in seconds: immediately, 5 s, 5 min,
# 30 min, 2 h, 5 h, 10 h, 10 h. After the last retry fails, the postback is "error".
DEFAULT_BACKOFF = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_JITTER = 0.1  # ± this share of each delay
EXCERPT_BYTES = 1024  # how much of an answer the attempt log keeps

QUEUE = "postbacks"
DELIVER_JOB = "backoffice.jobs.postbacks.deliver"
DELIVER_BATCH_JOB = "backoffice.jobs.postbacks.deliver_batch"

DEFAULTS = {
    "POSTBACK_TIMEOUT": 10.0,  # seconds, the whole request
    "POSTBACK_BACKOFF": DEFAULT_BACKOFF,
    "POSTBACK_JITTER": DEFAULT_JITTER,
    "POSTBACK_LEASE_SECONDS": 60,
    "POSTBACK_DRAIN_INTERVAL": 5,
    "POSTBACK_DRAIN_BATCH": 500,  # rows per round
    "POSTBACK_DRAIN_ROUNDS": 20,
    "POSTBACK_BATCH_MIN": 20,  # due postbacks without a job from which the drain batches
    "POSTBACK_BATCH_SIZE": 25,
    "POSTBACK_FAST_PATH_MAX_QUEUED": 200,
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


_NEW_POSTBACK = CompiledInsert(Postback)


def create_event(merchant, event_type, data, object_type=None, object_id=None, mark_objects=True):
    """Write an event to the outbox; the payload is frozen here and never rebuilt."""
    now = utcnow()
    event_id = new_event_id()
    payload = {"id": event_id, "type": event_type, "created_at": iso(now), "data": data}
    postback = _NEW_POSTBACK.create(
        event_id=event_id,
        merchant=getattr(merchant, "id", merchant),
        event_type=event_type,
        object_type=object_type,
        object_id=object_id,
        payload=json.dumps(payload, separators=(",", ":"), sort_keys=True),
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )
    if mark_objects:  # False: the caller's own UPDATE set them to "pending" already
        set_object_status(postback, "pending")  # the objects show "sending" from now on
    enqueue_on_commit(postback)  # the fast path; the drain is the guarantee
    return postback


# --- enqueueing the attempts -----------------------------------------------------------

def job_id_for(postback_id, delivery, attempts):
    """Deterministic job ids, so the drain can tell whether an attempt has a live job."""
    return f"postback-{postback_id}-{delivery}-{attempts}"


def _attempt_job(config, postback_id, delivery, attempts):
    """The job of one attempt: its arguments and RQ options."""
    timeout = float(setting(config, "POSTBACK_TIMEOUT"))
    return (postback_id, delivery, attempts), dict(
        job_id=job_id_for(postback_id, delivery, attempts),
        job_timeout=int(timeout) + 30,
        result_ttl=0,  # the attempt log in the database is the record
        failure_ttl=24 * 3600,
        description=f"postback {postback_id} delivery {delivery} attempt {attempts + 1}",
    )


def enqueue_attempt(config, postback_id, delivery, attempts):
    """Enqueue the job of one attempt now (Redis errors are the caller's)."""
    args, options = _attempt_job(config, postback_id, delivery, attempts)
    return queues.enqueue(config, QUEUE, DELIVER_JOB, *args, **options)


def enqueue_batch(config, items, reservation):
    """Enqueue one job for a batch of reserved attempts (see :func:`reserve`)."""
    timeout = float(setting(config, "POSTBACK_TIMEOUT"))
    return queues.enqueue(
        config, QUEUE, DELIVER_BATCH_JOB, items, reservation,
        job_timeout=int(len(items) * (timeout + 5)) + 30,
        result_ttl=0, failure_ttl=24 * 3600,
        description=f"postbacks {items[0][0]}…{items[-1][0]} ({len(items)})",
    )


def enqueue_after_commit(postback, config=None):
    """Enqueue the next attempt of a postback that is committed; the job, or None.

    For callers outside any transaction (a script, a bench); a Redis error is logged
    and swallowed: the outbox drain will deliver the postback.
    """
    config = queues.current_config(config)
    args, options = _attempt_job(config, postback.id, postback.delivery, postback.attempts)
    return queues.enqueue_after_commit(config, QUEUE, DELIVER_JOB, *args, **options)


def enqueue_on_commit(postback):
    """Enqueue the postback's attempt the moment the surrounding transaction commits.

    Steps aside while the queue holds a backlog (``POSTBACK_FAST_PATH_MAX_QUEUED``
    jobs): the drain then sends the new postbacks in batches, within
    ``POSTBACK_DRAIN_INTERVAL`` seconds, cheaper than a job each.
    """
    ident = (postback.id, postback.delivery, postback.attempts)

    def fast_path(config):
        if queues.queued_count(config, QUEUE) >= int(setting(config, "POSTBACK_FAST_PATH_MAX_QUEUED")):
            return
        enqueue_attempt(config, *ident)

    queues.on_commit(fast_path)


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


# What a postback's state means for the objects it is about.
TRANSACTION_STATUS_FOR = {"pending": "pending", "sent": "sent", "error": "error"}
WITHDRAWAL_STATUS_FOR = {"pending": "pending", "sent": "received", "error": "error"}


_OBJECT_STATUS = {
    "transaction": CompiledQuery(lambda: Transaction.update(postback_status=Slot("status"))
                                 .where(Transaction.id == Slot("id"))),
    "stockpiling": CompiledQuery(lambda: Transaction.update(postback_status=Slot("status"))
                                 .where(Transaction.stockpiling == Slot("id"))),
    "withdrawal": CompiledQuery(lambda: Withdrawal.update(postback_status=Slot("status"))
                                .where(Withdrawal.id == Slot("id"))),
}


def set_object_status(postback, status):
    """Make the transactions / withdrawal of an event follow its delivery state."""
    query = _OBJECT_STATUS.get(postback.object_type)
    if postback.object_id is None or query is None:
        return 0
    mapping = WITHDRAWAL_STATUS_FOR if postback.object_type == "withdrawal" else TRANSACTION_STATUS_FOR
    return query.count(status=mapping[status], id=postback.object_id)


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


def _claim_reserved_query():
    query = Postback.update(locked_until=Slot("lease", Postback.locked_until)).where(
        (Postback.id == Slot("id"))
        & (Postback.status == "pending")
        & (Postback.delivery == Slot("delivery"))
        & (Postback.attempts == Slot("attempts"))
        & (Postback.locked_until == Slot("reservation", Postback.locked_until))
    )
    return query.returning(*Postback._meta.sorted_fields) if db.obj.returning_clause else query


_CLAIM_RESERVED = CompiledQuery(_claim_reserved_query)


def reserve(postback_ids, lease_seconds, now=None):
    """The drain's hold on a batch of due postbacks that one job will deliver.

    One UPDATE gives every row of ``postback_ids`` that is still pending, due and not
    leased the same lease (the reservation); returns ``(reservation, rows)``, the rows
    as ``(id, delivery, attempts)``. The job then claims each row *on that
    reservation* (:func:`claim` with ``reservation=``). If the job is lost, the
    reservation simply runs out and a later drain finds the rows again.
    """
    now = now or utcnow()
    # A value no worker's lease will hold: those end at their claim's now + lease_seconds
    # exactly; this one a random number of microseconds later.
    reservation = now + datetime.timedelta(seconds=lease_seconds, microseconds=random.randint(1, 999))
    ids = [int(i) for i in postback_ids]
    if not ids:
        return reservation, []
    (Postback.update(locked_until=reservation)
     .where(Postback.id.in_(ids) & (Postback.status == "pending") & (Postback.next_attempt_at <= now)
            & (Postback.locked_until.is_null() | (Postback.locked_until < now)))
     .execute())
    rows = (Postback.select(Postback.id, Postback.delivery, Postback.attempts)
            .where(Postback.id.in_(ids) & (Postback.locked_until == reservation))
            .order_by(Postback.next_attempt_at, Postback.id).tuples())
    return reservation, list(rows)


def claim(postback_id, delivery, attempts, lease_seconds, now=None, reservation=None):
    """Take the lease on the next attempt of a postback; the row, or None if not ours.

    One conditional UPDATE (safe on SQLite and PostgreSQL alike): it succeeds only
    while the row is pending, due, still at this delivery and attempt count, and
    nobody else holds a live lease. A second worker running the same job (a
    duplicate enqueue, the drain racing the fast path) finds nothing to claim.

    ``reservation``: the row is one of a batch the drain reserved (:func:`reserve`);
    it is claimed only while it still holds that reservation.
    """
    now = now or utcnow()
    lease = now + datetime.timedelta(seconds=lease_seconds)
    values = dict(id=postback_id, delivery=delivery, attempts=attempts, lease=lease)
    if reservation is None:
        query, values["now"] = _CLAIM, now
    else:  # a row the drain reserved for a batch job: ours only while it still holds it
        query, values["reservation"] = _CLAIM_RESERVED, reservation
    if db.obj.returning_clause:  # PostgreSQL: claim and read in one round trip
        postback = query.first(**values)
        if postback is None:
            return None
    else:
        if query.count(**values) != 1:
            return None
        postback = Postback.get_by_id(postback_id)
    postback.lease = lease
    return postback


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


def record_attempt(postback, http_status=None, error=None, duration_ms=None, body=b"",
                   schedule=DEFAULT_BACKOFF, jitter=DEFAULT_JITTER, now=None):
    """Log one attempt and move the postback on; returns (status, delay_or_None).

    ``postback`` is the row :func:`claim` returned (it carries the lease). A 2xx is
    ``sent``; anything else is retried after :func:`next_delay`, or is ``error``
    when the schedule is spent. The update is a compare-and-set on the lease, so an
    attempt whose lease ran out and was taken over cannot overwrite the newer state
    (its log row is still kept). Returns ``("lost", None)`` in that case.
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
            return "lost", None
        if status != "pending":
            set_object_status(postback, status)
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


def resend(postback, now=None, actor=None, ip=""):
    """Start a new delivery of the same event (same id, same frozen payload).

    Attempts restart from 0, the postback is due now, and the objects it is about go
    back to "sending"; the attempt is enqueued once the change commits.
    ``actor``: the user who asked (written to the audit log with the change).
    """
    now = now or utcnow()
    postback_id = getattr(postback, "id", postback)
    with db.atomic():
        (Postback.update(delivery=Postback.delivery + 1, attempts=0, status="pending", next_attempt_at=now,
                         locked_until=None, last_error=None, last_http_status=None, sent_at=None)
         .where(Postback.id == postback_id).execute())
        fresh = Postback.get_by_id(postback_id)
        set_object_status(fresh, "pending")
        if actor is not None:
            audit.record(actor, "postback.resend", fresh, merchant=fresh.merchant_id, ip=ip,
                         summary={"event_id": fresh.event_id, "delivery": fresh.delivery})
        enqueue_on_commit(fresh)
    return fresh


def latest_for_objects(object_type, object_ids):
    """The newest postback of each object (transactions: theirs or their stockpiling's).

    For the Resend action of the Transactions and Withdrawals screens: pass the
    (already scoped) ids; returns the postbacks to hand to :func:`resend`.
    """
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
        for pb in (Postback.select().where((Postback.object_type == kind) & (Postback.object_id.in_(keys)))
                   .order_by(Postback.id)):
            latest[(kind, pb.object_id)] = pb  # the last one wins
    return sorted(latest.values(), key=lambda pb: pb.id)


def send_test(merchant):
    """Write a ``test`` event to the outbox (Settings → Send test postback)."""
    merchant_id = getattr(merchant, "id", merchant)
    data = {"merchant_id": merchant_id, "message": "This is a test postback from the back office."}
    with db.atomic():
        return create_event(merchant_id, "test", data)


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
    test = {"merchant_id": 42, "message": "This is a test postback from the back office."}
    out = {}
    events = (("deposit.completed", deposit), ("withdrawal.approved", withdrawal), ("withdrawal.rejected", rejected),
              ("withdrawal.cancelled", cancelled), ("test", test))
    for n, (kind, data) in enumerate(events):
        out[kind] = {"id": f"evt_0f3c2a9b8e7d6c5b4a39281{n}", "type": kind, "created_at": created, "data": data}
    return out
