"""The dashboard's empty, loading and error states, and its two tabs alike (issue 22,
point 7).

* stats.json gives every summary figure as people read it (``figures``): an empty one is
  zero with its currency (the currency filter, else the display currency), never a bare 0;
  the balance of a merchant with no money is zero in its payment systems' currency;
* the page starts busy (``aria-busy``) with a sentence where the chart goes;
* in a real browser at 1366×768: an empty period shows zero with its currency and a
  sentence on every tab, and no chart canvas; the Withdrawals tab has the deposits tab's
  toggles (amount | count, line | histogram, each series and the total) and legend, and
  the legend and the checkboxes agree; a slow stats.json shows the loading state, a failed
  one a sentence and "Try again" that loads it."""
import datetime
import re
from decimal import Decimal

import pytest
from browser_support import backoffice_url, browser, contexts  # noqa: F401 - fixtures
from browser_support import sign_in
from helpers import login

import factories
from backoffice.models import ExchangeRate, User, Withdrawal
from backoffice.services import withdrawals as withdrawal_service
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest
from factories import PASSWORD

EMPTY_PERIOD = "date_from=2020-01-01&date_to=2020-01-31"
FIGURE_NAMES = ("period", "today", "withdrawals_period")
NBSP = "\u00a0"


@pytest.fixture
def world(app, conn):
    """Merchant A: a deposit (600 BDT) and an approved withdrawal (50 BDT) today; merchant E:
    a payment system and nothing else."""
    ps = factories.payment_system("bkash", "BDT")
    a = factories.merchant(name="A", timezone="Asia/Dhaka")
    e = factories.merchant(name="E", timezone="Asia/Dhaka")
    ExchangeRate.create(currency="BDT", rate_to_usd=Decimal("0.01"), effective_date=datetime.date(2020, 1, 1))
    operator = factories.user("operator")
    with app.app_context():
        factories.merchant_payment_system(a, ps, min_deposit="500.00")
        factories.merchant_payment_system(e, ps, min_deposit="500.00")
        wallet = factories.wallet(a, ps)
        ingest(Report("bkash", wallet.number, "A1", Decimal("600.00"), "BDT"))
        activate(a, "bkash", "A1", "visitor")
        request = factories.withdrawal(a, ps, amount="50.00")
        withdrawal_service.approve(Withdrawal.get_by_id(request.id), User.get_by_id(operator.id), wallet, "TRX-1")
    return dict(a=a, e=e, owner=factories.user("merchant_owner", merchant=a),
                empty=factories.user("merchant_owner", merchant=e), operator=operator)


# --- stats.json and the page ---------------------------------------------------------------

@pytest.mark.parametrize("query, currency", [
    (EMPTY_PERIOD, "USD"),  # the display currency (the default)
    (EMPTY_PERIOD + "&display_in=BDT", "BDT"),
    (EMPTY_PERIOD + "&currency=BDT&details=1", "BDT"),  # the currency filter
    (EMPTY_PERIOD + "&details=1", "USD"),
])
def test_an_empty_figure_is_zero_with_its_currency(client, world, query, currency):
    login(client, world["owner"])
    data = client.get("/admin/dashboard/stats.json?" + query).get_json()
    assert data["summary"]["period"] == [] and data["summary"]["withdrawals_period"] == []  # the machine fields stay
    assert data["deposits"]["series"] == [] and data["withdrawals"]["series"] == []
    for name in ("period", "withdrawals_period"):  # today is not in the period (A has a deposit today)
        assert data["figures"][name] == [{"currency": currency, "amount": "0.00", "count": 0,
                                          "text": f"0.00{NBSP}{currency} · 0"}], name


def test_figures_with_numbers_say_them_in_the_viewers_language(client, world):
    login(client, world["owner"])
    data = client.get("/admin/dashboard/stats.json?details=1").get_json()
    assert data["figures"]["period"] == [{"currency": "BDT", "amount": "600.00", "count": 1,
                                          "text": f"600.00{NBSP}BDT · 1"}]
    assert data["figures"]["withdrawals_period"][0]["text"] == f"50.00{NBSP}BDT · 1"
    assert data["figures"]["today"] == data["figures"]["period"]


def test_every_empty_figure_today_too(client, world):
    login(client, world["empty"])
    data = client.get("/admin/dashboard/stats.json").get_json()
    assert {name: [row["text"] for row in data["figures"][name]] for name in FIGURE_NAMES} == {
        name: [f"0.00{NBSP}USD · 0"] for name in FIGURE_NAMES}


