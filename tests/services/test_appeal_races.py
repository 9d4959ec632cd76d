"""Races around appeals (SPEC §12, issue 19): an operator matching an appeal while the
visitor activates the same number, and two operators matching one appeal at once.

Each thread has its own database connection (peewee keeps one per thread), like the
web server's processes; the threads are released together by a barrier, several
rounds in a row. The races that matter are PostgreSQL's (row locks and conditional
updates in ordinary transactions); SQLite runs them too, where its write lock takes
them one at a time (``write_transaction``: ``BEGIN IMMEDIATE``)."""
import datetime
import threading
from collections import Counter
from decimal import Decimal

import pytest

import factories
from backoffice.db import db
from backoffice.models import Appeal, AuditLog, Event, LedgerEntry, Postback, Transaction, utcnow
from backoffice.services import appeals, ledger
from backoffice.services.activation import activate
from backoffice.services.appeals import AppealError
from backoffice.services.ingest import Report, ingest
from helpers import run_threads

ROUNDS = 6
NET = Decimal("682.50")  # 700.00 less 2.5 %


@pytest.fixture
def shop(app, ctx):
    app.config["PLUGIN_LIMIT_PER_ADDRESS"] = app.config["PLUGIN_LIMIT_PER_LABEL"] = "100000 per minute"
    app.config["PLUGIN_LIMIT_PER_NUMBER"] = "100000 per minute"
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Shop", postback_url="http://127.0.0.1:9/hook")  # one endpoint
    settings = factories.merchant_payment_system(m, ps, min_deposit="500.00", commission="2.50")
    return m, settings, factories.wallet(m, ps), [factories.user("operator") for _ in range(2)]


def reported(wallet, number):
    return ingest(Report("bkash", wallet.number, number, Decimal("700.00"), "BDT")).transaction


def filed(settings, number, label):
    appeal, created = appeals.file(settings, label, number, Decimal("700.00"), "01712345678",
                                   utcnow() - datetime.timedelta(minutes=30))
    assert created
    return appeal


def assert_completed_once(tx, label):
    row = Transaction.get_by_id(tx.id)
    assert (row.status, row.label, row.postback_status) == ("activated", label, "pending")
    events = list(Event.select().where((Event.object_type == "transaction") & (Event.object_id == tx.id)))
    assert [e.event_type for e in events] == ["deposit.completed"]
    assert Postback.select().where(Postback.event_id == events[0].event_id).count() == 1
    assert LedgerEntry.select().where((LedgerEntry.kind == "deposit") & (LedgerEntry.source_type == "transaction")
                                      & (LedgerEntry.source_id == tx.id)).count() == 1


def test_an_operators_match_and_the_visitors_activation_at_once_complete_the_deposit_once(app, shop):
    m, settings, wallet, (operator, _second) = shop
    for round_ in range(ROUNDS):
        number, label = f"RACE-{round_}", f"visitor-{round_}"
        tx = reported(wallet, number)
        appeal = filed(settings, number, label)

        def work(i, appeal_id=appeal.id, tx_id=tx.id, number=number, label=label):
            if i == 0:
                return "operator:" + appeals.match(appeal_id, tx_id, operator).status
            return "visitor:" + activate(m, "bkash", number, label).status  # the visitor, twice at once

        outcomes = run_threads(app, 3, work)

        assert outcomes[0] in ("operator:activated", "operator:already_activated"), outcomes
        statuses = Counter(o.split(":")[1] for o in outcomes)
        assert statuses == Counter({"activated": 1, "already_activated": 2}), outcomes
        assert_completed_once(tx, label)
        row = Appeal.get_by_id(appeal.id)
        assert (row.status, row.transaction_id) == ("matched", tx.id)
        assert AuditLog.select().where((AuditLog.action == "appeal.match")
                                       & (AuditLog.object_id == str(appeal.id))).count() == 1
    assert ledger.available(m, "BDT") == ROUNDS * NET
    assert Event.select().count() == ROUNDS and Postback.select().count() == ROUNDS


