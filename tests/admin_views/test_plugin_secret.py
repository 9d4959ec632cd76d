"""Settings → System, Plugin secret (SPEC §13): the key of ``data-signature`` v2.

Rotating shows the new secret once; the previous one keeps signing for 24 hours (the
page says until when, in the viewer's time zone), then only the new one does. Owners
and operators rotate (the same role-table entry as the API key); merchant staff get
403; a merchant rotates only its own; every rotation is in the audit log, without the
secrets.
"""
import datetime
import re
import time

import pytest
from conftest import csrf_from
from helpers import login, post_form

import factories
from backoffice import models
from backoffice.i18n import zone
from backoffice.models import AuditLog, Merchant, utcnow
from backoffice.plugin_builder.signing import label_signature_v2, signature_ok

SYSTEM = "/admin/settings/system/"
ROTATE = "/admin/settings/system/rotate-plugin-secret/"


@pytest.fixture
def shop(conn):
    a = factories.merchant(name="Alpha", timezone="Asia/Dhaka")
    b = factories.merchant(name="Bravo", timezone="UTC")
    return dict(a=a, b=b, owner=factories.user("merchant_owner", a), staff=factories.user("merchant_staff", a),
                operator=factories.user("operator", timezone="Asia/Karachi"),
                other_owner=factories.user("merchant_owner", b))


def text(response):
    return response.get_data(as_text=True)


def shown_secret(response):
    found = re.search(r'data-testid="new-plugin-secret">.*?<code[^>]*>([^<]+)</code>', text(response), re.S)
    assert found, "the new plugin secret is not shown"
    return found.group(1)


def signs(merchant, secret, label="user-42", order_id=None):
    """Whether a v2 signature made with ``secret`` passes the server's check for ``merchant``."""
    signature = label_signature_v2(secret, label, order_id, int(time.time()) + 600)
    return signature_ok(Merchant.get_by_id(merchant.id), label, order_id, signature)


def local(value, tz):
    return value.replace(tzinfo=datetime.timezone.utc).astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S")


def test_rotation_shows_the_new_secret_once_and_the_old_one_signs_for_24_hours(client, shop, monkeypatch):
    a = shop["a"]
    old = Merchant.get_by_id(a.id).plugin_secret
    assert old and signs(a, old)
    login(client, shop["owner"])
    page = text(client.get(SYSTEM))
    assert 'data-testid="plugin-secret-about"' in page and "data-signature" in page and "API key" in page
    assert old not in page and a.api_key not in page  # no secret on the page

    response = post_form(client, SYSTEM, ROTATE, {})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new = shown_secret(response)
    fresh = Merchant.get_by_id(a.id)
    assert new == fresh.plugin_secret and new != old and fresh.plugin_secret_previous == old
    until = fresh.plugin_secret_previous_until
    assert datetime.timedelta(hours=23, minutes=59) < until - utcnow() <= datetime.timedelta(hours=24)
    # Until when, in the viewer's time zone (the merchant's: Asia/Dhaka, UTC+6).
    notice = re.search(r'data-testid="new-plugin-secret">(.*?)</div>', text(response), re.S).group(1)
    assert "24 hours" in notice and local(until, "Asia/Dhaka") in notice and "Dhaka, UTC+06:00" in notice

    # Shown once: the page afterwards names only until when the previous one works.
    later = text(client.get(SYSTEM))
    assert new not in later and old not in later
    assert local(until, "Asia/Dhaka") in re.search(r'data-testid="plugin-secret-overlap">(.*?)</p>', later,
                                                  re.S).group(1)

    # Both sign now; the API key never did.
    assert signs(a, new) and signs(a, old) and not signs(a, a.api_key)
    # 24 hours later only the new one does.
    monkeypatch.setattr(models, "_clock", lambda: until + datetime.timedelta(seconds=1))
    assert signs(a, new) and not signs(a, old)
    assert 'data-testid="plugin-secret-overlap"' not in text(client.get(SYSTEM))


