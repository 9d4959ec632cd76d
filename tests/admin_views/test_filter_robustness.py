"""Admin lists never answer 500 to a bad query string (issue 17, class 12): a NUL byte,
a negative page or page size, a huge number, year 9999 or year 1 in a date filter. A
bad filter is ignored (with a message) and the rest of the list answers; the walk
covers every filter of every registered list view, its export, and the ajax lookups."""
import pytest
from helpers import login

import factories
from backoffice.admin_views.base import ScopedModelView
from backoffice.roles import allowed

BAD_FILTER_VALUES = ("\x00", "a\x00b", "9999-12-31", "9999-12-31 to 9999-12-31", "0001-01-01",
                     "0001-01-01 to 0001-01-01", "9999-12-31 23:59:59 to 9999-12-31 23:59:59",
                     "0001-01-01 00:00:00 to 0001-01-01 00:00:00", "99999999999999999999999", "-1", "abc")
BAD_LIST_ARGS = ("page=-1", "page=-99999999999", "page=99999999999999999999", "page_size=-5",
                 "page_size=99999999999", "sort=-3", "sort=999", "desc=-1", "search=%00", "search=a%00b")


@pytest.fixture
def world(app, conn):
    ps = factories.payment_system()
    m = factories.merchant()
    factories.merchant_payment_system(m, ps)
    factories.transaction(factories.wallet(m, ps), label="alice")
    return dict(operator=factories.user("operator"), owner=factories.user("merchant_owner", merchant=m))


def list_views(app):
    admin = app.extensions["backoffice_admin"]
    return [v for v in admin._views if isinstance(v, ScopedModelView)]


def filter_keys(view):
    """The URL keys of a view's filters (``flt0_<key>=value``)."""
    return list((view._filter_args or {}).keys())


def test_every_list_answers_bad_filters_without_a_500(app, client, world):
    login(client, world["operator"])
    for view in list_views(app):
        if not allowed(view.endpoint, "view", "operator"):
            continue
        base = f"/admin/{view.endpoint}/"
        for key in filter_keys(view):
            for value in BAD_FILTER_VALUES:
                response = client.get(base, query_string={f"flt0_{key}": value})
                assert response.status_code in (200, 400), (view.endpoint, key, repr(value), response.status_code)
                if allowed(view.endpoint, "export", "operator") and "csv" in (view.export_types or []):
                    response = client.get(base + "export/csv/", query_string={f"flt0_{key}": value})
                    assert response.status_code in (200, 400), ("export", view.endpoint, key, repr(value))
                    response.close()
        for args in BAD_LIST_ARGS:
            response = client.get(f"{base}?{args}")
            assert response.status_code in (200, 400), (view.endpoint, args, response.status_code)


def test_a_bad_filter_is_ignored_and_the_rest_applies(client, world):
    login(client, world["owner"])
    response = client.get("/admin/transactions/", query_string={
        "flt0_label_equals": "alice", "flt1_creation_date_between": "9999-12-31 to 9999-12-31"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "alice" in page
    response = client.get("/admin/transactions/", query_string={"flt0_label_equals": "\x00"})
    assert response.status_code == 200
    assert "alice" in response.get_data(as_text=True)  # the bad filter is dropped, not applied
    assert client.get("/admin/transactions/?page=-1").status_code == 200


def test_ajax_lookups_and_details_survive_a_nul_byte(app, client, world):
    login(client, world["operator"])
    for view in list_views(app):
        for name in (view._form_ajax_refs or {}):
            response = client.get(f"/admin/{view.endpoint}/ajax/lookup/", query_string={"name": name,
                                                                                       "query": "a\x00"})
            assert response.status_code in (200, 400), (view.endpoint, name)
        if allowed(view.endpoint, "details", "operator"):
            response = client.get(f"/admin/{view.endpoint}/details/", query_string={"id": "1\x00"})
            assert response.status_code in (302, 400, 404), (view.endpoint, response.status_code)


# --- a bad filter says which one (issue 22, point 4) ------------------------------------------

def _refused_values(flt):
    """Values the filter cannot take: a NUL byte always; for a date range, one reversed."""
    from flask_admin.model import filters as base_filters

    values = ["a\x00b"]
    if isinstance(flt, base_filters.BaseDateTimeBetweenFilter):
        values.append("2026-03-10 00:00:00 to 2026-03-01 00:00:00")
    elif isinstance(flt, base_filters.BaseDateBetweenFilter):
        values.append("2026-03-10 to 2026-03-01")
    elif isinstance(flt, base_filters.BaseDateFilter):
        values.append("2026-13-01")
    return values


def test_every_list_keeps_its_page_and_names_the_bad_filter(app, client, world):
    import html

    login(client, world["operator"])
    checked = 0
    for view in list_views(app):
        if not allowed(view.endpoint, "view", "operator"):
            continue
        base = f"/admin/{view.endpoint}/"
        for key in filter_keys(view):
            _index, flt = view._filter_args[key]
            with app.test_request_context():
                name = f"“{flt.name} ({flt.operation()})”"
            for value in _refused_values(flt):
                response = client.get(base, query_string={f"flt0_{key}": value})
                assert response.status_code == 200, (view.endpoint, key, repr(value))
                page = html.unescape(response.get_data(as_text=True))
                # The page is kept: the list (or its empty message) is there.
                assert "model-list" in page or "There are no items" in page, (view.endpoint, key)
                # ... and it says which filter was not applied, and why.
                assert f"The filter {name} is not applied" in page, (view.endpoint, key, repr(value))
                checked += 1
    assert checked > 20  # every list's filters were walked
