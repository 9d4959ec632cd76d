"""Matching policy and attempt log (issue 18): activations/s and latency with the
policy and the risk rules on, side by side with them off, in one sitting.

    git worktree add /tmp/pre18 144268c~1          # the code before issue 18 (the "pre18" rows)
    .venv/bin/python bench/matching.py [--duration 15] [--repeats 3] [--configs pre18,a0,off,on,on_generic]
        [--pre18 /tmp/pre18] [--workers 4] [--connections 6] [--explain] [--keep]

What ``bench/activations.py`` does (gunicorn ``wsgi:app`` on 127.0.0.1, ``wrk`` driving
``POST /plugin/api/activate`` with a new transaction number per request, half of them
under the minimum deposit so stockpilings open), for several
configurations, each measured ``--repeats`` times, interleaved (the order reversed
every other round), every run on a freshly started server after a short warm-up:

* ``pre18``: the code before issue 18 (``--pre18``, a checkout of ``144268c~1``) on a
  database of its own, migrated and seeded by that code exactly as the others;
* ``a0``: this code, no matching policy row (the built-in policy: the number alone),
  no blocklist, and the attempt log NOT written (the bench's gunicorn config replaces
  ``services.attempts.record`` with a no-op in each worker: no code changed);
* ``off``: the same with the attempt log written (what the product does);
* ``on``: the merchant's own policy: the sender's last 4 digits required (the
  visitor sends the right ones), a 24 h window, velocity limits (per label per hour,
  per sender per day) set high enough never to refuse, review thresholds above every
  amount used; and ``--blocks`` blocklist rows (labels, senders, networks; half for
  every merchant, half for this one or others), none of which hits the traffic;
* ``on_generic``: ``on`` with ``PGOPTIONS=-c plan_cache_mode=force_generic_plan`` for
  the app's connections (a proposal measured without changing code: with a big
  attempt log PostgreSQL re-plans the ``on`` claim on every execution).

Data (both databases the same): ``--merchants`` merchants (the first is measured),
each with a bKash wallet; every transaction has a sender (``counterparty``) from a
pool of ``--senders`` wallets, reported within the last 20 hours. This code's database
also gets ``--history`` old attempts (2 to 180 days old, the same labels and senders)
so the attempt log is not an empty table. The plugin's rate limits are raised out of
reach (1,000,000 a minute, as ``bench/activations.py`` and ``bench/harness.py`` do; they
are still counted on Redis, as deployed); Redis (``--redis``, flushed before each run)
also takes the webhook dispatcher's wake-ups.

Each run reports activations/s and wrk's latency percentiles, and the CPU time per
activation of the gunicorn workers and of their PostgreSQL backends (``/proc``): on a
machine shared with other work, the CPU a configuration needs is the steadier figure.
Every run uses labels of its own (no stockpiling carries over), and the database is
checked after it: every answer 200, every request activated its transaction, the
attempt log's reasons only ``activated``/``stockpiling`` (a run that exhausted its
numbers is flagged). ``--explain`` adds the statements an activation sends in each
configuration, each timed (in-process, through Flask's test client), which prepared
statements PostgreSQL re-plans on every execution (``pg_prepared_statements``), and
``EXPLAIN (ANALYZE, BUFFERS)`` of the ``off`` and ``on`` claims with the custom and the
generic plan. Both databases are dropped at the end unless ``--keep``. Figures and
findings: docs/benchmarks.md, "Matching policy and attempt log (issue 18)".
"""
import argparse
import datetime
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from activations import parse_wrk  # noqa: E402 - bench/ is on the path
from common import (add_cpu_per_request, check_setup, choices, code_env, cpu_ticks, drop_database,  # noqa: E402
                    lua_file, migrate_code, pg_cursor, print_seeded, recreate_database, run_bench, run_wrk,
                    start_gunicorn, stop_server, subcommand_args, subprocess_json)

