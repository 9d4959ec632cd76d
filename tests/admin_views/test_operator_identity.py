"""Issue 17, class 5: merchants never learn which operator login (or from which address)
decided a withdrawal, booked an adjustment or changed a setting. Merchant users see
"Operator" and the time; operators see who. Every place: the withdrawal list, details
and CSV, the audit log's list, details and CSV (user and IP columns), the Balance
statement and its CSV, the withdrawal API's JSON."""
import datetime
import json

import pytest
from helpers import login
from withdrawal_support import fund, seed_payment_systems

import factories
from backoffice.models import AuditLog
from backoffice.services import audit, ledger
from backoffice.services.withdrawals import payload_data

DECIDER = "op-decider@platform.test"
FIRST = "op-first-approver@platform.test"
OPERATOR_IP = "203.0.113.77"
OWNER_IP = "198.51.100.5"
WHEN = datetime.datetime(2026, 3, 10, 9, 30)
TODAY = datetime.datetime.now(datetime.timezone.utc).date()
PERIOD = f"?date_from={TODAY - datetime.timedelta(days=7)}&date_to={TODAY}"


@pytest.fixture
def world(app, conn):
    ps = seed_payment_systems()["bkash"]
    a = factories.merchant(name="Alpha Shop")
    fund(a, ps, amount="1000.00", commission="0.00")
    decider = factories.user("operator", login=DECIDER)
    first = factories.user("operator", login=FIRST)
    owner = factories.user("merchant_owner", a)
    staff = factories.user("merchant_staff", a)
    withdrawal = factories.withdrawal(a, ps, withdrawal_id="WD-DECIDED", status="approved", decided_by=decider,
                                      decided_at=WHEN, first_approved_by=first, first_approved_at=WHEN,
                                      payout_reference="PAY-1")
    with app.app_context():
        ledger.adjust(a, "BDT", "50.00", "goodwill", decider, ip=OPERATOR_IP)
    audit.record(decider, "withdrawal.approve", withdrawal, merchant=a.id, ip=OPERATOR_IP,
                 summary={"status": "approved"})
    audit.record(decider, "merchant.settings", a, merchant=a.id, ip=OPERATOR_IP,
                 summary={"before": {"timezone": "UTC"}, "after": {"timezone": "Asia/Dhaka"}})
    own = audit.record(owner, "merchant.rotate_api_key", a, merchant=a.id, ip=OWNER_IP)
    setting = AuditLog.get(AuditLog.action == "merchant.settings")
    return dict(a=a, ps=ps, decider=decider, first=first, owner=owner, staff=staff, withdrawal=withdrawal,
                setting=setting, own=own)


def merchant_pages(world):
    """Every page (and export) a merchant user may open that could name an operator."""
    wd = world["withdrawal"]
    pages = {
        "withdrawal list": "/admin/withdrawals/",
        "withdrawal details": f"/admin/withdrawals/details/?id={wd.id}",
        "withdrawal export": "/admin/withdrawals/export/csv/",
        "balance": "/admin/balance/" + PERIOD,
        "balance export": "/admin/balance/export/csv/" + PERIOD,
    }
    owner_only = {
        "audit log": "/admin/audit_log/",
        "audit details (setting)": f"/admin/audit_log/details/?id={world['setting'].id}",
        "audit export": "/admin/audit_log/export/csv/",
    }
    return pages, owner_only


def assert_no_operator_identity(body, where):
    for secret in (DECIDER, FIRST, OPERATOR_IP):
        assert secret not in body, f"{secret} shown to a merchant on {where}"


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_merchant_users_see_operator_not_the_login_or_address(client, world, who):
    login(client, world[who])
    pages, owner_only = merchant_pages(world)
    if who == "owner":
        pages.update(owner_only)
    for where, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (where, response.status_code)
        assert_no_operator_identity(response.get_data(as_text=True), where)
    details = client.get(pages["withdrawal details"]).get_data(as_text=True)
    assert "Operator" in details  # who decided: "Operator", and when
    statement = client.get(pages["balance"]).get_data(as_text=True)
    assert "Operator" in statement
    if who == "owner":
        log = client.get(pages["audit log"]).get_data(as_text=True)
        assert "Operator" in log
        # The owner's own team stays visible, with its address.
        assert world["owner"].login in log and OWNER_IP in log
        exported = client.get(pages["audit export"]).get_data(as_text=True)
        assert world["owner"].login in exported and OWNER_IP in exported and "Operator" in exported


def test_the_withdrawal_api_json_carries_no_operator_identity(client, world):
    response = client.get("/api/v1/withdrawals/WD-DECIDED",
                          headers={"Authorization": f"Bearer {world['a'].api_key}"})
    assert response.status_code == 200
    assert_no_operator_identity(response.get_data(as_text=True), "GET /api/v1/withdrawals/<id>")
    # The withdrawal postback's data is the same representation.
    assert_no_operator_identity(json.dumps(payload_data(world["withdrawal"])), "the withdrawal postback")


def test_operators_see_who_and_from_where(client, world):
    login(client, world["decider"])
    wd = world["withdrawal"]
    details = client.get(f"/admin/withdrawals/details/?id={wd.id}").get_data(as_text=True)
    assert DECIDER in details and FIRST in details
    log = client.get("/admin/audit_log/").get_data(as_text=True)
    assert DECIDER in log and OPERATOR_IP in log
    setting = client.get(f"/admin/audit_log/details/?id={world['setting'].id}").get_data(as_text=True)
    assert DECIDER in setting and OPERATOR_IP in setting
    exported = client.get("/admin/audit_log/export/csv/").get_data(as_text=True)
    assert DECIDER in exported and OPERATOR_IP in exported
    statement = client.get(f"/admin/balance/{PERIOD}&merchant={world['a'].id}")
    assert DECIDER in statement.get_data(as_text=True)
