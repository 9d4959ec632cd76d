"""Every entity of SPEC §3 as a peewee model.

Money is ``DecimalField(decimal_places=2)`` everywhere, timestamps are naive UTC
(``utcnow()``), and each index below serves a list filter or a lookup that a screen,
an API or a job makes. The schema itself is created by the versioned scripts in
``backoffice/migrations``; ``tests/test_migrations.py`` proves that those scripts and
these models agree.
"""
import datetime
import json
from decimal import ROUND_HALF_UP, Decimal

from peewee import (
    SQL,
    BlobField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from flask_login import UserMixin

from .db import db
from .security import new_plugin_secret


# A stand-in clock (a function giving naive UTC), or None: the system's. Only the
# demo sets it, to live its history in order on a fresh database (``demo.HistoryClock``).
_clock = None


def set_clock(clock):
    """Make ``utcnow`` read ``clock()`` (None: the system clock again); the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def utcnow():
    """The current time as a naive UTC datetime (how every timestamp is stored)."""
    if _clock is not None:
        return _clock()
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class MoneyField(DecimalField):
    """An amount of money: ``Decimal`` with 2 places, rounded half up.

    PostgreSQL stores it exactly (NUMERIC). SQLite gives DECIMAL columns numeric
    affinity and hands back floats, so every value read is quantised again to its
    2 places (exact for any amount below 10^13).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("default", Decimal("0.00"))
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("auto_round", True)
        kwargs.setdefault("rounding", ROUND_HALF_UP)
        super().__init__(**kwargs)

    def python_value(self, value):
        value = super().python_value(value)
        return None if value is None else value.quantize(self._exp, rounding=self.rounding)


class JSONField(TextField):
    """JSON stored as text (portable between SQLite and PostgreSQL)."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

    def python_value(self, value):
        return None if value is None else json.loads(value)


# Status vocabularies (SPEC §3). The labels people see live in ``backoffice.labels``.
ROLES = ("operator", "merchant_owner", "merchant_staff")
AFTER_PAYMENT = ("message", "redirect", "close")
THEMES = ("dark", "light", "white-green", "own")
DIRECTIONS = ("incoming", "outgoing")
# Payment systems whose wallet numbers are UPI ids (VPAs): the plugin offers a
# upi://pay link and a QR code for them (SPEC §13).
UPI_PAYMENT_SYSTEMS = ("upi",)
TRANSACTION_TYPES = ("auto", "manual")
ORIGINALITY = ("normal", "fraud")
TRANSACTION_STATUSES = ("new", "activated")
# ``review``: activated, but held for an operator's decision (SPEC §11): not complete,
# nothing sent, nothing booked; ``refused``: an operator refused it in review.
TRANSACTION_POSTBACK_STATUSES = ("not_activated", "stockpiling", "review", "refused", "pending", "sent", "error")
# The postback statuses of a transaction whose deposit is complete (it counts in the balance).
COMPLETED_DEPOSIT_POSTBACK_STATUSES = ("pending", "sent", "error")
# Activated, yet not complete: held for review, or refused there.
HELD_POSTBACK_STATUSES = ("review", "refused")
STOCKPILING_STATUSES = ("in_progress", "completed")
PENDING_STATUSES = ("waiting", "activated", "expired")
REVIEW_STATUSES = ("held", "approved", "refused")
RISK_BLOCK_KINDS = ("label", "sender", "network")
# Why an activation attempt ended as it did (SPEC §11), in the attempt log.
ATTEMPT_REASONS = ("activated", "stockpiling", "pending", "not_found", "already_activated", "sender_mismatch",
                   "amount_mismatch", "stale", "blocked", "review", "rejected", "rate_limited", "bad_signature")
# The reasons that bound money to the label (the velocity limits count these).
BINDING_REASONS = ("activated", "stockpiling", "review")
WITHDRAWAL_STATUSES = ("new", "approved", "rejected", "cancelled")
WITHDRAWAL_POSTBACK_STATUSES = ("pending", "received", "error")
REQUEST_KINDS = ("manual", "api")
POSTBACK_STATUSES = ("pending", "sent", "error")
EVENT_TYPES = ("deposit.completed", "deposit.reversed", "withdrawal.approved", "withdrawal.rejected",
               "withdrawal.cancelled", "test")

# The standard withdrawal field set (SPEC §3); each payment system marks which it needs.
STANDARD_WITHDRAWAL_FIELDS = (
    "recipient_wallet",
    "recipient_name",
    "bank_name",
    "branch_code",
    "account_type",
    "email",
    "comment",
)


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class Merchant(BaseModel):
    name = CharField(max_length=200)
    public_key = CharField(max_length=64, unique=True)
    # Kept readable: the plugin's data-signature is an HMAC keyed with it.
    api_key = CharField(max_length=64, unique=True)
    timezone = CharField(max_length=64, default="UTC")
    after_payment = CharField(max_length=16, default="message")
    after_payment_url = CharField(max_length=2000, default="")
    allowed_origins = JSONField(default=list)
    require_signed_labels = BooleanField(default=False)
    theme = CharField(max_length=16, default="light")
    own_css = TextField(null=True)
    own_css_hash = CharField(max_length=64, null=True)
    delayed_activation = BooleanField(default=False)
    pending_activation_ttl = IntegerField(default=30)  # minutes
    default_display_currency = CharField(max_length=3, default="USD")
    # Withdrawal requests above this amount need two different operators' approvals
    # (SPEC §14); null: never. Operator-only.
    withdrawal_dual_approval_above = MoneyField(null=True, default=None)
    # The key of data-signature v2 (SPEC §13): never the API key, rotated with 24 h
    # during which the previous one signs too.
    plugin_secret = CharField(max_length=64, default=new_plugin_secret)
    plugin_secret_previous = CharField(max_length=64, null=True)
    plugin_secret_previous_until = DateTimeField(null=True)
    # The plugin's language when neither data-lang nor the browser's languages decide.
    plugin_language = CharField(max_length=8, default="en")
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)

    def __str__(self):
        return self.name


class User(UserMixin, BaseModel):
    login = CharField(max_length=254, unique=True)  # an e-mail address
    password_hash = CharField(max_length=255)
    role = CharField(max_length=16, index=True)
    merchant = ForeignKeyField(Merchant, null=True, backref="users", on_delete="CASCADE")
    language = CharField(max_length=8, default="en")
    timezone = CharField(max_length=64, null=True)  # operators' own; merchant users use the merchant's
    active = BooleanField(default=True)
    last_login_at = DateTimeField(null=True)
    failed_logins = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    totp_secret = CharField(max_length=64, null=True)
    totp_last_step = IntegerField(default=0)  # a TOTP code is accepted once
    # A second factor being enrolled: the secret waits here (never in the session
    # cookie) with the digest of the opaque reference the enrolling session holds.
    totp_pending_secret = CharField(max_length=64, null=True)
    totp_pending_ref = CharField(max_length=64, null=True)
    totp_pending_until = DateTimeField(null=True)
    # Part of the session's identity: replacing it ends every session of the user.
    session_token = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)
    # The columns the user chose to see on each list, by screen (issue 22):
    # {"transactions": ["id", "amount", ...]}; a screen not named shows its defaults.
    list_columns = JSONField(default=dict)

    def get_id(self):
        """The session's identity: replacing ``session_token`` ends every session."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self):
        return bool(self.active)

    @property
    def is_operator(self):
        return self.role == "operator"

    def __str__(self):
        return self.login


class PaymentSystem(BaseModel):
    code = CharField(max_length=32, unique=True)
    name = CharField(max_length=100)
    currency = CharField(max_length=3)
    # The country it serves, ISO 3166 alpha-2 ("BD"): the dashboard's country filter (issue 22).
    country = CharField(max_length=2, null=True)
    active = BooleanField(default=True)
    # Ordered list of {"name", "label", "required", "pattern"} (SPEC §3).
    withdrawal_fields = JSONField(default=list)

    def __str__(self):
        return self.name


class MerchantPaymentSystem(BaseModel):
    merchant = ForeignKeyField(Merchant, backref="payment_settings", on_delete="CASCADE")
    payment_system = ForeignKeyField(PaymentSystem, backref="merchant_settings")
    enabled = BooleanField(default=True)
    min_deposit = MoneyField()
    commission_percent = DecimalField(max_digits=5, decimal_places=2, auto_round=True, default=Decimal("0"))
    gif_prompt = CharField(max_length=200, null=True)
    display_order = IntegerField(default=0)

    class Meta:
        indexes = ((("merchant", "payment_system"), True),)


class Wallet(BaseModel):
    merchant = ForeignKeyField(Merchant, backref="wallets", on_delete="CASCADE")
    payment_system = ForeignKeyField(PaymentSystem, backref="wallets")
    identifier = CharField(max_length=100)
    number = CharField(max_length=100)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    # Operations (SPEC §12, services.wallets): limits on incoming money (null: none),
    # a pause (``paused_reason`` "manual" or "silent": the automatic pause, lifted by
    # the next report) and the choice of pausing automatically when silent.
    max_per_transaction = MoneyField(null=True, default=None)
    daily_limit = MoneyField(null=True, default=None)
    monthly_limit = MoneyField(null=True, default=None)
    paused = BooleanField(default=False)
    paused_reason = CharField(max_length=16, null=True)
    auto_pause = BooleanField(default=False)
    # Running totals of incoming reports: the day and month (in the merchant's time
    # zone) they are for; a total whose day is not today is 0 (services.wallets).
    day_start = DateField(null=True)
    day_total = MoneyField()
    month_start = DateField(null=True)
    month_total = MoneyField()
    # Health: the last report of any transaction, the last time the plugin showed the
    # wallet, and the first showing not yet followed by a report (silence starts there).
    last_report_at = DateTimeField(null=True)
    last_offered_at = DateTimeField(null=True)
    offered_since = DateTimeField(null=True)

    class Meta:
        # A wallet number belongs to one merchant on its payment system.
        indexes = ((("payment_system", "number"), True),)

    def __str__(self):
        return f"{self.identifier} ({self.number})"


class ConnectorToken(BaseModel):
    name = CharField(max_length=100)
    token_hash = CharField(max_length=64, unique=True)  # sha256 of the token: it is shown once
    payment_systems = JSONField(default=list)  # codes it may report for
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)

    def __str__(self):
        return self.name


