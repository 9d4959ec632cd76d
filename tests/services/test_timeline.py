"""A transaction's timeline (SPEC §11): every step of a payment's history, in time
order, and operators' identities only for operators."""
import datetime
from decimal import Decimal

import pytest

import factories
from backoffice.db import db
from backoffice.models import (
    ActivationAttempt,
    AuditLog,
    ConnectorToken,
    DepositReview,
    MatchingPolicy,
    Postback,
    PostbackAttempt,
    Stockpiling,
    Transaction,
    utcnow,
)
from backoffice.services import activation, ledger
from backoffice.services.timeline import timeline

MINUTE = datetime.timedelta(minutes=1)


def book_at(monkeypatch, when, fn, *args, **kwargs):
    """Book ledger entries stamped ``when`` (the ledger stamps its own time)."""
    monkeypatch.setattr(ledger, "utcnow", lambda: when)
    try:
        with db.atomic():
            return fn(*args, **kwargs)
    finally:
        monkeypatch.setattr(ledger, "utcnow", utcnow)


def every_text(entry):
    return " ".join([entry.title, entry.text, entry.actor] + [f"{k} {v}" for k, v in entry.details.items()])


@pytest.fixture
def world(ctx):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Dhaka Shop", postback_url="http://127.0.0.1:9/hook")
    other = factories.merchant(name="Other Shop")
    factories.merchant_payment_system(m, ps, min_deposit="500.00")
    factories.merchant_payment_system(other, ps, min_deposit="500.00")
    w = factories.wallet(m, ps)
    operator = factories.user("operator", login="ops-alice@example.test")
    owner = factories.user("merchant_owner", merchant=m, login="owner@dhaka.test")
    return dict(ps=ps, m=m, other=other, w=w, operator=operator, owner=owner)


@pytest.fixture
def fraud_story(world, monkeypatch):
    """A deposit reported by a connector; a wrong visitor's attempt, then the payer's;
    booked, its postback delivered; then marked fraud (reversed, reported)."""
    ps, m = world["ps"], world["m"]
    t0 = utcnow().replace(microsecond=0) - datetime.timedelta(hours=2)
    token = ConnectorToken.create(name="bkash-phone-7", token_hash="a" * 64, payment_systems=["bkash"])
    tx = factories.transaction(world["w"], "600.00", commission=Decimal("15.00"), counterparty="01811112222",
                               created_at=t0, connector=token)
    number = tx.transaction_number
    common = dict(merchant=m, payment_system=ps, transaction_number=number)
    # Asked for before the report reached us (by number only).
    ActivationAttempt.create(**common, label="alice", network="203.0.113.0/24", outcome="not_found",
                             reason="not_found", created_at=t0 + MINUTE / 2)
    ActivationAttempt.create(**common, label="mallory", network="198.51.100.0/24", sender=tx.counterparty,
                             transaction=tx.id, outcome="not_found", reason="sender_mismatch",
                             created_at=t0 + MINUTE)
    ActivationAttempt.create(**common, label="alice", network="203.0.113.0/24", sender=tx.counterparty,
                             transaction=tx.id, outcome="activated", reason="activated", created_at=t0 + 2 * MINUTE)
    # Another merchant's visitor typing the same number: not this transaction's story.
    ActivationAttempt.create(merchant=world["other"], payment_system=ps, transaction_number=number,
                             label="intruder-9", network="192.0.2.0/24", outcome="not_found", reason="not_found",
                             created_at=t0 + MINUTE)
    Transaction.update(status="activated", label="alice", activated_at=t0 + 2 * MINUTE,
                       postback_status="sent").where(Transaction.id == tx.id).execute()
    tx = Transaction.get_by_id(tx.id)
    book_at(monkeypatch, t0 + 2 * MINUTE, ledger.book_deposit, "transaction", tx.id, m.id, tx.currency, [tx])
    postback = Postback.create(event_id="evt_timeline1", merchant=m, endpoint=m.endpoint,
                               event_type="deposit.completed", object_type="transaction", object_id=tx.id,
                               payload="{}", status="sent", attempts=2, created_at=t0 + 2 * MINUTE,
                               sent_at=t0 + 4 * MINUTE)
    PostbackAttempt.create(postback=postback, attempted_at=t0 + 3 * MINUTE, http_status=None,
                           error="connection_refused: [Errno 111] Connection refused", duration_ms=5)
    PostbackAttempt.create(postback=postback, attempted_at=t0 + 4 * MINUTE, http_status=200, duration_ms=42)
    # Today: an operator marks it fraud (the ledger reverses it, deposit.reversed is written).
    assert activation.set_originality([tx.id], "fraud", world["operator"].id, ip="10.0.0.1") == 1
    return dict(world, tx=Transaction.get_by_id(tx.id), t0=t0, token=token)


