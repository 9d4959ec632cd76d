"""Races: many requests at once for one transaction number, or one visitor's stockpiling.

Each thread has its own database connection (peewee keeps one per thread), like the
web server's threads or processes. Run on PostgreSQL and on SQLite.
"""
from collections import Counter
from decimal import Decimal

import factories
from backoffice.models import Event, Postback, Stockpiling, Transaction
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest
from helpers import run_threads


def test_fifty_requests_for_one_number_activate_it_once(app, ctx):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(postback_url="http://127.0.0.1:9/hook")
    factories.merchant_payment_system(m, ps, min_deposit="500.00")
    w = factories.wallet(m, ps)
    ingest(Report("bkash", w.number, "RACE-1", Decimal("750.00"), "BDT"))

    outcomes = run_threads(app, 50, lambda i: activate(m, "bkash", "RACE-1", f"visitor-{i}").status)

    assert Counter(outcomes) == Counter({"activated": 1, "already_activated": 49})
    tx = Transaction.get()
    assert tx.status == "activated" and tx.label.startswith("visitor-")
    assert Event.select().count() == 1 and Postback.select().count() == 1  # one event, one delivery


def test_one_visitors_payments_racing_into_one_stockpiling(app, ctx):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(postback_url="http://127.0.0.1:9/hook")
    factories.merchant_payment_system(m, ps, min_deposit="1000.00")
    w = factories.wallet(m, ps)
    for i in range(10):
        ingest(Report("bkash", w.number, f"PART-{i}", Decimal("100.00"), "BDT"))

    outcomes = run_threads(app, 10, lambda i: activate(m, "bkash", f"PART-{i}", "same-visitor").status)

    assert Counter(outcomes) == Counter({"stockpiling": 9, "activated": 1})
    (sp,) = Stockpiling.select()
    assert sp.status == "completed" and sp.accumulated_amount == Decimal("1000.00")
    assert Transaction.select().where(Transaction.stockpiling == sp).count() == 10
    assert Event.select().count() == 1 and Postback.select().count() == 1  # one event, one delivery
