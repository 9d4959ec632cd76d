"""Visitors' appeals (SPEC §12, issue 19) as plain functions: filing one, the
operator's match (the deposit completed through the activation's rule: ledger,
event, delivery, audit) or rejection, and the search for candidates."""
import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

import factories
from backoffice.models import Appeal, AuditLog, Event, LedgerEntry, Postback, Transaction, utcnow
from backoffice.services import appeals, ledger
from backoffice.services.activation import activate
from backoffice.services.appeals import AppealError
from backoffice.services.ingest import Report, ingest

D = Decimal


@pytest.fixture
def shop(ctx):
    bkash = factories.payment_system("bkash", "BDT")
    nagad = factories.payment_system("nagad", "BDT")
    m = factories.merchant(name="Shop", postback_url="http://127.0.0.1:9/hook")  # one endpoint
    other = factories.merchant(name="Other", postback_url="http://127.0.0.1:9/other")
    settings = factories.merchant_payment_system(m, bkash, min_deposit="500.00", commission="2.50")
    nagad_settings = factories.merchant_payment_system(m, nagad, min_deposit="500.00", commission="2.50")
    factories.merchant_payment_system(other, bkash, min_deposit="500.00", commission="2.50")
    return SimpleNamespace(
        m=m, other=other, bkash=bkash, nagad=nagad, settings=settings, nagad_settings=nagad_settings,
        wallet=factories.wallet(m, bkash), nagad_wallet=factories.wallet(m, nagad),
        other_wallet=factories.wallet(other, bkash), operator=factories.user("operator"))


def reported(wallet, number, amount="700.00", counterparty="01712345678", at=None, direction="incoming"):
    ps = wallet.payment_system
    return ingest(Report(ps.code, wallet.number, number, D(amount), ps.currency, direction=direction,
                         counterparty=counterparty, occurred_at=at)).transaction


def appeal(shop, number="TX-1", label="visitor-1", amount="700.00", sender="01712345678", paid_at=None,
           settings=None, **kw):
    return appeals.file(settings or shop.settings, label, number, D(amount), sender,
                        paid_at or utcnow() - datetime.timedelta(hours=1), **kw)


def fresh(row):
    return type(row).get_by_id(row.id)


def events_of(tx):
    return list(Event.select().where((Event.object_type == "transaction") & (Event.object_id == tx.id)))


def deposit_entries(tx):
    return LedgerEntry.select().where((LedgerEntry.kind == "deposit") & (LedgerEntry.source_type == "transaction")
                                      & (LedgerEntry.source_id == tx.id)).count()


def assert_untouched(tx):
    row = fresh(tx)
    assert row.status == "new" and row.label is None and row.postback_status == "not_activated"
    assert events_of(row) == [] and deposit_entries(row) == 0


# --- filing -------------------------------------------------------------------------------------

def test_filing_gives_a_reference_and_the_same_number_again_gives_the_same_appeal(shop):
    paid = utcnow() - datetime.timedelta(hours=2)
    first, created = appeal(shop, "TX-1", paid_at=paid, order_id="ord-1", network="203.0.113.0/24")
    assert created and first.public_id.startswith("apl_") and len(first.public_id) == appeals.ID_LENGTH
    row = fresh(first)
    assert (row.status, row.merchant_id, row.payment_system_id, row.currency) == ("open", shop.m.id, shop.bkash.id,
                                                                                  "BDT")
    assert (row.label, row.order_id, row.transaction_number, row.amount, row.sender, row.paid_at) == (
        "visitor-1", "ord-1", "TX-1", D("700.00"), "01712345678", paid)
    assert row.network == "203.0.113.0/24" and row.has_receipt is False and row.transaction_id is None
    assert appeals.visitor_state(row) == {"id": first.public_id, "status": "open"}
    again, created = appeal(shop, "TX-1", amount="650.00")
    assert not created and again.id == first.id and fresh(first).amount == D("700.00")
    # Another visitor, or another payment system, with the same number: an appeal of its own.
    assert appeal(shop, "TX-1", label="visitor-2")[1]
    assert appeal(shop, "TX-1", settings=shop.nagad_settings)[1]
    assert Appeal.select().count() == 3
    assert appeals.by_public_id(first.public_id).id == first.id
    assert appeals.by_public_id(first.public_id, merchant_id=shop.other.id) is None
    assert appeals.by_public_id("apl_nothing") is None and appeals.by_public_id("evt_x") is None


