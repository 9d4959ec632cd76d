"""The operators' Wallets screen (SPEC §12), through the real pages: each wallet's state
(services.wallets.health) and its totals against its limits; the "Needs attention" and
state filters; the form's limits checked by the service (an error names the field, and
nothing changes); the bulk pause / unpause / auto-pause actions and the bulk limits page,
each change audited; operators only."""
import csv
import datetime
import html
import io
import re
from decimal import Decimal

import pytest
from conftest import csrf_from
from helpers import login, post_form, statements

import factories
from backoffice.models import AuditLog, Wallet, utcnow
from backoffice.services import wallets as service

LIST = "/admin/wallets/"
ACTION = "/admin/wallets/action/"
LIMITS = "/admin/wallets/limits/"


def merchant_today(tz):
    return service.local_day(tz, utcnow())


def setw(wallet, **fields):
    Wallet.update(**fields).where(Wallet.id == wallet.id).execute()
    return Wallet.get_by_id(wallet.id)


@pytest.fixture
def shop(app, conn):
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    # Dhaka is 6 hours ahead of UTC: its day is not UTC's for a quarter of the day.
    a = factories.merchant(name="Alpha", timezone="Asia/Dhaka")
    b = factories.merchant(name="Bravo", timezone="UTC")
    today_a, today_b = merchant_today("Asia/Dhaka"), merchant_today("UTC")
    now = utcnow()
    w = {}
    w["ok"] = setw(factories.wallet(a, ps), daily_limit=Decimal("1000.00"), day_start=today_a,
                   day_total=Decimal("250.50"), monthly_limit=Decimal("20000.00"), month_start=today_a.replace(day=1),
                   month_total=Decimal("1250.50"), max_per_transaction=Decimal("500.00"),
                   last_report_at=now - datetime.timedelta(minutes=3))
    w["at_day_limit"] = setw(factories.wallet(a, ps), daily_limit=Decimal("1000.00"), day_start=today_a,
                             day_total=Decimal("1000.00"))
    w["at_month_limit"] = setw(factories.wallet(b, ps), monthly_limit=Decimal("5000.00"),
                               month_start=today_b.replace(day=1), month_total=Decimal("5200.00"))
    # Yesterday's total at the limit: today it is 0.
    w["yesterday"] = setw(factories.wallet(b, ps), daily_limit=Decimal("1000.00"),
                          day_start=today_b - datetime.timedelta(days=1), day_total=Decimal("1000.00"))
    w["silent"] = setw(factories.wallet(b, ps), offered_since=now - datetime.timedelta(minutes=45),
                       last_offered_at=now - datetime.timedelta(minutes=2))
    # Shown a moment ago for the first time: not silent (yet).
    w["just_shown"] = setw(factories.wallet(b, ps), offered_since=now - datetime.timedelta(minutes=5),
                           last_offered_at=now - datetime.timedelta(minutes=5))
    w["auto_paused"] = setw(factories.wallet(a, ps), paused=True, paused_reason="silent", auto_pause=True)
    w["paused"] = setw(factories.wallet(a, ps), paused=True, paused_reason="manual",
                       daily_limit=Decimal("100.00"), day_start=today_a, day_total=Decimal("100.00"))
    w["inactive"] = setw(factories.wallet(b, ps), active=False)
    return dict(ps=ps, a=a, b=b, w=w, operator=factories.user("operator"),
                owner=factories.user("merchant_owner", merchant=a), staff=factories.user("merchant_staff", merchant=a))


@pytest.fixture
def operator(client, shop):
    login(client, shop["operator"])
    return client


def text(response):
    return response.get_data(as_text=True)


def rows(page):
    """The list's rows by wallet id: the row's HTML."""
    out = {}
    for chunk in page.split("<tr")[1:]:
        match = re.search(r'name="rowid"[^>]*value="(\d+)"', chunk)
        if match:
            out[int(match.group(1))] = chunk.split("</tr>")[0]
    return out


def row_text(chunk):
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", chunk))).replace("\u00a0", " ")


