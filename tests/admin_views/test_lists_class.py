"""Lists that fit the screen (issue 22, point 1), walked as a class: every list of the
back office, as an operator and as a merchant's owner.

* every operator list that mixes merchants has a Merchant column and a Merchant filter
  (in the row of filters above it); merchant users' lists have neither;
* every live list has a Refresh button (Withdrawals among them);
* statuses are badges of the one formatter (``admin_views.badges``); numbers are
  right-aligned by the one CSS class (``bo-num``); dates are compact, in the viewer's
  zone, the full value in the cell's title (``i18n.format_datetime_compact``);
* the pager says how many rows there are: exact under the bound, the planner's
  estimate above it on PostgreSQL (``services.counting``);
* the column chooser: hidden columns stay hidden on the next visit, per user and list,
  stored server-side (``User.list_columns``).

The browser half (nothing scrolls sideways at 1366×768) is ``test_lists_fit_browser.py``."""
import datetime
import html
import json
import re

import pytest
from conftest import csrf_from
from helpers import login
from list_support import HAND_MADE_MIXED, OWNER_LISTS, build_world

from backoffice import roles
from backoffice.admin_views import badges
from backoffice.admin_views.base import MerchantFilter, ScopedModelView, merchant_scope_column
from backoffice.db import is_postgres
from backoffice.i18n import format_datetime_compact
from backoffice.models import Merchant, Transaction, User
from backoffice.services import counting


@pytest.fixture
def world(app, conn):
    return build_world(app)


def model_views(app):
    return [v for v in app.extensions["backoffice_admin"]._views if isinstance(v, ScopedModelView)]


def view_of(app, endpoint):
    return next(v for v in app.extensions["backoffice_admin"]._views if v.endpoint == endpoint)


def mixes_merchants(view):
    return view.model is not Merchant and merchant_scope_column(view.model) is not None


def page_of(client, url, **query):
    if "?" in url:  # the list's own arguments, and the test's
        url, own = url.split("?", 1)
        query = {**dict(pair.split("=", 1) for pair in own.split("&")), **query}
    response = client.get(url, query_string=query)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def table(page):
    match = re.search(r'<table class="table[^"]*model-list".*?</table>', page, re.S)
    return match.group(0) if match else ""


def merchant_cells(page):
    cells = {html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
             for cell in re.findall(r'<td class="col-merchant[^"]*">(.*?)</td>', page, re.S)}
    return cells - {""}  # an audit entry of no merchant's


def list_url(view):
    url = f"/admin/{view.endpoint}/"
    return url + "?flt0_state_is=all" if view.endpoint == "webhook_endpoints" else url


def merchant_filter_of(view):
    found = [flt for flt in view._filters or () if isinstance(flt, MerchantFilter)]
    return found[0] if found else None


# -- a Merchant column and filter on every operator list that mixes merchants ----------------------

def test_every_operator_list_that_mixes_merchants_shows_and_filters_the_merchant(app, client, world):
    login(client, world["operator"])
    walked = []
    for view in model_views(app):
        if not mixes_merchants(view) or not roles.allowed(view.endpoint, "view", "operator"):
            continue
        page = page_of(client, list_url(view))
        assert 'class="column-header col-merchant' in page, f"{view.endpoint}: no Merchant column"
        flt = merchant_filter_of(view)
        assert flt is not None and any(flt is basic for basic in view.column_filters_basic), \
            f"{view.endpoint}: no Merchant filter in the row above the list"
        key = view.filter_key(flt)
        assert f'data-filter="{key}"' in page and f">{world['b'].name}</option>" in page, view.endpoint
        if view.endpoint != "users":  # users: only the first merchant has some
            assert merchant_cells(page) == {world["a"].name, world["b"].name}, view.endpoint
        narrowed = page_of(client, list_url(view), **{f"flt5_{key}": world["b"].id})
        assert merchant_cells(narrowed) <= {world["b"].name}, view.endpoint
        assert "is not applied" not in narrowed, view.endpoint
        walked.append(view.endpoint)
    assert {"transactions", "attempts", "withdrawals", "postbacks", "pending_activations", "audit_log", "wallets",
            "webhook_endpoints", "users", "merchant_payment_systems"} <= set(walked), walked
    # The lists drawn by hand: a Merchant column and a merchant choice, each.
    for url in HAND_MADE_MIXED:
        page = page_of(client, f"/admin/{url}/")
        assert re.search(r"<th[^>]*>\s*Merchant\s*</th>", page), url
        assert 'name="merchant"' in page and f">{world['b'].name}</option>" in page, url
        assert world["a"].name in table_or_page(page) and world["b"].name in table_or_page(page), url


