"""Merchant API: POST/GET /api/v1/withdrawals over HTTP with the merchant's API key, and
the withdrawal controls (cancel, payout reference, receipt)."""
import io
from decimal import Decimal

import pytest
from PIL import Image
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

import factories
from backoffice.models import AuditLog, Balance, Event, LedgerEntry, Merchant, Withdrawal
from backoffice.services import withdrawals as service


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


# -- withdrawal controls (SPEC §14) ---------------------------------------------------------------
def _receipt_png():
    out = io.BytesIO()
    Image.new("RGB", (12, 8), (0, 128, 0)).save(out, format="PNG")
    return out.getvalue()


def test_cancel_answers_the_withdrawal_and_releases_the_hold(client, setup):
    client.post("/api/v1/withdrawals", json=body(), headers=setup["headers"])
    response = client.post("/api/v1/withdrawals/wd-0001/cancel", headers=setup["headers"])
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["status"] == "cancelled" and data["withdrawal_id"] == "wd-0001" and data["decided_at"].endswith("Z")
    assert data == client.get("/api/v1/withdrawals/wd-0001", headers=setup["headers"]).get_json()
    balance = Balance.get(Balance.merchant == setup["m"].id)
    assert (balance.available, balance.on_hold) == (Decimal("975.00"), Decimal("0.00"))
    kinds = [e.kind for e in LedgerEntry.select().where(LedgerEntry.source_type == "withdrawal")
             .order_by(LedgerEntry.id)]
    assert kinds == ["withdrawal_hold", "withdrawal_release"]
    event = Event.get(Event.object_type == "withdrawal")
    assert (event.event_type, event.merchant_id) == ("withdrawal.cancelled", setup["m"].id)
    entry = AuditLog.get(AuditLog.action == "withdrawal.cancel")
    assert entry.user_id is None and entry.merchant_id == setup["m"].id and entry.summary["by"] == "api"

    again = client.post("/api/v1/withdrawals/wd-0001/cancel", headers=setup["headers"])
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["code"] == "already_decided" and "cannot be cancelled" in error["message"]


def test_cancel_of_another_merchants_or_an_unknown_request_is_404(client, setup):
    client.post("/api/v1/withdrawals", json=body(), headers=setup["headers"])
    for wid, headers in (("wd-0001", setup["other_headers"]), ("nope", setup["headers"]), ("x" * 101, setup["headers"])):
        response = client.post(f"/api/v1/withdrawals/{wid}/cancel", headers=headers)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert client.post("/api/v1/withdrawals/wd-0001/cancel").status_code == 401
    assert Withdrawal.get().status == "new"


def test_cancel_after_approval_is_refused_and_the_reference_is_shown(client, setup):
    client.post("/api/v1/withdrawals", json=body(), headers=setup["headers"])
    wallet = factories.wallet(setup["m"], setup["systems"]["bkash"], number="01966666666")
    operator = factories.user("operator")
    with client.application.app_context():
        service.approve(Withdrawal.get(), operator, wallet, "TRX-API-1", receipt=_receipt_png())
    response = client.post("/api/v1/withdrawals/wd-0001/cancel", headers=setup["headers"])
    assert response.status_code == 409 and "approved" in response.get_json()["error"]["message"]
    data = client.get("/api/v1/withdrawals/wd-0001", headers=setup["headers"]).get_json()
    assert data["status"] == "approved" and data["payout_reference"] == "TRX-API-1"
    assert data["has_payout_receipt"] is True and data["wallet_sender"] == "01966666666"

    receipt = client.get("/api/v1/withdrawals/wd-0001/receipt", headers=setup["headers"])
    assert receipt.status_code == 200 and receipt.mimetype == "image/png"
    assert receipt.data.startswith(b"\x89PNG") and receipt.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/api/v1/withdrawals/wd-0001/receipt", headers=setup["other_headers"]).status_code == 404
    assert client.get("/api/v1/withdrawals/wd-0001/receipt").status_code == 401


def test_a_request_without_a_receipt_has_none_to_serve(client, setup):
    client.post("/api/v1/withdrawals", json=body(), headers=setup["headers"])
    data = client.get("/api/v1/withdrawals/wd-0001", headers=setup["headers"]).get_json()
    assert data["payout_reference"] is None and data["has_payout_receipt"] is False
    assert client.get("/api/v1/withdrawals/wd-0001/receipt", headers=setup["headers"]).status_code == 404


def test_openapi_documents_cancel_and_receipt(client, setup):
    doc = client.get("/api/v1/openapi.json").get_json()
    cancel = doc["paths"]["/api/v1/withdrawals/{withdrawal_id}/cancel"]["post"]
    assert {"200", "401", "403", "404", "409"} <= set(cancel["responses"])
    assert "/api/v1/withdrawals/{withdrawal_id}/receipt" in doc["paths"]
    props = doc["components"]["schemas"]["Withdrawal"]["properties"]
    assert "cancelled" in props["status"]["enum"]
    assert {"payout_reference", "has_payout_receipt"} <= set(props)
