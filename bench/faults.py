"""Fault injection: traffic while workers, Redis and the web process are killed.

    .venv/bin/python bench/faults.py [--duration 60] [--rate 20] [--fault-every 5]
        [--workers 2] [--worker-class simple] [--faults worker,redis,web]
        [--database postgresql://postgres@127.0.0.1:5432/bench_faults] [--redis-port 6391]
        [--receiver-fail-every 0] [--receiver-delay 0.05] [--limiter-fallback] [--drain-timeout 240]

What runs (every process its own; all are stopped when the script ends, Ctrl-C too):
PostgreSQL (the database given, dropped and created afresh), a private
``redis-server`` on ``--redis-port`` (no persistence: a restart comes back empty),
gunicorn on ``wsgi:app``, ``--workers`` × ``backoffice worker`` (each with its
webhook delivery dispatcher: a thread with 8 delivery threads, woken after each commit
and scanning the outbox every second here), and an HTTP receiver that checks every
Standard Webhooks signature with the ``standardwebhooks`` library and records each
hit. Each merchant has one webhook endpoint, pointed at the receiver.

What it does for ``--duration`` seconds, at ``--rate`` operations per second (open
loop, fixed schedule): connector reports (``POST /api/v1/ps/transactions``), plugin
activations (``POST /plugin/api/activate``; some before the report, for the merchant
with delayed activation, so the report completes them), merchant withdrawal requests
(``POST /api/v1/withdrawals``), and an operator deciding the new requests (approve
or reject, through ``backoffice.services.withdrawals``, in this process). Clients
retry on connection errors and 5xx as real ones would (every API is idempotent).
Every ``--fault-every`` seconds one fault, in turn: SIGKILL a worker (its process
group) and start it again; SIGKILL Redis and start it empty; restart the web process
(SIGKILL and SIGTERM alternately). A supervisor restarts anything that dies by itself
(counted apart).

At the end it decides the remaining requests, waits for the outbox to drain and
checks: every completed deposit (single or stockpiled) and every decided withdrawal
has exactly one event with exactly one delivery (one endpoint), ``sent`` in the
database (the objects ``sent`` / ``received``), received by the receiver with a valid
signature and the frozen body
(repeats only as the same event id: counted); no event the database does not know;
nothing the clients were told was accepted is missing, nothing extra exists; the
ledger: ``services.balances`` equals an independent SQL sum and the sum of what the
receiver was told (deposits − commission − approved withdrawals), never negative.
Exit status 1 on any violation.

The bench's instance ``config.py`` shortens the postback back-off to seconds
(``POSTBACK_BACKOFF``), the dispatcher's scan interval to 1 s and the lease to 15 s
(with a 5 s delivery timeout), so a run drains in a minute instead of hours; the
rules are the app's own. A killed worker's deliveries in flight are sent again by a
dispatcher once their lease runs out; a Redis restart loses only wake-ups.
"""
import argparse
import collections
import json
import os
import random
import signal
import sys
import threading
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import recreate_database  # noqa: E402 - bench/ is on the path when run as a script
from harness import (  # noqa: E402
    WITHDRAWAL_FIELDS, Procs, RedisServer, Stats, begin_run, init_app_in_process, run_fixed_rate, run_main,
    seed_world, start_stack,
)

BENCH_CONFIG = {
    "POSTBACK_BACKOFF": (0, 1, 2, 3, 5, 5, 5, 5),
    "POSTBACK_DISPATCH_INTERVAL": 1,
    "POSTBACK_LEASE_SECONDS": 15,
    "POSTBACK_TIMEOUT": 5.0,
    "PLUGIN_CONFIG_LIMIT": "1000000 per minute",
}

MERCHANTS = [
    ("Faults A", False, [("bkash", "500.00", "2.50"), ("paytm", "300.00", "3.00")]),
    ("Faults B", True, [("bkash", "500.00", "2.00"), ("nagad", "500.00", "1.50")]),
]
CENT = Decimal("0.01")


