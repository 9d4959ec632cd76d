"""A quiet worker (issue 22, point 10): the cron's periodic jobs log nothing at INFO.

Every RQ job of ours is a periodic housekeeping job; each run used to print four
lines (picked up, completed, OK, result kept), all day long."""
import logging

from backoffice.jobs.worker import BackofficeSimpleWorker, CronThread, RoutineAtDebug, run_worker
from backoffice.queues import queue, redis_connection


def _info_lines(caplog):
    return [(r.name, r.msg) for r in caplog.records if r.levelno >= logging.INFO]


def test_a_cron_tick_and_its_jobs_log_nothing_at_info(app, conn, caplog):
    redis_connection(app.config).flushdb()
    caplog.set_level(logging.INFO)

    # The worker's own lines (start, listening, stop) on an empty queue: the baseline.
    run_worker(app, burst=True, with_cron=False)
    baseline = _info_lines(caplog)
    assert baseline, "the worker says at INFO that it starts and stops"
    caplog.clear()

    # The cron's registration and a tick that enqueues every periodic job…
    cron = CronThread(app)
    enqueued = cron.scheduler.enqueue_jobs()
    assert len(enqueued) >= 4
    assert queue(app.config).count == len(enqueued)
    # …then a worker runs them all.
    run_worker(app, burst=True, with_cron=False)
    assert queue(app.config).count == 0
    assert queue(app.config).finished_job_registry.count == len(enqueued)
    assert _info_lines(caplog) == baseline  # not one line more than an idle start and stop

    # They were logged all the same, at DEBUG.
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    queue(app.config).enqueue("backoffice.jobs.maintenance.ping")
    with app.app_context():
        BackofficeSimpleWorker([queue(app.config)], connection=redis_connection(app.config)).work(
            burst=True, logging_level="DEBUG")
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and r.name == "rq.worker"]
    assert any("Job OK" in line for line in debug)
    assert any("Successfully completed" in line for line in debug)


def test_a_failing_job_still_logs_its_error(app, caplog):
    redis_connection(app.config).flushdb()
    caplog.set_level(logging.INFO)
    queue(app.config).enqueue("backoffice.jobs.maintenance.no_such_job")
    run_worker(app, burst=True, with_cron=False)
    assert any(r.levelno >= logging.ERROR and r.name.startswith("rq") for r in caplog.records)


def test_only_routine_lines_are_lowered():
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append((record.levelno, record.msg))

    logger = logging.getLogger("test.routine")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = Collect()
    logger.addHandler(handler)
    try:
        log = RoutineAtDebug(logger)
        log.info("Worker %s: %s: %s (%s)", "w", "default", "Job OK", "id")
        log.info("Worker %s: started with PID %d, version %s", "w", 1, "3")
        log.warning("Worker %s: cold shut down", "w")
        assert lines == [(logging.DEBUG, "Worker %s: %s: %s (%s)"),
                         (logging.INFO, "Worker %s: started with PID %d, version %s"),
                         (logging.WARNING, "Worker %s: cold shut down")]
        assert log.level == logging.DEBUG and log.name == "test.routine"
    finally:
        logger.removeHandler(handler)
