"""Payments → Withdrawals in the back office: adding requests, decisions, filters, export, scoping."""
import datetime
import io
import json
import re
from decimal import Decimal

import pytest
from helpers import login, post_form
from PIL import Image
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

import factories
from backoffice.models import AuditLog, Balance, LedgerEntry, Merchant, PaymentSystem, Postback, Withdrawal, utcnow
from backoffice.services import withdrawals as service

LIST = "/admin/withdrawals/"
NEW = "/admin/withdrawals/new/"
DECIDE = "/admin/withdrawals/decide/"


@pytest.fixture
def world(conn):
    systems = seed_payment_systems()
    bkash = systems["bkash"]
    a = factories.merchant(name="Alpha", postback_url="http://127.0.0.1:9/alpha")
    b = factories.merchant(name="Bravo", postback_url="http://127.0.0.1:9/bravo")
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
    assert "875.00\u00a0BDT" in page  # 975.00 − the 100.00 request already made
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
    assert "Insufficient balance: 875.00\u00a0BDT available." in text(response)
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
    response = post_form(client, LIST, DECIDE, {"decision": "approve", "id": wda.id, key: world["wallet_a"].id,
                                                f"reference_{wda.id}": "TRX-A1"})
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
            f"wallet_{world['b'].id}_{world['bkash'].id}": world["wallet_b"].id,
            f"reference_{ids[0]}": "TRX-A", f"reference_{ids[1]}": "TRX-B"}
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
    assert "975.00\u00a0BDT" not in text(client.get(LIST))  # 975 − 100 reserved
    assert "875.00\u00a0BDT" in text(client.get(LIST))


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


# -- withdrawal controls (SPEC §14) ---------------------------------------------------------------
CANCEL = "/admin/withdrawals/cancel/"
CSV_UPLOAD = "/admin/withdrawals/approve-csv/"


def details(withdrawal):
    return f"{LIST}details/?id={withdrawal.id}"


def sign_out(client):
    assert post_form(client, "/admin/", "/logout", {}).status_code == 302


def png_bytes(color=(0, 90, 200)):
    out = io.BytesIO()
    Image.new("RGB", (16, 12), color).save(out, format="PNG")
    return out.getvalue()


def test_owner_cancels_a_new_request_and_the_hold_is_released(client, world):
    wda = world["wda"]
    login(client, world["owner_a"])
    assert 'data-testid="cancel-withdrawal"' in text(client.get(LIST))  # the row button
    page = text(client.get(details(wda)))
    assert 'data-testid="cancel-buttons"' in page and 'action="/admin/withdrawals/cancel/"' in page
    assert "875.00\u00a0BDT" in text(client.get(LIST))
    response = post_form(client, details(wda), CANCEL, {"id": wda.id})
    assert response.status_code == 302 and details(wda) in response.headers["Location"]
    w = Withdrawal.get_by_id(wda.id)
    assert (w.status, w.decided_by_id) == ("cancelled", world["owner_a"].id)
    balance = Balance.get(Balance.merchant == world["a"].id)
    assert (balance.available, balance.on_hold) == (Decimal("975.00"), Decimal("0.00"))
    assert [e.kind for e in LedgerEntry.select().where((LedgerEntry.source_type == "withdrawal")
                                                      & (LedgerEntry.source_id == wda.id))
            .order_by(LedgerEntry.id)] == ["withdrawal_hold", "withdrawal_release"]
    assert Postback.get(Postback.object_id == wda.id).event_type == "withdrawal.cancelled"
    assert AuditLog.get(AuditLog.action == "withdrawal.cancel").user_id == world["owner_a"].id
    page = text(client.get(details(wda)))
    assert "cancelled; the amount is available again" in page and "Cancelled" in page
    assert 'data-testid="cancel-buttons"' not in page
    assert "975.00\u00a0BDT" in text(client.get(LIST))
    assert text(client.get(f"{LIST}?flt0_5=cancelled")).count("A-WD-1") == 1  # the status filter knows it
    # Once more: refused with a clear message, nothing booked twice.
    again = post_form(client, details(wda), CANCEL, {"id": wda.id})
    assert "cannot be cancelled: it is cancelled already" in text(client.get(again.headers["Location"]))
    assert LedgerEntry.select().where((LedgerEntry.source_type == "withdrawal")
                                      & (LedgerEntry.source_id == wda.id)).count() == 2


def test_cancel_needs_the_csrf_token_the_owner_role_and_its_own_request(client, world):
    wda, wdb = world["wda"], world["wdb"]
    login(client, world["owner_a"])
    assert client.post(CANCEL, data={"id": wda.id}).status_code == 400  # no CSRF token
    assert post_form(client, LIST, CANCEL, {"id": wdb.id}).status_code == 404  # Bravo's
    assert post_form(client, LIST, CANCEL, {"id": "nope"}).status_code == 404
    sign_out(client)
    for user in (world["staff_a"], world["operator"]):
        login(client, user)
        assert 'data-testid="cancel-withdrawal"' not in text(client.get(details(wda)))
        assert 'data-testid="cancel-withdrawal"' not in text(client.get(LIST))
        assert post_form(client, LIST, CANCEL, {"id": wda.id}).status_code == 403
        sign_out(client)
    assert {w.status for w in Withdrawal.select()} == {"new"} and Postback.select().count() == 0


