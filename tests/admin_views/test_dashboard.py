"""The dashboard page and /admin/dashboard/stats.json: scoped, validated, defaulted."""
import datetime

import pytest
from helpers import login

import factories
from backoffice.models import ExchangeRate, utcnow
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest
from decimal import Decimal


@pytest.fixture
def world(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    a, b = factories.merchant(name="A", timezone="Asia/Dhaka"), factories.merchant(name="B")
    ExchangeRate.create(currency="BDT", rate_to_usd=Decimal("0.01"), effective_date=datetime.date(2020, 1, 1))
    with app.app_context():
        for m, amount, number in ((a, "600.00", "A1"), (a, "700.00", "A2"), (b, "9000.00", "B1")):
            factories.merchant_payment_system(m, ps, min_deposit="500.00") if number.endswith("1") else None
            w = factories.wallet(m, ps)
            ingest(Report("bkash", w.number, number, Decimal(amount), "BDT"))
            activate(m, "bkash", number, "visitor")
    return dict(a=a, b=b, owner_a=factories.user("merchant_owner", merchant=a))


def test_merchant_sees_only_own_numbers_whatever_it_asks(client, world):
    login(client, world["owner_a"])
    data = client.get(f"/admin/dashboard/stats.json?details=1&merchant={world['b'].id}").get_json()
    assert data["merchant"] == world["a"].id
    assert data["summary"]["period"] == [{"currency": "BDT", "amount": "1300.00", "count": 2}]
    assert data["summary"]["today"] == [{"currency": "BDT", "amount": "1300.00", "count": 2}]
    assert data["timezone"] == "Asia/Dhaka" and len(data["days"]) == 30  # the default period
    converted = client.get("/admin/dashboard/stats.json").get_json()
    assert converted["summary"]["period"] == [{"currency": "USD", "amount": "13.00", "count": 2}]


def test_operator_picks_a_merchant_or_all(client, world):
    login(client, factories.user("operator"))
    everyone = client.get("/admin/dashboard/stats.json?details=1").get_json()
    assert everyone["summary"]["period"] == [{"currency": "BDT", "amount": "10300.00", "count": 3}]
    one = client.get(f"/admin/dashboard/stats.json?details=1&merchant={world['b'].id}").get_json()
    assert one["summary"]["period"][0]["amount"] == "9000.00"
    page = client.get("/admin/").get_data(as_text=True)
    assert "All merchants" in page and "dashboard-chart" in page


@pytest.mark.parametrize("query,field", [
    ("date_from=2026-13-01", "date_from"), ("date_from=2026-03-10&date_to=2026-03-01", "date_from"),
    ("date_from=2020-01-01&date_to=2026-01-01", "date_from"), ("group_by=week", "group_by"),
    ("currency=QQQ", "currency"), ("display_in=ZZZ", "display_in"),
])
def test_bad_filters_name_the_field(client, world, query, field):
    login(client, world["owner_a"])
    response = client.get("/admin/dashboard/stats.json?" + query)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == field
    page = client.get("/admin/?" + query)
    assert page.status_code == 200 and field in page.get_data(as_text=True)


def test_anonymous_gets_nothing(client, world):
    assert client.get("/admin/dashboard/stats.json").status_code == 302


def test_operator_merchant_filter_is_checked(client, world):
    login(client, factories.user("operator"))
    assert client.get("/admin/dashboard/stats.json?merchant=999999").status_code == 400


def test_period_ends_today_in_the_viewers_zone(client, world):
    login(client, world["owner_a"])
    data = client.get("/admin/dashboard/stats.json").get_json()
    from zoneinfo import ZoneInfo

    today = datetime.datetime.now(ZoneInfo("Asia/Dhaka")).date()
    assert data["days"][-1] == today.isoformat()
    assert utcnow()  # stored times stay UTC


def test_balances_and_withdrawal_series(client, world, app):
    from backoffice.models import User, Withdrawal
    from backoffice.services import withdrawals

    login(client, world["owner_a"])
    # 600 + 700 deposited, less the 2.5 % commission.
    assert "1,267.50\u00a0BDT" in client.get("/admin/").get_data(as_text=True)
    w = factories.withdrawal(world["a"], factories.payment_system("bkash"), amount="300.00")
    operator = factories.user("operator")
    with app.app_context():
        withdrawals.approve(Withdrawal.get_by_id(w.id), User.get_by_id(operator.id),
                            factories.wallet(world["a"], factories.payment_system("bkash")), "TRX-1")
    assert "967.50\u00a0BDT" in client.get("/admin/").get_data(as_text=True)
    data = client.get("/admin/dashboard/stats.json?details=1").get_json()
    assert data["summary"]["withdrawals_period"] == [{"currency": "BDT", "amount": "300.00", "count": 1}]
