"""Activation, stockpiling and delayed activation, as plain functions."""
import datetime
import json
from decimal import Decimal

import pytest

import factories
from backoffice.models import Event, PendingActivation, Postback, Stockpiling, Transaction, utcnow
from backoffice.services import activation
from backoffice.services.activation import ActivationError, activate
from backoffice.services.ingest import IngestConflict, IngestError, Report, ingest


HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def shop(ctx):
    bkash = factories.payment_system("bkash", "BDT")
    paytm = factories.payment_system("paytm", "INR")
    m = factories.merchant(name="Shop", postback_url=HOOK)  # one endpoint: each event is one delivery
    factories.merchant_payment_system(m, bkash, min_deposit="500.00", commission="2.50")
    factories.merchant_payment_system(m, paytm, min_deposit="300.00", commission="1.00")
    return dict(m=m, bkash=bkash, paytm=paytm, wb=factories.wallet(m, bkash), wi=factories.wallet(m, paytm))


def report(wallet, number, amount, **kw):
    ps = wallet.payment_system
    return Report(payment_system=ps.code, wallet_number=wallet.number, transaction_number=number,
                  amount=Decimal(amount), currency=ps.currency, **kw)


def payload(event):
    return json.loads(event.payload)


def test_activated_when_amount_reaches_the_minimum(shop):
    ingest(report(shop["wb"], "TXA1", "500.00"))
    outcome = activate(shop["m"], "bkash", "TXA1", "visitor-1", "order-9")
    assert outcome.status == "activated"
    assert outcome.as_json() == {"status": "activated", "amount": "500.00", "currency": "BDT"}
    tx = Transaction.get(Transaction.transaction_number == "TXA1")
    assert tx.status == "activated" and tx.label == "visitor-1" and tx.order_id == "order-9"
    assert tx.postback_status == "pending" and tx.activated_at is not None
    assert tx.commission == Decimal("12.50")
    (event,) = Event.select()
    (delivery,) = Postback.select()
    assert delivery.event_id == event.event_id and delivery.payload == event.payload
    assert delivery.endpoint_id == shop["m"].endpoint.id and delivery.status == "pending"
    body = payload(event)
    assert event.event_type == "deposit.completed" and body["type"] == "deposit.completed"
    assert body["id"] == event.event_id and body["id"].startswith("evt_")
    assert body["data"]["amount"] == "500.00" and body["data"]["commission"] == "12.50"
    assert body["data"]["label"] == "visitor-1" and body["data"]["order_id"] == "order-9"
    assert body["data"]["stockpiling_id"] is None
    assert [t["transaction_number"] for t in body["data"]["transactions"]] == ["TXA1"]


def test_activated_twice_is_already_activated(shop):
    ingest(report(shop["wb"], "TXA2", "800.00"))
    assert activate(shop["m"], "bkash", "TXA2", "visitor-1").status == "activated"
    again = activate(shop["m"], "bkash", "TXA2", "visitor-2")
    assert again.status == "already_activated"
    assert Transaction.get(Transaction.transaction_number == "TXA2").label == "visitor-1"
    assert Event.select().count() == 1


def test_not_found_without_delayed_activation(shop):
    assert activate(shop["m"], "bkash", "NOPE", "visitor-1").status == "not_found"
    assert PendingActivation.select().count() == 0


def test_fraud_and_outgoing_are_rejected(shop):
    ingest(report(shop["wb"], "OUT1", "900.00", direction="outgoing"))
    ingest(report(shop["wb"], "FRAUD1", "900.00"))
    Transaction.update(originality="fraud").where(Transaction.transaction_number == "FRAUD1").execute()
    assert activate(shop["m"], "bkash", "OUT1", "v").as_json() == {"status": "rejected", "reason": "outgoing"}
    assert activate(shop["m"], "bkash", "FRAUD1", "v").status == "rejected"
    assert Transaction.select().where(Transaction.status == "activated").count() == 0
    assert Event.select().count() == 0


def test_another_merchants_transaction_is_not_found_for_this_merchant(shop):
    # Scoped to the merchant (issue 17, class 3): no answer tells another merchant's
    # visitor that this number was received somewhere.
    other = factories.merchant(name="Other")
    factories.merchant_payment_system(other, shop["bkash"])
    ingest(report(shop["wb"], "MINE1", "900.00"))
    outcome = activate(other, "bkash", "MINE1", "thief")
    assert outcome.status == "not_found"
    assert Transaction.get(Transaction.transaction_number == "MINE1").status == "new"


def test_disabled_payment_system_is_an_input_error(shop):
    with pytest.raises(ActivationError) as err:
        activate(shop["m"], "nagad", "X", "v")
    assert err.value.field == "payment_system"


def test_exact_threshold_through_stockpiling(shop):
    ingest(report(shop["wb"], "S1", "200.00"))
    ingest(report(shop["wb"], "S2", "300.00"))
    first = activate(shop["m"], "bkash", "S1", "v1")
    assert first.as_json() == {"status": "stockpiling", "accumulated": "200.00", "required": "500.00",
                               "remaining": "300.00", "currency": "BDT"}
    second = activate(shop["m"], "bkash", "S2", "v1", "ord-7")
    assert second.status == "activated" and second.amount == Decimal("500.00")  # exactly the minimum
    sp = Stockpiling.get()
    assert sp.status == "completed" and sp.accumulated_amount == Decimal("500.00") and sp.completed_at
    members = list(Transaction.select().where(Transaction.stockpiling == sp))
    assert len(members) == 2
    assert all(t.stockpiling_end_at == sp.completed_at and t.postback_status == "pending" for t in members)
    (event,) = Event.select()
    data = payload(event)["data"]
    assert event.object_type == "stockpiling" and event.object_id == sp.id
    assert data["stockpiling_id"] == sp.id and data["amount"] == "500.00"
    assert sorted(t["transaction_number"] for t in data["transactions"]) == ["S1", "S2"]