CONFIG_ORDER = ("pre18", "a0", "off", "on", "on_generic")
DESCRIPTIONS = {
    "pre18": "before issue 18 (144268c~1)",
    "a0": "off, attempt log not written",
    "off": "off: no policy row, no blocks",
    "on": "on: sender, window, velocity, blocks, review",
    "on_generic": "on, generic plans forced (PGOPTIONS)",
}
# The plugin's three rate limits out of the way (still counted on Redis, as deployed):
# RATELIMIT_ENABLED=False cannot be used, create_app fails with it (extensions._Limiter).
UNLIMITED = {f"BACKOFFICE_PLUGIN_LIMIT_PER_{k}": "1000000 per minute" for k in ("ADDRESS", "LABEL", "NUMBER")}
RATE_BUDGET = 1000  # transactions seeded per second of a run (the most this machine made: ~630/s)
# The traffic's labels: <run>-v0 … <run>-v4999, new labels in every run, so that each
# run starts with no open stockpiling and makes the same mix of outcomes (half single
# deposits, half stockpilings opened; a label's 3rd payment in a run completes one).
LABELS = 5000
NETWORK = "127.0.0.0/24"  # wrk's network, as matching.network_of gives it

LUA = r"""
local counter = 0
function init(args)
  base = tonumber(args[1])
  pk = args[2]
  pool = tonumber(args[3])
  with_sender = args[4] == "1"
  prefix = args[5]
end
request = function()
  local n = base + counter
  counter = counter + 1
  local sender = ""
  if with_sender then
    sender = string.format(',"sender_last4":"%04d"', ((n % pool) * 37 + 11) % 10000)
  end
  local body = string.format('{"merchant":"%s","payment_system":"bkash","transaction_number":"M%09d","label":"%sv%d"%s}',
                             pk, n, prefix, n % 5000, sender)
  return wrk.format("POST", "/plugin/api/activate", {["Content-Type"]="application/json"}, body)
end
"""

# The a0 configuration: each gunicorn worker, once forked, drops the attempt log.
NO_ATTEMPTS_CONF = """
def post_fork(server, worker):
    from backoffice.services import attempts
    attempts.record = lambda *args, **kwargs: None
"""


def counterparty(i, senders):
    """The sender of the i-th transaction (the Lua script sends its last 4 digits)."""
    return f"018{(i % senders) * 37 + 11:08d}"


def number(i):
    return f"M{i:09d}"


# --- run in a subprocess with the code under test first on the path ---------------------

def seed_main(argv):
    """``_seed``: migrate and seed one database with the code at ``--code`` (both code
    versions have every model used here); prints the merchants' ids and public key."""
    args = subcommand_args(argv, ("code", "database"), ("transactions", "senders", "merchants"), others=10000)
    from backoffice.db import db
    from backoffice.models import Merchant, MerchantPaymentSystem, PaymentSystem, Wallet, WebhookEndpoint
    from backoffice.models import utcnow
    from backoffice.security import new_api_key, new_postback_secret, new_public_key

    migrate_code(args.code, args.database)
    now = utcnow()
    with db.connection_context(), db.atomic():
        ps = PaymentSystem.create(code="bkash", name="bKash", currency="BDT")
        merchants = []
        for k in range(args.merchants):
            m = Merchant.create(name=f"Bench {k + 1}", public_key=new_public_key(), api_key=new_api_key())
            # One webhook endpoint, so each completed deposit writes one delivery (no
            # worker runs: nothing is sent).
            WebhookEndpoint.create(merchant=m, url="http://127.0.0.1:9/unset", secret=new_postback_secret())
            MerchantPaymentSystem.create(merchant=m, payment_system=ps, min_deposit=Decimal("500.00"),
                                         commission_percent=Decimal("2.00"))
            wallet = Wallet.create(merchant=m, payment_system=ps, identifier=f"bench-{k}", number=f"017{k:08d}")
            merchants.append((m, wallet))
        for k, (m, wallet) in enumerate(merchants):
            # Set-based (the columns both code versions have): i-th amount, number and
            # sender as number() and counterparty() give them, reported within 20 hours.
            db.execute_sql(
                """INSERT INTO "transaction" (wallet_id, payment_system_id, merchant_id, amount, currency, commission,
                       transaction_number, direction, counterparty, type, originality, status, postback_status,
                       created_at)
                   SELECT %s, %s, %s, CASE WHEN i % 2 = 1 THEN 600.00 ELSE 200.00 END, 'BDT', 4.00,
                          %s || lpad(i::text, 9, '0'), 'incoming',
                          '018' || lpad((((i + %s) % %s) * 37 + 11)::text, 8, '0'), 'auto', 'normal', 'new',
                          'not_activated', %s - (i % 72000) * interval '1 second'
                   FROM generate_series(0, %s - 1) AS i""".replace("%", "%%").replace("%%s", "%s"),
                (wallet.id, ps.id, m.id, "M" if k == 0 else f"O{k}-", k * 7, args.senders, now,
                 args.transactions if k == 0 else args.others))
    print_seeded({"public_key": merchants[0][0].public_key, "merchant": merchants[0][0].id,
                  "payment_system": ps.id, "merchants": [m.id for m, _w in merchants]})