def table_or_page(page):
    match = re.search(r"<table.*?</table>", page, re.S)
    return match.group(0) if match else page


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_merchant_users_lists_have_no_merchant_column_nor_filter(app, client, world, who):
    login(client, world[who])
    for view in model_views(app):
        if not roles.allowed(view.endpoint, "view", world[who].role):
            continue
        page = page_of(client, list_url(view))
        assert "col-merchant" not in page, view.endpoint
        flt = merchant_filter_of(view)
        if flt is not None:
            key = view.filter_key(flt)
            assert f'data-filter="{key}"' not in page and f"_{key}" not in page, view.endpoint
            # Sent anyway, it is left out: their own list answers, without a message.
            again = page_of(client, list_url(view), **{f"flt0_{key}": world["b"].id})
            assert "is not applied" not in again and world["b"].name not in again, view.endpoint
    page = page_of(client, "/admin/appeals/")
    assert 'name="merchant"' not in page


# -- Refresh on every live list ------------------------------------------------------------------

LIVE = {"transactions", "attempts", "withdrawals", "postbacks", "pending_activations", "audit_log", "wallets",
        "webhook_endpoints"}


def test_every_live_list_has_a_refresh_button(app, client, world):
    login(client, world["operator"])
    live = {view.endpoint for view in model_views(app) if view.list_live}
    assert LIVE <= live, LIVE - live
    for view in model_views(app):
        page = page_of(client, list_url(view))
        assert ('data-testid="refresh"' in page) == view.list_live, view.endpoint
        if view.list_live:  # it shows the same list again (its filters kept)
            assert re.search(r'href="/admin/%s/[^"]*"[^>]*data-testid="refresh"' % view.endpoint, page), view.endpoint
    for url in ("appeals", "review", "review/decided"):
        assert 'data-testid="refresh"' in page_of(client, f"/admin/{url}/"), url
    owner = app.test_client()
    login(owner, world["owner"])
    assert 'data-testid="refresh"' in page_of(owner, "/admin/withdrawals/")


# -- statuses as badges, numbers right-aligned, dates compact -----------------------------------------

def test_statuses_are_badges_of_the_one_formatter(app, client, world):
    login(client, world["operator"])
    for view in model_views(app):
        rows = table(page_of(client, list_url(view)))
        for span in re.findall(r'<span class="badge[^"]*"', rows):
            assert "bo-badge bo-badge-" in span, (view.endpoint, span)
    expected = {
        "transactions": ("status", "postback_status", "type", "originality"),
        "withdrawals": ("status", "postback_status"),
        "postbacks": ("status",),
        "attempts": ("outcome",),
        "pending_activations": ("status",),
        "wallets": ("state",),
    }
    for endpoint, columns in expected.items():
        rows = table(page_of(client, list_url(view_of(app, endpoint))))
        for column in columns:
            cells = [cell for cell in re.findall(r'<td class="col-%s[^"]*">(.*?)</td>' % column, rows, re.S)
                     if cell.strip()]
            assert cells and all("bo-badge bo-badge-" in cell for cell in cells), (endpoint, column)
    # The tone says how it stands: an error is "bad", sent is "ok".
    rows = table(page_of(client, "/admin/postbacks/"))
    assert 'bo-badge-bad" data-status="error"' in rows
    for url in ("appeals", "review/decided"):
        assert "bo-badge bo-badge-" in page_of(client, f"/admin/{url}/"), url
    # Every tone has its CSS rule (contrast checked by the axe tests).
    css = open(app.static_folder + "/backoffice.css").read()
    tones = {tone for mapping in (badges.TRANSACTION_STATUS, badges.TRANSACTION_POSTBACK_STATUS,
                                  badges.WITHDRAWAL_STATUS, badges.POSTBACK_STATUS, badges.WALLET_STATE)
             for tone in mapping.values()}
    for tone in tones:
        assert f".bo-badge-{tone} {{" in css, tone


