"""The Transactions screen: every filter narrows to the expected rows, export follows
the filters and the scope, dates follow the viewer's time zone, operator actions."""
import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
from helpers import login, post_form, statements

import factories
from backoffice.models import AuditLog, Postback, Transaction, User


@pytest.fixture
def data(conn):
    bkash, paytm = factories.payment_system("bkash", "BDT"), factories.payment_system("paytm", "INR")
    m = factories.merchant(name="Dhaka Shop", timezone="Asia/Dhaka", postback_url="http://127.0.0.1:9/hook")
    other = factories.merchant(name="Other")
    factories.merchant_payment_system(m, bkash, min_deposit="500.00")
    factories.merchant_payment_system(m, paytm, min_deposit="300.00")
    wb, wi, wo = factories.wallet(m, bkash), factories.wallet(m, paytm), factories.wallet(other, bkash)
    t = datetime.datetime
    rows = {
        "plain": factories.transaction(wb, "600.00", transaction_number="N-PLAIN", counterparty="01811111111",
                                       created_at=t(2026, 3, 1, 12)),
        "labelled": factories.transaction(wb, "700.00", transaction_number="N-LABEL", label="alice", order_id="o-1",
                                          status="activated", postback_status="sent",
                                          created_at=t(2026, 3, 2, 12), activated_at=t(2026, 3, 5, 12)),
        "outgoing": factories.transaction(wi, "50.00", transaction_number="N-OUT", direction="outgoing",
                                          created_at=t(2026, 3, 3, 12)),
        "fraud": factories.transaction(wi, "400.00", transaction_number="N-FRAUD", originality="fraud",
                                       created_at=t(2026, 3, 4, 12)),
        "manual": factories.transaction(wb, "900.00", transaction_number="N-MANUAL", type="manual",
                                        created_at=t(2025, 12, 31, 19)),  # 2026-01-01 01:00 in Dhaka
        "others": factories.transaction(wo, "999.00", transaction_number="N-OTHER", label="alice",
                                        created_at=t(2026, 3, 2, 12)),
    }
    owner = factories.user("merchant_owner", merchant=m)
    return dict(m=m, other=other, bkash=bkash, paytm=paytm, rows=rows, owner=owner, wb=wb)


NUMBER_CELL = re.compile(r'class="col-transaction_number">\s*([^<\s]+)\s*<')


def numbers(client, query=""):
    """The transaction numbers in the list's cells (not the echo of a filter value)."""
    page = client.get("/admin/transactions/" + query)
    assert page.status_code == 200
    return set(NUMBER_CELL.findall(page.get_data(as_text=True)))


@pytest.fixture
def owner_client(client, data):
    login(client, data["owner"])
    return client


def test_each_filter_narrows_to_the_expected_rows(owner_client, data):
    r = data["rows"]
    c = owner_client
    assert numbers(c) == {"N-PLAIN", "N-LABEL", "N-OUT", "N-FRAUD", "N-MANUAL"}
    assert numbers(c, f"?flt0_id_equals={r['labelled'].id}") == {"N-LABEL"}
    assert numbers(c, f"?flt0_wallet_type_equals={data['paytm'].id}") == {"N-OUT", "N-FRAUD"}
    assert numbers(c, "?flt0_label_equals=alice") == {"N-LABEL"}  # not the other merchant's alice
    assert numbers(c, "?flt0_transaction_number_equals=N-FRAUD") == {"N-FRAUD"}
    assert numbers(c, "?flt0_order_id_equals=o-1") == {"N-LABEL"}
    assert numbers(c, "?flt0_direction_equals=outgoing") == {"N-OUT"}
    assert numbers(c, "?flt0_counterparty_equals=01811111111") == {"N-PLAIN"}
    assert numbers(c, "?flt0_transaction_type_equals=manual") == {"N-MANUAL"}
    assert numbers(c, "?flt0_originality_equals=fraud") == {"N-FRAUD"}
    assert numbers(c, "?flt0_postback_status_equals=sent") == {"N-LABEL"}
    assert numbers(c, "?flt0_creation_date_between=2026-03-02+to+2026-03-03") == {"N-LABEL", "N-OUT"}
    assert numbers(c, "?flt0_activation_date_between=2026-03-05+to+2026-03-05") == {"N-LABEL"}
    # Two filters at once.
    assert numbers(c, f"?flt0_wallet_type_equals={data['bkash'].id}&flt1_label_equals=alice") == {"N-LABEL"}


