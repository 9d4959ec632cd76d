"""The matching policy, the risk rules and the review queue (SPEC §11, issue 18), as
plain functions: who may claim a reported payment, what the attempt log says, what is
credited (nothing, unless the claim is right), and the operators' review decisions.

Tests start with empty tables: no default policy row (the built-in default: the
number alone). Each test sets the policy it is about with ``matching.set_policy``."""
import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

import factories
from backoffice.models import (
    ActivationAttempt,
    AuditLog,
    DepositReview,
    Event,
    LedgerEntry,
    PendingActivation,
    Postback,
    Stockpiling,
    Transaction,
    utcnow,
)
from backoffice.services import activation, attempts, ledger, matching, review, risk
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest
from helpers import run_threads

SENDER = "01712345678"  # the reported counterparty: its last 4 digits are 5678
RIGHT, WRONG = "5678", "1234"


@pytest.fixture
def shop(ctx):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Shop", postback_url="http://127.0.0.1:9/hook")
    other = factories.merchant(name="Other", postback_url="http://127.0.0.1:9/other")
    for merchant in (m, other):
        factories.merchant_payment_system(merchant, ps, min_deposit="500.00", commission="2.50")
    return SimpleNamespace(m=m, other=other, ps=ps, wallet=factories.wallet(m, ps),
                           other_wallet=factories.wallet(other, ps), operator=factories.user("operator"))


def policy(merchant, **values):
    """The merchant's own policy: ``values`` over the built-in one (the number alone)."""
    return matching.set_policy(merchant.id, {k: str(v) for k, v in values.items()}, actor=None)


def reported(shop, number, amount="700.00", sender=SENDER, wallet=None, **kw):
    wallet = wallet or shop.wallet
    return ingest(Report("bkash", wallet.number, number, Decimal(amount), "BDT", counterparty=sender, **kw)).transaction


def fresh(tx):
    return Transaction.get_by_id(tx.id)


def attempt_log(number):
    """(outcome, reason) of every attempt on a number, oldest first."""
    return [(a.outcome, a.reason) for a in ActivationAttempt.select().where(
        ActivationAttempt.transaction_number == number).order_by(ActivationAttempt.id)]


def deposit_entries(tx):
    """The ledger's deposit lines that book ``tx`` (alone, or as a stockpiling's member)."""
    return LedgerEntry.select().where(LedgerEntry.kind == "deposit") \
        .where(((LedgerEntry.source_type == "transaction") & (LedgerEntry.source_id == tx.id))
               | ((LedgerEntry.source_type == "stockpiling") & (LedgerEntry.source_id == (tx.stockpiling_id or -1))))


def events_of(tx):
    return Event.select().where(((Event.object_type == "transaction") & (Event.object_id == tx.id))
                                | ((Event.object_type == "stockpiling")
                                   & (Event.object_id == (tx.stockpiling_id or -1))))


def assert_nothing_credited(tx):
    row = fresh(tx)
    assert row.status == "new" and row.label is None and row.activated_at is None
    assert row.postback_status == "not_activated"
    assert deposit_entries(row).count() == 0 and events_of(row).count() == 0
    assert LedgerEntry.select().where((LedgerEntry.source_type == "transaction")
                                      & (LedgerEntry.source_id == row.id)).count() == 0


def assert_credited_once(tx, label):
    row = fresh(tx)
    assert row.status == "activated" and row.label == label and row.postback_status == "pending"
    assert deposit_entries(row).count() == 1
    assert [e.event_type for e in events_of(row)] == ["deposit.completed"]


# --- the sender's digits -------------------------------------------------------------------