def test_the_plugin_api_and_an_operators_match_at_once_complete_the_deposit_once(app, shop):
    """The visitor through ``POST /plugin/api/activate`` (the test client, in a thread of
    its own with no app context held), the operator through the service."""
    m, settings, wallet, (operator, _second) = shop
    for round_ in range(ROUNDS):
        number, label = f"API-{round_}", f"api-visitor-{round_}"
        tx = reported(wallet, number)
        appeal = filed(settings, number, label)
        barrier = threading.Barrier(2)
        results, errors = {}, []

        def visitor():
            try:
                client = app.test_client()
                barrier.wait()
                response = client.post("/plugin/api/activate", json={
                    "merchant": m.public_key, "payment_system": "bkash", "transaction_number": number,
                    "label": label})
                results["visitor"] = (response.status_code, response.get_json().get("status"))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))

        def operator_():
            try:
                with app.app_context(), db.connection_context():
                    barrier.wait()
                    results["operator"] = appeals.match(appeal.id, tx.id, operator).status
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

        threads = [threading.Thread(target=visitor), threading.Thread(target=operator_)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert results["visitor"][0] == 200
        assert sorted([results["visitor"][1], results["operator"]]) == ["activated", "already_activated"], results
        assert_completed_once(tx, label)
        assert Appeal.get_by_id(appeal.id).status == "matched"
    assert ledger.available(m, "BDT") == ROUNDS * NET


def test_one_appeal_sent_twice_at_once_is_filed_once(app, shop):
    """A double click on "send": the same number, label and payment system twice at the
    same moment give one appeal (``file``: the same number again while open gives back
    the first), not two open appeals for one payment."""
    m, settings, wallet, _operators = shop
    assert settings.payment_system.currency == "BDT"  # loaded before the threads share the row
    for round_ in range(ROUNDS):
        number = f"DOUBLE-{round_}"

        def work(i, number=number):
            appeal, created = appeals.file(settings, f"double-clicker-{number}", number, Decimal("700.00"), "01712345678",
                                           utcnow() - datetime.timedelta(minutes=5))
            return appeal.id, created

        outcomes = run_threads(app, 2, work)

        assert sorted(created for _id, created in outcomes) == [False, True], outcomes
        assert outcomes[0][0] == outcomes[1][0]
        assert Appeal.select().where(Appeal.transaction_number == number).count() == 1


def test_two_operators_matching_one_appeal_to_two_payments_at_once_one_wins(app, shop):
    m, settings, wallet, operators = shop
    for round_ in range(ROUNDS):
        txs = [reported(wallet, f"TWO-{round_}-{i}") for i in range(2)]
        label = f"two-{round_}"
        appeal = filed(settings, f"TWO-{round_}-0", label)

        def work(i, appeal_id=appeal.id):
            try:
                return appeals.match(appeal_id, txs[i].id, operators[i]).status
            except AppealError as exc:
                assert exc.field == "appeal"
                return "refused"

        outcomes = run_threads(app, 2, work)

        assert sorted(outcomes) == ["activated", "refused"], outcomes
        winner = outcomes.index("activated")
        row = Appeal.get_by_id(appeal.id)
        assert (row.status, row.transaction_id, row.resolved_by_id) == (
            "matched", txs[winner].id, operators[winner].id)
        assert_completed_once(txs[winner], label)
        loser = Transaction.get_by_id(txs[1 - winner].id)
        assert (loser.status, loser.label) == ("new", None)
        assert Event.select().where((Event.object_type == "transaction")
                                    & (Event.object_id == loser.id)).count() == 0
        assert AuditLog.select().where((AuditLog.action == "appeal.match")
                                       & (AuditLog.object_id == str(appeal.id))).count() == 1
    assert ledger.available(m, "BDT") == ROUNDS * NET
