"""Risk → Review queue (SPEC §11), through the real pages: a deposit a review threshold
held is listed (oldest first, with its rule explained); Approve completes it (ledger
entry, ``deposit.completed``, postback pending), Refuse leaves it refused with the
note; bulk decisions; a review decided already is skipped; every decision audited;
the Decided list says who and when; operators only."""
import datetime
import html
import re
from decimal import Decimal

import pytest
from conftest import csrf_from
from helpers import login, post_form

import factories
from backoffice.models import AuditLog, DepositReview, Event, LedgerEntry, Transaction, utcnow
from backoffice.services import activation, matching

QUEUE = "/admin/review/"
DECIDED = "/admin/review/decided/"


@pytest.fixture
def shop(app, conn):
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    a = factories.merchant(name="Alpha", postback_url="http://127.0.0.1:9/hook")
    b = factories.merchant(name="Bravo", postback_url="http://127.0.0.1:9/hook-b")
    for m in (a, b):
        factories.merchant_payment_system(m, ps, min_deposit="500.00")
    operator = factories.user("operator", login="ops-olga@example.test")
    with app.app_context():
        # Alpha holds deposits above 5000 and a visitor's first deposit above 1000.
        for m in (a, b):
            matching.set_policy(m.id, {"require_sender": "", "review_above": "5000", "review_first_above": "1000"},
                                actor=operator.id)
    return dict(app=app, ps=ps, a=a, b=b, wa=factories.wallet(a, ps), wb=factories.wallet(b, ps),
                operator=operator, owner=factories.user("merchant_owner", a),
                staff=factories.user("merchant_staff", a))


@pytest.fixture
def operator(client, shop):
    login(client, shop["operator"])
    return client


def hold(shop, wallet, amount, label, minutes_ago=0):
    """A deposit reported, then activated by a visitor: held by the merchant's thresholds."""
    tx = factories.transaction(wallet, amount, commission=Decimal("10.00"), counterparty="01711112222")
    merchant = shop["a"] if wallet.merchant_id == shop["a"].id else shop["b"]
    with shop["app"].app_context():
        outcome = activation.activate(merchant, shop["ps"].code, tx.transaction_number, label,
                                      now=utcnow() - datetime.timedelta(minutes=minutes_ago) if minutes_ago else None)
    assert outcome.status == "pending", outcome
    review = DepositReview.get(DepositReview.transaction == tx.id)
    assert review.status == "held" and Transaction.get_by_id(tx.id).postback_status == "review"
    return review


def text(response):
    return response.get_data(as_text=True)


def row(page, review):
    """The review's table row, as text (entities decoded)."""
    match = re.search(rf'<tr data-review="{review.id}">(.*?)</tr>', page, re.S)
    return html.unescape(match.group(1)) if match else None


def decide(client, action, ids, note=None):
    data = {"rowid": [str(i) for i in ids]}
    if note is not None:
        data["note"] = note
    return post_form(client, QUEUE, f"{QUEUE}{action}/", data)


def audit_actions():
    """The audit log's actions, but for the set-up's policies."""
    query = AuditLog.select().where(AuditLog.action != "matching_policy.update").order_by(AuditLog.id)
    return [e.action for e in query]


def completed(review):
    """The transaction's postback status, its deposit entries in the ledger, its deposit.completed events."""
    tx = Transaction.get_by_id(review.transaction_id)
    entries = LedgerEntry.select().where((LedgerEntry.source_type == "transaction") & (LedgerEntry.source_id == tx.id)
                                         & (LedgerEntry.kind == "deposit")).count()
    events = Event.select().where((Event.event_type == "deposit.completed") & (Event.object_id == tx.id)).count()
    return tx.postback_status, entries, events


# --- the queue ------------------------------------------------------------------------------

def test_the_queue_lists_held_deposits_oldest_first(operator, shop):
    newer = hold(shop, shop["wa"], "6000.00", "alice")
    older = hold(shop, shop["wb"], "1500.00", "bob", minutes_ago=30)
    page = text(operator.get(QUEUE))
    first, second = row(page, older), row(page, newer)
    assert first and second and page.index(first) < page.index(second)
    assert "Alpha" in second and "bKash" in second and "alice" in second and "6,000.00\u00a0BDT" in second
    assert "above the review threshold" in second
    assert "Bravo" in first and "1,500.00\u00a0BDT" in first
    assert "the label's first deposit above the threshold" in first
    assert f'href="/admin/transactions/details/?id={newer.transaction_id}"' in second
    assert f'name="rowid" value="{newer.id}"' in second
    # Nothing is complete while held: no entry, no event.
    assert completed(newer) == ("review", 0, 0)
    # ?merchant= narrows the queue.
    only_bravo = text(operator.get(f"{QUEUE}?merchant={shop['b'].id}"))
    assert row(only_bravo, older) and not row(only_bravo, newer)
    assert operator.get(f"{QUEUE}?merchant=abc").status_code == 404


def test_the_empty_queue(operator, shop):
    assert 'data-testid="no-held"' in text(operator.get(QUEUE))
    assert 'data-testid="no-decided"' in text(operator.get(DECIDED))


# --- decisions ------------------------------------------------------------------------------

