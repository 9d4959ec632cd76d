"""The audit log screen and dates in the viewer's time zone (issue 7)."""
import datetime

import pytest
from helpers import login

import factories
from backoffice.models import AuditLog
from backoffice.services import audit

NEW_YEAR_DHAKA = datetime.datetime(2025, 12, 31, 19, 0)  # 2026-01-01 01:00 in Asia/Dhaka
LATE_DEC_DHAKA = datetime.datetime(2025, 12, 31, 17, 0)  # 2025-12-31 23:00 in Asia/Dhaka


@pytest.fixture
def world(conn):
    ps = factories.payment_system("bkash", "BDT")
    a = factories.merchant(name="A", timezone="Asia/Dhaka")
    b = factories.merchant(name="B")
    users = dict(operator=factories.user("operator"), owner=factories.user("merchant_owner", a),
                 staff=factories.user("merchant_staff", a), other=factories.user("merchant_owner", b))
    e_a = audit.record(users["owner"], "merchant.settings", a, merchant=a.id,
                       summary={"before": {"timezone": "UTC"}, "after": {"timezone": "Asia/Dhaka"}})
    e_b = audit.record(users["other"], "merchant.rotate_api_key", b, merchant=b.id)
    e_op = audit.record(users["operator"], "merchant.disable", a, merchant=a.id)
    return dict(ps=ps, a=a, b=b, e_a=e_a, e_b=e_b, e_op=e_op, **users)


def text(response):
    return response.get_data(as_text=True)


def test_owner_sees_only_own_merchant_entries_and_staff_is_refused(client, world):
    login(client, world["owner"])
    page = text(client.get("/admin/audit_log/"))
    assert "merchant.settings" in page and "merchant.disable" in page and "merchant.rotate_api_key" not in page
    assert client.get(f"/admin/audit_log/details/?id={world['e_b'].id}").status_code == 404
    assert client.get(f"/admin/audit_log/details/?id={world['e_a'].id}").status_code == 200
    export = text(client.get("/admin/audit_log/export/csv/"))
    assert "merchant.rotate_api_key" not in export and "merchant.settings" in export
    assert world["operator"].login not in export
    # Platform staff appear as "Operator", not by their login.
    assert world["operator"].login not in page and "Operator" in page
    staff = client.application.test_client()
    login(staff, world["staff"])
    assert staff.get("/admin/audit_log/").status_code == 403


def test_operator_filters_by_user_merchant_action_and_date(client, world):
    login(client, world["operator"])
    page = text(client.get("/admin/audit_log/"))
    assert all(a in page for a in ("merchant.settings", "merchant.rotate_api_key", "merchant.disable"))
    by_merchant = text(client.get(f"/admin/audit_log/?flt0_merchant_equals={world['b'].id}"))
    assert "merchant.rotate_api_key" in by_merchant and "merchant.settings" not in by_merchant
    by_user = text(client.get(f"/admin/audit_log/?flt0_user_equals={world['operator'].id}"))
    assert "merchant.disable" in by_user and "merchant.settings" not in by_user
    by_action = text(client.get("/admin/audit_log/?flt0_action_contains=rotate"))
    assert "merchant.rotate_api_key" in by_action and "merchant.disable" not in by_action
    AuditLog.update(created_at=datetime.datetime(2020, 5, 1, 12)).where(AuditLog.id == world["e_b"].id).execute()
    by_date = text(client.get("/admin/audit_log/?flt0_date_between=2020-05-01+to+2020-05-01"))
    assert "merchant.rotate_api_key" in by_date and "merchant.disable" not in by_date


