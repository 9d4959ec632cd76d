"""Load at a fixed rate, and the Transactions list page over a million rows.

    .venv/bin/python bench/load.py [--duration 60]
        [--rates report=20,activate=20,withdraw=5,config=20,list=5]
        [--database postgresql://postgres@127.0.0.1:5432/bench_load] [--transactions 1000000]
        [--list-repeat 200] [--explain] [--skip-fixed] [--skip-list] [--fresh] [--withdraw-from load|bench1]

The same running system as bench/faults.py (bench/harness.py): PostgreSQL, a private
``redis-server`` on ``--redis-port``, gunicorn on ``wsgi:app``, ``backoffice worker``
processes delivering the postbacks to a local receiver that verifies each signature.

The database is filled by ``backoffice seed-bench`` (bench/dashboard.py does the same)
up to ``--transactions`` rows (1 M by default: 5 merchants, 7 payment systems, 180
days); a later run only adds what is missing. Each run adds a merchant of its own
("Load …") with reported transactions to activate and a deposit to withdraw from.

1. Fixed rate (open loop; bench/harness.py ``run_fixed_rate``): each endpoint is
   called at its own constant rate for ``--duration`` seconds on a schedule fixed in
   advance; latency is measured from each request's intended send time, so waiting
   for a free connection counts (no coordinated omission). Endpoints: connector report
   (``POST /api/v1/ps/transactions``, a new transaction), activation
   (``POST /plugin/api/activate``, a reported transaction; half of them under the
   minimum deposit, so stockpilings open and complete), withdrawal request
   (``POST /api/v1/withdrawals``), plugin config (``GET /plugin/api/config``) and the
   back office's transactions list (``GET /admin/transactions/``, signed in as the
   owner of the seeded merchant "Bench 1", ~200 k of the rows). Prints requests,
   throughput, p50/p90/p99/max and the answers per endpoint.
2. The list page alone (``--list-repeat`` sequential requests per case, after 5
   warm-up requests): signed in as the owner of "Bench 1" and as an operator (all
   merchants, second factor included), unfiltered and filtered by label, by
   transaction number, by creation date (a 7-day range, in the viewer's time zone)
   and by label + date; the filter values change from request to request. Every
   answer is checked (200; a filtered page shows the row asked for). p50/p95/p99.
   Target (issue 8): p95 under 100 ms on PostgreSQL.
3. ``--explain``: the SQL each list case runs (captured from peewee in this process,
   with the session of the HTTP sign-in) and PostgreSQL's ``EXPLAIN (ANALYZE,
   BUFFERS)`` of it.
"""
import argparse
import datetime
import itertools
import logging
import os
import random
import sys
import time
import urllib.parse
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import recreate_database  # noqa: E402 - bench/ is on the path when run as a script
from harness import (  # noqa: E402
    WITHDRAWAL_FIELDS, Client, Procs, RedisServer, begin_run, format_table, init_app_in_process, percentile,
    run_fixed_rate, run_main, seed_world, start_stack,
)

BENCH_CONFIG = {"PLUGIN_CONFIG_LIMIT": "1000000 per minute"}
BENCH_OWNER = "bench-owner@example.test"  # bench/dashboard.py's owner of "Bench 1"
PASSWORD = "bench password 1"


def ensure_seeded(app, count):
    from backoffice.bench_data import seed
    from backoffice.db import db
    from backoffice.models import Merchant, Transaction, User
    from backoffice.services.accounts import create_user

    with app.app_context(), db.connection_context():
        have = Transaction.select().where(Transaction.transaction_number.startswith("S")).count()
        if have < count:
            started = time.time()
            seed(count - have, progress=lambda n: print(f"  seeded {n}", flush=True))
            print(f"seeded {count - have} transactions in {time.time() - started:.0f} s", flush=True)
        merchant = Merchant.get(Merchant.name == "Bench 1")
        owner = User.get_or_none(User.login == BENCH_OWNER)
        if owner is None:
            create_user(BENCH_OWNER, PASSWORD, "merchant_owner", merchant=merchant, totp_secret=None)
        else:  # the password this script signs in with
            from werkzeug.security import generate_password_hash

            User.update(password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"),
                        failed_logins=0, locked_until=None).where(User.id == owner.id).execute()
        total = Transaction.select().count()
        # Values the list cases filter by: rows of Bench 1 (the owner sees them; so does the operator).
        rows = list(Transaction.select(Transaction.label, Transaction.transaction_number, Transaction.created_at)
                    .where((Transaction.merchant == merchant.id) & Transaction.label.is_null(False)
                           & Transaction.transaction_number.startswith("S"))
                    .order_by(Transaction.id).limit(2000).tuples())
    return merchant.id, total, rows


