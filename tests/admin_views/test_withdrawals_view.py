"""Payments → Withdrawals in the back office: adding requests, decisions, filters, export, scoping."""
import datetime
import json
import re
from decimal import Decimal

import pytest
from helpers import login, post_form
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

import factories
from backoffice.models import AuditLog, PaymentSystem, Postback, Withdrawal, utcnow
from backoffice.services import withdrawals as service

LIST = "/admin/withdrawals/"
NEW = "/admin/withdrawals/new/"
DECIDE = "/admin/withdrawals/decide/"


@pytest.fixture
def world(conn):
    systems = seed_payment_systems()
    bkash = systems["bkash"]
    a, b = factories.merchant(name="Alpha"), factories.merchant(name="Bravo")
    wallet_a = factories.wallet(a, bkash, number="01711111111")
    wallet_b = factories.wallet(b, bkash, number="01799999999")
    fund(a, bkash, amount="1000.00", commission="25.00", wallet=wallet_a)  # 975.00
    fund(b, bkash, amount="1000.00", commission="25.00", wallet=wallet_b)
    wda = factories.withdrawal(a, bkash, amount="100.00", label="alice-wd", withdrawal_id="A-WD-1",
                               wallet_recipient="01712340000", fields={"recipient_wallet": "01712340000"})
    wdb = factories.withdrawal(b, bkash, amount="100.00", label="bob-wd-secret", withdrawal_id="B-WD-SECRET",
                               wallet_recipient="01798760000", fields={"recipient_wallet": "01798760000"})
    return dict(systems=systems, bkash=bkash, a=a, b=b, wallet_a=wallet_a, wallet_b=wallet_b, wda=wda, wdb=wdb,
                owner_a=factories.user("merchant_owner", merchant=a),
                staff_a=factories.user("merchant_staff", merchant=a),
                owner_b=factories.user("merchant_owner", merchant=b),
                operator=factories.user("operator"))


def text(response):
    return response.get_data(as_text=True)


def form_page(ps, merchant=None):
    return f"{NEW}?payment_system={ps.id}" + (f"&merchant={merchant.id}" if merchant else "")


def new_request(client, ps, merchant=None, **data):
    values = {"payment_system": ps.id, "amount": "200.00", "label": "user-1", "comment": "c"}
    if merchant is not None:
        values["merchant"] = merchant.id
    values.update({f"fields.{k}": v for k, v in VALID_FIELDS[ps.code].items()})
    values.update(data)
    return post_form(client, form_page(ps, merchant), NEW, values)


# -- adding requests ---------------------------------------------------------------------------
def test_owner_adds_a_request_through_the_schema_form(client, world):
    login(client, world["owner_a"])
    assert "Add withdrawal request" in text(client.get(LIST))
    choose = client.get(NEW)
    assert choose.status_code == 200 and 'name="payment_system"' in text(choose)
    page = text(client.get(form_page(world["bkash"])))
    assert 'name="fields.recipient_wallet"' in page and 'name="fields.recipient_name"' in page
    assert "875.00 BDT" in page  # 975.00 − the 100.00 request already made
    assert 'name="csrf_token"' in page

    response = new_request(client, world["bkash"], amount="300.00", label="user-77")
    assert response.status_code == 302
    w = Withdrawal.get(Withdrawal.label == "user-77")
    assert (w.merchant_id, w.request_kind, w.status, w.amount) == (world["a"].id, "manual", "new", Decimal("300.00"))
    assert w.fields == VALID_FIELDS["bkash"] and w.wallet_recipient == VALID_FIELDS["bkash"]["recipient_wallet"]
    assert AuditLog.get(AuditLog.action == "withdrawal.create").user_id == world["owner_a"].id