class Traffic:
    """The clients' side: what they sent, what they were told, what to check later."""

    def __init__(self, world, stats, rng):
        self.world, self.stats, self.rng = world, stats, rng
        self.lock = threading.Lock()
        self.numbers = iter(range(1, 10**9))
        self.to_activate = collections.deque()  # reported, not yet activated
        self.waiting = collections.deque()  # activation answered "pending": to report
        self.reported = {}  # (code, number) -> (merchant id, amount)
        self.claimed = {}  # (code, number) -> label the API bound it to
        self.pending = {}  # (code, number) -> label waiting for the report
        self.withdrawals = {}  # (merchant id, withdrawal_id) -> amount
        self.anomalies = []
        self.token = world["connector_token"]

    def _next(self):
        with self.lock:
            return next(self.numbers)

    def _amount(self, system):
        minimum = system["min_deposit"]
        if self.rng.random() < 0.5:  # a single deposit
            value = minimum * Decimal(str(1 + self.rng.random() * 3))
        else:  # part of a stockpiling
            value = minimum * Decimal(str(0.25 + self.rng.random() * 0.4))
        return value.quantize(CENT)

    def _send(self, client, kind, method, path, body, headers, accept=lambda s: s < 500 and s != 429, limit=90):
        """Send until a definitive answer (or ``limit`` seconds); count every failed try."""
        deadline = time.time() + limit
        tries = 0
        while True:
            tries += 1
            try:
                status, data = client.json(method, path, body, headers)
            except OSError as exc:
                self.stats.count(kind, f"retry:{type(exc).__name__}")
            except Exception as exc:  # noqa: BLE001 - http.client's own errors
                self.stats.count(kind, f"retry:{type(exc).__name__}")
            else:
                if accept(status):
                    return status, data, tries
                self.stats.count(kind, f"retry:{status}")
            if time.time() > deadline:
                return None, None, tries
            time.sleep(min(0.1 * 2 ** min(tries, 5), 2.0))

    # -- the operations ---------------------------------------------------------------------------
    def report(self, client):
        with self.lock:
            waiting = self.waiting.popleft() if self.waiting and self.rng.random() < 0.8 else None
        if waiting is not None:
            m, system, number = waiting
        else:
            m = self.rng.choice(self.world["merchants"])
            system = self.rng.choice(m["systems"])
            number = f"F{self._next():09d}"
        amount = self._amount(system)
        body = {"payment_system": system["code"], "wallet_number": self.rng.choice(system["wallets"]),
                "transaction_number": number, "amount": str(amount), "currency": system["currency"],
                "direction": "incoming", "counterparty": "bench"}
        status, data, tries = self._send(client, "report", "POST", "/api/v1/ps/transactions", body,
                                         {"Authorization": f"Bearer {self.token}"})
        if status in (200, 201):
            with self.lock:
                self.reported[(system["code"], number)] = (m["id"], amount)
                activation = (data or {}).get("activation")
                if waiting is None:
                    self.to_activate.append((m, system, number))
                elif not activation or activation.get("status") not in ("activated", "stockpiling"):
                    if status == 201 or tries == 1:
                        self.anomalies.append(f"report of waiting {number} did not activate it: {activation}")
            return "created" if status == 201 else "200 (repeat)"
        if status is None:
            self.anomalies.append(f"report {number}: no answer within the retry limit")
            return "gave up"
        self.anomalies.append(f"report {number}: HTTP {status} {data}")
        return f"HTTP {status}"

    def activate(self, client):
        with self.lock:
            item = self.to_activate.popleft() if self.to_activate and self.rng.random() < 0.85 else None
        if item is None:  # a visitor faster than the connector (delayed activation)
            m = next(m for m in self.world["merchants"] if m["delayed_activation"])
            system = self.rng.choice(m["systems"])
            number, early = f"F{self._next():09d}", True
        else:
            (m, system, number), early = item, False
        label = f"visitor-{self.rng.randrange(40)}"
        body = {"merchant": m["public_key"], "payment_system": system["code"], "transaction_number": number,
                "label": label}
        status, data, tries = self._send(client, "activate", "POST", "/plugin/api/activate", body, {})
        outcome = (data or {}).get("status") if status == 200 else None
        if outcome in ("activated", "stockpiling"):
            with self.lock:
                self.claimed[(system["code"], number)] = label
        elif outcome == "pending" and early:
            with self.lock:
                self.pending[(system["code"], number)] = label
                self.waiting.append((m, system, number))
        elif outcome == "already_activated" and tries > 1:
            with self.lock:  # an earlier try went through before the connection broke
                self.claimed[(system["code"], number)] = label
            outcome = "already_activated (after retry)"
        else:
            self.anomalies.append(f"activation of {number} (early={early}, tries={tries}): {status} {data}")
        return outcome or f"HTTP {status}"

    def withdraw(self, client):
        m = self.rng.choice(self.world["merchants"])
        system = self.rng.choice(m["systems"])
        n = self._next()
        withdrawal_id = f"wd-{n}"
        amount = (Decimal(str(20 + self.rng.random() * 180))).quantize(CENT)
        body = {"withdrawal_id": withdrawal_id, "payment_system": system["code"], "amount": str(amount),
                "currency": system["currency"], "label": f"payout-{n}",
                "fields": WITHDRAWAL_FIELDS[system["code"]](n)}
        status, data, tries = self._send(client, "withdraw", "POST", "/api/v1/withdrawals", body,
                                         {"Authorization": f"Bearer {m['api_key']}"})
        if status in (200, 201):
            with self.lock:
                self.withdrawals[(m["id"], withdrawal_id)] = amount
            return "created" if status == 201 else "200 (repeat)"
        if status == 422 and (data or {}).get("error", {}).get("code") == "insufficient_balance":
            return "422 insufficient balance"
        self.anomalies.append(f"withdrawal {withdrawal_id}: {status} {data}")
        return f"HTTP {status}"