def test_wrong_sender_digits_answer_as_an_unknown_number_and_leave_the_payment_unclaimed(shop):
    policy(shop.m, require_sender="y")
    tx = reported(shop, "SND-1")
    unknown = activate(shop.m, "bkash", "NEVER-REPORTED", "thief", sender_last4=WRONG)
    mismatch = activate(shop.m, "bkash", "SND-1", "thief", sender_last4=WRONG)
    assert mismatch.status == unknown.status == "not_found"
    assert mismatch.as_json() == unknown.as_json() == {"status": "not_found"}
    assert mismatch.reason_code == "sender_mismatch" and unknown.reason_code == "not_found"
    assert_nothing_credited(tx)
    assert attempt_log("SND-1") == [("not_found", "sender_mismatch")]
    logged = ActivationAttempt.get(ActivationAttempt.transaction_number == "SND-1")
    assert logged.transaction == tx.id and logged.sender == SENDER and logged.label == "thief"
    assert logged.merchant_id == shop.m.id
    # The payer, with the right digits, gets it.
    payer = activate(shop.m, "bkash", "SND-1", "payer", sender_last4=RIGHT)
    assert payer.as_json() == {"status": "activated", "amount": "700.00", "currency": "BDT"}
    assert_credited_once(tx, "payer")
    assert ledger.available(shop.m, "BDT") == Decimal("682.50")  # 700.00 less 2.5 %
    assert attempt_log("SND-1") == [("not_found", "sender_mismatch"), ("activated", "activated")]
    # Once claimed, wrong digits still learn nothing (not "already_activated").
    assert activate(shop.m, "bkash", "SND-1", "thief", sender_last4=WRONG).as_json() == {"status": "not_found"}
    assert activate(shop.m, "bkash", "SND-1", "payer", sender_last4=RIGHT).status == "already_activated"


def test_required_sender_digits_missing_is_an_input_error(shop):
    policy(shop.m, require_sender="y")
    tx = reported(shop, "SND-2")
    for digits in (None, "", "123", "12345", "12a4"):
        with pytest.raises(activation.ActivationError) as err:
            activate(shop.m, "bkash", "SND-2", "v", sender_last4=digits)
        assert err.value.field == "sender_last4"
    assert_nothing_credited(tx)
    policy(shop.m, require_sender="y", require_amount="y")
    with pytest.raises(activation.ActivationError) as err:
        activate(shop.m, "bkash", "SND-2", "v", sender_last4=RIGHT)
    assert err.value.field == "amount"


def test_without_the_rule_the_digits_are_not_asked_for(shop):
    tx = reported(shop, "SND-3")
    assert matching.policy_for(shop.m.id).requires() == []  # no policy row: the number alone
    assert activate(shop.m, "bkash", "SND-3", "v").status == "activated"
    assert_credited_once(tx, "v")


def test_a_delayed_mismatch_is_pending_with_an_entry_that_never_activates_that_payment(shop):
    m = shop.m
    m.delayed_activation = True
    m.pending_activation_ttl = 30
    m.save()
    policy(m, require_sender="y")
    tx = reported(shop, "DLY-1")
    start = utcnow()
    unknown = activate(m, "bkash", "DLY-NEVER", "thief", sender_last4=WRONG, now=start)
    mismatch = activate(m, "bkash", "DLY-1", "thief", sender_last4=WRONG, now=start)
    assert mismatch.status == unknown.status == "pending"
    assert mismatch.as_json() == unknown.as_json()  # the same moment: the same expires_at too
    assert mismatch.reason_code == "sender_mismatch"
    entry = PendingActivation.get(PendingActivation.transaction_number == "DLY-1")
    assert entry.status == "waiting" and entry.label == "thief" and entry.sender_last4 == WRONG
    # Later reports (other numbers, the same one again) never hand it to the entry.
    reported(shop, "DLY-2")
    again = ingest(Report("bkash", shop.wallet.number, "DLY-1", Decimal("700.00"), "BDT", counterparty=SENDER))
    assert not again.created and again.activation is None
    # Nor would the report path itself, were it to look at it.
    assert activation.activate_waiting(fresh(tx)) is None
    assert_nothing_credited(tx)
    assert PendingActivation.get_by_id(entry.id).status == "waiting"
    settings = activation.merchant_settings(m, "bkash")
    assert activation.pending_state(settings, "DLY-1", "thief").status == "pending"
    assert activation.expire_pending(now=start + datetime.timedelta(minutes=31)) == 2
    assert activation.pending_state(settings, "DLY-1", "thief").status == "expired"
    assert_nothing_credited(tx)


