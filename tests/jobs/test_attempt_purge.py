"""The activation attempt log's retention (SPEC §11, issue 18): attempts older than
``ACTIVATION_ATTEMPT_RETENTION_DAYS`` (180 by default) are deleted by a daily job of
the worker; younger ones stay."""
import datetime

from backoffice.jobs.worker import BackofficeSimpleWorker as SimpleWorker  # noqa: N814 - ends at once

import factories
from backoffice.jobs.deposits import purge_activation_attempts
from backoffice.models import ActivationAttempt, utcnow
from backoffice.queues import queue, redis_connection
from backoffice.services import attempts

NOW = datetime.datetime(2026, 12, 6, 12, 0)


def logged(merchant, ps, age, number=None):
    created = NOW - age
    return ActivationAttempt.create(merchant=merchant, payment_system=ps, transaction_number=number or str(created),
                                    label="v", outcome="not_found", reason="not_found", created_at=created)


def remaining():
    return sorted(a.transaction_number for a in ActivationAttempt.select())


def test_purge_removes_only_attempts_older_than_the_retention(app, conn):
    m, ps = factories.merchant(), factories.payment_system()
    days = datetime.timedelta(days=1)
    logged(m, ps, 400 * days, "ancient")
    logged(m, ps, 180 * days + datetime.timedelta(seconds=1), "just-over")
    logged(m, ps, 180 * days - datetime.timedelta(seconds=1), "just-under")
    logged(m, ps, 10 * days, "recent")
    logged(factories.merchant(), ps, 200 * days, "other-merchant-old")
    assert app.config["ACTIVATION_ATTEMPT_RETENTION_DAYS"] == 180  # the default
    assert attempts.purge(app.config, NOW) == 3
    assert remaining() == ["just-under", "recent"]
    assert attempts.purge(app.config, NOW) == 0  # nothing more to do


def test_the_retention_is_a_setting_and_deletes_in_batches(app, conn):
    m, ps = factories.merchant(), factories.payment_system()
    for i in range(7):
        logged(m, ps, datetime.timedelta(days=31 + i), f"old-{i}")
    logged(m, ps, datetime.timedelta(days=29), "young")
    assert attempts.purge(dict(app.config, ACTIVATION_ATTEMPT_RETENTION_DAYS=180), NOW) == 0
    assert attempts.purge(dict(app.config, ACTIVATION_ATTEMPT_RETENTION_DAYS=30), NOW, batch=3) == 7
    assert remaining() == ["young"]


def test_the_purge_runs_as_a_job(app, conn):
    m, ps = factories.merchant(), factories.payment_system()
    now = utcnow()
    ActivationAttempt.create(merchant=m, payment_system=ps, transaction_number="OLD", outcome="error",
                             reason="bad_signature", created_at=now - datetime.timedelta(days=181))
    ActivationAttempt.create(merchant=m, payment_system=ps, transaction_number="NEW", outcome="not_found",
                             reason="not_found", created_at=now - datetime.timedelta(days=179))
    q = queue(app.config)
    job = q.enqueue(purge_activation_attempts)
    with app.app_context():
        SimpleWorker([q], connection=redis_connection(app.config)).work(burst=True)
    job.refresh()
    assert job.return_value() == 1
    assert remaining() == ["NEW"]


def test_the_worker_schedules_the_purge_daily(app):
    from backoffice.jobs.worker import CronThread

    scheduler = CronThread(app).scheduler  # what the worker registers (not started)
    jobs = [j for j in scheduler.get_jobs() if j.func is purge_activation_attempts]
    assert len(jobs) == 1, [j.func for j in scheduler.get_jobs()]
    assert jobs[0].interval == 86400 and jobs[0].queue_name == "default"
