"""Demo data, made the way real data is made (issue 22): payment systems, two
merchants with their users, wallets and webhook endpoint, exchange rates, a connector
token, and sixty days of history *lived* through the services, not written.

Every transaction is reported through ``services.ingest`` and claimed through
``services.activation`` (the plugin's path, with the sender's last 4 digits the
matching policy asks for; an operator's for manual ones; a delayed-activation visitor
waiting before the report); fraud marks, withdrawals and their decisions go through
their services too. So every postback state has its event and deliveries behind it,
the ledger and the dashboard's rollups are booked as they happen, and the attempt log,
the audit log and the timeline tell the same story.

The history runs on a simulated clock (:class:`HistoryClock`), in time order. Between
two steps, the deliveries that are due are really sent (``services.postback_delivery``)
over HTTP to each merchant's server of the time: a loopback server of the build
(:class:`MerchantServers`) that answers as that merchant's server did. Demo Shop's
refuses a few orders it does not know (422): those deliveries end in "error" after
their retries, or are still retrying; Lucky Games' has been down for the last hour
(503): its latest delivery is still "sending", its retries failed so far. The
deliveries of the last minutes are left to the worker: on the first ``make run`` they
arrive at the back office's own demo receiver (``admin_views.demo_receiver``), where
the merchants' endpoints point once the build is done.

``tests/test_demo.py`` checks that every state has what it claims behind it.
"""
import datetime
import json
import random
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

from flask import current_app
from peewee import Case

from . import models
from .db import db
from .models import (
    ExchangeRate,
    Merchant,
    MerchantPaymentSystem,
    PaymentSystem,
    Postback,
    Wallet,
    WebhookEndpoint,
    utcnow,
)
from .security import generate_password, new_postback_secret, new_totp_secret
from .services import activation, appeals, ledger, matching, postback_delivery
from .services import wallets as wallet_rules
from .services import withdrawals as withdrawal_service
from .services.accounts import create_user
from .services.connectors import issue_token
from .services.ingest import Report, ingest
from .services.merchants import create_merchant
from .services.rates import import_rates

class DemoError(RuntimeError):
    pass


def _field(name, label, required, pattern=""):
    return {"name": name, "label": label, "required": required, "pattern": pattern}


WALLET_NUMBER_BD = r"^01[3-9]\d{8}$"  # 11-digit Bangladeshi mobile wallet
WALLET_NUMBER_PK = r"^03\d{9}$"
IFSC = r"^[A-Z]{4}0[A-Z0-9]{6}$"
UPI_ID = r"^[\w.\-]{2,256}@[a-zA-Z]{2,64}$"