def test_a_delayed_entry_with_wrong_digits_is_not_served_when_the_report_arrives(shop):
    m = shop.m
    m.delayed_activation = True
    m.save()
    policy(m, require_sender="y")
    assert activate(m, "bkash", "DLY-3", "thief", sender_last4=WRONG).status == "pending"
    result = ingest(Report("bkash", shop.wallet.number, "DLY-3", Decimal("700.00"), "BDT", counterparty=SENDER))
    assert result.created and result.activation is None
    assert_nothing_credited(result.transaction)
    assert attempt_log("DLY-3") == [("pending", "pending"), ("pending", "sender_mismatch")]
    settings = activation.merchant_settings(m, "bkash")
    assert activation.pending_state(settings, "DLY-3", "thief").status == "pending"
    # The payer, with the right digits, claims it at once.
    assert activate(m, "bkash", "DLY-3", "payer", sender_last4=RIGHT).status == "activated"
    assert_credited_once(result.transaction, "payer")
    assert activation.pending_state(settings, "DLY-3", "thief").status == "pending"  # never "activated"


def test_a_delayed_entry_with_the_right_digits_is_served_when_the_report_arrives(shop):
    m = shop.m
    m.delayed_activation = True
    m.save()
    policy(m, require_sender="y")
    assert activate(m, "bkash", "DLY-4", "payer", sender_last4=RIGHT).status == "pending"
    result = ingest(Report("bkash", shop.wallet.number, "DLY-4", Decimal("700.00"), "BDT", counterparty=SENDER))
    assert result.activation is not None and result.activation.status == "activated"
    assert_credited_once(result.transaction, "payer")


@pytest.mark.parametrize("rule, reason", [("label", "blocked"), ("network", "blocked"), ("sender", "blocked"),
                                          ("amount", "amount_mismatch"), ("velocity", "rate_limited")])
def test_a_delayed_entry_the_rules_refuse_is_not_served_when_the_report_arrives(shop, rule, reason):
    m = shop.m
    m.delayed_activation = True
    m.save()
    if rule == "amount":
        policy(m, require_amount="y")
    elif rule == "velocity":
        policy(m, velocity_label_hour="1")
        reported(shop, "DLR-0")
        assert activate(m, "bkash", "DLR-0", "visitor").status == "activated"
    elif rule == "network":
        risk.add_block("network", "198.51.100.9", actor=shop.operator)
    else:
        risk.add_block(rule, "visitor" if rule == "label" else SENDER, merchant_id=m.id, actor=shop.operator)
    waiting = activate(m, "bkash", "DLR-1", "visitor", amount=Decimal("699.00"), network="198.51.100.0/24")
    assert waiting.status == "pending"
    result = ingest(Report("bkash", shop.wallet.number, "DLR-1", Decimal("700.00"), "BDT", counterparty=SENDER))
    assert result.created and result.activation is None
    assert_nothing_credited(result.transaction)
    assert attempt_log("DLR-1") == [("pending", "pending"), ("pending", reason)]
    settings = activation.merchant_settings(m, "bkash")
    assert activation.pending_state(settings, "DLR-1", "visitor").status == "pending"


# --- amount and window -------------------------------------------------------------------

def test_amount_outside_the_tolerance_is_amount_mismatch_inside_activates(shop):
    policy(shop.m, require_amount="y", amount_tolerance="5.00")
    far = reported(shop, "AMT-1", amount="700.00")
    near = reported(shop, "AMT-2", amount="700.00")
    out = activate(shop.m, "bkash", "AMT-1", "v", amount=Decimal("694.99"))
    assert out.as_json() == {"status": "not_found"} and out.reason_code == "amount_mismatch"
    assert activate(shop.m, "bkash", "AMT-1", "v", amount=Decimal("705.01")).reason_code == "amount_mismatch"
    assert_nothing_credited(far)
    assert attempt_log("AMT-1") == [("not_found", "amount_mismatch")] * 2
    inside = activate(shop.m, "bkash", "AMT-2", "v", amount=Decimal("695.00"))
    assert inside.status == "activated" and inside.amount == Decimal("700.00")  # the reported amount is booked
    assert_credited_once(near, "v")
    # Exact (the default tolerance 0): one cent off is a mismatch.
    policy(shop.m, amount_tolerance="")
    assert activate(shop.m, "bkash", "AMT-1", "v", amount=Decimal("700.01")).reason_code == "amount_mismatch"
    assert activate(shop.m, "bkash", "AMT-1", "v", amount=Decimal("700.00")).status == "activated"


