"""The settings services: ``webhooks`` (an endpoint's secret rotation and signatures),
``merchant_settings`` (origins, system settings), ``profile`` (recovery codes) and
``checks`` (common passwords)."""
import datetime
import json

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import factories
from http_receiver import jobs, receiver  # noqa: F401 - fixtures
from backoffice.models import AuditLog, Merchant, Postback, WebhookEndpoint, utcnow
from backoffice.services import checks, merchant_settings, postbacks, profile, webhooks


def verifies(secret, headers, body):
    try:
        Webhook(secret).verify(body, headers)
        return True
    except WebhookVerificationError:
        return False


def test_secret_rotation_signs_with_both_secrets_during_the_grace_period_only(ctx):
    m = factories.merchant(postback_url="http://127.0.0.1:9/hook")
    operator = factories.user("operator")
    old = m.postback_secret
    now = utcnow()
    new = webhooks.rotate_secret(m.endpoint, operator, now=now)
    endpoint = WebhookEndpoint.get_by_id(m.endpoint.id)
    assert endpoint.secret == new != old and endpoint.previous_secret == old
    body = json.dumps({"id": "evt_1", "type": "test", "data": {}})

    during = postbacks.signature_headers(webhooks.signing_secrets(endpoint, now=now + datetime.timedelta(hours=23)),
                                         "evt_1", body)
    assert len(during["webhook-signature"].split(" ")) == 2
    assert verifies(new, during, body) and verifies(old, during, body)

    after = postbacks.signature_headers(webhooks.signing_secrets(endpoint, now=now + datetime.timedelta(hours=25)),
                                        "evt_1", body)
    assert len(after["webhook-signature"].split(" ")) == 1
    assert verifies(new, after, body) and not verifies(old, after, body)
    entry = AuditLog.get(AuditLog.action == "webhook_endpoint.rotate_secret")
    assert entry.merchant_id == m.id and entry.user_id == operator.id
    assert new not in str(entry.summary) and old not in str(entry.summary)


def received(receiver):
    """The requests the receiver got: (lower-cased headers, body) each."""
    return [({k.lower(): v for k, v in r["headers"].items()}, r["body"]) for r in receiver.requests]


def test_delivered_postbacks_carry_both_signatures_during_the_grace_period_only(ctx, receiver, jobs):
    """What the merchant's server gets right after a rotation verifies with either secret;
    once the grace period is over, with the new secret only."""
    m = factories.merchant(postback_url=receiver.url)
    old = m.postback_secret
    new = webhooks.rotate_secret(m.endpoint, None)
    pb = postbacks.send_test(m)
    jobs()

    [(headers, body)] = received(receiver)
    assert body == pb.payload.encode() and headers["webhook-id"] == pb.event_id
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verifies(new, headers, body) and verifies(old, headers, body)
    assert not verifies(factories.merchant().postback_secret, headers, body)
    assert Postback.get(Postback.event_id == pb.event_id).status == "sent"

    # A rotation whose 24-hour grace period is over: the secret it replaced signs no more.
    late = factories.merchant(postback_url=receiver.url)
    late_old = late.postback_secret
    late_new = webhooks.rotate_secret(late.endpoint, None, now=utcnow() - datetime.timedelta(hours=25))
    pb = postbacks.send_test(late)
    jobs()

    assert len(receiver.requests) == 2
    headers, body = received(receiver)[1]
    assert headers["webhook-id"] == pb.event_id
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert verifies(late_new, headers, body) and not verifies(late_old, headers, body)
    assert Postback.get(Postback.event_id == pb.event_id).status == "sent"


@pytest.mark.parametrize("text, expected", [
    ("https://shop.example.com", ["https://shop.example.com"]),
    ("HTTPS://Shop.Example.com:443/\nhttp://localhost:8080", ["https://shop.example.com", "http://localhost:8080"]),
    ("https://a.example, https://a.example", ["https://a.example"]),
    ("http://127.0.0.1:3000", ["http://127.0.0.1:3000"]),
    ("https://xn--80aaxitdbjk.xn--p1ai", ["https://xn--80aaxitdbjk.xn--p1ai"]),
    ("", []),
])
def test_origins_are_normalised(ctx, text, expected):
    assert merchant_settings.parse_origins(text) == expected


@pytest.mark.parametrize("text", ["shop.example.com", "ftp://shop.example.com", "https://shop.example.com/path",
                                  "https://user:pw@shop.example.com", "https://*.example.com",
                                  "https://shop.example.com?x=1", "javascript:alert(1)", "https://", "http://[::1]:3000",
                                  "https://магазин.рф", "https://shop..example.com"])
def test_bad_origins_are_refused(ctx, text):
    with pytest.raises(checks.SettingsError) as info:
        merchant_settings.parse_origins(text)
    assert "allowed_origins" in info.value.errors


def test_common_passwords_come_from_the_bundled_list(ctx):
    assert "password123" in checks.common_passwords() and len(checks.common_passwords()) > 150
    with pytest.raises(checks.SettingsError):
        checks.check_not_common("QWERTYUIOP")
    checks.check_not_common("a brand new passphrase")


def test_recovery_codes_work_once_and_are_stored_hashed(ctx):
    user = factories.user("merchant_owner", factories.merchant())
    codes = profile.new_recovery_codes(user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert profile.use_recovery_code(user, codes[3])
    assert not profile.use_recovery_code(user, codes[3])
    assert profile.use_recovery_code(user, codes[4].replace("-", " ").upper())
    assert not profile.use_recovery_code(user, "zzzz-zzzz-zzzz-zzzz")
    other = factories.user("merchant_owner", factories.merchant())
    assert not profile.use_recovery_code(other, codes[5])
    assert profile.remaining_recovery_codes(user) == 8
    # New codes replace the old ones.
    profile.new_recovery_codes(user)
    assert not profile.use_recovery_code(user, codes[5])


def test_update_system_ignores_operator_fields_for_merchants(ctx):
    m = factories.merchant()
    owner = factories.user("merchant_owner", m)
    changes = merchant_settings.update_system(m, {"delayed_activation": True, "pending_activation_ttl": 5,
                                        "api_key": "sk_mine", "timezone": "Asia/Dhaka"}, owner.id)
    assert changes == {"timezone": "Asia/Dhaka"}
    fresh = Merchant.get_by_id(m.id)
    assert fresh.delayed_activation is False and fresh.pending_activation_ttl == 30 and fresh.api_key == m.api_key


def test_redirect_needs_a_url(ctx):
    m = factories.merchant()
    with pytest.raises(checks.SettingsError) as info:
        merchant_settings.update_system(m, {"after_payment": "redirect", "after_payment_url": ""}, None)
    assert "after_payment_url" in info.value.errors
    assert Merchant.get_by_id(m.id).after_payment == "message"


def test_redirect_url_must_be_on_an_allowed_origin(ctx):
    m = factories.merchant()
    changes = merchant_settings.update_system(m, {"after_payment": "redirect", "after_payment_url": "https://shop.example.com/ok",
                                        "allowed_origins": "https://shop.example.com"}, None)
    assert changes["after_payment"] == "redirect"
    with pytest.raises(checks.SettingsError) as info:
        merchant_settings.update_system(m, {"after_payment_url": "https://other.example.com/ok"}, None)
    assert "after_payment_url" in info.value.errors
    assert Merchant.get_by_id(m.id).after_payment_url == "https://shop.example.com/ok"
