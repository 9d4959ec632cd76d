"""Open redirects (issue 17, class 12): every redirect to a target the request names
(sign-in's ``next``, the test-postback form's ``next``, a list's ``url``) goes through
``backoffice.redirects.safe_next``: same-site paths only."""
from urllib.parse import urlparse

import pytest
from conftest import csrf_from
from helpers import login, post_form

import factories
from backoffice.redirects import safe_next

EVIL = ("https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example", "/\t/evil.example",
        "/\n/evil.example", "javascript:alert(1)", "https:evil.example", " //evil.example", "evil.example")


def stays_here(response):
    location = response.headers.get("Location", "")
    parsed = urlparse(location)
    return parsed.netloc in ("", "localhost") and "evil" not in location


@pytest.mark.parametrize("target", EVIL)
def test_safe_next_refuses_other_sites(target):
    assert safe_next(target) is None


def test_safe_next_keeps_paths_of_this_site():
    assert safe_next("/admin/settings/system/?merchant=3") == "/admin/settings/system/?merchant=3"
    assert safe_next("") is None and safe_next(None) is None


@pytest.fixture
def world(app, conn):
    m = factories.merchant()  # no postback URL: the form redirects to ``next``
    return dict(owner=factories.user("merchant_owner", merchant=m))


@pytest.mark.parametrize("target", EVIL)
def test_the_test_postback_form_does_not_follow_another_site(client, world, target):
    login(client, world["owner"])
    response = post_form(client, "/admin/settings/", "/admin/postbacks/test/", {"next": target})
    assert response.status_code in (302, 400)
    assert stays_here(response), response.headers.get("Location")


def test_the_test_postback_form_follows_a_path_of_this_site(client, world):
    login(client, world["owner"])
    response = post_form(client, "/admin/settings/", "/admin/postbacks/test/", {"next": "/admin/settings/system/"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/settings/system/")


@pytest.mark.parametrize("target", EVIL)
def test_sign_in_does_not_follow_another_site(client, world, target):
    page = client.get("/login")
    response = client.post("/login", query_string={"next": target},
                           data={"login": world["owner"].login, "password": factories.PASSWORD,
                                 "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert stays_here(response), response.headers["Location"]


@pytest.mark.parametrize("target", EVIL)
def test_a_list_action_does_not_follow_another_site(client, world, target):
    login(client, world["owner"])
    response = post_form(client, "/admin/transactions/", "/admin/transactions/action/",
                         {"action": "nothing", "rowid": [], "url": target})
    assert response.status_code in (302, 400)
    assert stays_here(response), response.headers.get("Location")
