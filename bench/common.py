"""What the benchmark scripts share: the benchmark database, a lean webhook receiver
in a process of its own, ``backoffice worker`` processes, and what the benches that
measure code versions side by side run them with.

* :func:`recreate_database` — drop and create the benchmark database (PostgreSQL).
* :class:`Receiver` — an asyncio HTTP server in its own process: it notes when each
  delivery first arrived (by URL path and ``webhook-id``: the deliveries of one event
  to several endpoints share the id) and answers 204, at once or after ``delay``
  seconds (an ``asyncio`` sleep: a slow receiver never blocks its other requests), or
  never (``hang``: it holds the connection until the client gives up). Kept minimal so
  that it takes as little as possible of the machine's two cores from what is measured.
* :func:`worker_env` / :func:`start_worker` / :func:`stop_workers` — ``backoffice worker``
  processes exactly as ``backoffice run`` starts one (``python -m backoffice worker``:
  the RQ worker, its cron thread and the webhook delivery dispatcher).
* Code versions side by side under ``wrk`` (``bench/matching.py``, ``bench/plugin_config.py``:
  one database per version, seeded and served by that code): :func:`code_env`,
  :func:`subcommand_args` / :func:`migrate_code` / :func:`print_seeded` (a ``_seed``
  subprocess) and :func:`subprocess_json`, :func:`start_gunicorn` / :func:`stop_server`,
  :func:`lua_file` / :func:`run_wrk`, the CPU the gunicorn workers and their PostgreSQL
  backends spend (:func:`cpu_ticks` / :func:`add_cpu_per_request`, from ``/proc``), and
  :func:`check_setup`, :func:`choices`, :func:`run_bench`, :func:`pg_cursor`,
  :func:`drop_database`.
"""
import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recreate_database(url):
    """Drop and create the benchmark database (PostgreSQL), or remove the SQLite file."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return
    drop_database(url, create=True)


def drop_database(url, create=False):
    """Drop a PostgreSQL database (its sessions ended first); create it anew when ``create``."""
    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(host=parsed.hostname, port=parsed.port or 5432, user=parsed.username or "postgres",
                             password=parsed.password, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if create:
            cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()


@contextlib.contextmanager
def pg_cursor(url):
    """A cursor on a PostgreSQL database in autocommit (a context manager)."""
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def check_redis_url(url):
    """Refuse Redis database 0 (the bench flushes its database)."""
    if urlparse(url).path in ("", "/", "/0"):
        raise SystemExit("use a Redis database of its own (not db 0): it is flushed")


# --- the receiver (its own process) ------------------------------------------------------

def _receiver_main(port_conn, delay, hang):
    """204 to every POST (after ``delay`` s, or never when ``hang``); the first arrival
    time of each (path, webhook-id). ``GET /hits``, ``/count``, ``/stats`` (requests
    received, held open now and at most at once), ``/reset``."""
    import asyncio

    hits = {}
    stats = {"posts": 0, "open": 0, "max_open": 0}  # requests received, held now, held at most

    async def handle(reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            now = time.time()
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length") or 0)
            if length:
                await reader.readexactly(length)
            if method == "POST":
                stats["posts"] += 1
                hits.setdefault(f"{path}|{headers.get('webhook-id')}", now)
                stats["open"] += 1
                stats["max_open"] = max(stats["max_open"], stats["open"])
                try:
                    if hang:  # hold the connection until the client gives up (or an hour)
                        try:
                            await asyncio.wait_for(reader.read(1), timeout=3600)
                        except asyncio.TimeoutError:
                            pass
                        return
                    if delay:
                        await asyncio.sleep(delay)
                finally:
                    stats["open"] -= 1
                writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            else:
                if path == "/reset":
                    hits.clear()
                    stats.update(posts=0, max_open=stats["open"])
                    data = b"{}"
                elif path == "/count":
                    data = str(len(hits)).encode()
                elif path == "/stats":
                    data = json.dumps(stats).encode()
                else:
                    data = json.dumps(hits).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_conn.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


class Receiver:
    """A receiver process (see the module's doc); ``url(path)`` points an endpoint at it."""

    def __init__(self, delay=0.0, hang=False):
        ctx = multiprocessing.get_context("spawn")  # nothing of this process's state
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_receiver_main, args=(child, float(delay), bool(hang)), daemon=True)
        self.proc.start()
        self.port = parent.recv()

    def url(self, path="/postbacks"):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as response:
            return json.loads(response.read() or b"null")

    def hits(self):
        """``{"<path>|<webhook-id>": first arrival (epoch seconds)}``."""
        return self.get("/hits")

    def count(self):
        return self.get("/count")

    def stats(self):
        """``{"posts": requests received, "open": held now, "max_open": held at most at once}``."""
        return self.get("/stats")

    def reset(self):
        self.get("/reset")

    def wait_count(self, n, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.count() >= n:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


# --- worker processes ------------------------------------------------------------------------

def worker_env(database, redis_url, instance, **extra):
    """The environment of a bench's ``backoffice worker`` (and of the bench itself)."""
    env = dict(os.environ, DATABASE_URL=database, REDIS_URL=redis_url, BACKOFFICE_ALLOW_PRIVATE_POSTBACKS="1",
               BACKOFFICE_INSTANCE_PATH=instance, SECRET_KEY="bench",
               PYTHONPATH=os.pathsep.join((ROOT, os.path.join(ROOT, "bench"))))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_worker(env, log):
    """One ``backoffice worker`` (``python -m backoffice worker``, what ``backoffice run``
    starts), the leader of its own process group."""
    return subprocess.Popen([sys.executable, "-m", "backoffice", "worker"], env=env, cwd=ROOT,
                            stdout=log, stderr=log, start_new_session=True)


def stop_workers(procs, timeout=25):
    """SIGTERM (RQ's warm shutdown; the dispatcher lets its deliveries end), then SIGKILL."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def wait_workers(conn, n, timeout=60):
    """Until ``n`` RQ workers are registered (the dispatcher starts just before)."""
    from rq import Worker

    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(Worker.all(connection=conn)) >= n:
            return
        time.sleep(0.05)
    raise SystemExit("workers did not start")


# --- code side by side: a subprocess or a gunicorn per code version, wrk, CPU per request ----

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def code_env(code, **extra):
    """The environment of a process running the code at ``code`` (first on the path)."""
    env = dict(os.environ, PYTHONPATH=code, SECRET_KEY="bench-only")
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def subcommand_args(argv, strings=(), ints=(), flags=(), **defaults):
    """The options of a subcommand (all required but ``flags`` and ``defaults``); the
    code at ``--code`` goes first on the path."""
    parser = argparse.ArgumentParser()
    for name in strings + ints:
        parser.add_argument("--" + name.replace("_", "-"), required=True, type=int if name in ints else str)
    for name in flags:
        parser.add_argument("--" + name.replace("_", "-"), action="store_true")
    for name, value in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = parser.parse_args(argv)
    sys.path.insert(0, args.code)
    return args


def migrate_code(code, database):
    """In a subcommand: check that ``backoffice`` is the code at ``code``, then open and
    migrate ``database`` with it."""
    from backoffice.db import apply_migrations, init_db

    assert os.path.dirname(sys.modules["backoffice"].__file__).startswith(os.path.realpath(code))
    init_db(database)
    apply_migrations()


def print_seeded(result):
    """The end of a ``_seed`` subcommand: ANALYZE, then ``result`` as JSON on stdout."""
    from backoffice.db import db

    with db.connection_context():
        db.execute_sql("ANALYZE")
    print(json.dumps(result))


def subprocess_json(cmd, cwd, env, failure=None):
    """Run a subcommand; the JSON of its last line of output (its output and exit on failure)."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(failure or f"failed: {' '.join(cmd[:3])}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_gunicorn(code, env, port, workers, worker_class="sync", threads=None, options=()):
    """``gunicorn wsgi:app`` of the code at ``code`` on 127.0.0.1:``port`` (``--threads``
    only when given), once it answers ``/healthz``."""

    cmd = [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-w", str(workers)]
    cmd += ["--threads", str(threads)] if threads is not None else []
    cmd += ["-k", worker_class, "-b", f"127.0.0.1:{port}", "--log-level", "warning", *options]
    server = subprocess.Popen(cmd + ["wsgi:app"], cwd=code, env=env)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
    except SystemExit:
        stop_server(server)
        raise
    return server


def stop_server(server):
    """SIGTERM, then SIGKILL after 20 s."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def check_setup(args, config, checkout, commit, instead):
    """Exit unless the bench can run: a Redis database of its own (``args.redis``),
    ``wrk``, and a checkout of ``commit`` at ``checkout`` when ``config`` is measured."""
    check_redis_url(args.redis)
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    if config in args.configs.split(",") and not os.path.exists(os.path.join(checkout, "wsgi.py")):
        raise SystemExit(f"no checkout at {checkout}: git worktree add {checkout} {commit} (or --configs {instead})")


def choices(what, *lists):
    """Each ``(comma-separated names, the names known)`` as a list of names; exit naming
    the unknown ones (``what`` they are)."""
    chosen = [[name for name in text.split(",") if name] for text, _known in lists]
    unknown = set().union(*(set(names) - set(known) for names, (_text, known) in zip(chosen, lists)))
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(sorted(unknown))}")
    return chosen


def run_bench(bench):
    """``bench.run()``, then ``bench.cleanup()`` whatever happens."""
    try:
        bench.run()
    finally:
        bench.cleanup()


def lua_file(script):
    """The path of a temporary file holding a wrk Lua script."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    return fh.name


def run_wrk(lua, port, connections, seconds, script_args, latency=False):
    """``wrk`` (one thread) on 127.0.0.1:``port`` with the script ``lua`` and its
    arguments (``--latency``: the percentiles table too); its output."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"] + (["--latency"] if latency else [])
    cmd += ["-s", lua, f"http://127.0.0.1:{port}", "--", *script_args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def proc_stat(pid):
    """(utime + stime in clock ticks, parent pid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12]), int(fields[1])


def cpu_ticks(server, database):
    """CPU ticks so far of the server's workers and of the database's backends."""
    workers = [pid for pid in os.listdir("/proc")
               if pid.isdigit() and proc_stat(pid) and proc_stat(pid)[1] == server.pid]
    with pg_cursor(database) as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        backends = [str(row[0]) for row in cur.fetchall()]
    return {"app": {pid: proc_stat(pid)[0] for pid in workers if proc_stat(pid)},
            "db": {pid: proc_stat(pid)[0] for pid in backends if proc_stat(pid)}}


def add_cpu_per_request(figures, before, after):
    """``cpu_app_ms``, ``cpu_db_ms`` and ``cpu_ms`` into ``figures``: the CPU time per
    request (``figures["requests"]``) between two :func:`cpu_ticks`."""
    for part in ("app", "db"):
        spent = sum(ticks - before[part].get(pid, 0) for pid, ticks in after[part].items())
        figures[f"cpu_{part}_ms"] = spent * 1000 / CLOCK_TICKS / max(figures["requests"], 1)
    figures["cpu_ms"] = figures["cpu_app_ms"] + figures["cpu_db_ms"]
    return figures


def quantiles(values):
    """``{"n", "p50", "p95", "max"}`` of a list of numbers (milliseconds)."""
    import statistics

    values = sorted(values)
    if len(values) < 2:
        nan = float("nan")
        return {"n": len(values), "p50": values[0] if values else nan, "p95": values[0] if values else nan,
                "max": values[-1] if values else nan}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"n": len(values), "p50": q[49], "p95": q[94], "max": values[-1]}