def listed(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return rows(text(response))


def view(app):
    return next(v for v in app.extensions["backoffice_admin"]._views if v.endpoint == "wallets")


def wallet_updates():
    return list(AuditLog.select().where(AuditLog.action == "wallet.update").order_by(AuditLog.id))


# --- the list -----------------------------------------------------------------------------------

def show_every_column(client):
    """The column chooser (issue 22): by default the list leaves out the identifier and
    the maximum per transaction to fit a laptop screen; this operator shows them all."""
    from conftest import csrf_from

    page = text(client.get(LIST))
    columns = re.findall(r'name="column" value="([a-z_]+)"', page)
    assert "identifier" in columns and "max_per_transaction" in columns
    response = client.post(LIST + "columns/", data={"csrf_token": csrf_from(client.get(LIST)), "column": columns})
    assert response.status_code == 302


def test_the_list_shows_each_wallets_state_and_totals(operator, shop):
    w = shop["w"]
    show_every_column(operator)
    found = listed(operator, LIST)
    assert set(found) == {x.id for x in w.values()}
    states = {name: re.search(r'data-state="(\w+)"', found[x.id]).group(1) for name, x in w.items()}
    assert states == {"ok": "ok", "at_day_limit": "at_limit", "at_month_limit": "at_limit", "yesterday": "ok",
                      "silent": "silent", "just_shown": "ok", "auto_paused": "paused_silent", "paused": "paused",
                      "inactive": "inactive"}
    ok = row_text(found[w["ok"].id])
    assert "Alpha" in ok and "bKash" in ok and w["ok"].identifier in ok and w["ok"].number in ok
    assert "250.50 BDT / 1,000.00 BDT" in ok
    assert "1,250.50 BDT / 20,000.00 BDT" in ok
    assert "500.00 BDT" in ok and "OK" in ok
    assert "5,200.00 BDT / 5,000.00 BDT" in row_text(found[w["at_month_limit"].id])
    assert "0.00 BDT / 1,000.00 BDT" in row_text(found[w["yesterday"].id])  # yesterday's total is not today's
    assert "no limit" in row_text(found[w["silent"].id])
    assert "Paused for silence" in row_text(found[w["auto_paused"].id])
    assert "At limit" in row_text(found[w["at_day_limit"].id])
    # The amounts are right-aligned; the last report in the viewer's zone (the instance's: UTC).
    assert 'class="d-block text-right text-nowrap"' in found[w["ok"].id]
    # Lists show dates compact (issue 22): the full time, in the viewer's zone, in the cell's title.
    last = w["ok"].last_report_at.strftime("%Y-%m-%d %H:%M")
    assert f'title="{last}' in found[w["ok"].id]


def test_the_last_report_is_in_the_viewers_zone(client, shop):
    operator = shop["operator"]
    operator.timezone = "Asia/Dhaka"
    operator.save()
    login(client, operator)
    ok = listed(client, LIST)[shop["w"]["ok"].id]
    local = (shop["w"]["ok"].last_report_at + datetime.timedelta(hours=6)).strftime("%Y-%m-%d %H:%M")
    assert f'title="{local}' in ok  # the list's compact date carries the full one (issue 22)


def test_the_list_runs_a_fixed_number_of_queries(operator, shop):
    """Merchant and payment system come with the rows: health costs no query per row."""
    for _i in range(20):
        factories.wallet(shop["a"], shop["ps"])
    with statements() as counted:
        assert operator.get(LIST).status_code == 200
    # The rows in one query, and the pager's bounded count of them (issue 22) in one more.
    assert len([q for q in counted if 'FROM "wallet"' in q and not q.startswith("SELECT COUNT(")]) == 1, counted
    by_id = re.compile(r'FROM "(merchant|payment_system)" AS "t1" WHERE \("t1"."id" = ')
    assert not [q for q in counted if by_id.search(q)], counted


def test_needs_attention_lists_exactly_the_silent_the_auto_paused_and_those_at_a_limit(operator, shop, app):
    w = shop["w"]
    with app.test_request_context():
        url = view(app).attention_url()
    assert url.startswith(LIST + "?flt0_")
    assert set(listed(operator, url)) == {w["silent"].id, w["auto_paused"].id, w["at_day_limit"].id,
                                          w["at_month_limit"].id}
    # The dashboard counts the same wallets.
    with app.app_context():
        assert service.attention_count(utcnow(), service.silent_window(app.config)) == 4
    # "No": the others.
    assert set(listed(operator, url[:-1] + "0")) == {w["ok"].id, w["yesterday"].id, w["just_shown"].id,
                                                     w["paused"].id, w["inactive"].id}
    # The list page links to it.
    assert html.escape(url) in text(operator.get(LIST)) or url in text(operator.get(LIST))


@pytest.mark.parametrize("state,names", [
    ("ok", {"ok", "yesterday", "just_shown"}),
    ("at_limit", {"at_day_limit", "at_month_limit"}),
    ("silent", {"silent"}),
    ("paused_silent", {"auto_paused"}),
    ("paused", {"paused"}),
    ("inactive", {"inactive"}),
])
def test_the_state_filter_agrees_with_health(operator, shop, app, state, names):
    v = view(app)
    with app.test_request_context():
        from backoffice.admin_views.wallets import STATE_FILTER

        key = v.filter_key(STATE_FILTER)
    assert set(listed(operator, f"{LIST}?flt0_{key}={state}")) == {shop["w"][n].id for n in names}


def test_a_bad_state_filter_value_is_left_out(operator, shop, app):
    with app.test_request_context():
        from backoffice.admin_views.wallets import STATE_FILTER

        key = view(app).filter_key(STATE_FILTER)
    response = operator.get(f"{LIST}?flt0_{key}=bogus")
    assert response.status_code == 200 and len(rows(text(response))) == len(shop["w"])


def test_filters_by_merchant_and_paused(operator, shop, app):
    v = view(app)
    with app.test_request_context():
        keys = {str(flt.name): v.filter_key(flt) for flt in v._filters}
    w = shop["w"]
    alpha = listed(operator, f"{LIST}?flt0_{keys['Merchant']}={shop['a'].id}")
    assert set(alpha) == {w[n].id for n in ("ok", "at_day_limit", "auto_paused", "paused")}
    paused = listed(operator, f"{LIST}?flt0_{keys['Paused']}=1")
    assert set(paused) == {w["auto_paused"].id, w["paused"].id}


# --- bulk actions -------------------------------------------------------------------------------

def act(client, action, wallets):
    return post_form(client, LIST, ACTION, {"action": action, "rowid": [str(x.id) for x in wallets]})


def test_bulk_pause_unpause_and_auto_pause(operator, shop):
    w = shop["w"]
    response = act(operator, "pause", [w["ok"], w["silent"], w["paused"]])
    assert response.status_code == 302
    assert "2 wallets paused." in text(operator.get(LIST))
    for name in ("ok", "silent", "paused"):
        row = Wallet.get_by_id(w[name].id)
        assert row.paused and row.paused_reason == "manual", name
    audited = wallet_updates()
    assert [e.object_id for e in audited] == [str(w["ok"].id), str(w["silent"].id)]
    assert audited[0].summary == {"paused": {"before": False, "after": True}, "wallet": w["ok"].number}
    assert audited[0].user_id == shop["operator"].id
    # Un-pausing lifts an operator's pause and the automatic one alike.
    act(operator, "unpause", [w["ok"], w["auto_paused"]])
    for name in ("ok", "auto_paused"):
        row = Wallet.get_by_id(w[name].id)
        assert not row.paused and row.paused_reason is None, name
    assert len(wallet_updates()) == 4
    act(operator, "auto_pause_on", [w["ok"], w["silent"]])
    assert Wallet.get_by_id(w["ok"].id).auto_pause and Wallet.get_by_id(w["silent"].id).auto_pause
    act(operator, "auto_pause_off", [w["ok"], w["auto_paused"]])
    assert not Wallet.get_by_id(w["ok"].id).auto_pause and not Wallet.get_by_id(w["auto_paused"].id).auto_pause
    assert Wallet.get_by_id(w["silent"].id).auto_pause
    assert len(wallet_updates()) == 8


def test_bulk_limits_set_leave_and_clear(operator, shop):
    w = shop["w"]
    chosen = [w["ok"], w["at_day_limit"], w["silent"]]
    response = act(operator, "limits", chosen)
    assert response.status_code == 302 and "/admin/wallets/limits/?id=" in response.headers["Location"]
    page = operator.get(response.headers["Location"])
    body = text(page)
    assert page.status_code == 200 and all(f'<tr data-wallet="{x.id}">' in body for x in chosen)
    assert f'<tr data-wallet="{w["paused"].id}">' not in body
    data = {"id": [str(x.id) for x in chosen], "csrf_token": csrf_from(page),
            "max_per_transaction_mode": "keep", "max_per_transaction": "",
            "daily_limit_mode": "set", "daily_limit": "3000",
            "monthly_limit_mode": "clear", "monthly_limit": ""}
    response = operator.post(LIMITS, data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith(LIST)
    for x in chosen:
        row = Wallet.get_by_id(x.id)
        assert row.daily_limit == Decimal("3000.00") and row.monthly_limit is None
    assert Wallet.get_by_id(w["ok"].id).max_per_transaction == Decimal("500.00")  # left unchanged
    audited = {e.object_id: e.summary for e in wallet_updates()}
    assert audited[str(w["ok"].id)] == {"daily_limit": {"before": "1000.00", "after": "3000.00"},
                                        "monthly_limit": {"before": "20000.00", "after": None},
                                        "wallet": w["ok"].number}
    assert audited[str(w["silent"].id)] == {"daily_limit": {"before": None, "after": "3000.00"}, "wallet": w["silent"].number}
    # The day's total is no longer at the limit.
    assert Wallet.get_by_id(w["at_day_limit"].id).daily_limit == Decimal("3000.00")
    assert "Limits changed on 3 wallets." in text(operator.get(LIST))


@pytest.mark.parametrize("fields,field,message", [
    ({"daily_limit_mode": "set", "daily_limit": "-5"}, "daily_limit", "must not be negative"),
    ({"daily_limit_mode": "set", "daily_limit": "0"}, "daily_limit", "must be greater than zero"),
    ({"daily_limit_mode": "set", "daily_limit": ""}, "daily_limit", "Daily limit: enter an amount such as 1,250.50"),
    ({"max_per_transaction_mode": "set", "max_per_transaction": "12.345"}, "max_per_transaction", "2 decimal"),
    ({"daily_limit_mode": "keep", "daily_limit": "100"}, "daily_limit", "Set to"),
    ({}, "max_per_transaction", "at least one limit"),
    # The ok wallet's monthly limit is 20000: a daily one above it is refused for the whole set.
    ({"daily_limit_mode": "set", "daily_limit": "25000"}, "daily_limit", "cannot exceed the monthly limit"),
    ({"daily_limit_mode": "set", "daily_limit": "900", "monthly_limit_mode": "set", "monthly_limit": "800"},
     "daily_limit", "cannot exceed the monthly limit"),
])
def test_bulk_limits_refused_change_nothing(operator, shop, fields, field, message):
    w = shop["w"]
    chosen = [w["ok"], w["silent"]]
    before = [Wallet.get_by_id(x.id).__data__ for x in chosen]
    url = f"{LIMITS}?id={chosen[0].id}&id={chosen[1].id}"
    data = {"id": [str(x.id) for x in chosen], "max_per_transaction_mode": "keep", "daily_limit_mode": "keep",
            "monthly_limit_mode": "keep"}
    data.update(fields)
    response = post_form(operator, url, LIMITS, data)
    body = html.unescape(text(response))
    assert response.status_code == 200
    error = re.search(rf'data-field-error="{field}">([^<]*)<', body)
    assert error and message in error.group(1), body[-3000:]
    assert [Wallet.get_by_id(x.id).__data__ for x in chosen] == before
    assert wallet_updates() == []


def test_the_limits_page_without_wallets_goes_back_to_the_list(operator, shop):
    response = operator.get(LIMITS)
    assert response.status_code == 302 and response.headers["Location"].endswith(LIST)
    assert operator.get(f"{LIMITS}?id=abc&id=99999999").status_code == 302


# --- the form -----------------------------------------------------------------------------------

def edit_data(wallet, **changes):
    data = {"merchant": wallet.merchant_id, "payment_system": wallet.payment_system_id,
            "identifier": wallet.identifier, "number": wallet.number, "active": "y",
            "max_per_transaction": "", "daily_limit": "", "monthly_limit": ""}
    for name in ("max_per_transaction", "daily_limit", "monthly_limit"):
        if getattr(wallet, name) is not None:
            data[name] = str(getattr(wallet, name))
    if wallet.paused:
        data["paused"] = "y"
    if wallet.auto_pause:
        data["auto_pause"] = "y"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def field_error(body, name):
    """The error Flask-Admin's form shows under the field ``name``."""
    match = re.search(rf'id="{name}".*?<div class="invalid-feedback">(.*?)</div>', body, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else None


@pytest.mark.parametrize("changes,field,message", [
    ({"daily_limit": "-1"}, "daily_limit", "must not be negative"),
    ({"daily_limit": "0"}, "daily_limit", "greater than zero"),
    ({"max_per_transaction": "10.555"}, "max_per_transaction", "2 decimal"),
    ({"daily_limit": "30000"}, "daily_limit", "cannot exceed the monthly limit"),
    ({"daily_limit": "50", "monthly_limit": "40", "paused": "y"}, "daily_limit", "cannot exceed the monthly limit"),
])
def test_an_invalid_limit_in_the_form_names_the_field_and_changes_nothing(operator, shop, changes, field, message):
    wallet = shop["w"]["ok"]
    before = Wallet.get_by_id(wallet.id).__data__
    url = f"{LIST}edit/?id={wallet.id}"
    response = post_form(operator, url, url, edit_data(wallet, identifier="renamed", **changes))
    assert response.status_code == 200
    error = field_error(text(response), field)
    assert error and message in error, text(response)[-4000:]
    assert Wallet.get_by_id(wallet.id).__data__ == before
    assert AuditLog.select().count() == 0


def test_the_form_saves_limits_and_pause_through_the_service(operator, shop):
    wallet = shop["w"]["ok"]
    url = f"{LIST}edit/?id={wallet.id}"
    # A report of the wallet lands meanwhile: the form does not write the running totals back.
    Wallet.update(day_total=Decimal("300.00")).where(Wallet.id == wallet.id).execute()
    response = post_form(operator, url, url, edit_data(wallet, identifier="renamed", daily_limit="1500.00",
                                                       paused="y"))
    assert response.status_code == 302, text(response)[-3000:]
    row = Wallet.get_by_id(wallet.id)
    assert row.identifier == "renamed" and row.daily_limit == Decimal("1500.00")
    assert row.paused and row.paused_reason == "manual" and row.day_total == Decimal("300.00")
    entries = {e.action: e.summary for e in AuditLog.select()}
    assert entries["wallet.update"] == {"daily_limit": {"before": "1000.00", "after": "1500.00"},
                                        "paused": {"before": False, "after": True}, "wallet": row.number}
    assert entries["wallet.edit"]["after"] == {"identifier": "renamed"}
    # Un-ticking paused lifts the pause.
    post_form(operator, url, url, edit_data(row, paused=None))
    row = Wallet.get_by_id(wallet.id)
    assert not row.paused and row.paused_reason is None
    # An automatic pause left ticked stays the automatic one.
    auto = shop["w"]["auto_paused"]
    url = f"{LIST}edit/?id={auto.id}"
    post_form(operator, url, url, edit_data(auto, daily_limit="700"))
    row = Wallet.get_by_id(auto.id)
    assert row.paused and row.paused_reason == "silent" and row.daily_limit == Decimal("700.00")


def test_the_form_creates_a_wallet_with_its_limits(operator, shop):
    url = f"{LIST}new/"
    data = {"merchant": shop["b"].id, "payment_system": shop["ps"].id, "identifier": "fresh", "number": "01900000001",
            "active": "y", "max_per_transaction": "250", "daily_limit": "1000", "monthly_limit": "", "paused": "y"}
    response = post_form(operator, url, url, data)
    assert response.status_code == 302, text(response)[-3000:]
    row = Wallet.get(Wallet.identifier == "fresh")
    assert row.max_per_transaction == Decimal("250.00") and row.daily_limit == Decimal("1000.00")
    assert row.monthly_limit is None and row.paused and row.paused_reason == "manual"
    assert {e.action for e in AuditLog.select()} == {"wallet.create", "wallet.update"}
    # Refused: nothing is created (nor audited).
    response = post_form(operator, url, url, dict(data, identifier="bad", number="01900000002", daily_limit="0"))
    assert response.status_code == 200 and "greater than zero" in field_error(text(response), "daily_limit")
    assert not Wallet.select().where(Wallet.identifier == "bad").exists()
    assert AuditLog.select().count() == 2
    # A number the payment system has already: an error on the number.
    response = post_form(operator, url, url, dict(data, identifier="twin"))
    assert response.status_code == 200 and "has this number" in field_error(text(response), "number")
    assert not Wallet.select().where(Wallet.identifier == "twin").exists()


# --- who may -------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["owner", "staff"])
def test_merchant_users_cannot_open_the_screen(client, shop, who):
    login(client, shop[who])
    w = shop["w"]["ok"]
    for url in (LIST, f"{LIMITS}?id={w.id}", f"{LIST}edit/?id={w.id}", f"{LIST}details/?id={w.id}"):
        assert client.get(url).status_code == 403, url
    token = csrf_from(client.get("/admin/settings/"))
    for name in ("pause", "unpause", "auto_pause_on", "auto_pause_off", "limits"):
        response = client.post(ACTION, data={"csrf_token": token, "action": name, "rowid": [str(w.id)]})
        assert response.status_code == 403, name
    response = client.post(LIMITS, data={"csrf_token": token, "id": [str(w.id)], "daily_limit_mode": "clear"})
    assert response.status_code == 403
    assert Wallet.get_by_id(w.id).daily_limit == Decimal("1000.00") and not Wallet.get_by_id(w.id).paused
    assert 'href="/admin/wallets/"' not in text(client.get("/admin/"))


def test_details_and_export_show_the_state_in_words(operator, shop):
    w = shop["w"]
    details = html.unescape(text(operator.get(f"{LIST}details/?id={w['auto_paused'].id}")))
    assert "Paused for silence" in details and "silence (automatic)" in details
    export = operator.get(f"{LIST}export/csv/")
    assert export.status_code == 200
    body = export.get_data(as_text=True).replace("\u00a0", " ")
    header = body.splitlines()[0]
    assert "State" in header and "Incoming today" in header and "Last report (UTC)" in header
    line = next(row for row in body.splitlines() if w["at_day_limit"].number in row)
    # Amounts in the machine format (issue 22, point 3): today's total and, in its own column, the limit.
    assert "At limit" in line and ",1000.00," in line and "1,000.00" not in line and "<" not in line
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    row = next(r for r in rows if r["Wallet number"] == w["at_day_limit"].number)
    assert (row["Incoming today"], row["Daily limit"]) == ("1000.00", "1000.00")


def test_the_screen_speaks_russian(client, shop):
    operator = shop["operator"]
    operator.language = "ru"
    operator.save()
    login(client, operator)
    page = html.unescape(text(client.get(LIST)))
    assert client.get(LIST).status_code == 200 and 'data-state="silent"' in page