def test_an_approved_request_offers_no_cancel(client, world):
    service.approve(world["wda"], world["operator"], world["wallet_a"], "TRX-1")
    login(client, world["owner_a"])
    page = text(client.get(details(world["wda"])))
    assert 'data-testid="cancel-buttons"' not in page
    response = post_form(client, LIST, CANCEL, {"id": world["wda"].id})
    assert "cannot be cancelled: it is approved already" in text(client.get(response.headers["Location"]))
    assert Withdrawal.get_by_id(world["wda"].id).status == "approved"


def test_approval_needs_the_payout_reference_and_the_merchant_sees_it_and_the_receipt(client, world):
    wda = world["wda"]
    key = f"wallet_{world['a'].id}_{world['bkash'].id}"
    login(client, world["operator"])
    page = text(client.get(f"{DECIDE}?decision=approve&id={wda.id}"))
    assert f'name="reference_{wda.id}"' in page and f'name="receipt_{wda.id}"' in page
    assert 'enctype="multipart/form-data"' in page
    missing = post_form(client, LIST, DECIDE, {"decision": "approve", "id": wda.id, key: world["wallet_a"].id,
                                               f"reference_{wda.id}": "  "})
    assert missing.status_code == 200 and "Give the payout reference." in text(missing)
    assert Withdrawal.get_by_id(wda.id).status == "new"
    not_a_picture = post_form(client, LIST, DECIDE, {
        "decision": "approve", "id": wda.id, key: world["wallet_a"].id, f"reference_{wda.id}": "TRX-9",
        f"receipt_{wda.id}": (io.BytesIO(b"%PDF-1.4 not a picture"), "receipt.pdf")})
    assert not_a_picture.status_code == 200 and "PNG or JPEG" in text(not_a_picture)
    assert Withdrawal.get_by_id(wda.id).status == "new"
    response = post_form(client, LIST, DECIDE, {
        "decision": "approve", "id": wda.id, key: world["wallet_a"].id, f"reference_{wda.id}": " TRX-9 ",
        f"receipt_{wda.id}": (io.BytesIO(png_bytes()), "receipt.png")})
    assert response.status_code == 302
    w = Withdrawal.get_by_id(wda.id)
    assert (w.status, w.payout_reference, w.payout_receipt_type) == ("approved", "TRX-9", "image/png")
    sign_out(client)

    receipt_url = f"{LIST}receipt/?id={wda.id}"
    for user in (world["owner_a"], world["staff_a"]):
        login(client, user)
        page = text(client.get(details(wda)))
        assert "Payout reference" in page and "TRX-9" in page
        assert f'src="{receipt_url}"' in page.replace("&amp;", "&")
        receipt = client.get(receipt_url)
        assert receipt.status_code == 200 and receipt.mimetype == "image/png" and receipt.data.startswith(b"\x89PNG")
        assert receipt.headers["X-Content-Type-Options"] == "nosniff"
        assert "TRX-9" in text(client.get(f"{LIST}export/csv/"))
        sign_out(client)
    login(client, world["owner_b"])
    assert client.get(receipt_url).status_code == 404
    assert client.get(f"{LIST}receipt/?id={world['wdb'].id}").status_code == 404  # Bravo's own: no receipt
    sign_out(client)
    assert client.get(receipt_url).status_code == 302  # signed out: to the sign-in page


def test_two_operators_approve_above_the_threshold(client, world):
    Merchant.update(withdrawal_dual_approval_above=Decimal("50.00")).where(Merchant.id == world["a"].id).execute()
    wda = world["wda"]
    key = f"wallet_{world['a'].id}_{world['bkash'].id}"
    first, second = world["operator"], factories.user("operator")
    login(client, first)
    page = text(client.get(f"{DECIDE}?decision=approve&id={wda.id}"))
    assert "this approval is the first" in page and f'name="reference_{wda.id}"' not in page
    response = post_form(client, LIST, DECIDE, {"decision": "approve", "id": wda.id})
    assert response.status_code == 302
    assert "First approval recorded for A-WD-1" in text(client.get(response.headers["Location"]))
    w = Withdrawal.get_by_id(wda.id)
    assert (w.status, w.first_approved_by_id) == ("new", first.id)
    assert "1 of 2 approvals" in text(client.get(LIST))
    page = text(client.get(details(wda)))
    assert "you gave the first" in page and "First approval" in page and first.login in page
    again = post_form(client, LIST, DECIDE, {"decision": "approve", "id": wda.id, key: world["wallet_a"].id,
                                             f"reference_{wda.id}": "TRX-1"})
    assert again.status_code == 200 and "another operator must give the second" in text(again)
    assert Withdrawal.get_by_id(wda.id).status == "new" and Postback.select().count() == 0
    sign_out(client)

    login(client, second)
    page = text(client.get(f"{DECIDE}?decision=approve&id={wda.id}"))
    assert "1 of 2: this approval decides" in page and f'name="reference_{wda.id}"' in page
    response = post_form(client, LIST, DECIDE, {"decision": "approve", "id": wda.id, key: world["wallet_a"].id,
                                                f"reference_{wda.id}": "TRX-2"})
    assert response.status_code == 302
    w = Withdrawal.get_by_id(wda.id)
    assert (w.status, w.decided_by_id, w.payout_reference) == ("approved", second.id, "TRX-2")
    sign_out(client)
    login(client, world["owner_a"])
    assert "1 of 2 approvals" not in text(client.get(LIST))
    page = text(client.get(details(wda)))
    assert "First approval" not in page and first.login not in page and "TRX-2" in page