# code, name, currency, withdrawal field schema
PAYMENT_SYSTEMS = [
    ("bkash", "bKash", "BDT", [_field("recipient_wallet", "Recipient wallet number", True, WALLET_NUMBER_BD),
                               _field("recipient_name", "Recipient name", False),
                               _field("comment", "Comment", False)]),
    ("nagad", "Nagad", "BDT", [_field("recipient_wallet", "Recipient wallet number", True, WALLET_NUMBER_BD),
                               _field("recipient_name", "Recipient name", False),
                               _field("comment", "Comment", False)]),
    ("rocket", "Rocket", "BDT", [_field("recipient_wallet", "Recipient wallet number", True, r"^01[3-9]\d{8,9}$"),
                                 _field("recipient_name", "Recipient name", False)]),
    ("paytm", "PayTM", "INR", [_field("recipient_wallet", "Recipient wallet number", True, r"^[6-9]\d{9}$"),
                               _field("recipient_name", "Recipient name", True),
                               _field("email", "E-mail", False, r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]),
    ("upi", "UPI", "INR", [_field("recipient_wallet", "Recipient UPI ID", True, UPI_ID),
                           _field("recipient_name", "Recipient name", True),
                           _field("bank_name", "Bank name", True),
                           _field("branch_code", "IFSC code", True, IFSC),
                           _field("account_type", "Account type", False, r"^(savings|current)$")]),
    ("easypaisa", "Easypaisa", "PKR", [_field("recipient_wallet", "Recipient wallet number", True, WALLET_NUMBER_PK),
                                       _field("recipient_name", "Recipient name", True)]),
    ("jazzcash", "JazzCash", "PKR", [_field("recipient_wallet", "Recipient wallet number", True, WALLET_NUMBER_PK),
                                     _field("recipient_name", "Recipient name", True),
                                     _field("email", "E-mail", False, r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]),
]

# The country each payment system serves (ISO 3166 alpha-2; the dashboard's country filter).
COUNTRY = {"BDT": "BD", "INR": "IN", "PKR": "PK"}
MIN_DEPOSIT = {"BDT": Decimal("500.00"), "INR": Decimal("300.00"), "PKR": Decimal("1000.00")}
RATE_TO_USD = {"BDT": Decimal("0.0083"), "INR": Decimal("0.0119"), "PKR": Decimal("0.0036")}
DAYS = 60


def _upi_id(merchant, n):
    """A UPI wallet's number is a UPI id (VPA): the plugin's link and QR code pay to it."""
    return "".join(c for c in merchant.name.lower() if c.isalnum())[:20] + f".{n}@okaxis"


def _wallet_number(rng, currency):
    if currency == "BDT":
        return "01" + str(rng.randint(3, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    if currency == "PKR":
        return "03" + "".join(str(rng.randint(0, 9)) for _ in range(9))
    return str(rng.randint(6, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(9))


DEFAULT_TRANSACTIONS = 1000  # through the services: about 8 ms of CPU each, deliveries included
RECEIVER_PATH = "/demo/receiver/{merchant_id}"  # the back office's demo receiver (development only)
QUIET_MINUTES = 15  # the deliveries of the last minutes are left for the worker
DISPATCH_LAG = datetime.timedelta(milliseconds=300)  # from due to sent, as a worker's dispatcher
NOTHING_DUE = (None, None, None, None)
LUCKY_OUTAGE_MINUTES = 60  # Lucky Games' server has answered 503 since then (its circuit opens, briefly)
REFUSED_ORDER_SHARE = 0.04  # Demo Shop's server does not know a few orders (422)
ALPHANUMERIC = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NAMES = ("Rahim Uddin", "Karim Ahmed", "Salma Begum", "Ravi Kumar", "Priya Sharma", "Ali Raza", "Sara Khan")


def receiver_url(base_url, merchant_id):
    """Where a demo merchant's webhook endpoint points once the demo is built."""
    return base_url.rstrip("/") + RECEIVER_PATH.format(merchant_id=merchant_id)


# --- the simulated clock -------------------------------------------------------------------

class HistoryClock:
    """The demo's history runs on this clock: every service reads the time through
    ``models.utcnow`` (field defaults too), which reads this clock while it is entered
    (``models.set_clock``). Only ``build_demo`` enters it, on a fresh database, in the
    one thread that builds; it only moves forward."""

    def __init__(self, start):
        self.now = start

    def advance_to(self, moment):
        if moment > self.now:
            self.now = moment

    def __enter__(self):
        self._saved = models.set_clock(lambda: self.now)
        return self

    def __exit__(self, *exc):
        models.set_clock(self._saved)
        return False


# --- the merchants' servers while the history is lived ---------------------------------------

class MerchantServers:
    """A loopback HTTP server standing for each demo merchant's server of the time: it
    answers each postback as that server did at the clock's moment. ``outages``:
    merchant id -> ``(start, end or None)`` periods of 503; ``refused_orders``:
    merchant id -> order ids it answers 422 for (it does not know them)."""

    def __init__(self, clock):
        self.clock = clock
        self.outages = {}
        self.refused_orders = {}
        self.received = 0
        self._server = None

    def answer(self, merchant_id, body):
        now = self.clock.now
        for start, end in self.outages.get(merchant_id, ()):
            if start <= now and (end is None or now < end):
                return 503, b"Service Unavailable"
        try:
            data = json.loads(body).get("data") or {}
        except ValueError:
            return 400, b'{"error":"not JSON"}'
        if data.get("order_id") and data["order_id"] in self.refused_orders.get(merchant_id, ()):
            return 422, b'{"error":"unknown order"}'
        self.received += 1
        return 200, b'{"received":true}'

    def url(self, merchant_id):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}" + RECEIVER_PATH.format(merchant_id=merchant_id)

    def __enter__(self):
        servers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    merchant_id = int(self.path.rstrip("/").rsplit("/", 1)[-1])
                except ValueError:
                    merchant_id = None
                status, answer = servers.answer(merchant_id, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if answer.startswith(b"{") else "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self._server = HTTPServer(("127.0.0.1", 0), Handler)  # one delivery at a time: the build sends in turn
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-merchant-servers", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        return False


# --- building -------------------------------------------------------------------------------

def build_demo(base_url, transactions=DEFAULT_TRANSACTIONS, seed=20261127):
    """Fill an empty database; return the credentials (SPEC §8's shape). Needs an app
    context (the deliveries use its settings)."""
    if Merchant.select().exists():
        raise DemoError("The database has merchants already: the demo only fills a fresh database.")
    rng = random.Random(seed)
    now = utcnow()
    clock = HistoryClock(now - datetime.timedelta(days=DAYS + 1))
    with MerchantServers(clock) as servers, clock, db.atomic():
        demo = _History(rng, clock, servers, now)
        credentials = demo.build(base_url, transactions)
    return credentials


class _Shop:
    """A demo merchant while its history is built."""

    def __init__(self, merchant, endpoint, systems, wallets, owner):
        self.merchant, self.endpoint, self.systems, self.wallets, self.owner = (
            merchant, endpoint, systems, wallets, owner)
        self.numbers = set()
        self.asks_sender = matching.policy_for(merchant.id).require_sender


class _History:
    def __init__(self, rng, clock, servers, now):
        self.rng, self.clock, self.servers, self.now = rng, clock, servers, now
        self.quiet_from = now - datetime.timedelta(minutes=QUIET_MINUTES)
        # The worker's delivery settings, with loopback allowed: the merchants' servers
        # of the build listen there (and the demo receiver does afterwards).
        self.config = dict(current_app.config, ALLOW_PRIVATE_POSTBACKS=True, POSTBACK_TIMEOUT=5.0)
        self.steps = []
        self._due = None  # the next delivery due, while no step or send changed it

    # -- the plan and its run -------------------------------------------------------------
    def at(self, moment, action, writes_events=True):
        """Plan ``action`` at ``moment``. ``writes_events=False``: it cannot write a
        delivery (the next one due is then known without asking the database)."""
        if moment > self.now:
            raise RuntimeError(f"a demo step after now: {moment}")
        self.steps.append((moment, len(self.steps), action, writes_events))

    def run(self):
        for moment, _n, action, writes_events in sorted(self.steps, key=lambda step: step[:2]):
            self.deliver_until(min(moment, self.quiet_from))
            self.clock.advance_to(moment)
            action()
            if writes_events:
                self._due = None
        self.deliver_until(self.quiet_from)

    def deliver_until(self, moment):
        """What the worker's dispatcher would have sent by ``moment``, one delivery at a
        time in the order it would: each when it comes due (its next attempt, or its
        endpoint's open circuit's end if later), claimed and sent by
        ``postback_delivery.deliver`` (the claim, the signatures, real HTTP, the
        attempt log, the delivery's and its objects' states, the endpoint's health)."""
        while True:
            if self._due is None:
                self._due = self._next_due() or NOTHING_DUE
            postback_id, delivery, attempts, due = self._due
            if postback_id is None or due > moment:
                return
            self.clock.advance_to(due + DISPATCH_LAG)
            postback_delivery.deliver(self.config, postback_id, delivery, attempts, now=self.clock.now)
            self._due = None

    def _next_due(self):
        """The delivery to send next, ``(id, delivery, attempts, when)``, or None."""
        when = Case(None, [(WebhookEndpoint.circuit_until > Postback.next_attempt_at, WebhookEndpoint.circuit_until)],
                    Postback.next_attempt_at)
        row = (Postback.select(Postback.id, Postback.delivery, Postback.attempts, Postback.next_attempt_at,
                               WebhookEndpoint.circuit_until)
               .join(WebhookEndpoint, on=(Postback.endpoint == WebhookEndpoint.id))
               .where((Postback.status == "pending") & (WebhookEndpoint.enabled == True))  # noqa: E712
               .order_by(when, Postback.id).limit(1).tuples().first())
        if row is None:
            return None
        postback_id, delivery, attempts, next_attempt_at, circuit_until = row
        due = max(next_attempt_at, circuit_until) if circuit_until is not None else next_attempt_at
        return postback_id, delivery, attempts, due

    # -- the set-up, at the start of the history ---------------------------------------------
    def build(self, base_url, transactions):
        rng = self.rng
        systems = [
            PaymentSystem.create(code=code, name=name, currency=cur, country=COUNTRY[cur], withdrawal_fields=fields)
            for code, name, cur, fields in PAYMENT_SYSTEMS
        ]
        import_rates(_rates_csv(rng, self.now.date()))
        operator_password = generate_password()
        self.operator = create_user("operator@demo.example", operator_password, "operator")
        token, self.connector = issue_token("Demo connector", [ps.code for ps in systems], None)
        specs = [("Demo Shop", False, "Asia/Dhaka"), ("Lucky Games", True, "Asia/Kolkata")]
        self.shops, merchants = [], []
        for index, (name, delayed, tz) in enumerate(specs, start=1):
            shop, entry = self._merchant(index, name, delayed, tz, systems)
            self.shops.append(shop)
            merchants.append(entry)
        demo_shop, lucky = self.shops
        self.servers.outages[lucky.merchant.id] = [
            (self.now - datetime.timedelta(minutes=LUCKY_OUTAGE_MINUTES), None)]
        per_merchant = max(transactions // len(specs), 50)
        for shop in self.shops:
            self.servers.refused_orders[shop.merchant.id] = set()
            self._transactions(shop, per_merchant, refuses_orders=shop is demo_shop)
            self._withdrawals(shop)
            self._wallet_operations(shop)
            self._appeals(shop)
        self.run()
        self._wallet_health()
        for shop in self.shops:  # the demo receiver of the back office takes over
            WebhookEndpoint.update(url=receiver_url(base_url, shop.merchant.id)).where(
                WebhookEndpoint.id == shop.endpoint.id).execute()
        return {
            "base_url": base_url,
            "operator": {"login": self.operator.login, "password": operator_password,
                         "totp_secret": self.operator.totp_secret},
            "connector_token": token,
            "merchants": merchants,
        }

    def _merchant(self, index, name, delayed, tz, systems):
        rng = self.rng
        slug = name.lower().replace(" ", "-")
        merchant = create_merchant(name, None, timezone=tz)  # its keys and secret, audited
        # Demo settings, stored as they are: the endpoint is the build's loopback server,
        # then the back office's demo receiver (the Webhooks form's SSRF rules refuse
        # loopback for a real merchant).
        endpoint = WebhookEndpoint.create(merchant=merchant, url=self.servers.url(merchant.id),
                                          description="Demo receiver", secret=new_postback_secret())
        merchant.delayed_activation = delayed
        merchant.allowed_origins = ["http://127.0.0.1:8000", "http://localhost:8000"]
        merchant.theme = ("dark", "white-green")[index % 2]
        merchant.save()
        owner_password, staff_password = generate_password(), generate_password()
        # The second merchant's owner turned the second factor on; the others did not.
        owner = create_user(f"owner@{slug}.example", owner_password, "merchant_owner", merchant=merchant,
                            totp_secret=new_totp_secret() if index == 2 else None)
        staff = create_user(f"staff@{slug}.example", staff_password, "merchant_staff", merchant=merchant)
        ps_entries, wallets = [], {}
        for order, ps in enumerate(systems):
            MerchantPaymentSystem.create(merchant=merchant, payment_system=ps, enabled=True,
                                         min_deposit=MIN_DEPOSIT[ps.currency],
                                         commission_percent=Decimal("2.50"), display_order=order)
            wallets[ps.id] = [
                Wallet.create(merchant=merchant, payment_system=ps, identifier=f"{ps.code}-{index}-{n}",
                              number=_upi_id(merchant, n) if ps.code in models.UPI_PAYMENT_SYSTEMS else _wallet_number(rng, ps.currency))
                for n in (1, 2)
            ]
            ps_entries.append({"code": ps.code, "currency": ps.currency, "min_deposit": str(MIN_DEPOSIT[ps.currency]),
                               "wallet_numbers": [w.number for w in wallets[ps.id]]})
        entry = {
            "id": merchant.id, "name": merchant.name, "public_key": merchant.public_key,
            "api_key": merchant.api_key, "plugin_secret": merchant.plugin_secret, "postback_secret": endpoint.secret,
            "delayed_activation": merchant.delayed_activation,
            "owner": {"login": owner.login, "password": owner_password, "totp_secret": owner.totp_secret},
            "staff": {"login": staff.login, "password": staff_password, "totp_secret": staff.totp_secret},
            "payment_systems": ps_entries,
        }
        return _Shop(merchant, endpoint, systems, wallets, owner), entry

    # -- the transactions ------------------------------------------------------------------
    def _number(self, shop):
        while True:
            number = "".join(self.rng.choice(ALPHANUMERIC) for _ in range(10))
            if number not in shop.numbers:
                shop.numbers.add(number)
                return number

    def _payment(self, shop, ps, amount, created, direction="incoming", kind="auto"):
        """A payment the connector will report: what the wallet's statement says."""
        return {"shop": shop, "ps": ps, "wallet": self.rng.choice(shop.wallets[ps.id]), "amount": amount,
                "number": self._number(shop), "counterparty": _wallet_number(self.rng, ps.currency),
                "created": created, "direction": direction, "type": kind, "tx": None}

    def _report(self, payment, actor=None):
        """The connector reports it a little after it happened (an operator enters a manual one)."""
        def step():
            report = Report(payment_system=payment["ps"].code, wallet_number=payment["wallet"].number,
                            transaction_number=payment["number"], amount=payment["amount"],
                            currency=payment["ps"].currency, direction=payment["direction"],
                            counterparty=payment["counterparty"], occurred_at=payment["created"],
                            type=payment["type"])
            result = ingest(report, actor=actor, connector=None if actor else self.connector)
            payment["tx"] = result.transaction
            if result.activation is not None:
                self._expect(result.activation, payment)
        return step

    def _claim(self, payment, label, order_id=None, sender=None):
        """The visitor types the number (and the sender's last 4 digits) into the plugin."""
        def step():
            shop = payment["shop"]
            outcome = activation.activate(
                shop.merchant, payment["ps"].code, payment["number"], label, order_id=order_id,
                sender_last4=sender or payment["counterparty"][-4:],
                network=matching.network_of(f"203.0.113.{self.rng.randint(1, 254)}"))
            if sender is None:
                self._expect(outcome, payment)
        return step

    def _expect(self, outcome, payment):
        reported = payment["tx"] is not None
        fine = {activation.ACTIVATED, activation.STOCKPILING} | (set() if reported else {activation.PENDING})
        if outcome.status not in fine and outcome.attempt_reason != "review":
            raise RuntimeError(f"the demo's payment {payment['number']} was not activated: {outcome.reason_code}")

    def _transactions(self, shop, count, refuses_orders=False):
        """Payments over the last DAYS days, in every state the rules produce."""
        rng, now = self.rng, self.now
        delayed = shop.merchant.delayed_activation
        latest = now - datetime.timedelta(hours=4)
        n = 0
        while n < count:
            ps = rng.choice(shop.systems)
            minimum = MIN_DEPOSIT[ps.currency]
            created = latest - datetime.timedelta(minutes=rng.randint(0, DAYS * 24 * 60))
            label = f"user-{rng.randint(1, 400)}"
            reported = created + datetime.timedelta(seconds=rng.randint(10, 90))
            kind = rng.random()
            if kind < 0.08:  # small payments that complete a stockpiling together
                parts = rng.randint(2, 3)
                for i in range(parts):
                    amount = (minimum / parts + Decimal(rng.randint(0, 50))).quantize(Decimal("0.01"))
                    at = created + datetime.timedelta(minutes=10 * i)
                    payment = self._payment(shop, ps, amount, at)
                    self.at(at + datetime.timedelta(seconds=30), self._report(payment))
                    self.at(at + datetime.timedelta(minutes=1), self._claim(payment, label))
                n += parts
                continue
            if kind < 0.12:  # one small payment, still waiting for more
                payment = self._payment(shop, ps, (minimum / 3).quantize(Decimal("0.01")), created)
                self.at(reported, self._report(payment))
                self.at(created + datetime.timedelta(minutes=2), self._claim(payment, label))
                n += 1
                continue
            amount = (minimum + Decimal(rng.randint(0, 20000)) / 4).quantize(Decimal("0.01"))
            if kind < 0.72:  # a completed deposit
                order_id = f"ord-{rng.randint(10000, 99999)}"
                refused = self.servers.refused_orders[shop.merchant.id]
                # At least one, old enough for its retries to be spent ("Error sending").
                first_old = not refused and created < now - datetime.timedelta(days=3)
                if refuses_orders and (rng.random() < REFUSED_ORDER_SHARE or first_old):
                    refused.add(order_id)
                self._deposit(shop, ps, amount, created, reported, label, order_id, delayed)
            elif kind < 0.77:  # reported, then marked fraud by an operator before anyone claimed it
                payment = self._payment(shop, ps, amount, created)
                self.at(reported, self._report(payment))
                self.at(created + datetime.timedelta(minutes=rng.randint(60, 180)), self._mark_fraud(payment))
            elif kind < 0.85:  # money the wallet sent
                self.at(reported, self._report(self._payment(shop, ps, amount, created, direction="outgoing")),
                        writes_events=False)
            else:  # reported, never claimed
                self.at(reported, self._report(self._payment(shop, ps, amount, created)), writes_events=delayed)
            n += 1
        # A few deposits of the last hours (Lucky Games' server is down: still "sending")
        # and of the last minutes (left for the worker: they arrive on the first run).
        for minutes in (180, 90, 45, 12, 8, 4):
            ps = rng.choice(shop.systems)
            created = now - datetime.timedelta(minutes=minutes)
            amount = (MIN_DEPOSIT[ps.currency] + Decimal(rng.randint(0, 4000)) / 4).quantize(Decimal("0.01"))
            self._deposit(shop, ps, amount, created, created + datetime.timedelta(seconds=20),
                          f"user-{rng.randint(1, 400)}", f"ord-{rng.randint(10000, 99999)}", delayed=False,
                          claimed=created + datetime.timedelta(minutes=1))

    def _deposit(self, shop, ps, amount, created, reported, label, order_id, delayed, claimed=None):
        rng = self.rng
        if claimed is None and rng.random() < 0.03:  # the connector missed it: an operator enters and activates it
            payment = self._payment(shop, ps, amount, created, kind="manual")
            entered = created + datetime.timedelta(minutes=rng.randint(20, 60))
            self.at(entered, self._report(payment, actor=self.operator))
            self.at(entered + datetime.timedelta(minutes=2), self._activate_manually(payment, label, order_id))
            return
        payment = self._payment(shop, ps, amount, created)
        if claimed is None:
            claimed = reported + datetime.timedelta(seconds=rng.randint(20, 30 * 60))
            if delayed and rng.random() < 0.3:  # the visitor is quicker than the connector: it waits
                claimed = created + datetime.timedelta(seconds=rng.randint(20, 60))
                reported = claimed + datetime.timedelta(minutes=rng.randint(1, 5))
            elif shop.asks_sender and rng.random() < 0.03:  # a mistyped sender first (refused), then the right one
                self.at(reported + (claimed - reported) / 2, self._claim(
                    payment, label, order_id, sender=_other_digits(rng, payment["counterparty"][-4:])))
        self.at(reported, self._report(payment), writes_events=delayed)
        self.at(claimed, self._claim(payment, label, order_id))

    def _activate_manually(self, payment, label, order_id):
        def step():
            outcome = activation.activate_manually(payment["tx"], label, order_id, self.operator)
            self._expect(outcome, payment)
        return step

    def _mark_fraud(self, payment):
        def step():
            activation.set_originality([payment["tx"].id], "fraud", self.operator,
                                       reason="The payer's bank reported the payment as stolen")
        return step

    # -- wallet operations and appeals (SPEC §12) ------------------------------------------
    def _wallet_operations(self, shop):
        """An operator set limits on each payment system's second wallet early on."""
        def step():
            for ps in shop.systems:
                minimum = MIN_DEPOSIT[ps.currency]
                wallet_rules.update([shop.wallets[ps.id][1].id], {
                    "max_per_transaction": minimum * 20, "daily_limit": minimum * 60,
                    "monthly_limit": minimum * 1000}, self.operator)
        self.at(self.now - datetime.timedelta(days=DAYS, hours=1), step, writes_events=False)

    def _appeals(self, shop):
        """Visitors' appeals: one matched by an operator, one rejected (the number never
        reached the wallets), one waiting for an operator."""
        rng, now = self.rng, self.now
        ps = shop.systems[0]
        settings = activation.merchant_settings(shop.merchant, ps.code)
        amount = (MIN_DEPOSIT[ps.currency] * 2).quantize(Decimal("0.01"))
        for hours_ago, decision in ((50, "match"), (30, "reject"), (3, None)):
            created = now - datetime.timedelta(hours=hours_ago)
            payment = self._payment(shop, ps, amount, created)
            if decision != "reject":
                self.at(created + datetime.timedelta(seconds=40), self._report(payment), writes_events=False)
            else:
                payment["number"] = f"{payment['number'][:6]}X{rng.randint(100, 999)}"  # mistyped in the app
            case = {"appeal": None}
            self.at(created + datetime.timedelta(minutes=25),
                    self._appeal(settings, payment, f"user-{rng.randint(1, 400)}", case), writes_events=False)
            if decision:
                self.at(created + datetime.timedelta(hours=2), self._decide_appeal(payment, case, decision))

    def _appeal(self, settings, payment, label, case):
        def step():
            case["appeal"], _created = appeals.file(
                settings, label, payment["number"], payment["amount"], payment["counterparty"], payment["created"],
                network=matching.network_of(f"198.51.100.{self.rng.randint(1, 254)}"))
        return step

    def _decide_appeal(self, payment, case, decision):
        def step():
            if decision == "match":
                appeals.match(case["appeal"].id, payment["tx"].id, self.operator)
            else:
                appeals.reject(case["appeal"].id, "No payment with this number reached our wallets: check the "
                                                  "number in your payment app's history and appeal again.",
                               self.operator)
        return step

    def _wallet_health(self):
        """The last hour: a wallet of each merchant went silent (shown, no report since);
        Lucky Games chose the automatic pause for it, so it was paused."""
        window = wallet_rules.silent_window(current_app.config)
        for shop in self.shops:
            # The wallet quiet the longest: shown since after its last report.
            wallet = min(Wallet.select().where(Wallet.merchant == shop.merchant.id),
                         key=lambda w: (w.last_report_at or datetime.datetime.min, w.id))
            first_shown = self.now - window - datetime.timedelta(minutes=15)
            if wallet.last_report_at is not None and wallet.last_report_at >= first_shown:
                continue  # every wallet reported lately: none is silent
            wallet_rules.mark_offered([wallet], now=first_shown)
            wallet.last_offered_at = None  # shown again a few minutes ago
            wallet_rules.mark_offered([wallet], now=self.now - datetime.timedelta(minutes=4))
            if shop.merchant.delayed_activation:
                wallet_rules.update([wallet.id], {"auto_pause": True}, self.operator)
        wallet_rules.pause_silent(window, now=self.now)

    # -- the withdrawals --------------------------------------------------------------------
    def _withdrawals(self, shop):
        """Twelve requests of the last weeks: the latest three wait for a decision; the
        others were approved (two in three) or rejected."""
        rng, now = self.rng, self.now
        decided = sorted(now - datetime.timedelta(hours=rng.randint(30, 40 * 24)) for _ in range(9))
        waiting = sorted(now - datetime.timedelta(minutes=rng.randint(60, 20 * 60)) for _ in range(3))
        for i, created in enumerate(decided + waiting, start=1):
            request = {"shop": shop, "n": i, "withdrawal": None}
            self.at(created, self._request_withdrawal(request), writes_events=False)
            if i <= len(decided):
                decide = self._reject if i % 3 == 0 else self._approve
                self.at(created + datetime.timedelta(minutes=rng.randint(30, 6 * 60)), decide(request))

    def _request_withdrawal(self, request):
        def step():
            rng, shop = self.rng, request["shop"]
            funded = [ps for ps in shop.systems if ledger.available(shop.merchant, ps.currency) >= 1000]
            if not funded:
                return
            ps = rng.choice(funded)
            available = ledger.available(shop.merchant, ps.currency)
            amount = Decimal(min(rng.randint(5, 40), int(available / 2 / 100)) * 100)
            api = request["n"] % 2 == 0
            request["withdrawal"], _created = withdrawal_service.create_withdrawal(
                shop.merchant, ps, amount, ps.currency, label=f"user-{rng.randint(1, 400)}",
                fields=_withdrawal_fields(rng, ps), withdrawal_id=f"wd-{shop.merchant.id}-{request['n']:04d}",
                kind="api" if api else "manual", actor=None if api else shop.owner)
        return step

    def _approve(self, request):
        def step():
            withdrawal = request["withdrawal"]
            if withdrawal is not None:
                wallet = self.rng.choice(request["shop"].wallets[withdrawal.payment_system_id])
                withdrawal_service.approve(withdrawal, self.operator, wallet=wallet,
                                           payout_reference=f"TRX{self.rng.randint(10 ** 9, 10 ** 10 - 1)}")
        return step

    def _reject(self, request):
        def step():
            if request["withdrawal"] is not None:
                withdrawal_service.reject(request["withdrawal"], self.operator, "Recipient details do not match")
        return step


def _other_digits(rng, digits):
    while True:
        other = f"{rng.randint(0, 9999):04d}"
        if other != digits:
            return other


def _withdrawal_fields(rng, ps):
    """Values for a payment system's withdrawal fields: every required one, some optional
    ones (the service validates them against the schema's patterns)."""
    name = rng.choice(NAMES)
    known = {
        "recipient_name": name,
        "bank_name": "HDFC Bank",
        "branch_code": "HDFC0001234",
        "account_type": "savings",
        "email": name.split()[0].lower() + "@example.com",
        "comment": "Payout",
    }
    fields = {}
    for field in ps.withdrawal_fields or []:
        key = field["name"]
        if not field.get("required") and rng.random() < 0.4:
            continue
        if key == "recipient_wallet":
            upi = "@" in (field.get("pattern") or "")
            fields[key] = f"{name.split()[0].lower()}.{rng.randint(10, 99)}@okaxis" if upi else _wallet_number(
                rng, ps.currency)
        elif key in known:
            fields[key] = known[key]
        elif field.get("required"):
            fields[key] = "Demo"
    return fields


def _rate_rows(rng, today):
    rows = []
    for currency, base in RATE_TO_USD.items():
        for day in range(DAYS + 31, -1, -7):  # a new rate every week
            drift = Decimal(rng.randint(-300, 300)) / Decimal(10000)
            rows.append({"currency": currency, "rate_to_usd": (base * (1 + drift)).quantize(Decimal("0.0000001")),
                         "effective_date": today - datetime.timedelta(days=day)})
    return rows


def _rates(rng):
    """Exchange rates written in bulk (the benchmarks' seeder)."""
    ExchangeRate.insert_many(_rate_rows(rng, utcnow().date())).execute()


def _rates_csv(rng, today):
    """The same rates as the CSV file ``backoffice import-rates`` takes."""
    lines = ["currency,rate_to_usd,effective_date"]
    lines += [f"{r['currency']},{r['rate_to_usd']},{r['effective_date'].isoformat()}" for r in _rate_rows(rng, today)]
    return "\n".join(lines) + "\n"