def test_every_step_appears_in_time_order(fraud_story):
    entries = timeline(fraud_story["tx"], for_operator=True)
    kinds = [e.kind for e in entries]
    assert kinds == [
        "reported",
        "attempt", "attempt", "attempt",  # before the report; the wrong sender; the payer
        "ledger", "ledger",  # deposit, commission
        "postback",  # deposit.completed queued
        "postback_attempt", "postback_attempt",  # refused, then 200
        "fraud_mark", "ledger", "postback",  # the mark, its reversal, deposit.reversed
    ]
    times = [e.at for e in entries]
    assert times == sorted(times)

    reported = entries[0]
    assert reported.at == fraud_story["t0"]
    assert "bkash-phone-7" in reported.title
    assert reported.details["Amount"] == "600.00\u00a0BDT"

    before, mismatch, activated = entries[1:4]
    assert before.details["Reason code"] == "not_found" and "alice" in before.title
    assert mismatch.details["Reason code"] == "sender_mismatch"
    assert mismatch.details["Visitor's network"] == "198.51.100.0/24"
    assert mismatch.tone == "danger"
    assert activated.details["Reason code"] == "activated" and activated.tone == "success"
    # The other merchant's visitor is not in this transaction's story.
    assert not any("intruder-9" in every_text(e) or "192.0.2.0" in every_text(e) for e in entries)

    deposit, commission = entries[4:6]
    assert deposit.details["Amount"] == "600.00\u00a0BDT" and deposit.details["Available after"] == "600.00\u00a0BDT"
    assert commission.details["Amount"] == "-15.00\u00a0BDT" and commission.details["Available after"] == "585.00\u00a0BDT"

    queued, refused, delivered = entries[6:9]
    assert queued.details["Event"] == "deposit.completed"
    assert queued.details["Endpoint"] == "http://127.0.0.1:9/hook"
    assert refused.tone == "danger" and str(refused.details["Error"]) == "The server refused the connection."
    assert refused.details["Error"].detail == "[Errno 111] Connection refused"  # for the page's <details>
    assert delivered.tone == "success" and delivered.details["HTTP status"] == "200"
    assert delivered.details["Duration"] == "42 ms"

    mark, reversal, reversed_event = entries[9:]
    assert "ops-alice@example.test" in mark.title
    assert reversal.details["Amount"] == "-585.00\u00a0BDT" and reversal.details["Available after"] == "0.00\u00a0BDT"
    assert reversal.details["By"] == "ops-alice@example.test"
    assert reversed_event.details["Event"] == "deposit.reversed"


def test_merchants_see_operator_not_the_login(fraud_story):
    entries = timeline(fraud_story["tx"], for_operator=False)
    assert [e.kind for e in entries] == [e.kind for e in timeline(fraud_story["tx"], for_operator=True)]
    text = " ".join(every_text(e) for e in entries)
    assert "ops-alice" not in text
    mark = next(e for e in entries if e.kind == "fraud_mark")
    assert mark.actor == "Operator" and "Operator" in mark.title
    reversal = next(e for e in entries if e.kind == "ledger" and e.tone == "danger")
    assert reversal.details["By"] == "Operator"
    # The connector's name is the operators' business.
    assert "bkash-phone-7" not in text
    assert entries[0].title == "Reported by the payment system's connector"


