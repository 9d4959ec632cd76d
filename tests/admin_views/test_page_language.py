"""Every page names its language (issue 22, point 9; WCAG 3.1.1): ``<html lang>`` is the
viewer's language on every back-office screen (walked from the app's URL map and the
pages' links, as an operator and as a merchant's owner, in English and in Russian), on
the sign-in pages and on the error pages (403, 404, 405, an expired form), which are
pages of their own in that language, not Werkzeug's English ones.
"""
import re

import pytest
from conftest import csrf_from
from screen_walk import demo_world, sign_in, walk

import factories
from backoffice.models import User

LANG = re.compile(r"<html[^>]*\blang=\"([^\"]*)\"")


def page_lang(page):
    match = LANG.search(page)
    return match.group(1) if match else None


def lang_of(response):
    return page_lang(response.get_data(as_text=True))


@pytest.fixture
def demo(app, conn):
    return demo_world(app)


@pytest.mark.parametrize("role", ["operator", "merchant_owner"])
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_back_office_screen_names_the_viewers_language(app, client, demo, role, lang):
    user = sign_in(client, demo[role])
    User.update(language=lang).where(User.id == user.id).execute()
    pages, per_endpoint = walk(app, client, role, per_endpoint=1)
    assert len(per_endpoint) > 20, sorted(per_endpoint)
    wrong = {url: page_lang(page) for url, page in pages.items() if page_lang(page) != lang}
    assert not wrong, f"pages not in lang={lang} as {role}: {wrong}"
    # The error pages of a signed-in viewer: in their language too.
    for url, status in (("/admin/no-such-screen/", 404), ("/admin/transactions/details/?id=999999", 404)):
        response = client.get(url)
        assert response.status_code == status, url
        assert lang_of(response) == lang and 'data-testid="error-page"' in response.get_data(as_text=True), url
    if role == "merchant_owner":
        response = client.get("/admin/users/")  # an operator's screen
        assert response.status_code == 403
        assert lang_of(response) == lang and 'data-code="403"' in response.get_data(as_text=True)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_sign_in_and_error_pages_name_the_visitors_language(app, client, conn, lang):
    headers = {"Accept-Language": lang}
    # The second step of signing in (an operator's code), before anyone is signed in.
    operator = factories.user("operator")
    page = client.get("/login", headers=headers)
    response = client.post("/login", headers=headers, data={"login": operator.login, "password": factories.PASSWORD,
                                                            "csrf_token": csrf_from(page)})
    assert response.status_code == 302 and "/login/code" in response.headers["Location"]
    assert lang_of(client.get("/login/code", headers=headers)) == lang
    for url, status in (("/login", 200), ("/login/reset/not-a-token", None), ("/no-such-page", 404),
                        ("/admin/no-such-screen/", 404), ("/logout", 405)):
        response = client.get(url, headers=headers)
        assert status is None or response.status_code == status, (url, response.status_code)
        assert lang_of(response) == lang, (url, response.status_code)
    response = client.post("/logout", headers=headers)  # no CSRF token: the form expired
    assert response.status_code == 400
    assert lang_of(response) == lang and 'data-code="400"' in response.get_data(as_text=True)
    # The language asked for in the address wins over the browser's.
    assert lang_of(client.get("/login?lang=ru", headers={"Accept-Language": "en"})) == "ru"
    # The JSON APIs keep their own error shape.
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404 and 'data-testid="error-page"' not in response.get_data(as_text=True)