def test_numbers_are_right_aligned_by_one_class(app, client, world):
    from peewee import DecimalField, FloatField, IntegerField

    login(client, world["operator"])
    checked = 0
    for view in model_views(app):
        page = page_of(client, list_url(view))
        for name, _title in view.visible_columns():
            field = view.model._meta.fields.get(name)
            if isinstance(field, (IntegerField, DecimalField, FloatField)) or name in view.column_numeric:
                assert re.search(r'class="column-header col-%s bo-num' % name, page), (view.endpoint, name)
                checked += 1
    assert checked >= 10
    rows = table(page_of(client, "/admin/transactions/"))
    assert '<td class="col-amount bo-num">' in rows and '<td class="col-id bo-num">' in rows
    css = open(app.static_folder + "/backoffice.css").read()
    assert "table.model-list .bo-num { text-align: right;" in css


COMPACT = re.compile(r"^(?:[A-Z][a-z]{2} \d{1,2} \d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d)$")


def test_dates_are_compact_in_the_viewers_zone(app, client, world):
    login(client, world["owner"])  # Demo Shop: Asia/Dhaka, UTC+6
    tx = Transaction.select().where(Transaction.merchant == world["a"].id).order_by(Transaction.id).first()
    rows = table(page_of(client, "/admin/transactions/"))
    local = tx.created_at + datetime.timedelta(hours=6)
    cell = re.search(r'<time datetime="%s\+06:00" title="%s">([^<]+)</time>' % (
        local.strftime("%Y-%m-%dT%H:%M:%S"), local.strftime("%Y-%m-%d %H:%M:%S")), rows)
    assert cell and COMPACT.match(cell.group(1)), rows[:2000]
    # Every date of every list: compact, to the minute, the full value in its title.
    client = app.test_client()
    login(client, world["operator"])
    seen = 0
    for view in model_views(app):
        for title, text in re.findall(r'<time datetime="[^"]+" title="([^"]+)">([^<]*)</time>',
                                      table(page_of(client, list_url(view)))):
            assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", title) and COMPACT.match(text), (view.endpoint, text)
            seen += 1
    assert seen > 20


def test_the_compact_date_formatter(app):
    value = datetime.datetime(2026, 3, 1, 8, 30, 15)  # 14:30 in Dhaka
    now = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.timezone.utc)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        app.config["DEFAULT_TIMEZONE"] = "Asia/Dhaka"
        try:
            assert format_datetime_compact(value, now=now) == "Mar 1 14:30"
            assert format_datetime_compact(value, now=now.replace(year=2027)) == "2026-03-01 14:30"
            assert format_datetime_compact(None) == ""
        finally:
            app.config["DEFAULT_TIMEZONE"] = "UTC"
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        assert format_datetime_compact(value, now=now) == "1 мар. 08:30"


# -- the pager says how many rows ---------------------------------------------------------------

def row_count(page):
    match = re.search(r'data-testid="row-count" data-rows="(\d+)" data-exact="(yes|no)">\s*([^<]+?)\s*</p>', page)
    assert match, "the list does not say how many rows it has"
    return int(match.group(1)), match.group(2) == "yes", match.group(3)


