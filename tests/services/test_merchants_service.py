"""services.merchants and services.connectors: the rules the operator screens call.

Merchant creation and edits (keys, checks, audit), a user's language, the merchant
payment settings check, connector tokens (only the digest stored, audited).
"""
from decimal import Decimal

import pytest

import factories
from backoffice.models import AuditLog, ConnectorToken, Merchant, User
from backoffice.security import token_digest
from backoffice.services import connectors
from backoffice.services import merchants as service
from backoffice.services.webhooks import endpoints_of


def entries(action):
    return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id))


# --- merchants ---------------------------------------------------------------------------

def test_create_merchant_makes_its_keys_and_an_audit_entry(ctx):
    operator = factories.user("operator")
    m = service.create_merchant("  New shop ", operator.id, timezone="Asia/Dhaka", ip="10.0.0.1",
                                default_display_currency="BDT")
    m = Merchant.get_by_id(m.id)
    assert m.name == "New shop" and m.timezone == "Asia/Dhaka" and m.default_display_currency == "BDT" and m.active
    assert m.public_key.startswith("pk_") and m.api_key.startswith("sk_")
    assert endpoints_of(m) == []  # webhook endpoints (and their secrets) are the merchant's to add
    other = service.create_merchant("Other shop", operator.id)
    assert len({m.public_key, other.public_key}) == 2 and len({m.api_key, other.api_key}) == 2
    [entry, _other] = entries("merchant.create")
    assert entry.merchant_id == m.id and entry.user_id == operator.id and entry.ip == "10.0.0.1"
    assert entry.object_type == "merchant" and entry.object_id == str(m.id)
    assert entry.summary == {"after": {"name": "New shop", "timezone": "Asia/Dhaka",
                                       "default_display_currency": "BDT"}}
    assert m.api_key not in str(entry.summary)


@pytest.mark.parametrize("name, timezone, currency, field", [
    ("", "UTC", "USD", "name"),
    ("x" * 201, "UTC", "USD", "name"),
    ("Shop", "Mars/Olympus", "USD", "timezone"),
    ("Shop", "UTC", "DOLLAR", "default_display_currency"),
])
def test_create_merchant_refuses_bad_fields_by_name(ctx, name, timezone, currency, field):
    with pytest.raises(service.SettingsError) as caught:
        service.create_merchant(name, None, timezone=timezone, default_display_currency=currency)
    assert set(caught.value.errors) == {field}
    assert Merchant.select().count() == 0 and AuditLog.select().count() == 0


def test_edit_merchant_audits_only_what_changed(ctx):
    m = factories.merchant(name="Shop", timezone="UTC")
    assert service.edit_merchant(m, None, "Shop", "UTC", "USD") == {}
    assert entries("merchant.edit") == []
    changed = service.edit_merchant(m, None, "Shop two", "Asia/Dhaka", "USD", ip="10.0.0.2")
    assert changed == {"name": "Shop two", "timezone": "Asia/Dhaka"}
    fresh = Merchant.get_by_id(m.id)
    assert (fresh.name, fresh.timezone) == ("Shop two", "Asia/Dhaka") and m.timezone == "Asia/Dhaka"
    [entry] = entries("merchant.edit")
    assert entry.summary == {"before": {"name": "Shop", "timezone": "UTC"},
                             "after": {"name": "Shop two", "timezone": "Asia/Dhaka"}}
    with pytest.raises(service.SettingsError) as caught:
        service.edit_merchant(m, None, "Shop two", "Nowhere/City", "USD")
    assert set(caught.value.errors) == {"timezone"} and Merchant.get_by_id(m.id).timezone == "Asia/Dhaka"


def test_set_user_language_is_checked_and_audited(ctx):
    m = factories.merchant()
    user = factories.user("merchant_owner", m, language="en")
    assert service.set_user_language(user, "en", None) is False
    assert service.set_user_language(user, "ru", None, ip="10.0.0.3") is True
    assert User.get_by_id(user.id).language == "ru"
    [entry] = entries("user.edit")
    assert entry.merchant_id == m.id and entry.summary == {"before": {"language": "en"}, "after": {"language": "ru"}}
    with pytest.raises(service.SettingsError) as caught:
        service.set_user_language(user, "xx", None)
    assert set(caught.value.errors) == {"language"} and User.get_by_id(user.id).language == "ru"