def add_load_merchant(app, activations, funds):
    """A merchant of this run (its webhook endpoint pointed at the receiver later, by
    ``start_stack``): reported transactions to activate, money to withdraw."""
    from backoffice.db import db
    from backoffice.models import PaymentSystem, Transaction, Wallet

    stamp = time.strftime("%H%M%S")
    world = seed_world(app, [(f"Load {stamp}", False, [("bkash", "500.00", "2.00")])],
                       operator_login=f"operator-{stamp}@bench.example")
    m = world["merchants"][0]
    with app.app_context(), db.connection_context(), db.atomic():
        ps = PaymentSystem.get(PaymentSystem.code == "bkash")
        wallet = Wallet.get((Wallet.merchant == m["id"]) & (Wallet.payment_system == ps))
        rows = [{"wallet": wallet.id, "payment_system": ps.id, "merchant": m["id"], "currency": "BDT",
                 "amount": Decimal("600.00") if i % 2 else Decimal("200.00"),
                 "commission": Decimal("12.00") if i % 2 else Decimal("4.00"),
                 "transaction_number": f"A{m['id']}-{i}"} for i in range(activations)]
        # The withdrawals' funds: one completed deposit (its postback long sent).
        rows.append({"wallet": wallet.id, "payment_system": ps.id, "merchant": m["id"], "currency": "BDT",
                     "amount": Decimal(funds), "commission": Decimal("0.00"),
                     "transaction_number": f"FUNDS{m['id']}", "status": "activated", "label": "funds",
                     "postback_status": "sent", "activated_at": datetime.datetime.utcnow()})
        for start in range(0, len(rows), 1000):
            Transaction.insert_many(rows[start:start + 1000]).execute()
    return world


def sign_in(port, login, totp_secret=None):
    return Client(port).sign_in(login, PASSWORD, totp_secret)


# --- 1. the fixed-rate mix ------------------------------------------------------------------------

def fixed_rate(args, world, owner_cookie, bench1_api_key):
    m = world["merchants"][0]
    withdraw_key = m["api_key"] if args.withdraw_from == "load" else bench1_api_key
    system = m["systems"][0]
    token = world["connector_token"]
    counter = itertools.count()
    activation_numbers = itertools.count()
    json_headers = {"Content-Type": "application/json"}

    def report(client):
        n = next(counter)
        body = {"payment_system": "bkash", "wallet_number": system["wallets"][n % 2],
                "transaction_number": f"R{m['id']}-{n}", "amount": "750.00", "currency": "BDT",
                "direction": "incoming"}
        status, _ = client.json("POST", "/api/v1/ps/transactions", body, {"Authorization": f"Bearer {token}"})
        return str(status)

    def activate(client):
        n = next(activation_numbers)
        body = {"merchant": m["public_key"], "payment_system": "bkash", "transaction_number": f"A{m['id']}-{n}",
                "label": f"v{n % 500}"}
        status, data = client.json("POST", "/plugin/api/activate", body, json_headers)
        return f"{status} {(data or {}).get('status', '')}".strip()

    def withdraw(client):
        n = next(counter)
        body = {"withdrawal_id": f"load-{m['id']}-{n}", "payment_system": "bkash", "amount": "10.00",
                "currency": "BDT", "label": f"payout-{n}", "fields": WITHDRAWAL_FIELDS["bkash"](n)}
        status, data = client.json("POST", "/api/v1/withdrawals", body, {"Authorization": f"Bearer {withdraw_key}"})
        return str(status) if status != 422 else f"422 {(data or {}).get('error', {}).get('code')}"

    def config(client):
        status, _, _ = client.request("GET", f"/plugin/api/config?merchant={m['public_key']}")
        return str(status)

    def list_page(client):
        status, body, _ = client.request("GET", "/admin/transactions/", headers={"Cookie": owner_cookie})
        return str(status) if b"Transaction number" in body or status != 200 else "200 without the table"

    calls = {"connector report": report, "activate": activate, "withdrawal create": withdraw,
             "plugin config": config, "transactions list": list_page}
    keys = {"report": "connector report", "activate": "activate", "withdraw": "withdrawal create",
            "config": "plugin config", "list": "transactions list"}
    rates = {keys[k]: float(v) for k, v in (p.split("=") for p in args.rates.split(","))}
    endpoints = [(name, rates.get(name, 0), calls[name]) for name in calls]
    print(f"fixed rate for {args.duration} s: " + ", ".join(f"{n} {r:g}/s" for n, r, _ in endpoints)
          + f" (total {sum(rates.values()):g}/s; {args.concurrency} connections)", flush=True)
    stats, elapsed, late = run_fixed_rate(args.web_port, endpoints, args.duration, args.concurrency,
                                          warmup=args.warmup)
    lines = format_table(stats, elapsed, names=list(calls), warmup=args.warmup)
    print("\n".join(lines))
    print(f"{late} requests started more than 100 ms after their intended time (all connections busy); "
          f"the first {args.warmup:g} s are not counted")
    return stats, lines