def test_the_balance_of_a_merchant_without_money_is_zero_with_its_currency(app, client, world):
    login(client, world["empty"])
    page = client.get("/admin/").get_data(as_text=True)
    balance = re.search(r'data-testid="balances">(.*?)</div>', page, flags=re.S).group(1)
    assert "0.00" in balance and "BDT" in balance  # its payment system's currency, not a bare 0
    bare = factories.merchant(name="Bare", default_display_currency="EUR")  # no payment system at all
    other = app.test_client()
    login(other, factories.user("merchant_owner", merchant=bare))
    page = other.get("/admin/").get_data(as_text=True)
    balance = re.search(r'data-testid="balances">(.*?)</div>', page, flags=re.S).group(1)
    assert "0.00" in balance and "EUR" in balance


def test_the_page_starts_busy_with_a_sentence_where_the_chart_goes(client, world):
    login(client, world["owner"])
    page = client.get("/admin/").get_data(as_text=True)
    assert re.search(r'id="dashboard-summary"[^>]*aria-busy="true"', page, flags=re.S)
    assert '<div id="dashboard-chart-area" aria-busy="true">' in page
    state = re.search(r'<div class="bo-chart-state" id="dashboard-state" role="status"[^>]*>(.*?)</div>', page,
                      flags=re.S).group(1)
    assert "Loading the statistics…" in state
    assert '<div class="bo-chart" hidden><canvas id="dashboard-chart"' in page  # no blank canvas meanwhile
    for name in ("empty-deposits", "empty-withdrawals", "caption-withdrawals", "error", "retry", "unavailable"):
        assert f'data-label-{name}="' in page, name


# --- in a browser ----------------------------------------------------------------------------

