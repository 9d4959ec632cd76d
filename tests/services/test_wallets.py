"""Wallet operations (SPEC §12, issue 19) through the real paths: reports through
``services.ingest.ingest``, the plugin's wallet through ``plugin_options`` (with an
explicit ``now``) or ``GET /plugin/api/config``, the operators' changes through
``services.wallets.update``.

The merchant is in Asia/Dhaka (UTC+6, no summer time): its midnight is 18:00 UTC, so
instants a few minutes either side of 18:00 UTC fall on one UTC day and on two of the
merchant's days; instants either side of 00:00 UTC fall on two UTC days and one of
the merchant's. Datetimes are naive UTC, as the models store them."""
import datetime
from collections import Counter
from decimal import Decimal

import pytest

import factories
from backoffice.models import AuditLog, Wallet, utcnow
from backoffice.plugin_builder.config import plugin_options
from backoffice.services import wallets
from backoffice.services.ingest import Report, ingest
from helpers import login, post_form, run_threads

D = Decimal
UTC = datetime.datetime
# The merchant's 6 December, local 12:00; the end of its day; the start of its 7 December.
NOON_6 = UTC(2026, 12, 6, 6, 0)
LOCAL_2359_6 = UTC(2026, 12, 6, 17, 59)  # 23:59 in Dhaka, 6 Dec; 17:59 UTC, 6 Dec
LOCAL_0001_7 = UTC(2026, 12, 6, 18, 1)  # 00:01 in Dhaka, 7 Dec; still 6 Dec in UTC
LABELS = [f"visitor-{i}" for i in range(120)]


@pytest.fixture
def shop(ctx):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Dhaka shop", timezone="Asia/Dhaka")
    factories.merchant_payment_system(m, ps, min_deposit="500.00", commission="2.50")
    return m, ps


@pytest.fixture
def client(app, client):
    """The test client, with the plugin config's rate limit out of the way (the tests
    ask it for many visitors)."""
    app.config["PLUGIN_CONFIG_LIMIT"] = "100000 per minute"
    return client


@pytest.fixture
def operator(ctx):
    return factories.user("operator")


def report(wallet, number, amount, at=None, direction="incoming", now=None):
    """A connector's report of a payment that occurred ``at`` (naive UTC), received ``now``
    (default: at once)."""
    ps = wallet.payment_system
    return ingest(Report(ps.code, wallet.number, number, D(amount), ps.currency, direction=direction,
                         occurred_at=at), now=now or at)


def limit(wallet, actor=None, **values):
    """Set limits / pause through the operators' service."""
    values = {k: (D(v) if isinstance(v, str) else v) for k, v in values.items()}
    wallets.update([wallet.id], values, actor)
    return fresh(wallet)


def fresh(wallet):
    return Wallet.get_by_id(wallet.id)


def offered(merchant, now, label="visitor-1", amount=None, code="bkash"):
    """The wallet number the plugin shows for ``code`` at ``now`` (None: not offered)."""
    for option in plugin_options(merchant, label=label, amount=amount, now=now):
        if option.code == code:
            return option.wallet_number
    return None


def offered_to_many(merchant, now, labels=LABELS, amount=None):
    return Counter(offered(merchant, now, label, amount) for label in labels)


def config(client, merchant, **params):
    query = "&".join(f"{k}={v}" for k, v in dict(merchant=merchant.public_key, **params).items())
    return client.get("/plugin/api/config?" + query)


