"""The pending-activation sweep, run as a real RQ job."""
import datetime

from backoffice.jobs.worker import BackofficeSimpleWorker as SimpleWorker  # noqa: N814 - ends at once

import factories
from backoffice.queues import queue, redis_connection
from backoffice.jobs.deposits import expire_pending_activations
from backoffice.models import PendingActivation, utcnow


def test_expiry_sweep_runs_as_a_job(app, conn):
    m = factories.merchant(delayed_activation=True)
    ps = factories.payment_system()
    old = PendingActivation.create(merchant=m, payment_system=ps, transaction_number="OLD", label="v",
                                   expires_at=utcnow() - datetime.timedelta(minutes=1))
    fresh = PendingActivation.create(merchant=m, payment_system=ps, transaction_number="NEW", label="v",
                                     expires_at=utcnow() + datetime.timedelta(minutes=29))
    q = queue(app.config)
    job = q.enqueue(expire_pending_activations)
    with app.app_context():
        SimpleWorker([q], connection=redis_connection(app.config)).work(burst=True)
    job.refresh()
    assert job.return_value() == 1
    assert PendingActivation.get_by_id(old.id).status == "expired"
    assert PendingActivation.get_by_id(fresh.id).status == "waiting"


def test_the_worker_schedules_the_sweep(app):
    from rq.cron import CronScheduler

    from backoffice.jobs.deposits import register_cron

    scheduler = CronScheduler(connection=redis_connection(app.config))
    job = register_cron(scheduler, app.config)
    assert job.func is expire_pending_activations or job.func_name.endswith("expire_pending_activations")
    assert job.interval == 60 and job.queue_name == "default"
