"""Issue 17, class 6: the lock-out is neither an oracle nor a weapon.

Failures lock the pair (login, address) — with a delay that grows each time — and the
address as a whole; unknown logins are counted and answered exactly like existing ones;
an attacker failing on purpose elsewhere does not lock the user out.
"""
import datetime

import pytest
from conftest import csrf_from

import factories
from backoffice.models import SecretAttempt, utcnow
from backoffice.services import accounts, merchants
from factories import PASSWORD

ATTACKER, USER = "198.51.100.66", "203.0.113.20"


@pytest.fixture
def owner(conn):
    return factories.user("merchant_owner", merchant=factories.merchant())


def sign_in(client, login, password, address):
    page = client.get("/login", environ_base={"REMOTE_ADDR": address})
    return client.post("/login", environ_base={"REMOTE_ADDR": address},
                       data={"login": login, "password": password, "csrf_token": csrf_from(page)})


def test_unknown_and_existing_accounts_get_the_same_answers(app, owner):
    answers = {}
    for login in (owner.login, "nobody-here@example.test"):
        client = app.test_client()
        answers[login] = [(r.status_code, r.get_data(as_text=True).split('class="alert')[1].split("</div>")[0])
                          for r in (sign_in(client, login, "wrong password", ATTACKER)
                                    for _n in range(app.config["LOGIN_MAX_FAILURES"] + 2))]
    assert answers[owner.login] == answers["nobody-here@example.test"]
    assert answers[owner.login][-1][0] == 403


def test_an_attacker_elsewhere_cannot_lock_the_user_out(app, owner):
    attacker, user = app.test_client(), app.test_client()
    for _n in range(app.config["LOGIN_MAX_FAILURES"] + 3):
        sign_in(attacker, owner.login, "wrong password", ATTACKER)
    assert sign_in(attacker, owner.login, PASSWORD, ATTACKER).status_code == 403  # the attacker's pair is locked
    assert sign_in(user, owner.login, PASSWORD, USER).status_code == 302  # the user, from their own address


def test_the_delay_grows_and_a_sign_in_clears_it(ctx, owner):
    maximum, base = ctx.config["LOGIN_MAX_FAILURES"], ctx.config["LOGIN_LOCKOUT_SECONDS"]
    now = utcnow()
    for _n in range(maximum):
        assert accounts.check_secret(owner.login, USER, lambda: False, now=now) is False
    row = SecretAttempt.get((SecretAttempt.account == owner.login) & (SecretAttempt.address == USER))
    assert row.locked_until == now + datetime.timedelta(seconds=base)
    with pytest.raises(accounts.TooManyAttempts):
        accounts.check_secret(owner.login, USER, lambda: True, now=now)
    later = now + datetime.timedelta(seconds=base + 1)
    assert accounts.check_secret(owner.login, USER, lambda: False, now=later) is False
    row = SecretAttempt.get_by_id(row.id)
    assert row.locked_until == later + datetime.timedelta(seconds=2 * base)  # twice as long
    accounts.record_login(owner, USER)
    assert not SecretAttempt.select().where(SecretAttempt.account == owner.login).exists()


def test_an_address_failing_on_many_accounts_is_locked(ctx, owner):
    now = utcnow()
    for n in range(ctx.config["LOGIN_ADDRESS_MAX_FAILURES"]):
        accounts.check_secret(f"someone-{n}@example.test", ATTACKER, lambda: False, now=now)
    with pytest.raises(accounts.TooManyAttempts):
        accounts.check_secret(owner.login, ATTACKER, lambda: True, now=now)
    assert accounts.check_secret(owner.login, USER, lambda: True, now=now) is True


def test_a_password_reset_link_lifts_the_accounts_locks(app, owner):
    client = app.test_client()
    for _n in range(app.config["LOGIN_MAX_FAILURES"] + 1):
        sign_in(client, owner.login, "wrong password", USER)
    assert sign_in(client, owner.login, PASSWORD, USER).status_code == 403
    with app.app_context():
        token = merchants.issue_reset_token(owner, None)
        merchants.use_reset_token(token, "a brand new long passphrase", "a brand new long passphrase")
    assert sign_in(client, owner.login, "a brand new long passphrase", USER).status_code == 302
