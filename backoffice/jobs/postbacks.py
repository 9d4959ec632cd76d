"""Postback delivery: the RQ jobs, the outbox drain and the guarded HTTP client.

* :func:`deliver` — one attempt of one postback: claim the row (a lease taken with a
  conditional UPDATE), POST the frozen payload with Standard Webhooks headers, log the
  attempt, move the state on (``services.postbacks.record_attempt``). An immediate
  retry is enqueued at once; later retries are left to the drain.
* :func:`drain` — the periodic sweep (registered by ``backoffice worker`` with
  ``rq.cron``): every postback that is due, not leased, and has no live job is
  enqueued. A lost job, a killed worker or a flushed Redis loses nothing. A backlog
  goes out in batches (:func:`deliver_batch`, one job for up to 25 postbacks of one
  merchant, reserved with one UPDATE), since RQ's own cost per job is about what a
  delivery costs.
* :func:`enqueue_after_commit` — the fast path callers use once their transaction
  has committed::

      with db.atomic():
          ...
          pb = postbacks.create_event(merchant, "deposit.completed", data, "transaction", tx.id)
      enqueue_after_commit(pb)

  It never raises for a Redis failure (the drain will send the postback anyway).
  ``enqueue_on_commit`` (what ``create_event`` uses) steps aside while the queue
  holds a backlog (``POSTBACK_FAST_PATH_MAX_QUEUED`` jobs): the drain then sends
  the new postbacks in batches, within ``POSTBACK_DRAIN_INTERVAL`` seconds.

Job ids are deterministic (``postback-<id>-<delivery>-<attempts>``), so the drain can
tell whether an attempt already has a live job.

Settings (``app.config``), with their defaults:
``POSTBACK_TIMEOUT`` 10 (seconds, the whole request), ``POSTBACK_BACKOFF`` (SPEC
schedule), ``POSTBACK_JITTER`` 0.1, ``POSTBACK_LEASE_SECONDS`` 60,
``POSTBACK_DRAIN_INTERVAL`` 5, ``POSTBACK_DRAIN_BATCH`` 500 (rows per round),
``POSTBACK_DRAIN_ROUNDS`` 20, ``POSTBACK_BATCH_MIN`` 20 (due postbacks without a job
from which the drain batches), ``POSTBACK_BATCH_SIZE`` 25,
``POSTBACK_FAST_PATH_MAX_QUEUED`` 200, ``POSTBACK_MAX_RESPONSE_BYTES``
1024, ``POSTBACK_ALLOWED_PORTS`` (80, 443, 8080, 8443), ``ALLOW_PRIVATE_POSTBACKS``.
"""
import http.client
import logging
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from flask import current_app, has_app_context
from rq import Queue
from rq.job import Job, JobStatus

from ..db import CompiledQuery, Slot, db
from ..models import Merchant, Postback, utcnow
from ..services import netguard
from ..services import postbacks as service
from . import redis_connection
from .worker import with_db

log = logging.getLogger(__name__)

QUEUE = "postbacks"
QUEUE_KEY = Queue.redis_queue_namespace_prefix + QUEUE
USER_AGENT = "Backoffice-Postbacks/1.0"
DRAIN_LOCK_KEY = "backoffice:postbacks:drain-lock"
LIVE_STATUSES = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}

DEFAULTS = {
    "POSTBACK_TIMEOUT": 10.0,
    "POSTBACK_BACKOFF": service.DEFAULT_BACKOFF,
    "POSTBACK_JITTER": service.DEFAULT_JITTER,
    "POSTBACK_LEASE_SECONDS": 60,
    "POSTBACK_DRAIN_INTERVAL": 5,
    "POSTBACK_DRAIN_BATCH": 500,
    "POSTBACK_DRAIN_ROUNDS": 20,
    "POSTBACK_BATCH_MIN": 20,
    "POSTBACK_BATCH_SIZE": 25,
    "POSTBACK_FAST_PATH_MAX_QUEUED": 200,
    "POSTBACK_MAX_RESPONSE_BYTES": service.EXCERPT_BYTES,
    "POSTBACK_ALLOWED_PORTS": tuple(sorted(netguard.DEFAULT_ALLOWED_PORTS)),
    "ALLOW_PRIVATE_POSTBACKS": False,
}


def setting(config, name):
    value = config.get(name)
    return DEFAULTS[name] if value is None else value


# --- the HTTP client ----------------------------------------------------------------------

@dataclass
class HttpResult:
    status: int = None
    body: bytes = b""
    error: str = None
    duration_ms: int = 0
    connected: bool = False
    refusal: str = None  # the guard's reason code when the URL was refused