class Stockpiling(BaseModel):
    merchant = ForeignKeyField(Merchant, backref="stockpilings", on_delete="CASCADE")
    payment_system = ForeignKeyField(PaymentSystem)
    label = CharField(max_length=255)
    currency = CharField(max_length=3)
    required_amount = MoneyField()
    accumulated_amount = MoneyField()
    status = CharField(max_length=16, default="in_progress")
    created_at = DateTimeField(default=utcnow)
    completed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("merchant", "payment_system", "label", "status"), False),)


# At most one open stockpiling per visitor (merchant, payment system, label): a
# partial UNIQUE index, so two racing activations cannot open two.
Stockpiling.add_index(
    Stockpiling.index(
        Stockpiling.merchant,
        Stockpiling.payment_system,
        Stockpiling.label,
        unique=True,
        where=(Stockpiling.status == "in_progress"),
        name="stockpiling_one_open",
    )
)


class Transaction(BaseModel):
    wallet = ForeignKeyField(Wallet, null=True, backref="transactions")
    payment_system = ForeignKeyField(PaymentSystem, index=False)
    merchant = ForeignKeyField(Merchant, backref="transactions", index=False, on_delete="CASCADE")
    amount = MoneyField()
    currency = CharField(max_length=3)
    commission = MoneyField()
    transaction_number = CharField(max_length=100)
    direction = CharField(max_length=8, default="incoming")
    counterparty = CharField(max_length=255, default="")
    label = CharField(max_length=255, null=True)
    order_id = CharField(max_length=255, null=True)
    type = CharField(max_length=8, default="auto")
    originality = CharField(max_length=8, default="normal")
    status = CharField(max_length=16, default="new")
    postback_status = CharField(max_length=16, default="not_activated")
    stockpiling = ForeignKeyField(Stockpiling, null=True, backref="transactions")
    created_at = DateTimeField(default=utcnow)
    activated_at = DateTimeField(null=True)
    stockpiling_end_at = DateTimeField(null=True)
    # The connector that reported it (the timeline's first line); NULL for manual ones.
    connector = ForeignKeyField(ConnectorToken, null=True, index=False, on_delete="SET NULL", backref="+")

    class Meta:
        indexes = (
            (("payment_system", "transaction_number"), True),  # never twice per system
            (("merchant", "created_at"), False),  # the default list, newest first
            (("merchant", "activated_at"), False),
            (("merchant", "label"), False),
            (("merchant", "order_id"), False),
            (("merchant", "postback_status"), False),
            (("label",), False),  # operators search every merchant
            (("order_id",), False),
            (("transaction_number",), False),
            (("created_at",), False),
        )


