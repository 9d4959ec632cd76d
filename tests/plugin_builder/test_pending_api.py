"""POST /plugin/api/pending: what the plugin page learns while a delayed activation
waits, and that it tells nobody else anything."""
import datetime
from decimal import Decimal

import pytest

import factories
from backoffice import create_app
from backoffice.models import PendingActivation, Transaction, utcnow
from backoffice.plugin_builder.signing import label_signature
from backoffice.services.activation import activate_waiting, expire_pending
from backoffice.services.ingest import Report, ingest


@pytest.fixture
def shop(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    merchant = factories.merchant(name="Late", delayed_activation=True)
    other = factories.merchant(name="Other", delayed_activation=True)
    for m in (merchant, other):
        factories.merchant_payment_system(m, ps, min_deposit="500.00")
    return dict(merchant=merchant, other=other, wallet=factories.wallet(merchant, ps), ps=ps)


def body(merchant, number, label="visitor", **extra):
    return dict({"merchant": merchant.public_key, "payment_system": "bkash", "transaction_number": number,
                 "label": label}, **extra)


def activate(client, merchant, number, label="visitor", **extra):
    return client.post("/plugin/api/activate", json=body(merchant, number, label, **extra)).get_json()


def ask(client, merchant, number, label="visitor", **extra):
    response = client.post("/plugin/api/pending", json=body(merchant, number, label, **extra))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def report(app, shop, number, amount):
    with app.app_context():
        return ingest(Report("bkash", shop["wallet"].number, number, Decimal(amount), "BDT"))


def test_a_waiting_deposit_is_pending_then_activated_when_the_report_arrives(app, client, shop):
    merchant = shop["merchant"]
    waiting = activate(client, merchant, "LATE-1", order_id="o-1")
    assert waiting["status"] == "pending"
    assert ask(client, merchant, "LATE-1") == {"status": "pending", "expires_at": waiting["expires_at"]}
    report(app, shop, "LATE-1", "700.00")
    assert Transaction.get(Transaction.transaction_number == "LATE-1").label == "visitor"
    assert ask(client, merchant, "LATE-1") == {"status": "activated", "amount": "700.00", "currency": "BDT"}
    # Asking changes nothing, however often.
    assert ask(client, merchant, "LATE-1") == {"status": "activated", "amount": "700.00", "currency": "BDT"}
    assert Transaction.select().count() == 1 and PendingActivation.get().status == "activated"


def test_a_small_late_payment_shows_the_stockpiling_until_it_completes(app, client, shop):
    merchant = shop["merchant"]
    assert activate(client, merchant, "LATE-S1")["status"] == "pending"
    report(app, shop, "LATE-S1", "200.00")
    assert ask(client, merchant, "LATE-S1") == {"status": "stockpiling", "accumulated": "200.00",
                                                "required": "500.00", "remaining": "300.00", "currency": "BDT"}
    report(app, shop, "LATE-S2", "350.00")
    assert activate(client, merchant, "LATE-S2") == {"status": "activated", "amount": "550.00", "currency": "BDT"}
    assert ask(client, merchant, "LATE-S1") == {"status": "activated", "amount": "550.00", "currency": "BDT"}


def test_fraud_and_expiry_are_said(app, client, shop):
    merchant = shop["merchant"]
    assert activate(client, merchant, "LATE-F")["status"] == "pending"
    # The report arrives already marked fraud (ingest would activate a normal one at
    # once): the waiting visitor is told it cannot be credited.
    fraud = factories.transaction(shop["wallet"], transaction_number="LATE-F", originality="fraud",
                                  amount="700.00")
    with app.app_context():
        assert activate_waiting(fraud).status == "rejected"
    assert ask(client, merchant, "LATE-F") == {"status": "rejected"}

    assert activate(client, merchant, "LATE-X")["status"] == "pending"
    later = utcnow() + datetime.timedelta(minutes=merchant.pending_activation_ttl + 1)
    PendingActivation.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        PendingActivation.transaction_number == "LATE-X").execute()
    assert ask(client, merchant, "LATE-X") == {"status": "expired"}  # before the sweep too
    assert expire_pending(later) >= 1
    assert ask(client, merchant, "LATE-X") == {"status": "expired"}


def test_it_tells_nobody_but_the_waiting_label(app, client, shop):
    merchant, other = shop["merchant"], shop["other"]
    assert activate(client, merchant, "LATE-2")["status"] == "pending"
    report(app, shop, "LATE-2", "900.00")
    assert ask(client, merchant, "LATE-2", label="someone-else") == {"status": "not_found"}
    assert ask(client, other, "LATE-2") == {"status": "not_found"}
    assert ask(client, merchant, "NEVER-ASKED") == {"status": "not_found"}
    # A number activated at once (no waiting) is not this endpoint's to tell either.
    report(app, shop, "NOW-1", "900.00")
    assert activate(client, merchant, "NOW-1")["status"] == "activated"
    assert ask(client, merchant, "NOW-1") == {"status": "not_found"}


def test_signed_labels_and_bad_input(app, client, shop):
    merchant = shop["merchant"]
    merchant.require_signed_labels = True
    merchant.save()
    signature = label_signature(merchant.plugin_secret, "visitor", "o-9")
    assert activate(client, merchant, "LATE-3", order_id="o-9", signature=signature)["status"] == "pending"
    unsigned = client.post("/plugin/api/pending", json=body(merchant, "LATE-3"))
    assert unsigned.status_code == 403 and unsigned.get_json()["error"]["code"] == "bad_signature"
    assert ask(client, merchant, "LATE-3", order_id="o-9", signature=signature)["status"] == "pending"
    missing = client.post("/plugin/api/pending", json={"merchant": merchant.public_key})
    assert missing.status_code == 400
    assert {d["field"] for d in missing.get_json()["error"]["details"]} == {
        "payment_system", "transaction_number", "label"}


def test_asking_is_rate_limited_per_address(app_config, shop):
    app_config.update(PLUGIN_LIMIT_PENDING="3 per minute")
    client = create_app(app_config).test_client()
    statuses = [client.post("/plugin/api/pending", json=body(shop["merchant"], "X")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