def test_a_stockpiling_its_review_and_its_postback(world, monkeypatch):
    """Two small payments make one deposit, held for review, approved by an operator."""
    ps, m, w = world["ps"], world["m"], world["w"]
    t0 = datetime.datetime(2026, 3, 1, 12, 0)
    sp = Stockpiling.create(merchant=m, payment_system=ps, label="bob", currency="BDT",
                            required_amount=Decimal("500.00"), accumulated_amount=Decimal("600.00"),
                            status="completed", created_at=t0 + MINUTE, completed_at=t0 + 20 * MINUTE)
    first = factories.transaction(w, "300.00", label="bob", status="activated", postback_status="pending",
                                  stockpiling=sp, created_at=t0, activated_at=t0 + MINUTE,
                                  stockpiling_end_at=t0 + 20 * MINUTE)
    second = factories.transaction(w, "300.00", label="bob", status="activated", postback_status="pending",
                                   stockpiling=sp, created_at=t0 + 18 * MINUTE, activated_at=t0 + 20 * MINUTE,
                                   stockpiling_end_at=t0 + 20 * MINUTE)
    DepositReview.create(merchant=m, payment_system=ps, transaction=second, stockpiling=sp, label="bob",
                         amount=Decimal("600.00"), currency="BDT", rule="first_above", status="approved",
                         note="called the payer", created_at=t0 + 20 * MINUTE, decided_at=t0 + 50 * MINUTE,
                         decided_by=world["operator"])
    members = [first, second]
    book_at(monkeypatch, t0 + 50 * MINUTE, ledger.book_deposit, "stockpiling", sp.id, m.id, "BDT", members)
    Postback.create(event_id="evt_sp", merchant=m, endpoint=m.endpoint, event_type="deposit.completed",
                    object_type="stockpiling", object_id=sp.id, payload="{}", status="pending",
                    created_at=t0 + 50 * MINUTE)

    entries = timeline(first, for_operator=True)
    assert [e.kind for e in entries] == ["reported", "stockpiling_joined", "stockpiling_completed",
                                         "review_held", "review_decided", "ledger", "postback"]
    joined = entries[1]
    assert f"#{sp.id}" in joined.title and joined.details["Required"] == "500.00\u00a0BDT"
    assert "600.00\u00a0BDT of 500.00\u00a0BDT" in entries[2].title
    held, decided = entries[3:5]
    assert held.tone == "warning" and "first deposit" in held.title
    assert decided.details["Note"] == "called the payer" and "ops-alice@example.test" in decided.title
    assert entries[5].details["For"] == f"the whole stockpiling #{sp.id}"

    hidden = timeline(first, for_operator=False)
    assert not any("ops-alice" in every_text(e) for e in hidden)
    assert next(e for e in hidden if e.kind == "review_decided").title == "Approved in review by Operator"


def test_manual_entry_and_conflicting_reports(world):
    ps, m, w = world["ps"], world["m"], world["w"]
    tx = factories.transaction(w, "700.00", type="manual", created_at=datetime.datetime(2026, 3, 1, 9))
    AuditLog.create(user=world["operator"], merchant=m, action="transaction.create_manual",
                    object_type="transaction", object_id=str(tx.id), summary={"amount": "700.00"},
                    created_at=datetime.datetime(2026, 3, 1, 10))
    AuditLog.create(user=None, merchant=m, action="transaction.conflicting_report", object_type="transaction",
                    object_id=str(tx.id), created_at=datetime.datetime(2026, 3, 1, 11),
                    summary={"differences": ["amount"], "reported_amount": "7000.00", "reported_wallet": "0199"})
    # Another transaction's audit entry with this id as a prefix is not this one's.
    AuditLog.create(user=world["operator"], merchant=m, action="transaction.mark_fraud", object_type="transaction",
                    object_id=f"{tx.id}0", created_at=datetime.datetime(2026, 3, 1, 12))

    ops = timeline(tx, for_operator=True)
    assert [e.kind for e in ops] == ["reported", "conflicting_report"]
    assert ops[0].title == "Entered by hand by ops-alice@example.test"
    assert ops[1].details["Reported amount"] == "7,000.00"  # as people read it (issue 22)

    merchants = timeline(tx, for_operator=False)
    assert [e.kind for e in merchants] == ["reported"]  # what another report said is not theirs to see
    assert merchants[0].title == "Entered by hand by Operator"


