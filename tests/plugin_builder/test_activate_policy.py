"""The matching policy and the risk rules through the plugin API (SPEC §11, issue 18):
``POST /plugin/api/activate`` and ``/plugin/api/pending`` as a visitor's browser calls
them. A mismatch is no oracle (byte for byte the answer to an unknown number), every
refusal is in the attempt log with its reason and credits nothing, a held deposit shows
as ``pending`` until an operator decides.

Tests start with empty tables (no default policy row: the number alone); each sets the
policy it is about."""
import datetime
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest

import factories
from backoffice import create_app
from backoffice.models import (
    ActivationAttempt,
    DepositReview,
    Event,
    LedgerEntry,
    PendingActivation,
    Postback,
    Transaction,
    utcnow,
)
from backoffice.plugin_builder.signing import label_signature
from backoffice.services import activation, ledger, matching, review, risk
from backoffice.services.ingest import Report, ingest

SENDER = "01712345678"
RIGHT, WRONG = "5678", "1234"


@pytest.fixture
def shop(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    a = factories.merchant(name="A", postback_url="http://127.0.0.1:9/a")
    b = factories.merchant(name="B", postback_url="http://127.0.0.1:9/b")
    for m in (a, b):
        factories.merchant_payment_system(m, ps, min_deposit="500.00", commission="2.50")
    return SimpleNamespace(a=a, b=b, ps=ps, wa=factories.wallet(a, ps), wb=factories.wallet(b, ps),
                           operator=factories.user("operator"))


def set_policy(app, merchant, **values):
    with app.app_context():
        return matching.set_policy(merchant.id, {k: str(v) for k, v in values.items()}, actor=None)


def report(app, wallet, number, amount="700.00", sender=SENDER, **kw):
    with app.app_context():
        return ingest(Report("bkash", wallet.number, number, Decimal(amount), "BDT", counterparty=sender, **kw))


def body(merchant, number, label, **extra):
    return dict({"merchant": merchant.public_key, "payment_system": "bkash", "transaction_number": number,
                 "label": label}, **extra)


def call(client, merchant, number, label="visitor", environ_base=None, **extra):
    return client.post("/plugin/api/activate", json=body(merchant, number, label, **extra),
                       environ_base=environ_base or {})


def poll(client, merchant, number, label="visitor"):
    response = client.post("/plugin/api/pending", json=body(merchant, number, label))
    assert response.status_code == 200, response.get_data()
    return response.get_json()


def delayed(merchant, ttl=30):
    merchant.delayed_activation = True
    merchant.pending_activation_ttl = ttl
    merchant.save()


def attempt_log(number):
    return [(a.outcome, a.reason) for a in ActivationAttempt.select().where(
        ActivationAttempt.transaction_number == number).order_by(ActivationAttempt.id)]


def booked(tx):
    """(deposit ledger lines, deposit.completed events) of a single deposit."""
    entries = LedgerEntry.select().where((LedgerEntry.source_type == "transaction")
                                         & (LedgerEntry.source_id == tx.id)).count()
    events = Event.select().where((Event.object_type == "transaction") & (Event.object_id == tx.id)
                                  & (Event.event_type == "deposit.completed")).count()
    return entries, events


def assert_untouched(tx):
    row = Transaction.get_by_id(tx.id)
    assert (row.status, row.label, row.postback_status) == ("new", None, "not_activated")
    assert booked(row) == (0, 0)


def assert_activated(tx, label):
    row = Transaction.get_by_id(tx.id)
    assert (row.status, row.label, row.postback_status) == ("activated", label, "pending")
    assert booked(row) == (2, 1)  # the deposit and its commission; one deposit.completed


def comparable_headers(response):
    """The headers but for the date and the CSP nonce (new with every response)."""
    return sorted((k, re.sub(r"'nonce-[^']*'", "'nonce-'", v)) for k, v in response.headers.items()
                  if k.lower() != "date")


# --- 1. the sender's digits: no oracle -----------------------------------------------------

def test_wrong_digits_answer_byte_for_byte_as_an_unknown_number(app, client, shop):
    set_policy(app, shop.a, require_sender="y")
    tx = report(app, shop.wa, "P-1").transaction
    unknown = call(client, shop.a, "NEVER-1", "thief", sender_last4=WRONG)
    mismatch = call(client, shop.a, "P-1", "thief", sender_last4=WRONG)
    assert mismatch.status_code == unknown.status_code == 200
    assert mismatch.get_data() == unknown.get_data()
    assert comparable_headers(mismatch) == comparable_headers(unknown)
    assert mismatch.get_json() == {"status": "not_found"}
    assert_untouched(tx)
    assert attempt_log("P-1") == [("not_found", "sender_mismatch")]
    assert attempt_log("NEVER-1") == [("not_found", "not_found")]
    assert poll(client, shop.a, "P-1", "thief") == {"status": "not_found"}
    # The right digits activate it.
    right = call(client, shop.a, "P-1", "payer", sender_last4=RIGHT)
    assert right.status_code == 200
    assert right.get_json() == {"status": "activated", "amount": "700.00", "currency": "BDT"}
    assert_activated(tx, "payer")
    assert Postback.select().where(Postback.event_type == "deposit.completed").count() == 1
    assert ledger.available(shop.a, "BDT") == Decimal("682.50")
    assert attempt_log("P-1")[-1] == ("activated", "activated")


def _masked(response):
    return re.sub(rb'"expires_at":\s*"[^"]*"', b'"expires_at":"-"', response.get_data())


def test_with_delayed_activation_a_mismatch_is_pending_and_never_activates(app, client, shop):
    delayed(shop.a)
    set_policy(app, shop.a, require_sender="y")
    tx = report(app, shop.wa, "D-1").transaction
    unknown = call(client, shop.a, "NEVER-2", "thief", sender_last4=WRONG)
    mismatch = call(client, shop.a, "D-1", "thief", sender_last4=WRONG)
    assert mismatch.status_code == unknown.status_code == 200
    assert mismatch.get_json()["status"] == unknown.get_json()["status"] == "pending"
    # The same bytes but for the value of expires_at (a moment later).
    assert _masked(mismatch) == _masked(unknown)
    assert comparable_headers(mismatch) == comparable_headers(unknown)
    first = datetime.datetime.fromisoformat(unknown.get_json()["expires_at"].replace("Z", "+00:00"))
    second = datetime.datetime.fromisoformat(mismatch.get_json()["expires_at"].replace("Z", "+00:00"))
    assert datetime.timedelta(0) <= second - first < datetime.timedelta(seconds=30)
    entry = PendingActivation.get(PendingActivation.transaction_number == "D-1")
    assert (entry.status, entry.label, entry.sender_last4) == ("waiting", "thief", WRONG)
    assert attempt_log("D-1") == [("pending", "sender_mismatch")]
    expires_at = mismatch.get_json()["expires_at"]
    assert poll(client, shop.a, "D-1", "thief") == {"status": "pending", "expires_at": expires_at}

    # Reports of other numbers, and this one again, never hand it to that entry.
    report(app, shop.wa, "D-2")
    report(app, shop.wa, "D-1")
    with app.app_context():
        assert activation.activate_waiting(Transaction.get_by_id(tx.id)) is None
    assert_untouched(tx)
    assert poll(client, shop.a, "D-1", "thief") == {"status": "pending", "expires_at": expires_at}
    # Asking again: the same answer.
    again = call(client, shop.a, "D-1", "thief", sender_last4=WRONG)
    assert again.get_json() == {"status": "pending", "expires_at": expires_at}
    assert PendingActivation.select().where(PendingActivation.transaction_number == "D-1").count() == 1
    # The payer, with the right digits, gets it; the thief's page still says pending.
    assert call(client, shop.a, "D-1", "payer", sender_last4=RIGHT).get_json()["status"] == "activated"
    assert_activated(tx, "payer")
    assert poll(client, shop.a, "D-1", "thief") == {"status": "pending", "expires_at": expires_at}
    # Then it expires: "expired", never anything else.
    with app.app_context():
        assert activation.expire_pending(now=utcnow() + datetime.timedelta(minutes=31)) == 2
    assert poll(client, shop.a, "D-1", "thief") == {"status": "expired"}
    assert Transaction.get_by_id(tx.id).label == "payer"


def test_a_late_report_does_not_serve_a_waiting_visitor_with_wrong_digits(app, client, shop):
    delayed(shop.a)
    set_policy(app, shop.a, require_sender="y")
    waiting = call(client, shop.a, "D-3", "thief", sender_last4=WRONG).get_json()
    assert waiting["status"] == "pending"
    result = report(app, shop.wa, "D-3")
    assert result.created and result.activation is None
    assert_untouched(result.transaction)
    assert attempt_log("D-3") == [("pending", "pending"), ("pending", "sender_mismatch")]
    assert poll(client, shop.a, "D-3", "thief") == waiting
    PendingActivation.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        PendingActivation.transaction_number == "D-3").execute()
    assert poll(client, shop.a, "D-3", "thief") == {"status": "expired"}
    assert_untouched(result.transaction)