# The balance (services.balances) sums a merchant's completed deposits. This partial
# index holds exactly those rows, with the columns summed: PostgreSQL answers from the
# index alone (141 ms -> 20 ms for a merchant with 200,000 transactions).
Transaction.add_index(
    Transaction.index(
        Transaction.merchant,
        Transaction.currency,
        Transaction.amount,
        Transaction.commission,
        where=((Transaction.status == "activated") & (Transaction.originality == "normal")
               & (Transaction.direction == "incoming")
               & Transaction.postback_status.in_(COMPLETED_DEPOSIT_POSTBACK_STATUSES)),
        name="transaction_completed_deposits",
    )
)


class PendingActivation(BaseModel):
    merchant = ForeignKeyField(Merchant, backref="pending_activations", index=False, on_delete="CASCADE")
    payment_system = ForeignKeyField(PaymentSystem)
    transaction_number = CharField(max_length=100)
    label = CharField(max_length=255)
    order_id = CharField(max_length=255, null=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    status = CharField(max_length=16, default="waiting")
    # What the visitor stated beside the number (SPEC §11): checked against the report
    # when it arrives, as the plugin API checks a reported one.
    sender_last4 = CharField(max_length=4, null=True)
    amount = MoneyField(null=True, default=None)
    network = CharField(max_length=64, default="")

    class Meta:
        indexes = (
            (("merchant", "created_at"), False),
            (("payment_system", "transaction_number", "status"), False),
            (("status", "expires_at"), False),  # the expiry sweep
        )


class Withdrawal(BaseModel):
    merchant = ForeignKeyField(Merchant, backref="withdrawals", index=False, on_delete="CASCADE")
    payment_system = ForeignKeyField(PaymentSystem)
    withdrawal_id = CharField(max_length=100)  # the merchant's own id: the idempotency key
    amount = MoneyField()
    currency = CharField(max_length=3)
    label = CharField(max_length=255, default="")
    wallet_sender = ForeignKeyField(Wallet, null=True)
    wallet_recipient = CharField(max_length=255, default="")
    fields = JSONField(default=dict)
    comment = TextField(default="")
    reject_reason = TextField(null=True)
    request_kind = CharField(max_length=8, default="manual")
    status = CharField(max_length=16, default="new")
    postback_status = CharField(max_length=16, null=True)
    created_at = DateTimeField(default=utcnow)
    decided_at = DateTimeField(null=True)
    decided_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    # Withdrawal controls (SPEC §14): the first of two approvals (the request stays
    # new), the payout reference the deciding operator records, and whether a receipt
    # image is stored (its content type; the bytes are in WithdrawalReceipt).
    first_approved_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False, backref="+")
    first_approved_at = DateTimeField(null=True)
    payout_reference = CharField(max_length=255, null=True)
    payout_receipt_type = CharField(max_length=16, null=True)

    class Meta:
        indexes = (
            (("merchant", "withdrawal_id"), True),
            (("merchant", "created_at"), False),
            (("merchant", "status"), False),
            (("status", "created_at"), False),
        )