def config_numbers(client, merchant, labels=LABELS[:20], **params):
    """The wallet numbers ``GET /plugin/api/config`` shows these visitors (None: no bKash)."""
    seen = Counter()
    for label in labels:
        response = config(client, merchant, label=label, **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        systems = {p["code"]: p for p in response.get_json()["payment_systems"]}
        seen[systems["bkash"]["wallet_number"] if "bkash" in systems else None] += 1
    return seen


# --- limits: the daily limit and the merchant's day ---------------------------------------------

def test_a_wallet_at_its_daily_limit_comes_back_at_the_merchants_midnight_not_at_utcs(shop):
    m, ps = shop
    w = limit(factories.wallet(m, ps), daily_limit="1000.00")
    report(w, "D-1", "600.00", at=NOON_6)
    assert offered(m, LOCAL_2359_6) == w.number  # 400 left
    report(w, "D-2", "400.00", at=NOON_6 + datetime.timedelta(hours=2))
    assert offered(m, NOON_6 + datetime.timedelta(hours=3)) is None
    assert offered(m, LOCAL_2359_6) is None
    # 18:01 UTC: the same UTC day, but the merchant's next one.
    assert offered(m, LOCAL_0001_7) == w.number
    # A full local day on 7 Dec (00:30 local is 18:30 UTC on the 6th) ...
    report(w, "D-3", "1000.00", at=UTC(2026, 12, 6, 18, 30))
    row = fresh(w)
    assert row.day_start == datetime.date(2026, 12, 7) and row.day_total == D("1000.00")
    assert offered(m, UTC(2026, 12, 6, 23, 59)) is None
    # ... is not freed by UTC's midnight (06:01 in Dhaka, still 7 Dec) ...
    assert offered(m, UTC(2026, 12, 7, 0, 1)) is None
    assert offered(m, UTC(2026, 12, 7, 17, 59)) is None
    # ... only by the merchant's.
    assert offered(m, UTC(2026, 12, 7, 18, 1)) == w.number


def test_a_wallet_at_its_monthly_limit_stays_out_until_the_merchants_next_month(shop):
    m, ps = shop
    w = limit(factories.wallet(m, ps), daily_limit="3000.00", monthly_limit="5000.00")
    report(w, "MO-1", "2500.00", at=UTC(2026, 12, 5, 6, 0))
    report(w, "MO-2", "2500.00", at=UTC(2026, 12, 20, 6, 0))
    assert offered(m, UTC(2026, 12, 20, 7, 0)) is None
    # A new day: nothing received today, but the month is full.
    assert offered(m, UTC(2026, 12, 21, 6, 0)) is None
    assert wallets.usage(fresh(w), datetime.date(2026, 12, 21)).today == D("0.00")
    # 23:59 on 31 Dec in Dhaka, then 00:01 on 1 Jan there (still 31 Dec in UTC).
    assert offered(m, UTC(2026, 12, 31, 17, 59)) is None
    assert offered(m, UTC(2026, 12, 31, 18, 1)) == w.number
    # The first report of the new month starts its total again.
    report(w, "MO-3", "100.00", at=UTC(2026, 12, 31, 18, 5))
    row = fresh(w)
    assert (row.month_start, row.month_total) == (datetime.date(2027, 1, 1), D("100.00"))
    assert (row.day_start, row.day_total) == (datetime.date(2027, 1, 1), D("100.00"))


def test_the_visitors_amount_against_the_maximum_per_transaction_and_the_headroom(client, shop):
    m, ps = shop
    capped = limit(factories.wallet(m, ps), max_per_transaction="1000.00")  # no daily/monthly: unlimited room
    roomy = limit(factories.wallet(m, ps), daily_limit="5000.00")
    report(roomy, "AM-1", "2000.00", at=utcnow())  # today, the merchant's day: 3000 left
    # Without an amount, the wallet with no daily/monthly limit comes first.
    assert config_numbers(client, m) == Counter({capped.number: 20})
    assert config_numbers(client, m, amount="800.00") == Counter({capped.number: 20})
    assert config_numbers(client, m, amount="1000.00") == Counter({capped.number: 20})  # at its maximum
    # Over the maximum per transaction: only the wallet whose day still takes it.
    assert config_numbers(client, m, amount="1000.01") == Counter({roomy.number: 20})
    assert config_numbers(client, m, amount="3000.00") == Counter({roomy.number: 20})  # exactly the headroom
    # Nobody can take it: bKash is not offered at all (the other systems would be).
    assert config_numbers(client, m, amount="3000.01") == Counter({None: 20})
    body = config(client, m, label="x", amount="5000").get_json()
    assert body["payment_systems"] == []
    bad = config(client, m, amount="lots")
    assert bad.status_code == 400
    assert [d["field"] for d in bad.get_json()["error"]["details"]] == ["amount"]


def test_a_paused_wallet_is_never_offered(client, shop, operator):
    m, ps = shop
    a, b, c = (factories.wallet(m, ps) for _ in range(3))
    assert set(offered_to_many(m, NOON_6)) == {a.number, b.number, c.number}
    limit(b, operator, paused=True)
    seen = offered_to_many(m, NOON_6)
    assert set(seen) == {a.number, c.number} and sum(seen.values()) == len(LABELS)
    assert b.number not in config_numbers(client, m)
    assert b.number not in config_numbers(client, m, amount="600.00")
    # Paused for silence too; and with every wallet paused bKash is not offered.
    Wallet.update(paused=True, paused_reason="silent").where(Wallet.id == a.id).execute()
    assert offered_to_many(m, NOON_6) == Counter({c.number: len(LABELS)})
    limit(c, operator, paused=True)
    assert offered_to_many(m, NOON_6) == Counter({None: len(LABELS)})
    assert config(client, m).get_json()["payment_systems"] == []


def test_the_wallet_with_most_headroom_is_preferred(shop):
    m, ps = shop
    small = limit(factories.wallet(m, ps), daily_limit="1000.00")
    big = limit(factories.wallet(m, ps), daily_limit="5000.00")
    monthly = limit(factories.wallet(m, ps), monthly_limit="10000.00")
    report(small, "H-1", "200.00", at=NOON_6)  # 800 left
    report(big, "H-2", "4000.00", at=NOON_6)  # 1000 left
    report(monthly, "H-3", "9500.00", at=UTC(2026, 12, 2, 6, 0))  # 500 left this month
    at = NOON_6 + datetime.timedelta(hours=1)
    assert offered_to_many(m, at) == Counter({big.number: len(LABELS)})
    report(big, "H-4", "300.00", at=NOON_6)  # 700 left: the small one has more now
    assert offered_to_many(m, at) == Counter({small.number: len(LABELS)})
    # The next day the daily ones start again; the monthly one keeps its month.
    assert offered_to_many(m, UTC(2026, 12, 7, 6, 0)) == Counter({big.number: len(LABELS)})
    # Equal headroom: the visitors are spread over them, each keeping its wallet.
    Wallet.update(daily_limit=D("1000.00")).where(Wallet.id == big.id).execute()
    seen = offered_to_many(m, UTC(2026, 12, 7, 6, 0))
    assert set(seen) == {small.number, big.number}
    assert offered(m, UTC(2026, 12, 7, 6, 0), "visitor-7") == offered(m, UTC(2026, 12, 7, 7, 0), "visitor-7")


def test_a_wallet_without_limits_is_preferred_over_limited_ones(shop):
    m, ps = shop
    limited = [limit(factories.wallet(m, ps), daily_limit="1000000.00", monthly_limit="9000000.00")
               for _ in range(2)]
    free = factories.wallet(m, ps)
    assert offered_to_many(m, NOON_6) == Counter({free.number: len(LABELS)})
    second = limit(factories.wallet(m, ps), max_per_transaction="20000.00")  # no daily/monthly limit
    seen = offered_to_many(m, NOON_6)
    assert set(seen) == {free.number, second.number}
    assert not set(seen) & {w.number for w in limited}
    # An amount over the second one's maximum leaves the first alone.
    assert offered_to_many(m, NOON_6, amount=D("25000.00")) == Counter({free.number: len(LABELS)})


# --- the running totals -------------------------------------------------------------------------

def test_reports_of_one_local_day_add_up_across_utcs_midnight(shop):
    m, ps = shop
    w = factories.wallet(m, ps)
    report(w, "T-1", "100.00", at=UTC(2026, 12, 6, 18, 30))  # 7 Dec 00:30 in Dhaka
    report(w, "T-2", "250.50", at=UTC(2026, 12, 7, 17, 0))  # 7 Dec 23:00 in Dhaka, another UTC day
    row = fresh(w)
    assert (row.day_start, row.day_total) == (datetime.date(2026, 12, 7), D("350.50"))
    assert (row.month_start, row.month_total) == (datetime.date(2026, 12, 1), D("350.50"))
    assert row.last_report_at == UTC(2026, 12, 7, 17, 0)
    use = wallets.usage(row, datetime.date(2026, 12, 7))
    assert (use.today, use.month, use.headroom) == (D("350.50"), D("350.50"), None)


def test_a_new_day_restarts_the_day_and_keeps_the_month_and_a_late_report_counts_in_its_own_day(shop):
    m, ps = shop
    w = limit(factories.wallet(m, ps), daily_limit="1000.00", monthly_limit="50000.00")
    report(w, "N-1", "700.00", at=UTC(2026, 12, 7, 6, 0))  # 7 Dec
    report(w, "N-2", "300.00", at=UTC(2026, 12, 7, 18, 10))  # 8 Dec 00:10 in Dhaka
    row = fresh(w)
    assert (row.day_start, row.day_total) == (datetime.date(2026, 12, 8), D("300.00"))
    assert row.month_total == D("1000.00")
    # A report arriving on the 8th of a payment made on the 7th: its month, not today.
    late = UTC(2026, 12, 7, 12, 0)  # 18:00 on 7 Dec in Dhaka
    received = UTC(2026, 12, 8, 3, 0)  # 09:00 on 8 Dec there
    report(w, "N-3", "650.00", at=late, now=received)
    row = fresh(w)
    assert (row.day_start, row.day_total) == (datetime.date(2026, 12, 8), D("300.00"))
    assert row.month_total == D("1650.00")
    assert row.last_report_at == received
    use = wallets.usage(row, datetime.date(2026, 12, 8))
    assert (use.today, use.month, use.headroom) == (D("300.00"), D("1650.00"), D("700.00"))
    assert offered(m, received) == w.number  # 700 left today, whatever came late for yesterday
    # Read on a later day the day total is 0 (nothing resets it at midnight).
    assert wallets.usage(row, datetime.date(2026, 12, 9)).today == D("0.00")
    assert wallets.usage(row, datetime.date(2027, 1, 2)).month == D("0.00")


def test_a_report_stamped_in_the_future_does_not_hide_todays_money(shop):
    """A connector whose clock (or zone) is off reports a payment "occurred" hours
    ahead, on the merchant's next day. Today's payments reported after it must still
    count in today's total: a payment cannot have occurred after it was reported."""
    m, ps = shop
    w = limit(factories.wallet(m, ps), daily_limit="1000.00")
    received = UTC(2026, 12, 6, 12, 0)  # 18:00 in Dhaka, 6 Dec
    report(w, "F-1", "100.00", at=UTC(2026, 12, 6, 19, 0), now=received)  # "01:00 on 7 Dec"
    report(w, "F-2", "950.00", at=received + datetime.timedelta(minutes=5))
    assert wallets.usage(fresh(w), datetime.date(2026, 12, 6)).today >= D("950.00")
    assert offered(m, received + datetime.timedelta(minutes=10)) is None  # 1,050 received today


def test_outgoing_reports_do_not_count_but_are_reports(shop):
    m, ps = shop
    w = limit(factories.wallet(m, ps), daily_limit="1000.00")
    report(w, "O-1", "900.00", at=NOON_6)
    report(w, "O-2", "5000.00", at=NOON_6 + datetime.timedelta(minutes=5), direction="outgoing")
    row = fresh(w)
    assert (row.day_total, row.month_total) == (D("900.00"), D("900.00"))
    assert row.last_report_at == NOON_6 + datetime.timedelta(minutes=5)
    assert offered(m, NOON_6 + datetime.timedelta(minutes=6)) == w.number
    # The same report again (idempotent ingest) adds nothing.
    assert not report(w, "O-1", "900.00", at=NOON_6).created
    assert fresh(w).day_total == D("900.00")


def test_concurrent_reports_to_one_wallet_add_up_exactly(app, shop):
    m, ps = shop
    w = factories.wallet(m, ps)
    at = utcnow()
    amounts = [D("100.00") + D(i) / 100 for i in range(24)]

    created = run_threads(app, len(amounts), lambda i: report(w, f"CC-{i}", amounts[i], at=at).created)

    assert created == [True] * len(amounts)
    row = fresh(w)
    assert row.day_total == row.month_total == sum(amounts)
    assert row.day_start == wallets.local_day("Asia/Dhaka", at)


# --- health: the plugin's stamp, silence, the automatic pause ----------------------------------

def test_the_plugin_stamps_what_it_shows_at_most_once_a_minute(client, shop):
    m, ps = shop
    shown, other = factories.wallet(m, ps), factories.wallet(m, ps)
    Wallet.update(paused=True, paused_reason="manual").where(Wallet.id == other.id).execute()
    assert config(client, m, label="v").status_code == 200
    row = fresh(shown)
    assert row.last_offered_at is not None and row.offered_since == row.last_offered_at
    assert fresh(other).last_offered_at is None
    t0 = UTC(2026, 12, 6, 6, 0)
    Wallet.update(last_offered_at=None, offered_since=None).execute()
    plugin_options(m, "v", now=t0)
    assert (fresh(shown).last_offered_at, fresh(shown).offered_since) == (t0, t0)
    plugin_options(m, "v", now=t0 + datetime.timedelta(seconds=30))
    assert fresh(shown).last_offered_at == t0  # stamped a minute ago at most: no UPDATE
    plugin_options(m, "v", now=t0 + datetime.timedelta(seconds=61))
    assert fresh(shown).last_offered_at == t0 + datetime.timedelta(seconds=61)
    assert fresh(shown).offered_since == t0  # the first unanswered showing
    assert fresh(other).last_offered_at is None


def test_a_wallet_shown_without_reports_past_the_window_is_silent(app, shop):
    m, ps = shop
    app.config["WALLET_SILENT_MINUTES"] = 20
    window = wallets.silent_window(app.config)
    assert window == datetime.timedelta(minutes=20)
    assert wallets.silent_window({}) == datetime.timedelta(minutes=30)
    w = factories.wallet(m, ps)
    t0 = UTC(2026, 12, 6, 6, 0)

    def state(minutes):
        return wallets.health(fresh(w), m.timezone, t0 + datetime.timedelta(minutes=minutes), window)

    for minute in (0, 5, 10, 15):
        plugin_options(m, "v", now=t0 + datetime.timedelta(minutes=minute))
    assert state(19).state == "ok" and not state(19).silent
    plugin_options(m, "v", now=t0 + datetime.timedelta(minutes=21))
    assert state(21).state == "silent" and state(21).needs_attention
    assert wallets.is_silent(fresh(w), t0 + datetime.timedelta(minutes=21), window)
    # Nobody shown it for a whole window: nobody pays into it, not silent.
    assert state(42).state == "ok"
    # A report answers the showings: silence starts again from the next showing.
    report(w, "S-1", "700.00", at=t0 + datetime.timedelta(minutes=22))
    assert fresh(w).offered_since is None and state(22).state == "ok"
    plugin_options(m, "v", now=t0 + datetime.timedelta(minutes=25))
    plugin_options(m, "v", now=t0 + datetime.timedelta(minutes=44))
    assert state(44).state == "ok"
    plugin_options(m, "v", now=t0 + datetime.timedelta(minutes=46))
    assert state(46).state == "silent"


def silent_since(wallet, since, last):
    Wallet.update(offered_since=since, last_offered_at=last).where(Wallet.id == wallet.id).execute()


def test_pause_silent_pauses_only_the_wallets_whose_operator_chose_it_and_a_report_lifts_it(shop, operator):
    m, ps = shop
    window = datetime.timedelta(minutes=30)
    now = UTC(2026, 12, 6, 6, 0)
    auto = limit(factories.wallet(m, ps), operator, auto_pause=True)
    watched = factories.wallet(m, ps)  # silent, but the operator did not choose the pause
    quiet = limit(factories.wallet(m, ps), operator, auto_pause=True)  # not silent
    for w in (auto, watched):
        silent_since(w, now - datetime.timedelta(minutes=45), now - datetime.timedelta(minutes=1))
    silent_since(quiet, now - datetime.timedelta(minutes=10), now - datetime.timedelta(minutes=1))

    assert wallets.pause_silent(window, now) == 1

    assert (fresh(auto).paused, fresh(auto).paused_reason) == (True, "silent")
    assert not fresh(watched).paused and not fresh(quiet).paused
    (entry,) = AuditLog.select().where(AuditLog.action == "wallet.paused_silent")
    assert entry.object_id == str(auto.id) and entry.user_id is None and entry.merchant_id == m.id
    assert entry.summary == {"wallet": auto.number, "silent_minutes": 30}
    assert wallets.health(fresh(auto), m.timezone, now, window).state == "paused_silent"
    assert wallets.health(fresh(watched), m.timezone, now, window).state == "silent"
    assert auto.number not in offered_to_many(m, now)
    assert wallets.pause_silent(window, now) == 0  # once
    # The next report lifts the automatic pause and ends the silence.
    report(auto, "P-1", "600.00", at=now + datetime.timedelta(minutes=2))
    row = fresh(auto)
    assert (row.paused, row.paused_reason, row.offered_since) == (False, None, None)
    assert wallets.health(row, m.timezone, now + datetime.timedelta(minutes=3), window).state == "ok"
    assert auto.number in offered_to_many(m, now + datetime.timedelta(minutes=3))


def test_a_report_does_not_lift_an_operators_pause(shop, operator):
    m, ps = shop
    w = limit(factories.wallet(m, ps), operator, paused=True, auto_pause=True)
    assert (w.paused, w.paused_reason) == (True, "manual")
    report(w, "MP-1", "600.00", at=NOON_6)
    row = fresh(w)
    assert (row.paused, row.paused_reason) == (True, "manual")
    assert row.day_total == D("600.00")  # counted all the same
    assert offered(m, NOON_6) is None
    limit(w, operator, paused=False)
    assert (fresh(w).paused, fresh(w).paused_reason) == (False, None)
    assert offered(m, NOON_6) == w.number


def test_the_bulk_pause_of_a_wallet_paused_for_silence_makes_the_pause_the_operators(app, client, conn):
    """The operator sees "paused for silence" and chooses the bulk action "Pause" ("The
    plugin stops offering them"): from then on it is their pause, which no report lifts.
    (The edit form leaving the box ticked keeps the automatic pause: that is the Wallets
    screen's own test.) No app context is held across the requests (``conn``, not ``ctx``)."""
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Dhaka shop", timezone="Asia/Dhaka")
    factories.merchant_payment_system(m, ps)
    operator = factories.user("operator")
    now = utcnow()
    with app.app_context():
        w = limit(factories.wallet(m, ps), operator, auto_pause=True)
        silent_since(w, now - datetime.timedelta(minutes=45), now - datetime.timedelta(minutes=1))
        assert wallets.pause_silent(datetime.timedelta(minutes=30), now) == 1
    login(client, operator)
    response = post_form(client, "/admin/wallets/", "/admin/wallets/action/", {"action": "pause",
                                                                                "rowid": [str(w.id)]})
    assert response.status_code == 302
    assert (fresh(w).paused, fresh(w).paused_reason) == (True, "manual")
    with app.app_context():
        report(w, "MS-1", "600.00", at=now + datetime.timedelta(minutes=1))
    assert fresh(w).paused is True


def test_attention_counts_silent_paused_for_silence_and_at_limit_in_the_merchants_zone(shop, operator):
    m, ps = shop
    london = factories.merchant(name="UTC shop", timezone="UTC")
    factories.merchant_payment_system(london, ps)
    window = datetime.timedelta(minutes=30)
    evening = UTC(2026, 12, 6, 17, 0)  # 23:00 in Dhaka, 17:00 in UTC: the same day, 6 Dec, for both
    silent = factories.wallet(m, ps)
    silent_since(silent, evening - datetime.timedelta(minutes=40), evening - datetime.timedelta(minutes=2))
    paused_silent = factories.wallet(m, ps)
    Wallet.update(paused=True, paused_reason="silent").where(Wallet.id == paused_silent.id).execute()
    at_limit = limit(factories.wallet(m, ps), operator, daily_limit="500.00")
    report(at_limit, "AT-1", "500.00", at=evening)
    month_full = limit(factories.wallet(m, ps), operator, monthly_limit="800.00")
    report(month_full, "AT-2", "800.00", at=UTC(2026, 12, 1, 6, 0))
    fine = limit(factories.wallet(m, ps), operator, daily_limit="5000.00")
    report(fine, "AT-3", "500.00", at=evening)
    manual = limit(factories.wallet(m, ps), operator, daily_limit="100.00")
    report(manual, "AT-4", "100.00", at=evening)
    limit(manual, operator, paused=True)  # paused by an operator: nothing to attend to
    inactive = factories.wallet(m, ps)
    Wallet.update(active=False, paused=True, paused_reason="silent").where(Wallet.id == inactive.id).execute()
    utc_limit = limit(factories.wallet(london, ps), operator, daily_limit="500.00")
    report(utc_limit, "AT-5", "500.00", at=evening)

    assert wallets.attention_count(evening, window, merchant_id=m.id) == 4
    assert wallets.attention_count(evening, window, merchant_id=london.id) == 1
    assert wallets.attention_count(evening, window) == 5
    states = {w.id: wallets.health(fresh(w), m.timezone, evening, window) for w in
              (silent, paused_silent, at_limit, month_full, fine, manual)}
    assert [states[w.id].state for w in (silent, paused_silent, at_limit, month_full, fine, manual)] == [
        "silent", "paused_silent", "at_limit", "at_limit", "ok", "paused"]
    assert [states[w.id].needs_attention for w in (silent, paused_silent, at_limit, month_full, fine, manual)] == [
        True, True, True, True, False, False]
    # 00:30 in Dhaka on the 7th (18:30 UTC, still the 6th there): the Dhaka day limit is
    # spent no more; the UTC shop's still is; the silent one was not shown for a window.
    later = UTC(2026, 12, 6, 18, 30)
    assert wallets.attention_count(later, window, merchant_id=m.id) == 2  # paused for silence, the month
    assert wallets.attention_count(later, window, merchant_id=london.id) == 1
    assert wallets.health(fresh(at_limit), m.timezone, later, window).state == "ok"
    assert wallets.health(fresh(utc_limit), london.timezone, later, window).state == "at_limit"


# --- the operators' changes -------------------------------------------------------------------

def test_update_sets_limits_on_many_wallets_with_an_audit_entry_each(shop, operator):
    m, ps = shop
    ws = [factories.wallet(m, ps) for _ in range(3)]
    values = {"daily_limit": D("1000.00"), "monthly_limit": D("20000.00"), "max_per_transaction": D("500.00")}
    assert wallets.update([w.id for w in ws], values, operator, ip="10.0.0.9") == 3
    for w in ws:
        row = fresh(w)
        assert (row.daily_limit, row.monthly_limit, row.max_per_transaction) == (
            D("1000.00"), D("20000.00"), D("500.00"))
    entries = list(AuditLog.select().where(AuditLog.action == "wallet.update").order_by(AuditLog.id))
    assert [e.object_id for e in entries] == [str(w.id) for w in ws]
    assert all(e.user_id == operator.id and e.ip == "10.0.0.9" and e.merchant_id == m.id for e in entries)
    assert entries[0].summary == {"daily_limit": {"before": None, "after": "1000.00"},
                                  "monthly_limit": {"before": None, "after": "20000.00"},
                                  "max_per_transaction": {"before": None, "after": "500.00"},
                                  "wallet": ws[0].number}
    # The same values again change nothing and write nothing.
    assert wallets.update([w.id for w in ws], values, operator) == 0
    assert AuditLog.select().where(AuditLog.action == "wallet.update").count() == 3
    # Removing a limit; pausing in bulk is the operator's pause.
    assert wallets.update([ws[0].id], {"max_per_transaction": None}, operator) == 1
    assert fresh(ws[0]).max_per_transaction is None
    assert wallets.update([w.id for w in ws], {"paused": True, "auto_pause": True}, operator) == 3
    assert {(fresh(w).paused, fresh(w).paused_reason, fresh(w).auto_pause) for w in ws} == {(True, "manual", True)}


@pytest.mark.parametrize("values, field", [
    ({"daily_limit": D("2000.00"), "monthly_limit": D("1000.00")}, "daily_limit"),
    ({"monthly_limit": D("400.00")}, "daily_limit"),  # under the daily limit the wallets have
    ({"daily_limit": D("0.00")}, "daily_limit"),
    ({"monthly_limit": D("-5.00")}, "monthly_limit"),
    ({"max_per_transaction": D("0")}, "max_per_transaction"),
    ({"max_per_transaction": 100}, "max_per_transaction"),  # not an amount
    ({"number": "01999999999"}, "number"),  # not changeable here
])
def test_update_refuses_bad_limits_naming_the_field_and_changes_nothing(shop, operator, values, field):
    m, ps = shop
    ws = [factories.wallet(m, ps) for _ in range(3)]
    wallets.update([w.id for w in ws], {"daily_limit": D("500.00")}, operator)
    before = [fresh(w).__data__ for w in ws]
    audits = AuditLog.select().count()
    with pytest.raises(wallets.WalletChangeError) as err:
        wallets.update([w.id for w in ws], dict(values, paused=True), operator)
    assert err.value.field == field
    assert [fresh(w).__data__ for w in ws] == before
    assert AuditLog.select().count() == audits


def test_a_bulk_change_refused_for_one_wallet_changes_none(shop, operator):
    m, ps = shop
    ws = [factories.wallet(m, ps) for _ in range(3)]
    wallets.update([ws[2].id], {"daily_limit": D("900.00")}, operator)  # the last one, in id order
    audits = AuditLog.select().count()
    with pytest.raises(wallets.WalletChangeError) as err:
        wallets.update([w.id for w in ws], {"monthly_limit": D("600.00"), "paused": True}, operator)
    assert err.value.field == "daily_limit" and "monthly" in err.value.message.lower()
    assert [(fresh(w).monthly_limit, fresh(w).paused) for w in ws] == [(None, False)] * 3
    assert AuditLog.select().count() == audits


def test_local_day_is_the_merchants(ctx):
    assert wallets.local_day("Asia/Dhaka", LOCAL_2359_6) == datetime.date(2026, 12, 6)
    assert wallets.local_day("Asia/Dhaka", LOCAL_0001_7) == datetime.date(2026, 12, 7)
    assert wallets.local_day("UTC", LOCAL_0001_7) == datetime.date(2026, 12, 6)
    assert wallets.local_day("America/New_York", UTC(2026, 12, 7, 3, 0)) == datetime.date(2026, 12, 6)