class Decider(threading.Thread):
    """The operator: decides new withdrawal requests through the service functions."""

    def __init__(self, app, operator_id, stats, rng, interval=0.5):
        super().__init__(name="decider", daemon=True)
        self.app, self.operator_id, self.stats, self.rng, self.interval = app, operator_id, stats, rng, interval
        self.stop_event = threading.Event()

    def decide_all(self, min_age=0.5):
        from backoffice.db import db
        from backoffice.models import Withdrawal, utcnow
        from backoffice.services import withdrawals as service

        import datetime

        decided = 0
        with self.app.app_context(), db.connection_context():
            cutoff = utcnow() - datetime.timedelta(seconds=min_age)
            rows = list(Withdrawal.select().where((Withdrawal.status == "new") & (Withdrawal.created_at <= cutoff))
                        .order_by(Withdrawal.id).limit(50))
            for w in rows:
                try:
                    if self.rng.random() < 0.7:
                        wallet = service.sender_wallets(w).first()
                        service.approve(w, self.operator_id, wallet, f"bench-{w.id}", ip="127.0.0.1")
                        self.stats.count("decide", "approved")
                    else:
                        service.reject(w, self.operator_id, "bench: rejected", ip="127.0.0.1")
                        self.stats.count("decide", "rejected")
                    decided += 1
                except service.AlreadyDecided:
                    self.stats.count("decide", "already decided")
        return decided

    def run(self):
        while not self.stop_event.wait(self.interval):
            try:
                self.decide_all()
            except Exception as exc:  # noqa: BLE001 - counted; the next round tries again
                self.stats.count("decide", f"error:{type(exc).__name__}")