# --- merchant payment settings -------------------------------------------------------------

def test_payment_settings_check_names_the_faulty_field(ctx):
    assert service.check_payment_settings(Decimal("500"), Decimal("2.5")) == (Decimal("500"), Decimal("2.5"))
    assert service.check_payment_settings("0", "100") == (Decimal("0"), Decimal("100"))
    for minimum, commission, fields in [
        (Decimal("-5"), Decimal("2.5"), {"min_deposit"}),
        (None, Decimal("2.5"), {"min_deposit"}),
        ("abc", Decimal("2.5"), {"min_deposit"}),
        (Decimal("500"), Decimal("150"), {"commission_percent"}),
        (Decimal("500"), Decimal("-0.01"), {"commission_percent"}),
        (Decimal("500"), None, {"commission_percent"}),
        (Decimal("-1"), Decimal("101"), {"min_deposit", "commission_percent"}),
    ]:
        with pytest.raises(service.SettingsError) as caught:
            service.check_payment_settings(minimum, commission)
        assert set(caught.value.errors) == fields, (minimum, commission)
    with pytest.raises(service.SettingsError) as caught:
        service.check_payment_settings(Decimal("500"), Decimal("150"))
    assert "commission" in caught.value.errors["commission_percent"]


# --- connector tokens ----------------------------------------------------------------------

def test_issue_token_stores_only_its_digest_and_audits(ctx):
    factories.payment_system("bkash", "BDT")
    factories.payment_system("nagad", "BDT")
    operator = factories.user("operator")
    token, row = connectors.issue_token(" bKash connector ", ["nagad", "bkash", "nagad"], operator.id, ip="10.0.0.4")
    row = ConnectorToken.get_by_id(row.id)
    assert row.name == "bKash connector" and row.payment_systems == ["bkash", "nagad"] and row.active
    assert row.token_hash == token_digest(token) and token not in str(row.__data__.values())
    [entry] = entries("connector_token.issue")
    assert entry.user_id == operator.id and entry.ip == "10.0.0.4" and entry.object_id == str(row.id)
    assert entry.summary == {"name": "bKash connector", "payment_systems": ["bkash", "nagad"]}
    assert token not in str(entry.summary) and row.token_hash not in str(entry.summary)
    token_two, _row = connectors.issue_token("second", ["bkash"], operator.id)
    assert token_two != token


@pytest.mark.parametrize("name, codes, field", [
    ("", ["bkash"], "name"),
    ("x" * 101, ["bkash"], "name"),
    ("connector", [], "payment_systems"),
    ("connector", ["bkash", "nope"], "payment_systems"),
])
def test_issue_token_refuses_bad_fields_by_name(ctx, name, codes, field):
    factories.payment_system("bkash", "BDT")
    with pytest.raises(service.SettingsError) as caught:
        connectors.issue_token(name, codes, None)
    assert set(caught.value.errors) == {field}
    assert ConnectorToken.select().count() == 0 and AuditLog.select().count() == 0


def test_deactivate_tokens_once_each_and_audited(ctx):
    factories.payment_system("bkash", "BDT")
    _token, one = connectors.issue_token("one", ["bkash"], None)
    _token, two = connectors.issue_token("two", ["bkash"], None)
    assert connectors.deactivate_tokens([one.id], None, ip="10.0.0.5") == 1
    assert connectors.deactivate_tokens([one.id, two.id], None) == 1
    assert connectors.deactivate_tokens([one.id, two.id], None) == 0
    assert not ConnectorToken.get_by_id(one.id).active and not ConnectorToken.get_by_id(two.id).active
    assert [(e.object_id, e.summary) for e in entries("connector_token.deactivate")] == [
        (str(one.id), {"name": "one"}), (str(two.id), {"name": "two"})]