def test_a_visitor_has_a_limited_number_of_open_appeals(shop):
    for i in range(3):
        assert appeal(shop, f"LIM-{i}", open_limit=3)[1]
    with pytest.raises(appeals.TooManyOpenAppeals) as err:
        appeal(shop, "LIM-3", open_limit=3)
    assert err.value.status == 409 and set(err.value.fields) == {"transaction_number"}
    assert not appeal(shop, "LIM-1", open_limit=3)[1]  # one of its own still answers
    assert appeal(shop, "LIM-3", label="someone-else", open_limit=3)[1]  # per visitor
    # A decided appeal no longer counts; the same number again is then a new appeal.
    decided = Appeal.get(Appeal.transaction_number == "LIM-0")
    appeals.reject(decided.id, "Not received.", shop.operator)
    new, created = appeal(shop, "LIM-0", open_limit=3)
    assert created and new.id != decided.id
    assert appeals.open_count(shop.m.id) == 4 and appeals.open_count(shop.other.id) == 0
    assert appeals.open_count() == 4


@pytest.mark.parametrize("offset", [datetime.timedelta(minutes=11), datetime.timedelta(days=2),
                                    -datetime.timedelta(days=91)])
def test_a_payment_time_in_the_future_or_too_old_is_refused(shop, offset):
    now = utcnow()
    with pytest.raises(AppealError) as err:
        appeal(shop, paid_at=now + offset, now=now)
    assert err.value.field == "paid_at"
    assert Appeal.select().count() == 0


def test_a_payment_time_within_the_clock_skew_or_the_90_days_is_taken(shop):
    now = utcnow()
    assert appeal(shop, "OK-1", paid_at=now + datetime.timedelta(minutes=9), now=now)[1]
    assert appeal(shop, "OK-2", paid_at=now - datetime.timedelta(days=89), now=now)[1]


# --- matching -------------------------------------------------------------------------------------

def test_matching_completes_the_deposit_for_the_appeals_visitor_once(shop):
    tx = reported(shop.wallet, "TX-1", "700.00")
    filed, _ = appeal(shop, "TX-1", order_id="ord-9")
    outcome = appeals.match(filed.id, tx.id, shop.operator, ip="10.1.2.3")
    assert outcome.status == "activated" and outcome.amount == D("700.00")
    row = fresh(tx)
    assert (row.status, row.label, row.order_id, row.postback_status) == ("activated", "visitor-1", "ord-9",
                                                                          "pending")
    (event,) = events_of(row)
    assert event.event_type == "deposit.completed"
    (delivery,) = Postback.select()
    assert delivery.event_id == event.event_id and delivery.endpoint_id == shop.m.endpoint.id
    assert deposit_entries(row) == 1
    assert ledger.available(shop.m, "BDT") == D("682.50")  # 700 less 2.5 %
    done = fresh(filed)
    assert (done.status, done.transaction_id, done.resolved_by_id) == ("matched", tx.id, shop.operator.id)
    assert done.resolved_at is not None
    assert appeals.visitor_state(done) == {"id": filed.public_id, "status": "matched"}
    (entry,) = AuditLog.select().where(AuditLog.action == "appeal.match")
    assert entry.user_id == shop.operator.id and entry.ip == "10.1.2.3" and entry.object_id == str(filed.id)
    assert entry.summary["transaction"] == tx.id and entry.summary["outcome"] == "activated"
    # Once: neither the same appeal again, nor the visitor's own activation, credits it again.
    with pytest.raises(AppealError) as err:
        appeals.match(filed.id, tx.id, shop.operator)
    assert err.value.field == "appeal"
    assert activate(shop.m, "bkash", "TX-1", "visitor-1").status == "already_activated"
    assert len(events_of(tx)) == 1 and Postback.select().count() == 1 and deposit_entries(tx) == 1
    assert ledger.available(shop.m, "BDT") == D("682.50")
    assert appeals.open_count() == 0