# --- 2. the list page ---------------------------------------------------------------------------

def list_cases(rows, tz_name):
    """(name, [query strings]) — the filter values rotate through real rows of Bench 1."""
    from zoneinfo import ZoneInfo

    rng = random.Random(7)
    sample = rng.sample(rows, min(len(rows), 400))
    labels = [r[0] for r in sample]
    numbers = [r[1] for r in sample]
    tz = ZoneInfo(tz_name)
    today = datetime.datetime.now(tz).date()

    def week(i):
        end = today - datetime.timedelta(days=10 + (i * 7) % 150)
        return f"{end - datetime.timedelta(days=6)} to {end}"

    def q(**params):
        return "?" + urllib.parse.urlencode(params)

    return [
        ("no filter (newest first)", ["" if i % 2 else "?page=1" for i in range(len(sample))], None),
        ("label", [q(flt0_label_equals=v) for v in labels], labels),
        ("transaction number", [q(flt0_transaction_number_equals=v) for v in numbers], numbers),
        ("creation date, 7 days", [q(flt0_creation_date_between=week(i)) for i in range(len(sample))], None),
        ("label + creation date", [q(flt0_label_equals=v, flt1_creation_date_between=f"{today - datetime.timedelta(days=181)} to {today}")
                                   for v in labels], labels),
    ]


def measure_list(port, client, who, cases, repeat):
    results = []
    for name, queries, expect in cases:
        samples = []
        for i in range(repeat + 5):
            query = queries[i % len(queries)]
            started = time.perf_counter()
            status, body, _ = client.request("GET", "/admin/transactions/" + query)
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                raise SystemExit(f"{who} {name}: HTTP {status} for {query}")
            if expect is not None and expect[i % len(expect)].encode() not in body:
                raise SystemExit(f"{who} {name}: the page for {query} does not show {expect[i % len(expect)]}")
            if i >= 5:
                samples.append(elapsed)
        samples.sort()
        row = (who, name, len(samples), percentile(samples, 50), percentile(samples, 95), percentile(samples, 99),
               samples[-1])
        results.append(row)
        print(f"  {who:15} {name:28} n={row[2]:4d}  p50 {row[3]:6.1f} ms  p95 {row[4]:6.1f} ms  "
              f"p99 {row[5]:6.1f} ms  max {row[6]:6.1f} ms", flush=True)
    return results


# --- 3. EXPLAIN ----------------------------------------------------------------------------------