def test_an_activation_no_attempt_explains(world):
    """Activated where no attempt was logged (before the attempt log, or a waiting visitor)."""
    tx = factories.transaction(world["w"], "600.00", label="carol", order_id="o-7", status="activated",
                               postback_status="sent", created_at=datetime.datetime(2026, 3, 1, 9),
                               activated_at=datetime.datetime(2026, 3, 1, 9, 5))
    entries = timeline(tx, for_operator=False)
    activated = next(e for e in entries if e.kind == "activated")
    assert "carol" in activated.title and activated.details["Order ID"] == "o-7"


def test_the_attempts_shown_are_capped(world, monkeypatch):
    from backoffice.services import timeline as module

    monkeypatch.setattr(module, "MAX_ATTEMPTS", 4)
    tx = factories.transaction(world["w"], "600.00", created_at=datetime.datetime(2026, 3, 1, 9))
    for n in range(7):
        ActivationAttempt.create(merchant=world["m"], payment_system=world["ps"],
                                 transaction_number=tx.transaction_number, label=f"guess{n}", transaction=tx.id,
                                 outcome="not_found", reason="sender_mismatch",
                                 created_at=datetime.datetime(2026, 3, 1, 10, n))
    attempts = [e for e in timeline(tx, for_operator=True) if e.kind == "attempt"]
    assert [e.details["Label"] for e in attempts] == ["guess0", "guess1", "guess5", "guess6"]
    assert attempts[2].text == "3 attempts before this one are not shown."


def test_through_the_services(world):
    """The same story written by the product's own services: a wrong sender's digits,
    the right ones, the deposit's postback delivered, a fraud mark and its reversal."""
    m, ps = world["m"], world["ps"]
    MatchingPolicy.create(merchant=m, require_sender=True, review_above=None, review_first_above=None)
    tx = factories.transaction(world["w"], "600.00", commission=Decimal("15.00"), counterparty="01811112222",
                               created_at=utcnow() - datetime.timedelta(minutes=10))
    wrong = activation.activate(m, ps.code, tx.transaction_number, "mallory", sender_last4="9999",
                                network="198.51.100.0/24")
    right = activation.activate(m, ps.code, tx.transaction_number, "alice", sender_last4="2222",
                                network="203.0.113.0/24")
    assert (wrong.status, right.status) == ("not_found", "activated")
    [delivery] = Postback.select().where((Postback.object_type == "transaction") & (Postback.object_id == tx.id))
    PostbackAttempt.create(postback=delivery, http_status=204, duration_ms=12)
    activation.set_originality([tx.id], "fraud", world["operator"].id)

    entries = timeline(Transaction.get_by_id(tx.id), for_operator=True)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    attempts = [e for e in entries if e.kind == "attempt"]
    assert [e.details["Reason code"] for e in attempts] == ["sender_mismatch", "activated"]
    assert attempts[0].details["The visitor was told"] == "Not found"
    ledger_kinds = [e.title for e in entries if e.kind == "ledger"]
    assert ledger_kinds == ["Credited to the balance", "Commission taken", "Reversed: taken back from the balance"]
    events = [e.details["Event"] for e in entries if e.kind == "postback"]
    assert events == ["deposit.completed", "deposit.reversed"]
    assert any(e.kind == "postback_attempt" and e.details["HTTP status"] == "204" for e in entries)
    kinds = [e.kind for e in entries]
    assert kinds.index("fraud_mark") < max(i for i, k in enumerate(kinds) if k == "ledger")
    assert "activated" not in kinds  # the attempt tells it already

    # The mark withdrawn: the deposit is booked back.
    activation.set_originality([tx.id], "normal", world["operator"].id)
    entries = timeline(Transaction.get_by_id(tx.id), for_operator=False)
    assert [e.kind for e in entries][-2:] == ["normal_mark", "ledger"]
    assert entries[-2].title == "Fraud mark withdrawn by Operator"
    assert entries[-1].title == "Credited again (fraud mark withdrawn)"
    assert entries[-1].details["Available after"] == "585.00\u00a0BDT"
