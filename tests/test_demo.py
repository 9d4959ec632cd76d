"""The demo tells the truth (issue 22, point 10): its data is made through the services
real data goes through, so every postback state has its event, deliveries and attempts
behind it, Resend has something to send, and the ledger, the rollups and the logs agree.

(``tests/test_cli.py`` has the ``backoffice demo`` command's own tests: the credentials
file, a second run, the logins, the states it shows.)"""
import datetime
import json
from decimal import Decimal

import pytest

from backoffice import demo, models
from backoffice.demo import HistoryClock, build_demo, receiver_url
from backoffice.models import (
    ActivationAttempt,
    Appeal,
    AuditLog,
    Event,
    LedgerEntry,
    MatchingPolicy,
    Merchant,
    Postback,
    PostbackAttempt,
    StatBucket,
    Transaction,
    Wallet,
    WebhookEndpoint,
    Withdrawal,
    utcnow,
)
from backoffice.services import postbacks, stats_rollup
from backoffice.services import wallets as wallet_rules
from backoffice.services.ledger_verify import verify

BASE_URL = "http://127.0.0.1:5000"
NO_POSTBACK = ("not_activated", "stockpiling")
EVENT_FOR = {"approved": "withdrawal.approved", "rejected": "withdrawal.rejected", "cancelled": "withdrawal.cancelled"}


@pytest.fixture
def built(ctx):
    """The demo on a database with the operators' default matching policy of a real
    installation (migration 0012: the sender's last 4 digits, a 24-hour window)."""
    MatchingPolicy.create(merchant=None, require_sender=True, require_amount=False, amount_tolerance=Decimal("0"),
                          window_minutes=24 * 60, updated_at=utcnow())
    started = utcnow()
    credentials = build_demo(BASE_URL, transactions=400)
    return credentials, started


def _events_of(object_type, object_id):
    return list(Event.select().where((Event.object_type == object_type) & (Event.object_id == object_id)
                                     & Event.event_type.in_(sorted(postbacks.STATUS_EVENTS))).order_by(Event.id))


def _every_postback_state_has_its_event_and_deliveries_behind_it(credentials, started):
    states = {}
    for tx in Transaction.select():
        states[tx.postback_status] = states.get(tx.postback_status, 0) + 1
        if tx.postback_status in NO_POSTBACK:
            assert not _events_of("transaction", tx.id)
            continue
        events = _events_of("stockpiling", tx.stockpiling_id) if tx.stockpiling_id else _events_of("transaction", tx.id)
        assert len(events) == 1, (tx.id, tx.postback_status)
        deliveries = [pb.status for pb in Postback.select().where(Postback.event_id == events[0].event_id)]
        assert deliveries, tx.id
        assert postbacks.summary_status(deliveries) == tx.postback_status, (tx.id, deliveries)
    # Every state a merchant can see is there, each with what it claims behind it.
    assert set(states) == {"not_activated", "stockpiling", "pending", "sent", "error"}, states
    for w in Withdrawal.select():
        if w.status == "new":
            assert w.postback_status is None and not _events_of("withdrawal", w.id)
            continue
        events = _events_of("withdrawal", w.id)
        assert [e.event_type for e in events] == [EVENT_FOR[w.status]]
        deliveries = [pb.status for pb in Postback.select().where(Postback.event_id == events[0].event_id)]
        expected = postbacks.WITHDRAWAL_STATUS_FOR[postbacks.summary_status(deliveries)]
        assert w.postback_status == expected
    assert {w.status for w in Withdrawal.select()} == {"new", "approved", "rejected"}


def _the_deliveries_really_happened(credentials, started):
    for pb in Postback.select():
        attempts = list(PostbackAttempt.select().where(PostbackAttempt.postback == pb.id)
                        .order_by(PostbackAttempt.attempted_at))
        assert len(attempts) == pb.attempts
        if pb.status == "sent":
            assert 200 <= attempts[-1].http_status < 300 and pb.sent_at == attempts[-1].attempted_at
        elif pb.status == "error":
            # The retries of SPEC §7 were all spent: Demo Shop's server did not know the order.
            assert pb.attempts == len(postbacks.DEFAULT_BACKOFF) + 1
            assert {a.http_status for a in attempts} == {422}
            assert attempts[-1].attempted_at - attempts[0].attempted_at > datetime.timedelta(hours=24)
        else:
            assert pb.status == "pending" and pb.next_attempt_at is not None
    pending = list(Postback.select().where(Postback.status == "pending"))
    # Left for the worker: the deliveries of the last minutes (never tried, due now)…
    fresh = [pb for pb in pending if pb.attempts == 0]
    assert len(fresh) >= 2 and all(pb.next_attempt_at <= utcnow() for pb in fresh)
    # …and Lucky Games' latest, failed during its server's outage (503), retried later.
    lucky = WebhookEndpoint.get(WebhookEndpoint.merchant == credentials["merchants"][1]["id"])
    assert lucky.consecutive_failures >= 1 and lucky.failing_since is not None
    # Its circuit does not keep the first ``make run`` from delivering to the demo receiver.
    assert lucky.circuit_until is None or lucky.circuit_until < utcnow() + datetime.timedelta(minutes=5)
    assert {a.http_status for pb in pending if pb.endpoint_id == lucky.id
            for a in PostbackAttempt.select().where(PostbackAttempt.postback == pb.id)} <= {503}


