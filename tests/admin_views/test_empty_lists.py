"""Every list with no rows says so in a sentence of its own (issue 22, point 7): what the
list holds (and how rows get there), or, with a filter or a search, that nothing matches;
never Flask-Admin's "There are no items in the table.". Walks every list of the back
office (every ``ScopedModelView`` registered), as an operator and as a merchant owner."""
import re

import pytest
from helpers import login

import factories
from backoffice.admin_views.base import ScopedModelView
from backoffice.admin_views.empty_lists import EMPTY_LISTS, NOTHING_MATCHES, NOTHING_YET

FLASK_ADMIN_DEFAULT = "There are no items in the table."
EMPTY_ROW = re.compile(r'<td colspan="999">\s*<div class="text-center">\s*(.*?)\s*</div>', re.S)


def list_views(app):
    return [view for view in app.extensions["backoffice_admin"]._views if isinstance(view, ScopedModelView)]


def empty_sentence(page):
    """The sentence of the list's empty row (None: the list has rows)."""
    match = EMPTY_ROW.search(page)
    return match.group(1) if match else None


def test_every_list_has_a_sentence_of_its_own(app):
    endpoints = {view.endpoint for view in list_views(app)}
    assert endpoints - set(EMPTY_LISTS) == set(), "a list without its own empty sentence"
    assert set(EMPTY_LISTS) - endpoints == set(), "a sentence for a list that does not exist"
    texts = [str(text) for text in EMPTY_LISTS.values()]
    assert len(set(texts)) == len(texts) and FLASK_ADMIN_DEFAULT not in texts


@pytest.fixture
def world(app, conn):
    m = factories.merchant(name="Quiet")
    return dict(operator=factories.user("operator"), owner=factories.user("merchant_owner", merchant=m))


@pytest.mark.parametrize("role", ["operator", "owner"])
def test_every_empty_list_says_what_it_holds(app, client, world, role):
    login(client, world[role])
    empty, opened = [], 0
    for view in list_views(app):
        response = client.get(f"/admin/{view.endpoint}/" if view.url is None else view.url + "/")
        if response.status_code == 403:  # not this role's screen (roles)
            continue
        assert response.status_code == 200, view.endpoint
        opened += 1
        page = response.get_data(as_text=True)
        assert FLASK_ADMIN_DEFAULT not in page, view.endpoint
        sentence = empty_sentence(page)
        if sentence is not None:
            assert sentence == str(EMPTY_LISTS[view.endpoint]), view.endpoint
            empty.append(view.endpoint)
    if role == "operator":
        # Only the lists with the operator or the merchant in them have rows.
        assert opened == len(list_views(app)) and set(empty) >= set(EMPTY_LISTS) - {"users", "merchants"}, empty
    else:
        assert {"transactions", "withdrawals", "postbacks"} <= set(empty), empty


def test_a_filter_or_a_search_that_finds_nothing_says_so(client, world):
    login(client, world["operator"])
    page = client.get("/admin/users/", query_string={"search": "nobody-has-this-name"}).get_data(as_text=True)
    assert empty_sentence(page) == str(NOTHING_MATCHES)
    page = client.get("/admin/postbacks/", query_string={"flt0_0": "error"}).get_data(as_text=True)
    assert empty_sentence(page) == str(NOTHING_MATCHES)
    # An empty search box is no search.
    page = client.get("/admin/postbacks/", query_string={"search": " "}).get_data(as_text=True)
    assert empty_sentence(page) == str(EMPTY_LISTS["postbacks"])


def test_a_list_outside_the_table_gets_a_plain_sentence(app):
    from backoffice.admin_views.empty_lists import empty_list_message

    class Unknown:
        endpoint = "not_a_list"

    with app.test_request_context("/admin/not_a_list/"):
        assert empty_list_message(Unknown()) == NOTHING_YET
