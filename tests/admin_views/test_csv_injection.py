"""Spreadsheet formula injection (issue 17, class 1; SPEC §14): every CSV the back
office exports prefixes with ``'`` each cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return — the list exports of every admin view that exports (walked
from the registered views, so a later one is covered too) and the Balance statement."""
import csv
import datetime
import io
from decimal import Decimal

import pytest
from helpers import login

import factories
from backoffice.admin_views.base import ScopedModelView
from backoffice.csv_safe import FORMULA_STARTS, neutralise
from backoffice.models import ActivationAttempt, AuditLog, ExchangeRate, PendingActivation
from backoffice.roles import allowed
from backoffice.services import ledger
from withdrawal_support import fund, seed_payment_systems

TRIGGERS = {"=": "eq", "+": "plus", "-": "minus", "@": "at", "\t": "tab", "\r": "cr"}
assert tuple(TRIGGERS) == FORMULA_STARTS

# Every admin view that exports, and what its rows carry from outside. A view that
# starts exporting must be added here (the walk below fails until it is).
SEEDED = ("transactions", "withdrawals", "pending_activations", "audit_log", "merchants", "wallets",
          "exchange_rates", "attempts")


def payload(start):
    return f"{start}HYPERLINK(\"http://evil.example\",\"x\")"


@pytest.fixture(params=list(TRIGGERS.values()), ids=list(TRIGGERS.values()))
def world(request, app, conn):
    start = next(k for k, v in TRIGGERS.items() if v == request.param)
    bad = payload(start)
    ps = seed_payment_systems()["bkash"]
    m = factories.merchant(name=bad)
    factories.merchant_payment_system(m, ps)
    operator = factories.user("operator")
    fund(m, ps, amount="1000.00", commission="0.00")
    wallet = factories.wallet(m, ps, number=bad)
    wallet.identifier = bad
    wallet.save()
    factories.transaction(wallet, label=bad, order_id=bad, counterparty=bad)
    factories.withdrawal(m, ps, label=bad, comment=bad, wallet_recipient=bad)
    PendingActivation.create(merchant=m, payment_system=ps, transaction_number=bad, label=bad, order_id=bad,
                             expires_at=datetime.datetime(2030, 1, 1))
    ActivationAttempt.create(merchant=m, payment_system=ps, transaction_number=bad, label=bad, network=bad,
                             sender=bad, outcome="not_found", reason="not_found")
    AuditLog.create(user=operator.id, merchant=m.id, action=bad[:64], object_type="x", object_id=bad[:64])
    ExchangeRate.create(currency=start + "U1", rate_to_usd=Decimal("1"), effective_date=datetime.date(2026, 1, 1))
    with app.app_context():
        ledger.adjust(m, "BDT", "-25.00", bad, operator)
    return dict(m=m, bad=bad, start=start, operator=operator, owner=factories.user("merchant_owner", merchant=m))


def rows_of(response):
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


def assert_neutralised(rows, where):
    for line in rows:
        for cell in line:
            assert not cell.startswith(FORMULA_STARTS), f"{where}: {cell!r} reaches the file raw"


def exporting_views(app):
    admin = app.extensions["backoffice_admin"]
    return [v for v in admin._views if isinstance(v, ScopedModelView) and "csv" in (v.export_types or [])
            and allowed(v.endpoint, "export", "operator")]


def test_every_list_export_neutralises_formula_cells(app, client, world):
    views = exporting_views(app)
    assert {v.endpoint for v in views} <= set(SEEDED), "a new exporting view: seed its rows in this test"
    login(client, world["operator"])
    for view in views:
        rows = rows_of(client.get(f"/admin/{view.endpoint}/export/csv/"))
        assert len(rows) > 1, view.endpoint
        assert_neutralised(rows, view.endpoint)
        cells = {cell for line in rows[1:] for cell in line}
        expected = "'" + (world["start"] + "U1" if view.endpoint == "exchange_rates" else world["bad"])
        if view.endpoint == "audit_log":
            expected = "'" + world["bad"][:64]
        assert expected in cells, f"{view.endpoint}: the value is not in the file, prefixed"


def test_merchant_exports_are_neutralised_too(client, world):
    login(client, world["owner"])
    for url in ("/admin/transactions/export/csv/", "/admin/withdrawals/export/csv/", "/admin/audit_log/export/csv/"):
        rows = rows_of(client.get(url))
        assert_neutralised(rows, url)
        assert "'" + world["bad"][:64] in {cell for line in rows[1:] for cell in line}, url


def test_the_balance_statement_neutralises_every_cell_negative_numbers_included(client, world):
    login(client, world["owner"])
    today = datetime.date.today().isoformat()
    rows = rows_of(client.get(f"/admin/balance/export/csv/?currency=BDT&date_from={today}&date_to={today}"))
    assert_neutralised(rows, "balance")
    memos = [line[9] for line in rows[1:]]
    assert neutralise(world["bad"].strip()) in memos  # the service trims the reason it books as memo
    amounts = [line[3] for line in rows[1:]]
    assert "'-25.00" in amounts  # SPEC §14, literally: a plain negative number is prefixed too


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_neutralise(start):
    assert neutralise(start + "1") == "'" + start + "1"
    assert neutralise("a" + start) == "a" + start
    assert neutralise(None) == "" and neutralise(12) == "12" and neutralise("'=x") == "'=x"