# --- the data: merchants, endpoints, deposits through the product's services ------------------

def bench_app(database, redis_url, instance):
    """The app in the bench's own process (the same settings as its workers), migrated."""
    os.environ.update(worker_env(database, redis_url, instance))
    from backoffice import create_app
    from backoffice.db import apply_migrations

    app = create_app()
    apply_migrations()
    return app


def payment_system(code="bkash"):
    from backoffice.models import PaymentSystem

    return PaymentSystem.get_or_none(PaymentSystem.code == code) or PaymentSystem.create(
        code=code, name=code, currency="BDT")


def merchant_with_endpoints(name, urls, ps=None, min_deposit="500.00"):
    """A merchant with one webhook endpoint per URL (``services.webhooks.create_endpoint``,
    audited, as the Settings → Webhooks screen makes them), the payment system ``ps``
    enabled and one wallet; returns ``(merchant, [endpoints], wallet)``."""
    from decimal import Decimal

    from backoffice.models import Merchant, MerchantPaymentSystem, Wallet
    from backoffice.security import new_api_key, new_public_key
    from backoffice.services import webhooks

    merchant = Merchant.create(name=name, public_key=new_public_key(), api_key=new_api_key())
    endpoints = [webhooks.create_endpoint(merchant, {"url": url, "description": f"{name} {n}"}, actor=None)[0]
                 for n, url in enumerate(urls)]
    wallet = None
    if ps is not None:
        MerchantPaymentSystem.create(merchant=merchant, payment_system=ps, min_deposit=Decimal(min_deposit),
                                     commission_percent=Decimal("2.00"))
        wallet = Wallet.create(merchant=merchant, payment_system=ps, identifier=f"{name}-w",
                               number=f"017{merchant.id:08d}")
    return merchant, endpoints, wallet


