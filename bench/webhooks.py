"""Webhooks (issue 16): fairness between merchants, and fan-out throughput, in one run.

    .venv/bin/python bench/webhooks.py [--parts fairness,throughput]
        [--cases baseline,slow,hang,slow-ok] [--duration 60] [--gap 0.1]
        [--a-endpoints 1] [--a-backlog 50] [--a-event-every 1.0] [--a-resend-every 0.6]
        [--a-test-every 5] [--a-resend inflight]
        [--deliveries 20000] [--merchants 100] [--endpoints-per-merchant 10]
        [--reference /tmp/ref16] [--rounds 1] [--shapes reference,single,fan-out]
        [--profile single,fan-out] [--profile-deliveries 5000]
        [--database postgresql://postgres@127.0.0.1:5432/bench_webhooks]
        [--redis redis://127.0.0.1:6379/6]

It recreates the benchmark database (and ``<name>_ref`` for the reference), empties
ONLY the given Redis database (FLUSHDB, never the whole server), and starts local
receivers, each an asyncio HTTP server in its own process (``common.Receiver``):
merchant B's answers 204 at once; merchant A's sleeps before answering, or never
answers. Every delivery is made by ONE ``backoffice worker`` process (what
``backoffice run`` starts: ``python -m backoffice worker``) with the default settings
(``POSTBACK_CONCURRENCY`` 8 delivery threads, 2 in flight per endpoint, 4 per
merchant, ``POSTBACK_TIMEOUT`` 10 s, the circuit after 5 failures in a row);
``BACKOFFICE_ALLOW_PRIVATE_POSTBACKS=1`` lets it post to 127.0.0.1.

**Fairness** (``--cases``, each with a fresh outbox and a fresh worker, one after the
other in the same run): merchant B's deposits arrive one every ``--gap`` s for
``--duration`` s, each a visitor's activation of a reported transaction through
``services.activation.activate`` (the claim, the ``deposit.completed`` event and its
delivery, the ledger, in one database transaction; the dispatcher woken after the
commit); B's figure is deposit → receiver, from just before the activation to the
receiver's first hit, p50/p95/max.

* ``baseline``: B alone (A's endpoints exist, idle);
* ``slow``: A's endpoint sleeps 10 s on every request, then answers 204 (the client's
  10 s deadline usually comes first);
* ``hang``: A's endpoint never answers (it holds the connection until the client
  gives up at 10 s);
* ``slow-ok``: A's endpoint answers 204 after 9 s, inside the timeout: its deliveries
  succeed, so its circuit never opens and it holds its slots all the time.

In every case but the baseline, A has ``--a-endpoints`` endpoints (all on A's
receiver), a backlog of ``--a-backlog`` deposits written before the worker starts,
one more deposit every ``--a-event-every`` s, and clicks **Resend** every
``--a-resend-every`` s and **Send test postback** every ``--a-test-every`` s, each
click through the per-merchant quota first (``services.webhooks.take_send_quota``;
refused clicks are counted as 429s) and then ``services.postbacks.resend_event`` /
``send_test``, as the back office's buttons do. ``--a-resend inflight`` (default) is
the adversary's choice: resend an event whose delivery is in flight right now (the
lease taken), else the oldest pending; ``random``: any of A's events.

**Throughput** (``--rounds`` times, alternating): ``--deliveries`` N written in one
burst before one worker starts, deliveries/s counted from the receiver's first hit to
its last: (1) the reference, the code before issue 16 (``--reference``: a
``git worktree add /tmp/ref16 c449fb8``): ITS ``bench/postbacks.py`` throughput, one
``simple`` worker, ``backlog`` mode, N postbacks to one merchant's URL, in a
subprocess on the same PostgreSQL server and Redis database, with its own copy of
the same asyncio receiver;
(2) the new code, one merchant with one endpoint, N events; (3) the new code,
``--merchants`` merchants × ``--endpoints-per-merchant`` endpoints, N / endpoints per
merchant events fanned out to N deliveries. Also the dispatcher's round-robin query
(``postback_delivery.due_deliveries``) timed in this process over the full backlog,
and the worker's CPU time per delivery. ``--profile single,fan-out``: bursts of
``--profile-deliveries`` once more, delivered by a ``Dispatcher`` in this process whose
steps are timed (rounds, deliveries claimed per round, the share of the dispatcher's
time spent in ``dispatch``, milliseconds per due query, claim, HTTP POST and attempt
record).

Targets (issue 16): B's p95 under 1 s and within 3× of the baseline's; deliveries/s
to 1,000 endpoints of 100 merchants at least 80 % of the single-endpoint figure of
the code before the issue.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(BENCH), BENCH]  # this tree's backoffice, whatever the venv installed

from common import (  # noqa: E402 - bench/ is on the path when run as a script
    Receiver, bench_app, check_redis_url, deposit, empty_outbox, merchant_with_endpoints, payment_system,
    quantiles, recreate_database, report_transactions, start_worker, stop_workers, wait_workers, worker_env,
)

A_MODES = {  # case -> A's receiver
    "slow": {"delay": 10.0},
    "hang": {"hang": True},
    "slow-ok": {"delay": 9.0},
}


# --- fairness ----------------------------------------------------------------------------------

class Adversary(threading.Thread):
    """Merchant A during a case: new deposits, Resend and Send test clicks, on a schedule."""

    def __init__(self, app, merchant, endpoints, numbers, events, args, rng):
        super().__init__(name="merchant-a", daemon=True)
        self.app, self.merchant, self.endpoints = app, merchant, endpoints
        self.numbers, self.events, self.args, self.rng = numbers, events, args, rng
        self.stop_event = threading.Event()
        self.last_error = None
        self.counts = {"deposits": 0, "resend": 0, "resend 429": 0, "test": 0, "test 429": 0, "errors": 0}

    def pick_event(self):
        """The event to resend: one whose delivery is in flight now (the adversary's
        best click: it restarts the delivery while the old request still hangs)."""
        from backoffice.models import Event, Postback, utcnow

        if self.args.a_resend == "inflight":
            row = (Postback.select(Postback.event_id)
                   .where((Postback.merchant == self.merchant.id) & (Postback.status == "pending")
                          & (Postback.locked_until > utcnow()))
                   .order_by(Postback.locked_until.desc()).first())
            if row is None:
                row = (Postback.select(Postback.event_id)
                       .where((Postback.merchant == self.merchant.id) & (Postback.status == "pending"))
                       .order_by(Postback.id).first())
            event_id = row.event_id if row is not None else self.rng.choice(self.events)
        else:
            event_id = self.rng.choice(self.events)
        return Event.get(Event.event_id == event_id)

    def resend(self):
        from backoffice.errors import RateLimited
        from backoffice.services import postbacks, webhooks

        try:
            webhooks.take_send_quota(self.app.config, self.merchant.id, "resend", len(self.endpoints))
        except RateLimited:
            self.counts["resend 429"] += 1
            return
        postbacks.resend_event(self.pick_event())
        self.counts["resend"] += 1

    def test(self):
        from backoffice.errors import RateLimited
        from backoffice.services import postbacks, webhooks

        try:
            webhooks.take_send_quota(self.app.config, self.merchant.id, "test", 1)
        except RateLimited:
            self.counts["test 429"] += 1
            return
        postbacks.send_test(self.merchant)
        self.counts["test"] += 1

    def new_deposit(self):
        if self.numbers:
            self.events.append(deposit(self.merchant, self.numbers.pop(), "a-visitor"))
            self.counts["deposits"] += 1

    def run(self):
        from backoffice.db import db

        a = self.args
        schedule = [(0.0, a.a_event_every, self.new_deposit), (0.2, a.a_resend_every, self.resend),
                    (0.4, a.a_test_every, self.test)]
        start = time.time()
        due = [start + offset for offset, _, _ in schedule]
        with self.app.app_context(), db.connection_context():
            while not self.stop_event.is_set():
                i = min(range(len(due)), key=due.__getitem__)
                if self.stop_event.wait(max(0.0, due[i] - time.time())):
                    break
                try:
                    schedule[i][2]()
                except Exception as exc:  # noqa: BLE001 - counted; the next click goes on
                    self.counts["errors"] += 1
                    self.last_error = f"{schedule[i][2].__name__}: {type(exc).__name__}: {exc}"
                    if db.in_transaction():
                        db.rollback()
                due[i] += schedule[i][1]


def fairness_case(ctx, index, case):
    """One case: a fresh outbox and worker; B's deposits (and A, unless the baseline)."""
    from backoffice.db import db
    from backoffice.models import Postback, PostbackAttempt, WebhookEndpoint, utcnow
    from backoffice.services import webhooks

    args, app, conn = ctx["args"], ctx["app"], ctx["conn"]
    b, a = ctx["b"], ctx["a"]
    empty_outbox(conn)
    WebhookEndpoint.update(consecutive_failures=0, circuit_until=None, failing_since=None,
                           last_success_at=None).execute()
    ctx["b_receiver"].reset()
    n = int(round(args.duration / args.gap))
    b_numbers = [f"B{index:02d}{k:07d}" for k in range(n)]
    report_transactions(b["wallet"], b_numbers)
    adversary = None
    a_receiver = ctx["a_receivers"].get(case)
    if a_receiver is not None:
        a_receiver.reset()
        for k, endpoint in enumerate(a["endpoints"]):
            webhooks.update_endpoint(endpoint, {"url": a_receiver.url(f"/a/{k}")}, actor=None)
        a_count = args.a_backlog + int(args.duration / args.a_event_every) + 5
        a_numbers = [f"A{index:02d}{k:07d}" for k in range(a_count)]
        report_transactions(a["wallet"], a_numbers)
        a_numbers.reverse()
        a_events = [deposit(a["merchant"], a_numbers.pop(), "a-visitor") for _ in range(args.a_backlog)]
        adversary = Adversary(app, a["merchant"], a["endpoints"], a_numbers, a_events, args, random.Random(index))
    db.close()  # the adversary's thread and this one each have a connection of their own
    worker = start_worker(ctx["env"], ctx["log"])
    sent = {}
    late = 0
    try:
        wait_workers(conn, 1)
        time.sleep(args.settle)  # the worker idle and waiting; A's backlog takes its slots
        if adversary is not None:
            adversary.start()
        start = time.time()
        with db.connection_context():
            for k, number in enumerate(b_numbers):
                due = start + k * args.gap
                pause = due - time.time()
                if pause > 0:
                    time.sleep(pause)
                elif pause < -args.gap:
                    late += 1
                t0 = time.time()
                sent[deposit(b["merchant"], number, f"b-visitor-{k % 50}")] = t0
        if adversary is not None:
            adversary.stop_event.set()
            adversary.join()
        ctx["b_receiver"].wait_count(len(sent), timeout=args.wait)
        hits = ctx["b_receiver"].hits()
    finally:
        if adversary is not None:
            adversary.stop_event.set()
        a_stats = a_receiver.stats() if a_receiver is not None else None
        stop_workers([worker])
    path = ctx["b_path"]
    latencies = [(hits[f"{path}|{e}"] - t0) * 1000 for e, t0 in sent.items() if f"{path}|{e}" in hits]
    result = {"case": case, "deposits": len(sent), "late_starts": late, "missing": len(sent) - len(latencies),
              **quantiles(latencies)}
    if adversary is not None:
        with db.connection_context():
            a_ids = [e.id for e in a["endpoints"]]
            attempts = list(PostbackAttempt.select(PostbackAttempt.http_status, PostbackAttempt.error)
                            .join(Postback).where(Postback.endpoint.in_(a_ids)).tuples())
            health = list(WebhookEndpoint.select(WebhookEndpoint.consecutive_failures, WebhookEndpoint.circuit_until)
                          .where(WebhookEndpoint.id.in_(a_ids)).tuples())
            pending = Postback.select().where(Postback.endpoint.in_(a_ids) & (Postback.status == "pending")).count()
        now = utcnow()
        result["a"] = {
            **adversary.counts, **({"last error": adversary.last_error} if adversary.last_error else {}),
            "requests received": a_stats["posts"], "most held open at once": a_stats["max_open"],
            "attempts logged": len(attempts),
            "2xx": sum(1 for s, _ in attempts if s is not None and 200 <= s < 300),
            "timeouts": sum(1 for _, e in attempts if e and "timeout" in e),
            "failures in a row at the end": max(f for f, _ in health),
            "circuit open at the end": any(c is not None and c > now for _, c in health),
            "deliveries still pending": pending,
        }
    return result


