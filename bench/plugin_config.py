"""Plugin config with wallet limits (issue 19): the latency of ``GET /plugin/api/config``
at 200 wallets per merchant, this code (limits, totals and pauses set on the wallets)
against the code before issue 19, in one sitting.

    git worktree add /tmp/ref19 980154f            # the code before issue 19 (the "ref" rows)
    .venv/bin/python bench/plugin_config.py [--ref /tmp/ref19] [--duration 10] [--repeats 3]
        [--layouts one,several] [--configs ref,new,new_amount]
        [--connections 6] [--workers 4] [--others 10] [--keep]

Since issue 19 the config answer weighs each wallet's limits against its running totals
and stamps the wallet it shows (one ``UPDATE``, at most once a minute per wallet).
PostgreSQL judges the eligibility and computes the headroom in one prepared statement
(``services.wallets.eligible_by_system``: paused and spent wallets out, five columns of
the eligible ones back) and ``services.wallets.pick`` chooses among them (no limit
first, else the most headroom, the label's hash among equals). Before issue 19, the
answer picked one of the active wallets by the label's hash.

Two databases on the local PostgreSQL, each migrated and seeded by its own code (a
subprocess with that code first on the path), with the same rows: four payment systems,
a merchant "one" whose 200 wallets are all on bKash, a merchant "several" whose 200 are
spread over the four systems (50 each), and ``--others`` merchants with 200 wallets each
(so the wallet table is not just the measured merchant's). In this code's database
every wallet also gets operations data, by its position ``i`` in its merchant's
system: every 25th paused by an operator, the next paused for silence (automatic pause
on), the next at its daily limit today, the next at its monthly limit; the rest a daily
limit of 50,000 and a monthly of 1,000,000 (odd ones also a maximum of 25,000 per
transaction), a third of them with nothing received today (the most headroom: the tie
the label's hash breaks, so the wallet shown varies from visitor to visitor) and the
others part of their day and month spent. Days are the merchant's (Asia/Dhaka).

Each run: a fresh gunicorn (``wsgi:app`` of the code measured, ``--workers`` sync
workers, the README's deployment) on its own database, Redis (``--redis``, flushed:
the config's rate limit, raised out of reach in the instance's config.py, is still
counted there as deployed), a warm-up, then ``wrk`` (one thread, ``--connections``
connections) asking the config of the layout's merchant for a new label on every
request (``label=v<n>``, 100,000 labels). Configurations, interleaved round by round
(the order reversed every other round):

* ``ref``: the code before issue 19 (``--ref``, a checkout of 980154f);
* ``new``: this code, the same requests;
* ``new_amount``: this code with the visitor's amount in the query (``amount=1000.00``:
  the maximum per transaction and the headroom weighed against it).

Each run prints requests/s, p50/p90/p95/p99 (wrk's own histogram, read by the Lua
script's ``done``), the CPU per request of the gunicorn workers and of their
PostgreSQL backends (``/proc``), and, for this code, a check of the answers (300 more
labels: every answer 200, no paused or spent wallet shown, nor one whose maximum the
amount passes, only wallets with the most headroom, several different ones per system). The table gives the medians and the ratio new / ref, by medians and
round by round. Target (issue 19): p95 within 1.2× of the reference. Both databases
are dropped at the end unless ``--keep``. Figures: docs/benchmarks.md, "Plugin config
with wallet limits (issue 19)".
"""
import argparse
import datetime
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from common import (add_cpu_per_request, check_setup, choices, code_env, cpu_ticks, drop_database,  # noqa: E402
                    lua_file, migrate_code, pg_cursor, print_seeded, recreate_database, run_bench, run_wrk,
                    start_gunicorn, stop_server, subcommand_args, subprocess_json)

CONFIG_ORDER = ("ref", "new", "new_amount")
LAYOUTS = ("one", "several")
SYSTEMS = (("bkash", "bKash"), ("nagad", "Nagad"), ("rocket", "Rocket"), ("upay", "Upay"))
WALLETS = 200
TIMEZONE = "Asia/Dhaka"
LABELS = 100000
AMOUNT = "1000.00"
UNLIMITED = "100000000 per minute"

