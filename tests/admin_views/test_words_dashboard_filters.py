"""A bad dashboard filter is shown beside its field and the rest of the page stays
(issue 22, point 4): a reversed date range used to blank the whole dashboard, balance
included. Now the balance stays (it depends on the merchant only), the attempts by
reason stay unless the merchant or the period is bad, the statistics wait for every
filter and say so; each bad field carries its message (``aria-describedby``). In a real
browser at 1366×768: the balance is visible and the error sits right under the date."""
import datetime
import html
import re
from decimal import Decimal

import pytest
from browser_support import backoffice_url, browser  # noqa: F401 - fixtures
from browser_support import PageWatch, sign_in
from helpers import login

import factories
from backoffice.models import ExchangeRate
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest
from factories import PASSWORD

REVERSED = "date_from=2026-03-10&date_to=2026-03-01"


@pytest.fixture
def world(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    a = factories.merchant(name="A", timezone="Asia/Dhaka")
    ExchangeRate.create(currency="BDT", rate_to_usd=Decimal("0.01"), effective_date=datetime.date(2020, 1, 1))
    with app.app_context():
        factories.merchant_payment_system(a, ps, min_deposit="500.00")
        w = factories.wallet(a, ps)
        ingest(Report("bkash", w.number, "A1", Decimal("600.00"), "BDT"))
        activate(a, "bkash", "A1", "visitor")
    return dict(a=a, owner=factories.user("merchant_owner", merchant=a), operator=factories.user("operator"))


def field_block(page, control_id):
    """The form column holding the control ``control_id`` (its label, input and message)."""
    match = re.search(r'<div class="col-auto"><label for="%s">.*?</div>(?=\s*<div class="col-auto|\s*</form>)'
                      % control_id, page, flags=re.S)
    assert match, control_id
    return match.group(0)


@pytest.mark.parametrize("query, field, control, message", [
    (REVERSED, "date_from", "f-from", "The start date must not be after the end date."),
    ("date_from=2026-13-01", "date_from", "f-from", "Give a date as YYYY-MM-DD."),
    ("date_to=yesterday", "date_to", "f-to", "Give a date as YYYY-MM-DD."),
    ("date_from=2020-01-01&date_to=2026-01-01", "date_from", "f-from", "The period can be at most 366 days."),
    ("group_by=week", "group_by", "f-group", "Choose creation, activation or stockpiling end."),
    ("currency=QQQ", "currency", "f-currency", "Unknown currency."),
    ("display_in=ZZZ", "display_in", "f-display", "Unknown currency."),
])
def test_a_bad_filter_is_beside_its_field_and_the_balance_stays(client, world, query, field, control, message):
    login(client, world["owner"])
    response = client.get("/admin/?" + query)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    block = field_block(page, control)
    assert f'id="f-{field}-error"' in block and message in html.unescape(block)
    assert 'is-invalid' in block and f'aria-describedby="f-{field}-error"' in block
    assert page.count("is-invalid") == 1  # only the bad field is marked
    # The balance does not depend on the filters: it stays.
    assert re.search(r'data-testid="balances">.*?585\.00\xa0BDT', page, flags=re.S)
    # The statistics wait for the filter (and say so); nothing is fetched.
    assert 'data-testid="statistics-wait"' in page and "data-stats-url" not in page
    assert 'id="dashboard-chart"' not in page
    # The attempts by reason depend on the merchant and the period only.
    assert ('id="attempts-by-reason"' in page) == (field not in ("date_from", "date_to"))
    # The JSON names every bad field.
    answer = client.get("/admin/dashboard/stats.json?" + query)
    assert answer.status_code == 400
    assert [d["field"] for d in answer.get_json()["error"]["details"]] == [field]


def test_several_bad_filters_each_say_so(client, world):
    login(client, world["owner"])
    page = client.get("/admin/?currency=QQQ&group_by=week&" + REVERSED).get_data(as_text=True)
    for field in ("currency", "group_by", "date_from"):
        assert f'id="f-{field}-error"' in page, field
    assert re.search(r'data-testid="balances">.*?585\.00\xa0BDT', page, flags=re.S)
    details = client.get("/admin/dashboard/stats.json?currency=QQQ&group_by=week&" + REVERSED).get_json()
    assert [d["field"] for d in details["error"]["details"]] == ["currency", "group_by", "date_from"]


def test_an_unknown_merchant_is_beside_the_merchant_and_only_its_parts_go(client, world):
    login(client, world["operator"])
    page = client.get("/admin/?merchant=999999").get_data(as_text=True)
    block = field_block(page, "f-merchant")
    assert 'id="f-merchant-error"' in block and "Unknown merchant." in block
    assert 'data-testid="balances"' not in page and 'id="attempts-by-reason"' not in page
    assert 'data-testid="statistics-wait"' in page
    good = client.get(f"/admin/?merchant={world['a'].id}&{REVERSED}").get_data(as_text=True)
    assert re.search(r'data-testid="balances">.*?585\.00\xa0BDT', good, flags=re.S)


def test_good_filters_show_everything(client, world):
    login(client, world["owner"])
    page = client.get("/admin/").get_data(as_text=True)
    assert "is-invalid" not in page and 'data-testid="statistics-wait"' not in page
    assert "data-stats-url" in page and 'id="dashboard-chart"' in page and 'id="attempts-by-reason"' in page


def test_in_a_browser_the_balance_stays_and_the_error_sits_under_the_date(browser, backoffice_url, world):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    watch = PageWatch(context)
    page = context.new_page()
    watch.watch(page)
    sign_in(page, backoffice_url, world["owner"], PASSWORD)
    page.goto(f"{backoffice_url}/admin/?{REVERSED}")
    page.wait_for_load_state("load")
    balance = page.locator("[data-testid=balances]")
    assert balance.is_visible() and "585.00\u00a0BDT" in balance.inner_text()
    error = page.locator("#f-date_from-error")
    assert error.is_visible() and error.inner_text() == "The start date must not be after the end date."
    field, message = page.locator("#f-from").bounding_box(), error.bounding_box()
    # Beside the field: right under it, in its column.
    assert 0 <= message["y"] - (field["y"] + field["height"]) < 30, (field, message)
    assert abs(message["x"] - field["x"]) < 5, (field, message)
    assert page.locator("#f-from").get_attribute("aria-describedby") == "f-date_from-error"
    assert page.locator("[data-testid=statistics-wait]").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
    watch.assert_clean()