def test_approve_completes_the_deposit(operator, shop):
    review = hold(shop, shop["wa"], "6000.00", "alice")
    response = decide(operator, "approve", [review.id])
    assert response.status_code == 302 and response.headers["Location"].endswith(QUEUE)
    fresh = DepositReview.get_by_id(review.id)
    assert fresh.status == "approved" and fresh.decided_by_id == shop["operator"].id and fresh.decided_at
    assert completed(review) == ("pending", 1, 1)
    page = text(operator.get(QUEUE))
    assert "1 deposit approved" in page and not row(page, review)
    assert audit_actions() and all("approve" in action for action in audit_actions())
    entry = AuditLog.select().where(AuditLog.action.contains("approve")).get()
    assert entry.user_id == shop["operator"].id and entry.merchant_id == shop["a"].id
    decided = text(operator.get(DECIDED))
    line = row(decided, review)
    assert "Approved" in line and "ops-olga@example.test" in line and "alice" in line


def test_refuse_with_a_note(operator, shop):
    review = hold(shop, shop["wa"], "6000.00", "mallory")
    response = decide(operator, "refuse", [review.id], note="Sender wallet is not the payer's")
    assert response.status_code == 302
    fresh = DepositReview.get_by_id(review.id)
    assert fresh.status == "refused" and fresh.note == "Sender wallet is not the payer's"
    assert completed(review) == ("refused", 0, 0)
    assert "1 deposit refused" in text(operator.get(QUEUE))
    assert len(audit_actions()) == 1 and "refuse" in audit_actions()[0]
    line = row(text(operator.get(DECIDED)), review)
    assert "Refused" in line and "Sender wallet is not the payer's" in line and "ops-olga@example.test" in line


def test_bulk_decisions(operator, shop):
    reviews = [hold(shop, shop["wa"], "6000.00", f"v{n}") for n in range(3)]
    other = hold(shop, shop["wb"], "7000.00", "w1")
    response = decide(operator, "approve", [r.id for r in reviews[:2]] + [other.id])
    assert response.status_code == 302
    assert "3 deposits approved" in text(operator.get(QUEUE))
    assert [completed(r)[0] for r in reviews] == ["pending", "pending", "review"]
    assert completed(other) == ("pending", 1, 1)
    assert len(audit_actions()) == 3  # one entry per decided deposit
    decide(operator, "refuse", [reviews[2].id])
    assert DepositReview.select().where(DepositReview.status == "held").count() == 0
    assert len(audit_actions()) == 4
    only_bravo = text(operator.get(f"{DECIDED}?merchant={shop['b'].id}"))
    assert row(only_bravo, other) and not any(row(only_bravo, r) for r in reviews)


def test_a_review_decided_already_is_skipped(operator, shop):
    first, second = hold(shop, shop["wa"], "6000.00", "a1"), hold(shop, shop["wa"], "6500.00", "a2")
    decide(operator, "refuse", [first.id])
    operator.get(QUEUE)  # the flash of the first decision
    response = decide(operator, "approve", [first.id, second.id])
    assert response.status_code == 302
    page = text(operator.get(QUEUE))
    assert "1 deposit approved" in page and "1 deposit was decided already" in page
    assert DepositReview.get_by_id(first.id).status == "refused" and completed(first) == ("refused", 0, 0)
    assert completed(second) == ("pending", 1, 1)
    decide(operator, "approve", [first.id])
    assert "Nothing was decided" in text(operator.get(QUEUE))
    assert len(audit_actions()) == 2


def test_nothing_ticked(operator, shop):
    review = hold(shop, shop["wa"], "6000.00", "alice")
    for action in ("approve", "refuse"):
        response = decide(operator, action, [])
        assert response.status_code == 302
        assert "Tick the deposits to decide first." in text(operator.get(QUEUE))
        assert decide(operator, action, ["abc", "99999999999999999999"]).status_code == 302
    assert DepositReview.get_by_id(review.id).status == "held" and audit_actions() == []


def test_a_decision_needs_the_csrf_token(operator, shop):
    review = hold(shop, shop["wa"], "6000.00", "alice")
    assert operator.post(f"{QUEUE}approve/", data={"rowid": [review.id]}).status_code == 400
    assert DepositReview.get_by_id(review.id).status == "held"


# --- operators only ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ("owner", "staff"))
def test_merchant_users_are_refused(client, shop, role):
    review = hold(shop, shop["wa"], "6000.00", "alice")
    login(client, shop[role])
    token = csrf_from(client.get("/admin/settings/"))
    for url in (QUEUE, DECIDED):
        assert client.get(url).status_code == 403, url
    for action in ("approve", "refuse"):
        response = client.post(f"{QUEUE}{action}/", data={"csrf_token": token, "rowid": [review.id]})
        assert response.status_code == 403, action
    assert DepositReview.get_by_id(review.id).status == "held" and audit_actions() == []
    assert 'href="/admin/review/"' not in text(client.get("/admin/settings/"))


def test_signed_out_goes_to_the_login_page(client, shop):
    for url in (QUEUE, DECIDED):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_menu_shows_the_queue_to_operators(operator):
    page = text(operator.get("/admin/settings/"))
    assert 'href="/admin/review/"' in page and "Review queue" in page
