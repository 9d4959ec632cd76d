"""Settings → Profile and System (issue 7), through the real pages."""
import pytest
from helpers import login, post_form

import factories
from backoffice.models import AuditLog, Merchant, RecoveryCode, User
from backoffice.security import verify_password
from factories import PASSWORD


@pytest.fixture
def shop(conn):
    m = factories.merchant(timezone="Asia/Dhaka")
    return dict(m=m, owner=factories.user("merchant_owner", m), staff=factories.user("merchant_staff", m),
                operator=factories.user("operator"))


def text(response):
    return response.get_data(as_text=True)


def actions(merchant_id=None):
    query = AuditLog.select()
    if merchant_id is not None:
        query = query.where(AuditLog.merchant == merchant_id)
    return [a.action for a in query.order_by(AuditLog.id)]


# --- profile ------------------------------------------------------------------------------

def test_wrong_old_password_is_refused(client, shop):
    login(client, shop["owner"])
    response = post_form(client, "/admin/settings/", "/admin/settings/password/", {
        "old_password": "not my password", "new_password": "a brand new passphrase",
        "new_password_again": "a brand new passphrase"})
    assert response.status_code == 400
    assert "The current password is wrong." in text(response)
    assert verify_password(User.get_by_id(shop["owner"].id).password_hash, PASSWORD)
    assert "user.change_password" not in actions()


@pytest.mark.parametrize("new, again, message", [
    ("short", "short", "at least 8 characters"),
    ("a brand new passphrase", "another passphrase!", "The two new passwords differ."),
    ("Password123", "Password123", "most common"),
])
def test_bad_new_passwords_are_refused(client, shop, new, again, message):
    login(client, shop["owner"])
    response = post_form(client, "/admin/settings/", "/admin/settings/password/", {
        "old_password": PASSWORD, "new_password": new, "new_password_again": again})
    assert response.status_code == 400 and message in text(response)
    assert verify_password(User.get_by_id(shop["owner"].id).password_hash, PASSWORD)


def test_password_change_ends_other_sessions_and_is_audited(app, client, shop):
    other = app.test_client()
    login(other, shop["owner"])
    login(client, shop["owner"])
    response = post_form(client, "/admin/settings/", "/admin/settings/password/", {
        "old_password": PASSWORD, "new_password": "a brand new passphrase",
        "new_password_again": "a brand new passphrase"})
    assert response.status_code == 302
    assert client.get("/admin/settings/").status_code == 200  # this session goes on
    assert other.get("/admin/settings/").status_code == 302  # the other one ended
    assert verify_password(User.get_by_id(shop["owner"].id).password_hash, "a brand new passphrase")
    entry = AuditLog.get(AuditLog.action == "user.change_password")
    assert entry.user_id == shop["owner"].id and "passphrase" not in str(entry.summary)


def test_language_is_saved_and_applied(client, shop):
    login(client, shop["staff"])
    response = post_form(client, "/admin/settings/", "/admin/settings/preferences/", {"language": "ru"})
    assert response.status_code == 302
    assert User.get_by_id(shop["staff"].id).language == "ru"
    page = text(client.get("/admin/settings/"))
    assert "Сменить пароль" in page and "Change password" not in page
    assert "user.profile" in actions()
    response = post_form(client, "/admin/settings/", "/admin/settings/preferences/", {"language": "xx"})
    assert response.status_code == 400 and User.get_by_id(shop["staff"].id).language == "ru"


def test_operator_sets_own_time_zone(client, shop):
    login(client, shop["operator"])
    response = post_form(client, "/admin/settings/", "/admin/settings/preferences/",
                         {"language": "en", "timezone": "Asia/Kolkata"})
    assert response.status_code == 302 and User.get_by_id(shop["operator"].id).timezone == "Asia/Kolkata"
    response = post_form(client, "/admin/settings/", "/admin/settings/preferences/",
                         {"language": "en", "timezone": "Mars/Olympus"})
    assert response.status_code == 400 and User.get_by_id(shop["operator"].id).timezone == "Asia/Kolkata"


