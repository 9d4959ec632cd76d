"""Periodic jobs of the deposits core."""
from ..db import with_db
from ..services import activation

EXPIRY_INTERVAL = 60  # seconds


@with_db
def expire_pending_activations():
    """Delayed activation: entries nobody reported in time become 'expired'."""
    return activation.expire_pending()


def register_cron(scheduler, config):
    """Register the pending-activation sweep on the worker's ``rq.cron`` scheduler."""
    return scheduler.register(
        expire_pending_activations, "default",
        interval=config.get("PENDING_EXPIRY_INTERVAL", EXPIRY_INTERVAL), job_timeout=120, result_ttl=60,
        name="backoffice.deposits.expire_pending",
    )
