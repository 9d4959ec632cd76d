"""The operator screens only translate: service errors become form errors, service
results decide the buttons (Activate, Approve / Reject) and the audit entries are
the services' own."""
import pytest
from helpers import login, post_form

import factories
from backoffice.models import AuditLog, Merchant, MerchantPaymentSystem, User


def text(response):
    return response.get_data(as_text=True)


@pytest.fixture
def operator_client(client, conn):
    login(client, factories.user("operator"))
    return client


def test_payment_settings_errors_show_on_their_fields(operator_client):
    m = factories.merchant()
    ps = factories.payment_system("bkash")
    url = "/admin/merchant_payment_systems/new/"
    form = {"merchant": m.id, "payment_system": ps.id, "enabled": "y", "min_deposit": "500",
            "commission_percent": "150", "display_order": "0"}
    page = post_form(operator_client, url, url, form)
    assert page.status_code == 200 and MerchantPaymentSystem.select().count() == 0
    assert "The commission must be between 0 and 100 %." in text(page)
    assert "The minimum deposit must be zero or more." not in text(page)
    page = post_form(operator_client, url, url, dict(form, min_deposit="-1", commission_percent="2"))
    assert "The minimum deposit must be zero or more." in text(page) and MerchantPaymentSystem.select().count() == 0
    assert post_form(operator_client, url, url, dict(form, commission_percent="2")).status_code == 302
    assert AuditLog.get(AuditLog.action == "merchant_payment_system.create").merchant_id == m.id


def test_merchant_edit_screen_goes_through_the_service(operator_client):
    m = factories.merchant(name="Shop", timezone="UTC")
    url = f"/admin/merchants/edit/?id={m.id}"
    response = post_form(operator_client, url, url, {"name": "Shop renamed", "timezone": "Asia/Dhaka",
                                                     "default_display_currency": "USD"})
    assert response.status_code == 302, text(response)
    fresh = Merchant.get_by_id(m.id)
    assert (fresh.name, fresh.timezone) == ("Shop renamed", "Asia/Dhaka")
    assert fresh.api_key == m.api_key and fresh.public_key == m.public_key
    entry = AuditLog.get(AuditLog.action == "merchant.edit")
    assert entry.summary == {"before": {"name": "Shop", "timezone": "UTC"},
                             "after": {"name": "Shop renamed", "timezone": "Asia/Dhaka"}}
    post_form(operator_client, url, url, {"name": "Shop renamed", "timezone": "Asia/Dhaka",
                                          "default_display_currency": "USD"})
    assert AuditLog.select().where(AuditLog.action == "merchant.edit").count() == 1  # nothing changed: no entry


def test_user_language_edit_is_audited(operator_client):
    owner = factories.user("merchant_owner", factories.merchant(), language="en")
    url = f"/admin/users/edit/?id={owner.id}"
    assert post_form(operator_client, url, url, {"language": "ru"}).status_code == 302
    assert User.get_by_id(owner.id).language == "ru"
    assert AuditLog.get(AuditLog.action == "user.edit").summary == {"before": {"language": "en"},
                                                                   "after": {"language": "ru"}}


def test_connector_token_issue_errors_show_on_the_form(operator_client):
    factories.payment_system("bkash")
    url = "/admin/connector_tokens/issue/"
    page = post_form(operator_client, url, url, {"name": "   ", "payment_systems": ["bkash"]})
    assert page.status_code == 200 and 'data-testid="connector-token"' not in text(page)
    assert AuditLog.select().count() == 0


def test_activate_button_follows_the_activation_rule(operator_client):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant()
    wallet = factories.wallet(m, ps)
    cases = {"new": ({}, True), "activated": ({"status": "activated"}, False),
             "outgoing": ({"direction": "outgoing"}, False), "fraud": ({"originality": "fraud"}, False)}
    for name, (fields, shown) in cases.items():
        tx = factories.transaction(wallet, **fields)
        page = text(operator_client.get(f"/admin/transactions/details/?id={tx.id}"))
        assert (f"/admin/transactions/activate/?id={tx.id}" in page) is shown, name


def test_decide_page_groups_by_merchant_and_payment_system(operator_client):
    bkash = factories.payment_system("bkash", "BDT")
    a, b = factories.merchant(name="Shop A"), factories.merchant(name="Shop B")
    factories.wallet(a, bkash)
    factories.wallet(b, bkash)
    ids = [factories.withdrawal(a, bkash).id, factories.withdrawal(b, bkash).id, factories.withdrawal(a, bkash).id,
           factories.withdrawal(a, bkash, status="rejected", withdrawal_id="DONE-1").id]
    page = text(operator_client.get("/admin/withdrawals/decide/", query_string={"decision": "approve", "id": ids}))
    assert page.count('class="card mb-3"') == 2
    assert f'name="wallet_{a.id}_{bkash.id}"' in page and f'name="wallet_{b.id}_{bkash.id}"' in page
    assert "DONE-1" in page  # listed as decided already