def _resend_has_something_to_send(credentials, started):
    failed = Transaction.select().where(Transaction.postback_status == "error").first()
    events = postbacks.latest_events_for_objects("transaction", [failed.id])
    assert len(events) == 1
    again = postbacks.resend_event(events[0])
    assert len(again) == 1 and again[0].status == "pending" and again[0].delivery == 2
    assert Transaction.get_by_id(failed.id).postback_status == "pending"


def _the_books_and_the_logs_agree(credentials, started):
    assert verify() == []  # balances, entries and source records
    # The dashboard's rollups were written as it happened: a rebuild finds the same sums.
    def sums():
        return sorted((b.merchant_id, b.payment_system_id, b.kind, b.date_kind, b.complete, b.bucket, b.amount, b.count)
                      for b in StatBucket.select().where(StatBucket.count != 0))
    lived = sums()
    stats_rollup.rebuild()
    assert sums() == lived and lived
    # Every claim is in the activation attempt log; the mistyped senders too.
    reasons = {a.reason for a in ActivationAttempt.select()}
    assert {"activated", "stockpiling", "sender_mismatch"} <= reasons
    assert AuditLog.select().where(AuditLog.action == "transaction.mark_fraud").exists()
    assert AuditLog.select().where(AuditLog.action == "transaction.create_manual").exists()


def _the_history_is_lived_in_the_past(credentials, started):
    assert abs(utcnow() - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)) < datetime.timedelta(
        seconds=5)  # the build's clock is gone
    assert models.datetime is datetime
    # Nothing after the build started; the events, deliveries and books are as old as what they report.
    for model, field in ((Event, Event.created_at), (PostbackAttempt, PostbackAttempt.attempted_at),
                         (LedgerEntry, LedgerEntry.created_at), (Transaction, Transaction.activated_at)):
        assert model.select().where(field > started).count() == 0, model
    oldest = datetime.timedelta(days=demo.DAYS - 1)
    assert Event.select().where(Event.created_at < started - oldest).exists()
    for event in Event.select().where(Event.object_type == "transaction").limit(50):
        tx = Transaction.get_by_id(event.object_id)
        assert abs(event.created_at - tx.activated_at) < datetime.timedelta(seconds=1)
        assert json.loads(event.payload)["data"]["transactions"][0]["id"] == tx.id


def _the_merchants_endpoints_point_at_the_demo_receiver(credentials, started):
    for merchant in credentials["merchants"]:
        endpoint = WebhookEndpoint.get(WebhookEndpoint.merchant == merchant["id"])
        assert endpoint.url == receiver_url(BASE_URL, merchant["id"]) == (
            f"http://127.0.0.1:5000/demo/receiver/{merchant['id']}")
        assert endpoint.secret == merchant["postback_secret"]


def _wallet_operations_and_appeals_are_shown(credentials, started):
    """Each merchant has an appeal matched (its deposit credited to the appeal's label),
    one rejected with its reason, one open; limited wallets whose totals match their
    reports; a silent wallet, paused where its operator chose the automatic pause."""
    for merchant in credentials["merchants"]:
        mine = list(Appeal.select().where(Appeal.merchant == merchant["id"]))
        assert sorted(a.status for a in mine) == ["matched", "open", "rejected"]
        matched = next(a for a in mine if a.status == "matched")
        tx = Transaction.get_by_id(matched.transaction_id)
        assert tx.status == "activated" and tx.label == matched.label
        assert next(a for a in mine if a.status == "rejected").reason
        wallets = list(Wallet.select().where(Wallet.merchant == merchant["id"]))
        assert any(w.daily_limit is not None for w in wallets)
        for w in wallets:
            month = w.month_start
            if month is None:
                continue
            reported = [t.amount for t in Transaction.select().where(
                (Transaction.wallet == w.id) & (Transaction.direction == "incoming"))
                if wallet_rules.local_day(merchant_tz(merchant), t.created_at).replace(day=1) == month]
            assert sum(reported) == w.month_total, w.identifier
    window = wallet_rules.silent_window({})
    assert wallet_rules.attention_count(started, window) >= 1
    assert Wallet.select().where(Wallet.paused_reason == "silent").count() == 1


def merchant_tz(entry):
    return Merchant.get_by_id(entry["id"]).timezone


CHECKS = (_every_postback_state_has_its_event_and_deliveries_behind_it, _the_deliveries_really_happened,
          _the_books_and_the_logs_agree, _the_history_is_lived_in_the_past,
          _the_merchants_endpoints_point_at_the_demo_receiver, _wallet_operations_and_appeals_are_shown,
          _resend_has_something_to_send)  # last: it changes a delivery


def test_the_demo_tells_the_truth(built):
    """One build (seconds of services), every check above on it."""
    for check in CHECKS:
        check(*built)


def test_the_history_clock_moves_only_forward_and_goes_away():
    start = datetime.datetime(2026, 1, 2, 3, 4, 5)
    with HistoryClock(start) as clock:
        assert utcnow() == start
        clock.advance_to(start + datetime.timedelta(hours=1))
        clock.advance_to(start)  # never back
        assert utcnow() == start + datetime.timedelta(hours=1)
    assert utcnow() > start + datetime.timedelta(days=300)
    assert models.datetime is datetime
