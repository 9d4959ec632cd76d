"""Issue 17, class 12: the TOTP enrolment secret never rides in the session cookie.

It waits on the user's row (``user.totp_pending_secret``) for a few minutes; the
session holds only an opaque reference, bound to the session that started it.
"""
import json

import pyotp
from conftest import csrf_from
from helpers import login, post_form

import factories
from backoffice.models import User
from factories import PASSWORD


def session_text(client):
    with client.session_transaction() as session:
        return json.dumps(dict(session), default=str)


def test_sign_in_enrolment_keeps_the_secret_server_side(client, conn):
    operator = factories.user("operator")
    User.update(totp_secret=None).where(User.id == operator.id).execute()
    page = client.get("/login")
    client.post("/login", data={"login": operator.login, "password": PASSWORD, "csrf_token": csrf_from(page)})
    enrol = client.get("/login/enrol")
    secret = enrol.get_data(as_text=True).split('data-testid="totp-secret">')[1].split("<")[0]
    assert secret and secret not in session_text(client)
    other = factories.APP.test_client()  # a second sign-in does not see the first one's secret
    page = other.get("/login")
    other.post("/login", data={"login": operator.login, "password": PASSWORD, "csrf_token": csrf_from(page)})
    assert secret not in other.get("/login/enrol").get_data(as_text=True)
    done = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(enrol)})
    assert done.status_code == 400 or done.status_code == 302
    # the other sign-in replaced the pending secret: the first one starts again.


def test_settings_enrolment_keeps_the_secret_server_side(client, conn):
    owner = factories.user("merchant_owner", merchant=factories.merchant())
    login(client, owner)
    post_form(client, "/admin/settings/", "/admin/settings/second-factor/start/", {})
    page = client.get("/admin/settings/").get_data(as_text=True)
    secret = page.split('data-testid="totp-secret">', 1)[1].split("<", 1)[0]
    assert secret and secret not in session_text(client)
    response = post_form(client, "/admin/settings/", "/admin/settings/second-factor/confirm/",
                         {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200 and User.get_by_id(owner.id).totp_secret == secret
    assert User.get_by_id(owner.id).totp_pending_secret is None
