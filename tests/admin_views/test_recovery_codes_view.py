"""Settings → Profile → New recovery codes, through the page: the view only speaks
HTTP (``profile.renew_recovery_codes`` holds the rule)."""
from helpers import login, post_form

import factories
from backoffice.models import AuditLog
from backoffice.security import new_totp_secret
from factories import PASSWORD

URL = "/admin/settings/second-factor/recovery-codes/"


def renewals():
    return AuditLog.select().where(AuditLog.action == "user.recovery_codes_new").count()


def test_new_recovery_codes_need_the_current_password(client, conn):
    owner = factories.user("merchant_owner", factories.merchant(), totp_secret=new_totp_secret())
    assert login(client, owner).status_code == 302
    wrong = post_form(client, "/admin/settings/", URL, {"password": "not the password"})
    assert wrong.status_code == 400 and "The current password is wrong." in wrong.get_data(as_text=True)
    assert renewals() == 0
    right = post_form(client, "/admin/settings/", URL, {"password": PASSWORD})
    assert right.status_code == 200 and right.get_data(as_text=True).count("<li><code>") == 10
    assert renewals() == 1