def test_each_error_is_shown_next_to_its_field(client, world):
    login(client, world["owner_a"])
    response = new_request(client, world["systems"]["upi"], **{
        "fields.recipient_wallet": "", "fields.branch_code": "BAD", "amount": "abc"})
    page = text(response)
    assert response.status_code == 200
    assert 'data-field="fields.recipient_wallet">is required' in page
    assert 'data-field="fields.branch_code">has an invalid format' in page
    assert 'data-field="amount">' in page
    assert 'value="HDFC Bank"' in page  # what was typed is kept
    assert Withdrawal.select().count() == 2


def test_over_the_balance_is_refused_with_the_available_amount(client, world):
    login(client, world["owner_a"])
    response = new_request(client, world["bkash"], amount="875.01")
    assert response.status_code == 200
    assert "Insufficient balance: 875.00 BDT available." in text(response)
    assert Withdrawal.select().count() == 2
    assert new_request(client, world["bkash"], amount="875.00").status_code == 302


def test_merchant_staff_cannot_add_requests(client, world):
    login(client, world["staff_a"])
    assert "Add withdrawal request" not in text(client.get(LIST))
    assert client.get(NEW).status_code == 403
    assert client.get(form_page(world["bkash"])).status_code == 403
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(client.get(LIST))).group(1)
    values = {"csrf_token": token, "payment_system": world["bkash"].id, "amount": "10.00",
              "fields.recipient_wallet": "01712345678"}
    assert client.post(NEW, data=values).status_code == 403
    assert Withdrawal.select().count() == 2


def test_posting_without_csrf_is_refused(client, world):
    login(client, world["owner_a"])
    response = client.post(NEW, data={"payment_system": world["bkash"].id, "amount": "10.00",
                                      "fields.recipient_wallet": "01712345678"})
    assert response.status_code == 400
    assert Withdrawal.select().count() == 2


def test_operator_adds_a_request_for_a_merchant(client, world):
    login(client, world["operator"])
    assert "Bravo" in text(client.get(NEW))  # the merchant picker
    response = new_request(client, world["bkash"], merchant=world["b"], label="op-made")
    assert response.status_code == 302
    assert Withdrawal.get(Withdrawal.label == "op-made").merchant_id == world["b"].id


def test_owner_cannot_add_a_request_for_another_merchant(client, world):
    login(client, world["owner_a"])
    response = new_request(client, world["bkash"], merchant=world["b"], label="planted")
    assert response.status_code == 302
    assert Withdrawal.get(Withdrawal.label == "planted").merchant_id == world["a"].id


# -- isolation -----------------------------------------------------------------------------------
def test_merchant_b_cannot_see_or_decide_as_requests(client, world):
    wda = world["wda"]
    login(client, world["owner_b"])
    page = text(client.get(LIST))
    assert "bob-wd-secret" in page and "alice-wd" not in page and "A-WD-1" not in page
    assert client.get(f"{LIST}details/?id={wda.id}").status_code == 404
    csv = text(client.get(f"{LIST}export/csv/"))
    assert "B-WD-SECRET" in csv and "A-WD-1" not in csv
    page = text(client.get(f"{LIST}?flt0_4=A-WD-1"))  # filter by A's withdrawal ID
    assert "alice-wd" not in page
    # Decisions: the actions are not offered to merchants, and the decision page is 403.
    for decision in ("approve", "reject"):
        post_form(client, LIST, f"{LIST}action/", {"action": decision, "rowid": [wda.id, world["wdb"].id]})
        assert client.get(f"{DECIDE}?decision={decision}&id={wda.id}").status_code == 403
        response = post_form(client, LIST, DECIDE, {"decision": decision, "id": wda.id, "reason": "x",
                                                    f"wallet_{world['a'].id}_{world['bkash'].id}":
                                                        world["wallet_a"].id})
        assert response.status_code == 403
    assert {w.status for w in Withdrawal.select()} == {"new"}
    assert Postback.select().count() == 0


