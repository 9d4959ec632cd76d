"""The ledger (SPEC §9): every money movement booked once, through one function, in the
transaction of the change; balances that the entries add up to; races on PostgreSQL and
SQLite alike (each thread has its own connection)."""
from collections import Counter
from decimal import Decimal

import pytest
from peewee import IntegrityError

import factories
from backoffice.db import db, write_transaction
from backoffice.models import Balance, LedgerEntry, Postback, Transaction, Withdrawal
from backoffice.services import ledger
from backoffice.services.activation import activate, set_originality
from backoffice.services.ingest import Report, ingest
from backoffice.services.ledger_verify import verify
from backoffice.services.withdrawals import (
    AlreadyDecided,
    InsufficientBalance,
    approve,
    create_withdrawal,
    reject,
)
from helpers import run_threads
from withdrawal_support import VALID_FIELDS, seed_payment_systems


@pytest.fixture
def shop(ctx):
    """A merchant on bKash (min deposit 500, commission 2.5 %) with one wallet and one
    webhook endpoint."""
    ps = seed_payment_systems()["bkash"]
    m = factories.merchant(postback_url="http://127.0.0.1:9/hook")
    factories.merchant_payment_system(m, ps, min_deposit="500.00", commission="2.50")
    w = factories.wallet(m, ps)
    return m, ps, w


def report(w, number, amount):
    return ingest(Report("bkash", w.number, number, Decimal(amount), "BDT"))


def entries(merchant):
    return list(LedgerEntry.select().where(LedgerEntry.merchant == merchant).order_by(LedgerEntry.id))


def assert_books_add_up(merchant, currency="BDT"):
    """The Balance row is the sum of the entries, and each entry's running balance
    follows from the one before it."""
    available = on_hold = Decimal("0.00")
    for entry in entries(merchant):
        available, on_hold = available + entry.amount, on_hold + entry.hold
        assert (entry.available_after, entry.on_hold_after) == (available, on_hold), entry.id
    row = Balance.get((Balance.merchant == merchant) & (Balance.currency == currency))
    assert (row.available, row.on_hold) == (available, on_hold)
    assert verify() == []


def test_book_runs_only_inside_the_change_transaction(shop):
    m, _, _ = shop
    with pytest.raises(RuntimeError):
        ledger.book(m.id, "BDT", "adjustment", 1, [("adjustment", Decimal("1.00"), Decimal("0.00"))])
    assert LedgerEntry.select().count() == 0 and Balance.select().count() == 0


def test_a_completed_deposit_books_its_amount_and_commission(shop):
    m, _, w = shop
    tx = report(w, "LED-1", "1000.00").transaction
    assert activate(m, "bkash", "LED-1", "visitor").status == "activated"

    deposit, commission = entries(m)
    assert (deposit.kind, deposit.amount, deposit.source_type, deposit.source_id) == (
        "deposit", Decimal("1000.00"), "transaction", tx.id)
    assert (commission.kind, commission.amount, commission.available_after) == (
        "commission", Decimal("-25.00"), Decimal("975.00"))
    assert ledger.available(m, "BDT") == Decimal("975.00")
    assert_books_add_up(m)


def test_a_source_event_cannot_book_twice(shop):
    m, _, w = shop
    tx = report(w, "LED-2", "700.00").transaction
    activate(m, "bkash", "LED-2", "visitor")
    with pytest.raises(IntegrityError):
        with write_transaction():
            ledger.book_deposit("transaction", tx.id, m.id, "BDT", [Transaction.get_by_id(tx.id)])
    assert ledger.available(m, "BDT") == Decimal("682.50")
    assert_books_add_up(m)


def test_a_stockpiling_completion_books_one_deposit(app, shop):
    m, _, w = shop
    for i in range(10):
        report(w, f"PART-{i}", "50.00")

    outcomes = run_threads(app, 10, lambda i: activate(m, "bkash", f"PART-{i}", "same-visitor").status)

    assert Counter(outcomes) == Counter({"stockpiling": 9, "activated": 1})
    assert [(e.kind, e.source_type, e.amount) for e in entries(m)] == [
        ("deposit", "stockpiling", Decimal("500.00")), ("commission", "stockpiling", Decimal("-12.50"))]
    assert_books_add_up(m)


def test_fraud_after_completion_reverses_and_a_withdrawn_mark_books_back(shop):
    m, _, w = shop
    tx = report(w, "LED-3", "800.00").transaction
    activate(m, "bkash", "LED-3", "visitor")
    operator = factories.user("operator")
    deposit_status = Transaction.get_by_id(tx.id).postback_status
    assert deposit_status == "pending"

    assert set_originality([tx.id], "fraud", operator.id, reason="chargeback from the wallet") == 1
    assert ledger.available(m, "BDT") == Decimal("0.00")
    reversal = entries(m)[-1]
    assert (reversal.kind, reversal.amount, reversal.actor_id, reversal.memo) == (
        "deposit_reversal", Decimal("-780.00"), operator.id, "chargeback from the wallet")
    event = Postback.get(Postback.event_type == "deposit.reversed")
    assert '"reason":"chargeback from the wallet"' in event.payload and '"amount":"800.00"' in event.payload
    assert Transaction.get_by_id(tx.id).postback_status == deposit_status  # the deposit's own postback

    assert set_originality([tx.id], "normal", operator.id) == 1
    assert set_originality([tx.id], "fraud", operator.id) == 1  # reversed a second time: booked again
    assert [(e.kind, e.occurrence) for e in entries(m)] == [
        ("deposit", 1), ("commission", 1), ("deposit_reversal", 1), ("deposit", 2), ("deposit_reversal", 2)]
    assert ledger.available(m, "BDT") == Decimal("0.00")
    assert_books_add_up(m)