def test_every_list_says_how_many_rows_it_has(app, client, world):
    login(client, world["operator"])
    for view in model_views(app):
        page = page_of(client, list_url(view))
        rows, exact, _text = row_count(page)
        assert exact, view.endpoint
        if view.endpoint != "webhook_endpoints":  # (all states asked for: its list shows the disabled by default)
            assert rows == view.model.select().count(), view.endpoint
        assert 'data-testid="row-count-tab"' in page, view.endpoint
    rows, exact, text = row_count(page_of(client, "/admin/transactions/"))
    assert rows == Transaction.select().count() == 8 and text == "8 rows"
    rows, _exact, text = row_count(page_of(client, "/admin/transactions/", flt0_label_equals="user-101"))
    assert rows == 2 and text == "2 rows"
    for url in ("appeals", "review"):
        assert row_count(page_of(client, f"/admin/{url}/"))[:2] == (2, True), url


def test_above_the_bound_postgresql_estimates_and_sqlite_counts(app, client, world, monkeypatch):
    monkeypatch.setattr(counting, "EXACT_UP_TO", 3)
    login(client, world["operator"])
    rows, exact, text = row_count(page_of(client, "/admin/transactions/"))
    if is_postgres():
        assert not exact and rows >= 4 and text.startswith("about ") and "(an estimate)" in text
    else:
        assert exact and rows == 8 and text == "8 rows"
    # Under the bound it is exact on both.
    rows, exact, _text = row_count(page_of(client, "/admin/transactions/", flt0_label_equals="user-101"))
    assert exact and rows == 2


def test_count_rows_is_bounded(world):
    query = Transaction.select().order_by(Transaction.id).limit(2).offset(1)  # order and page left out
    assert counting.count_rows(query, exact_up_to=100) == counting.RowCount(8, True)
    bounded = counting.count_rows(query, exact_up_to=4)
    assert bounded.exact == (not is_postgres()) and bounded.value >= 5


# -- the column chooser, remembered per user and list --------------------------------------------------

def headers(page):
    return re.findall(r'class="column-header col-([a-z_]+)', page)


def choose(client, columns, back="/admin/transactions/", reset=False):
    token = csrf_from(client.get("/admin/transactions/"))
    data = {"csrf_token": token, "back": back, "column": columns}
    if reset:
        data["reset"] = "1"
    return client.post("/admin/transactions/columns/", data=data)


def test_hidden_columns_stay_hidden_on_the_next_visit(app, client, world):
    owner = world["owner"]
    login(client, owner)
    shown = headers(page_of(client, "/admin/transactions/"))
    assert shown == ["id", "payment_system", "amount", "created_at", "label", "order_id", "transaction_number",
                     "status", "postback_status", "type", "originality"]
    page = page_of(client, "/admin/transactions/")
    chooser = re.search(r'data-testid="column-chooser".*?</details>', page, re.S).group(0)
    assert 'value="wallet_number"' in chooser and 'value="merchant"' not in chooser  # merchant: operators'
    assert re.search(r'value="label" id="col-label" checked', chooser)
    assert not re.search(r'value="wallet_number" id="col-wallet_number" checked', chooser)
    # Hide the label and the order id, show the wallet number.
    wanted = [c for c in shown if c not in ("label", "order_id")] + ["wallet_number", "merchant"]
    response = choose(client, wanted, back="/admin/transactions/?flt0_status_equals=activated&sort=2")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/transactions/?flt0_status_equals=activated&sort=2")
    stored = User.get_by_id(owner.id).list_columns["transactions"]
    assert "label" not in stored and "wallet_number" in stored and "merchant" not in stored
    assert headers(page_of(client, "/admin/transactions/")) == [
        "id", "payment_system", "wallet_number", "amount", "created_at", "transaction_number", "status",
        "postback_status", "type", "originality"]
    # The next visit (a new session): still hidden.
    again = app.test_client()
    login(again, owner)
    assert "label" not in headers(page_of(again, "/admin/transactions/"))
    # Only this user, only this list.
    other = app.test_client()
    login(other, world["staff"])
    assert "label" in headers(page_of(other, "/admin/transactions/"))
    assert "label" in headers(page_of(again, "/admin/attempts/"))
    # The CSV keeps every column.
    assert "Label" in again.get("/admin/transactions/export/csv/").get_data(as_text=True).splitlines()[0]
    # Choosing none is refused (nothing stored); a target off the list goes to the list.
    response = choose(client, [], back="https://evil.example/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/transactions/")
    assert "Choose at least one column to show." in page_of(client, "/admin/transactions/")
    assert User.get_by_id(owner.id).list_columns["transactions"] == stored
    # Back to the defaults.
    choose(client, [], reset=True)
    assert "transactions" not in User.get_by_id(owner.id).list_columns
    assert headers(page_of(client, "/admin/transactions/")) == shown


