"""Wallet operations and appeals (SPEC §12, issue 19).

* ``wallet`` gains its limits (per transaction, daily, monthly), the pause, the
  automatic pause when silent, its running totals of incoming money (the day and month
  they are for, in the merchant's time zone) and its health timestamps;
* ``appeal`` and ``appeal_receipt`` — visitors' "I paid, but it is not credited".

Data: each wallet's totals start from the incoming transactions already reported for
it this month (by the merchant's time zone), so a limit set right after the upgrade
counts what the wallet already received; its last report is its newest transaction.
"""
import datetime
import decimal
import zoneinfo

from peewee import *

from backoffice.migrations.stubs import existing_table


def _money(**kwargs):
    return DecimalField(max_digits=18, decimal_places=2, **kwargs)


def _zone(name):
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.timezone.utc


def up(migrator, db):
    Merchant = existing_table(db, "merchant")
    PaymentSystem = existing_table(db, "payment_system")
    User = existing_table(db, "user")
    Transaction = existing_table(db, "transaction")

    migrator.migrate(
        migrator.add_column("wallet", "max_per_transaction", _money(null=True)),
        migrator.add_column("wallet", "daily_limit", _money(null=True)),
        migrator.add_column("wallet", "monthly_limit", _money(null=True)),
        migrator.add_column("wallet", "paused", BooleanField(default=False)),
        migrator.add_column("wallet", "paused_reason", CharField(max_length=16, null=True)),
        migrator.add_column("wallet", "auto_pause", BooleanField(default=False)),
        migrator.add_column("wallet", "day_start", DateField(null=True)),
        migrator.add_column("wallet", "day_total", _money(default=decimal.Decimal("0.00"))),
        migrator.add_column("wallet", "month_start", DateField(null=True)),
        migrator.add_column("wallet", "month_total", _money(default=decimal.Decimal("0.00"))),
        migrator.add_column("wallet", "last_report_at", DateTimeField(null=True)),
        migrator.add_column("wallet", "last_offered_at", DateTimeField(null=True)),
        migrator.add_column("wallet", "offered_since", DateTimeField(null=True)),
    )

    class Appeal(Model):
        public_id = CharField(max_length=40, unique=True)
        merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE")
        payment_system = ForeignKeyField(PaymentSystem, index=False)
        label = CharField(max_length=255)
        order_id = CharField(max_length=255, null=True)
        transaction_number = CharField(max_length=100)
        amount = _money(default=decimal.Decimal("0.00"))
        currency = CharField(max_length=3)
        sender = CharField(max_length=100)
        paid_at = DateTimeField()
        network = CharField(max_length=64, default="")
        status = CharField(max_length=16, default="open")
        reason = TextField(default="")
        transaction = ForeignKeyField(Transaction, null=True, index=False, on_delete="SET NULL")
        has_receipt = BooleanField(default=False)
        created_at = DateTimeField()
        resolved_at = DateTimeField(null=True)
        resolved_by = ForeignKeyField(User, null=True, index=False, on_delete="SET NULL")

        class Meta:
            database = db
            table_name = "appeal"
            indexes = (
                (("status", "created_at"), False),
                (("merchant", "created_at"), False),
                (("merchant", "label", "status"), False),
            )

    class AppealReceipt(Model):
        appeal = ForeignKeyField(Appeal, unique=True, on_delete="CASCADE")
        content_type = CharField(max_length=16)
        data = BlobField()

        class Meta:
            database = db
            table_name = "appeal_receipt"

    db.create_tables([Appeal, AppealReceipt])
    _backfill_totals(db)


def _backfill_totals(db):
    """This month's incoming totals per wallet, by each merchant's time zone: the
    transactions of the last 32 days read once (a month in any zone lies inside them)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    zones = {mid: _zone(tz) for mid, tz in db.execute_sql('SELECT "id", "timezone" FROM "merchant"')}
    cursor = db.execute_sql(
        'SELECT "wallet_id", "merchant_id", "amount", "created_at" FROM "transaction" '
        'WHERE "wallet_id" IS NOT NULL AND "direction" = %s AND "created_at" >= %s'.replace("%s", db.param),
        ("incoming", (now - datetime.timedelta(days=32)).replace(tzinfo=None)))
    totals = {}
    for wallet_id, merchant_id, amount, created_at in cursor:
        if isinstance(created_at, str):
            created_at = datetime.datetime.fromisoformat(created_at)
        zone = zones.get(merchant_id, datetime.timezone.utc)
        today = now.astimezone(zone).date()
        local = created_at.replace(tzinfo=datetime.timezone.utc).astimezone(zone).date()
        if (local.year, local.month) != (today.year, today.month):
            continue
        amount = decimal.Decimal(str(amount)).quantize(decimal.Decimal("0.01"))
        row = totals.setdefault(wallet_id, [today, decimal.Decimal("0.00"), today.replace(day=1),
                                            decimal.Decimal("0.00"), created_at])
        row[3] += amount
        if local == today:
            row[1] += amount
        row[4] = max(row[4], created_at)
    for wallet_id, (day, day_total, month, month_total, _last) in totals.items():
        db.execute_sql(
            'UPDATE "wallet" SET "day_start" = %s, "day_total" = %s, "month_start" = %s, "month_total" = %s '
            'WHERE "id" = %s'.replace("%s", db.param),
            (day, day_total, month, month_total, wallet_id))
    # The last report of any direction and any date (through the wallet_id index).
    db.execute_sql('UPDATE "wallet" SET "last_report_at" = (SELECT MAX(t."created_at") FROM "transaction" t '
                   'WHERE t."wallet_id" = "wallet"."id")')


def down(migrator, db):
    for table in ("appeal_receipt", "appeal"):
        db.execute_sql(f'DROP TABLE IF EXISTS "{table}"')
    migrator.migrate(*[migrator.drop_column("wallet", name) for name in (
        "offered_since", "last_offered_at", "last_report_at", "month_total", "month_start", "day_total",
        "day_start", "auto_pause", "paused_reason", "paused", "monthly_limit", "daily_limit",
        "max_per_transaction")])