def test_a_payment_older_than_the_window_is_stale(shop):
    policy(shop.m, window_minutes="60")
    now = utcnow()
    old = reported(shop, "OLD-1", occurred_at=now - datetime.timedelta(minutes=61))
    recent = reported(shop, "OLD-2", occurred_at=now - datetime.timedelta(minutes=59))
    out = activate(shop.m, "bkash", "OLD-1", "v", now=now)
    assert out.as_json() == {"status": "not_found"} and out.reason_code == "stale"
    assert_nothing_credited(old)
    assert attempt_log("OLD-1") == [("not_found", "stale")]
    assert activate(shop.m, "bkash", "OLD-2", "v", now=now).status == "activated"
    assert_credited_once(recent, "v")
    # No window: any age.
    policy(shop.m, window_minutes="")
    assert activate(shop.m, "bkash", "OLD-1", "v", now=now).status == "activated"


# --- blocklists and velocity -------------------------------------------------------------

@pytest.mark.parametrize("kind, value", [("label", "bad-visitor"), ("sender", SENDER),
                                         ("network", "203.0.113.77")])
def test_a_blocked_label_sender_or_network_is_blocked(shop, kind, value):
    risk.add_block(kind, value, merchant_id=shop.m.id, actor=shop.operator)
    tx = reported(shop, "BLK-1")
    label = "bad-visitor" if kind == "label" else "visitor"
    network = matching.network_of("203.0.113.5")  # the same /24 as the blocked address
    out = activate(shop.m, "bkash", "BLK-1", label, network=network)
    assert out.as_json() == {"status": "not_found"} and out.reason_code == "blocked"
    assert_nothing_credited(tx)
    assert attempt_log("BLK-1") == [("not_found", "blocked")]
    # Another label, sender, network: not blocked.
    other = reported(shop, "BLK-2", sender="01799990000")
    assert activate(shop.m, "bkash", "BLK-2", "visitor", network="198.51.100.0/24").status == "activated"
    assert_credited_once(other, "visitor")


def test_a_global_block_holds_for_every_merchant_and_a_merchants_block_only_for_it(shop):
    risk.add_block("label", "everywhere", actor=shop.operator)
    risk.add_block("label", "only-other", merchant_id=shop.other.id, actor=shop.operator)
    first, second = reported(shop, "GBL-1"), reported(shop, "GBL-2")
    assert activate(shop.m, "bkash", "GBL-1", "everywhere").reason_code == "blocked"
    assert_nothing_credited(first)
    assert activate(shop.m, "bkash", "GBL-2", "only-other").status == "activated"
    assert_credited_once(second, "only-other")
    theirs = reported(shop, "GBL-3", wallet=shop.other_wallet)
    assert activate(shop.other, "bkash", "GBL-3", "only-other").reason_code == "blocked"
    assert_nothing_credited(theirs)
    # Lifted: it may be claimed.
    block = risk.blocks().where(risk.RiskBlock.value == "everywhere").get()
    assert risk.remove_block(block.id, shop.operator)
    assert activate(shop.m, "bkash", "GBL-1", "everywhere").status == "activated"


def test_label_velocity_per_hour(shop):
    policy(shop.m, velocity_label_hour="2")
    now = utcnow()
    txs = [reported(shop, f"VLH-{i}") for i in range(4)]
    assert [activate(shop.m, "bkash", f"VLH-{i}", "busy", now=now).status for i in range(2)] == ["activated"] * 2
    out = activate(shop.m, "bkash", "VLH-2", "busy", now=now)
    assert out.as_json() == {"status": "not_found"} and out.reason_code == "rate_limited"
    assert_nothing_credited(txs[2])
    assert attempt_log("VLH-2") == [("not_found", "rate_limited")]
    # Refused attempts do not count; another label is not limited.
    assert activate(shop.m, "bkash", "VLH-3", "calm", now=now).status == "activated"
    # An hour later the label may deposit again.
    later = now + datetime.timedelta(minutes=61)
    assert activate(shop.m, "bkash", "VLH-2", "busy", now=later).status == "activated"
    assert_credited_once(txs[2], "busy")


