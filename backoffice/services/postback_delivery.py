"""Postback delivery: what the worker's delivery dispatcher does, in plain functions.

* :func:`post` — the HTTP client: one POST through the SSRF guard
  (``services.netguard``) to the address it checked (a pinned connection, no second
  lookup), bounded in time by a watchdog and in size, never following redirects;
* :func:`due_deliveries` / :func:`dispatch` — what to send now: due deliveries taken
  round-robin across endpoints, within each endpoint's and merchant's in-flight caps,
  honouring each endpoint's circuit breaker; claimed with one UPDATE;
* :func:`send` — one claimed attempt: sign the frozen payload with the endpoint's
  secret(s), POST it, log the attempt and move the delivery and its endpoint on
  (``services.postbacks.record_attempt``);
* :func:`deliver_due` — everything due now, a round at a time (a burst worker, tests).

The outbox guarantee: the database is the record. A dispatcher wakes on a Redis
signal after each commit that wrote deliveries, and scans the table every
``POSTBACK_DISPATCH_INTERVAL`` seconds anyway; a worker that dies mid-delivery
leaves a lease that runs out (``POSTBACK_LEASE_SECONDS``), then the delivery is due
again. A flushed Redis loses wake-ups, never deliveries.

``backoffice.jobs.postbacks`` runs the dispatcher's loop in each worker.
"""
import http.client
import re
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from concurrent.futures import ThreadPoolExecutor

from .. import delivery_errors, queues
from ..db import ASYNC_COMMIT_SQL, CompiledQuery, Slot, db, is_postgres
from ..models import Postback, WebhookEndpoint, utcnow
from . import netguard
from . import postbacks as service
from .webhooks import signing_secrets

log = logging.getLogger(__name__)

USER_AGENT = "Backoffice-Postbacks/1.0"
DISPATCH_LOCK_KEY = "backoffice:postbacks:dispatch-lock"
DISPATCH_LOCK_TRIES = 50  # 10 ms apart: choosing takes a few ms, so a turn comes soon
setting = service.setting


# --- the HTTP client ----------------------------------------------------------------------

@dataclass
class HttpResult:
    status: int = None
    body: bytes = b""
    error: str = None  # "<code>: <detail>" (``backoffice.delivery_errors``)
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
        result.error = delivery_errors.refused(exc.reason, exc)
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
            result.error = delivery_errors.timed_out(timeout)
        else:
            result.error = delivery_errors.for_exception(exc)  # a code and its text, never a class name
        if result.status is not None and conn.aborted:
            result.status = None  # an answer cut at the deadline is not an answer
    finally:
        watchdog.cancel()
        result.connected = conn.connected
        conn.close()
    if result.status is not None and 300 <= result.status < 400 and result.error is None:
        result.error = delivery_errors.redirect(result.status)
    return done()


# --- one attempt ---------------------------------------------------------------------------

_ENDPOINT = CompiledQuery(lambda: WebhookEndpoint.select(
    WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.secret, WebhookEndpoint.previous_secret,
    WebhookEndpoint.previous_secret_until,
).where(WebhookEndpoint.id == Slot("id")).limit(1))


def deliver(config, postback_id, delivery, attempts, now=None):
    """Claim one attempt and send it; the new status, or "skipped" when it is not ours
    (sent, resent, not due, or another worker holds the lease)."""
    postback = service.claim(postback_id, delivery, attempts, setting(config, "POSTBACK_LEASE_SECONDS"), now=now)
    if postback is None:
        return "skipped"
    return send(postback, config, now=now)


def send(postback, config, now=None):
    """Send a claimed delivery to its endpoint, log the attempt, move it on; the new status."""
    endpoint = _ENDPOINT.first(id=postback.endpoint_id) if postback.endpoint_id is not None else None
    body = postback.payload.encode("utf-8")
    if endpoint is None:
        result = HttpResult(error=delivery_errors.NO_ENDPOINT_TEXT)
    else:
        # Two signatures during a rotation's grace period (SPEC §10).
        headers = service.signature_headers(signing_secrets(endpoint, now), postback.event_id, body)
        result = post(
            endpoint.url, body, headers,
            timeout=float(setting(config, "POSTBACK_TIMEOUT")),
            allow_private=bool(setting(config, "ALLOW_PRIVATE_POSTBACKS")),
            allowed_ports=setting(config, "POSTBACK_ALLOWED_PORTS"),
            max_bytes=int(setting(config, "POSTBACK_MAX_RESPONSE_BYTES")),
        )
    status, _delay = service.record_attempt(
        postback, http_status=result.status, error=result.error, duration_ms=result.duration_ms, body=result.body,
        schedule=setting(config, "POSTBACK_BACKOFF"), jitter=setting(config, "POSTBACK_JITTER"), now=now,
        circuit_failures=int(setting(config, "POSTBACK_CIRCUIT_FAILURES")),
    )
    return status


