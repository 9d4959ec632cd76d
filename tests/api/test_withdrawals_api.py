"""Merchant API: POST/GET /api/v1/withdrawals over HTTP with the merchant's API key."""
import pytest
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

import factories
from backoffice.models import AuditLog, Merchant, Withdrawal


@pytest.fixture
def setup(conn):
    systems = seed_payment_systems()
    m = factories.merchant()
    fund(m, systems["bkash"], amount="1000.00", commission="25.00")  # 975.00 BDT available
    other = factories.merchant()
    fund(other, systems["bkash"], amount="1000.00")
    return dict(systems=systems, m=m, other=other, headers={"Authorization": f"Bearer {m.api_key}"},
                other_headers={"Authorization": f"Bearer {other.api_key}"})


def body(**overrides):
    data = {"withdrawal_id": "wd-0001", "payment_system": "bkash", "amount": "500.00", "currency": "BDT",
            "label": "user-42", "fields": dict(VALID_FIELDS["bkash"]), "comment": "weekly payout"}
    data.update(overrides)
    return data


def test_create_then_same_body_is_200_then_different_body_is_409(client, setup):
    first = client.post("/api/v1/withdrawals", json=body(), headers=setup["headers"])
    assert first.status_code == 201, first.get_json()
    data = first.get_json()
    assert data["amount"] == "500.00" and data["status"] == "new" and data["request_kind"] == "api"
    assert data["withdrawal_id"] == "wd-0001" and data["payment_system"] == "bkash"
    assert data["fields"] == VALID_FIELDS["bkash"] and data["created_at"].endswith("Z")

    again = client.post("/api/v1/withdrawals", json=body(amount=500), headers=setup["headers"])
    assert again.status_code == 200 and again.get_json() == data

    conflict = client.post("/api/v1/withdrawals", json=body(amount="400.00"), headers=setup["headers"])
    assert conflict.status_code == 409
    error = conflict.get_json()["error"]
    assert error["code"] == "conflict" and error["details"] == [
        {"field": "amount", "message": "differs from the stored request"}]
    conflict = client.post("/api/v1/withdrawals", headers=setup["headers"],
                           json=body(fields=dict(VALID_FIELDS["bkash"], recipient_wallet="01799999999")))
    assert conflict.status_code == 409
    assert Withdrawal.select().count() == 1
    w = Withdrawal.get()
    assert w.request_kind == "api" and w.merchant_id == setup["m"].id
    assert AuditLog.select().where(AuditLog.action == "withdrawal.create").count() == 1


def test_field_errors_are_400_with_dotted_paths(client, setup):
    response = client.post("/api/v1/withdrawals", headers=setup["headers"], json=body(
        fields={"recipient_wallet": "0171234567", "bank_name": "X"}))
    assert response.status_code == 400
    details = response.get_json()["error"]["details"]
    assert {d["field"] for d in details} == {"fields.recipient_wallet", "fields.bank_name"}
    response = client.post("/api/v1/withdrawals", headers=setup["headers"], json=body(fields={}))
    assert response.status_code == 400
    assert response.get_json()["error"]["details"] == [{"field": "fields.recipient_wallet", "message": "is required"}]
    response = client.post("/api/v1/withdrawals", headers=setup["headers"],
                           json=body(amount="1e3", currency="INR", label="", payment_system="nope", extra=1))
    fields = {d["field"] for d in response.get_json()["error"]["details"]}
    assert response.status_code == 400 and fields == {"amount", "label", "payment_system", "extra"}
    response = client.post("/api/v1/withdrawals", headers=setup["headers"], json=body(currency="INR"))
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == "currency"
    assert client.post("/api/v1/withdrawals", headers=setup["headers"], data="[]",
                       content_type="application/json").status_code == 400
    assert Withdrawal.select().count() == 0


def test_over_the_balance_is_422_stating_the_available_amount(client, setup):
    response = client.post("/api/v1/withdrawals", json=body(amount="975.01"), headers=setup["headers"])
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_balance" and "975.00 BDT" in error["message"]
    assert error["details"][0]["field"] == "amount"
    assert client.post("/api/v1/withdrawals", json=body(amount="975.00"),
                       headers=setup["headers"]).status_code == 201
    assert Withdrawal.select().count() == 1


def test_get_reads_own_requests_only(client, setup):
    client.post("/api/v1/withdrawals", json=body(), headers=setup["headers"])
    own = client.get("/api/v1/withdrawals/wd-0001", headers=setup["headers"])
    assert own.status_code == 200 and own.get_json()["amount"] == "500.00"
    assert client.get("/api/v1/withdrawals/wd-0001", headers=setup["other_headers"]).status_code == 404
    assert client.get("/api/v1/withdrawals/nope", headers=setup["headers"]).status_code == 404
    # The other merchant's own request with the same id is theirs, not ours.
    mine = client.post("/api/v1/withdrawals", json=body(amount="100.00"), headers=setup["other_headers"])
    assert mine.status_code == 201
    assert client.get("/api/v1/withdrawals/wd-0001", headers=setup["headers"]).get_json()["amount"] == "500.00"


def test_api_key_is_required_and_a_disabled_merchant_is_403(client, setup):
    assert client.post("/api/v1/withdrawals", json=body()).status_code == 401
    bad = client.post("/api/v1/withdrawals", json=body(), headers={"Authorization": "Bearer sk_nope"})
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/withdrawals/wd-0001").status_code == 401
    Merchant.update(active=False).where(Merchant.id == setup["m"].id).execute()
    assert client.post("/api/v1/withdrawals", json=body(), headers=setup["headers"]).status_code == 403
    assert client.get("/api/v1/withdrawals/wd-0001", headers=setup["headers"]).status_code == 403
    assert Withdrawal.select().count() == 0


def test_openapi_documents_both_endpoints(client, setup):
    doc = client.get("/api/v1/openapi.json").get_json()
    post = doc["paths"]["/api/v1/withdrawals"]["post"]
    assert {"200", "201", "400", "401", "403", "409", "422"} <= set(post["responses"])
    assert "get" in doc["paths"]["/api/v1/withdrawals/{withdrawal_id}"]
    assert "WithdrawalRequest" in doc["components"]["schemas"]
