"""Dashboard numbers (``stats_read``) and the rollup (``stats_rollup``) against sums
computed independently over generated data."""
import datetime
import random
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import factories
from backoffice.models import ExchangeRate, Merchant, StatBucket, StatDay, Transaction
from backoffice.services import stats_read, stats_rollup
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest

UTC = datetime.timezone.utc
START = datetime.datetime(2026, 3, 1)


@pytest.fixture
def world(ctx):
    bkash, paytm = factories.payment_system("bkash", "BDT"), factories.payment_system("paytm", "INR")
    m = factories.merchant(name="Stats")
    other = factories.merchant(name="Other")
    for merchant in (m, other):
        factories.merchant_payment_system(merchant, bkash, min_deposit="500.00")
        factories.merchant_payment_system(merchant, paytm, min_deposit="300.00")
    wallets = {(m.id, "bkash"): factories.wallet(m, bkash), (m.id, "paytm"): factories.wallet(m, paytm),
               (other.id, "bkash"): factories.wallet(other, bkash)}
    # A rate change in the middle of the period.
    for currency, before, after in (("BDT", "0.0080", "0.0090"), ("INR", "0.0120", "0.0110")):
        ExchangeRate.create(currency=currency, rate_to_usd=Decimal(before), effective_date=datetime.date(2026, 1, 1))
        ExchangeRate.create(currency=currency, rate_to_usd=Decimal(after), effective_date=datetime.date(2026, 3, 6))
    rng = random.Random(7)
    n = 0
    for day in range(10):
        for _ in range(12):
            n += 1
            merchant = rng.choice([m, m, m, other])
            code = "bkash" if merchant is other else rng.choice(["bkash", "paytm"])
            wallet = wallets[(merchant.id, code)]
            created = START + datetime.timedelta(days=day, minutes=rng.randint(0, 24 * 60 - 1))
            amount = Decimal(rng.choice([150, 200, 250, 600, 800])) + Decimal(rng.randint(0, 99)) / 100
            ingest(Report(code, wallet.number, f"T{n}", amount, wallet.payment_system.currency, occurred_at=created))
            if rng.random() < 0.85:
                activated = created + datetime.timedelta(minutes=rng.randint(1, 600))
                activate(merchant, code, f"T{n}", f"visitor-{rng.randint(1, 6)}", now=activated)
    return dict(m=m, other=other)


def expected(merchant, tz, date_kind, date_from, date_to, complete_only=False, display=None):
    """Independent: straight from the transactions, day by the viewer's zone."""
    rates = {cur: sorted((r.effective_date, r.rate_to_usd) for r in ExchangeRate.select().where(
        ExchangeRate.currency == cur)) for cur in ("BDT", "INR")}

    def rate(cur, day):
        return [r for d, r in rates[cur] if d <= day][-1]

    sums = defaultdict(lambda: [Decimal(0), 0])
    for tx in Transaction.select().where((Transaction.status == "activated") & (Transaction.merchant == merchant.id)):
        complete = tx.stockpiling_id is None or tx.stockpiling_end_at is not None
        if complete_only and not complete:
            continue
        moment = {"created": tx.created_at, "activated": tx.activated_at,
                  "stockpiling_end": tx.stockpiling_end_at or (tx.activated_at if tx.stockpiling_id is None else None)
                  }[date_kind]
        if moment is None:
            continue
        day = moment.replace(tzinfo=UTC).astimezone(tz).date()
        if not (date_from <= day <= date_to):
            continue
        amount = tx.amount * rate(tx.currency, day) if display == "USD" else tx.amount
        key = (tx.payment_system.code, day)
        sums[key][0] += amount
        sums[key][1] += 1
    return sums


def check(result, sums, date_from, date_to, converted):
    days = [date_from + datetime.timedelta(days=i) for i in range((date_to - date_from).days + 1)]
    assert result["days"] == [d.isoformat() for d in days]
    got = {}
    for series in result["deposits"]["series"]:
        for i, day in enumerate(days):
            got[(series["payment_system"], day)] = (Decimal(series["amount"][i]), series["count"][i])
    for key in set(got) | set(sums):
        amount, count = sums.get(key, (Decimal(0), 0))
        g_amount, g_count = got.get(key, (Decimal(0), 0))
        assert g_count == count, key
        if converted:  # per bucket conversion, rounded to cents at the end
            assert abs(g_amount - amount) <= Decimal("0.01"), (key, g_amount, amount)
        else:
            assert g_amount == amount, key


