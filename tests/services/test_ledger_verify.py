"""``ledger_verify.check``: the recorded ledger check, and the state it leaves for the
operators' banner (SPEC §9)."""
import datetime
from decimal import Decimal

from ledger_verify_support import booked_merchant, change_a_transaction, change_an_entry

from backoffice.models import AuditLog, utcnow
from backoffice.services import ledger, ledger_verify


def checks():
    return list(AuditLog.select().where(AuditLog.action == "ledger.verify").order_by(AuditLog.id))


def test_a_consistent_ledger_is_recorded_as_such(ctx):
    m = booked_merchant("Clean", 1)
    assert ledger.available(m, "BDT") == Decimal("2650.00")  # 975 + 1,975 - 300 (the 50 came back)
    assert ledger_verify.latest_state() is None  # never checked

    assert ledger_verify.check() == []

    [entry] = checks()
    assert entry.user_id is None and entry.merchant_id is None  # operators' data, no actor
    assert entry.summary["consistent"] is True and entry.summary["merchant_id"] is None
    assert entry.summary["difference_count"] == 0 and entry.summary["outstanding"] == []
    state = ledger_verify.latest_state()
    assert not state.has_differences and state.merchant_id is None
    assert abs(state.checked_at - utcnow()) < datetime.timedelta(minutes=1)


def test_a_changed_entry_is_a_difference_naming_merchant_and_currency(ctx):
    m = booked_merchant("Tampered entry", 2)
    change_an_entry(m, by="1.00")

    [difference] = ledger_verify.check()

    assert (difference.merchant_id, difference.currency) == (m.id, "BDT")
    assert difference.balance == (Decimal("2650.00"), Decimal("300.00"))
    assert difference.entries == (Decimal("2651.00"), Decimal("300.00"))
    assert difference.sources == (Decimal("2650.00"), Decimal("300.00"))
    assert f"merchant {m.id} (Tampered entry) BDT" in difference.describe()
    summary = checks()[-1].summary
    assert summary["consistent"] is False and summary["difference_count"] == 1
    assert summary["differences"] == [{"merchant_id": m.id, "merchant": "Tampered entry", "currency": "BDT",
                                       "balance": ["2650.00", "300.00"], "entries": ["2651.00", "300.00"],
                                       "sources": ["2650.00", "300.00"]}]
    state = ledger_verify.latest_state()
    assert state.has_differences and state.count == 1
    assert state.outstanding == [{"merchant_id": m.id, "merchant": "Tampered entry", "currency": "BDT"}]


def test_a_changed_transaction_is_a_difference(ctx):
    m = booked_merchant("Tampered deposit", 3)
    change_a_transaction(m, by="10.00")

    [difference] = ledger_verify.check()

    assert (difference.merchant_id, difference.currency) == (m.id, "BDT")
    assert difference.balance == difference.entries == (Decimal("2650.00"), Decimal("300.00"))
    assert difference.sources == (Decimal("2660.00"), Decimal("300.00"))


def test_a_check_of_one_merchant_updates_only_that_merchants_part_of_the_state(ctx):
    a, b = booked_merchant("A", 4), booked_merchant("B", 5)
    entry_a = change_an_entry(a)
    change_a_transaction(b)

    assert {d.merchant_id for d in ledger_verify.check()} == {a.id, b.id}
    assert ledger_verify.latest_state().count == 2

    # A check of B alone finds B's difference only, and leaves A's outstanding.
    assert [d.merchant_id for d in ledger_verify.check(b.id)] == [b.id]
    assert checks()[-1].summary["merchant_id"] == b.id
    assert [i["merchant_id"] for i in ledger_verify.latest_state().outstanding] == [a.id, b.id]

    # A put right and checked alone: only B remains.
    from backoffice.db import db

    db.execute_sql(f'UPDATE "ledger_entry" SET "amount" = "amount" - 1 WHERE "id" = {entry_a}')
    assert ledger_verify.check(a) == []
    state = ledger_verify.latest_state()
    assert state.count == 1 and [i["merchant_id"] for i in state.outstanding] == [b.id]

    # A clean check of A cannot clear B; only a check that covers B can.
    assert ledger_verify.check(a.id) == []
    assert ledger_verify.latest_state().has_differences
    change_a_transaction(b, by="-10.00")
    assert ledger_verify.check() == []
    assert not ledger_verify.latest_state().has_differences


def test_a_full_check_is_due_only_after_the_age_given(ctx):
    booked_merchant("Due", 6)
    assert ledger_verify.last_full_check_at() is None and ledger_verify.check_due(3600)
    ledger_verify.check()
    assert not ledger_verify.check_due(3600) and ledger_verify.check_due(0)
    # A check of one merchant is not a full check.
    AuditLog.update(created_at=utcnow() - datetime.timedelta(hours=2)).where(
        AuditLog.action == "ledger.verify").execute()
    m = booked_merchant("Due 2", 7)
    ledger_verify.check(m.id)
    assert ledger_verify.check_due(3600)
