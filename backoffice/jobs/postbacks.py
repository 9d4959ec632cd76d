"""Webhook delivery in the worker: the dispatcher thread and the periodic sweeps.

* :class:`Dispatcher` — a thread of each worker that keeps up to
  ``POSTBACK_CONCURRENCY`` deliveries in flight, in a pool of threads. It asks
  ``services.postback_delivery.dispatch`` what to send (round-robin across endpoints,
  within the in-flight caps and circuit breakers), and sleeps until a commit wakes it
  (a Redis signal), a delivery ends, or ``POSTBACK_DISPATCH_INTERVAL`` passes
  (retries come due by the clock). A delivery to
  a slow or dead endpoint holds one of its endpoint's two slots, never the worker.
* :func:`auto_disable` (hourly) and :func:`purge_events` (daily) — RQ cron jobs.

Everything it decides and records is the services'; this module only runs them.
"""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from ..db import ASYNC_COMMIT_SQL, db, is_postgres, with_db
from ..queues import current_config, redis_connection, wait_for_wake
from ..services import postback_delivery as delivery
from ..services import postbacks as service
from ..services import webhooks

log = logging.getLogger(__name__)

AUTO_DISABLE_INTERVAL = 3600
PURGE_INTERVAL = 86400


class Dispatcher(threading.Thread):
    """The delivery loop of one worker (a daemon thread; :meth:`stop` ends it).

    One event wakes it: a commit's Redis signal (a listener thread blocks on it), a
    delivery ending (a slot frees), or ``POSTBACK_DISPATCH_INTERVAL`` passing."""

    def __init__(self, app, threads=None):
        super().__init__(name="backoffice-postbacks", daemon=True)
        self.app = app
        config = app.config
        self.threads = int(threads or service.setting(config, "POSTBACK_CONCURRENCY"))
        self.interval = float(service.setting(config, "POSTBACK_DISPATCH_INTERVAL"))
        self.stop_event = threading.Event()
        self.wakeup = threading.Event()
        self.in_flight = set()
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="postbacks")
        self.listener = threading.Thread(target=self._listen, name="backoffice-postbacks-wake", daemon=True)

    def _listen(self):
        """Turn the commits' Redis signals into wake-ups (Redis away: the scan goes on)."""
        conn = redis_connection(self.app.config)
        while not self.stop_event.is_set():
            try:
                if wait_for_wake(conn, service.WAKE_KEY, 1.0):
                    self.wakeup.set()
            except Exception:  # noqa: BLE001
                self.stop_event.wait(self.interval)

    def _done(self, future):
        with self.lock:
            self.in_flight.discard(future)
        self.wakeup.set()

    def _send(self, postback):
        with self.app.app_context():
            return delivery.send_in_thread(postback, self.app.config)

    def round(self):
        """Claim what may be sent now and hand it to the pool; how many.

        Up to twice the threads are claimed (a batch waits in the pool's queue, so a
        thread that ends takes the next at once), and a round runs only once half the
        threads' worth is free: one round per delivery cost more than the delivery
        (docs/benchmarks.md, "Webhooks"). The caps count the queued ones too."""
        with self.lock:
            free = self.threads * 2 - len(self.in_flight)
        if free < max(1, self.threads // 2):
            return 0
        if db.connect(reuse_if_open=True) and is_postgres():
            db.execute_sql(ASYNC_COMMIT_SQL)  # as the worker's jobs: a lost claim is sent again
        try:
            claimed = delivery.dispatch(self.app.config, free)
        except Exception:  # noqa: BLE001 - the database is away: try again next tick
            log.warning("postbacks: dispatch failed", exc_info=True)
            if not db.is_closed():
                db.close()
            return 0
        for postback in claimed:
            future = self.pool.submit(self._send, postback)
            with self.lock:
                self.in_flight.add(future)
            future.add_done_callback(self._done)
        return len(claimed)

    def run(self):
        self.listener.start()
        with self.app.app_context():
            while not self.stop_event.is_set():
                self.wakeup.clear()
                self.round()
                self.wakeup.wait(self.interval)
            if not db.is_closed():
                db.close()

    def stop(self, wait=True):
        self.stop_event.set()
        self.wakeup.set()
        if wait:
            self.join(timeout=self.interval + 5)
        self.pool.shutdown(wait=wait, cancel_futures=True)


def deliver_due():
    """Everything due now, in this process (``backoffice worker --burst``)."""
    config = current_config()
    db.connect(reuse_if_open=True)
    return delivery.deliver_due(config)


@with_db
def auto_disable():
    """Disable the endpoints without a 2xx for five days; how many."""
    return len(webhooks.auto_disable(current_config()))


@with_db
def purge_events():
    """Delete the events past their retention; how many."""
    return webhooks.purge_events(current_config())


def register_cron(scheduler, config):
    """Register the sweeps on the worker's ``rq.cron`` scheduler."""
    scheduler.register(auto_disable, "default", interval=int(config.get("WEBHOOK_AUTO_DISABLE_INTERVAL")
                                                             or AUTO_DISABLE_INTERVAL),
                       job_timeout=600, result_ttl=3600, name="backoffice.webhooks.auto_disable")
    scheduler.register(purge_events, "default", interval=PURGE_INTERVAL, job_timeout=3600, result_ttl=86400,
                       name="backoffice.webhooks.purge_events")