LUA = r"""
local counter = 0
function init(args)
  pk = args[1]
  extra = args[2] or ""
  base = tonumber(args[3]) or 0
end
request = function()
  local n = base + counter
  counter = counter + 1
  return wrk.format("GET", string.format("/plugin/api/config?merchant=%s&label=v%d%s", pk, n % 100000, extra))
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d non2xx=%d errors=%d duration_us=%d p50=%d p90=%d p95=%d p99=%d max=%d\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency.max))
end
"""


# --- run in a subprocess with the code under test first on the path ---------------------

def seed_main(argv):
    """``_seed``: migrate and seed one database with the code at ``--code``; prints the
    public keys of the measured merchants (JSON)."""
    args = subcommand_args(argv, ("code", "database"), ("others",))
    from backoffice.db import db
    from backoffice.models import Merchant, MerchantPaymentSystem, PaymentSystem, Wallet, utcnow
    from backoffice.security import new_api_key, new_public_key

    migrate_code(args.code, args.database)
    operations = hasattr(Wallet, "daily_limit")  # this code; the reference has none of it
    now = utcnow()
    if operations:
        from backoffice.services.wallets import local_day

        today = local_day(TIMEZONE, now)
    keys = {}
    with db.connection_context(), db.atomic():
        systems = [PaymentSystem.create(code=code, name=name, currency="BDT") for code, name in SYSTEMS]
        layouts = [("one", [systems[0]])] + [("several", systems)] + [(f"other-{k}", systems)
                                                                       for k in range(args.others)]
        for name, own in layouts:
            m = Merchant.create(name=f"Bench {name}", public_key=new_public_key(), api_key=new_api_key(),
                                timezone=TIMEZONE)
            keys[name] = m.public_key
            for order, ps in enumerate(own):
                MerchantPaymentSystem.create(merchant=m, payment_system=ps, min_deposit=Decimal("500.00"),
                                             commission_percent=Decimal("2.00"), display_order=order)
            rows = []
            per = WALLETS // len(own)
            for k, ps in enumerate(own):
                for i in range(per):
                    row = {"merchant": m.id, "payment_system": ps.id, "identifier": f"{name}-{ps.code}-{i}",
                           "number": f"01{m.id:03d}{k}{i:05d}"}
                    if operations:
                        row.update(operations_of(i, today, now))
                    rows.append(row)
            Wallet.insert_many(rows).execute()
    print_seeded({"keys": keys, "operations": operations})


def operations_of(i, today, now):
    """The operations columns of the i-th wallet of a merchant's system (see the module's
    doc); every row names every column (one multi-row INSERT)."""
    minutes = datetime.timedelta(minutes=1)
    base = {"day_start": today, "month_start": today.replace(day=1), "last_report_at": now - (i % 50) * minutes,
            "daily_limit": Decimal("50000.00"), "monthly_limit": Decimal("1000000.00"), "max_per_transaction": None,
            "paused": False, "paused_reason": None, "auto_pause": False, "offered_since": None,
            "last_offered_at": None}
    kind = i % 25
    if kind == 0:
        return dict(base, paused=True, paused_reason="manual", day_total=Decimal("0.00"), month_total=Decimal("0.00"))
    if kind == 1:
        return dict(base, paused=True, paused_reason="silent", auto_pause=True, day_total=Decimal("0.00"),
                    month_total=Decimal("0.00"), offered_since=now - 40 * minutes, last_offered_at=now - minutes)
    if kind == 2:
        return dict(base, day_total=Decimal("50000.00"), month_total=Decimal("300000.00"))
    if kind == 3:
        return dict(base, day_total=Decimal("20000.00"), month_total=Decimal("1000000.00"))
    spent = Decimal("0.00") if i % 3 == 0 else Decimal((i * 3701) % 45000) + Decimal("0.50")
    values = dict(base, day_total=spent, month_total=spent + Decimal((i * 10007) % 500000),
                  auto_pause=i % 2 == 0)
    if i % 2:
        values["max_per_transaction"] = Decimal("25000.00")
    return values


# --- the bench ------------------------------------------------------------------------------

def parse_done(output):
    match = re.search(r"^BENCH (.*)$", output, re.M)
    if not match:
        raise SystemExit("wrk gave no figures:\n" + output)
    values = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    figures = {f"{p}_ms": values[p] / 1000 for p in ("p50", "p90", "p95", "p99", "max")}
    figures.update(requests=values["requests"], non_2xx=values["non2xx"], errors=values["errors"],
                   rps=values["requests"] / (values["duration_us"] / 1e6))
    return figures


