"""Postback delivery throughput and deposit→receiver latency, beside RQ's own ceiling.

    .venv/bin/python bench/postbacks.py [--postbacks 3000] [--workers 1,2,4]
        [--classes fork,simple] [--modes backlog,jobs] [--latency-samples 200]
        [--database postgresql://postgres@127.0.0.1:5432/bench_postbacks]
        [--redis redis://127.0.0.1:6379/5]

It creates (or empties) the benchmark database and migrates it, empties ONLY the
given Redis database (FLUSHDB on db 5 by default, never the whole server), and
starts a local receiver (a separate process: a threaded ``http.server`` answering
204 and noting when each ``webhook-id`` arrived).

* Throughput, for each worker class and 1, 2, 4 worker processes: N postbacks are
  written to the outbox in one burst, then the workers (``run_worker``, exactly what
  ``backoffice worker`` runs, cron drain included) are started; deliveries/s is
  counted from the receiver's first hit to its last. Two modes: ``backlog`` is the
  product's own path (the commit hooks enqueue a job per postback while the queue is
  short, the drain sends the rest in batch jobs); ``jobs`` enqueues one RQ job per
  postback for the whole burst (what every delivery cost before batches).
* The ceiling: the same number of no-op RQ jobs through the same worker class and
  process count, on the same Redis.
* Latency: one idle, waiting worker; a deposit (transaction + outbox row in one
  transaction, then ``enqueue_after_commit``) every 100 ms (``--latency-gap``; longer
  than one delivery, so each finds the worker idle); the time from just
  before the deposit's transaction to the receiver's hit, p50/p95/max.

Targets (issue 4): at least 300 deliveries/s; p95 deposit→receiver under 500 ms.
"""
import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from urllib.parse import urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common import recreate_database  # noqa: E402 - bench/ is on the path when run as a script


def noop():
    """The ceiling's job: nothing at all."""
    return None


# --- the receiver (its own process) ------------------------------------------------

def _receiver_main(port_conn):
    """A lean asyncio HTTP receiver: 204 to every POST, first arrival time per webhook-id.

    Kept minimal so that it takes as little as possible of the machine's two cores
    from the workers being measured. ``GET /count``, ``GET /hits``, ``GET /reset``.
    """
    import asyncio

    hits = {}

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
                hits.setdefault(headers.get("webhook-id"), now)
                writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            else:
                if path == "/reset":
                    hits.clear()
                    data = b"{}"
                elif path == "/count":
                    data = str(len(hits)).encode()
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


def start_receiver():
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=_receiver_main, args=(child,), daemon=True)
    proc.start()
    return proc, parent.recv()


def receiver_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read() or b"null")


# --- set-up --------------------------------------------------------------------------

def worker_env(args, worker_class):
    return dict(
        os.environ,
        DATABASE_URL=args.database,
        REDIS_URL=args.redis,
        BACKOFFICE_ALLOW_PRIVATE_POSTBACKS="1",
        BACKOFFICE_WORKER_CLASS=worker_class,
        BACKOFFICE_INSTANCE_PATH=args.instance,
        SECRET_KEY="bench",
        PYTHONPATH=os.pathsep.join((ROOT, os.path.join(ROOT, "bench"))),  # the no-op job imports bench.postbacks
    )


WORKER_CODE = (
    "from backoffice import create_app\n"
    "from backoffice.jobs.worker import run_worker\n"
    "run_worker(create_app())\n"
)


def start_workers(args, n, worker_class, log):
    return [
        subprocess.Popen([sys.executable, "-c", WORKER_CODE], env=worker_env(args, worker_class), cwd=ROOT,
                         stdout=log, stderr=log, start_new_session=True)
        for _ in range(n)
    ]


def stop_workers(procs):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def wait_idle_workers(conn, n, timeout=30):
    from rq import Worker

    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(Worker.all(connection=conn)) >= n:
            return
        time.sleep(0.05)
    raise SystemExit("workers did not start")