def test_dates_are_the_viewers_days(owner_client, data):
    # 2025-12-31 19:00 UTC is 2026-01-01 01:00 in Asia/Dhaka (UTC+6).
    assert numbers(owner_client, "?flt0_creation_date_between=2026-01-01+to+2026-01-01") == {"N-MANUAL"}
    assert numbers(owner_client, "?flt0_creation_date_between=2025-12-31+to+2025-12-31") == set()
    page = owner_client.get(f"/admin/transactions/details/?id={data['rows']['manual'].id}").get_data(as_text=True)
    assert "2026-01-01 01:00:00" in page


def test_export_follows_filters_and_scope(owner_client, data):
    response = owner_client.get("/admin/transactions/export/csv/?flt0_label_equals=alice")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["Transaction number"] for r in rows] == ["N-LABEL"]
    assert rows[0]["Amount"] == "700.00" and rows[0]["Wallet number"] == data["wb"].number
    assert rows[0]["Postback status"] == "Sent"
    everything = owner_client.get("/admin/transactions/export/csv/").get_data(as_text=True)
    assert "N-OTHER" not in everything and everything.count("\n") == 6  # header + 5 rows


def test_merchant_users_cannot_use_operator_tools(owner_client, data):
    assert owner_client.get("/admin/transactions/manual/").status_code == 403
    assert owner_client.get(f"/admin/transactions/activate/?id={data['rows']['plain'].id}").status_code == 403
    post_form(owner_client, "/admin/transactions/", "/admin/transactions/action/",
              {"action": "mark_fraud", "rowid": [data["rows"]["plain"].id]})
    assert Transaction.get_by_id(data["rows"]["plain"].id).originality == "normal"


@pytest.fixture
def operator_client(client, data):
    login(client, factories.user("operator"))
    return client


def test_operator_marks_fraud_and_normal(operator_client, data):
    ids = [data["rows"]["plain"].id, data["rows"]["others"].id]
    post_form(operator_client, "/admin/transactions/", "/admin/transactions/action/",
              {"action": "mark_fraud", "rowid": ids})
    assert {t.originality for t in Transaction.select().where(Transaction.id.in_(ids))} == {"fraud"}
    assert AuditLog.select().where(AuditLog.action == "transaction.mark_fraud").count() == 2
    post_form(operator_client, "/admin/transactions/", "/admin/transactions/action/",
              {"action": "mark_normal", "rowid": ids[:1]})
    assert Transaction.get_by_id(ids[0]).originality == "normal"


def test_operator_creates_a_manual_transaction(operator_client, data):
    url = "/admin/transactions/manual/"
    form = {"payment_system": data["bkash"].id, "wallet_number": data["wb"].number, "transaction_number": "MAN-1",
            "amount": "12.345", "direction": "incoming", "counterparty": "", "occurred_at": "2026-03-01T10:00"}
    bad = post_form(operator_client, url, url, form)
    assert bad.status_code == 200 and "2 decimal places" in bad.get_data(as_text=True)
    assert not Transaction.select().where(Transaction.transaction_number == "MAN-1").exists()
    good = post_form(operator_client, url, url, dict(form, amount="250.00"))
    assert good.status_code == 302
    tx = Transaction.get(Transaction.transaction_number == "MAN-1")
    assert tx.type == "manual" and tx.amount == Decimal("250.00")
    assert tx.created_at == datetime.datetime(2026, 3, 1, 10)  # the operator's own zone is UTC
    assert AuditLog.select().where(AuditLog.action == "transaction.create_manual").count() == 1
    unknown = post_form(operator_client, url, url, dict(form, amount="1.00", wallet_number="000"))
    assert "No wallet with this number" in unknown.get_data(as_text=True)