def test_sender_velocity_per_day(shop):
    policy(shop.m, velocity_sender_day="1")
    now = utcnow()
    first = reported(shop, "VSD-1")
    second = reported(shop, "VSD-2")
    third = reported(shop, "VSD-3", sender="01700000042")
    assert activate(shop.m, "bkash", "VSD-1", "alice", now=now).status == "activated"
    out = activate(shop.m, "bkash", "VSD-2", "bob", now=now)
    assert out.as_json() == {"status": "not_found"} and out.reason_code == "rate_limited"
    assert_nothing_credited(second)
    assert activate(shop.m, "bkash", "VSD-3", "bob", now=now).status == "activated"
    assert activate(shop.m, "bkash", "VSD-2", "bob", now=now + datetime.timedelta(hours=25)).status == "activated"
    assert_credited_once(first, "alice")


def test_sender_velocity_does_not_lump_payments_reported_without_a_sender(shop):
    """A report may name no sender (``counterparty`` empty): those payments are from
    no one wallet, and the attempt log's reasoning (``risk.velocity_breached``) leaves
    them out of the sender limit; the claim must too, or after N such deposits every
    later one (of any label) is refused with the reason ``not_found``."""
    policy(shop.m, velocity_sender_day="1")
    a = reported(shop, "NOS-1", sender="")
    b = reported(shop, "NOS-2", sender="")
    assert activate(shop.m, "bkash", "NOS-1", "alice").status == "activated"
    out = activate(shop.m, "bkash", "NOS-2", "bob")
    assert (out.status, out.reason_code) == ("activated", "activated"), attempt_log("NOS-2")
    assert_credited_once(a, "alice")
    assert_credited_once(b, "bob")


# --- review ------------------------------------------------------------------------------

def held_review(tx):
    return DepositReview.get(DepositReview.transaction == tx.id)


def test_a_deposit_above_the_threshold_is_held_until_approved(shop):
    policy(shop.m, review_above="1000.00")
    small, big = reported(shop, "REV-0", amount="1000.00"), reported(shop, "REV-1", amount="1500.00")
    assert activate(shop.m, "bkash", "REV-0", "v").status == "activated"  # not above: at
    balance = ledger.available(shop.m, "BDT")
    out = activate(shop.m, "bkash", "REV-1", "v")
    assert out.status == "pending" and out.reason_code == "review" and out.as_json()["expires_at"]
    assert set(out.as_json()) == {"status", "expires_at"}
    row = fresh(big)
    assert row.status == "activated" and row.label == "v" and row.postback_status == "review"
    assert deposit_entries(row).count() == 0 and events_of(row).count() == 0
    assert Postback.select().where(Postback.event_id.in_(
        Event.select(Event.event_id).where(Event.object_id == big.id))).count() == 0
    assert ledger.available(shop.m, "BDT") == balance
    assert attempt_log("REV-1") == [("pending", "review")]
    rev = held_review(big)
    assert (rev.status, rev.rule, rev.amount, rev.label) == ("held", "above", Decimal("1500.00"), "v")
    assert [r.id for r in review.held()] == [rev.id] and [r.id for r in review.held(shop.other.id)] == []
    # Asking again: it is taken.
    assert activate(shop.m, "bkash", "REV-1", "v").status == "already_activated"

    assert review.approve([rev.id], shop.operator) == 1
    assert_credited_once(big, "v")
    assert ledger.available(shop.m, "BDT") == balance + Decimal("1462.50")
    rev = held_review(big)
    assert rev.status == "approved" and rev.decided_by_id == shop.operator.id and rev.decided_at
    assert AuditLog.select().where(AuditLog.action == "review.approve").count() == 1
    # Deciding again decides nothing.
    assert review.approve([rev.id], shop.operator) == 0
    assert review.refuse([rev.id], shop.operator) == 0
    assert_credited_once(big, "v")
    assert fresh(small).postback_status == "pending"


def test_a_refused_deposit_is_never_credited(shop):
    policy(shop.m, review_above="1000.00")
    big = reported(shop, "REF-1", amount="1500.00")
    assert activate(shop.m, "bkash", "REF-1", "v").status == "pending"
    rev = held_review(big)
    assert review.refuse([rev.id], shop.operator, note="known abuser") == 1
    row = fresh(big)
    assert row.postback_status == "refused" and row.status == "activated"
    assert deposit_entries(row).count() == 0 and events_of(row).count() == 0
    assert ledger.available(shop.m, "BDT") == Decimal("0.00")
    assert DepositReview.get_by_id(rev.id).status == "refused" and DepositReview.get_by_id(rev.id).note
    assert review.approve([rev.id], shop.operator) == 0  # refused stays refused
    assert fresh(big).postback_status == "refused" and deposit_entries(row).count() == 0
    settings = activation.merchant_settings(shop.m, "bkash")
    assert activation.pending_state(settings, "REF-1", "v").status == "rejected"
    assert activation.pending_state(settings, "REF-1", "someone-else").status == "not_found"