def test_second_factor_enrolment_and_recovery_codes_work_once(app, client, shop):
    import pyotp

    owner = shop["owner"]
    login(client, owner)
    post_form(client, "/admin/settings/", "/admin/settings/second-factor/start/", {})
    page = text(client.get("/admin/settings/"))
    assert "<svg" in page and 'data-testid="totp-qr"' in page
    secret = page.split('data-testid="totp-secret">', 1)[1].split("<", 1)[0]
    wrong = post_form(client, "/admin/settings/", "/admin/settings/second-factor/confirm/", {"code": "000000"})
    assert wrong.status_code == 400 and User.get_by_id(owner.id).totp_secret is None
    response = post_form(client, "/admin/settings/", "/admin/settings/second-factor/confirm/",
                         {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    codes = [c.split("</code>")[0] for c in text(response).split("<li><code>")[1:]]
    assert len(codes) == 10 and User.get_by_id(owner.id).totp_secret == secret
    stored = [r.code_hash for r in RecoveryCode.select().where(RecoveryCode.user == owner.id)]
    assert len(stored) == 10 and not any(c.replace("-", "") in stored or c in stored for c in codes)
    assert "user.totp_enable" in actions()

    # Sign-in now asks for the second factor; a recovery code works once.
    fresh = app.test_client()
    assert login(fresh, owner, code=codes[0]).status_code == 302
    assert fresh.get("/admin/settings/").status_code == 200
    again = app.test_client()
    response = login(again, owner, code=codes[0])
    assert response.status_code == 401 and again.get("/admin/settings/").status_code == 302
    assert login(app.test_client(), owner, code=codes[1].upper()).status_code == 302
    assert "user.recovery_code_used" in actions()


# --- system -----------------------------------------------------------------------------------

def system_data(merchant, **overrides):
    data = {"after_payment": merchant.after_payment,
            "after_payment_url": merchant.after_payment_url, "timezone": merchant.timezone,
            "allowed_origins": "\n".join(merchant.allowed_origins or [])}
    data.update(overrides)
    return data


def test_staff_cannot_open_system_settings(client, shop):
    login(client, shop["staff"])
    assert client.get("/admin/settings/system/").status_code == 403
    response = post_form(client, "/admin/settings/", "/admin/settings/system/",
                         system_data(shop["m"], timezone="UTC"))
    assert response.status_code == 403
    # Webhook secrets are rotated on Settings → Webhooks, which staff cannot open either.
    assert post_form(client, "/admin/settings/", "/admin/webhooks/rotate-secret/", {}).status_code == 403
    assert post_form(client, "/admin/settings/", "/admin/settings/system/rotate-api-key/", {}).status_code == 403
    assert Merchant.get_by_id(shop["m"].id).timezone == "Asia/Dhaka"


def test_owner_saves_system_settings_with_audit(client, shop):
    m = shop["m"]
    login(client, shop["owner"])
    page = text(client.get("/admin/settings/system/"))
    assert "delayed_activation" not in page and "pending_activation_ttl" not in page
    response = post_form(client, "/admin/settings/system/", "/admin/settings/system/", system_data(
        m, after_payment="redirect",
        after_payment_url="https://shop.example.com/thanks", timezone="Asia/Kolkata",
        allowed_origins="https://shop.example.com\nhttp://localhost:8080/\nHTTPS://Shop.Example.com:443",
        require_signed_labels="y"))
    assert response.status_code == 302, text(response)
    fresh = Merchant.get_by_id(m.id)
    assert fresh.after_payment == "redirect"
    assert fresh.timezone == "Asia/Kolkata" and fresh.require_signed_labels is True
    assert fresh.allowed_origins == ["https://shop.example.com", "http://localhost:8080"]
    entry = AuditLog.get(AuditLog.action == "merchant.settings")
    assert entry.summary["before"]["timezone"] == "Asia/Dhaka" and entry.summary["after"]["timezone"] == "Asia/Kolkata"
    assert entry.merchant_id == m.id and entry.user_id == shop["owner"].id


def test_merchant_posting_delayed_activation_changes_nothing(client, shop):
    m = shop["m"]
    login(client, shop["owner"])
    response = post_form(client, "/admin/settings/system/", "/admin/settings/system/",
                         system_data(m, delayed_activation="on", pending_activation_ttl="999"))
    assert response.status_code == 302
    fresh = Merchant.get_by_id(m.id)
    assert fresh.delayed_activation is False and fresh.pending_activation_ttl == 30
    assert "merchant.settings" not in actions()


def test_operator_sets_delayed_activation_for_a_merchant(client, shop):
    m = shop["m"]
    login(client, shop["operator"])
    assert m.name in text(client.get("/admin/settings/system/"))  # the merchant choice
    url = f"/admin/settings/system/?merchant={m.id}"
    assert "pending_activation_ttl" in text(client.get(url))
    response = post_form(client, url, url, system_data(m, delayed_activation="y", pending_activation_ttl="45"))
    assert response.status_code == 302
    fresh = Merchant.get_by_id(m.id)
    assert fresh.delayed_activation is True and fresh.pending_activation_ttl == 45
    entry = AuditLog.get(AuditLog.action == "merchant.settings")
    assert entry.summary["after"] == {"delayed_activation": True, "pending_activation_ttl": 45}
    bad = post_form(client, url, url, system_data(m, delayed_activation="y", pending_activation_ttl="0"))
    assert bad.status_code == 400 and Merchant.get_by_id(m.id).pending_activation_ttl == 45


@pytest.mark.parametrize("field, value, message", [
    ("allowed_origins", "https://shop.example.com\nhttps://shop.example.com/path", "Line 2"),
    ("allowed_origins", "javascript:alert(1)", "Line 1"),
    ("timezone", "Mars/Olympus", "Choose a time zone from the list."),
    ("after_payment_url", "javascript:alert(1)", "http(s)"),
    ("after_payment_url", "https://elsewhere.example.net/thanks", "on one of the allowed origins"),
])
def test_bad_system_input_names_the_field_and_saves_nothing(app, client, shop, field, value, message):
    app.config["ALLOW_PRIVATE_POSTBACKS"] = False
    m = shop["m"]
    login(client, shop["owner"])
    data = system_data(m, **{"after_payment": "redirect", "after_payment_url": "https://shop.example.com/ok",
                             "allowed_origins": "https://shop.example.com", field: value,
                             "require_signed_labels": "y"})
    response = post_form(client, "/admin/settings/system/", "/admin/settings/system/", data)
    assert response.status_code == 400
    assert message in text(response)
    fresh = Merchant.get_by_id(m.id)
    assert fresh.require_signed_labels is False and fresh.timezone == "Asia/Dhaka"
    assert fresh.after_payment == "message" and fresh.allowed_origins == []
    # The page keeps what was typed, so nothing is lost.
    assert "https://shop.example.com/ok" in text(response) or field == "after_payment_url"


def test_api_key_rotation_shows_the_new_value_once(client, shop):
    """(Webhook secrets: test_webhooks_view.py, Settings → Webhooks.)"""
    m = shop["m"]
    old_key = m.api_key
    login(client, shop["owner"])
    response = post_form(client, "/admin/settings/system/", "/admin/settings/system/rotate-api-key/", {})
    fresh = Merchant.get_by_id(m.id)
    assert fresh.api_key != old_key and fresh.api_key in text(response)
    assert fresh.api_key not in text(client.get("/admin/settings/system/"))
    assert client.get("/api/v1/withdrawals/x", headers={"Authorization": f"Bearer {old_key}"}).status_code == 401
    assert client.get("/api/v1/withdrawals/x",
                      headers={"Authorization": f"Bearer {fresh.api_key}"}).status_code == 404
    assert "merchant.rotate_api_key" in actions(m.id)
    for entry in AuditLog.select():
        assert fresh.api_key not in str(entry.summary) and old_key not in str(entry.summary)


def test_system_page_links_the_test_postback_and_the_webhooks(client, shop):
    login(client, shop["owner"])
    page = text(client.get("/admin/settings/system/"))
    assert "/admin/postbacks/test/" in page
    assert 'data-testid="webhooks-link"' in page and 'href="/admin/webhooks/"' in page
    # The endpoints' URLs and secrets are no longer fields of this page.
    assert "postback_url" not in page and "rotate-secret" not in page


def test_forms_need_csrf(client, shop):
    login(client, shop["owner"])
    response = client.post("/admin/settings/system/rotate-api-key/")
    assert response.status_code == 400
    assert Merchant.get_by_id(shop["m"].id).api_key == shop["m"].api_key


# --- the plugin's default language (SPEC §13) ------------------------------------------------

def test_plugin_language_is_saved_with_audit(client, shop):
    m = shop["m"]
    login(client, shop["owner"])
    page = text(client.get("/admin/settings/system/"))
    select = page.split('name="plugin_language"', 1)[1].split("</select>", 1)[0]
    # Each language by its own name; English is every merchant's default to start with.
    for code, name in (("en", "English"), ("ru", "Русский"), ("bn", "বাংলা"), ("hi", "हिन्दी"), ("ur", "اردو")):
        assert f'<option lang="{code}" ' in select and f'value="{code}">{name}</option>' in select
    assert '<option lang="en" selected value="en">' in select
    assert "Plugin language (default)" in page
    response = post_form(client, "/admin/settings/system/", "/admin/settings/system/",
                         system_data(m, plugin_language="ur"))
    assert response.status_code == 302, text(response)
    assert Merchant.get_by_id(m.id).plugin_language == "ur"
    entry = AuditLog.get(AuditLog.action == "merchant.settings")
    assert entry.summary["before"] == {"plugin_language": "en"} and entry.summary["after"] == {"plugin_language": "ur"}
    assert '<option lang="ur" selected value="ur">' in text(client.get("/admin/settings/system/"))
    # A form without the field (an older page) leaves the language as it is.
    post_form(client, "/admin/settings/system/", "/admin/settings/system/", system_data(m, timezone="UTC"))
    assert Merchant.get_by_id(m.id).plugin_language == "ur"


@pytest.mark.parametrize("value", ["xx", "", "EN ", "ur-PK", "en\x00"])
def test_a_bad_plugin_language_is_refused_naming_the_field(client, shop, value):
    m = shop["m"]
    login(client, shop["owner"])
    response = post_form(client, "/admin/settings/system/", "/admin/settings/system/",
                         system_data(m, plugin_language=value, timezone="UTC"))
    assert response.status_code == 400
    page = text(response)
    assert "Plugin language: choose one of English, Русский, বাংলা, हिन्दी, اردو." in page
    # The message sits under the select (the field named), and nothing was saved.
    assert 'id="plugin_language-errors"' in page and 'class="form-control is-invalid" id="plugin_language"' in page
    assert 'aria-describedby="plugin-language-help plugin_language-errors"' in page
    fresh = Merchant.get_by_id(m.id)
    assert fresh.plugin_language == "en" and fresh.timezone == "Asia/Dhaka"


def test_the_service_names_the_plugin_language_field(ctx, shop):
    from backoffice.services import merchant_settings
    from backoffice.services.checks import SettingsError

    with pytest.raises(SettingsError) as refused:
        merchant_settings.update_system(shop["m"], {"plugin_language": ["ur"]}, shop["owner"].id)
    assert list(refused.value.errors) == ["plugin_language"]
    assert merchant_settings.update_system(shop["m"], {"plugin_language": "bn"}, shop["owner"].id) == \
        {"plugin_language": "bn"}
    assert Merchant.get_by_id(shop["m"].id).plugin_language == "bn"


def test_operator_sets_a_merchants_plugin_language(client, shop):
    m = shop["m"]
    login(client, shop["operator"])
    url = f"/admin/settings/system/?merchant={m.id}"
    response = post_form(client, url, url, system_data(m, plugin_language="bn"))
    assert response.status_code == 302 and Merchant.get_by_id(m.id).plugin_language == "bn"
