"""Periodic jobs of the deposits core."""
from ..db import with_db
from ..queues import current_config
from ..services import activation, attempts, plugin_sessions

EXPIRY_INTERVAL = 60  # seconds
ATTEMPT_PURGE_INTERVAL = 86400


@with_db
def expire_pending_activations():
    """Delayed activation: entries nobody reported in time become 'expired'."""
    return activation.expire_pending()


@with_db
def purge_activation_attempts():
    """Delete the activation attempts past their retention (180 days); how many."""
    return attempts.purge(current_config())


@with_db
def purge_plugin_sessions():
    """Delete the plugin sessions expired more than a week ago; how many."""
    return plugin_sessions.remove_old()


def register_cron(scheduler, config):
    """Register the pending-activation sweep (returned), the attempt log's retention
    sweep and the old plugin sessions' on the worker's ``rq.cron`` scheduler."""
    scheduler.register(purge_plugin_sessions, "default", interval=ATTEMPT_PURGE_INTERVAL, job_timeout=600,
                       result_ttl=86400, name="backoffice.deposits.purge_plugin_sessions")
    scheduler.register(purge_activation_attempts, "default", interval=ATTEMPT_PURGE_INTERVAL, job_timeout=3600,
                       result_ttl=86400, name="backoffice.deposits.purge_attempts")
    return scheduler.register(
        expire_pending_activations, "default",
        interval=config.get("PENDING_EXPIRY_INTERVAL", EXPIRY_INTERVAL), job_timeout=120, result_ttl=60,
        name="backoffice.deposits.expire_pending",
    )
