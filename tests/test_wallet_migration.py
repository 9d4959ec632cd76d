"""Migration 0013 (SPEC §12, issue 19) on a database made by the previous release
(migrations up to 0012): each wallet's running totals start from the incoming
transactions already reported this month and today, by its merchant's time zone, so a
limit set right after the upgrade counts what the wallet already received.

The old schema is written to with plain SQL; the result is read through today's
models (bound to that database). The migration reads the clock: the instants here are
placed around the merchant's midnights of today and of the 1st of this month, in
Asia/Dhaka (UTC+6: its midnight is 18:00 UTC the day before) and in UTC."""
import datetime
import zoneinfo
from decimal import Decimal

from playhouse.migrations import Runner

from backoffice.db import MIGRATIONS_DIR
from backoffice.models import Appeal, AppealReceipt, Wallet
from migration_support import insert, old_database  # noqa: F401 - a fixture

D = Decimal
MINUTE = datetime.timedelta(minutes=1)


def midnights(zone_name, now):
    """(today's midnight, the 1st of this month's midnight) of the zone, as naive UTC."""
    zone = zoneinfo.ZoneInfo(zone_name)
    today = now.replace(tzinfo=datetime.timezone.utc).astimezone(zone).date()

    def utc(day):
        return datetime.datetime.combine(day, datetime.time(0), zone).astimezone(datetime.timezone.utc) \
            .replace(tzinfo=None)

    return today, utc(today), utc(today.replace(day=1))


def test_the_wallets_totals_start_from_this_months_reports_in_the_merchants_zone(old_database):
    runner = Runner(old_database, MIGRATIONS_DIR)
    runner.up("0012_matching_risk")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    today, midnight, month_start = midnights("Asia/Dhaka", now)
    utc_today, utc_midnight, utc_month_start = midnights("UTC", now)

    bkash = insert(old_database, "payment_system", code="bkash", name="bKash", currency="BDT", active=True,
                   withdrawal_fields="[]")
    dhaka = insert(old_database, "merchant", name="Dhaka", public_key="pk_1", api_key="sk_1",
                   timezone="Asia/Dhaka", active=True)
    london = insert(old_database, "merchant", name="UTC", public_key="pk_2", api_key="sk_2", timezone="UTC",
                    active=True)
    wallets = {name: insert(old_database, "wallet", merchant_id=merchant, payment_system_id=bkash, identifier=name,
                            number=f"017{n:08d}", active=True)
               for n, (name, merchant) in enumerate([("busy", dhaka), ("last_month", dhaka), ("idle", dhaka),
                                                     ("utc", london)])}
    n = iter(range(1, 1000))
    rows = []

    def tx(wallet, merchant, amount, at, direction="incoming"):
        rows.append((wallet, amount, at, direction))
        insert(old_database, "transaction", wallet_id=wallets[wallet], payment_system_id=bkash, merchant_id=merchant,
               amount=D(amount), commission=D("0.00"), currency="BDT", transaction_number=f"N{next(n)}",
               direction=direction, type="auto", originality="normal", status="new", postback_status="not_activated",
               created_at=at)

    # Today in Dhaka; in UTC these are still yesterday's (the first minutes after 18:00 UTC).
    tx("busy", dhaka, "100.00", midnight + MINUTE)
    tx("busy", dhaka, "250.50", midnight + 2 * MINUTE)
    tx("busy", dhaka, "999.00", midnight + MINUTE / 2, direction="outgoing")  # not incoming money
    # This month in Dhaka (on the 1st, that is today too); and one minute before, last month.
    tx("busy", dhaka, "1000.00", month_start + MINUTE)
    tx("busy", dhaka, "5000.00", month_start - MINUTE)
    tx("busy", dhaka, "7000.00", now - datetime.timedelta(days=40))
    tx("last_month", dhaka, "300.00", month_start - MINUTE)
    # The UTC merchant: the same instant as Dhaka's month start is last month there.
    tx("utc", london, "40.00", month_start + MINUTE)
    tx("utc", london, "60.00", utc_midnight + MINUTE)
    tx("utc", london, "80.00", utc_month_start + MINUTE)

    assert runner.up("0013_wallet_operations") == ["0013_wallet_operations"]

    def expected(name, day_start, month_start_):
        incoming = [(amount, at) for w, amount, at, direction in rows if w == name and direction == "incoming"]
        day = sum((D(a) for a, at in incoming if at >= day_start), D("0.00"))
        month = [(D(a), at) for a, at in incoming if at >= month_start_]
        return day, sum((a for a, _at in month), D("0.00")), max((at for _a, at in month), default=None)

    with old_database.bind_ctx([Wallet, Appeal, AppealReceipt]):
        busy = Wallet.get_by_id(wallets["busy"])
        day, month, last = expected("busy", midnight, month_start)
        assert (busy.day_start, busy.day_total) == (today, day)
        assert (busy.month_start, busy.month_total) == (today.replace(day=1), month)
        assert day >= D("350.50") and month >= D("1350.50")  # the minutes after 18:00 UTC count as Dhaka's
        assert busy.last_report_at == last == midnight + 2 * MINUTE
        # Nothing else changed, and the new columns have their defaults.
        assert (busy.paused, busy.paused_reason, busy.auto_pause) == (False, None, False)
        assert (busy.daily_limit, busy.monthly_limit, busy.max_per_transaction) == (None, None, None)
        assert (busy.last_offered_at, busy.offered_since) == (None, None)
        for name in ("last_month", "idle"):
            row = Wallet.get_by_id(wallets[name])
            assert (row.day_total, row.month_total) == (D("0.00"), D("0.00")), name
        # The last report is the newest transaction of any month: "never" only for the idle one.
        assert Wallet.get_by_id(wallets["last_month"]).last_report_at == month_start - MINUTE
        assert Wallet.get_by_id(wallets["idle"]).last_report_at is None
        utc = Wallet.get_by_id(wallets["utc"])
        day, month, last = expected("utc", utc_midnight, utc_month_start)
        assert (utc.day_start, utc.day_total) == (utc_today, day)
        assert (utc.month_start, utc.month_total) == (utc_today.replace(day=1), month)
        if (utc_today.year, utc_today.month) == (today.year, today.month):
            # Dhaka's first minutes of the month are UTC's last month: not counted here.
            assert month == D("140.00")
        assert utc.last_report_at == last
        # The appeals' tables exist and are empty.
        assert Appeal.select().count() == 0 and AppealReceipt.select().count() == 0


def test_a_fresh_database_migrates_and_rolls_back(old_database):
    runner = Runner(old_database, MIGRATIONS_DIR)
    assert "0013_wallet_operations" in runner.up()
    columns = {c.name for c in old_database.get_columns("wallet")}
    assert {"daily_limit", "monthly_limit", "max_per_transaction", "paused", "paused_reason", "auto_pause",
            "day_start", "day_total", "month_start", "month_total", "last_report_at", "last_offered_at",
            "offered_since"} <= columns
    assert {"appeal", "appeal_receipt"} <= set(old_database.get_tables())
