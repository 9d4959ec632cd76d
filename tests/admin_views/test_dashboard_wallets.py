"""The dashboard's "Needs attention" panel (SPEC §12): operators see how many wallets need
attention (linking to the Wallets list filtered so, which lists exactly those) and how
many appeals are open (linking to the Appeals queue), over every merchant; merchant
users see no wallet count, only their own merchant's open appeals."""
import datetime
import html
import re
from decimal import Decimal

import pytest
from helpers import login

import factories
from backoffice.models import Appeal, Wallet, utcnow
from backoffice.services import wallets as service

_seq = iter(range(1, 10 ** 6))


def appeal(merchant, ps, status="open"):
    n = next(_seq)
    return Appeal.create(public_id=f"apl_test{n}", merchant=merchant, payment_system=ps, label=f"visitor-{n}",
                         transaction_number=f"TXA{n}", amount=Decimal("700.00"), currency=ps.currency,
                         sender="01711112222", paid_at=utcnow(), status=status)


@pytest.fixture
def world(app, conn):
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    a = factories.merchant(name="Alpha", timezone="Asia/Dhaka")
    b = factories.merchant(name="Bravo")
    now = utcnow()
    today_b = service.local_day("UTC", now)
    attention = [
        # Silent: shown for 40 minutes without a report.
        Wallet.update(offered_since=now - datetime.timedelta(minutes=40), last_offered_at=now)
        .where(Wallet.id == factories.wallet(a, ps).id).execute(),
        # Paused for silence.
        Wallet.update(paused=True, paused_reason="silent").where(Wallet.id == factories.wallet(b, ps).id).execute(),
        # At its daily limit today.
        Wallet.update(daily_limit=Decimal("500.00"), day_start=today_b, day_total=Decimal("500.00"))
        .where(Wallet.id == factories.wallet(b, ps).id).execute(),
    ]
    assert attention == [1, 1, 1]
    factories.wallet(a, ps)  # fine
    Wallet.update(paused=True, paused_reason="manual").where(Wallet.id == factories.wallet(a, ps).id).execute()
    for merchant, status in ((a, "open"), (a, "open"), (a, "matched"), (b, "open"), (b, "rejected")):
        appeal(merchant, ps, status)
    return dict(a=a, b=b, operator=factories.user("operator"), owner=factories.user("merchant_owner", merchant=a),
                staff=factories.user("merchant_staff", merchant=b))


def panel(page):
    match = re.search(r'<section class="mb-3" id="dashboard-waiting".*?</section>', page, re.S)
    return match.group(0) if match else None


def card(section, key):
    match = re.search(rf'href="([^"]+)" data-testid="waiting-{key}">.*?data-count>(\d+)<', section, re.S)
    return (html.unescape(match.group(1)), int(match.group(2))) if match else None


def test_operators_see_wallets_needing_attention_and_open_appeals(client, world):
    login(client, world["operator"])
    page = client.get("/admin/").get_data(as_text=True)
    section = panel(page)
    assert section and "Needs attention" in section
    wallets_url, wallets_count = card(section, "wallets")
    assert wallets_count == 3 and "Wallets needing attention" in section
    assert card(section, "appeals") == ("/admin/appeals/", 3) and "Open appeals" in section
    # The link opens the Wallets list filtered to exactly those wallets.
    listed = client.get(wallets_url).get_data(as_text=True)
    ids = set(re.findall(r'name="rowid"[^>]*value="(\d+)"', listed))
    expected = {str(w.id) for w in Wallet.select().where(
        (Wallet.paused_reason == "silent") | Wallet.offered_since.is_null(False) | Wallet.daily_limit.is_null(False))}
    assert len(ids) == 3 and ids == expected
    # The counts are the operators' work queue: the same whatever merchant the filters name.
    one = panel(client.get(f"/admin/?merchant={world['a'].id}").get_data(as_text=True))
    assert card(one, "wallets")[1] == 3 and card(one, "appeals")[1] == 3


def test_the_counts_follow_the_wallets(client, world):
    login(client, world["operator"])
    Wallet.update(paused=False, paused_reason=None).where(Wallet.paused_reason == "silent").execute()
    Appeal.update(status="rejected").where(Appeal.merchant == world["b"].id).execute()
    section = panel(client.get("/admin/").get_data(as_text=True))
    assert card(section, "wallets")[1] == 2 and card(section, "appeals")[1] == 2


@pytest.mark.parametrize("who,merchant,count", [("owner", "a", 2), ("staff", "b", 1)])
def test_merchant_users_see_their_own_open_appeals_and_no_wallets(client, world, who, merchant, count):
    login(client, world[who])
    page = client.get("/admin/").get_data(as_text=True)
    section = panel(page)
    assert section and "Wallets needing attention" not in section and 'data-testid="waiting-wallets"' not in page
    assert "/admin/wallets/" not in page
    assert card(section, "appeals") == ("/admin/appeals/", count)