class WithdrawalReceipt(BaseModel):
    """The payout receipt of an approved withdrawal: a re-encoded PNG or JPEG (no
    metadata), kept in the database so every web machine can serve it."""

    withdrawal = ForeignKeyField(Withdrawal, unique=True, on_delete="CASCADE", backref="+")
    content_type = CharField(max_length=16)
    data = BlobField()
    created_at = DateTimeField(default=utcnow)


class WebhookEndpoint(BaseModel):
    """Where a merchant's events are delivered (SPEC §10); up to 10 per merchant."""

    merchant = ForeignKeyField(Merchant, backref="webhook_endpoints", on_delete="CASCADE")
    url = CharField(max_length=2000)
    description = CharField(max_length=500, default="")
    event_types = JSONField(default=list)  # empty: every event type
    enabled = BooleanField(default=True)
    disabled_reason = CharField(max_length=16, null=True)  # failing | merchant | operator
    disabled_at = DateTimeField(null=True)
    secret = CharField(max_length=200)  # whsec_…
    # After a rotation the old secret signs too (next to the new one) until this time.
    previous_secret = CharField(max_length=200, null=True)
    previous_secret_until = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    failing_since = DateTimeField(null=True)  # the first failure since the last 2xx
    last_success_at = DateTimeField(null=True)
    consecutive_failures = IntegerField(default=0)
    # The circuit breaker: while open, nothing is sent before this time; then one probe.
    circuit_until = DateTimeField(null=True)

    def __str__(self):
        return self.url