def test_a_late_report_serves_a_waiting_visitor_with_the_right_digits(app, client, shop):
    delayed(shop.a)
    set_policy(app, shop.a, require_sender="y")
    assert call(client, shop.a, "D-4", "payer", sender_last4=RIGHT).get_json()["status"] == "pending"
    result = report(app, shop.wa, "D-4")
    assert result.activation.status == "activated"
    assert poll(client, shop.a, "D-4", "payer") == {"status": "activated", "amount": "700.00", "currency": "BDT"}
    assert_activated(result.transaction, "payer")


# --- 2. each refusal: its reason, nothing credited -------------------------------------------

def assert_refused(client, merchant, tx, label, reason, environ_base=None, **extra):
    response = call(client, merchant, tx.transaction_number, label, environ_base=environ_base, **extra)
    assert response.status_code == 200 and response.get_json() == {"status": "not_found"}
    assert attempt_log(tx.transaction_number)[-1] == ("not_found", reason)
    logged = ActivationAttempt.select().order_by(ActivationAttempt.id.desc()).first()
    assert logged.merchant_id == merchant.id and logged.transaction == tx.id and logged.label == label
    assert_untouched(tx)
    assert poll(client, merchant, tx.transaction_number, label) == {"status": "not_found"}


def test_amount_outside_the_tolerance_inside_it_activates(app, client, shop):
    set_policy(app, shop.a, require_amount="y", amount_tolerance="1.00")
    tx = report(app, shop.wa, "AM-1").transaction
    assert_refused(client, shop.a, tx, "v", "amount_mismatch", amount="698.99")
    assert_refused(client, shop.a, tx, "v", "amount_mismatch", amount="701.01")
    response = call(client, shop.a, "AM-1", "v", amount="699.00")
    assert response.get_json() == {"status": "activated", "amount": "700.00", "currency": "BDT"}
    assert_activated(tx, "v")


