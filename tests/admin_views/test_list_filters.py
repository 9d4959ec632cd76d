"""Date filters take a date and a time in the viewer's zone (issue 22, point 2), on every
list: each is one of ``timezones.LocalMomentFilter``'s (from, to, between), typed as a
date alone (the whole day) or a date and time ("2026-03-01 14:05", or as a browser's
``datetime-local`` sends it, "2026-03-01T14:05"), converted to naive UTC for the query.
Walked with an Asia/Dhaka viewer (UTC+6)."""
import datetime

import pytest
from flask_admin.model import filters as base_filters
from flask_login import login_user
from helpers import login
from peewee import DateTimeField

import factories
from backoffice.admin_views.base import ScopedModelView
from backoffice.admin_views.timezones import (LocalMomentFilter, LocalMomentFromFilter, LocalMomentRangeFilter,
                                              LocalMomentToFilter, parse_moment)

# 14:30 in Dhaka on 1 March 2026.
PAID = datetime.datetime(2026, 3, 1, 8, 30)


@pytest.fixture
def shop(app, conn):
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    m = factories.merchant(name="Dhaka Shop", timezone="Asia/Dhaka")
    w = factories.wallet(m, ps)
    factories.transaction(w, "600.00", transaction_number="AT-1430", created_at=PAID)
    factories.transaction(w, "700.00", transaction_number="AT-1500", created_at=PAID + datetime.timedelta(minutes=30))
    factories.transaction(w, "800.00", transaction_number="AT-NEXT-DAY", created_at=datetime.datetime(2026, 3, 1, 18))
    return dict(m=m, owner=factories.user("merchant_owner", merchant=m))


def numbers(client, **query):
    import re

    page = client.get("/admin/transactions/", query_string=query)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "is not applied" not in text, query
    return set(re.findall(r'class="col-transaction_number">\s*(\S+)\s*<', text))


def test_the_basic_date_fields_take_a_date_and_time_in_the_viewers_zone(client, shop):
    login(client, shop["owner"])
    # As the browser's datetime-local fields send them.
    assert numbers(client, flt0_creation_date_from="2026-03-01T14:00", flt1_creation_date_to="2026-03-01T14:45") == {
        "AT-1430"}
    assert numbers(client, flt0_creation_date_from="2026-03-01T14:31") == {"AT-1500", "AT-NEXT-DAY"}
    # "to" a minute includes that minute; a minute before excludes it.
    assert numbers(client, flt0_creation_date_to="2026-03-01T14:30") == {"AT-1430"}
    assert numbers(client, flt0_creation_date_to="2026-03-01T14:29") == set()
    # A date alone is the whole day: 18:00 UTC on the 1st is 00:00 on the 2nd in Dhaka.
    assert numbers(client, flt0_creation_date_from="2026-03-01", flt1_creation_date_to="2026-03-01") == {
        "AT-1430", "AT-1500"}
    assert numbers(client, flt0_creation_date_from="2026-03-02") == {"AT-NEXT-DAY"}
    # Between, under "Add Filter": dates, or dates and times.
    assert numbers(client, flt0_creation_date_between="2026-03-01 14:00 to 2026-03-01 14:45") == {"AT-1430"}
    assert numbers(client, flt0_creation_date_between="2026-03-01 to 2026-03-01") == {"AT-1430", "AT-1500"}
    assert numbers(client, flt0_creation_date_between="2026-03-01 14:30:00 to 2026-03-01 15:00:00") == {
        "AT-1430", "AT-1500"}


def test_the_fields_show_what_they_filter_by(client, shop):
    login(client, shop["owner"])
    page = client.get("/admin/transactions/", query_string={
        "flt0_creation_date_from": "2026-03-01", "flt1_creation_date_to": "2026-03-01"}).get_data(as_text=True)
    assert 'value="2026-03-01T00:00"' in page and 'value="2026-03-01T23:59"' in page
    assert "Dates and times are in the time zone" in page


def test_a_bad_date_keeps_the_page_and_names_the_filter(client, shop):
    import html

    login(client, shop["owner"])
    for value in ("2026-13-01", "tomorrow", "2026-03-01T25:00", "9999-12-31"):
        response = client.get("/admin/transactions/", query_string={"flt0_creation_date_to": value,
                                                                    "flt1_label_equals": ""})
        assert response.status_code == 200, value
        page = html.unescape(response.get_data(as_text=True))
        assert "The filter “Creation date (to)” is not applied" in page and "model-list" in page, value


def every_list(app):
    return [v for v in app.extensions["backoffice_admin"]._views if isinstance(v, ScopedModelView)]


def test_every_date_filter_of_every_list_is_in_the_viewers_zone_with_a_time(app, shop):
    """The class: no list keeps a date filter that takes days only or reads UTC."""
    from backoffice.models import User

    date_filters = 0
    with app.test_request_context():
        login_user(User.get_by_id(shop["owner"].id))  # a viewer in Asia/Dhaka
        for view in every_list(app):
            for flt in view._filters or ():
                column = getattr(flt, "column", None)
                dated = isinstance(column, DateTimeField) or isinstance(flt, (
                    base_filters.BaseDateFilter, base_filters.BaseDateBetweenFilter,
                    base_filters.BaseDateTimeFilter, base_filters.BaseDateTimeBetweenFilter))
                if not dated or not isinstance(column, DateTimeField):
                    continue
                assert isinstance(flt, LocalMomentFilter), (view.endpoint, flt.name, type(flt))
                date_filters += 1
                if isinstance(flt, LocalMomentRangeFilter):
                    assert flt.clean("2026-03-01 14:30 to 2026-03-01T15:00") == (
                        PAID, PAID + datetime.timedelta(minutes=31))
                elif isinstance(flt, LocalMomentToFilter):
                    assert flt.clean("2026-03-01T14:30") == PAID + datetime.timedelta(minutes=1)
                else:
                    assert isinstance(flt, LocalMomentFromFilter)
                    assert flt.clean("2026-03-01T14:30") == PAID
                    assert flt.clean("2026-03-01") == datetime.datetime(2026, 2, 28, 18)
            # Every list with a date filter has its "from" and "to" in the row above it.
            dated_basic = [flt for flt in view.column_filters_basic if isinstance(flt, LocalMomentFilter)]
            if any(isinstance(flt, LocalMomentFilter) for flt in view._filters or ()):
                kinds = {type(flt) for flt in dated_basic}
                assert kinds == {LocalMomentFromFilter, LocalMomentToFilter}, view.endpoint
    assert date_filters >= 15


@pytest.mark.parametrize("text, expected", [
    ("2026-03-01", (datetime.datetime(2026, 3, 1), datetime.timedelta(days=1))),
    ("2026-03-01 14:05", (datetime.datetime(2026, 3, 1, 14, 5), datetime.timedelta(minutes=1))),
    ("2026-03-01T14:05", (datetime.datetime(2026, 3, 1, 14, 5), datetime.timedelta(minutes=1))),
    ("2026-03-01T14:05:09", (datetime.datetime(2026, 3, 1, 14, 5, 9), datetime.timedelta(seconds=1))),
    (" 2026-03-01 ", (datetime.datetime(2026, 3, 1), datetime.timedelta(days=1))),
])
def test_parse_moment(text, expected):
    assert parse_moment(text) == expected


@pytest.mark.parametrize("text", ["", "2026-3-1", "01.03.2026", "2026-03-01 14", "2026-03-01 25:00", "now", "\x00"])
def test_parse_moment_refuses(text):
    with pytest.raises(ValueError):
        parse_moment(text)