class Event(BaseModel):
    """Every event a merchant's webhooks carry, kept ``EVENT_RETENTION_DAYS`` (the events
    API reads it; recovery re-sends from it). The payload is frozen at creation."""

    event_id = CharField(max_length=64, unique=True)  # evt_…
    merchant = ForeignKeyField(Merchant, backref="events", index=False, on_delete="CASCADE")
    event_type = CharField(max_length=32)
    object_type = CharField(max_length=32, null=True)
    object_id = IntegerField(null=True)
    payload = TextField()
    created_at = DateTimeField(default=utcnow, index=True)  # the retention sweep

    class Meta:
        indexes = (
            (("merchant", "id"), False),  # the events API's cursor
            (("merchant", "created_at"), False),  # recovery, since / until
        )


class Postback(BaseModel):
    """One delivery of an event to one endpoint (the outbox row, SPEC §7 and §10)."""

    event_id = CharField(max_length=64)  # evt_…, the same for every endpoint of an event
    merchant = ForeignKeyField(Merchant, backref="postbacks", index=False, on_delete="CASCADE")
    # Null only for a delivery written before endpoints existed to a merchant without a URL.
    endpoint = ForeignKeyField(WebhookEndpoint, backref="deliveries", null=True, index=False, on_delete="CASCADE")
    event_type = CharField(max_length=32)
    object_type = CharField(max_length=32, null=True)  # transaction | stockpiling | withdrawal
    object_id = IntegerField(null=True)
    payload = TextField()  # frozen at creation
    status = CharField(max_length=16, default="pending")
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)
    last_http_status = IntegerField(null=True)
    last_error = CharField(max_length=500, null=True)
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)
    delivery = IntegerField(default=1)  # +1 per resend; the event id stays
    locked_until = DateTimeField(null=True)  # a worker's lease while it sends

    class Meta:
        indexes = (
            (("merchant", "created_at"), False),
            (("object_type", "object_id"), False),
            (("event_id", "endpoint"), True),  # one delivery per endpoint per event
            (("endpoint", "status", "next_attempt_at"), False),  # the dispatcher, recovery, the delivery log
            (("locked_until",), False),  # what is in flight (the dispatcher's caps)
        )


class PostbackAttempt(BaseModel):
    postback = ForeignKeyField(Postback, backref="attempt_log", on_delete="CASCADE")
    attempted_at = DateTimeField(default=utcnow)
    http_status = IntegerField(null=True)
    duration_ms = IntegerField(null=True)
    response_excerpt = TextField(default="")  # the first 1 KiB of the answer
    error = CharField(max_length=500, null=True)
    delivery = IntegerField(default=1)  # which delivery of the event (resends add one)


class StatBucket(BaseModel):
    """The dashboard's rollup: sums per 15 minutes of UTC time.

    Every zone a merchant can pick is offset from UTC by a whole number of quarter
    hours (Asia/Kolkata +5:30, Asia/Kathmandu +5:45, and every DST rule too), so a
    local calendar day is always a whole set of these buckets: summing buckets by
    the viewer's local day is exact. Rows are updated in the same database
    transaction as each activation or withdrawal decision (an upsert), and
    ``backoffice rebuild-stats`` recomputes them from scratch.
    """

    merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE")
    payment_system = ForeignKeyField(PaymentSystem, index=False)
    currency = CharField(max_length=3)
    kind = CharField(max_length=16)  # deposit | withdrawal
    date_kind = CharField(max_length=16)  # created | activated | stockpiling_end
    complete = BooleanField()  # the deposit is complete (no stockpiling still under way)
    bucket = DateTimeField()  # UTC, a multiple of 15 minutes
    amount = MoneyField()
    count = IntegerField(default=0)

    class Meta:
        indexes = (
            (("merchant", "kind", "date_kind", "bucket", "payment_system", "currency", "complete"), True),
            (("kind", "date_kind", "bucket"), False),  # operators: all merchants
        )