def test_fraud_before_completion_books_nothing(shop):
    m, _, w = shop
    tx = report(w, "LED-4", "100.00").transaction  # below the minimum: a stockpiling opens
    activate(m, "bkash", "LED-4", "visitor")
    set_originality([tx.id], "fraud", factories.user("operator").id)
    assert entries(m) == []
    assert verify() == []


def test_withdrawals_hold_release_and_pay_out(shop):
    m, ps, w = shop
    report(w, "LED-5", "1000.00")
    activate(m, "bkash", "LED-5", "visitor")
    operator = factories.user("operator")

    first, _ = create_withdrawal(m, ps, "300.00", "BDT", fields=VALID_FIELDS["bkash"])
    second, _ = create_withdrawal(m, ps, "200.00", "BDT", fields=VALID_FIELDS["bkash"])
    row = Balance.get(Balance.merchant == m)
    assert (row.available, row.on_hold) == (Decimal("475.00"), Decimal("500.00"))

    approve(first, operator, w, "TRX-1")
    reject(second, operator, "wrong wallet")
    row = Balance.get(Balance.merchant == m)
    assert (row.available, row.on_hold) == (Decimal("675.00"), Decimal("0.00"))
    assert [e.kind for e in entries(m)][-4:] == [
        "withdrawal_hold", "withdrawal_hold", "withdrawal_payout", "withdrawal_release"]
    with pytest.raises(InsufficientBalance):
        create_withdrawal(m, ps, "675.01", "BDT", fields=VALID_FIELDS["bkash"])
    assert_books_add_up(m)


def test_thirty_requests_racing_for_a_balance_that_covers_ten(app, shop):
    m, ps, w = shop
    factories.transaction(w, amount="1000.00", commission=Decimal("0.00"), status="activated",
                          postback_status="sent", label="payer")

    def request(i):
        try:
            create_withdrawal(m, ps, "100.00", "BDT", fields=VALID_FIELDS["bkash"], withdrawal_id=f"race-{i}")
            return "created"
        except InsufficientBalance:
            return "refused"

    outcomes = run_threads(app, 30, request)

    assert Counter(outcomes) == Counter({"created": 10, "refused": 20})
    assert Withdrawal.select().count() == 10
    assert all(e.available_after >= 0 for e in entries(m))
    row = Balance.get(Balance.merchant == m)
    assert (row.available, row.on_hold) == (Decimal("0.00"), Decimal("1000.00"))
    assert_books_add_up(m)


def test_twenty_concurrent_completions_and_reversals_book_each_source_once(app, shop):
    m, _, w = shop
    operator = factories.user("operator")
    done = []
    for i in range(10):  # completed already: their reversals race below
        tx = report(w, f"DONE-{i}", "600.00").transaction
        activate(m, "bkash", f"DONE-{i}", f"v{i}")
        done.append(tx.id)
    for i in range(10):
        report(w, f"NEW-{i}", "600.00")

    def work(i):
        if i < 20:  # two visitors race for each new number
            return activate(m, "bkash", f"NEW-{i // 2}", f"racer-{i}").status
        return set_originality([done[(i - 20) // 2]], "fraud", operator.id)  # two operators per deposit

    outcomes = run_threads(app, 40, work)

    assert Counter(outcomes[:20]) == Counter({"activated": 10, "already_activated": 10})
    assert sorted(outcomes[20:]) == [0] * 10 + [1] * 10
    keys = Counter((e.source_type, e.source_id, e.kind, e.occurrence) for e in entries(m))
    assert set(keys.values()) == {1}
    assert Counter(e.kind for e in entries(m)) == Counter(
        {"deposit": 20, "commission": 20, "deposit_reversal": 10})
    assert ledger.available(m, "BDT") == Decimal("5850.00")  # 10 × (600 − 15)
    assert_books_add_up(m)


def test_approval_and_rejection_racing_on_one_request(app, shop):
    m, ps, w = shop
    factories.transaction(w, amount="1000.00", commission=Decimal("0.00"), status="activated",
                          postback_status="sent", label="payer")
    request, _ = create_withdrawal(m, ps, "400.00", "BDT", fields=VALID_FIELDS["bkash"])
    operators = [factories.user("operator") for _ in range(2)]

    def decide(i):
        try:
            if i % 2:
                approve(request.id, operators[0], w, "TRX-1")
                return "approved"
            reject(request.id, operators[1], "no")
            return "rejected"
        except AlreadyDecided:
            return "late"

    outcomes = run_threads(app, 10, decide)

    assert Counter(outcomes)["late"] == 9
    decision = Withdrawal.get_by_id(request.id).status
    assert Counter(outcomes)[decision] == 1
    decided = [e for e in entries(m) if e.kind in ("withdrawal_payout", "withdrawal_release")]
    assert len(decided) == 1
    assert decided[0].kind == ("withdrawal_payout" if decision == "approved" else "withdrawal_release")
    assert_books_add_up(m)


def test_verify_names_the_merchant_and_currency_of_a_tampered_entry(shop):
    m, _, w = shop
    report(w, "LED-6", "1000.00")
    activate(m, "bkash", "LED-6", "visitor")
    assert verify() == []
    db.execute_sql('UPDATE "ledger_entry" SET "amount" = 999 WHERE "kind" = \'deposit\'')
    (difference,) = verify()
    assert (difference.merchant_id, difference.currency) == (m.id, "BDT")
    assert f"merchant {m.id}" in difference.describe() and "BDT" in difference.describe()