def test_a_second_rotation_drops_the_first_secret(client, shop):
    a = shop["a"]
    first = Merchant.get_by_id(a.id).plugin_secret
    login(client, shop["owner"])
    second = shown_secret(post_form(client, SYSTEM, ROTATE, {}))
    third = shown_secret(post_form(client, SYSTEM, ROTATE, {}))
    assert signs(a, third) and signs(a, second) and not signs(a, first)


def test_rotation_is_in_the_audit_log_without_the_secrets(client, shop):
    a = shop["a"]
    old = Merchant.get_by_id(a.id).plugin_secret
    login(client, shop["owner"])
    new = shown_secret(post_form(client, SYSTEM, ROTATE, {}))
    entry = AuditLog.get(AuditLog.action == "merchant.rotate_plugin_secret")
    assert entry.merchant_id == a.id and entry.user_id == shop["owner"].id
    for row in AuditLog.select():
        assert new not in str(row.summary) and old not in str(row.summary)


def test_staff_get_403_and_nothing_changes(client, shop):
    a = shop["a"]
    old = Merchant.get_by_id(a.id).plugin_secret
    login(client, shop["staff"])
    token = csrf_from(client.get("/admin/settings/"))
    response = client.post(ROTATE, data={"csrf_token": token})
    assert response.status_code == 403
    assert Merchant.get_by_id(a.id).plugin_secret == old
    assert not AuditLog.select().where(AuditLog.action == "merchant.rotate_plugin_secret").exists()


def test_signed_out_goes_to_the_login_page(client, shop):
    response = client.post(ROTATE, data={"csrf_token": csrf_from(client.get("/login"))})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_merchant_cannot_rotate_another_merchants_secret(client, shop):
    a, b = shop["a"], shop["b"]
    old_a, old_b = Merchant.get_by_id(a.id).plugin_secret, Merchant.get_by_id(b.id).plugin_secret
    login(client, shop["owner"])
    token = csrf_from(client.get(SYSTEM))
    response = client.post(ROTATE + f"?merchant={b.id}", data={"csrf_token": token, "merchant": b.id})
    # The owner's own merchant is the only one it can name: Bravo's secret is untouched.
    assert response.status_code == 200
    assert Merchant.get_by_id(b.id).plugin_secret == old_b
    assert Merchant.get_by_id(b.id).plugin_secret_previous is None
    assert Merchant.get_by_id(a.id).plugin_secret != old_a
    assert shown_secret(response) == Merchant.get_by_id(a.id).plugin_secret
    entries = list(AuditLog.select().where(AuditLog.action == "merchant.rotate_plugin_secret"))
    assert [e.merchant_id for e in entries] == [a.id]


def test_the_rotation_needs_the_csrf_token(client, shop):
    a = shop["a"]
    old = Merchant.get_by_id(a.id).plugin_secret
    login(client, shop["owner"])
    assert client.post(ROTATE).status_code == 400
    assert Merchant.get_by_id(a.id).plugin_secret == old


def test_operator_rotates_a_chosen_merchants_secret(client, shop):
    a, b = shop["a"], shop["b"]
    old_a = Merchant.get_by_id(a.id).plugin_secret
    login(client, shop["operator"])
    page = text(client.get(SYSTEM + f"?merchant={b.id}"))
    assert f'action="{ROTATE}?merchant={b.id}"' in page
    response = post_form(client, SYSTEM + f"?merchant={b.id}", ROTATE + f"?merchant={b.id}", {})
    fresh = Merchant.get_by_id(b.id)
    assert response.status_code == 200 and shown_secret(response) == fresh.plugin_secret
    # The operator's own time zone (Asia/Karachi), not the merchant's.
    assert local(fresh.plugin_secret_previous_until, "Asia/Karachi") in text(response)
    assert Merchant.get_by_id(a.id).plugin_secret == old_a
    entry = AuditLog.get(AuditLog.action == "merchant.rotate_plugin_secret")
    assert entry.merchant_id == b.id and entry.user_id == shop["operator"].id
    # No merchant chosen: nothing to rotate.
    assert post_form(client, SYSTEM + f"?merchant={b.id}", ROTATE, {}).status_code == 404