class StatDay(BaseModel):
    """The same sums per calendar day of the merchant's own time zone.

    A merchant's users always view in the merchant's zone, so their dashboard reads
    a few rows a day from here instead of 96 buckets a day from ``StatBucket``. Rows
    are keyed by the zone they were computed in; when a merchant changes zone they
    are recomputed from the buckets (``services.stats_rollup.rebuild_days``).
    """

    merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE")
    payment_system = ForeignKeyField(PaymentSystem, index=False)
    currency = CharField(max_length=3)
    kind = CharField(max_length=16)
    date_kind = CharField(max_length=16)
    complete = BooleanField()
    timezone = CharField(max_length=64)
    day = DateField()
    amount = MoneyField()
    count = IntegerField(default=0)

    class Meta:
        indexes = (
            (("merchant", "timezone", "kind", "date_kind", "day", "payment_system", "currency", "complete"), True),
        )




class ExchangeRate(BaseModel):
    currency = CharField(max_length=3)
    rate_to_usd = DecimalField(max_digits=20, decimal_places=10, auto_round=True)
    effective_date = DateField()

    class Meta:
        indexes = ((("currency", "effective_date"), True),)


class AuditLog(BaseModel):
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    merchant = ForeignKeyField(Merchant, null=True, index=False, on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)
    action = CharField(max_length=64)
    object_type = CharField(max_length=32, default="")
    object_id = CharField(max_length=64, default="")
    summary = JSONField(default=dict)  # before/after, never secrets
    ip = CharField(max_length=64, default="")

    class Meta:
        indexes = (
            (("merchant", "created_at"), False),
            (("created_at",), False),
        )


# The latest ledger check (services.ledger_verify.latest_state, read for the operators'
# banner on every page): a partial index of just those entries (migration 0009).
AuditLog.add_index(
    AuditLog.index(AuditLog.created_at, AuditLog.id, where=(AuditLog.action == "ledger.verify"),
                   name="audit_log_ledger_verify")
)


class Balance(BaseModel):
    """A merchant's money in one currency (SPEC §9): moved only by ``services.ledger.book``,
    in the transaction of the change that moves it, under this row's lock."""

    merchant = ForeignKeyField(Merchant, backref="balances", index=False, on_delete="CASCADE")
    currency = CharField(max_length=3)
    available = MoneyField()
    on_hold = MoneyField()
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("merchant", "currency"), True),)


LEDGER_KINDS = ("deposit", "commission", "deposit_reversal", "withdrawal_hold", "withdrawal_release",
                "withdrawal_payout", "adjustment")


class LedgerEntry(BaseModel):
    """One line of the book of record (append-only: never updated or deleted).

    ``amount`` is what the entry does to ``available``, ``hold`` what it does to
    ``on_hold``; ``*_after`` are the balance right after it. The unique key books
    each source event once."""

    merchant = ForeignKeyField(Merchant, backref="ledger_entries", index=False, on_delete="CASCADE")
    currency = CharField(max_length=3)
    kind = CharField(max_length=24)
    amount = MoneyField()
    hold = MoneyField()
    available_after = MoneyField()
    on_hold_after = MoneyField()
    source_type = CharField(max_length=16)
    source_id = IntegerField()
    occurrence = IntegerField(default=1)
    actor = ForeignKeyField(User, null=True, index=False, on_delete="SET NULL", backref="+")
    memo = TextField(default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("source_type", "source_id", "kind", "occurrence"), True),
            (("merchant", "currency", "created_at", "id"), False),  # statements and their pages
        )


class RecoveryCode(BaseModel):
    """A second-factor recovery code (SHA-256 digest), usable once in place of a TOTP code."""

    user = ForeignKeyField(User, backref="recovery_codes", on_delete="CASCADE")
    code_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField(default=utcnow)
    used_at = DateTimeField(null=True)