def test_a_transaction_of_another_merchant_or_payment_system_is_refused_and_the_appeal_stays_open(shop):
    theirs = reported(shop.other_wallet, "THEIRS-1")
    on_nagad = reported(shop.nagad_wallet, "NAGAD-1")
    filed, _ = appeal(shop, "THEIRS-1")
    for tx in (theirs, on_nagad):
        with pytest.raises(AppealError) as err:
            appeals.match(filed.id, tx.id, shop.operator)
        assert err.value.field == "transaction"
        assert_untouched(tx)
    with pytest.raises(AppealError) as err:
        appeals.match(filed.id, 999999, shop.operator)
    assert err.value.field == "transaction"
    with pytest.raises(AppealError) as err:
        appeals.match(999999, theirs.id, shop.operator)
    assert err.value.field == "appeal"
    row = fresh(filed)
    assert (row.status, row.transaction_id, row.resolved_at) == ("open", None, None)
    assert AuditLog.select().where(AuditLog.action == "appeal.match").count() == 0


def test_a_payment_credited_to_another_visitor_is_refused_and_the_appeal_stays_open(shop):
    tx = reported(shop.wallet, "TAKEN-1")
    assert activate(shop.m, "bkash", "TAKEN-1", "somebody-else").status == "activated"
    filed, _ = appeal(shop, "TAKEN-1")
    with pytest.raises(AppealError) as err:
        appeals.match(filed.id, tx.id, shop.operator)
    assert err.value.field == "transaction"
    assert fresh(tx).label == "somebody-else"
    assert len(events_of(tx)) == 1 and deposit_entries(tx) == 1
    assert fresh(filed).status == "open" and fresh(filed).transaction_id is None
    assert AuditLog.select().where(AuditLog.action == "appeal.match").count() == 0
    # The operator may still match it to the right payment.
    right = reported(shop.wallet, "RIGHT-1")
    assert appeals.match(filed.id, right.id, shop.operator).status == "activated"
    assert fresh(right).label == "visitor-1"


def test_a_payment_the_visitor_credited_meanwhile_matches_without_a_second_deposit(shop):
    tx = reported(shop.wallet, "SELF-1")
    filed, _ = appeal(shop, "SELF-1")
    assert activate(shop.m, "bkash", "SELF-1", "visitor-1").status == "activated"
    outcome = appeals.match(filed.id, tx.id, shop.operator)
    assert outcome.status == "already_activated"
    assert fresh(filed).status == "matched" and fresh(filed).transaction_id == tx.id
    assert len(events_of(tx)) == 1 and deposit_entries(tx) == 1
    assert ledger.available(shop.m, "BDT") == D("682.50")


def test_outgoing_and_fraud_payments_cannot_be_matched(shop):
    out = reported(shop.wallet, "OUT-1", direction="outgoing")
    fraud = reported(shop.wallet, "FRAUD-1")
    Transaction.update(originality="fraud").where(Transaction.id == fraud.id).execute()
    filed, _ = appeal(shop, "OUT-1")
    for tx in (out, fraud):
        with pytest.raises(AppealError) as err:
            appeals.match(filed.id, tx.id, shop.operator)
        assert err.value.field == "transaction"
    assert fresh(filed).status == "open"
    assert Event.select().count() == 0 and LedgerEntry.select().count() == 0


def test_matching_when_the_payment_system_was_disabled_meanwhile_is_an_appeal_error(shop):
    """``match`` refuses with ``AppealError`` (the Appeals screen shows it), never lets
    the activation's own error through."""
    tx = reported(shop.wallet, "OFF-1")
    filed, _ = appeal(shop, "OFF-1")
    shop.settings.enabled = False
    shop.settings.save()
    with pytest.raises(AppealError):
        appeals.match(filed.id, tx.id, shop.operator)
    assert fresh(filed).status == "open"
    assert_untouched(tx)


# --- rejecting ------------------------------------------------------------------------------------