def test_stockpiling_three_small_payments_in_two_currencies(shop):
    # BDT: min 500 -> 150 + 150 + 250; INR: min 300 -> 100 + 100 + 100. Interleaved.
    for n, (wallet, amount) in enumerate([(shop["wb"], "150.00"), (shop["wi"], "100.00"), (shop["wb"], "150.00"),
                                          (shop["wi"], "100.00"), (shop["wb"], "250.00"), (shop["wi"], "100.00")]):
        ingest(report(wallet, f"M{n}", amount))
    results = [activate(shop["m"], code, f"M{n}", "visitor").status
               for n, code in enumerate(["bkash", "paytm", "bkash", "paytm", "bkash", "paytm"])]
    assert results == ["stockpiling", "stockpiling", "stockpiling", "stockpiling", "activated", "activated"]
    sps = {sp.currency: sp for sp in Stockpiling.select()}
    assert sps["BDT"].accumulated_amount == Decimal("550.00") and sps["BDT"].status == "completed"
    assert sps["INR"].accumulated_amount == Decimal("300.00") and sps["INR"].status == "completed"
    events = [payload(p)["data"] for p in Event.select().order_by(Event.id)]
    assert [(e["currency"], e["amount"], len(e["transactions"])) for e in events] == [("BDT", "550.00", 3),
                                                                                       ("INR", "300.00", 3)]
    # A new small payment after completion opens a new stockpiling.
    ingest(report(shop["wb"], "M9", "100.00"))
    assert activate(shop["m"], "bkash", "M9", "visitor").status == "stockpiling"
    assert Stockpiling.select().where(Stockpiling.status == "in_progress").count() == 1


def test_stockpilings_are_per_label(shop):
    ingest(report(shop["wb"], "L1", "300.00"))
    ingest(report(shop["wb"], "L2", "300.00"))
    assert activate(shop["m"], "bkash", "L1", "alice").status == "stockpiling"
    assert activate(shop["m"], "bkash", "L2", "bob").status == "stockpiling"
    assert Stockpiling.select().count() == 2 and Event.select().count() == 0


def test_delayed_activation_completes_when_the_report_arrives(shop):
    m = shop["m"]
    m.delayed_activation = True
    m.save()
    outcome = activate(m, "bkash", "LATE1", "visitor-7", "ord-1")
    assert outcome.status == "pending" and outcome.expires_at > utcnow()
    assert activate(m, "bkash", "LATE1", "visitor-7").status == "pending"  # asking again
    assert activate(m, "bkash", "LATE1", "someone-else").status == "not_found"
    assert PendingActivation.select().count() == 1
    result = ingest(report(shop["wb"], "LATE1", "700.00"))
    assert result.created and result.activation.status == "activated"
    tx = Transaction.get(Transaction.transaction_number == "LATE1")
    assert tx.status == "activated" and tx.label == "visitor-7" and tx.order_id == "ord-1"
    assert PendingActivation.get().status == "activated"
    assert Event.select().count() == 1


def test_delayed_activation_expires(shop):
    m = shop["m"]
    m.delayed_activation = True
    m.pending_activation_ttl = 30
    m.save()
    start = utcnow()
    assert activate(m, "bkash", "TOO-LATE", "v", now=start).status == "pending"
    assert activation.expire_pending(now=start + datetime.timedelta(minutes=29)) == 0
    assert activation.expire_pending(now=start + datetime.timedelta(minutes=31)) == 1
    assert PendingActivation.get().status == "expired"
    result = ingest(report(shop["wb"], "TOO-LATE", "700.00"))
    assert result.activation is None
    assert Transaction.get(Transaction.transaction_number == "TOO-LATE").status == "new"


def test_ingest_is_idempotent_and_refuses_conflicts(shop):
    first = ingest(report(shop["wb"], "ID1", "640.00", counterparty="01700000001"))
    again = ingest(report(shop["wb"], "ID1", "640.00", counterparty="01700000001"))
    assert first.created and not again.created and again.transaction.id == first.transaction.id
    assert Transaction.select().count() == 1
    with pytest.raises(IngestConflict) as conflict:
        ingest(report(shop["wb"], "ID1", "999.00"))
    assert conflict.value.differences == ["amount"]
    other_wallet = factories.wallet(shop["m"], shop["bkash"])
    with pytest.raises(IngestConflict) as conflict:
        ingest(report(other_wallet, "ID1", "640.00", direction="outgoing"))
    assert conflict.value.differences == ["wallet_number", "direction"]
    assert Transaction.get().amount == Decimal("640.00")
    from backoffice.models import AuditLog

    assert AuditLog.select().where(AuditLog.action == "transaction.conflicting_report").count() == 2


def test_ingest_input_errors_name_the_field(shop):
    with pytest.raises(IngestError) as err:
        ingest(Report("nope", "1", "T", Decimal("1.00"), "BDT"))
    assert err.value.field == "payment_system"
    with pytest.raises(IngestError) as err:
        ingest(Report("bkash", shop["wb"].number, "T", Decimal("1.00"), "INR"))
    assert err.value.field == "currency"
    with pytest.raises(IngestError) as err:
        ingest(Report("bkash", "019999", "T", Decimal("1.00"), "BDT"))
    assert err.value.field == "wallet_number" and err.value.status == 422
    with pytest.raises(IngestError) as err:
        ingest(report(shop["wb"], "T", "1.00"), allowed_codes=["paytm"])
    assert err.value.status == 403
    assert Transaction.select().count() == 0