class Chaos(threading.Thread):
    """One fault every ``every`` seconds, in turn; and a supervisor for self-inflicted deaths."""

    def __init__(self, kinds, every, redis, web, workers, rng):
        super().__init__(name="chaos", daemon=True)
        self.kinds, self.every = kinds, every
        self.redis, self.web, self.workers, self.rng = redis, web, workers, rng
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.downtime = collections.Counter()
        self.web_kills = 0

    def fault(self, kind):
        started = time.time()
        with self.lock:
            if kind == "worker":
                i = self.rng.randrange(len(self.workers.slots))
                self.workers.kill(i, signal.SIGKILL)
                self.counts["worker SIGKILL (with its work horse)"] += 1
                time.sleep(0.5)
                self.workers.start_one(i)
            elif kind == "redis":
                self.redis.kill(signal.SIGKILL)
                self.counts["redis SIGKILL + empty restart"] += 1
                time.sleep(1.5)
                self.redis.start()
            elif kind == "web":
                sig = signal.SIGKILL if self.web_kills % 2 == 0 else signal.SIGTERM
                self.web_kills += 1
                self.web.stop(sig)
                self.counts[f"web {signal.Signals(sig).name} + restart"] += 1
                self.web.start()
        self.downtime[kind] += time.time() - started

    def supervise(self):
        with self.lock:
            self.workers.supervise()
            if self.redis.proc is None or self.redis.proc.poll() is not None:
                self.counts["redis died by itself"] += 1
                self.redis.start()
            if not self.web.alive():
                self.counts["web died by itself"] += 1
                self.web.start()

    def run(self):
        cycle = 0
        next_fault = time.time() + self.every
        while not self.stop_event.wait(0.5):
            try:
                self.supervise()
                if self.kinds and time.time() >= next_fault and not self.stop_event.is_set():
                    self.fault(self.kinds[cycle % len(self.kinds)])
                    cycle += 1
                    next_fault = time.time() + self.every
            except RuntimeError as exc:  # the bench is stopping (Procs closed), or a start failed
                if self.stop_event.is_set() or "stopping" in str(exc):
                    return
                raise

    def stop(self):
        self.stop_event.set()
        self.join()
        self.supervise()


# --- the checks ---------------------------------------------------------------------------------

def wait_for_drain(app, receiver, timeout, chaos):
    from peewee import fn

    from backoffice.db import db
    from backoffice.models import Postback

    deadline = time.time() + timeout
    last = None
    started = time.time()
    while time.time() < deadline:
        chaos.supervise()
        with app.app_context(), db.connection_context():
            counts = dict(Postback.select(Postback.status, fn.COUNT(Postback.id)).group_by(Postback.status).tuples())
        open_ = counts.get("pending", 0)
        if open_ == 0:
            return time.time() - started, counts
        if last is None or time.time() - last > 5:
            print(f"  draining: {counts}, receiver hits {receiver.count()}", flush=True)
            last = time.time()
        time.sleep(0.5)
    return None, counts