# --- choosing what to send: round-robin, caps, the circuit breaker ---------------------------

# Each open endpoint's first due deliveries. PostgreSQL: a LATERAL join walks the
# (endpoint, status, next_attempt_at) index a few rows per endpoint, whatever the
# backlog. SQLite (no LATERAL): a window over the due rows.
_RANKED = {
    "postgres": """
    SELECT p.id, p.delivery, p.attempts, p.endpoint_id, p.merchant_id, p.next_attempt_at, o.room,
           ROW_NUMBER() OVER (PARTITION BY p.endpoint_id ORDER BY p.next_attempt_at, p.id) AS rn
    FROM open_endpoint AS o CROSS JOIN LATERAL (
        SELECT q.id, q.delivery, q.attempts, q.endpoint_id, q.merchant_id, q.next_attempt_at FROM postback AS q
        WHERE q.endpoint_id = o.id AND q.status = 'pending' AND q.next_attempt_at <= {now}
          AND (q.locked_until IS NULL OR q.locked_until < {now})
        ORDER BY q.next_attempt_at LIMIT {endpoint_cap}) AS p
    WHERE o.room > 0""",
    "sqlite": """
    SELECT p.id, p.delivery, p.attempts, p.endpoint_id, p.merchant_id, p.next_attempt_at, o.room,
           ROW_NUMBER() OVER (PARTITION BY p.endpoint_id ORDER BY p.next_attempt_at, p.id) AS rn
    FROM postback AS p JOIN open_endpoint AS o ON o.id = p.endpoint_id
    WHERE o.room > 0 AND p.status = 'pending' AND p.next_attempt_at <= {now}
      AND (p.locked_until IS NULL OR p.locked_until < {now})""",
}

_DUE_SQL = """
WITH busy AS (
    SELECT p.endpoint_id, p.merchant_id, COUNT(*) AS n FROM postback AS p
    WHERE p.locked_until > {now} AND p.status = 'pending' AND p.endpoint_id IS NOT NULL
    GROUP BY p.endpoint_id, p.merchant_id
), busy_merchant AS (
    SELECT merchant_id, SUM(n) AS n FROM busy GROUP BY merchant_id
), open_endpoint AS (
    SELECT e.id, (CASE WHEN e.consecutive_failures >= {threshold} THEN 1 ELSE {endpoint_cap} END)
                 - COALESCE(b.n, 0) AS room
    FROM webhook_endpoint AS e LEFT JOIN busy AS b ON b.endpoint_id = e.id
    WHERE e.enabled = {true} AND (e.circuit_until IS NULL OR e.circuit_until <= {now})
), ranked AS ({ranked}
), allowed AS (
    SELECT r.id, r.delivery, r.attempts, r.endpoint_id, r.merchant_id, r.next_attempt_at, r.rn,
           ROW_NUMBER() OVER (PARTITION BY r.merchant_id ORDER BY r.rn, r.next_attempt_at, r.id) AS mrn
    FROM ranked AS r WHERE r.rn <= r.room
)
SELECT a.id, a.delivery, a.attempts, a.endpoint_id FROM allowed AS a
LEFT JOIN busy_merchant AS bm ON bm.merchant_id = a.merchant_id
WHERE a.mrn <= {merchant_cap} - COALESCE(bm.n, 0)
ORDER BY a.mrn, a.rn, a.next_attempt_at, a.id
LIMIT {limit}
"""


