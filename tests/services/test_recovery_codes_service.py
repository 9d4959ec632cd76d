"""``profile.renew_recovery_codes``: the current password confirms new recovery codes
(the old ones stop working), only with the second factor on, audited; a refusal
names the ``password`` field and changes and audits nothing."""
import pytest

import factories
from backoffice.models import AuditLog
from backoffice.security import new_totp_secret
from backoffice.services import profile
from backoffice.services.checks import SettingsError
from factories import PASSWORD


def renewals():
    return list(AuditLog.select().where(AuditLog.action == "user.recovery_codes_new"))


def test_renew_recovery_codes_replaces_the_codes_and_audits(ctx):
    m = factories.merchant()
    user = factories.user("merchant_owner", m, totp_secret=new_totp_secret())
    old = profile.new_recovery_codes(user)
    codes = profile.renew_recovery_codes(user, PASSWORD, ip="10.0.0.4")
    assert len(codes) == profile.RECOVERY_CODES and not set(codes) & set(old)
    assert not profile.use_recovery_code(user, old[0])
    assert profile.use_recovery_code(user, codes[0])
    [entry] = renewals()
    assert entry.user_id == user.id and entry.merchant_id == m.id and entry.ip == "10.0.0.4"
    assert not any(c in str(entry.summary) for c in codes)  # never a secret in the log


@pytest.mark.parametrize("password, second_factor", [("not the password", True), ("", True), (None, True),
                                                     (PASSWORD, False)])
def test_renew_recovery_codes_refuses_naming_the_password_field(ctx, password, second_factor):
    user = factories.user("merchant_owner", factories.merchant(),
                          totp_secret=new_totp_secret() if second_factor else None)
    old = profile.new_recovery_codes(user)
    with pytest.raises(SettingsError) as caught:
        profile.renew_recovery_codes(user, password, ip="10.0.0.4")
    assert list(caught.value.fields) == ["password"] and caught.value.fields["password"]
    assert renewals() == []
    assert profile.remaining_recovery_codes(user) == len(old)
    assert profile.use_recovery_code(user, old[0])  # the old codes still work