def wait_count(port, n, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if receiver_get(port, "/count") >= n:
            return True
        time.sleep(0.05)
    return False


# --- the measurements ------------------------------------------------------------------

def fresh_outbox(conn):
    from backoffice.db import db
    from backoffice.models import Postback, PostbackAttempt, Transaction

    with db.atomic():
        PostbackAttempt.delete().execute()
        Postback.delete().execute()
        Transaction.delete().execute()
    conn.flushdb()


def throughput(args, app, conn, merchant, port, n_workers, worker_class, log, mode):
    from backoffice.db import db
    from backoffice.services.postbacks import enqueue_after_commit
    from backoffice.services.postbacks import create_event

    fresh_outbox(conn)
    receiver_get(port, "/reset")
    with db.atomic():
        # The real path: each event's commit hook enqueues a job while the queue is
        # short, and leaves the rest of a backlog to the drain's batches.
        events = [create_event(merchant, "test", {"n": i}) for i in range(args.postbacks)]
    if mode == "jobs":  # one RQ job per postback, the whole backlog included
        for pb in events:
            enqueue_after_commit(pb, app.config)
    procs = start_workers(args, n_workers, worker_class, log)
    try:
        ok = wait_count(port, args.postbacks, timeout=max(120, args.postbacks / 20))
    finally:
        stop_workers(procs)
    hits = sorted(receiver_get(port, "/hits").values())
    if not ok:
        print(f"  !! only {len(hits)} of {args.postbacks} delivered")
    span = hits[-1] - hits[0]
    return (len(hits) - 1) / span if span > 0 else float("nan")


def ceiling(args, conn, n_workers, worker_class, log):
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    conn.flushdb()
    q = Queue("default", connection=conn)
    with conn.pipeline() as pipe:
        for _ in range(args.postbacks):
            q.enqueue("bench.postbacks.noop", result_ttl=600, pipeline=pipe)
        pipe.execute()
    procs = start_workers(args, n_workers, worker_class, log)
    try:
        registry = FinishedJobRegistry("default", connection=conn)
        deadline = time.time() + 300
        while registry.count < args.postbacks and time.time() < deadline:
            time.sleep(0.05)
    finally:
        stop_workers(procs)
    from rq.job import Job

    ids = registry.get_job_ids()
    jobs = [j for j in Job.fetch_many(ids, connection=conn) if j is not None and j.ended_at]
    ends = sorted(j.ended_at.timestamp() for j in jobs)
    starts = sorted(j.started_at.timestamp() for j in jobs)
    span = ends[-1] - starts[0]
    return len(jobs) / span if span > 0 else float("nan")


def latency(args, app, conn, merchant, wallet, port, worker_class, log):
    from backoffice.db import db
    from backoffice.services.postbacks import enqueue_after_commit
    from backoffice.models import Transaction, utcnow
    from backoffice.services.postbacks import create_event, deposit_completed_data

    fresh_outbox(conn)
    receiver_get(port, "/reset")
    procs = start_workers(args, 1, worker_class, log)
    sent = {}
    try:
        wait_idle_workers(conn, 1)
        time.sleep(1.0)  # idle and waiting
        for i in range(args.latency_samples):
            t0 = time.time()
            with db.atomic():
                tx = Transaction.create(wallet=wallet, payment_system=wallet.payment_system_id, merchant=merchant,
                                        amount=Decimal("600.00"), currency="BDT", transaction_number=f"L{i:08d}",
                                        status="activated", activated_at=utcnow(), label=f"v{i}",
                                        postback_status="pending")
                data = deposit_completed_data(merchant, wallet.payment_system, f"v{i}", None, "BDT", [tx])
                pb = create_event(merchant, "deposit.completed", data, "transaction", tx.id)
            enqueue_after_commit(pb, app.config)
            sent[pb.event_id] = t0
            time.sleep(args.latency_gap)
        wait_count(port, args.latency_samples, timeout=60)
    finally:
        stop_workers(procs)
    hits = receiver_get(port, "/hits")
    lat = sorted((hits[e] - t0) * 1000 for e, t0 in sent.items() if e in hits)
    q = statistics.quantiles(lat, n=100)
    return {"n": len(lat), "p50": q[49], "p95": q[94], "max": lat[-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postbacks", type=int, default=3000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--classes", default="fork,simple")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--latency-gap", type=float, default=0.1,
                        help="seconds between deposits (longer than a delivery: the worker is idle for each)")
    parser.add_argument("--modes", default="backlog,jobs",
                        help="backlog: the product's own path (jobs while the queue is short, the drain's "
                             "batches for the rest); jobs: one RQ job per postback")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_postbacks")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5")
    args = parser.parse_args()
    args.instance = tempfile.mkdtemp(prefix="bench-postbacks-")
    if not args.database.startswith("postgresql://"):
        raise SystemExit("--database must be a PostgreSQL URL")
    if urlparse(args.redis).path in ("", "/", "/0"):
        raise SystemExit("use a Redis database of its own (not db 0): it is flushed")

    recreate_database(args.database)
    os.environ.update(worker_env(args, "fork"))
    from backoffice import create_app
    from backoffice.db import apply_migrations, db
    from backoffice.queues import redis_connection
    from backoffice.models import Merchant, PaymentSystem, Wallet
    from backoffice.security import new_api_key, new_postback_secret, new_public_key

    app = create_app()
    apply_migrations()
    conn = redis_connection(app.config)
    receiver_proc, port = start_receiver()
    log = open(os.path.join(args.instance, "workers.log"), "w")
    results = {"throughput": [], "latency": {}}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with app.app_context(), db.connection_context():
        merchant = Merchant.create(name="Bench", public_key=new_public_key(), api_key=new_api_key(),
                                   postback_secret=new_postback_secret(),
                                   postback_url=f"http://127.0.0.1:{port}/postbacks")
        ps = PaymentSystem.create(code="bkash", name="bKash", currency="BDT")
        wallet = Wallet.create(merchant=merchant, payment_system=ps, identifier="w1", number="01700000001")
        for worker_class in args.classes.split(","):
            for n in ([] if args.skip_throughput else (int(x) for x in args.workers.split(","))):
                rates = {mode: throughput(args, app, conn, merchant, port, n, worker_class, log, mode)
                         for mode in args.modes.split(",")}
                ceil = ceiling(args, conn, n, worker_class, log)
                results["throughput"].append((worker_class, n, rates, ceil))
                shown = "   ".join(f"{mode} {rate:5.0f}/s" for mode, rate in rates.items())
                print(f"{worker_class:6} x{n}: deliveries {shown}   RQ no-op ceiling {ceil:5.0f} jobs/s", flush=True)
            lat = latency(args, app, conn, merchant, wallet, port, worker_class, log)
            results["latency"][worker_class] = lat
            print(f"{worker_class:6} deposit->receiver over {lat['n']} deposits, one idle worker: "
                  f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, max {lat['max']:.1f} ms", flush=True)
        fresh_outbox(conn)
    receiver_proc.terminate()
    print(json.dumps({"date": started, "postbacks": args.postbacks, **results}, default=str))


if __name__ == "__main__":
    main()