class _PinnedMixin:
    """Connect to the addresses the guard checked (no second lookup), with a deadline."""

    def _setup_pin(self, addresses, deadline):
        self._addresses = addresses
        self._deadline = deadline
        self._raw = None
        self.aborted = False
        self.connected = False

    def _remaining(self):
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        return remaining

    def _connect_raw(self):
        last = None
        for family, address in self._addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self._remaining())
                sock.connect((address, self.port))
            except OSError as exc:
                sock.close()
                last = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._raw = sock
            self.connected = True
            if self.aborted:  # the watchdog fired while we were connecting
                raise TimeoutError("timed out")
            return sock
        raise last or OSError("no address to connect to")

    def abort(self):
        """Called by the watchdog at the deadline: unblock any read or write."""
        self.aborted = True
        raw = self._raw
        if raw is not None:
            try:
                raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def refresh_timeout(self):
        if self.sock is not None:
            self.sock.settimeout(self._remaining())


class PinnedHTTPConnection(_PinnedMixin, http.client.HTTPConnection):
    def __init__(self, host, port, addresses, deadline):
        super().__init__(host, port)
        self._setup_pin(addresses, deadline)

    def connect(self):
        self.sock = self._connect_raw()


class PinnedHTTPSConnection(_PinnedMixin, http.client.HTTPSConnection):
    """TLS to the checked address; SNI and certificate checks use the URL's host name."""

    def __init__(self, host, port, addresses, deadline, context=None):
        super().__init__(host, port, context=context or ssl.create_default_context())
        self._setup_pin(addresses, deadline)

    def connect(self):
        raw = self._connect_raw()
        raw.settimeout(self._remaining())
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def post(url, body, headers, timeout=10.0, allow_private=False, allowed_ports=None, max_bytes=1024,
         ssl_context=None):
    """POST ``body`` to ``url`` through the SSRF guard; never follows redirects.

    ``timeout`` bounds the whole exchange (connect, TLS, send, headers, body): a
    watchdog shuts the socket down at the deadline, so a server that drips bytes
    cannot hold a worker. At most ``max_bytes`` of the answer are read.
    """
    started = time.monotonic()
    deadline = started + timeout
    result = HttpResult()

    def done():
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    try:
        target = netguard.check_url(url, allow_private=allow_private, allowed_ports=allowed_ports)
    except netguard.BlockedDestination as exc:
        result.error = f"refused: {exc}"
        result.refusal = exc.reason
        return done()
    if target.scheme == "https":
        conn = PinnedHTTPSConnection(target.host, target.port, target.addresses, deadline, ssl_context)
    else:
        conn = PinnedHTTPConnection(target.host, target.port, target.addresses, deadline)
    watchdog = threading.Timer(timeout, conn.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        send_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Connection": "close"}
        send_headers.update(headers)
        conn.request("POST", target.path, body=body, headers=send_headers)
        conn.refresh_timeout()
        response = conn.getresponse()
        result.status = response.status
        conn.refresh_timeout()
        result.body = response.read(max_bytes) if max_bytes else b""
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        if conn.aborted or isinstance(exc, (TimeoutError, socket.timeout)):
            result.error = f"timeout after {timeout:g} s"
        else:
            result.error = f"{type(exc).__name__}: {exc}"
        if result.status is not None and conn.aborted:
            result.status = None  # an answer cut at the deadline is not an answer
    finally:
        watchdog.cancel()
        result.connected = conn.connected
        conn.close()
    if result.status is not None and 300 <= result.status < 400 and result.error is None:
        result.error = f"redirect ({result.status}) not followed"
    return done()


# --- enqueueing ---------------------------------------------------------------------------

def job_id_for(postback_id, delivery, attempts):
    return f"postback-{postback_id}-{delivery}-{attempts}"


def _config(config=None):
    if config is not None:
        return config
    if has_app_context():
        return current_app.config
    raise RuntimeError("postback jobs need an app config (pass config= or push an app context)")


def _enqueue(conn, postback_id, delivery, attempts, config):
    queue = Queue(QUEUE, connection=conn)
    timeout = float(setting(config, "POSTBACK_TIMEOUT"))
    return queue.enqueue(
        deliver, postback_id, delivery, attempts,
        job_id=job_id_for(postback_id, delivery, attempts),
        job_timeout=int(timeout) + 30,
        result_ttl=0,  # the attempt log in the database is the record
        failure_ttl=24 * 3600,
        description=f"postback {postback_id} delivery {delivery} attempt {attempts + 1}",
    )


def enqueue_after_commit(postback, config=None):
    """Enqueue the next attempt of a postback that is committed; the job, or None.

    Call it after the ``db.atomic()`` block that wrote (or resent) the postback, never
    inside it (the job could run before the commit and find nothing). A Redis error
    is logged and swallowed: the outbox drain will deliver the postback.
    """
    if db.in_transaction():
        raise RuntimeError("enqueue_after_commit() called inside a transaction: call it after the commit")
    config = _config(config)
    try:
        return _enqueue(redis_connection(config), postback.id, postback.delivery, postback.attempts, config)
    except Exception:  # noqa: BLE001 - the outbox row is the durable record
        log.warning("could not enqueue postback %s; the drain will send it", postback.id, exc_info=True)
        return None


def enqueue_on_commit(postback):
    """Enqueue the postback the moment the surrounding transaction commits.

    ``services.postbacks.create_event`` calls this for every event, so no caller has
    to remember the fast path: peewee runs the callback after the outermost COMMIT
    (never after a rollback). Outside an app context (nothing to reach Redis with)
    the drain alone delivers it.
    """
    from flask import current_app, has_app_context

    if not has_app_context():
        return
    config = current_app.config
    ident = (postback.id, postback.delivery, postback.attempts)

    def _fast_path():
        try:
            conn = redis_connection(config)
            if conn.llen(QUEUE_KEY) >= int(setting(config, "POSTBACK_FAST_PATH_MAX_QUEUED")):
                return  # a backlog: the drain sends it in a batch, cheaper than a job each
            _enqueue(conn, *ident, config)
        except Exception:  # noqa: BLE001 - the outbox row is the durable record
            log.warning("could not enqueue postback %s; the drain will send it", ident[0], exc_info=True)

    db.after_commit(_fast_path)


# --- the jobs -----------------------------------------------------------------------------

@with_db
def deliver(postback_id, delivery, attempts):
    """One attempt of one postback (an RQ job). Returns the new status, or "skipped"."""
    config = _config()
    postback = service.claim(postback_id, delivery, attempts, setting(config, "POSTBACK_LEASE_SECONDS"))
    if postback is None:
        return "skipped"  # sent, resent, not due, or another worker holds the lease
    return _send(postback, config)


@with_db
def deliver_batch(items, reservation):
    """The next attempt of each postback of a batch the drain reserved (an RQ job).

    ``items``: ``(id, delivery, attempts)`` rows of one merchant; ``reservation``: the
    lease the drain gave them. Each is claimed on that reservation and sent in turn,
    exactly as :func:`deliver` sends one. Returns ``{status: count}``.
    """
    config = _config()
    lease_seconds = setting(config, "POSTBACK_LEASE_SECONDS")
    outcome = {}
    for postback_id, delivery, attempts in items:
        postback = service.claim(postback_id, delivery, attempts, lease_seconds, reservation=reservation)
        status = "skipped" if postback is None else _send(postback, config)
        outcome[status] = outcome.get(status, 0) + 1
    return outcome


_MERCHANT = CompiledQuery(lambda: Merchant.select(
    Merchant.postback_url, Merchant.postback_secret, Merchant.previous_postback_secret,
    Merchant.previous_postback_secret_until,
).where(Merchant.id == Slot("id")).limit(1))


def _send(postback, config):
    """Send a claimed postback, log the attempt, move it on; the new status."""
    merchant = _MERCHANT.first(id=postback.merchant_id)
    from ..services.settings import signing_secrets  # two secrets during a rotation's grace period

    url, secret = merchant.postback_url, signing_secrets(merchant)
    body = postback.payload.encode("utf-8")
    if not url:
        result = HttpResult(error="no postback URL is set")
    else:
        headers = service.signature_headers(secret, postback.event_id, body)
        result = post(
            url, body, headers,
            timeout=float(setting(config, "POSTBACK_TIMEOUT")),
            allow_private=bool(setting(config, "ALLOW_PRIVATE_POSTBACKS")),
            allowed_ports=setting(config, "POSTBACK_ALLOWED_PORTS"),
            max_bytes=int(setting(config, "POSTBACK_MAX_RESPONSE_BYTES")),
        )
    status, delay = service.record_attempt(
        postback, http_status=result.status, error=result.error, duration_ms=result.duration_ms, body=result.body,
        schedule=setting(config, "POSTBACK_BACKOFF"), jitter=setting(config, "POSTBACK_JITTER"),
    )
    if status == "pending" and delay == 0:
        try:
            _enqueue(redis_connection(config), postback.id, postback.delivery, postback.attempts, config)
        except Exception:  # noqa: BLE001
            log.warning("could not enqueue the retry of postback %s; the drain will", postback.id, exc_info=True)
    return status


@with_db
def drain(limit=None):
    """Enqueue every postback that is due and has no live job (the periodic sweep).

    Returns how many were enqueued. Concurrent drains (one per worker may be
    scheduled) skip while another holds the drain lock.
    """
    config = _config()
    conn = redis_connection(config)
    lease_seconds = float(setting(config, "POSTBACK_LEASE_SECONDS"))
    token = secrets.token_hex(8)
    if not conn.set(DRAIN_LOCK_KEY, token, nx=True, px=int(max(lease_seconds, 30) * 1000)):
        return 0
    try:
        return _drain(conn, config, int(limit or setting(config, "POSTBACK_DRAIN_BATCH")), lease_seconds)
    finally:
        if conn.get(DRAIN_LOCK_KEY) == token.encode():
            conn.delete(DRAIN_LOCK_KEY)


def due_postbacks(now, limit):
    """Pending postbacks whose next attempt is due and that no worker holds, as
    ``(id, delivery, attempts, merchant_id)``."""
    return list(
        Postback.select(Postback.id, Postback.delivery, Postback.attempts, Postback.merchant)
        .where(
            (Postback.status == "pending")
            & (Postback.next_attempt_at <= now)
            & (Postback.locked_until.is_null() | (Postback.locked_until < now))
        )
        .order_by(Postback.next_attempt_at)
        .limit(limit)
        .tuples()
    )


def _without_live_job(conn, rows, lease_seconds):
    """The rows whose attempt has no queued or recently started job."""
    import datetime

    jobs = Job.fetch_many([job_id_for(*row[:3]) for row in rows], connection=conn)
    aware_now = datetime.datetime.now(datetime.timezone.utc)
    free = []
    for row, job in zip(rows, jobs):
        if job is not None:
            status = job.get_status(refresh=False)
            if status in LIVE_STATUSES:
                continue
            if status == JobStatus.STARTED and job.started_at is not None and (
                (aware_now - job.started_at).total_seconds() < lease_seconds
            ):
                continue  # running, about to claim
            job.delete()  # ended without moving the row on, or its worker died
        free.append(row)
    return free


def _drain(conn, config, limit, lease_seconds):
    """Enqueue what is due: one job per postback when few are, batches when many are.

    A backlog (``POSTBACK_BATCH_MIN`` or more postbacks due without a job: after a
    burst, a Redis restart, a receiver that was down) goes out in batch jobs of up to
    ``POSTBACK_BATCH_SIZE`` postbacks of one merchant each (a slow merchant only
    slows its own postbacks), which costs RQ one job per batch instead of one per
    postback. Rounds repeat while they reserve whole pages of ``limit`` rows.
    """
    batch_min = int(setting(config, "POSTBACK_BATCH_MIN"))
    batch_size = int(setting(config, "POSTBACK_BATCH_SIZE"))
    enqueued = 0
    for _round in range(int(setting(config, "POSTBACK_DRAIN_ROUNDS"))):
        now = utcnow()
        rows = due_postbacks(now, limit)
        free = _without_live_job(conn, rows, lease_seconds) if rows else []
        if len(free) < batch_min:
            for row in free:
                _enqueue(conn, *row[:3], config)
            enqueued += len(free)
            break
        by_merchant = {}
        for row in free:
            by_merchant.setdefault(row[3], []).append(row[0])
        for ids in by_merchant.values():
            for start in range(0, len(ids), batch_size):
                reservation, items = service.reserve(ids[start:start + batch_size], lease_seconds, now=now)
                if items:
                    _enqueue_batch(conn, items, reservation, config)
                    enqueued += len(items)
        if len(rows) < limit:
            break
    if enqueued:
        log.info("postback drain enqueued %d postback(s)", enqueued)
    return enqueued


def _enqueue_batch(conn, items, reservation, config):
    timeout = float(setting(config, "POSTBACK_TIMEOUT"))
    return Queue(QUEUE, connection=conn).enqueue(
        deliver_batch, items, reservation,
        job_timeout=int(len(items) * (timeout + 5)) + 30,
        result_ttl=0, failure_ttl=24 * 3600,
        description=f"postbacks {items[0][0]}…{items[-1][0]} ({len(items)})",
    )


def register_cron(scheduler, config):
    """Register the drain on an ``rq.cron.CronScheduler`` (done by the worker)."""
    return scheduler.register(
        drain, QUEUE, interval=max(1, int(setting(config, "POSTBACK_DRAIN_INTERVAL"))),
        job_timeout=300, result_ttl=60, name="backoffice.postbacks.drain",
    )