def test_operator_activates_for_a_label(operator_client, data):
    tx = data["rows"]["plain"]
    url = f"/admin/transactions/activate/?id={tx.id}"
    response = post_form(operator_client, url, url, {"label": "bob", "order_id": "o-9"})
    assert response.status_code == 302
    fresh = Transaction.get_by_id(tx.id)
    assert fresh.status == "activated" and fresh.label == "bob" and fresh.postback_status == "pending"
    assert Postback.select().count() == 1
    assert AuditLog.select().where(AuditLog.action == "transaction.activate_manually").count() == 1
    again = post_form(operator_client, url, url, {"label": "eve"})
    assert Transaction.get_by_id(tx.id).label == "bob"
    assert again.status_code == 302


def test_list_runs_a_fixed_number_of_queries(owner_client, data):
    """Wallet and payment system come with the rows: no query per row."""
    for i in range(30):
        factories.transaction(data["wb"], "10.00", transaction_number=f"BULK-{i}")
    with statements() as counted:
        assert owner_client.get("/admin/transactions/").status_code == 200
    # The rows in one query, and the pager's bounded count of them (issue 22) in one more.
    transaction_queries = [q for q in counted if 'FROM "transaction"' in q and not q.startswith("SELECT COUNT(")]
    assert len(transaction_queries) == 1, transaction_queries
    assert len([q for q in counted if q.startswith("SELECT COUNT(")]) == 1, counted
    assert not any('FROM "wallet"' in q and 'FROM "transaction"' not in q for q in counted)
    assert User.select().count() >= 1


def test_operator_resends_a_transactions_postback(operator_client, data, app):
    from backoffice.models import Postback

    tx = data["rows"]["plain"]
    url = f"/admin/transactions/activate/?id={tx.id}"
    post_form(operator_client, url, url, {"label": "bob"})
    postback = Postback.get()
    Postback.update(status="error").execute()
    post_form(operator_client, "/admin/transactions/", "/admin/transactions/action/",
              {"action": "resend_postback", "rowid": [tx.id, data["rows"]["others"].id]})
    fresh = Postback.get_by_id(postback.id)
    assert fresh.status == "pending" and fresh.delivery == postback.delivery + 1
    assert fresh.event_id == postback.event_id
    assert Transaction.get_by_id(tx.id).postback_status == "pending"


def test_merchant_cannot_resend_from_transactions(owner_client, data):
    from backoffice.models import Postback
    from backoffice.services.activation import activate_for_label

    tx = data["rows"]["plain"]
    with factories.APP.app_context():
        activate_for_label(tx, "bob")
    before = Postback.get()
    post_form(owner_client, "/admin/transactions/", "/admin/transactions/action/",
              {"action": "resend_postback", "rowid": [tx.id]})
    assert Postback.get().delivery == before.delivery


def test_a_resend_is_in_the_audit_log(operator_client, data):
    tx = data["rows"]["plain"]
    url = f"/admin/transactions/activate/?id={tx.id}"
    post_form(operator_client, url, url, {"label": "bob"})
    event_id = Postback.get().event_id
    post_form(operator_client, "/admin/transactions/", "/admin/transactions/action/",
              {"action": "resend_postback", "rowid": [tx.id]})
    entry = AuditLog.get(AuditLog.action == "postback.resend")
    assert entry.merchant_id == data["m"].id
    assert entry.summary["event_id"] == event_id and entry.summary["endpoints"] == 1  # one endpoint, delivered again
    assert Postback.get().delivery == 2
