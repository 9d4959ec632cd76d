"""Webhook delivery throughput and deposit → receiver latency (the dispatcher design).

    .venv/bin/python bench/postbacks.py [--postbacks 3000] [--workers 1,2,4]
        [--merchants 1] [--latency-samples 200] [--latency-gap 0.1] [--skip-throughput]
        [--database postgresql://postgres@127.0.0.1:5432/bench_postbacks]
        [--redis redis://127.0.0.1:6379/5]

It creates (or empties) the benchmark database and migrates it, empties ONLY the
given Redis database (FLUSHDB on db 5 by default, never the whole server), and
starts a local receiver (``common.Receiver``: an asyncio HTTP server in its own
process answering 204 and noting when each delivery first arrived).

Since issue 16 deliveries are not RQ jobs: every ``backoffice worker`` runs a
dispatcher thread with ``POSTBACK_CONCURRENCY`` (8) delivery threads that takes due
deliveries round-robin across endpoints, at most 2 in flight per endpoint and 4 per
merchant, woken by a Redis signal after each commit that wrote deliveries (and by its
periodic scan). The worker class (``simple``/``fork``) only concerns RQ jobs now, so
it is not a parameter any more. ``bench/webhooks.py`` measures fairness between
merchants and the fan-out to 1,000 endpoints.

* Throughput, for 1, 2, 4 worker processes (``python -m backoffice worker``, what
  ``backoffice run`` starts): N ``test`` events written to the outbox in one burst for
  ``--merchants`` merchants with one endpoint each (round-robin), then the workers are
  started; deliveries/s from the receiver's first hit to its last. With one merchant
  the endpoint's in-flight cap (2) bounds it, whatever the number of workers.
* Latency: one idle, waiting worker; a deposit every ``--latency-gap`` s (a visitor's
  activation of a reported transaction through ``services.activation.activate``: the
  event and its delivery written in the activation's own transaction); the time from
  just before the activation to the receiver's hit, p50/p95/max.

Targets (issue 4, for the RQ-job design of the time): at least 300 deliveries/s;
p95 deposit → receiver under 500 ms.
"""
import argparse
import json
import os
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(BENCH), BENCH]  # this tree's backoffice, whatever the venv installed

from common import (  # noqa: E402 - bench/ is on the path when run as a script
    Receiver, bench_app, check_redis_url, deposit, empty_outbox, merchant_with_endpoints, payment_system, quantiles,
    recreate_database, report_transactions, start_worker, stop_workers, wait_workers, worker_env,
)


def throughput(args, conn, merchants, receiver, env, n_workers, log):
    from backoffice.db import db
    from backoffice.services.postbacks import create_event

    with db.connection_context():
        empty_outbox(conn)
        receiver.reset()
        with db.atomic():
            for i in range(args.postbacks):
                create_event(merchants[i % len(merchants)], "test", {"n": i})
    conn.flushdb()  # the burst's wake-ups: the workers find the backlog by themselves
    procs = [start_worker(env, log) for _ in range(n_workers)]
    try:
        ok = receiver.wait_count(args.postbacks, timeout=max(120, args.postbacks / 20))
    finally:
        stop_workers(procs)
    hits = sorted(receiver.hits().values())
    if not ok:
        print(f"  !! only {len(hits)} of {args.postbacks} delivered")
    span = hits[-1] - hits[0] if len(hits) > 1 else 0
    return (len(hits) - 1) / span if span > 0 else float("nan")


def latency(args, conn, merchant, wallet, receiver, env, log):
    from backoffice.db import db

    numbers = [f"L{time.time_ns() % 10**9:09d}{i:06d}" for i in range(args.latency_samples)]
    with db.connection_context():
        empty_outbox(conn)
        receiver.reset()
        report_transactions(wallet, numbers)
    procs = [start_worker(env, log)]
    sent = {}
    try:
        wait_workers(conn, 1)
        time.sleep(1.0)  # idle and waiting
        with db.connection_context():
            for i, number in enumerate(numbers):
                t0 = time.time()
                sent[deposit(merchant, number, f"v{i % 50}")] = t0
                time.sleep(args.latency_gap)
        receiver.wait_count(len(sent), timeout=60)
    finally:
        stop_workers(procs)
    hits = receiver.hits()
    return quantiles([(hits[f"/latency|{e}"] - t0) * 1000 for e, t0 in sent.items() if f"/latency|{e}" in hits])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postbacks", type=int, default=3000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--merchants", type=int, default=1, help="merchants (one endpoint each) the burst is spread over")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--latency-gap", type=float, default=0.1,
                        help="seconds between deposits (longer than a delivery: the worker is idle for each)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_postbacks")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5")
    args = parser.parse_args()
    instance = tempfile.mkdtemp(prefix="bench-postbacks-")
    if not args.database.startswith("postgresql://"):
        raise SystemExit("--database must be a PostgreSQL URL")
    check_redis_url(args.redis)

    receiver = Receiver()
    recreate_database(args.database)
    app = bench_app(args.database, args.redis, instance)
    from backoffice.db import db
    from backoffice.queues import redis_connection

    conn = redis_connection(app.config)
    env = worker_env(args.database, args.redis, instance)
    log = open(os.path.join(instance, "workers.log"), "w")
    results = {"throughput": [], "latency": None}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        with app.app_context():
            with db.connection_context():
                ps = payment_system()
                merchant, _endpoints, wallet = merchant_with_endpoints("Bench", [receiver.url("/latency")], ps)
                merchants = [merchant_with_endpoints(f"Bench {m}", [receiver.url(f"/m/{m}")])[0]
                             for m in range(args.merchants)]
            for n in ([] if args.skip_throughput else (int(x) for x in args.workers.split(","))):
                rate = throughput(args, conn, merchants, receiver, env, n, log)
                results["throughput"].append((n, rate))
                print(f"x{n} worker(s): {rate:5.0f} deliveries/s ({args.postbacks} to {args.merchants} "
                      f"endpoint(s))", flush=True)
            lat = latency(args, conn, merchant, wallet, receiver, env, log)
            results["latency"] = lat
            print(f"deposit->receiver over {lat['n']} deposits, one idle worker: "
                  f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, max {lat['max']:.1f} ms", flush=True)
            with db.connection_context():
                empty_outbox(conn)
    finally:
        receiver.stop()
    print(json.dumps({"date": started, "postbacks": args.postbacks, "merchants": args.merchants, **results},
                     default=str))


if __name__ == "__main__":
    main()
