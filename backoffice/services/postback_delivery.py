"""Postback delivery: what the postback jobs do, in plain functions.

* :func:`post` — the HTTP client: one POST through the SSRF guard
  (``services.netguard``) to the address it checked (a pinned connection, no second
  lookup), bounded in time by a watchdog and in size, never following redirects;
* :func:`send` — one claimed attempt: sign the frozen payload, POST it, log the
  attempt and move the postback on (``services.postbacks.record_attempt``); an
  immediate retry is enqueued at once, later ones are left to the drain;
* :func:`drain` — the periodic sweep: every postback that is due, not leased, and
  has no live job is enqueued. A lost job, a killed worker or a flushed Redis loses
  nothing. A backlog goes out in batches (one job for up to
  ``POSTBACK_BATCH_SIZE`` postbacks of one merchant, reserved with one UPDATE),
  since RQ's own cost per job is about what a delivery costs.

``backoffice.jobs.postbacks`` is the thin RQ side: each job calls one of these.
"""
import http.client
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from .. import queues
from ..db import CompiledQuery, Slot
from ..models import Merchant, Postback, utcnow
from . import netguard
from . import postbacks as service
from .merchant_settings import signing_secrets

log = logging.getLogger(__name__)

USER_AGENT = "Backoffice-Postbacks/1.0"
DRAIN_LOCK_KEY = "backoffice:postbacks:drain-lock"
setting = service.setting


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


# --- one attempt ---------------------------------------------------------------------------

_MERCHANT = CompiledQuery(lambda: Merchant.select(
    Merchant.postback_url, Merchant.postback_secret, Merchant.previous_postback_secret,
    Merchant.previous_postback_secret_until,
).where(Merchant.id == Slot("id")).limit(1))


def deliver(config, postback_id, delivery, attempts, reservation=None):
    """Claim one attempt and send it; the new status, or "skipped" when it is not ours
    (sent, resent, not due, another worker holds the lease, or — ``reservation`` —
    no longer held by the drain's reservation for a batch)."""
    postback = service.claim(postback_id, delivery, attempts, setting(config, "POSTBACK_LEASE_SECONDS"),
                             reservation=reservation)
    if postback is None:
        return "skipped"
    return send(postback, config)


def send(postback, config):
    """Send a claimed postback, log the attempt, move it on; the new status."""
    merchant = _MERCHANT.first(id=postback.merchant_id)
    url, secret = merchant.postback_url, signing_secrets(merchant)  # two during a rotation's grace period
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
            service.enqueue_attempt(config, postback.id, postback.delivery, postback.attempts)
        except Exception:  # noqa: BLE001
            log.warning("could not enqueue the retry of postback %s; the drain will", postback.id, exc_info=True)
    return status


# --- the drain -------------------------------------------------------------------------------

def drain(config, limit=None, now=None):
    """Enqueue every postback that is due and has no live job (the periodic sweep).

    Returns how many were enqueued. Concurrent drains (one per worker may be
    scheduled) skip while another holds the drain lock. ``now``: the clock (tests).
    """
    lease_seconds = float(setting(config, "POSTBACK_LEASE_SECONDS"))
    with queues.SweepLock(config, DRAIN_LOCK_KEY, max(lease_seconds, 30)) as held:
        if not held:
            return 0
        return _drain(config, int(limit or setting(config, "POSTBACK_DRAIN_BATCH")), lease_seconds, now)


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


def _without_live_job(config, rows, lease_seconds):
    """The rows whose attempt has no queued or recently started job."""
    free = queues.without_live_job(config, [service.job_id_for(*row[:3]) for row in rows], lease_seconds)
    return [row for row, is_free in zip(rows, free) if is_free]


def _drain(config, limit, lease_seconds, clock=None):
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
        now = clock or utcnow()
        rows = due_postbacks(now, limit)
        free = _without_live_job(config, rows, lease_seconds) if rows else []
        if len(free) < batch_min:
            for row in free:
                service.enqueue_attempt(config, *row[:3])
            enqueued += len(free)
            break
        by_merchant = {}
        for row in free:
            by_merchant.setdefault(row[3], []).append(row[0])
        for ids in by_merchant.values():
            for start in range(0, len(ids), batch_size):
                reservation, items = service.reserve(ids[start:start + batch_size], lease_seconds, now=now)
                if items:
                    service.enqueue_batch(config, items, reservation)
                    enqueued += len(items)
        if len(rows) < limit:
            break
    if enqueued:
        log.info("postback drain enqueued %d postback(s)", enqueued)
    return enqueued
