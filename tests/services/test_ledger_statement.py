"""Statements, pages of entries and operators' adjustments (SPEC §9), on the ledger the
services book: opening balance + entries = closing balance, whichever zone cuts the days."""
import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import factories
from backoffice.models import AuditLog, LedgerEntry
from backoffice.services import ledger
from backoffice.services.ledger_verify import verify
from backoffice.services.withdrawals import create_withdrawal, reject
from backoffice.timeutil import local_midnight_utc
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

KOLKATA = ZoneInfo("Asia/Kolkata")  # +05:30
UTC = ZoneInfo("UTC")
ZERO = Decimal("0.00")




@pytest.fixture
def shop(ctx):
    ps = seed_payment_systems()["bkash"]
    m = factories.merchant(timezone="Asia/Kolkata")
    factories.merchant_payment_system(m, ps)
    operator = factories.user("operator")
    return dict(m=m, ps=ps, operator=operator)


def book_around_midnight(shop, clock):
    """Entries on both sides of midnight, in UTC and in Kolkata (UTC 18:30 is Kolkata's
    midnight): returns each step's UTC time."""
    m, ps, op = shop["m"], shop["ps"], shop["operator"]
    times = {}
    clock.now = times["deposit"] = datetime.datetime(2026, 3, 9, 10, 0)       # 9th in both zones
    fund(m, ps, amount="1000.00", commission="25.00")
    clock.now = times["hold"] = datetime.datetime(2026, 3, 9, 20, 0)          # UTC 9th, Kolkata 10th 01:30
    w, _ = create_withdrawal(m, ps, "300.00", "BDT", label="payer", fields=VALID_FIELDS["bkash"], actor=op)
    clock.now = times["credit"] = datetime.datetime(2026, 3, 10, 3, 0)        # 10th in both zones
    ledger.adjust(m, "BDT", "50.00", "goodwill", op)
    clock.now = times["release"] = datetime.datetime(2026, 3, 10, 21, 0)      # UTC 10th, Kolkata 11th 02:30
    reject(w, op, "wrong account")
    clock.now = times["debit"] = datetime.datetime(2026, 3, 11, 12, 0)        # 11th in both zones
    ledger.adjust(m, "BDT", "-20.00", "fee correction", op)
    return times


def kinds(statement):
    return [e.kind for e in statement.entries]


def assert_adds_up(statement):
    available, on_hold = statement.opening
    for entry in statement.entries:
        available, on_hold = available + entry.amount, on_hold + entry.hold
        assert (entry.available_after, entry.on_hold_after) == (available, on_hold), entry.id
    assert statement.closing == (available, on_hold)


def day(zone, date):
    return local_midnight_utc(date, zone), local_midnight_utc(date + datetime.timedelta(days=1), zone)


def test_a_day_cut_in_kolkata_and_in_utc_adds_up_with_different_entries(shop, clock):
    book_around_midnight(shop, clock)
    m = shop["m"]
    tenth = datetime.date(2026, 3, 10)

    in_kolkata = ledger.statement(m, "BDT", *day(KOLKATA, tenth))
    assert kinds(in_kolkata) == ["withdrawal_hold", "adjustment"]
    assert in_kolkata.opening == (Decimal("975.00"), ZERO)  # after the deposit and its commission
    assert in_kolkata.closing == (Decimal("725.00"), Decimal("300.00"))
    assert_adds_up(in_kolkata)

    in_utc = ledger.statement(m, "BDT", *day(UTC, tenth))
    assert kinds(in_utc) == ["adjustment", "withdrawal_release"]
    assert in_utc.opening == (Decimal("675.00"), Decimal("300.00"))  # the hold was on the 9th in UTC
    assert in_utc.closing == (Decimal("1025.00"), ZERO)
    assert_adds_up(in_utc)

    # The whole history: from nothing to the balance row, and the books verify.
    everything = ledger.statement(m, "BDT", datetime.datetime(2000, 1, 1), datetime.datetime(2100, 1, 1))
    assert everything.opening == (ZERO, ZERO)
    assert kinds(everything) == ["deposit", "commission", "withdrawal_hold", "adjustment", "withdrawal_release",
                                 "adjustment"]
    assert everything.closing == everything.current == (Decimal("1005.00"), ZERO)
    assert_adds_up(everything)
    assert verify() == []


def test_consecutive_periods_chain_and_an_empty_period_keeps_its_opening(shop, clock):
    book_around_midnight(shop, clock)
    m = shop["m"]
    previous_closing = (ZERO, ZERO)
    for date in (datetime.date(2026, 3, d) for d in range(8, 13)):
        st = ledger.statement(m, "BDT", *day(KOLKATA, date))
        assert st.opening == previous_closing, date
        assert_adds_up(st)
        previous_closing = st.closing
    quiet = ledger.statement(m, "BDT", *day(KOLKATA, datetime.date(2026, 4, 1)))
    assert quiet.entries == [] and quiet.opening == quiet.closing == (Decimal("1005.00"), ZERO)