def fairness(ctx):
    args = ctx["args"]
    results = []
    for index, case in enumerate(args.cases.split(",")):
        print(f"  fairness case {case!r} ({args.duration:g} s) ...", flush=True)
        result = fairness_case(ctx, index, case)
        results.append(result)
        print(f"    B: {result['n']} of {result['deposits']} deposits received, p50 {result['p50']:.1f} ms, "
              f"p95 {result['p95']:.1f} ms, max {result['max']:.1f} ms"
              + (f"; A: {json.dumps(result['a'])}" if "a" in result else ""), flush=True)
    return results


# --- throughput --------------------------------------------------------------------------------

def cpu_seconds(pid):
    """User + system CPU seconds of a process (from /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_due_query(app, samples=5):
    """Milliseconds per ``due_deliveries`` call (the dispatcher's round-robin query, 8 rows)."""
    from backoffice.db import db
    from backoffice.models import utcnow
    from backoffice.services import postback_delivery

    times = []
    with db.connection_context():
        for _ in range(samples):
            t = time.perf_counter()
            postback_delivery.due_deliveries(app.config, utcnow(), 8)
            times.append((time.perf_counter() - t) * 1000)
    return sorted(times)[len(times) // 2]


def burst(ctx, shape):
    """N deliveries written in one burst, then one worker; deliveries/s and figures."""
    from backoffice.db import db
    from backoffice.services.postbacks import create_event

    args, app, conn, receiver = ctx["args"], ctx["app"], ctx["conn"], ctx["t_receiver"]
    merchants, per_merchant = ctx["shapes"][shape]
    n_events = args.deliveries // per_merchant
    n = n_events * per_merchant
    with db.connection_context():
        empty_outbox(conn)
        receiver.reset()
        t = time.time()
        with db.atomic():
            for i in range(n_events):
                create_event(merchants[i % len(merchants)], "test", {"n": i})
        written = time.time() - t
        due_ms = time_due_query(app)
    db.close()
    conn.flushdb()  # the wake-ups of the burst: the worker finds the backlog by itself
    worker = start_worker(ctx["env"], ctx["log"])
    try:
        cpu0 = None
        deadline = time.time() + max(180, n / 20)
        while time.time() < deadline:
            count = receiver.count()
            if cpu0 is None and count:
                cpu0 = cpu_seconds(worker.pid)
            if count >= n:
                break
            time.sleep(0.05)
        cpu1 = cpu_seconds(worker.pid)
    finally:
        stop_workers([worker])
    hits = sorted(receiver.hits().values())
    span = hits[-1] - hits[0] if len(hits) > 1 else float("nan")
    return {"shape": shape, "deliveries": n, "received": len(hits), "rate": (len(hits) - 1) / span if span else 0,
            "seconds": span, "write_s": written, "due_query_ms": due_ms,
            "worker_cpu_ms_per_delivery": (cpu1 - (cpu0 or cpu1)) * 1000 / max(len(hits), 1)}


class Timed:
    """Wrap a module function: count calls, sum wall time (and a value per call)."""

    def __init__(self, module, name, measure=None):
        self.module, self.name, self.original = module, name, getattr(module, name)
        self.calls, self.seconds, self.values = 0, 0.0, []
        self.lock = threading.Lock()
        self.measure = measure

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                result = self.original(*a, **k)
            finally:
                elapsed = time.perf_counter() - t
                with self.lock:
                    self.calls += 1
                    self.seconds += elapsed
            if self.measure is not None:
                with self.lock:
                    self.values.append(self.measure(result))
            return result

        setattr(module, name, wrapper)

    def restore(self):
        setattr(self.module, self.name, self.original)

    def per_call_ms(self):
        return self.seconds * 1000 / self.calls if self.calls else float("nan")


def profile_burst(ctx, shape):
    """The same burst, delivered by a Dispatcher in THIS process with its steps timed:
    how many rounds, what each claimed, how long ``dispatch`` (lock + round-robin query +
    claim) and each part of a delivery (HTTP, attempt record) took."""
    from backoffice.db import db
    from backoffice.jobs.postbacks import Dispatcher
    from backoffice.services import postback_delivery, postbacks
    from backoffice.services.postbacks import create_event

    args, app, conn, receiver = ctx["args"], ctx["app"], ctx["conn"], ctx["t_receiver"]
    merchants, per_merchant = ctx["shapes"][shape]
    n = (args.profile_deliveries // per_merchant) * per_merchant
    with db.connection_context():
        empty_outbox(conn)
        receiver.reset()
        with db.atomic():
            for i in range(args.profile_deliveries // per_merchant):
                create_event(merchants[i % len(merchants)], "test", {"n": i})
    db.close()
    timers = {"dispatch": Timed(postback_delivery, "dispatch", measure=len),
              "due query": Timed(postback_delivery, "due_deliveries", measure=len),
              "claim": Timed(postbacks, "claim_due"),
              "HTTP POST": Timed(postback_delivery, "post"),
              "record attempt": Timed(postbacks, "record_attempt")}
    dispatcher = Dispatcher(app)
    t = time.time()
    dispatcher.start()
    try:
        receiver.wait_count(n, timeout=max(180, n / 20))
    finally:
        wall = time.time() - t
        dispatcher.stop()
        for timer in timers.values():
            timer.restore()
    claimed = timers["dispatch"].values
    return {"shape": shape, "deliveries": n, "received": receiver.count(), "wall_s": wall,
            "rate": receiver.count() / wall, "rounds": len(claimed),
            "rounds that claimed nothing": sum(1 for c in claimed if not c),
            "claimed per round": sum(claimed) / max(len(claimed), 1),
            "dispatcher busy in dispatch (share of wall)": timers["dispatch"].seconds / wall,
            **{f"{name} ms/call": timer.per_call_ms() for name, timer in timers.items()}}


REFERENCE_DRIVER = """
import json, sys
sys.argv = ["bench/postbacks.py", "--postbacks", sys.argv[1], "--workers", "1", "--classes", "simple",
            "--modes", "backlog", "--database", sys.argv[2], "--redis", sys.argv[3]]
sys.path.insert(0, "bench")
import postbacks
# ITS throughput, unchanged; not its RQ no-op ceiling nor its latency run (not compared here).
postbacks.ceiling = lambda *a, **k: float("nan")
postbacks.latency = lambda *a, **k: {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
postbacks.main()
"""


def reference(ctx):
    """The reference: the old code's own bench/postbacks.py throughput (see the doc)."""
    args = ctx["args"]
    database = args.database + "_ref"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKOFFICE_", "DATABASE_URL", "REDIS_URL"))}
    env.pop("PYTHONPATH", None)
    out = subprocess.run([sys.executable, "-c", REFERENCE_DRIVER, str(args.deliveries), database, args.redis],
                         cwd=args.reference, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"the reference run failed:\n{out.stdout}\n{out.stderr}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    _class, _n, rates, _ceiling = figures["throughput"][0]
    return {"shape": "reference", "deliveries": args.deliveries, "rate": rates["backlog"]}


def throughput(ctx):
    from backoffice.db import db

    args = ctx["args"]
    receiver = ctx["t_receiver"]
    with db.connection_context():
        single, endpoints, _ = merchant_with_endpoints("Single", [receiver.url("/s/0")])
        many = []
        for m in range(args.merchants):
            merchant, _eps, _ = merchant_with_endpoints(
                f"Fan-out {m}", [receiver.url(f"/f/{m}/{k}") for k in range(args.endpoints_per_merchant)])
            many.append(merchant)
    ctx["shapes"] = {"single": ([single], 1), "fan-out": (many, args.endpoints_per_merchant)}
    rows = []
    for r in range(args.rounds):
        steps = [s for s in args.shapes.split(",") if s != "reference" or args.reference]
        for step in steps:
            print(f"  throughput round {r + 1}: {step} ...", flush=True)
            row = reference(ctx) if step == "reference" else burst(ctx, step)
            row["round"] = r + 1
            rows.append(row)
            print(f"    {json.dumps(row)}", flush=True)
    for shape in args.profile.split(",") if args.profile else ():
        print(f"  profile: {shape} (a dispatcher in this process, its steps timed) ...", flush=True)
        row = profile_burst(ctx, shape)
        ctx.setdefault("profiles", []).append(row)
        print(f"    {json.dumps(row)}", flush=True)
    return rows


# --- the run --------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="fairness,throughput")
    parser.add_argument("--cases", default="baseline,slow,hang,slow-ok")
    parser.add_argument("--duration", type=float, default=60, help="seconds of B's deposits per case")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between B's deposits")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between the worker's start and B's first")
    parser.add_argument("--wait", type=float, default=30, help="seconds to wait for B's last deliveries")
    parser.add_argument("--a-endpoints", type=int, default=1)
    parser.add_argument("--a-backlog", type=int, default=50)
    parser.add_argument("--a-event-every", type=float, default=1.0)
    parser.add_argument("--a-resend-every", type=float, default=0.6)
    parser.add_argument("--a-test-every", type=float, default=5.0)
    parser.add_argument("--a-resend", choices=("inflight", "random"), default="inflight")
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--merchants", type=int, default=100)
    parser.add_argument("--endpoints-per-merchant", type=int, default=10)
    parser.add_argument("--reference", default="/tmp/ref16",
                        help="a worktree of the code before issue 16 (git worktree add /tmp/ref16 c449fb8); "
                             "'' to skip")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--shapes", default="reference,single,fan-out", help="the throughput runs, in this order")
    parser.add_argument("--profile", default="",
                        help="single,fan-out: also deliver a burst from a dispatcher in this process, timed")
    parser.add_argument("--profile-deliveries", type=int, default=5000)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_webhooks")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/6")
    args = parser.parse_args()
    if not args.database.startswith("postgresql://"):
        raise SystemExit("--database must be a PostgreSQL URL")
    check_redis_url(args.redis)
    parts = args.parts.split(",")
    unknown = [c for c in args.cases.split(",") if c != "baseline" and c not in A_MODES]
    if unknown:
        raise SystemExit(f"unknown cases: {unknown}")
    if "throughput" in parts and args.reference and not os.path.isdir(os.path.join(args.reference, "bench")):
        raise SystemExit(f"no reference worktree at {args.reference}: git worktree add {args.reference} c449fb8")

    instance = tempfile.mkdtemp(prefix="bench-webhooks-")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    # The receivers first: spawned, they share nothing with this process.
    b_receiver = Receiver()
    a_receivers = {case: Receiver(**A_MODES[case]) for case in dict.fromkeys(args.cases.split(","))
                   if case in A_MODES} if "fairness" in parts else {}
    t_receiver = Receiver() if "throughput" in parts else None
    recreate_database(args.database)
    app = bench_app(args.database, args.redis, instance)
    from backoffice.db import db
    from backoffice.queues import redis_connection

    conn = redis_connection(app.config)
    conn.flushdb()
    log = open(os.path.join(instance, "workers.log"), "w")
    ctx = {"args": args, "app": app, "conn": conn, "log": log, "env": worker_env(args.database, args.redis, instance),
           "b_receiver": b_receiver, "a_receivers": a_receivers, "t_receiver": t_receiver}
    report = {"date": started, "args": vars(args)}
    print(f"instance folder (workers.log): {instance}", flush=True)
    try:
        with app.app_context():
            if "fairness" in parts:
                with db.connection_context():
                    ps = payment_system()
                    merchant, endpoints, wallet = merchant_with_endpoints("Merchant B", [b_receiver.url("/b")], ps)
                    ctx["b"] = {"merchant": merchant, "endpoints": endpoints, "wallet": wallet}
                    merchant, endpoints, wallet = merchant_with_endpoints(
                        "Merchant A", [b_receiver.url(f"/idle/{k}") for k in range(args.a_endpoints)], ps)
                    ctx["a"] = {"merchant": merchant, "endpoints": endpoints, "wallet": wallet}
                ctx["b_path"] = "/b"
                report["fairness"] = fairness(ctx)
            if "throughput" in parts:
                report["throughput"] = throughput(ctx)
                if ctx.get("profiles"):
                    report["profiles"] = ctx["profiles"]
    finally:
        for receiver in [b_receiver, t_receiver, *a_receivers.values()]:
            if receiver is not None:
                receiver.stop()
    print_report(report)
    print(json.dumps(report, default=str))


def print_report(report):
    args = report["args"]
    print()
    print(f"== webhooks {report['date']}")
    if "fairness" in report:
        rows = report["fairness"]
        base = next((r for r in rows if r["case"] == "baseline"), None)
        print(f"fairness: one backoffice worker, default settings; B: a deposit every {args['gap'] * 1000:.0f} ms "
              f"for {args['duration']:g} s; A: {args['a_endpoints']} endpoint(s), backlog {args['a_backlog']}, "
              f"a deposit every {args['a_event_every']:g} s, Resend every {args['a_resend_every']:g} s "
              f"({args['a_resend']}), Send test every {args['a_test_every']:g} s")
        print(f"  {'case':10} {'B received':>11} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p95/baseline':>13}  "
              f"targets (p95 < 1 s, <= 3x)")
        for r in rows:
            ratio = r["p95"] / base["p95"] if base and base["p95"] else None
            ok = r["p95"] < 1000 and (ratio is None or ratio <= 3) and not r["missing"]
            shown = f"{ratio:12.2f}x" if ratio is not None else f"{'-':>13}"
            print(f"  {r['case']:10} {r['n']:>5}/{r['deposits']:<5} {r['p50']:8.1f} {r['p95']:8.1f} {r['max']:8.1f} "
                  f"{shown}  {'met' if ok else 'MISSED'}" + (f" ({r['late_starts']} deposits started late)"
                                                            if r["late_starts"] else ""))
        for r in rows:
            if "a" in r:
                print(f"  A in {r['case']}: " + ", ".join(f"{k} {v}" for k, v in r["a"].items()))
    if "throughput" in report:
        rows = report["throughput"]
        fan_name = f"{args['merchants'] * args['endpoints_per_merchant']:,} endpoints"
        print(f"throughput: one worker, {args['deliveries']} deliveries written in one burst; fan-out: "
              f"{args['merchants']} merchants x {args['endpoints_per_merchant']} endpoints")
        for r in rows:
            extra = "" if r["shape"] == "reference" else (
                f"  (due query {r['due_query_ms']:.1f} ms over the backlog, worker CPU "
                f"{r['worker_cpu_ms_per_delivery']:.2f} ms/delivery)")
            print(f"  round {r['round']} {r['shape']:10} {r['rate']:8.0f} deliveries/s{extra}")
        for rnd in sorted({r["round"] for r in rows}):
            by = {r["shape"]: r["rate"] for r in rows if r["round"] == rnd}
            fan = by.get("fan-out")
            if fan and by.get("reference"):
                print(f"  round {rnd}: {fan_name} / reference single endpoint = {fan / by['reference']:.2f} "
                      f"(target >= 0.80)")
            if fan and by.get("single"):
                print(f"  round {rnd}: {fan_name} / new single endpoint = {fan / by['single']:.2f}; "
                      f"new single / reference = {by['single'] / by['reference']:.2f}" if by.get("reference") else
                      f"  round {rnd}: {fan_name} / new single endpoint = {fan / by['single']:.2f}")
    for p in report.get("profiles", ()):
        print(f"profile of {p['shape']} (in-process dispatcher): " + ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in p.items() if k != "shape"))


if __name__ == "__main__":
    main()