class PasswordResetToken(BaseModel):
    """A one-time password reset link an operator hands out (the token's digest)."""

    user = ForeignKeyField(User, backref="reset_tokens", on_delete="CASCADE")
    token_hash = CharField(max_length=64, unique=True)
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False, backref="+")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


class SecretAttempt(BaseModel):
    """Failed checks of a secret (password, TOTP or recovery code, reset token) per
    (account, address group); ``account`` "*" counts the address as a whole."""

    account = CharField(max_length=254)
    address = CharField(max_length=64)
    failures = IntegerField(default=0)
    last_failed_at = DateTimeField()
    locked_until = DateTimeField(null=True)

    class Meta:
        indexes = ((("account", "address"), True),)


class MatchingPolicy(BaseModel):
    """How a deposit is matched to a visitor, and the risk limits (SPEC §11).

    One row with ``merchant`` NULL is the operators' default; a merchant with a row of
    its own follows that row (every field of it) instead. NULL limits are off."""
    merchant = ForeignKeyField(Merchant, null=True, unique=True, on_delete="CASCADE", backref="+")
    require_sender = BooleanField(default=True)  # the visitor types the sender wallet's last 4 digits
    require_amount = BooleanField(default=False)  # the visitor (or the session) states the amount paid
    amount_tolerance = MoneyField(default=Decimal("0"))
    window_minutes = IntegerField(null=True, default=24 * 60)  # how old a reported payment may be
    velocity_label_hour = IntegerField(null=True)  # activations per label per hour
    velocity_sender_day = IntegerField(null=True)  # activations per sender wallet per day
    review_above = MoneyField(null=True, default=None)  # a deposit above this is held for review
    review_first_above = MoneyField(null=True, default=None)  # a label's first deposit above this is held
    updated_at = DateTimeField(default=utcnow)


class RiskBlock(BaseModel):
    """A blocklist entry (SPEC §11): a label, a sender wallet or a visitor network,
    for every merchant (``merchant`` NULL) or one."""
    merchant = ForeignKeyField(Merchant, null=True, index=False, on_delete="CASCADE", backref="+")
    kind = CharField(max_length=16)  # label | sender | network
    value = CharField(max_length=255)
    note = CharField(max_length=500, default="")
    created_by = ForeignKeyField(User, null=True, index=False, on_delete="SET NULL", backref="+")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("kind", "value", "merchant"), False),)


class ActivationAttempt(BaseModel):
    """Every activation attempt and why it ended as it did (SPEC §11); kept 180 days."""
    merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE", backref="+")
    payment_system = ForeignKeyField(PaymentSystem, index=False, backref="+")
    transaction_number = CharField(max_length=100)
    label = CharField(max_length=255, default="")
    network = CharField(max_length=64, default="")  # the visitor's /24 (IPv4) or /64 (IPv6)
    sender = CharField(max_length=255, null=True)  # the reported payment's sender, when there was one
    transaction = IntegerField(null=True)  # the reported transaction's id, when there was one
    outcome = CharField(max_length=24)  # what the visitor was told
    reason = CharField(max_length=24)  # why (ATTEMPT_REASONS)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("merchant", "created_at"), False),  # the merchant's list, newest first
            (("merchant", "label", "created_at"), False),  # the label velocity limit; search by label
            (("sender", "created_at"), False),  # the sender velocity limit
            (("transaction",), False),  # the timeline
            (("transaction_number",), False),
            (("created_at",), False),  # the operators' list; the retention sweep
        )


class DepositReview(BaseModel):
    """A deposit held for an operator's decision (SPEC §11 review threshold)."""
    merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE", backref="+")
    payment_system = ForeignKeyField(PaymentSystem, index=False, backref="+")
    transaction = ForeignKeyField(Transaction, backref="+")  # the activation that completed the deposit
    stockpiling = ForeignKeyField(Stockpiling, null=True, index=False, backref="+")
    label = CharField(max_length=255)
    amount = MoneyField()
    currency = CharField(max_length=3)
    rule = CharField(max_length=16)  # above | first_above
    status = CharField(max_length=16, default="held")
    note = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    decided_at = DateTimeField(null=True)
    decided_by = ForeignKeyField(User, null=True, index=False, on_delete="SET NULL", backref="+")

    class Meta:
        indexes = (
            (("status", "created_at"), False),  # the queue
            (("merchant", "created_at"), False),
        )


