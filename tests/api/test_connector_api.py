"""POST /api/v1/ps/transactions over HTTP, with real bearer tokens."""
import pytest

import factories
from backoffice.models import ConnectorToken, PendingActivation, Transaction
from backoffice.security import new_connector_token, token_digest


@pytest.fixture
def setup(conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant()
    factories.merchant_payment_system(m, ps, min_deposit="500.00", commission="2.00")
    w = factories.wallet(m, ps, number="01712345678")
    token = new_connector_token()
    ConnectorToken.create(name="c", token_hash=token_digest(token), payment_systems=["bkash"])
    return dict(ps=ps, m=m, w=w, headers={"Authorization": f"Bearer {token}"})


def body(**overrides):
    data = {"payment_system": "bkash", "wallet_number": "01712345678", "transaction_number": "8N7A6D5JK2",
            "amount": "640.00", "currency": "BDT", "direction": "incoming", "counterparty": "01800000000",
            "occurred_at": "2026-11-27T10:00:00Z"}
    data.update(overrides)
    return data


def test_report_creates_then_is_idempotent_then_conflicts(client, setup):
    first = client.post("/api/v1/ps/transactions", json=body(), headers=setup["headers"])
    assert first.status_code == 201, first.get_json()
    tx = first.get_json()["transaction"]
    assert tx["amount"] == "640.00" and tx["commission"] == "12.80" and tx["status"] == "new"
    assert tx["created_at"] == "2026-11-27T10:00:00Z"
    again = client.post("/api/v1/ps/transactions", json=body(), headers=setup["headers"])
    assert again.status_code == 200 and again.get_json()["transaction"]["id"] == tx["id"]
    conflict = client.post("/api/v1/ps/transactions", json=body(amount="641.00"), headers=setup["headers"])
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["details"][0]["field"] == "amount"
    assert Transaction.select().count() == 1


def test_token_is_required_and_checked(client, setup):
    assert client.post("/api/v1/ps/transactions", json=body()).status_code == 401
    bad = client.post("/api/v1/ps/transactions", json=body(), headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "unauthorized"
    ConnectorToken.update(active=False).execute()
    assert client.post("/api/v1/ps/transactions", json=body(), headers=setup["headers"]).status_code == 401
    assert Transaction.select().count() == 0


def test_token_limited_to_its_payment_systems(client, setup):
    factories.payment_system("nagad", "BDT")
    w = factories.wallet(setup["m"], factories.payment_system("nagad"), number="01899999999")
    response = client.post("/api/v1/ps/transactions", headers=setup["headers"],
                           json=body(payment_system="nagad", wallet_number=w.number))
    assert response.status_code == 403


@pytest.mark.parametrize("bad", ["-1.00", "NaN", "1e400", "1.123", "abc", "", None, True, "Infinity", "0"])
def test_malformed_money_is_refused_with_the_field(client, setup, bad):
    response = client.post("/api/v1/ps/transactions", json=body(amount=bad), headers=setup["headers"])
    assert response.status_code == 400
    assert [d["field"] for d in response.get_json()["error"]["details"]] == ["amount"]
    assert Transaction.select().count() == 0


def test_field_errors_are_all_reported(client, setup):
    response = client.post("/api/v1/ps/transactions", headers=setup["headers"],
                           json={"payment_system": "bkash", "direction": "sideways", "occurred_at": "yesterday"})
    fields = {d["field"] for d in response.get_json()["error"]["details"]}
    assert response.status_code == 400
    assert {"wallet_number", "transaction_number", "amount", "currency", "direction", "occurred_at"} <= fields
    not_json = client.post("/api/v1/ps/transactions", data="x", headers=setup["headers"])
    assert not_json.status_code == 400 and not_json.get_json()["error"]["code"] == "invalid_json"


def test_unknown_wallet_is_422(client, setup):
    response = client.post("/api/v1/ps/transactions", json=body(wallet_number="01000000000"),
                           headers=setup["headers"])
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["field"] == "wallet_number"


def test_report_activates_a_waiting_visitor(client, setup):
    m = setup["m"]
    m.delayed_activation = True
    m.save()
    early = client.post("/plugin/api/activate", json={"merchant": m.public_key, "payment_system": "bkash",
                                                      "transaction_number": "8N7A6D5JK2", "label": "u-1"})
    assert early.get_json()["status"] == "pending"
    response = client.post("/api/v1/ps/transactions", json=body(), headers=setup["headers"])
    assert response.status_code == 201
    assert response.get_json()["activation"] == {"status": "activated", "amount": "640.00", "currency": "BDT"}
    assert PendingActivation.get().status == "activated"
    late = client.post("/plugin/api/activate", json={"merchant": m.public_key, "payment_system": "bkash",
                                                     "transaction_number": "8N7A6D5JK2", "label": "u-1"})
    assert late.get_json()["status"] == "already_activated"