def test_merchant_owner_cannot_decide_own_requests(client, world):
    login(client, world["owner_a"])
    response = post_form(client, LIST, DECIDE, {"decision": "reject", "id": world["wda"].id, "reason": "x"})
    assert response.status_code == 403
    assert "With selected" not in text(client.get(LIST))
    assert Withdrawal.get_by_id(world["wda"].id).status == "new"


# -- decisions -------------------------------------------------------------------------------------
def test_operator_approves_one_choosing_the_sender_wallet(client, world):
    login(client, world["operator"])
    wda = world["wda"]
    response = post_form(client, LIST, f"{LIST}action/", {"action": "approve", "rowid": [wda.id]})
    assert response.status_code == 302 and "/decide/" in response.headers["Location"]
    assert "decide-buttons" in text(client.get(f"{LIST}details/?id={wda.id}"))
    page = text(client.get(response.headers["Location"]))
    assert "A-WD-1" in page and "01711111111" in page and "01799999999" not in page  # only A's wallets

    key = f"wallet_{world['a'].id}_{world['bkash'].id}"
    missing = post_form(client, LIST, DECIDE, {"decision": "approve", "id": wda.id})
    assert missing.status_code == 200 and Withdrawal.get_by_id(wda.id).status == "new"
    foreign = post_form(client, LIST, DECIDE, {"decision": "approve", "id": wda.id, key: world["wallet_b"].id})
    assert foreign.status_code == 200 and Withdrawal.get_by_id(wda.id).status == "new"
    response = post_form(client, LIST, DECIDE, {"decision": "approve", "id": wda.id, key: world["wallet_a"].id})
    assert response.status_code == 302
    w = Withdrawal.get_by_id(wda.id)
    assert w.status == "approved" and w.wallet_sender_id == world["wallet_a"].id
    assert w.decided_by_id == world["operator"].id and w.postback_status == "pending"
    pb = Postback.get()
    assert pb.event_type == "withdrawal.approved" and json.loads(pb.payload)["data"]["wallet_sender"] == "01711111111"
    # Deciding again changes nothing.
    post_form(client, LIST, DECIDE, {"decision": "reject", "id": wda.id, "reason": "late"})
    assert Withdrawal.get_by_id(wda.id).status == "approved" and Postback.select().count() == 1


def test_operator_rejects_in_bulk_with_a_reason(client, world):
    login(client, world["operator"])
    ids = [world["wda"].id, world["wdb"].id]
    page = text(client.get(f"{DECIDE}?decision=reject&id={ids[0]}&id={ids[1]}"))
    assert "Alpha" in page and "Bravo" in page
    no_reason = post_form(client, LIST, DECIDE, {"decision": "reject", "id": ids, "reason": " "})
    assert no_reason.status_code == 200 and "is required" in text(no_reason)
    assert {w.status for w in Withdrawal.select()} == {"new"}
    response = post_form(client, LIST, DECIDE, {"decision": "reject", "id": ids, "reason": "Details mismatch"})
    assert response.status_code == 302
    assert {(w.status, w.reject_reason) for w in Withdrawal.select()} == {("rejected", "Details mismatch")}
    assert sorted(p.event_type for p in Postback.select()) == ["withdrawal.rejected"] * 2
    assert AuditLog.select().where(AuditLog.action == "withdrawal.reject").count() == 2


def test_bulk_approve_asks_one_wallet_per_merchant_and_payment_system(client, world):
    login(client, world["operator"])
    ids = [world["wda"].id, world["wdb"].id]
    data = {"decision": "approve", "id": ids,
            f"wallet_{world['a'].id}_{world['bkash'].id}": world["wallet_a"].id,
            f"wallet_{world['b'].id}_{world['bkash'].id}": world["wallet_b"].id}
    assert post_form(client, LIST, DECIDE, data).status_code == 302
    senders = {w.merchant_id: w.wallet_sender_id for w in Withdrawal.select()}
    assert senders == {world["a"].id: world["wallet_a"].id, world["b"].id: world["wallet_b"].id}