def explain(app, cookie, who, cases):
    """The SELECTs on "transaction" each case runs, and EXPLAIN (ANALYZE, BUFFERS) of each."""
    from backoffice.db import db

    captured = []

    class Capture(logging.Handler):
        def emit(self, record):
            if isinstance(record.msg, tuple) and len(record.msg) == 2:  # peewee logs (sql, params)
                sql, params = record.msg
                if 'FROM "transaction"' in sql and sql.lstrip().upper().startswith("SELECT"):
                    captured.append((sql, params))

    logger = logging.getLogger("peewee")
    handler = Capture()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    client = app.test_client()
    client.set_cookie("session", cookie, domain="localhost")
    try:
        for name, queries, _ in cases:
            captured.clear()
            response = client.get("/admin/transactions/" + queries[0])
            assert response.status_code == 200, response.status_code
            for sql, params in list(captured):
                print(f"\n--- {who}, {name}: {queries[0] or '(no query)'}")
                print(f"{sql}\n    params: {params}")
                with app.app_context(), db.connection_context():
                    plan = db.execute_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
                for (line,) in plan:
                    print("    " + line)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds at the start not counted")
    parser.add_argument("--rates", default="report=20,activate=20,withdraw=5,config=20,list=5",
                        help="requests per second per endpoint")
    parser.add_argument("--withdraw-from", choices=("load", "bench1"), default="load",
                        help="whose withdrawals: this run's small merchant, or seeded 'Bench 1' (~200 k "
                             "transactions: the balance check sums them on every request)")
    parser.add_argument("--concurrency", type=int, default=32, help="client connections")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_load")
    parser.add_argument("--transactions", type=int, default=1_000_000, help="seeded rows (seed-bench)")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    parser.add_argument("--list-repeat", type=int, default=200)
    parser.add_argument("--skip-fixed", action="store_true")
    parser.add_argument("--skip-list", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="simple", choices=("simple", "fork"))
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--redis-port", type=int, default=6392)
    parser.add_argument("--web-port", type=int, default=8742)
    args = parser.parse_args()
    instance, log = begin_run(args.database, "bench-load-", BENCH_CONFIG)
    procs = Procs()
    if args.fresh:
        recreate_database(args.database)
    redis = RedisServer(procs, args.redis_port, os.path.join(instance, "redis"))
    redis.start()
    app = init_app_in_process(args.database, redis.url, instance)
    from backoffice.db import db
    from backoffice.models import Merchant

    bench1_id, total, rows = ensure_seeded(app, args.transactions)
    with app.app_context(), db.connection_context():
        bench1_api_key = Merchant.get_by_id(bench1_id).api_key
    activations = int(args.duration * 60 + 1000)  # enough for any --rates activate= up to 60/s
    world = add_load_merchant(app, activations, "1000000000.00")
    receiver, web, workers = start_stack(app, procs, world, args, redis.url, instance, log)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{started}: {total} transactions in the database; gunicorn {args.web_workers}x{args.web_threads} "
          f"(gthread), {args.workers} {args.worker_class} workers", flush=True)
    try:
        owner = sign_in(args.web_port, BENCH_OWNER)
        operator = sign_in(args.web_port, world["operator"]["login"], world["operator"]["totp_secret"])
        if not args.skip_fixed:
            fixed_rate(args, world, f"session={owner.cookies['session']}", bench1_api_key)
            from backoffice.models import Postback

            deadline = time.time() + 60
            while time.time() < deadline:
                with app.app_context(), db.connection_context():
                    outbox = Postback.select().where(Postback.merchant == world["merchants"][0]["id"]).count()
                    waiting = Postback.select().where(Postback.status == "pending").count()
                if not waiting:
                    break
                time.sleep(0.5)
            print(f"postbacks: {outbox} written to the outbox, {receiver.count()} received, {waiting} still pending")
        if not args.skip_list or args.explain:
            cases = list_cases(rows, "Asia/Dhaka")
        if not args.skip_list:
            print(f"\nGET /admin/transactions/ over {total} rows, {args.list_repeat} sequential requests per case:")
            results = measure_list(args.web_port, owner, "merchant owner", cases, args.list_repeat)
            op_cases = list_cases(rows, "UTC")  # the operator's zone: UTC (no time zone of their own)
            results += measure_list(args.web_port, operator, "operator", op_cases, args.list_repeat)
            worst = max(r[4] for r in results)
            print(f"worst p95: {worst:.1f} ms (target: under 100 ms) -> {'met' if worst < 100 else 'MISSED'}")
        if args.explain:
            explain(app, owner.cookies["session"], "merchant owner", cases)
            explain(app, operator.cookies["session"], "operator", list_cases(rows, "UTC"))
    finally:
        procs.kill_all()
        receiver.stop()


if __name__ == "__main__":
    run_main(main)