def report_transactions(wallet, numbers, amount="600.00"):
    """Reported (``new``) incoming transactions, as the connector API stores them, so
    that each activation completes a deposit."""
    from decimal import Decimal

    from backoffice.db import db
    from backoffice.models import Transaction, utcnow

    rows = [{"wallet": wallet.id, "payment_system": wallet.payment_system_id, "merchant": wallet.merchant_id,
             "currency": "BDT", "amount": Decimal(amount), "transaction_number": number, "created_at": utcnow()}
            for number in numbers]
    with db.atomic():
        for start in range(0, len(rows), 1000):
            Transaction.insert_many(rows[start:start + 1000]).execute()


def deposit(merchant, number, label, code="bkash"):
    """A visitor's activation of a reported transaction (``services.activation.activate``:
    the claim, the ``deposit.completed`` event with its deliveries, the ledger and the
    rollups in one database transaction; the dispatcher is woken after the commit);
    the event id."""
    from backoffice.services import activation

    outcome = activation.activate(merchant, code, number, label)
    if outcome.status != activation.ACTIVATED:
        raise RuntimeError(f"activation of {number}: {outcome.status}")
    return outcome.postback.event_id


def empty_outbox(conn):
    """Delete every event, delivery and attempt, and FLUSHDB the bench's Redis database."""
    from backoffice.db import db
    from backoffice.models import Event, Postback, PostbackAttempt

    with db.atomic():
        PostbackAttempt.delete().execute()
        Postback.delete().execute()
        Event.delete().execute()
    conn.flushdb()


def wait_for(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise SystemExit(f"server did not answer at {url}")