def test_a_labels_first_deposit_above_the_threshold_is_held_not_its_second(shop):
    policy(shop.m, review_first_above="1000.00")
    first, second = reported(shop, "FST-1", amount="1500.00"), reported(shop, "FST-2", amount="1500.00")
    assert activate(shop.m, "bkash", "FST-1", "newcomer").reason_code == "review"
    rev = held_review(first)
    assert rev.rule == "first_above"
    assert review.approve([rev.id], shop.operator) == 1
    assert activate(shop.m, "bkash", "FST-2", "newcomer").status == "activated"
    assert_credited_once(second, "newcomer")
    assert DepositReview.select().count() == 1
    # A label whose first deposit was small: its later big one is not a first.
    small, big = reported(shop, "FST-3", amount="600.00"), reported(shop, "FST-4", amount="1500.00")
    assert activate(shop.m, "bkash", "FST-3", "regular").status == "activated"
    assert activate(shop.m, "bkash", "FST-4", "regular").status == "activated"
    assert_credited_once(big, "regular")
    # Another merchant's deposits for the same label do not make it known here.
    theirs = reported(shop, "FST-5", amount="600.00", wallet=shop.other_wallet)
    assert activate(shop.other, "bkash", "FST-5", "traveller").status == "activated"
    reported(shop, "FST-6", amount="1500.00")
    assert activate(shop.m, "bkash", "FST-6", "traveller").reason_code == "review"
    assert_credited_once(theirs, "traveller")


def test_a_stockpiling_completing_above_the_threshold_is_held_whole_and_approved_once(shop):
    policy(shop.m, review_above="600.00")
    parts = [reported(shop, "STK-1", amount="400.00"), reported(shop, "STK-2", amount="300.00")]
    assert activate(shop.m, "bkash", "STK-1", "saver").status == "stockpiling"
    out = activate(shop.m, "bkash", "STK-2", "saver")
    assert out.status == "pending" and out.reason_code == "review"
    members = [fresh(t) for t in parts]
    assert {t.postback_status for t in members} == {"review"} and members[0].stockpiling_id
    assert members[0].stockpiling_id == members[1].stockpiling_id
    assert all(t.stockpiling_end_at is None for t in members)
    assert LedgerEntry.select().count() == 0 and Event.select().count() == 0
    rev = DepositReview.get()
    assert (rev.stockpiling_id, rev.amount, rev.transaction_id) == (members[0].stockpiling_id, Decimal("700.00"),
                                                                     parts[1].id)
    settings = activation.merchant_settings(shop.m, "bkash")
    assert activation.pending_state(settings, "STK-1", "saver").status == "pending"

    assert review.approve([rev.id, rev.id], shop.operator) == 1
    assert review.approve([rev.id], shop.operator) == 0
    members = [fresh(t) for t in parts]
    assert {t.postback_status for t in members} == {"pending"}
    assert all(t.stockpiling_end_at is not None for t in members)
    (event,) = Event.select()
    assert (event.event_type, event.object_type, event.object_id) == ("deposit.completed", "stockpiling",
                                                                       rev.stockpiling_id)
    assert LedgerEntry.select().where(LedgerEntry.kind == "deposit").count() == 1
    assert ledger.available(shop.m, "BDT") == Decimal("682.50")
    assert Stockpiling.get_by_id(rev.stockpiling_id).status == "completed"
    assert activation.pending_state(settings, "STK-1", "saver").as_json() == {
        "status": "activated", "amount": "700.00", "currency": "BDT"}