def test_every_list_offers_the_chooser(app, client, world):
    login(client, world["operator"])
    for view in model_views(app):
        page = page_of(client, list_url(view))
        if len(view.offered_columns()) > 1:
            assert 'data-testid="column-chooser"' in page, view.endpoint
            assert f'action="/admin/{view.endpoint}/columns/"' in page, view.endpoint


# -- the basic filters at once (point 2) --------------------------------------------------------

def test_the_basic_filters_are_visible_at_once_on_every_list(app, client, world):
    login(client, world["operator"])
    with_row = 0
    for view in model_views(app):
        page = page_of(client, list_url(view))
        basic = [view.filter_key(flt) for flt in view.column_filters_basic]
        if not basic:
            continue
        with_row += 1
        form = re.search(r'<form[^>]*data-testid="basic-filters".*?</form>', page, re.S)
        assert form, view.endpoint
        for key in basic:
            assert f'data-filter="{key}"' in form.group(0), (view.endpoint, key)
        groups = re.search(r'<div id="filter-groups-data" class="d-none">(.*?)</div>', page, re.S)
        advanced = json.loads(html.unescape(groups.group(1))) if groups else {}
        offered = {item["arg"] for items in advanced.values() for item in items}
        assert not offered & set(basic), (view.endpoint, offered & set(basic))
    assert with_row >= 9
    # The manual's basic filters of Transactions: label, transaction number, order ID, dates, status.
    form = re.search(r'data-testid="basic-filters".*?</form>', page_of(client, "/admin/transactions/"), re.S).group(0)
    for label in ("Label", "Transaction number", "Order ID", "Creation date from", "Creation date to", "Status",
                  "Wallet type", "Direction", "Merchant"):
        assert f">{label}</label>" in form, label
    assert form.count('type="datetime-local"') == 2


def test_the_basic_filters_work_without_a_script(client, world):
    login(client, world["operator"])
    # What the form sends: every field, the empty ones too (no script removes them).
    page = page_of(client, "/admin/transactions/", flt90_merchant_equals="", flt91_id_equals="",
                   flt93_label_equals="user-101", flt98_creation_date_from="", flt99_creation_date_to="")
    assert set(re.findall(r'class="col-transaction_number">\s*(\S+)\s*<', page)) == {"DJA6CDAK01R", "DJA6CDAK11R"}
    assert "is not applied" not in page
    assert 'value="user-101"' in page  # the field shows what it filters by
    # The "Add Filter" form keeps the row's filters; the row keeps the others.
    page = page_of(client, "/admin/transactions/", flt0_label_equals="user-101", flt1_originality_equals="normal")
    advanced = re.search(r'<form id="filter_form".*?</form>', page, re.S).group(0)
    assert 'name="flt0_label_equals" value="user-101"' in advanced
    row = re.search(r'data-testid="basic-filters".*?</form>', page, re.S).group(0)
    assert 'name="flt1_originality_equals" value="normal"' in row
    # A bad value keeps today's behaviour: a message naming the filter, the rest of the page.
    page = html.unescape(page_of(client, "/admin/transactions/", flt0_creation_date_from="yesterday"))
    assert "The filter “Creation date (from)” is not applied" in page and "model-list" in page