def test_a_payment_older_than_the_window_is_stale(app, client, shop):
    set_policy(app, shop.a, window_minutes="60")
    old = report(app, shop.wa, "ST-1", occurred_at=utcnow() - datetime.timedelta(hours=2)).transaction
    assert_refused(client, shop.a, old, "v", "stale")
    recent = report(app, shop.wa, "ST-2", occurred_at=utcnow() - datetime.timedelta(minutes=50)).transaction
    assert call(client, shop.a, "ST-2", "v").get_json()["status"] == "activated"
    assert_activated(recent, "v")


def test_a_blocked_label(app, client, shop):
    with app.app_context():
        risk.add_block("label", "abuser", merchant_id=shop.a.id, actor=shop.operator)
    tx = report(app, shop.wa, "BL-1").transaction
    assert_refused(client, shop.a, tx, "abuser", "blocked")
    assert call(client, shop.a, "BL-1", "honest").get_json()["status"] == "activated"
    assert_activated(tx, "honest")


def test_a_blocked_sender_wallet(app, client, shop):
    with app.app_context():
        risk.add_block("sender", SENDER, actor=shop.operator)  # every merchant
    tx = report(app, shop.wa, "BS-1").transaction
    assert_refused(client, shop.a, tx, "v", "blocked")
    other = report(app, shop.wa, "BS-2", sender="01811112222").transaction
    assert call(client, shop.a, "BS-2", "v").get_json()["status"] == "activated"
    assert_activated(other, "v")