def open_dashboard(contexts, backoffice_url, user, query="", route=None):
    context, watch = contexts(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in(page, backoffice_url, user, PASSWORD)
    if route:
        page.route("**/admin/dashboard/stats.json*", route)
    page.goto(f"{backoffice_url}/admin/?{query}")
    return page, watch


def settled(page):
    page.wait_for_selector("#dashboard-chart-area[aria-busy=false]")
    assert page.get_attribute("#dashboard-summary", "aria-busy") == "false"


def chart_info(page):
    """What Chart.js drew: None when no chart; else its type, its datasets (label, hidden)
    and its legend's items."""
    return page.evaluate("""() => {
        const chart = Chart.getChart(document.getElementById("dashboard-chart"));
        if (!chart) return null;
        return {type: chart.config.type, legend: chart.options.plugins.legend.display !== false,
                items: chart.legend.legendItems.map(i => i.text),
                sets: chart.data.datasets.map((d, i) => ({label: d.label, hidden: !chart.isDatasetVisible(i)}))};
    }""")


def tab(page, name):
    page.click(f"[data-tab={name}]")


@pytest.mark.parametrize("who, query, currency", [
    ("owner", EMPTY_PERIOD, "USD"),
    ("owner", EMPTY_PERIOD + "&display_in=BDT", "BDT"),
    ("empty", "", "USD"),  # a merchant with nothing at all, the default period
])
def test_in_a_browser_an_empty_period_is_zero_with_its_currency_and_a_sentence(
        contexts, backoffice_url, world, who, query, currency):
    page, watch = open_dashboard(contexts, backoffice_url, world[who], query)
    settled(page)
    zero = f"0.00{NBSP}{currency} · 0"
    assert page.inner_text("[data-summary=period]") == zero
    if who == "empty":  # A has a deposit today
        assert page.inner_text("[data-summary=today]") == zero
    for name, caption, sentence in (("deposits", "Activated deposits in the period", "No deposits in this period."),
                                    ("withdrawals", "Approved withdrawals in the period",
                                     "No withdrawals in this period.")):
        tab(page, name)
        assert page.inner_text("#dashboard-caption") == f"{caption}: {zero}", name
        state = page.locator("#dashboard-state")
        assert state.is_visible() and state.get_attribute("data-state") == "empty", name
        assert state.inner_text().strip() == sentence
        assert state.get_attribute("role") == "status"
        assert not page.locator("#dashboard-chart").is_visible(), name  # no blank 0-1 chart
        assert chart_info(page) is None
        assert page.locator("#series-toggles input").count() == 0
    balance = page.inner_text("[data-testid=balances]")
    assert "BDT" in balance  # both merchants take Bkash (BDT)
    if who == "empty":
        assert balance.strip() == f"0.00{NBSP}BDT" or balance.strip() == "0.00 BDT"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    watch.assert_clean()


def test_in_a_browser_the_withdrawals_tab_has_the_deposits_tabs_toggles_and_legend(contexts, backoffice_url, world):
    page, watch = open_dashboard(contexts, backoffice_url, world["owner"], "details=1")
    settled(page)
    deposits = chart_info(page)
    assert deposits["type"] == "line" and deposits["legend"]
    assert [s["label"] for s in deposits["sets"]] == ["Bkash (BDT)", "Total (BDT)"]
    assert page.inner_text("#dashboard-caption") == f"Activated deposits in the period: 600.00{NBSP}BDT · 1"
    tab(page, "withdrawals")
    assert page.get_attribute("[data-tab=withdrawals]", "aria-selected") == "true"
    drawn = chart_info(page)
    assert drawn["legend"] and drawn["items"] == ["Bkash (BDT)", "Total (BDT)"]
    assert page.inner_text("#dashboard-caption") == f"Approved withdrawals in the period: 50.00{NBSP}BDT · 1"
    assert not page.locator("#dashboard-state").is_visible() and page.locator("#dashboard-chart").is_visible()
    # The same toggles as the deposits tab: one checkbox per series and the total.
    toggles = page.locator("#series-toggles input[type=checkbox]")
    assert toggles.count() == 2 and page.get_attribute("#series-toggles", "role") == "group"
    assert [page.inner_text(f"label[for={toggles.nth(i).get_attribute('id')}]") for i in range(2)] == [
        "Bkash (BDT)", "Total (BDT)"]
    # Amount | count and line | histogram.
    page.click("[data-measure=count]")
    assert chart_info(page)["sets"][0]["label"] == "Bkash (BDT)"
    assert page.evaluate("Chart.getChart(document.getElementById('dashboard-chart')).data.datasets[0].data"
                         ".reduce((a, b) => a + b, 0)") == 1
    page.click("[data-chart=bar]")
    assert chart_info(page)["type"] == "bar"
    # A checkbox hides its series (the legend shows it struck through); the legend shows it again.
    page.uncheck("#toggle-total-BDT")
    assert chart_info(page)["sets"][1]["hidden"] is True
    legend_click = page.evaluate("""async () => {
        await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));  // sized
        const chart = Chart.getChart(document.getElementById("dashboard-chart"));
        const box = chart.legend.legendHitBoxes[1];
        const canvas = chart.canvas.getBoundingClientRect();
        return {x: canvas.left + box.left + box.width / 2, y: canvas.top + box.top + box.height / 2};
    }""")
    page.mouse.click(legend_click["x"], legend_click["y"])
    page.wait_for_selector("#toggle-total-BDT:checked", state="attached")  # Chart.js handles it at the next frame
    assert chart_info(page)["sets"][1]["hidden"] is False and page.is_checked("#toggle-total-BDT")
    # Each tab keeps its own switches.
    page.uncheck("#toggle-bkash")
    tab(page, "deposits")
    assert chart_info(page)["sets"][0]["hidden"] is False and page.is_checked("#toggle-bkash")
    tab(page, "withdrawals")
    assert chart_info(page)["sets"][0]["hidden"] is True and not page.is_checked("#toggle-bkash")
    watch.assert_clean()


def test_in_a_browser_a_slow_statistics_answer_shows_the_loading_state(contexts, backoffice_url, world):
    held = []
    page, watch = open_dashboard(contexts, backoffice_url, world["owner"], route=lambda route: held.append(route))
    page.wait_for_timeout(300)
    assert held, "stats.json was asked for"
    state = page.locator("#dashboard-state")
    assert state.is_visible() and state.get_attribute("role") == "status"
    assert "Loading the statistics…" in state.inner_text()
    assert page.get_attribute("#dashboard-chart-area", "aria-busy") == "true"
    assert page.get_attribute("#dashboard-summary", "aria-busy") == "true"
    assert not page.locator("#dashboard-chart").is_visible()
    held[0].continue_()
    settled(page)
    assert page.locator("#dashboard-chart").is_visible() and not state.is_visible()
    watch.assert_clean()


def test_in_a_browser_a_failed_statistics_answer_says_so_and_tries_again(contexts, backoffice_url, world):
    answers = ["fail"]

    def route(r):
        if answers and answers.pop() == "fail":
            r.fulfill(status=500, body="no")
        else:
            r.continue_()

    page, watch = open_dashboard(contexts, backoffice_url, world["owner"], route=route)
    watch.expect(lambda e: e.startswith("HTTP 500: GET") and "stats.json" in e, "the test fails stats.json once")
    watch.expect(lambda e: "status of 500" in e and "stats.json" in e, "the browser logs the failed answer")
    settled(page)
    state = page.locator("#dashboard-state")
    assert state.get_attribute("data-state") == "error"
    assert "The statistics could not be loaded." in state.inner_text()
    for name in ("period", "today"):
        assert page.inner_text(f"[data-summary={name}]") == "not available"
    assert not page.locator("#dashboard-chart").is_visible()
    page.click("#dashboard-state >> text=Try again")
    page.wait_for_selector("#dashboard-state[data-state=chart]", state="attached")
    settled(page)
    assert page.inner_text("[data-summary=period]").endswith("· 1")
    assert chart_info(page)["sets"]
    watch.assert_clean()