class Bench:
    def __init__(self, args):
        self.args = args
        self.new_db = args.database
        self.ref_db = args.database + "_ref"
        self.configs, self.layouts = choices("configurations or layouts", (args.configs, CONFIG_ORDER),
                                             (args.layouts, LAYOUTS))
        self.instance = tempfile.mkdtemp(prefix="bench-plugin-config-")
        with open(os.path.join(self.instance, "config.py"), "w") as fh:
            fh.write(f"# Written by bench/plugin_config.py.\nPLUGIN_CONFIG_LIMIT = {UNLIMITED!r}\n")
        self.lua = lua_file(LUA)
        self.results = {(layout, c): [] for layout in self.layouts for c in self.configs}
        self.counter = 0

    def code(self, config):
        return self.args.ref if config == "ref" else ROOT

    def database(self, config):
        return self.ref_db if config == "ref" else self.new_db

    def seed(self):
        self.keys = {}
        for database, code in ((self.new_db, ROOT), (self.ref_db, self.args.ref)):
            if database == self.ref_db and "ref" not in self.configs:
                continue
            recreate_database(database)
            t0 = time.time()
            seeded = subprocess_json([sys.executable, os.path.abspath(__file__), "_seed", "--code", code,
                                      "--database", database, "--others", str(self.args.others)],
                                     cwd=code, env=code_env(code), failure=f"seeding {database} failed")
            if seeded["operations"] != (database == self.new_db):
                raise SystemExit(f"{code} is not the code expected for {database}")
            self.keys[database] = seeded["keys"]
            print(f"seeded {database} ({code}): {(2 + self.args.others) * WALLETS} wallets "
                  f"in {time.time() - t0:.1f} s", flush=True)

    def serve(self, config):
        a = self.args
        env = code_env(self.code(config), DATABASE_URL=self.database(config), REDIS_URL=a.redis,
                       BACKOFFICE_INSTANCE_PATH=self.instance)
        return start_gunicorn(self.code(config), env, a.port, a.workers)

    def wrk(self, layout, config, seconds):
        a = self.args
        extra = f"&amount={AMOUNT}" if config.endswith("_amount") else ""
        self.counter += 7919  # each run starts at other labels
        return run_wrk(self.lua, a.port, a.connections, seconds,
                       [self.keys[self.database(config)][layout], extra, str(self.counter)])

    def check(self, layout, config):
        """This code's answers for a sample of labels: every one 200, no paused or spent
        wallet shown (nor one whose maximum the amount passes), only wallets with the most
        headroom shown (in the seeded rows: nothing received today, so 50,000 left of the
        day), several different wallets shown per system."""
        if config == "ref":
            return True, ""
        key = self.keys[self.new_db][layout]
        shown, bad, statuses = {}, [], set()
        for n in range(300):
            url = f"http://127.0.0.1:{self.args.port}/plugin/api/config?merchant={key}&label=check{n}"
            if config.endswith("_amount"):
                url += f"&amount={AMOUNT}"
            with urllib.request.urlopen(url, timeout=10) as response:
                statuses.add(response.status)
                for option in json.loads(response.read())["payment_systems"]:
                    shown.setdefault(option["code"], set()).add(option["wallet_number"])
        with pg_cursor(self.new_db) as cur:
            numbers = [n for numbers in shown.values() for n in numbers]
            cur.execute("""SELECT number FROM wallet WHERE number = ANY(%s) AND (paused OR NOT active
                           OR month_total >= monthly_limit OR max_per_transaction < %s
                           OR (day_start = (now() AT TIME ZONE %s)::date AND day_total > 0))""",
                        (numbers, Decimal(AMOUNT) if config.endswith("_amount") else 0, TIMEZONE))
            bad = [row[0] for row in cur.fetchall()]
        systems = 1 if layout == "one" else len(SYSTEMS)
        ok = statuses == {200} and not bad and len(shown) == systems and all(len(v) >= 5 for v in shown.values())
        return ok, f"systems {len(shown)}, wallets shown per system {sorted(len(v) for v in shown.values())}" + (
            f", WRONG: {bad}" if bad else "")

    def run_once(self, layout, config, rep):
        import redis

        redis.Redis.from_url(self.args.redis).flushdb()
        with pg_cursor(self.database(config)) as cur:
            cur.execute("CHECKPOINT")
        server = self.serve(config)
        try:
            if self.args.warmup:
                self.wrk(layout, config, self.args.warmup)
            before = cpu_ticks(server, self.database(config))
            output = self.wrk(layout, config, self.args.duration)
            after = cpu_ticks(server, self.database(config))
            ok, note = self.check(layout, config)
        finally:
            stop_server(server)
        figures = add_cpu_per_request(parse_done(output), before, after)
        figures.update(ok=ok and figures["non_2xx"] == 0 and figures["errors"] == 0, load=os.getloadavg()[0])
        self.results[(layout, config)].append(figures)
        print(f"round {rep + 1} {layout:8} {config:10} {figures['rps']:7.0f}/s  p50 {figures['p50_ms']:6.2f}  "
              f"p95 {figures['p95_ms']:6.2f}  p99 {figures['p99_ms']:6.2f} ms  CPU/request "
              f"{figures['cpu_app_ms']:.2f} + {figures['cpu_db_ms']:.2f} ms  non-2xx {figures['non_2xx']}  "
              f"load {figures['load']:.1f}  {'OK' if figures['ok'] else 'CHECK'} {note}", flush=True)

    def run(self):
        a = self.args
        self.seed()
        started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        for rep in range(a.repeats):
            for layout in self.layouts:
                order = self.configs if rep % 2 == 0 else list(reversed(self.configs))
                for config in order:
                    self.run_once(layout, config, rep)
        self.report(started, time.strftime("%H:%M", time.gmtime()))

    def report(self, started, ended):
        a = self.args
        print(f"\nMeasured {started}–{ended} UTC; load average now {os.getloadavg()[0]:.1f}")
        print(f"{a.workers} sync workers, wrk 1 thread × {a.connections} connections, {a.duration} s per run after "
              f"{a.warmup} s of warm-up, medians of {a.repeats} runs; {WALLETS} wallets per merchant")
        keys = ("rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "cpu_app_ms", "cpu_db_ms", "cpu_ms")
        print("| layout | code | requests/s | p50 | p90 | p95 | p99 | CPU/request (app + db) | p95 vs ref "
              "| p95 vs ref, round by round | checks |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
        verdicts = []
        for layout in self.layouts:
            med = {c: {k: statistics.median(r[k] for r in self.results[(layout, c)]) for k in keys}
                   for c in self.configs}
            for c in self.configs:
                m = med[c]
                ratio, paired = "–", "–"
                if c != "ref" and "ref" in med:
                    value = m["p95_ms"] / med["ref"]["p95_ms"]
                    ratio = f"{value:.2f}×"
                    rounds = [x["p95_ms"] / y["p95_ms"] for x, y in zip(self.results[(layout, c)],
                                                                          self.results[(layout, "ref")])]
                    paired = ", ".join(f"{r:.2f}" for r in rounds) + f" (median {statistics.median(rounds):.2f})"
                    verdicts.append((layout, c, value))
                ok = "OK" if all(r["ok"] for r in self.results[(layout, c)]) else "CHECK"
                print(f"| {layout} | {c} | {m['rps']:.0f} | {m['p50_ms']:.2f} ms | {m['p90_ms']:.2f} ms | "
                      f"{m['p95_ms']:.2f} ms | {m['p99_ms']:.2f} ms | {m['cpu_ms']:.2f} ({m['cpu_app_ms']:.2f} + "
                      f"{m['cpu_db_ms']:.2f}) ms | {ratio} | {paired} | {ok} |")
        print()
        for layout, c, value in verdicts:
            print(f"{layout}/{c}: p95 {value:.2f}× the reference (target ≤ 1.2): {'met' if value <= 1.2 else 'MISSED'}")

    def cleanup(self):
        if self.args.keep:
            return
        for database in (self.new_db, self.ref_db):
            drop_database(database)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_seed":
        return seed_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_plugin_config",
                        help="this code's database; the reference's is the same name + _ref (both recreated)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--ref", default="/tmp/ref19", help="a checkout of the code before issue 19 (980154f)")
    parser.add_argument("--configs", default=",".join(CONFIG_ORDER))
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=6)
    parser.add_argument("--port", type=int, default=8733)
    parser.add_argument("--others", type=int, default=10, help="other merchants, 200 wallets each")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    check_setup(args, "ref", args.ref, "980154f", "new")
    run_bench(Bench(args))


if __name__ == "__main__":
    main()