def test_approve_then_refuse_decides_once(shop):
    policy(shop.m, review_above="100.00")
    txs = [reported(shop, f"TWICE-{i}", amount="600.00") for i in range(3)]
    for i, tx in enumerate(txs):
        assert activate(shop.m, "bkash", f"TWICE-{i}", f"v{i}").reason_code == "review"
    ids = [held_review(tx).id for tx in txs]
    assert review.approve(ids[:2], shop.operator) == 2  # bulk
    assert review.refuse(ids, shop.operator) == 1  # only the one still held
    assert [fresh(t).postback_status for t in txs] == ["pending", "pending", "refused"]
    assert LedgerEntry.select().where(LedgerEntry.kind == "deposit").count() == 2
    assert [r.id for r in review.held()] == []
    actions = [a.action for a in AuditLog.select().where(AuditLog.action.startswith("review.")).order_by(AuditLog.id)]
    assert actions == ["review.approve", "review.approve", "review.refuse"]


def test_two_operators_approving_at_once_book_once(app, shop):
    policy(shop.m, review_above="100.00")
    second_operator = factories.user("operator")
    ops = [shop.operator.id, second_operator.id]
    for round_ in range(4):  # each round a real race between two connections
        tx = reported(shop, f"RACE-{round_}", amount="600.00")
        assert activate(shop.m, "bkash", f"RACE-{round_}", f"v{round_}").reason_code == "review"
        rid = held_review(tx).id
        outcomes = run_threads(app, 2, lambda i, rid=rid: review.approve([rid], ops[i]))
        assert sorted(outcomes) == [0, 1], outcomes
        assert_credited_once(tx, f"v{round_}")
        assert AuditLog.select().where((AuditLog.action == "review.approve")
                                       & (AuditLog.object_id == str(rid))).count() == 1
    assert ledger.available(shop.m, "BDT") == 4 * Decimal("585.00")


# --- the attempt log, merchant by merchant -----------------------------------------------

def test_counts_by_reason_are_per_merchant(shop):
    policy(shop.m, require_sender="y")
    now = utcnow()
    reported(shop, "CNT-1")
    reported(shop, "CNT-2", wallet=shop.other_wallet)
    activate(shop.m, "bkash", "CNT-1", "v", sender_last4=WRONG, now=now)
    activate(shop.m, "bkash", "CNT-1", "v", sender_last4=WRONG, now=now)
    activate(shop.m, "bkash", "NOPE", "v", sender_last4=WRONG, now=now)
    activate(shop.other, "bkash", "CNT-2", "w", now=now)
    activate(shop.other, "bkash", "NOPE", "w", now=now)
    activate(shop.other, "bkash", "NOPE2", "w", now=now)
    start, end = now - datetime.timedelta(minutes=1), now + datetime.timedelta(minutes=1)
    assert attempts.counts_by_reason(shop.m.id, start, end) == {"sender_mismatch": 2, "not_found": 1}
    assert attempts.counts_by_reason(shop.other.id, start, end) == {"activated": 1, "not_found": 2}
    assert attempts.counts_by_reason(None, start, end) == {"sender_mismatch": 2, "not_found": 3, "activated": 1}
    assert attempts.counts_by_reason(shop.m.id, end, end + datetime.timedelta(hours=1)) == {}


def test_another_merchants_number_logs_under_this_merchant_as_not_found(shop):
    theirs = reported(shop, "THEIRS-1", wallet=shop.other_wallet)
    out = activate(shop.m, "bkash", "THEIRS-1", "v")
    assert out.as_json() == {"status": "not_found"} and out.reason_code == "not_found"
    (logged,) = ActivationAttempt.select()
    assert logged.merchant_id == shop.m.id and logged.reason == "not_found"
    # Nothing of the other merchant's payment is written in this merchant's log.
    assert logged.transaction is None and logged.sender is None
    assert_nothing_credited(theirs)
    day = datetime.timedelta(days=1)
    assert attempts.counts_by_reason(shop.other.id, utcnow() - day, utcnow() + day) == {}


def test_a_held_deposit_marked_fraud_meanwhile_is_not_approved(shop):
    policy(shop.m, review_above="1000.00")
    tx = reported(shop, "REV-F", amount="1500.00")
    assert activate(shop.m, "bkash", "REV-F", "v").reason_code == "review"
    activation.set_originality([tx.id], "fraud", actor=None)
    assert review.approve([held_review(tx).id], actor=None) == 0
    assert fresh(tx).postback_status == "review" and held_review(tx).status == "held"
    assert not LedgerEntry.select().where(LedgerEntry.source_id == tx.id).exists()
    assert review.refuse([held_review(tx).id], actor=None) == 1
    assert fresh(tx).postback_status == "refused"