def test_series_match_independent_sums(world):
    """Day boundaries of UTC, Dhaka (+6), Kolkata (+5:30), Kathmandu (+5:45) and a DST zone."""
    date_from, date_to = datetime.date(2026, 3, 2), datetime.date(2026, 3, 8)
    for zone in ("UTC", "Asia/Dhaka", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York"):
        tz = ZoneInfo(zone)
        for date_kind in ("created", "activated", "stockpiling_end"):
            result = stats_read.dashboard(world["m"].id, date_from, date_to, tz, today=date_to,
                                          group_by=date_kind, details=True)
            sums = expected(world["m"], tz, date_kind, date_from, date_to)
            check(result, sums, date_from, date_to, converted=False)


def test_completed_stockpiling_only(world):
    tz = ZoneInfo("Asia/Dhaka")
    d1, d2 = datetime.date(2026, 3, 1), datetime.date(2026, 3, 11)
    result = stats_read.dashboard(world["m"].id, d1, d2, tz, today=d2, details=True, completed_stockpiling=True)
    check(result, expected(world["m"], tz, "created", d1, d2, complete_only=True), d1, d2, converted=False)
    everything = stats_read.dashboard(world["m"].id, d1, d2, tz, today=d2, details=True)
    assert sum(everything["deposits"]["total"][0]["count"]) > sum(result["deposits"]["total"][0]["count"])


def test_conversion_uses_the_rate_of_each_day(world):
    tz = ZoneInfo("UTC")
    d1, d2 = datetime.date(2026, 3, 1), datetime.date(2026, 3, 11)
    result = stats_read.dashboard(world["m"].id, d1, d2, tz, today=d2, display_in="USD")
    sums = expected(world["m"], tz, "created", d1, d2, display="USD")
    check(result, sums, d1, d2, converted=True)
    total_expected = sum((v[0] for v in sums.values()), Decimal(0))
    assert abs(Decimal(result["summary"]["period"][0]["amount"]) - total_expected) <= Decimal("0.10")
    assert result["summary"]["period"][0]["currency"] == "USD" and result["missing_rates"] == []


def test_operator_sees_all_merchants(world):
    tz = ZoneInfo("UTC")
    d1, d2 = datetime.date(2026, 3, 1), datetime.date(2026, 3, 11)
    mine = stats_read.dashboard(world["m"].id, d1, d2, tz, today=d2, details=True)
    theirs = stats_read.dashboard(world["other"].id, d1, d2, tz, today=d2, details=True)
    everyone = stats_read.dashboard(None, d1, d2, tz, today=d2, details=True)
    count = lambda r: sum(sum(t["count"]) for t in r["deposits"]["total"])  # noqa: E731
    assert count(everyone) == count(mine) + count(theirs) == Transaction.select().where(
        Transaction.status == "activated").count()


def snapshot():
    return sorted((b.merchant_id, b.payment_system_id, b.currency, b.kind, b.date_kind, bool(b.complete),
                   b.bucket, b.amount, b.count) for b in StatBucket.select() if b.count != 0 or b.amount != 0)


def day_snapshot():
    return sorted((d.merchant_id, d.payment_system_id, d.currency, d.kind, d.date_kind, bool(d.complete),
                   d.timezone, d.day, d.amount, d.count) for d in StatDay.select() if d.count != 0 or d.amount != 0)


def test_rebuild_equals_incremental(world):
    incremental, incremental_days = snapshot(), day_snapshot()
    assert incremental and incremental_days
    stats_rollup.rebuild()
    assert snapshot() == incremental
    assert day_snapshot() == incremental_days


def _sums(rows):
    """Rows added up per (day, payment system, currency); a DST day comes in two parts."""
    out = defaultdict(lambda: (Decimal("0.00"), 0))
    for day, ps_id, cur, amount, count in rows:
        key = (stats_rollup.as_date(day), ps_id, cur)
        out[key] = (out[key][0] + Decimal(str(amount)).quantize(Decimal("0.01")), out[key][1] + int(count))
    return {k: v for k, v in out.items() if v != (Decimal("0.00"), 0)}


def test_daily_sums_agree_with_the_buckets_in_every_zone(world):
    """The daily sums (merchant's zone and UTC) equal the buckets added up per local day."""
    m = world["m"]
    days = [datetime.date(2026, 3, 1) + datetime.timedelta(days=i) for i in range(11)]
    for zone in ("UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York"):
        Merchant.update(timezone=zone).where(Merchant.id == m.id).execute()
        stats_rollup.rebuild_days(Merchant.get_by_id(m.id))  # what changing the zone does
        tz = ZoneInfo(zone)
        for merchant_id in (m.id, None):
            if merchant_id is None and zone != "UTC":
                continue  # all merchants: daily sums are kept in UTC only
            for date_kind in ("created", "activated", "stockpiling_end"):
                for complete in (False, True):
                    args = ("deposit", merchant_id, date_kind, days, tz, None, complete)
                    from_days = _sums(stats_read._day_rows(*args))
                    assert from_days, (zone, date_kind)
                    assert from_days == _sums(stats_read._bucket_rows(*args)), (zone, merchant_id, date_kind)



def test_buckets_are_quarter_hours(world):
    assert {b.bucket.minute for b in StatBucket.select()} <= {0, 15, 30, 45}
    assert all(b.bucket.second == 0 for b in StatBucket.select())
