"""The dashboard's country filter (issue 22, point 2; the manual's): payment systems belong
to countries (``PaymentSystem.country``, ISO 3166 alpha-2), and the statistics read only
the payment systems of the country chosen. The choice lists the countries payment
systems serve, named in the viewer's language; an unknown one is shown beside the field
and the rest of the page stays (point 4's rule)."""
import datetime
import re
from decimal import Decimal

import pytest
from helpers import login

import factories
from backoffice.models import ExchangeRate, PaymentSystem
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest


@pytest.fixture
def world(app, conn):
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    upi = factories.payment_system("upi", "INR", name="UPI")
    factories.payment_system("wise", "USD", name="Wise")  # no country
    PaymentSystem.update(country="BD").where(PaymentSystem.id == bkash.id).execute()
    PaymentSystem.update(country="IN").where(PaymentSystem.id == upi.id).execute()
    for currency, rate in (("BDT", "0.01"), ("INR", "0.012")):
        ExchangeRate.create(currency=currency, rate_to_usd=Decimal(rate), effective_date=datetime.date(2020, 1, 1))
    m = factories.merchant(name="Both", timezone="UTC")
    with app.app_context():
        for ps, number, amount in ((bkash, "BD-1", "600.00"), (upi, "IN-1", "400.00")):
            factories.merchant_payment_system(m, ps, min_deposit="100.00")
            w = factories.wallet(m, ps)
            ingest(Report(ps.code, w.number, number, Decimal(amount), ps.currency))
            activate(m, ps.code, number, "visitor")
    return dict(m=m, owner=factories.user("merchant_owner", merchant=m), operator=factories.user("operator"))


def series(client, query=""):
    answer = client.get("/admin/dashboard/stats.json?details=1&" + query)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_the_statistics_read_the_countrys_payment_systems(client, world):
    login(client, world["operator"])
    every = series(client)
    assert {s["payment_system"] for s in every["deposits"]["series"]} == {"bkash", "upi"}
    bd = series(client, "country=BD")
    assert bd["country"] == "BD"
    assert {s["payment_system"] for s in bd["deposits"]["series"]} == {"bkash"}
    assert [t["currency"] for t in bd["summary"]["period"]] == ["BDT"]
    india = series(client, "country=in")  # any case
    assert {s["payment_system"] for s in india["deposits"]["series"]} == {"upi"}
    # The merchant's users filter their own statistics the same way.
    owner = client.application.test_client()
    login(owner, world["owner"])
    assert {s["payment_system"] for s in series(owner, "country=IN")["deposits"]["series"]} == {"upi"}


def test_the_choice_lists_the_countries_in_the_viewers_language(client, world):
    login(client, world["owner"])
    page = client.get("/admin/").get_data(as_text=True)
    select = re.search(r'<select[^>]*id="f-country".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="([A-Z]*)"', select) == ["", "BD", "IN"]  # "Wise" serves none
    assert ">Bangladesh</option>" in select and ">India</option>" in select
    page = client.get("/admin/?country=BD").get_data(as_text=True)
    assert re.search(r'<option value="BD" selected>', page) and "country=BD" in page  # the stats' URL keeps it
    world["owner"].language = "ru"
    world["owner"].save()
    page = client.get("/admin/").get_data(as_text=True)
    assert ">Бангладеш</option>" in page and ">Индия</option>" in page


def test_an_unknown_country_is_shown_beside_its_field_and_the_rest_stays(client, world):
    login(client, world["owner"])
    page = client.get("/admin/?country=ZZ").get_data(as_text=True)
    assert 'id="f-country-error"' in page and "Unknown country." in page
    assert page.count("is-invalid") == 1 and 'data-testid="balances"' in page
    answer = client.get("/admin/dashboard/stats.json?country=ZZ")
    assert answer.status_code == 400
    assert [d["field"] for d in answer.get_json()["error"]["details"]] == ["country"]
