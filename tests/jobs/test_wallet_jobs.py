"""The silent-wallet sweep (SPEC §12, issue 19), run as a real RQ job."""
import datetime

from backoffice.jobs.worker import BackofficeSimpleWorker as SimpleWorker  # noqa: N814 - ends at once

import factories
from backoffice.jobs.wallets import pause_silent_wallets
from backoffice.models import AuditLog, Wallet, utcnow
from backoffice.queues import queue, redis_connection


def test_the_sweep_pauses_the_silent_wallets_that_chose_it_as_a_job(app, conn):
    app.config["WALLET_SILENT_MINUTES"] = 15
    m = factories.merchant(timezone="Asia/Dhaka")
    ps = factories.payment_system()
    now = utcnow()
    silent_auto, silent_watched, recent_auto = (factories.wallet(m, ps) for _ in range(3))
    Wallet.update(auto_pause=True).where(Wallet.id.in_([silent_auto.id, recent_auto.id])).execute()
    # Shown for 20 minutes without a report: silent by the 15-minute setting (not by the default 30).
    Wallet.update(offered_since=now - datetime.timedelta(minutes=20), last_offered_at=now - datetime.timedelta(
        minutes=1)).where(Wallet.id.in_([silent_auto.id, silent_watched.id])).execute()
    Wallet.update(offered_since=now - datetime.timedelta(minutes=10), last_offered_at=now - datetime.timedelta(
        minutes=1)).where(Wallet.id == recent_auto.id).execute()
    q = queue(app.config)
    job = q.enqueue(pause_silent_wallets)
    with app.app_context():
        SimpleWorker([q], connection=redis_connection(app.config)).work(burst=True)
    job.refresh()
    assert job.return_value() == 1
    assert (Wallet.get_by_id(silent_auto.id).paused, Wallet.get_by_id(silent_auto.id).paused_reason) == (
        True, "silent")
    assert not Wallet.get_by_id(silent_watched.id).paused and not Wallet.get_by_id(recent_auto.id).paused
    assert AuditLog.select().where(AuditLog.action == "wallet.paused_silent").count() == 1
    # Again: nothing left to pause.
    job = q.enqueue(pause_silent_wallets)
    with app.app_context():
        SimpleWorker([q], connection=redis_connection(app.config)).work(burst=True)
    job.refresh()
    assert job.return_value() == 0


def test_the_worker_schedules_the_sweep_every_minute(app):
    from rq.cron import CronScheduler

    from backoffice.jobs.wallets import register_cron

    scheduler = CronScheduler(connection=redis_connection(app.config))
    job = register_cron(scheduler, app.config)
    assert job.func is pause_silent_wallets or job.func_name.endswith("pause_silent_wallets")
    assert job.interval == 60 and job.queue_name == "default"


def test_the_workers_cron_thread_registers_the_sweep(app):
    from backoffice.jobs.worker import CronThread

    thread = CronThread(app)  # not started: its scheduler as the worker builds it
    sweeps = [j for j in thread.scheduler.get_jobs() if j.func is pause_silent_wallets
              or getattr(j, "func_name", "").endswith("pause_silent_wallets")]
    assert len(sweeps) == 1 and sweeps[0].interval == 60
