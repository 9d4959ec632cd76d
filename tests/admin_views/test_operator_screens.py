"""Operator screens of the deposits core: connector tokens, merchant payment settings."""
from decimal import Decimal

import pytest
from helpers import login, post_form

import factories
from backoffice.models import AuditLog, ConnectorToken, MerchantPaymentSystem
from backoffice.security import token_digest


@pytest.fixture
def operator_client(client, conn):
    factories.payment_system("bkash", "BDT")
    factories.payment_system("paytm", "INR")
    login(client, factories.user("operator"))
    return client


def test_issue_a_connector_token_shown_once(operator_client):
    url = "/admin/connector_tokens/issue/"
    page = post_form(operator_client, url, url, {"name": "bKash connector", "payment_systems": ["bkash"]})
    text = page.get_data(as_text=True)
    token = text.split('data-testid="connector-token">')[1].split("<")[0]
    row = ConnectorToken.get()
    assert row.token_hash == token_digest(token) and row.payment_systems == ["bkash"]
    assert token not in operator_client.get(f"/admin/connector_tokens/details/?id={row.id}").get_data(as_text=True)
    assert token not in operator_client.get("/admin/connector_tokens/").get_data(as_text=True)
    assert AuditLog.get().action == "connector_token.issue"
    # The token works against the connector API, and stops when deactivated.
    headers = {"Authorization": f"Bearer {token}"}
    assert operator_client.post("/api/v1/ps/transactions", json={}, headers=headers).status_code == 400
    post_form(operator_client, "/admin/connector_tokens/", "/admin/connector_tokens/action/",
              {"action": "deactivate", "rowid": [row.id]})
    assert operator_client.post("/api/v1/ps/transactions", json={}, headers=headers).status_code == 401


def test_merchant_payment_settings_are_validated(operator_client):
    m = factories.merchant()
    ps = factories.payment_system("bkash")
    url = "/admin/merchant_payment_systems/new/"
    form = {"merchant": m.id, "payment_system": ps.id, "enabled": "y", "min_deposit": "-5",
            "commission_percent": "2.5", "display_order": "0"}
    post_form(operator_client, url, url, form)
    assert MerchantPaymentSystem.select().count() == 0
    post_form(operator_client, url, url, dict(form, min_deposit="500", commission_percent="150"))
    assert MerchantPaymentSystem.select().count() == 0
    response = post_form(operator_client, url, url, dict(form, min_deposit="500"))
    assert response.status_code == 302
    row = MerchantPaymentSystem.get()
    assert row.min_deposit == Decimal("500.00") and row.commission_percent == Decimal("2.50")


def test_merchant_users_cannot_open_these_screens(client, conn):
    m = factories.merchant()
    login(client, factories.user("merchant_owner", merchant=m))
    for url in ("/admin/connector_tokens/", "/admin/connector_tokens/issue/", "/admin/merchant_payment_systems/"):
        assert client.get(url).status_code == 403, url
