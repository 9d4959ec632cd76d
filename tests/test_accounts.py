"""Sign-in, lock-out, second factor, sessions, CSRF and cookie flags."""
import pytest
from conftest import csrf_from
from helpers import fresh_code, login, post_form, totp_clock

import factories
from backoffice.models import SecretAttempt, User


@pytest.fixture
def merchant_user(conn):
    m = factories.merchant()
    return factories.user("merchant_owner", merchant=m)


@pytest.fixture
def operator(conn):
    return factories.user("operator")


def test_login_page_renders_with_csrf_token(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "csrf_token" in response.get_data(as_text=True)


def test_anonymous_admin_redirects_to_login(client):
    response = client.get("/admin/transactions/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_merchant_user_signs_in_and_sees_admin(client, merchant_user):
    response = login(client, merchant_user)
    assert response.status_code == 302
    page = client.get("/admin/")
    assert page.status_code == 200
    assert merchant_user.login in page.get_data(as_text=True)
    assert User.get_by_id(merchant_user.id).last_login_at is not None


def test_wrong_password_is_refused(client, merchant_user):
    response = login(client, merchant_user, password="not the password")
    assert response.status_code == 401
    assert "Invalid login or password" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    # Counted per (login, address) and per address (issue 17: services.accounts.check_secret).
    assert SecretAttempt.get(SecretAttempt.account == merchant_user.login).failures == 1


def test_unknown_login_gets_the_same_answer(client, conn):
    page = client.get("/login")
    response = client.post("/login", data={"login": "nobody@example.test", "password": "whatever1",
                                           "csrf_token": csrf_from(page)})
    assert response.status_code == 401
    assert "Invalid login or password" in response.get_data(as_text=True)


def test_account_locks_after_repeated_failures_even_with_right_password(client, app, merchant_user):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        login(client, merchant_user, password="wrong password")
    locked = SecretAttempt.get(SecretAttempt.account == merchant_user.login)
    assert locked.locked_until is not None  # this login from this address (tests/test_lockout.py: not elsewhere)
    response = login(client, merchant_user)  # the right password, but locked
    assert response.status_code == 403
    assert "locked" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_failed_logins_are_throttled_per_address(app_config, conn):
    from backoffice import create_app

    app_config["LOGIN_RATE_LIMIT"] = "3 per minute"
    client = create_app(app_config).test_client()
    statuses = []
    for n in range(5):
        page = client.get("/login")
        statuses.append(client.post("/login", data={"login": f"x{n}@example.test", "password": "wrongpass",
                                                    "csrf_token": csrf_from(page)}).status_code)
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]


def test_disabled_user_is_refused(client, merchant_user):
    User.update(active=False).where(User.id == merchant_user.id).execute()
    response = login(client, merchant_user)
    assert response.status_code == 403
    assert client.get("/admin/").status_code == 302


def test_operator_must_pass_the_second_factor(client, operator):
    page = client.get("/login")
    response = client.post("/login", data={"login": operator.login, "password": factories.PASSWORD,
                                           "csrf_token": csrf_from(page)})
    assert response.status_code == 302 and "/login/code" in response.headers["Location"]
    # Not signed in yet: the password alone opens nothing.
    assert client.get("/admin/merchants/").status_code == 302
    code_page = client.get("/login/code")
    bad = client.post("/login/code", data={"code": "000000", "csrf_token": csrf_from(code_page)})
    assert bad.status_code == 401
    good = client.post("/login/code", data={"code": fresh_code(operator), "csrf_token": csrf_from(code_page)})
    assert good.status_code == 302
    assert client.get("/admin/merchants/").status_code == 200


def test_a_totp_code_cannot_be_replayed(app, operator):
    first, second = app.test_client(), app.test_client()
    code = fresh_code(operator)
    assert login(first, operator, code=code).status_code == 302
    assert login(second, operator, code=code).status_code == 401


def test_a_code_is_accepted_within_one_step_and_never_for_an_older_step(app, operator):
    """±1 step of drift around the app's TOTP clock; after a step is used, it and every
    earlier step are refused (replay protection), even inside the window."""
    import pyotp

    clock = totp_clock(app)
    totp = pyotp.TOTP(operator.totp_secret)
    now = int(clock() // totp.interval)

    def attempt(step):
        return login(app.test_client(), operator, code=totp.generate_otp(step)).status_code

    assert attempt(now - 2) == 401 and attempt(now + 2) == 401  # outside the window
    assert attempt(now + 1) == 302
    assert attempt(now) == 401 and attempt(now - 1) == 401  # inside the window, but older
    assert User.get_by_id(operator.id).totp_last_step == now + 1


def test_the_code_follows_the_apps_totp_clock(app, operator):
    """The server checks codes by the app's ``TOTP_CLOCK``: moved five steps on, the wall
    clock's code is stale and the moved clock's code works."""
    import pyotp

    clock = totp_clock(app)
    clock.advance(5 * 30)
    totp = pyotp.TOTP(operator.totp_secret)
    wall = totp.now()
    assert wall != totp.at(clock())
    assert login(app.test_client(), operator, code=wall).status_code == 401
    assert login(app.test_client(), operator, code=totp.at(clock())).status_code == 302


def test_signing_in_again_and_again_moves_the_clock_not_the_test(app, operator):
    """Each sign-in spends a step; fresh_code moves the app's clock to the next one
    where the test used to sleep up to 30 seconds."""
    steps = []
    for _ in range(5):
        assert login(app.test_client(), operator).status_code == 302
        steps.append(User.get_by_id(operator.id).totp_last_step)
    assert steps == sorted(set(steps))  # five different steps, in order
    assert totp_clock(app).offset >= 30


def test_operator_without_a_secret_enrols_at_first_sign_in(client, operator):
    import pyotp

    User.update(totp_secret=None).where(User.id == operator.id).execute()
    page = client.get("/login")
    response = client.post("/login", data={"login": operator.login, "password": factories.PASSWORD,
                                           "csrf_token": csrf_from(page)})
    assert "/login/enrol" in response.headers["Location"]
    enrol = client.get("/login/enrol")
    text = enrol.get_data(as_text=True)
    secret = text.split('data-testid="totp-secret">')[1].split("<")[0]
    done = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(enrol)})
    assert done.status_code == 302
    assert User.get_by_id(operator.id).totp_secret == secret
    assert client.get("/admin/merchants/").status_code == 200


