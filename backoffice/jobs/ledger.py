"""The daily ledger check (SPEC §9): ``ledger verify`` as a periodic job.

Thin: the rule and its record are ``services.ledger_verify.check`` (the command
``backoffice ledger verify`` runs the same); a difference found raises the operators'
banner until a later check is clean.

``rq.cron`` runs an interval job as soon as a worker starts, then every interval, and
every worker registers it: the scheduled runs pass ``min_age`` (half the interval), so
a worker (re)started soon after a full check does not read the whole history again.
"""
from ..db import with_db
from ..services import ledger_verify

VERIFY_INTERVAL = 86400  # seconds: daily


@with_db
def verify_ledger(min_age=None):
    """Check every merchant's balances and record the run; returns how many
    differences were found (None: skipped, a full check ran less than ``min_age``
    seconds ago)."""
    if min_age is not None and not ledger_verify.check_due(min_age):
        return None
    return len(ledger_verify.check())


def register_cron(scheduler, config):
    """Register the check on the worker's ``rq.cron`` scheduler, every
    ``LEDGER_VERIFY_INTERVAL`` seconds (default a day)."""
    interval = int(config.get("LEDGER_VERIFY_INTERVAL") or VERIFY_INTERVAL)
    return scheduler.register(
        verify_ledger, "default", kwargs={"min_age": interval // 2},
        interval=interval, job_timeout=3600, result_ttl=86400,
        name="backoffice.ledger.verify",
    )