def test_created_from_2026_01_01_in_dhaka_includes_19_00_utc_on_new_years_eve(client, world):
    a = world["a"]
    w = factories.wallet(a, world["ps"])
    factories.transaction(w, transaction_number="TX-IN", created_at=NEW_YEAR_DHAKA)
    factories.transaction(w, transaction_number="TX-OUT", created_at=LATE_DEC_DHAKA)
    factories.withdrawal(a, world["ps"], withdrawal_id="WD-IN", created_at=NEW_YEAR_DHAKA)
    factories.withdrawal(a, world["ps"], withdrawal_id="WD-OUT", created_at=LATE_DEC_DHAKA)
    AuditLog.update(created_at=NEW_YEAR_DHAKA).where(AuditLog.id == world["e_a"].id).execute()
    AuditLog.update(created_at=LATE_DEC_DHAKA).where(AuditLog.id == world["e_op"].id).execute()
    login(client, world["owner"])

    page = text(client.get("/admin/transactions/?flt0_creation_date_between=2026-01-01+to+2026-01-01"))
    assert "TX-IN" in page and "TX-OUT" not in page
    assert "2026-01-01 01:00:00" in page  # shown in the merchant's zone
    page = text(client.get("/admin/withdrawals/?flt0_6=2026-01-01"))
    assert "WD-IN" in page and "WD-OUT" not in page
    page = text(client.get("/admin/withdrawals/?flt0_6=2026-01-01&flt1_7=2026-01-01"))
    assert "WD-IN" in page and "WD-OUT" not in page
    page = text(client.get("/admin/audit_log/?flt0_date_between=2026-01-01+to+2026-01-01"))
    assert "merchant.settings" in page and "merchant.disable" not in page
    assert "2026-01-01 01:00:00" in page


def test_csv_exports_name_the_time_zone(client, world):
    a = world["a"]
    w = factories.wallet(a, world["ps"])
    factories.transaction(w, transaction_number="TX-CSV", created_at=NEW_YEAR_DHAKA)
    factories.withdrawal(a, world["ps"], withdrawal_id="WD-CSV", created_at=NEW_YEAR_DHAKA)
    login(client, world["owner"])
    for url, label in (("/admin/transactions/export/csv/", "Created (Asia/Dhaka)"),
                       ("/admin/withdrawals/export/csv/", "Request date (Asia/Dhaka)"),
                       ("/admin/audit_log/export/csv/", "Date (Asia/Dhaka)")):
        header = text(client.get(url)).splitlines()[0]
        assert label in header, (url, header)
    body = text(client.get("/admin/transactions/export/csv/"))
    assert "2026-01-01 01:00:00" in body
    # An operator without a zone of their own sees UTC.
    op = client.application.test_client()
    login(op, world["operator"])
    assert "Created (UTC)" in text(op.get("/admin/transactions/export/csv/")).splitlines()[0]


def test_postback_date_filter_is_in_the_viewers_zone(client, world):
    from backoffice.models import Postback

    pb = Postback.create(event_id="evt_tz", merchant=world["a"].id, event_type="test", payload="{}",
                         created_at=NEW_YEAR_DHAKA)
    login(client, world["owner"])
    page = text(client.get("/admin/postbacks/", query_string={
        "flt0_2": "2026-01-01 00:30:00 to 2026-01-01 01:30:00"}))
    assert pb.event_id in page
    page = text(client.get("/admin/postbacks/", query_string={
        "flt0_2": "2025-12-31 18:30:00 to 2025-12-31 19:30:00"}))
    assert pb.event_id not in page


def test_money_settings_edited_in_operator_forms_are_audited(client, world):
    from helpers import post_form

    from backoffice.models import Wallet

    mps = factories.merchant_payment_system(world["a"], world["ps"], min_deposit="500.00")
    login(client, world["operator"])
    url = f"/admin/merchant_payment_systems/edit/?id={mps.id}"
    response = post_form(client, url, url, {"merchant": str(world["a"].id), "payment_system": str(world["ps"].id),
                                            "enabled": "y", "min_deposit": "750.00", "commission_percent": "2.50",
                                            "display_order": "0"})
    assert response.status_code == 302
    entry = AuditLog.get(AuditLog.action == "merchant_payment_system.edit")
    assert entry.summary == {"before": {"min_deposit": "500.00"}, "after": {"min_deposit": "750.00"}}
    assert entry.merchant_id == world["a"].id and entry.user_id == world["operator"].id

    response = post_form(client, "/admin/wallets/new/", "/admin/wallets/new/", {
        "merchant": str(world["a"].id), "payment_system": str(world["ps"].id), "identifier": "main",
        "number": "01711111111", "active": "y"})
    assert response.status_code == 302
    wallet = Wallet.get(Wallet.number == "01711111111")
    entry = AuditLog.get(AuditLog.action == "wallet.create")
    assert entry.object_id == str(wallet.id) and entry.summary["after"]["number"] == "01711111111"
    # The owner sees both in their own audit log.
    owner = client.application.test_client()
    login(owner, world["owner"])
    page = text(owner.get("/admin/audit_log/"))
    assert "merchant_payment_system.edit" in page and "wallet.create" in page