class StatementLog:
    """Every statement the app sends (``db.cursor().execute``: peewee's queries, the
    prepared ``EXECUTE``s, BEGIN and COMMIT), while ``on``."""

    def __init__(self, database):
        self.on, self.sent = False, []
        original = database.cursor
        log = self

        class Cursor:
            def __init__(self, cursor):
                self._cursor = cursor

            def execute(self, sql, params=None):
                if not log.on:
                    return self._cursor.execute(sql, params)
                t0 = time.perf_counter()
                try:
                    return self._cursor.execute(sql, params)
                finally:
                    log.sent.append((sql, time.perf_counter() - t0))

            def __getattr__(self, name):
                return getattr(self._cursor, name)

            def __iter__(self):
                return iter(self._cursor)

        database.cursor = lambda *a, **k: Cursor(original(*a, **k))

    _prepared = {}

    @classmethod
    def describe(cls, sql, width=110):
        """A statement in a few words (a prepared one by the SQL it was prepared from)."""
        if sql.startswith("EXECUTE ") or sql.startswith("PREPARE "):
            name = sql.split()[1].split("(")[0]
            if name not in cls._prepared:
                cls._prepared.update(_prepared_sql())
            sql = ("PREPARE " if sql.startswith("PREPARE ") else "") + cls._prepared.get(name, sql)
        if sql.startswith("SAVEPOINT") or sql.startswith("RELEASE"):
            sql = sql.split()[0]
        return " ".join(sql.split())[:width]


def _prepared_sql():
    """{prepared statement name: its SQL} of every CompiledQuery built in this process."""
    from backoffice.db import CompiledQuery

    found = {}
    for obj in gc.get_objects():
        if isinstance(obj, CompiledQuery):
            for entry in getattr(obj, "_compiled", {}).values():
                found[obj.name] = entry[2] if isinstance(entry, tuple) and len(entry) > 2 else str(entry)
    return found