def due_deliveries(config, now, limit):
    """The deliveries to send now, as ``(id, delivery, attempts, endpoint_id)``.

    Fairness (SPEC §10): due deliveries are taken round-robin (every endpoint's
    first due delivery, then every endpoint's second, …), never more than
    ``POSTBACK_ENDPOINT_IN_FLIGHT`` at once per endpoint nor
    ``POSTBACK_MERCHANT_IN_FLIGHT`` per merchant (counting those in flight), so a
    slow or dead endpoint holds at most its cap of the worker's threads. An endpoint
    whose circuit is open (``POSTBACK_CIRCUIT_FAILURES`` failures in a row) sends
    nothing before ``circuit_until`` and then one delivery at a time: the probe.
    Disabled endpoints send nothing.
    """
    param = db.obj.param
    names = ("now", "threshold", "endpoint_cap", "true", "merchant_cap", "limit")
    stamp = Postback.next_attempt_at.db_value(now)
    known = {"now": stamp, "threshold": int(setting(config, "POSTBACK_CIRCUIT_FAILURES")),
             "endpoint_cap": int(setting(config, "POSTBACK_ENDPOINT_IN_FLIGHT")), "true": True,
             "merchant_cap": int(setting(config, "POSTBACK_MERCHANT_IN_FLIGHT")), "limit": int(limit)}
    text = _DUE_SQL.replace("{ranked}", _RANKED["postgres" if is_postgres() else "sqlite"])
    # The values in the order their placeholders appear in the text.
    order = sorted((m.start(), name) for name in names for m in re.finditer("{" + name + "}", text))
    values = [known[name] for _pos, name in order]
    sql = text.format(**{name: param for name in names})
    return [tuple(row) for row in db.execute_sql(sql, values).fetchall()]


def dispatch(config, free, now=None):
    """Claim up to ``free`` deliveries to send now (see :func:`due_deliveries`); the
    claimed rows, each with its lease.

    Dispatchers of several workers take turns (a short Redis lock), so the caps hold
    across them; without Redis each still claims safely (the claim is a conditional
    UPDATE), the caps then hold per worker.
    """
    if free <= 0:
        return []
    now = now or utcnow()
    lease = float(setting(config, "POSTBACK_LEASE_SECONDS"))
    try:
        lock = queues.SweepLock(config, DISPATCH_LOCK_KEY, 5)
        held = lock.__enter__()
        for _try in range(DISPATCH_LOCK_TRIES):  # another dispatcher is choosing: a few ms
            if held:
                break
            time.sleep(0.01)
            held = lock.__enter__()
    except Exception:  # noqa: BLE001 - Redis away: the database still guards every claim
        lock, held = None, True
    if not held:
        return []
    try:
        rows = due_deliveries(config, now, free)
        return service.claim_due([row[0] for row in rows], lease, now=now)
    finally:
        if lock is not None:
            try:
                lock.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - it runs out by itself
                pass


def send_in_thread(postback, config, now=None):
    """:func:`send` in a pool thread, on a connection of its own for the delivery
    (handed back to the pool afterwards: a thread that ends keeps none)."""
    opened = db.connect(reuse_if_open=True)
    if opened and is_postgres():
        # As the worker's jobs: an attempt's record lost in a server crash only means the
        # delivery is sent again with the same event id (at least once, by design).
        db.execute_sql(ASYNC_COMMIT_SQL)
    try:
        return send(postback, config, now=now)
    except Exception:  # noqa: BLE001 - its lease runs out and it is sent again
        log.exception("delivery %s failed; its lease runs out and it is sent again", postback.id)
        return "failed"
    finally:
        if opened and not db.is_closed():
            db.close()


def deliver_due(config, now=None, threads=None, max_rounds=10000):
    """Send everything due now (and the immediate retries that follows), round by round,
    ``threads`` at a time (``POSTBACK_CONCURRENCY``; 0: in this thread); returns
    ``{status: count}``. What a burst worker does first; tests and scripts use it too.
    """
    threads = int(setting(config, "POSTBACK_CONCURRENCY") if threads is None else threads)
    outcome = {}
    pool = ThreadPoolExecutor(threads, thread_name_prefix="postbacks") if threads else None
    try:
        for _round in range(max_rounds):
            claimed = dispatch(config, max(threads, 1), now)
            if not claimed:
                break
            if pool is None:
                statuses = [send(pb, config, now=now) for pb in claimed]
            else:
                statuses = list(pool.map(lambda pb: send_in_thread(pb, config, now), claimed))
            for status in statuses:
                outcome[status] = outcome.get(status, 0) + 1
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return outcome