def test_operator_sets_the_threshold_on_the_system_page(client, world):
    a = world["a"]
    url = f"/admin/settings/system/?merchant={a.id}"
    base = {"after_payment": a.after_payment, "after_payment_url": "", "timezone": a.timezone,
            "allowed_origins": "", "pending_activation_ttl": "30"}
    login(client, world["operator"])
    assert 'name="withdrawal_dual_approval_above"' in text(client.get(url))
    bad = post_form(client, url, url, dict(base, withdrawal_dual_approval_above="-10"))
    assert bad.status_code == 400 and "must not be negative" in text(bad)
    assert Merchant.get_by_id(a.id).withdrawal_dual_approval_above is None
    assert post_form(client, url, url, dict(base, withdrawal_dual_approval_above="5000")).status_code == 302
    assert Merchant.get_by_id(a.id).withdrawal_dual_approval_above == Decimal("5000.00")
    assert 'value="5,000.00"' in text(client.get(url))  # as English writes it
    sign_out(client)
    login(client, world["owner_a"])
    assert 'name="withdrawal_dual_approval_above"' not in text(client.get("/admin/settings/system/"))
    post_form(client, "/admin/settings/system/", "/admin/settings/system/",
              dict(base, withdrawal_dual_approval_above="1"))
    assert Merchant.get_by_id(a.id).withdrawal_dual_approval_above == Decimal("5000.00")


def upload_csv(client, content, name="approvals.csv"):
    return post_form(client, CSV_UPLOAD, CSV_UPLOAD, {"file": (io.BytesIO(content), name)})


def test_a_malformed_csv_approves_nothing_and_reports_each_line(client, world):
    login(client, world["operator"])
    page = text(client.get(CSV_UPLOAD))
    assert "payout_reference" in page and 'enctype="multipart/form-data"' in page
    assert 'data-testid="approve-csv"' in text(client.get(LIST))
    a, b = world["a"].id, world["b"].id
    content = (f"merchant_id,withdrawal_id,payout_reference\n{a},A-WD-1,TRX-1\n{b},B WD,TRX-2\n{b},B-WD-SECRET,\n"
               ).encode()
    response = upload_csv(client, content)
    page = text(response)
    assert response.status_code == 400 and "nothing was approved" in page
    assert "<td>3</td>" in page and "withdrawal_id must be" in page
    assert "<td>4</td>" in page and "payout_reference is required" in page
    assert upload_csv(client, b"\xff\xfe m\x00").status_code == 400
    assert {w.status for w in Withdrawal.select()} == {"new"} and Postback.select().count() == 0


def test_a_good_csv_approves_and_reports_each_line(client, world):
    a, b = world["a"].id, world["b"].id
    service.reject(world["wdb"], world["operator"], "no")
    login(client, world["operator"])
    content = (f"merchant_id,withdrawal_id,wallet_sender,payout_reference\n"
               f"{a},A-WD-1,,TRX-A\n{b},B-WD-SECRET,,TRX-B\n{a},A-WD-404,,TRX-C\n").encode()
    response = upload_csv(client, content)
    page = text(response)
    assert response.status_code == 200
    assert "1 approved, 0 first approvals recorded, 2 refused." in page
    assert 'data-outcome="approved"' in page and page.count('data-outcome="refused"') == 2
    assert "decided already" in page and "unknown withdrawal" in page
    w = Withdrawal.get_by_id(world["wda"].id)
    assert (w.status, w.payout_reference, w.wallet_sender_id) == ("approved", "TRX-A", world["wallet_a"].id)


def test_merchants_cannot_upload_approval_files(client, world):
    login(client, world["owner_a"])
    assert client.get(CSV_UPLOAD).status_code == 403
    assert 'data-testid="approve-csv"' not in text(client.get(LIST))
    content = f"merchant_id,withdrawal_id,payout_reference\n{world['a'].id},A-WD-1,TRX\n".encode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(client.get(LIST))).group(1)
    response = client.post(CSV_UPLOAD, data={"csrf_token": token, "file": (io.BytesIO(content), "x.csv")})
    assert response.status_code == 403
    assert Withdrawal.get_by_id(world["wda"].id).status == "new"