def profile_main(argv):
    """``_profile``: activations in-process through Flask's test client with the code
    at ``--code``; prints JSON: statements per activation and one activation's list
    for a single deposit and for a stockpiling step, CPU and wall time."""
    args = subcommand_args(argv, ("code", "database", "redis", "public_key"), ("base", "count", "senders"),
                           ("sender", "no_attempts"), label_prefix="p-")
    instance = tempfile.mkdtemp(prefix="bench-matching-")
    os.environ.update(DATABASE_URL=args.database, REDIS_URL=args.redis, BACKOFFICE_INSTANCE_PATH=instance,
                      SECRET_KEY="bench-only", **UNLIMITED)
    from backoffice import create_app
    from backoffice.db import db

    app = create_app()
    if args.no_attempts:
        from backoffice.services import attempts

        attempts.record = lambda *a, **k: None
    log = StatementLog(db.obj)
    client = app.test_client()
    warm = 20
    per, cpu, wall, samples, spent = [], [], [], {}, {}
    for i in range(args.base, args.base + args.count):
        body = {"merchant": args.public_key, "payment_system": "bkash", "transaction_number": number(i),
                "label": f"{args.label_prefix}v{i % LABELS}"}
        if args.sender:
            body["sender_last4"] = counterparty(i, args.senders)[-4:]
        log.sent, log.on = [], True
        c0, w0 = time.process_time(), time.perf_counter()
        response = client.post("/plugin/api/activate", json=body)
        c1, w1 = time.process_time(), time.perf_counter()
        log.on = False
        status = response.get_json().get("status")
        if response.status_code != 200 or status not in ("activated", "stockpiling"):
            raise SystemExit(f"{number(i)}: {response.status_code} {response.get_data(as_text=True)}")
        if i - args.base < warm:
            continue
        per.append(len(log.sent))
        cpu.append((c1 - c0) * 1000)
        wall.append((w1 - w0) * 1000)
        for sql, seconds in log.sent:
            entry = spent.setdefault(StatementLog.describe(sql, 70), [0, 0.0])
            entry[0] += 1
            entry[1] += seconds * 1000
        kind = "single" if i % 2 else "stockpiling"
        if kind not in samples:
            samples[kind] = [f"{seconds * 1000:6.2f} ms  {StatementLog.describe(sql)}" for sql, seconds in log.sent]
    n = len(per)
    with app.app_context():
        plans = [(StatementLog.describe(f"EXECUTE {name}", 70), generic, custom) for name, generic, custom in db.execute_sql(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name").fetchall()]
    print(json.dumps({"statements_mean": statistics.mean(per), "statements_min": min(per), "statements_max": max(per),
                      "cpu_ms": statistics.median(cpu), "wall_ms": statistics.median(wall), "samples": samples,
                      "n": n, "db_ms": sum(ms for _c, ms in spent.values()) / n,
                      "spent": sorted(([k, c / n, ms / n] for k, (c, ms) in spent.items()), key=lambda e: -e[2]),
                      "plans": plans}))


# --- the bench ------------------------------------------------------------------------------

def config_env(config):
    """``on_generic``: the proposed fix, without changing code: every prepared statement
    of the app's connections runs its generic plan (libpq's PGOPTIONS)."""
    return {"PGOPTIONS": "-c plan_cache_mode=force_generic_plan"} if config == "on_generic" else {}


def bench_env(code, **extra):
    """:func:`common.code_env` with the plugin's rate limits out of the way."""
    return code_env(code, **UNLIMITED, **extra)


class Bench:
    def __init__(self, args):
        self.args = args
        self.head_db = args.database
        self.pre_db = args.database + "_pre18"
        self.configs, = choices("configurations", (args.configs, CONFIG_ORDER))
        self.per_run = args.per_run or (args.duration + args.warmup) * RATE_BUDGET
        self.runs_total = len(CONFIG_ORDER) * args.repeats
        self.profile_base = self.runs_total * self.per_run
        self.explain_number = self.profile_base + len(CONFIG_ORDER) * (args.profile + 20) + 1
        self.transactions = self.explain_number + 10
        self.instance = tempfile.mkdtemp(prefix="bench-matching-")
        self.results = {c: [] for c in self.configs}
        self.blocks = []

    # where each configuration runs
    def code(self, config):
        return self.args.pre18 if config == "pre18" else ROOT

    def database(self, config):
        return self.pre_db if config == "pre18" else self.head_db

    def base(self, config, rep):
        return (CONFIG_ORDER.index(config) * self.args.repeats + rep) * self.per_run

    # data
    def seed(self):
        a = self.args
        databases = [self.head_db] + ([self.pre_db] if "pre18" in self.configs else [])
        self.keys = {}
        for database in databases:
            recreate_database(database)
            code = self.args.pre18 if database == self.pre_db else ROOT
            t0 = time.time()
            self.keys[database] = subprocess_json(
                [sys.executable, os.path.abspath(__file__), "_seed", "--code", code, "--database", database,
                 "--transactions", str(self.transactions), "--senders", str(a.senders),
                 "--merchants", str(a.merchants)], cwd=code, env=bench_env(code))
            print(f"seeded {database}: {self.transactions} + {(a.merchants - 1) * 10000} transactions "
                  f"in {time.time() - t0:.0f} s", flush=True)
        head = self.keys[self.head_db]
        with pg_cursor(self.head_db) as cur:
            # Old attempts: 2 to 180 days old, the traffic's labels and senders.
            cur.execute(
                """INSERT INTO activation_attempt (merchant_id, payment_system_id, transaction_number, label,
                       network, sender, "transaction", outcome, reason, created_at)
                   SELECT %(m)s, %(ps)s, 'H' || g, 'v' || (g %% %(labels)s), %(net)s,
                          '018' || lpad(((g %% %(senders)s) * 37 + 11)::text, 8, '0'), NULL,
                          (ARRAY['activated','stockpiling','not_found','already_activated'])[1 + g %% 4],
                          (ARRAY['activated','stockpiling','not_found','sender_mismatch'])[1 + g %% 4],
                          (now() AT TIME ZONE 'UTC') - interval '2 days' - (g %% 15206400) * interval '1 second'
                   FROM generate_series(1, %(n)s) AS g""",
                dict(m=head["merchant"], ps=head["payment_system"], labels=LABELS, net=NETWORK, senders=a.senders,
                     n=a.history))
            cur.execute("ANALYZE activation_attempt")
        others = head["merchants"][1:] or [head["merchant"]]
        kinds = ("label", "sender", "network")
        for k in range(a.blocks):
            kind = kinds[k % 3]
            value = {"label": f"blocked-{k}", "sender": f"019{k:08d}", "network": f"10.{k // 250}.{k % 250}.0/24"}[kind]
            merchant = None if k % 2 else (head["merchant"] if k % 4 == 0 else others[k % len(others)])
            self.blocks.append((merchant, kind, value))

    def set_rules(self, config):
        """The policy and blocklist of ``config`` (this code's database only)."""
        if config == "pre18":
            return
        from backoffice.db import db
        from backoffice.models import MatchingPolicy, RiskBlock, utcnow
        from backoffice.services import matching

        merchant = self.keys[self.head_db]["merchant"]
        with self.app.app_context(), db.connection_context():
            MatchingPolicy.delete().execute()
            RiskBlock.delete().execute()
            if config.startswith("on"):
                matching.set_policy(merchant, {
                    "require_sender": "y", "require_amount": "", "window_minutes": "1440",
                    "velocity_label_hour": "1000", "velocity_sender_day": "1000",
                    "review_above": "1000000.00", "review_first_above": "500000.00"}, actor=None)
                now = utcnow()
                rows = [{"merchant": m, "kind": kind, "value": value, "note": "bench", "created_at": now}
                        for m, kind, value in self.blocks]
                for start in range(0, len(rows), 1000):
                    RiskBlock.insert_many(rows[start:start + 1000]).execute()
            # The deleted rows vacuumed away: an emptied blocklist is then as a fresh one
            # (dead index entries would otherwise be read by every claim until autovacuum).
            db.execute_sql("VACUUM ANALYZE matching_policy, risk_block")

    # one run
    def serve(self, config):
        a = self.args
        env = bench_env(self.code(config), DATABASE_URL=self.database(config), REDIS_URL=a.redis,
                        BACKOFFICE_INSTANCE_PATH=self.instance, **config_env(config))
        options = []
        if config == "a0":
            conf = os.path.join(self.instance, "no_attempts.conf.py")
            with open(conf, "w") as fh:
                fh.write(NO_ATTEMPTS_CONF)
            options = ["-c", conf]
        return start_gunicorn(self.code(config), env, a.port, a.workers, a.worker_class, a.threads, options)

    def wrk(self, config, rep, base, seconds):
        a = self.args
        return run_wrk(self.lua, a.port, a.connections, seconds,
                       [str(base), self.keys[self.database(config)]["public_key"], str(a.senders),
                        "1" if config.startswith("on") else "0", f"{config}{rep}-"], latency=True)

    def run_once(self, config, rep):
        import redis

        redis.Redis.from_url(self.args.redis).flushdb()
        with pg_cursor(self.database(config)) as cur:
            cur.execute("CHECKPOINT")
        self.set_rules(config)
        base = self.base(config, rep)
        start = base + self.args.warmup * RATE_BUDGET  # the warm-up takes numbers below this one
        server = self.serve(config)
        try:
            if self.args.warmup:
                self.wrk(config, rep, base, self.args.warmup)
            before = cpu_ticks(server, self.database(config))
            output = self.wrk(config, rep, start, self.args.duration)
            after = cpu_ticks(server, self.database(config))
        finally:
            stop_server(server)
        # CPU per activation of the gunicorn workers and of their PostgreSQL backends
        # (clock ticks of /proc/<pid>/stat): what the work costs, whatever the neighbours
        # take of the machine meanwhile.
        figures = add_cpu_per_request(parse_wrk(output), before, after)
        key = self.keys[self.database(config)]
        span = (key["merchant"], number(start), number(base + self.per_run))
        with pg_cursor(self.database(config)) as cur:
            cur.execute("""SELECT count(*) FILTER (WHERE status = 'activated') FROM "transaction"
                           WHERE merchant_id = %s AND transaction_number >= %s AND transaction_number < %s""", span)
            activated = cur.fetchone()[0]
            reasons = {}
            if config != "pre18":
                cur.execute("""SELECT reason, count(*) FROM activation_attempt WHERE merchant_id = %s
                               AND transaction_number >= %s AND transaction_number < %s GROUP BY reason""", span)
                reasons = dict(cur.fetchall())
        # wrk counts the answers it read: up to one request per connection was still in
        # flight when it stopped, and the server completed it.
        sent = figures["requests"]
        figures.update(activated=activated, reasons=reasons, load=os.getloadavg()[0],
                       ok=(sent <= activated <= sent + self.args.connections and figures["non_2xx"] == 0
                           and set(reasons) <= {"activated", "stockpiling"}
                           and start + activated < base + self.per_run))
        self.results[config].append(figures)
        print(f"round {rep + 1} {config:10}  {figures['rps']:7.0f}/s  p50 {figures.get('p50_ms', 0):5.1f} ms  "
              f"p99 {figures.get('p99_ms', 0):6.1f} ms  CPU/activation {figures['cpu_app_ms']:.2f} + "
              f"{figures['cpu_db_ms']:.2f} ms  requests {sent}  activated {activated}"
              f"  non-2xx {figures['non_2xx']}  attempts {reasons or '-'}  load {figures['load']:.1f}  "
              f"{'OK' if figures['ok'] else 'CHECK'}",
              flush=True)

    # what the statements cost
    def profile(self):
        a = self.args
        out = {}
        for k, config in enumerate(self.configs):
            self.set_rules(config)
            code, database = self.code(config), self.database(config)
            cmd = [sys.executable, os.path.abspath(__file__), "_profile", "--code", code, "--database", database,
                   "--redis", a.redis, "--public-key", self.keys[database]["public_key"],
                   "--base", str(self.profile_base + CONFIG_ORDER.index(config) * (a.profile + 20)),
                   "--count", str(a.profile + 20), "--senders", str(a.senders), "--label-prefix", f"p{config}-"]
            cmd += ["--sender"] if config.startswith("on") else []
            cmd += ["--no-attempts"] if config == "a0" else []
            out[config] = subprocess_json(cmd, cwd=code, env=bench_env(code, **config_env(config)))
        return out

    def explain(self, config, times=7):
        """EXPLAIN (ANALYZE, BUFFERS) of ``config``'s claim as the activation builds it,
        on a transaction that is new (rolled back), with the custom and the generic plan
        (a prepared statement runs the first five times with custom plans, then usually
        settles on the generic one): the last plan, and the median times of ``times``."""
        from backoffice.db import CompiledQuery, _SlotValue, db
        from backoffice.models import MerchantPaymentSystem, utcnow
        from backoffice.services import activation, matching, risk

        self.set_rules(config)
        head = self.keys[self.head_db]
        i = self.explain_number
        lines = []
        with self.app.app_context(), db.connection_context():
            policy = matching.policy_for(head["merchant"])
            flags = (policy.require_sender, policy.require_amount, bool(policy.velocity_label_hour),
                     bool(policy.velocity_sender_day))
            query = CompiledQuery(lambda: activation._number_claim_query(flags))
            _database, _q, sql, params, prepared = query._for(db.obj)
            settings = MerchantPaymentSystem.get(MerchantPaymentSystem.merchant == head["merchant"])
            now = utcnow()
            values = dict(payment_system=settings.payment_system_id, number=number(i), merchant=head["merchant"],
                          oldest=policy.oldest(now), network=NETWORK, sender=counterparty(i, self.args.senders)[-4:],
                          hour_ago=now - risk.HOUR, label_velocity=policy.velocity_label_hour,
                          day_ago=now - risk.DAY, sender_velocity=policy.velocity_sender_day,
                          min_deposit=settings.min_deposit, label=f"p-v{i % LABELS}", order_id=None, now=now)
            bound = [p.bind(values) if isinstance(p, _SlotValue) else p for p in params]
            lines.append(f"-- the claim ({config}), as built:\n" + db.obj.cursor().mogrify(sql, bound).decode())
            for title, mode in (("custom plan", "force_custom_plan"), ("generic plan", "force_generic_plan")):
                timings = []
                for _n in range(times):
                    with db.atomic() as txn:
                        db.execute_sql(f"SET LOCAL plan_cache_mode = {mode}")
                        db.execute_sql(prepared[0].replace("PREPARE ", "PREPARE explain_", 1))
                        rows = [r[0] for r in db.execute_sql("EXPLAIN (ANALYZE, BUFFERS) " + prepared[1].replace(
                            "EXECUTE ", "EXECUTE explain_", 1), bound).fetchall()]
                        txn.rollback()
                    db.execute_sql(f"DEALLOCATE explain_{query.name}")
                    timings.append([float(r.split(":")[1].split()[0]) for r in rows
                                    if r.startswith(("Planning Time", "Execution Time"))])
                planning = statistics.median(t[0] for t in timings) if all(len(t) == 2 for t in timings) else 0.0
                execution = statistics.median(t[-1] for t in timings)
                lines.append(f"-- {config}, {title}: planning {planning:.3f} ms, execution {execution:.3f} ms "
                             f"(medians of {times}); the last one:\n" + "\n".join(rows))
        return "\n\n".join(lines)

    def run(self):
        a = self.args
        self.lua = lua_file(LUA)
        from common import bench_app

        self.seed()
        self.app = bench_app(self.head_db, a.redis, self.instance)
        started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        for rep in range(a.repeats):
            order = self.configs if rep % 2 == 0 else list(reversed(self.configs))
            for config in order:
                self.run_once(config, rep)
        ended = time.strftime("%H:%M", time.gmtime())
        self.report(started, ended)
        if a.explain:
            profiles = self.profile()
            print("\nStatements per activation (in-process, Flask's test client, one connection; "
                  f"{a.profile} activations each after 20 of warm-up, half single deposits, half stockpiling steps):")
            print("| configuration | statements / activation (min–max) | in statements, ms | Python CPU, ms (median) "
                  "| wall, ms (median) |")
            print("| --- | ---: | ---: | ---: | ---: |")
            for config, p in profiles.items():
                print(f"| {config} | {p['statements_mean']:.2f} ({p['statements_min']}–{p['statements_max']}) | "
                      f"{p['db_ms']:.2f} | {p['cpu_ms']:.2f} | {p['wall_ms']:.2f} |")
            for config, p in profiles.items():
                print(f"\n{config}: where the statements' time goes (per activation: how many, ms)")
                for what, count, ms in p["spent"][:8]:
                    print(f"    {count:4.2f} × {ms:6.3f} ms  {what}")
                replanned = [f"{what} (generic {g}, custom {c})" for what, g, c in p["plans"] if c > 5]
                print("    prepared statements planned anew on every execution (custom plans): "
                      + ("; ".join(replanned) or "none"))
                for kind, sent in p["samples"].items():
                    print(f"  one {kind} activation, {len(sent)} statements:")
                    for line in sent:
                        print("   ", line)
            for config in ("off", "on"):
                if config in self.configs:
                    print()
                    print(self.explain(config))

    def report(self, started, ended):
        print(f"\nMeasured {started}–{ended} UTC; load average now {os.getloadavg()[0]:.1f}")
        print(f"{self.args.workers} {self.args.worker_class} workers × {self.args.threads} threads, "
              f"{self.args.connections} connections, {self.args.duration} s per run after {self.args.warmup} s "
              f"of warm-up, medians of {self.args.repeats} runs")
        keys = ("rps", "p50_ms", "p90_ms", "p99_ms", "cpu_app_ms", "cpu_db_ms", "cpu_ms")
        med = {c: {k: statistics.median(r[k] for r in rs) for k in keys} for c, rs in self.results.items() if rs}

        def vs(c, ref, key, inverse=False):
            if ref not in med:
                return "–"
            return f"{(med[ref][key] / med[c][key]) if inverse else (med[c][key] / med[ref][key]):.2f}"

        print("| configuration | activations/s | p50 | p90 | p99 | vs off | vs pre-18 | runs (activations/s) | checks |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
        for c in self.configs:
            m = med[c]
            runs = ", ".join(f"{r['rps']:.0f}" for r in self.results[c])
            ok = "OK" if all(r["ok"] for r in self.results[c]) else "CHECK"
            print(f"| {DESCRIPTIONS[c]} | {m['rps']:.0f} | {m['p50_ms']:.1f} ms | {m['p90_ms']:.1f} ms | "
                  f"{m['p99_ms']:.1f} ms | {vs(c, 'off', 'rps')} | {vs(c, 'pre18', 'rps')} | {runs} | {ok} |")
        print("\nCPU per activation, gunicorn workers + their PostgreSQL backends (medians); the throughput "
              "ratio it implies when the server is CPU-bound = the reference's CPU / this one's:")
        print("| configuration | app, ms | database, ms | total, ms | vs off | vs pre-18 | runs (total ms) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for c in self.configs:
            m = med[c]
            runs = ", ".join(f"{r['cpu_ms']:.2f}" for r in self.results[c])
            print(f"| {DESCRIPTIONS[c]} | {m['cpu_app_ms']:.2f} | {m['cpu_db_ms']:.2f} | {m['cpu_ms']:.2f} | "
                  f"{vs(c, 'off', 'cpu_ms', True)} | {vs(c, 'pre18', 'cpu_ms', True)} | {runs} |")
        print()
        for a, b in (("on", "off"), ("on_generic", "off"), ("off", "a0"), ("off", "pre18"), ("on", "pre18")):
            if a in med and b in med:
                paired = [x["rps"] / y["rps"] for x, y in zip(self.results[a], self.results[b])]
                paired_cpu = [y["cpu_ms"] / x["cpu_ms"] for x, y in zip(self.results[a], self.results[b])]
                print(f"{a} / {b}: activations/s {med[a]['rps'] / med[b]['rps']:.2f} (medians), round by round "
                      f"{', '.join(f'{r:.2f}' for r in paired)} (median {statistics.median(paired):.2f}); "
                      f"by CPU {med[b]['cpu_ms'] / med[a]['cpu_ms']:.2f}, round by round "
                      f"{', '.join(f'{r:.2f}' for r in paired_cpu)} (median {statistics.median(paired_cpu):.2f})")
        if "on" in med and "off" in med:
            ratio = med["on"]["rps"] / med["off"]["rps"]
            by_cpu = med["off"]["cpu_ms"] / med["on"]["cpu_ms"]
            print(f"on / off = {ratio:.2f} by activations/s, {by_cpu:.2f} by CPU per activation (target ≥ 0.85): "
                  f"{'met' if min(ratio, by_cpu) >= 0.85 else 'MISSED' if max(ratio, by_cpu) < 0.85 else 'mixed'}")

    def cleanup(self):
        if self.args.keep:
            return
        try:
            from backoffice.db import db

            if not db.is_closed():
                db.close()
        except Exception:  # noqa: BLE001 - the app may not have started
            pass
        for database in (self.head_db, self.pre_db):
            drop_database(database)


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("_seed", "_profile"):
        return (seed_main if sys.argv[1] == "_seed" else profile_main)(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_matching",
                        help="this code's database; the pre-18 code's is the same name + _pre18 (both recreated)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--pre18", default="/tmp/pre18", help="a checkout of the code before issue 18 (144268c~1)")
    parser.add_argument("--configs", default=",".join(CONFIG_ORDER))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--per-run", type=int, default=0, help="transactions per run (default: 1000 a second)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--connections", type=int, default=6)
    parser.add_argument("--port", type=int, default=8732)
    parser.add_argument("--merchants", type=int, default=5)
    parser.add_argument("--senders", type=int, default=20000)
    parser.add_argument("--history", type=int, default=300000, help="old attempts in the attempt log")
    parser.add_argument("--blocks", type=int, default=3000)
    parser.add_argument("--explain", action="store_true", help="statements per activation and the claim's plan")
    parser.add_argument("--profile", type=int, default=200, help="activations per configuration for --explain")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    check_setup(args, "pre18", args.pre18, "144268c~1", "a0,off,on")
    run_bench(Bench(args))


if __name__ == "__main__":
    main()