def verify(app, traffic, hits, world):
    """Every check of the docstring; returns (figures, violations)."""
    from peewee import fn

    from backoffice.db import db
    from backoffice.models import (Event, PaymentSystem, Postback, PostbackAttempt, Stockpiling, Transaction,
                                   Withdrawal)
    from backoffice.services.ledger import balances

    violations = []
    figures = {}
    with app.app_context(), db.connection_context():
        # Each merchant has one webhook endpoint: one delivery (Postback row) per event.
        postbacks = list(Postback.select())
        event_ids = [e for (e,) in Event.select(Event.event_id).tuples()]
        per_event = collections.Counter(pb.event_id for pb in postbacks)
        for e in event_ids:
            if per_event.get(e, 0) != 1:
                violations.append(f"event {e}: {per_event.get(e, 0)} deliveries (want 1: one endpoint)")
        for e in set(per_event) - set(event_ids):
            violations.append(f"delivery of event {e}, which the events table does not have")
        by_object = collections.defaultdict(list)
        for pb in postbacks:
            by_object[(pb.object_type, pb.object_id)].append(pb)
        singles = list(Transaction.select().where(
            (Transaction.status == "activated") & Transaction.stockpiling.is_null()
            & (Transaction.direction == "incoming") & (Transaction.originality == "normal")))
        stockpilings = list(Stockpiling.select())
        completed_sp = [s for s in stockpilings if s.status == "completed"]
        decided = list(Withdrawal.select().where(Withdrawal.status.in_(("approved", "rejected"))))
        undecided = Withdrawal.select().where(Withdrawal.status == "new").count()
        expected = {}
        for tx in singles:
            expected[("transaction", tx.id)] = ("deposit.completed", tx.postback_status, "sent")
        for sp in completed_sp:
            statuses = {t.postback_status for t in Transaction.select(Transaction.postback_status)
                        .where(Transaction.stockpiling == sp.id)}
            expected[("stockpiling", sp.id)] = ("deposit.completed", "sent" if statuses == {"sent"} else statuses,
                                                "sent")
        for w in decided:
            expected[("withdrawal", w.id)] = (f"withdrawal.{w.status}", w.postback_status, "received")
        for key, (event_type, object_status, wanted_status) in expected.items():
            rows = by_object.get(key, [])
            if len(rows) != 1:
                violations.append(f"{key}: {len(rows)} postback events (want exactly 1)")
                continue
            pb = rows[0]
            if pb.event_type != event_type:
                violations.append(f"{key}: event {pb.event_type}, want {event_type}")
            if pb.status != "sent":
                violations.append(f"{key}: postback {pb.event_id} is {pb.status} ({pb.last_error})")
            if object_status != wanted_status:
                violations.append(f"{key}: object postback status {object_status}, want {wanted_status}")
        extra = [k for k in by_object if k not in expected]
        for key in extra:
            violations.append(f"postback for {key} that is neither a completed deposit nor a decided withdrawal")
        in_progress = [s for s in stockpilings if s.status == "in_progress"]
        wrong = (Transaction.select().where(Transaction.stockpiling.in_([s.id for s in in_progress])
                                            & (Transaction.postback_status != "stockpiling")).count()
                 if in_progress else 0)
        if wrong:
            violations.append(f"{wrong} transactions of open stockpilings are not 'stockpiling'")
        if undecided:
            violations.append(f"{undecided} withdrawals still new after the final decisions")

        # the clients' view against the database
        stored = {(code, num): (mid, amount, status, label) for code, num, mid, amount, status, label in
                  Transaction.select(PaymentSystem.code, Transaction.transaction_number, Transaction.merchant,
                                     Transaction.amount, Transaction.status, Transaction.label)
                  .join(PaymentSystem).tuples()}
        for key, (mid, amount) in traffic.reported.items():
            row = stored.get(key)
            if row is None or row[0] != mid or row[1] != amount:
                violations.append(f"reported {key} {amount} accepted but stored as {row}")
        for key in stored:
            if key not in traffic.reported:
                violations.append(f"transaction {key} exists but no client was told it was accepted")
        for key, label in list(traffic.claimed.items()) + list(traffic.pending.items()):
            row = stored.get(key)
            if key in traffic.pending and key not in traffic.reported:
                continue  # waiting for a report that never came (the run ended)
            if row is None or row[2] != "activated" or row[3] != label:
                violations.append(f"activation {key} for {label}: stored {row}")
        stored_w = {(mid, wid): amount for mid, wid, amount in
                    Withdrawal.select(Withdrawal.merchant, Withdrawal.withdrawal_id, Withdrawal.amount).tuples()}
        for key, amount in traffic.withdrawals.items():
            if stored_w.get(key) != amount:
                violations.append(f"withdrawal {key} {amount} accepted but stored as {stored_w.get(key)}")
        for key in stored_w:
            if key not in traffic.withdrawals:
                violations.append(f"withdrawal {key} exists but no client was told it was accepted")

        # the receiver
        known = {pb.event_id: pb for pb in postbacks}
        seen = collections.Counter(h["id"] for h in hits)
        bad_sig = [h for h in hits if not h["verified"]]
        for h in bad_sig:
            violations.append(f"receiver: signature did not verify for {h['id']}: {h['error']}")
        unknown = [e for e in seen if e not in known]
        for e in unknown:
            violations.append(f"receiver got event {e} that the database does not know")
        missing = [e for e in known if e not in seen]
        for e in missing:
            violations.append(f"event {e} ({known[e].status}) never reached the receiver")
        for h in hits:
            pb = known.get(h["id"])
            if pb is not None and (h["body"] != pb.payload or h["type"] != pb.event_type):
                violations.append(f"receiver: body of {h['id']} differs from the frozen payload")
        acked = collections.Counter(h["id"] for h in hits if h["answered"] // 100 == 2)
        attempts = dict(PostbackAttempt.select(PostbackAttempt.postback, fn.COUNT(PostbackAttempt.id))
                        .group_by(PostbackAttempt.postback).tuples())
        figures["postbacks"] = {
            "events in db": len(event_ids), "deliveries in db": len(postbacks),
            "expected (completed deposits + decided withdrawals)": len(expected),
            "single deposits": len(singles), "completed stockpilings": len(completed_sp),
            "open stockpilings": len(in_progress), "decided withdrawals": len(decided),
            "receiver hits": len(hits), "distinct events received": len(seen),
            "acknowledged (2xx) hits": sum(acked.values()),
            "duplicate deliveries (same id again after a 2xx)": sum(n - 1 for n in acked.values() if n > 1),
            "events delivered more than once": sum(1 for n in acked.values() if n > 1),
            "refused on purpose (500)": sum(1 for h in hits if h["answered"] == 500),
            "delivery attempts logged": sum(attempts.values()),
            "events that needed more than one attempt": sum(1 for n in attempts.values() if n > 1),
            "bad signatures": len(bad_sig), "unknown events": len(unknown), "missing events": len(missing),
        }

        # the ledger
        sql_deposits = db.execute_sql(
            """SELECT t.merchant_id, t.currency, COALESCE(SUM(t.amount - t.commission), 0)
               FROM "transaction" t LEFT JOIN stockpiling s ON s.id = t.stockpiling_id
               WHERE t.status = 'activated' AND t.originality = 'normal' AND t.direction = 'incoming'
                 AND (t.stockpiling_id IS NULL OR s.status = 'completed')
               GROUP BY t.merchant_id, t.currency""").fetchall()
        sql_withdrawals = db.execute_sql(
            """SELECT merchant_id, currency, SUM(amount) FROM withdrawal WHERE status IN ('new', 'approved')
               GROUP BY merchant_id, currency""").fetchall()
        independent = collections.defaultdict(Decimal)
        for mid, cur, value in sql_deposits:
            independent[(mid, cur)] += Decimal(value)
        for mid, cur, value in sql_withdrawals:
            independent[(mid, cur)] -= Decimal(value)
        told = collections.defaultdict(Decimal)  # what the merchant's server was told
        for e in seen:
            pb = known.get(e)
            if pb is None:
                continue
            data = json.loads(pb.payload)["data"]
            key = (pb.merchant_id, data["currency"])
            if pb.event_type == "deposit.completed":
                told[key] += Decimal(data["amount"]) - Decimal(data["commission"])
            elif pb.event_type == "withdrawal.approved":
                told[key] -= Decimal(data["amount"])
        ledger = []
        for m in world["merchants"]:
            service = balances(m["id"])
            for cur in sorted(set(service) | {c for (mid, c) in independent if mid == m["id"]}):
                a = service.get(cur, Decimal("0.00"))
                b = independent.get((m["id"], cur), Decimal("0.00"))
                c = told.get((m["id"], cur), Decimal("0.00"))
                ok = a == b == c and a >= 0 and all(isinstance(v, Decimal) for v in (a, b, c))
                ledger.append((m["name"], cur, a, b, c, ok))
                if not ok:
                    violations.append(f"ledger {m['name']} {cur}: service {a}, SQL {b}, receiver {c}")
        figures["ledger"] = ledger
        figures["withdrawal amounts"] = {
            status: str(total) for status, total in
            Withdrawal.select(Withdrawal.status, fn.SUM(Withdrawal.amount)).group_by(Withdrawal.status).tuples()}
    violations.extend(f"client: {a}" for a in traffic.anomalies)
    return figures, violations


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of traffic and faults")
    parser.add_argument("--rate", type=float, default=20, help="operations per second (all kinds together)")
    parser.add_argument("--mix", default="report=4,activate=4,withdraw=1", help="relative weights")
    parser.add_argument("--fault-every", type=float, default=5.0, help="seconds between faults")
    parser.add_argument("--faults", default="worker,redis,web", help="the faults, taken in turn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="simple", choices=("simple", "fork"))
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=24, help="client threads")
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_faults")
    parser.add_argument("--redis-port", type=int, default=6391)
    parser.add_argument("--web-port", type=int, default=8741)
    parser.add_argument("--receiver-fail-every", type=int, default=0,
                        help="the receiver answers 500 to every n-th hit (0: never)")
    parser.add_argument("--receiver-delay", type=float, default=0.05,
                        help="seconds the receiver waits before answering (deliveries in flight when workers die)")
    parser.add_argument("--limiter-fallback", action="store_true",
                        help="RATELIMIT_IN_MEMORY_FALLBACK_ENABLED in the bench's config.py (the app's default "
                             "since 2026-11-28; before, the plugin API answered 500 while Redis was away)")
    parser.add_argument("--drain-timeout", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    instance, log = begin_run(args.database, "bench-faults-", dict(BENCH_CONFIG, **(
        {"RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True} if args.limiter_fallback else {})))
    rng = random.Random(args.seed)
    procs = Procs()
    recreate_database(args.database)
    redis = RedisServer(procs, args.redis_port, os.path.join(instance, "redis"))
    redis.start()
    app = init_app_in_process(args.database, redis.url, instance)
    world = seed_world(app, MERCHANTS)
    receiver, web, workers = start_stack(app, procs, world, args, redis.url, instance, log,
                                         fail_every=args.receiver_fail_every, delay=args.receiver_delay)

    stats = Stats()
    traffic = Traffic(world, stats, rng)
    decider = Decider(app, world["operator"]["id"], stats, random.Random(args.seed + 1))
    chaos = Chaos([k for k in args.faults.split(",") if k], args.fault_every, redis, web, workers,
                  random.Random(args.seed + 2))
    weights = dict((k, float(v)) for k, v in (p.split("=") for p in args.mix.split(",")))
    total = sum(weights.values())
    ops = {"report": traffic.report, "activate": traffic.activate, "withdraw": traffic.withdraw}
    endpoints = [(name, args.rate * weights[name] / total, ops[name]) for name in ops if weights.get(name)]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"traffic: {args.rate:g} ops/s for {args.duration} s; a fault every {args.fault_every:g} s "
          f"({args.faults}); {args.workers} {args.worker_class} workers", flush=True)
    decider.start()
    chaos.start()
    try:
        _, elapsed, late = run_fixed_rate(args.web_port, endpoints, args.duration, args.concurrency, stats)
        chaos.stop()
        decider.stop_event.set()
        decider.join()
        print(f"traffic done in {elapsed:.0f} s ({late} operations started >100 ms late); deciding the rest",
              flush=True)
        while decider.decide_all(min_age=0):
            pass
        drain_seconds, counts = wait_for_drain(app, receiver, args.drain_timeout, chaos)
        time.sleep(1.0)  # the last acknowledgements
        workers.stop()
        web.stop()
        hits = receiver.hits()
        figures, violations = verify(app, traffic, hits, world)
    finally:
        chaos.stop_event.set()  # nothing is restarted any more
        decider.stop_event.set()
        procs.kill_all()
        receiver.stop()

    print()
    print(f"== faults run {started}: {args.duration} s, {args.rate:g} ops/s, mix {args.mix}, "
          f"{args.workers} x {args.worker_class} worker, gunicorn {args.web_workers}x{args.web_threads}, "
          f"receiver delay {args.receiver_delay:g} s, 500 every {args.receiver_fail_every or 'never'}"
          + (", limiter in-memory fallback" if args.limiter_fallback else ""))
    print("requests (final outcome per operation; retry:* = failed tries that were retried):")
    for (kind, outcome), n in sorted(stats.outcomes.items()):
        print(f"  {kind:9} {outcome:40} {n:6d}")
    print("faults:")
    for name, n in sorted(chaos.counts.items()):
        print(f"  {name:40} {n:4d}")
    print(f"  worker processes that died by themselves (restarted): {workers.unexpected_exits}")
    print(f"drain after the traffic: {'%.1f s' % drain_seconds if drain_seconds is not None else 'TIMED OUT'} "
          f"(postbacks by status: {counts})")
    print("postbacks:")
    for name, n in figures["postbacks"].items():
        print(f"  {name:55} {n:6d}")
    print("ledger (balance per merchant and currency: service / independent SQL / receiver's sum):")
    for name, cur, a, b, c, ok in figures["ledger"]:
        print(f"  {name:10} {cur}  {a:>12} {b:>12} {c:>12}  {'OK' if ok else 'MISMATCH'}")
    print(f"withdrawal amounts by status: {figures['withdrawal amounts']}")
    if violations:
        print(f"VIOLATIONS ({len(violations)}):")
        for v in violations[:200]:
            print("  " + v)
        sys.exit(1)
    print("no violations")


if __name__ == "__main__":
    run_main(main)
