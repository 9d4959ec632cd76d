"""Issue 17, class 4: every check of a secret is throttled like sign-in.

One guard (``services.accounts.check_secret``) counts failures per (account, address)
and per address: the settings' current-password confirmations, the TOTP codes (sign-in,
enrolment, Settings), the recovery codes and the reset tokens all go through it. After
``LOGIN_MAX_FAILURES`` wrong answers even the right one is refused for a while.
"""
import pyotp
import pytest
from conftest import csrf_from
from helpers import fresh_code, login, post_form

import factories
from backoffice.models import RecoveryCode, User
from backoffice.security import new_totp_secret, verify_password
from backoffice.services import merchants as merchant_service
from backoffice.services import profile
from factories import PASSWORD


@pytest.fixture
def owner(conn):
    return factories.user("merchant_owner", merchant=factories.merchant())


def guess_then_right(client, app, url, wrong, right, page="/admin/settings/"):
    for _n in range(app.config["LOGIN_MAX_FAILURES"]):
        assert post_form(client, page, url, wrong).status_code == 400
    return post_form(client, page, url, right)


def test_password_change_is_throttled(app, client, owner):
    login(client, owner)
    new = {"new_password": "another long password", "new_password_again": "another long password"}
    response = guess_then_right(client, app, "/admin/settings/password/", dict(new, old_password="wrong one"),
                                dict(new, old_password=PASSWORD))
    assert response.status_code == 400 and "Too many failed attempts" in response.get_data(as_text=True)
    assert verify_password(User.get_by_id(owner.id).password_hash, PASSWORD)


def test_second_factor_disable_and_recovery_codes_are_throttled(app, client, conn):
    user = factories.user("merchant_owner", merchant=factories.merchant(), totp_secret=new_totp_secret())
    login(client, user)
    response = guess_then_right(client, app, "/admin/settings/second-factor/recovery-codes/",
                                {"password": "wrong one"}, {"password": PASSWORD})
    assert response.status_code == 400 and "Too many failed attempts" in response.get_data(as_text=True)
    response = post_form(client, "/admin/settings/", "/admin/settings/second-factor/disable/", {"password": PASSWORD})
    assert response.status_code == 400 and User.get_by_id(user.id).totp_secret is not None


def test_settings_totp_confirmation_is_throttled(app, client, owner):
    login(client, owner)
    post_form(client, "/admin/settings/", "/admin/settings/second-factor/start/", {})
    page = client.get("/admin/settings/").get_data(as_text=True)
    secret = page.split('data-testid="totp-secret">', 1)[1].split("<", 1)[0]
    response = guess_then_right(client, app, "/admin/settings/second-factor/confirm/", {"code": "000000"},
                                {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 400 and User.get_by_id(owner.id).totp_secret is None


def test_sign_in_codes_and_recovery_codes_are_throttled(app, client, conn):
    user = factories.user("merchant_owner", merchant=factories.merchant(), totp_secret=new_totp_secret())
    with app.app_context():
        codes = profile.new_recovery_codes(user)
    page = client.get("/login")
    client.post("/login", data={"login": user.login, "password": PASSWORD, "csrf_token": csrf_from(page)})
    for n in range(app.config["LOGIN_MAX_FAILURES"]):
        wrong = "abcd-efgh-jkmn-pqr" + "st"[n % 2] if n % 2 else "000000"
        assert post_form(client, "/login/code", "/login/code", {"code": wrong}).status_code == 401
    assert post_form(client, "/login/code", "/login/code", {"code": codes[0]}).status_code == 401
    assert post_form(client, "/login/code", "/login/code", {"code": fresh_code(user, app)}).status_code == 401
    assert RecoveryCode.select().where(RecoveryCode.used_at.is_null(False)).count() == 0
    assert client.get("/admin/").status_code == 302


def test_reset_tokens_are_throttled_per_address(app, client, owner):
    with app.app_context():
        token = merchant_service.issue_reset_token(owner, None)
    limit = app.config["LOGIN_ADDRESS_MAX_FAILURES"]
    for n in range(limit):
        assert client.get(f"/login/reset/not-a-token-{n}").status_code == 404
    assert client.get(f"/login/reset/{token}").status_code == 429
    # Another address is not affected.
    assert client.get(f"/login/reset/{token}", environ_base={"REMOTE_ADDR": "198.51.100.4"}).status_code == 200