def test_a_blocked_network(app, client, shop):
    with app.app_context():
        risk.add_block("network", "127.0.0.1", merchant_id=shop.a.id, actor=shop.operator)
    tx = report(app, shop.wa, "BN-1").transaction
    assert_refused(client, shop.a, tx, "v", "blocked")  # the test client: 127.0.0.1
    assert ActivationAttempt.get(ActivationAttempt.transaction_number == "BN-1").network == "127.0.0.0/24"
    # Same /24, another address: blocked too; another network: not.
    assert_refused(client, shop.a, tx, "v", "blocked", environ_base={"REMOTE_ADDR": "127.0.0.200"})
    response = call(client, shop.a, "BN-1", "v", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.get_json()["status"] == "activated"
    assert_activated(tx, "v")
    assert ActivationAttempt.select().order_by(ActivationAttempt.id.desc()).first().network == "198.51.100.0/24"


def test_label_velocity_per_hour(app, client, shop):
    set_policy(app, shop.a, velocity_label_hour="1")
    first, second = report(app, shop.wa, "VL-1").transaction, report(app, shop.wa, "VL-2").transaction
    assert call(client, shop.a, "VL-1", "busy").get_json()["status"] == "activated"
    assert_refused(client, shop.a, second, "busy", "rate_limited")
    assert call(client, shop.a, "VL-2", "other").get_json()["status"] == "activated"
    assert_activated(first, "busy")


def test_sender_velocity_per_day(app, client, shop):
    set_policy(app, shop.a, velocity_sender_day="1")
    first, second = report(app, shop.wa, "VS-1").transaction, report(app, shop.wa, "VS-2").transaction
    assert call(client, shop.a, "VS-1", "alice").get_json()["status"] == "activated"
    assert_refused(client, shop.a, second, "bob", "rate_limited")
    assert_activated(first, "alice")


# --- 3. required fields; the config says what is required ----------------------------------

def test_a_required_detail_missing_is_a_400_naming_it(app, client, shop):
    report(app, shop.wa, "RQ-1")
    config = client.get(f"/plugin/api/config?merchant={shop.a.public_key}")
    assert config.status_code == 200 and config.get_json()["requires"] == []
    set_policy(app, shop.a, require_sender="y", require_amount="y")
    assert client.get(f"/plugin/api/config?merchant={shop.a.public_key}").get_json()["requires"] == [
        "sender_last4", "amount"]
    assert client.get(f"/plugin/api/config?merchant={shop.b.public_key}").get_json()["requires"] == []

    def fields(response):
        assert response.status_code == 400, response.get_data()
        return {d["field"] for d in response.get_json()["error"]["details"]}

    assert fields(call(client, shop.a, "RQ-1", "v")) == {"sender_last4", "amount"}
    assert fields(call(client, shop.a, "RQ-1", "v", amount="700.00")) == {"sender_last4"}
    assert fields(call(client, shop.a, "RQ-1", "v", sender_last4=RIGHT)) == {"amount"}
    assert fields(call(client, shop.a, "RQ-1", "v", sender_last4="56a8", amount="700.00")) == {"sender_last4"}
    assert fields(call(client, shop.a, "RQ-1", "v", sender_last4="45678", amount="700.00")) == {"sender_last4"}
    assert fields(call(client, shop.a, "RQ-1", "v", sender_last4=RIGHT, amount="seven")) == {"amount"}
    assert Transaction.get(Transaction.transaction_number == "RQ-1").status == "new"
    response = call(client, shop.a, "RQ-1", "v", sender_last4=RIGHT, amount="700.00")
    assert response.get_json()["status"] == "activated"
    # Only the sender now.
    set_policy(app, shop.a, require_amount="")
    assert client.get(f"/plugin/api/config?merchant={shop.a.public_key}").get_json()["requires"] == [
        "sender_last4"]


# --- 4. review -------------------------------------------------------------------------------

def test_a_deposit_above_the_threshold_shows_pending_until_approved(app, client, shop):
    set_policy(app, shop.a, review_above="1000.00")
    tx = report(app, shop.wa, "RV-1", amount="1500.00").transaction
    answer = call(client, shop.a, "RV-1", "v")
    assert answer.status_code == 200 and set(answer.get_json()) == {"status", "expires_at"}
    assert answer.get_json()["status"] == "pending"
    row = Transaction.get_by_id(tx.id)
    assert (row.status, row.label, row.postback_status) == ("activated", "v", "review")
    assert booked(row) == (0, 0) and Postback.select().count() == 0
    assert ledger.available(shop.a, "BDT") == Decimal("0.00")
    assert attempt_log("RV-1") == [("pending", "review")]
    assert poll(client, shop.a, "RV-1", "v")["status"] == "pending"
    assert poll(client, shop.a, "RV-1", "someone-else") == {"status": "not_found"}

    rev = DepositReview.get(DepositReview.transaction == tx.id)
    with app.app_context():
        assert review.approve([rev.id], shop.operator) == 1
    row = Transaction.get_by_id(tx.id)
    assert row.postback_status == "pending" and booked(row) == (2, 1)
    assert Postback.select().where(Postback.event_type == "deposit.completed").count() == 1
    assert ledger.available(shop.a, "BDT") == Decimal("1462.50")
    assert poll(client, shop.a, "RV-1", "v") == {"status": "activated", "amount": "1500.00", "currency": "BDT"}
    with app.app_context():
        assert review.approve([rev.id], shop.operator) == 0
        assert review.refuse([rev.id], shop.operator) == 0
    assert booked(Transaction.get_by_id(tx.id)) == (2, 1)
    assert poll(client, shop.a, "RV-1", "v")["status"] == "activated"


def test_a_refused_deposit_is_rejected_for_the_visitor(app, client, shop):
    set_policy(app, shop.a, review_above="1000.00")
    tx = report(app, shop.wa, "RV-2", amount="1500.00").transaction
    assert call(client, shop.a, "RV-2", "v").get_json()["status"] == "pending"
    rev = DepositReview.get(DepositReview.transaction == tx.id)
    with app.app_context():
        assert review.refuse([rev.id], shop.operator) == 1
        assert review.approve([rev.id], shop.operator) == 0
    row = Transaction.get_by_id(tx.id)
    assert row.postback_status == "refused" and booked(row) == (0, 0) and Postback.select().count() == 0
    assert ledger.available(shop.a, "BDT") == Decimal("0.00")
    assert poll(client, shop.a, "RV-2", "v") == {"status": "rejected"}
    # The number is taken: asking again does not claim it anew.
    assert call(client, shop.a, "RV-2", "v").get_json()["status"] == "already_activated"


def test_a_delayed_deposit_above_the_threshold_waits_then_is_held(app, client, shop):
    delayed(shop.a)
    set_policy(app, shop.a, review_above="1000.00")
    assert call(client, shop.a, "RV-3", "v").get_json()["status"] == "pending"
    result = report(app, shop.wa, "RV-3", amount="1500.00")
    assert result.activation.status == "pending" and result.activation.reason_code == "review"
    assert poll(client, shop.a, "RV-3", "v")["status"] == "pending"
    rev = DepositReview.get(DepositReview.transaction == result.transaction.id)
    with app.app_context():
        assert review.approve([rev.id], shop.operator) == 1
    assert poll(client, shop.a, "RV-3", "v") == {"status": "activated", "amount": "1500.00", "currency": "BDT"}


# --- 5. merchants apart ----------------------------------------------------------------------

def test_another_merchants_number_at_this_plugin_is_not_found_and_logged_here(app, client, shop):
    theirs = report(app, shop.wb, "B-TX-1").transaction
    response = call(client, shop.a, "B-TX-1", "v")
    assert response.status_code == 200 and response.get_json() == {"status": "not_found"}
    assert response.get_data() == call(client, shop.a, "NEVER-3", "v").get_data()
    assert_untouched(theirs)
    (logged,) = ActivationAttempt.select().where(ActivationAttempt.transaction_number == "B-TX-1")
    assert (logged.merchant_id, logged.outcome, logged.reason) == (shop.a.id, "not_found", "not_found")
    assert logged.transaction is None and logged.sender is None
    assert ActivationAttempt.select().where(ActivationAttempt.merchant == shop.b.id).count() == 0
    # B's own visitor still gets it.
    assert call(client, shop.b, "B-TX-1", "v").get_json()["status"] == "activated"


# --- 6. refusals before the activation --------------------------------------------------------

def test_a_bad_signature_is_logged_as_an_error(app, client, shop):
    a = shop.a
    a.require_signed_labels = True
    a.save()
    tx = report(app, shop.wa, "SG-1").transaction
    response = call(client, a, "SG-1", "v", order_id="o-1", signature=label_signature(a.plugin_secret, "other", "o-1"))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "bad_signature"
    logged = ActivationAttempt.get(ActivationAttempt.transaction_number == "SG-1")
    assert (logged.merchant_id, logged.outcome, logged.reason, logged.label) == (a.id, "error", "bad_signature", "v")
    assert logged.network == "127.0.0.0/24"
    assert_untouched(tx)


def test_a_rate_limited_attempt_is_logged_as_an_error(app_config, shop):
    app_config.update(PLUGIN_LIMIT_PER_ADDRESS="1 per minute")
    client = create_app(app_config).test_client()
    assert call(client, shop.a, "NOPE-1", "v").status_code == 200
    response = call(client, shop.a, "NOPE-2", "v")
    assert response.status_code == 429
    assert attempt_log("NOPE-1") == [("not_found", "not_found")]
    assert attempt_log("NOPE-2") == [("error", "rate_limited")]
    logged = ActivationAttempt.get(ActivationAttempt.transaction_number == "NOPE-2")
    assert logged.merchant_id == shop.a.id and logged.label == "v"