class Appeal(BaseModel):
    """A visitor's "I paid, but it is not credited" (SPEC §12): what they state, and the
    operator's decision (matched to a reported transaction, or rejected with a reason
    the visitor sees)."""
    public_id = CharField(max_length=40, unique=True)  # "apl_…": the visitor's reference
    merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE", backref="+")
    payment_system = ForeignKeyField(PaymentSystem, index=False, backref="+")
    label = CharField(max_length=255)
    order_id = CharField(max_length=255, null=True)
    transaction_number = CharField(max_length=100)
    amount = MoneyField()
    currency = CharField(max_length=3)
    sender = CharField(max_length=100)
    paid_at = DateTimeField()
    network = CharField(max_length=64, default="")
    status = CharField(max_length=16, default="open")  # open | matched | rejected
    reason = TextField(default="")  # a rejection's reason, shown to the visitor
    transaction = ForeignKeyField(Transaction, null=True, index=False, on_delete="SET NULL", backref="+")
    has_receipt = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    resolved_at = DateTimeField(null=True)
    resolved_by = ForeignKeyField(User, null=True, index=False, on_delete="SET NULL", backref="+")

    class Meta:
        indexes = (
            (("status", "created_at"), False),  # the operators' queue
            (("merchant", "created_at"), False),  # the merchant's list
            (("merchant", "label", "status"), False),  # one open appeal per number and label
        )


class AppealReceipt(BaseModel):
    """An appeal's receipt picture: re-encoded PNG or JPEG, no metadata (``receipts``)."""
    appeal = ForeignKeyField(Appeal, unique=True, on_delete="CASCADE", backref="+")
    content_type = CharField(max_length=16)
    data = BlobField()


class PluginSession(BaseModel):
    """A plugin session (SPEC §13): made by the merchant's server for one visitor (one
    label, maybe an order and an amount); its token goes in the snippet in place of the
    label and its signature, and stops working at ``expires_at``. Only the token's
    digest is stored."""
    public_id = CharField(max_length=40, unique=True)  # "pss_…"
    token_digest = CharField(max_length=64, unique=True)
    merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE", backref="+")
    label = CharField(max_length=255)
    order_id = CharField(max_length=255, null=True)
    amount = MoneyField(null=True)
    currency = CharField(max_length=3, null=True)
    payment_systems = JSONField(null=True)  # codes; null: every enabled one
    expires_at = DateTimeField(index=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("merchant", "created_at"), False),)


class RefusedOrigin(BaseModel):
    """A site that tried to show a merchant's plugin without being one of its allowed
    origins (issue 22): the loader's origin check and the plugin page record it, so the
    merchant's installation page can list it with one click to allow. At most
    ``services.refused_origins.MAX_PER_MERCHANT`` rows per merchant (the oldest go)."""
    merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE", backref="+")
    origin = CharField(max_length=300)  # normalised: scheme://host[:port]
    first_seen = DateTimeField(default=utcnow)
    last_seen = DateTimeField(default=utcnow)
    count = IntegerField(default=1)

    class Meta:
        indexes = ((("merchant", "origin"), True), (("merchant", "last_seen"), False))


ALL_MODELS = [
    Merchant,
    User,
    PaymentSystem,
    MerchantPaymentSystem,
    Wallet,
    Stockpiling,
    Transaction,
    PendingActivation,
    Withdrawal,
    WithdrawalReceipt,
    WebhookEndpoint,
    Event,
    Postback,
    PostbackAttempt,
    ConnectorToken,
    ExchangeRate,
    AuditLog,
    RecoveryCode,
    PasswordResetToken,
    SecretAttempt,
    StatBucket,
    StatDay,
    Balance,
    LedgerEntry,
    MatchingPolicy,
    RiskBlock,
    ActivationAttempt,
    DepositReview,
    Appeal,
    AppealReceipt,
    PluginSession,
    RefusedOrigin,
]

__all__ = ["ALL_MODELS", "SQL", "utcnow"] + [m.__name__ for m in ALL_MODELS]