# -- list, filters, export --------------------------------------------------------------------------
def test_columns_filters_and_export(client, world):
    service.reject(world["wdb"], world["operator"], "no")
    old = factories.withdrawal(world["a"], world["bkash"], amount="1.00", label="old-one", withdrawal_id="OLD-1",
                               created_at=utcnow() - datetime.timedelta(days=10))
    login(client, world["operator"])
    page = text(client.get(LIST))
    for heading in ("Wallet type", "ID", "Request date", "Amount", "Withdrawal ID", "Wallet sender",
                    "Wallet recipient", "Label", "Comment", "Request kind", "Postback", "Status"):
        assert heading in page, heading
    assert "alice-wd" in page and "bob-wd-secret" in page and "old-one" in page
    rejected = text(client.get(f"{LIST}?flt0_5=rejected"))
    assert "bob-wd-secret" in rejected and "alice-wd" not in rejected
    recipient = text(client.get(f"{LIST}?flt0_1=0171234"))
    assert "alice-wd" in recipient and "bob-wd-secret" not in recipient
    since = (utcnow() - datetime.timedelta(days=2)).date().isoformat()
    recent = text(client.get(f"{LIST}?flt0_6={since}"))
    assert "alice-wd" in recent and "old-one" not in recent
    until = text(client.get(f"{LIST}?flt0_7={since}"))
    assert "old-one" in until and "alice-wd" not in until
    pending = text(client.get(f"{LIST}?flt0_3=pending"))
    assert "bob-wd-secret" in pending and "alice-wd" not in pending
    csv = text(client.get(f"{LIST}export/csv/"))
    assert "A-WD-1" in csv and "B-WD-SECRET" in csv and "100.00" in csv and "OLD-1" in csv
    assert old.id


def test_staff_can_read_list_details_and_export(client, world):
    login(client, world["staff_a"])
    assert client.get(LIST).status_code == 200
    details = client.get(f"{LIST}details/?id={world['wda'].id}")
    assert details.status_code == 200 and "A-WD-1" in text(details) and "decide-buttons" not in text(details)
    assert client.get(f"{LIST}export/csv/").status_code == 200
    assert "975.00 BDT" not in text(client.get(LIST))  # 975 − 100 reserved
    assert "875.00 BDT" in text(client.get(LIST))


# -- the payment systems' schema editor ---------------------------------------------------------------
def test_operator_edits_a_withdrawal_field_schema(client, world):
    login(client, world["operator"])
    ps = world["bkash"]
    url = f"/admin/payment_systems/edit/?id={ps.id}"
    assert "recipient_wallet" in text(client.get(url))
    assert client.get("/admin/payment_systems/new/").status_code == 200
    base = {"code": ps.code, "name": ps.name, "currency": ps.currency, "active": "y"}
    bad = [{"name": "recipient_wallet", "label": "W", "required": True, "pattern": "(["}]
    response = post_form(client, url, url, dict(base, withdrawal_fields=json.dumps(bad)))
    assert response.status_code == 200 and "not a valid regular expression" in text(response)
    unknown = [{"name": "iban", "label": "IBAN", "required": True, "pattern": ""}]
    response = post_form(client, url, url, dict(base, withdrawal_fields=json.dumps(unknown)))
    assert response.status_code == 200 and "standard fields" in text(response)
    assert PaymentSystem.get_by_id(ps.id).withdrawal_fields[0]["pattern"] == r"^01[3-9]\d{8}$"
    good = [{"name": "recipient_wallet", "label": "Wallet", "required": True, "pattern": r"^\d{11}$"},
            {"name": "email", "label": "E-mail", "required": False, "pattern": ""}]
    response = post_form(client, url, url, dict(base, withdrawal_fields=json.dumps(good)))
    assert response.status_code == 302
    assert PaymentSystem.get_by_id(ps.id).withdrawal_fields == good
