"""The daily ledger check, run as a real RQ job and scheduled by the worker."""
import datetime

from ledger_verify_support import booked_merchant, change_an_entry
from backoffice.jobs.worker import BackofficeSimpleWorker as SimpleWorker  # noqa: N814 - ends at once
from rq.cron import CronScheduler

from backoffice.jobs.ledger import register_cron, verify_ledger
from backoffice.jobs.worker import CronThread
from backoffice.models import AuditLog, utcnow
from backoffice.queues import queue, redis_connection
from backoffice.services import ledger_verify


def run_job(app, **kwargs):
    q = queue(app.config)
    job = q.enqueue(verify_ledger, kwargs=kwargs)
    with app.app_context():
        SimpleWorker([q], connection=redis_connection(app.config)).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished", job.latest_result()
    return job.return_value()


def checks():
    return list(AuditLog.select().where(AuditLog.action == "ledger.verify").order_by(AuditLog.id))


def test_the_job_records_each_check(app, conn):
    m = booked_merchant("Job Shop", 21)
    assert run_job(app) == 0
    [clean] = checks()
    assert clean.summary["consistent"] is True and clean.summary["merchant_id"] is None

    change_an_entry(m)
    assert run_job(app) == 1
    failed = checks()[-1]
    assert failed.summary["consistent"] is False
    assert failed.summary["outstanding"] == [{"merchant_id": m.id, "merchant": "Job Shop", "currency": "BDT"}]
    assert ledger_verify.latest_state().has_differences


def test_a_scheduled_run_skips_when_a_full_check_is_recent(app, conn):
    booked_merchant("Recent", 22)
    assert run_job(app, min_age=3600) == 0  # never checked: due
    assert run_job(app, min_age=3600) is None  # checked a moment ago: skipped
    assert len(checks()) == 1
    AuditLog.update(created_at=utcnow() - datetime.timedelta(hours=2)).execute()
    assert run_job(app, min_age=3600) == 0
    assert len(checks()) == 2


def test_the_worker_schedules_the_check_daily(app):
    job = register_cron(CronScheduler(connection=redis_connection(app.config)), app.config)
    assert job.func is verify_ledger and job.queue_name == "default"
    assert job.interval == 86400 and job.kwargs == {"min_age": 43200}
    app.config["LEDGER_VERIFY_INTERVAL"] = 600
    assert register_cron(CronScheduler(connection=redis_connection(app.config)), app.config).interval == 600
    # The worker's cron thread registers it beside the other periodic jobs.
    names = [j.name for j in CronThread(app).scheduler.get_jobs()]
    assert "backoffice.ledger.verify" in names
