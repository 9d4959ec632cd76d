"""The RQ worker of the back office: its queues, with the scheduler, inside the app.

Jobs open their own database connection (``with_db``); the worker closes any
connection before forking a work horse, so no connection is shared across processes.
"""
import functools

from rq import Worker

from ..db import db
from . import queues, redis_connection


def with_db(func):
    """Run a job with its own database connection, closed afterwards."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with db.connection_context():
            return func(*args, **kwargs)

    return wrapper


class BackofficeWorker(Worker):
    def execute_job(self, job, queue):
        if not db.is_closed():
            db.close()
        return super().execute_job(job, queue)


def run_worker(app, burst=False, worker_class=BackofficeWorker):
    config = app.config
    with app.app_context():
        worker = worker_class(queues(config), connection=redis_connection(config))
        return worker.work(with_scheduler=True, burst=burst)
