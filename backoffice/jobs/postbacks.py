"""Postback delivery jobs (RQ): each loads nothing itself, calls one rule of
``services.postback_delivery`` and lets it record the outcome.

* :func:`deliver` — one attempt of one postback (enqueued by name by
  ``services.postbacks`` after the commit that wrote or resent it, or by the drain);
* :func:`deliver_batch` — the next attempt of each postback of a batch the drain
  reserved;
* :func:`drain` — the periodic outbox sweep, registered on the worker's ``rq.cron``.

Job ids are deterministic (``services.postbacks.job_id_for``), so the drain can tell
whether an attempt already has a live job.
"""
from ..db import with_db
from ..queues import current_config
from ..services import postback_delivery as delivery
from ..services import postbacks as service


@with_db
def deliver(postback_id, delivery_number, attempts):
    """One attempt of one postback. Returns the new status, or "skipped"."""
    return delivery.deliver(current_config(), postback_id, delivery_number, attempts)


@with_db
def deliver_batch(items, reservation):
    """``items``: ``(id, delivery, attempts)`` rows of one merchant; ``reservation``: the
    lease the drain gave them. Each is claimed on that reservation and sent in turn.
    Returns ``{status: count}``."""
    config = current_config()
    outcome = {}
    for postback_id, delivery_number, attempts in items:
        status = delivery.deliver(config, postback_id, delivery_number, attempts, reservation=reservation)
        outcome[status] = outcome.get(status, 0) + 1
    return outcome


@with_db
def drain(limit=None):
    """Enqueue every postback that is due and has no live job; how many."""
    return delivery.drain(current_config(), limit)


def register_cron(scheduler, config):
    """Register the drain on an ``rq.cron.CronScheduler`` (done by the worker)."""
    return scheduler.register(
        drain, service.QUEUE, interval=max(1, int(service.setting(config, "POSTBACK_DRAIN_INTERVAL"))),
        job_timeout=300, result_ttl=60, name="backoffice.postbacks.drain",
    )