def test_rejecting_needs_a_reason_the_visitor_then_reads(shop):
    filed, _ = appeal(shop, "REJ-1")
    for reason in ("", "   ", None, "x" * (appeals.MAX_REASON + 1)):
        with pytest.raises(AppealError) as err:
            appeals.reject(filed.id, reason, shop.operator)
        assert err.value.field == "reason"
    assert fresh(filed).status == "open"
    done = appeals.reject(filed.id, "  No such payment reached the wallet.  ", shop.operator, ip="10.9.9.9")
    assert (done.status, done.reason, done.resolved_by_id) == ("rejected", "No such payment reached the wallet.",
                                                               shop.operator.id)
    assert appeals.visitor_state(done) == {"id": filed.public_id, "status": "rejected",
                                           "reason": "No such payment reached the wallet."}
    (entry,) = AuditLog.select().where(AuditLog.action == "appeal.reject")
    assert entry.summary["reason"] == "No such payment reached the wallet." and entry.ip == "10.9.9.9"


def test_a_decided_appeal_cannot_be_decided_again(shop):
    tx = reported(shop.wallet, "TWICE-1")
    matched, _ = appeal(shop, "TWICE-1")
    appeals.match(matched.id, tx.id, shop.operator)
    rejected, _ = appeal(shop, "TWICE-2")
    appeals.reject(rejected.id, "Wrong number.", shop.operator)
    other = reported(shop.wallet, "TWICE-3")
    for decided in (matched, rejected):
        with pytest.raises(AppealError) as err:
            appeals.reject(decided.id, "again", shop.operator)
        assert err.value.field == "appeal"
        with pytest.raises(AppealError) as err:
            appeals.match(decided.id, other.id, shop.operator)
        assert err.value.field == "appeal"
    assert_untouched(other)
    assert (fresh(matched).status, fresh(rejected).status, fresh(rejected).reason) == (
        "matched", "rejected", "Wrong number.")
    with pytest.raises(AppealError) as err:
        appeals.reject(999999, "no such", shop.operator)
    assert err.value.field == "appeal"


# --- the operators' search ------------------------------------------------------------------------

def test_candidates_by_number_amount_sender_and_time(shop):
    t0 = utcnow().replace(microsecond=0) - datetime.timedelta(days=2)
    a = reported(shop.wallet, "C-A", "700.00", counterparty="01711110000", at=t0)
    b = reported(shop.wallet, "C-B", "700.00", counterparty="01722220000", at=t0 + datetime.timedelta(hours=5))
    c = reported(shop.wallet, "C-C", "900.00", counterparty="01711119999", at=t0 + datetime.timedelta(hours=30))
    reported(shop.wallet, "C-OUT", "700.00", counterparty="01711110000", at=t0, direction="outgoing")
    reported(shop.other_wallet, "C-THEIRS", "700.00", counterparty="01711110000", at=t0)
    reported(shop.nagad_wallet, "C-NAGAD", "700.00", counterparty="01711110000", at=t0)
    filed, _ = appeal(shop, "NOT-REPORTED", amount="700.00", paid_at=t0 + datetime.timedelta(hours=2))

    def ids(**criteria):
        return [t.id for t in appeals.candidates(fresh(filed), **criteria)]

    assert ids(number="C-B") == [b.id]
    assert ids(number=" C-B ") == [b.id]
    assert ids(number="C-THEIRS") == [] and ids(number="C-OUT") == [] and ids(number="C-NAGAD") == []
    assert ids(amount=D("700.00")) == [b.id, a.id]  # newest first
    assert ids(sender="1111") == [c.id, a.id]
    assert ids(sender="01722220000") == [b.id]
    assert ids(start=t0 + datetime.timedelta(hours=1)) == [c.id, b.id]
    assert ids(start=t0, end=t0 + datetime.timedelta(hours=5)) == [a.id]
    assert ids(amount=D("700.00"), sender="1111") == [a.id]
    assert ids(amount=D("1.00")) == []
    assert ids(limit=1, sender="0") == [c.id]
    # No criterion: the stated amount within a day of the stated time (the number was not reported).
    assert ids() == [b.id, a.id]
    # Once the number is reported, no criterion means that number.
    d = reported(shop.wallet, "NOT-REPORTED", "650.00", at=t0 + datetime.timedelta(days=1, hours=2))
    assert ids() == [d.id]