def test_an_adjustment_is_audited_in_its_transaction_and_identified_by_the_audit_entry(shop, clock):
    m, op = shop["m"], shop["operator"]
    entry = ledger.adjust(m, "BDT", Decimal("-12.50"), "  chargeback fee  ", op, ip="203.0.113.9")
    row = LedgerEntry.get(LedgerEntry.source_type == "adjustment")
    audit = AuditLog.get(AuditLog.action == "balance.adjust")
    assert row.source_id == audit.id == entry["source_id"]
    assert (row.kind, row.amount, row.hold, row.memo, row.actor_id) == (
        "adjustment", Decimal("-12.50"), ZERO, "chargeback fee", op.id)
    assert (audit.user_id, audit.merchant_id, audit.ip) == (op.id, m.id, "203.0.113.9")
    assert audit.summary == {"currency": "BDT", "amount": "-12.50", "reason": "chargeback fee"}
    # It may take the balance below zero (an operator's decision), and the books still verify.
    assert ledger.available(m, "BDT") == Decimal("-12.50")
    assert verify() == []


@pytest.mark.parametrize("currency,amount,reason,field", [
    ("BDT", "10.00", "", "reason"),
    ("BDT", "10.00", "   ", "reason"),
    ("BDT", "10.00", None, "reason"),
    ("BDT", "10.00", "x" * 2001, "reason"),
    ("BDT", "10.00", "bad\x00char", "reason"),
    ("BDT", "0", "zero", "amount"),
    ("BDT", "-0.00", "zero", "amount"),
    ("BDT", "", "empty", "amount"),
    ("BDT", "1.005", "too fine", "amount"),
    ("BDT", "NaN", "nan", "amount"),
    ("BDT", "1e3", "exponent", "amount"),
    ("", "10.00", "no currency", "currency"),
    ("bd", "10.00", "short", "currency"),
    ("XYZ", "10.00", "unknown", "currency"),
])
def test_a_bad_adjustment_names_its_field_and_books_nothing(shop, currency, amount, reason, field):
    with pytest.raises(ledger.LedgerError) as caught:
        ledger.adjust(shop["m"], currency, amount, reason, shop["operator"])
    assert field in caught.value.fields
    assert LedgerEntry.select().count() == 0 and AuditLog.select().count() == 0


def test_an_unknown_merchant_is_named(shop):
    with pytest.raises(ledger.LedgerError) as caught:
        ledger.adjust(999999, "BDT", "1.00", "why", shop["operator"])
    assert "merchant" in caught.value.fields


def test_every_adjustment_is_its_own_source_event(shop):
    m, op = shop["m"], shop["operator"]
    first = ledger.adjust(m, "BDT", "5.00", "same reason", op)
    second = ledger.adjust(m, "BDT", "5.00", "same reason", op)
    assert first["source_id"] != second["source_id"]
    assert ledger.available(m, "BDT") == Decimal("10.00")


def test_pages_of_entries_follow_the_booking_order_with_a_stable_cursor(shop, clock):
    book_around_midnight(shop, clock)
    m = shop["m"]
    other = factories.merchant()
    ledger.adjust(other, "BDT", "1.00", "elsewhere", shop["operator"])
    expected = [e.id for e in ledger.statement(m, "BDT", datetime.datetime(2000, 1, 1),
                                               datetime.datetime(2100, 1, 1)).entries]
    seen, cursor = [], None
    while True:
        page, more = ledger.entries_page(m, "BDT", after_id=cursor, limit=2)
        seen += [e.id for e in page]
        if not more:
            break
        cursor = page[-1].id
    assert seen == expected == sorted(expected)
    # A period: Kolkata's 10th.
    page, more = ledger.entries_page(m, "BDT", *day(KOLKATA, datetime.date(2026, 3, 10)), limit=10)
    assert [e.kind for e in page] == ["withdrawal_hold", "adjustment"] and not more
    # Entries booked after a page was read come on the next page; nothing is skipped.
    page, more = ledger.entries_page(m, "BDT", limit=100)
    clock.now = datetime.datetime(2026, 3, 12)
    ledger.adjust(m, "BDT", "1.00", "late", shop["operator"])
    later, _ = ledger.entries_page(m, "BDT", after_id=page[-1].id, limit=100)
    assert [e.memo for e in later] == ["late"]
    # Another merchant's (or currency's) entry is no cursor here.
    foreign = LedgerEntry.get(LedgerEntry.merchant == other).id
    for bad in (foreign, 10**12):
        with pytest.raises(ledger.LedgerError) as caught:
            ledger.entries_page(m, "BDT", after_id=bad)
        assert "cursor" in caught.value.fields
    with pytest.raises(ledger.LedgerError):
        ledger.entries_page(m, "INR", after_id=page[0].id)
