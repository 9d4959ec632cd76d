"""Activation throughput and latency against a running server on PostgreSQL.

    .venv/bin/python bench/activations.py [--transactions 60000] [--duration 20]
        [--workers 4] [--threads 1] [--worker-class sync] [--connections 6]
        [--database postgresql://postgres@127.0.0.1:5432/bench_activations]

It creates (or empties) the benchmark database, migrates it, seeds one merchant with
a wallet and N reported transactions, starts gunicorn on 127.0.0.1 (the WSGI app in
wsgi.py, REDIS_URL on the machine's Redis for the rate limits), and drives
``POST /plugin/api/activate`` with wrk (Debian's ``wrk``; a Lua script gives every
request its own transaction number, half of them under the minimum deposit so
stockpilings open and complete too). It prints requests/s and the latency
percentiles, then checks in the database that every transaction activated at most
once and that each completed deposit has exactly one ``deposit.completed`` event and
one delivery (the merchant has one webhook endpoint; no worker runs, nothing is sent).
Target (issue 3): at least 500 activations/s with p99 under 50 ms on 2 cores.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common import recreate_database, wait_for  # noqa: E402 - bench/ is on the path when run as a script

LUA = r"""
local counter = 0
local tid = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  tid = tonumber(args[1]) or 0
  stride = tonumber(args[2])
  pk = args[3]
end
request = function()
  local n = tid + counter * stride
  counter = counter + 1
  local body = string.format('{"merchant":"%s","payment_system":"bkash","transaction_number":"B%08d","label":"v%d"}',
                             pk, n, n % 5000)
  return wrk.format("POST", "/plugin/api/activate", {["Content-Type"]="application/json"}, body)
end
"""


def seed(url, count):
    from backoffice.db import apply_migrations, db, init_db
    from backoffice.models import (
        MatchingPolicy, Merchant, MerchantPaymentSystem, PaymentSystem, Transaction, Wallet, WebhookEndpoint)
    from backoffice.security import new_api_key, new_postback_secret, new_public_key

    init_db(url)
    apply_migrations()
    with db.connection_context(), db.atomic():
        ps = PaymentSystem.create(code="bkash", name="bKash", currency="BDT")
        m = Merchant.create(name="Bench", public_key=new_public_key(), api_key=new_api_key())
        # Matching on the number alone, as these figures always have (the default policy
        # asks for the sender's digits: bench/matching.py measures that side by side).
        MatchingPolicy.create(merchant=m, require_sender=False, window_minutes=None)
        # One webhook endpoint, so each completed deposit writes one delivery (no worker
        # runs here: nothing is sent).
        WebhookEndpoint.create(merchant=m, url="http://127.0.0.1:9/unset", secret=new_postback_secret())
        MerchantPaymentSystem.create(merchant=m, payment_system=ps, min_deposit=Decimal("500.00"),
                                     commission_percent=Decimal("2.00"))
        w = Wallet.create(merchant=m, payment_system=ps, identifier="bench", number="01700000000")
        rows = [{"wallet": w.id, "payment_system": ps.id, "merchant": m.id, "currency": "BDT",
                 "amount": Decimal("600.00") if i % 2 else Decimal("200.00"), "commission": Decimal("4.00"),
                 "transaction_number": f"B{i:08d}"} for i in range(count)]
        for start in range(0, count, 1000):
            Transaction.insert_many(rows[start:start + 1000]).execute()
    return m.public_key


def parse_wrk(output):
    figures = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    figures["rps"] = float(match.group(1)) if match else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", output, re.M)
        if m:
            value, unit = float(m.group(1)), m.group(2)
            figures[f"p{pct}_ms"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    m = re.search(r"(\d+) requests in", output)
    figures["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["non_2xx"] = int(m.group(1)) if m else 0
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_activations")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--transactions", type=int, default=60000)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync",
                        help="gunicorn's: sync (the README's deployment) or gthread")
    parser.add_argument("--connections", type=int, default=6)
    parser.add_argument("--port", type=int, default=8731)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")

    recreate_database(args.database)
    public_key = seed(args.database, args.transactions)
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    instance = tempfile.mkdtemp(prefix="bench-instance-")
    env = dict(os.environ, DATABASE_URL=args.database, REDIS_URL=args.redis, BACKOFFICE_INSTANCE_PATH=instance,
               SECRET_KEY="bench-only", BACKOFFICE_PLUGIN_LIMIT_PER_ADDRESS="1000000 per minute")
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    server = subprocess.Popen([gunicorn, "-w", str(args.workers), "--threads", str(args.threads), "-k", args.worker_class,
                               "-b", f"127.0.0.1:{args.port}", "--log-level", "warning", "wsgi:app"],
                              cwd=ROOT, env=env)
    try:
        wait_for(f"http://127.0.0.1:{args.port}/healthz")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(LUA)
        stride = 1
        # One wrk thread with all connections: a single counter, so no number repeats.
        cmd = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency", "-s", fh.name,
               f"http://127.0.0.1:{args.port}", "--", "0", str(stride), public_key]
        output = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        print(output)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)

    figures = parse_wrk(output)
    from backoffice.db import db
    from backoffice.models import Event, Postback, Stockpiling, Transaction

    with db.connection_context():
        activated = Transaction.select().where(Transaction.status == "activated").count()
        singles = Transaction.select().where((Transaction.status == "activated") & Transaction.stockpiling.is_null()
                                             & (Transaction.postback_status == "pending")).count()
        completed = Stockpiling.select().where(Stockpiling.status == "completed").count()
        postbacks = Postback.select().count()
        events = Event.select().where(Event.event_type == "deposit.completed").count()
    print(f"activations/s: {figures['rps']:.0f}  p50 {figures.get('p50_ms', 0):.1f} ms  "
          f"p90 {figures.get('p90_ms', 0):.1f} ms  p99 {figures.get('p99_ms', 0):.1f} ms  "
          f"requests {figures['requests']}  non-2xx {figures['non_2xx']}")
    print(f"activated transactions: {activated}; deposits complete: {singles} single + {completed} stockpiled; "
          f"deposit.completed events: {events}, their deliveries (one endpoint): {postbacks}")
    ok = events == postbacks == singles + completed and figures["non_2xx"] == 0
    print("consistency:", "OK" if ok else "MISMATCH")
    if figures["requests"] and figures["requests"] > args.transactions:
        print("note: more requests than seeded transactions; the rest answered not_found")


if __name__ == "__main__":
    main()
