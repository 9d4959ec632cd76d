"""The timeline on a transaction's details page (SPEC §11): operators and the
merchant's users see it, in their own time zone; operators' logins only operators."""
import datetime
import re
from decimal import Decimal

import pytest
from helpers import login

import factories
from backoffice.models import ActivationAttempt, ConnectorToken, Transaction
from backoffice.services import activation

OPERATOR_LOGIN = "ops-timeline@example.test"
# Reported; a wrong sender's attempt, the payer's; booked (deposit, commission: the
# factory books it now); today's fraud mark, its reversal and deposit.reversed.
EXPECTED_KINDS = ["reported", "attempt", "attempt", "ledger", "ledger", "fraud_mark", "ledger", "postback"]


@pytest.fixture
def world(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Dhaka Shop", timezone="Asia/Dhaka", postback_url="http://127.0.0.1:9/hook")
    other = factories.merchant(name="Other Shop")
    factories.merchant_payment_system(m, ps, min_deposit="500.00")
    token = ConnectorToken.create(name="bkash-phone-7", token_hash="b" * 64, payment_systems=["bkash"])
    t0 = datetime.datetime(2026, 3, 1, 12, 0)
    minute = datetime.timedelta(minutes=1)
    tx = factories.transaction(factories.wallet(m, ps), "600.00", commission=Decimal("15.00"),
                               counterparty="01811112222", created_at=t0, connector=token, label="alice",
                               status="activated", postback_status="pending", activated_at=t0 + 2 * minute)
    ActivationAttempt.create(merchant=m, payment_system=ps, transaction_number=tx.transaction_number,
                             label="mallory", network="198.51.100.0/24", sender=tx.counterparty, transaction=tx.id,
                             outcome="not_found", reason="sender_mismatch", created_at=t0 + minute)
    ActivationAttempt.create(merchant=m, payment_system=ps, transaction_number=tx.transaction_number,
                             label="alice", network="203.0.113.0/24", sender=tx.counterparty, transaction=tx.id,
                             outcome="activated", reason="activated", created_at=t0 + 2 * minute)
    operator = factories.user("operator", login=OPERATOR_LOGIN)
    with app.app_context():
        assert activation.set_originality([tx.id], "fraud", operator.id, ip="10.9.8.7") == 1
    return dict(m=m, other=other, tx=Transaction.get_by_id(tx.id), operator=operator,
                owner=factories.user("merchant_owner", merchant=m),
                staff=factories.user("merchant_staff", merchant=m),
                stranger=factories.user("merchant_owner", merchant=other))


def details(client, tx):
    response = client.get(f"/admin/transactions/details/?id={tx.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def timeline_of(page):
    match = re.search(r'<ol[^>]*data-testid="timeline".*?</ol>', page, re.S)
    assert match, "the page has no timeline"
    return match.group(0)


def kinds(section):
    return re.findall(r'data-testid="timeline-entry" data-kind="([a-z_]+)"', section)


def test_operators_see_the_whole_timeline_with_names(client, world):
    login(client, world["operator"])
    section = timeline_of(details(client, world["tx"]))
    assert kinds(section) == EXPECTED_KINDS
    assert "bkash-phone-7" in section
    assert "Marked as fraud by " + OPERATOR_LOGIN in section
    assert "198.51.100.0/24" in section and "sender_mismatch" in section
    assert "2026-03-01 12:00:00" in section  # the operator's zone: the instance default, UTC


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_the_merchants_users_see_it_without_operators_names(client, world, who):
    login(client, world[who])
    page = details(client, world["tx"])
    section = timeline_of(page)
    assert kinds(section) == EXPECTED_KINDS
    assert "Marked as fraud by Operator" in section
    assert OPERATOR_LOGIN not in page and "ops-timeline" not in page
    assert "10.9.8.7" not in page
    assert "bkash-phone-7" not in page  # the connector's name is the operators'
    assert "2026-03-01 18:00:00" in section  # Asia/Dhaka, the merchant's zone
    assert "Times are in Dhaka, UTC+06:00." in page


def test_another_merchants_user_cannot_open_it(client, world):
    login(client, world["stranger"])
    assert client.get(f"/admin/transactions/details/?id={world['tx'].id}").status_code == 404