def test_merchant_user_may_turn_the_second_factor_on(client, conn):
    from backoffice.security import new_totp_secret

    m = factories.merchant()
    owner = factories.user("merchant_owner", merchant=m, totp_secret=new_totp_secret())
    page = client.get("/login")
    response = client.post("/login", data={"login": owner.login, "password": factories.PASSWORD,
                                           "csrf_token": csrf_from(page)})
    assert "/login/code" in response.headers["Location"]


def test_session_cookie_stops_working_after_logout(app, merchant_user):
    browser, thief = app.test_client(), app.test_client()
    login(browser, merchant_user)
    cookie = browser.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    assert thief.get("/admin/").status_code == 200  # a copied cookie works while signed in
    assert post_form(browser, "/admin/", "/logout", {}).status_code == 302
    assert browser.get("/admin/").status_code == 302
    assert thief.get("/admin/").status_code == 302  # and not after the user signed out


def test_logout_requires_post_with_csrf(client, merchant_user):
    login(client, merchant_user)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token
    assert client.get("/admin/").status_code == 200


def test_password_change_ends_other_sessions(app, merchant_user):
    from backoffice.services.accounts import change_password

    first = app.test_client()
    login(first, merchant_user)
    assert first.get("/admin/").status_code == 200
    with app.app_context():
        change_password(User.get_by_id(merchant_user.id), factories.PASSWORD, "a brand new password", "a brand new password")
    assert first.get("/admin/").status_code == 302
    second = app.test_client()
    assert login(second, merchant_user).status_code == 401
    assert login(second, merchant_user, password="a brand new password").status_code == 302


def test_password_rules(ctx):
    from backoffice.services.accounts import AccountError, change_password

    m = factories.merchant()
    u = factories.user(merchant=m)
    with pytest.raises(AccountError) as wrong_old:
        change_password(u, "nope nope", "another password", "another password")
    assert wrong_old.value.field == "old_password"
    with pytest.raises(AccountError) as short:
        change_password(u, factories.PASSWORD, "short", "short")
    assert short.value.field == "new_password"
    with pytest.raises(AccountError) as differ:
        change_password(u, factories.PASSWORD, "long enough one", "long enough two")
    assert differ.value.field == "new_password_again"
    long_password = "p" * 128
    change_password(u, factories.PASSWORD, long_password, long_password)  # 128 characters are fine


def test_post_without_csrf_token_changes_nothing(client, conn):
    operator = factories.user("operator")
    m = factories.merchant(name="Before")
    login(client, operator)
    response = client.post(f"/admin/merchants/edit/?id={m.id}", data={"name": "After", "timezone": "UTC"})
    assert response.status_code == 400
    from backoffice.models import Merchant

    assert Merchant.get_by_id(m.id).name == "Before"
    # The same edit with the token goes through: the form itself was fine.
    response = post_form(client, f"/admin/merchants/edit/?id={m.id}", f"/admin/merchants/edit/?id={m.id}",
                         {"name": "After", "timezone": "UTC", "after_payment": "message", "theme": "light",
                          "pending_activation_ttl": "30", "default_display_currency": "USD", "active": "y"})
    assert response.status_code == 302
    assert Merchant.get_by_id(m.id).name == "After"


def test_login_without_csrf_token_is_refused(client, merchant_user):
    response = client.post("/login", data={"login": merchant_user.login, "password": factories.PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_open_redirect_after_login_is_ignored(client, merchant_user):
    page = client.get("/login?next=https://evil.example/")
    response = client.post("/login?next=https://evil.example/", data={
        "login": merchant_user.login, "password": factories.PASSWORD, "csrf_token": csrf_from(page)})
    assert response.headers["Location"].endswith("/admin/")


def test_security_headers_and_cookie_flags(app_config, conn):
    from backoffice import create_app

    app_config.update(SESSION_COOKIE_SECURE=True)
    application = create_app(app_config)
    client = application.test_client()
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "max-age" in response.headers["Strict-Transport-Security"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
