"""Risk → Appeals (SPEC §12), through the real pages: the operators' queue (open
appeals, newest first, every merchant), the candidates' search, Match (the payment is
activated for the appeal's label: ledger entry, ``deposit.completed``, audit) and
Reject (with the reason the visitor reads); a refused decision changes nothing; the
merchant's users read their own appeals only and decide nothing; the receipt is served
sandboxed to whoever may read the appeal; every decision needs the CSRF token."""
import datetime
import html
import io
import re
from decimal import Decimal

import pytest
from conftest import csrf_from
from helpers import login
from PIL import Image

import factories
from backoffice.models import Appeal, AuditLog, Event, LedgerEntry, Transaction, utcnow
from backoffice.services import activation, appeals, receipts

LIST = "/admin/appeals/"
DETAILS = "/admin/appeals/details/"
RECEIPT = "/admin/appeals/receipt/"
MATCH = "/admin/appeals/match/"
REJECT = "/admin/appeals/reject/"


@pytest.fixture
def shop(app, conn):
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    a = factories.merchant(name="Alpha", postback_url="http://127.0.0.1:9/hook", timezone="Asia/Dhaka")
    b = factories.merchant(name="Bravo", postback_url="http://127.0.0.1:9/hook-b")
    for m in (a, b):
        factories.merchant_payment_system(m, ps, min_deposit="500.00")
    return dict(app=app, ps=ps, a=a, b=b, wa=factories.wallet(a, ps), wb=factories.wallet(b, ps),
                operator=factories.user("operator", login="ops-olga@example.test", timezone="Asia/Dhaka"),
                owner=factories.user("merchant_owner", a), staff=factories.user("merchant_staff", a),
                owner_b=factories.user("merchant_owner", b))


@pytest.fixture
def operator(client, shop):
    login(client, shop["operator"])
    return client


def png_receipt():
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 140, 60)).save(out, format="PNG")
    return receipts.clean_receipt(out.getvalue(), field="receipt")


def appeal(shop, merchant, number, amount="800.00", label="alice", sender="01711112222", receipt=None,
           minutes_ago=0, paid_minutes_ago=30):
    """A visitor's appeal, filed through the service as the plugin files it."""
    now = utcnow() - datetime.timedelta(minutes=minutes_ago)
    with shop["app"].app_context():
        settings = activation.merchant_settings(merchant, shop["ps"].code)
        row, created = appeals.file(settings, label, number, Decimal(amount), sender,
                                    now - datetime.timedelta(minutes=paid_minutes_ago), receipt=receipt, now=now)
    assert created
    return row


def reported(wallet, number, amount="800.00", **fields):
    return factories.transaction(wallet, amount, transaction_number=number, counterparty="01711112222", **fields)


def text(response):
    return response.get_data(as_text=True)


def row(page, item, attribute="data-appeal"):
    match = re.search(rf'<tr {attribute}="{item.id}">(.*?)</tr>', page, re.S)
    return html.unescape(match.group(1)) if match else None


def post(client, url, appeal_row, **data):
    token = csrf_from(client.get(f"{DETAILS}?id={appeal_row.id}"))
    return client.post(url, data=dict(data, appeal_id=str(appeal_row.id), csrf_token=token))


def completed(tx):
    """Its status, label, deposit entries in the ledger, deposit.completed events."""
    tx = Transaction.get_by_id(tx.id)
    entries = LedgerEntry.select().where((LedgerEntry.source_type == "transaction") & (LedgerEntry.source_id == tx.id)
                                         & (LedgerEntry.kind == "deposit")).count()
    events = Event.select().where((Event.event_type == "deposit.completed") & (Event.object_id == tx.id)).count()
    return tx.status, tx.label, entries, events


def fresh(appeal_row):
    return Appeal.get_by_id(appeal_row.id)


# --- the operators' queue ------------------------------------------------------------------------

def test_operators_see_open_appeals_of_every_merchant_newest_first(operator, shop):
    older = appeal(shop, shop["a"], "TXOLD1", label="alice", minutes_ago=20)
    newer = appeal(shop, shop["b"], "TXNEW1", amount="1500.00", label="bob")
    done = appeal(shop, shop["a"], "TXDONE", label="carol")
    with shop["app"].app_context():
        appeals.reject(done.id, "No such payment", shop["operator"])
    page = text(operator.get(LIST))
    first, second = row(page, newer), row(page, older)
    assert first and second and page.index(first) < page.index(second)
    assert "Bravo" in first and "bKash" in first and "bob" in first and "TXNEW1" in first and "1,500.00\u00a0BDT" in first
    assert newer.public_id in first and "Being checked" in first
    assert f'href="{DETAILS}?id={newer.id}"' in first
    assert "Alpha" in second and "01711112222" in second
    assert not row(page, done)  # open only, by default
    # Status and merchant filters.
    rejected = text(operator.get(f"{LIST}?status=rejected"))
    line = row(rejected, done)
    assert line and "Rejected" in line and "ops-olga@example.test" in line and not row(rejected, newer)
    every = text(operator.get(f"{LIST}?status=all"))
    assert row(every, done) and row(every, newer) and row(every, older)
    alpha = text(operator.get(f"{LIST}?status=all&merchant={shop['a'].id}"))
    assert row(alpha, done) and row(alpha, older) and not row(alpha, newer)
    assert operator.get(f"{LIST}?merchant=abc").status_code == 404
    assert row(text(operator.get(f"{LIST}?status=bogus")), newer)  # an unknown status: the default


def test_the_list_pages_by_fifty(operator, shop):
    rows = [appeal(shop, shop["a"], f"TXP{n:03d}", label=f"v{n}", minutes_ago=60 - n) for n in range(52)]
    first = text(operator.get(LIST))
    assert row(first, rows[-1]) and not row(first, rows[1]) and 'data-testid="appeals-next"' in first
    second = text(operator.get(f"{LIST}?page=2&status=open"))
    assert row(second, rows[1]) and row(second, rows[0]) and not row(second, rows[-1])
    assert row(text(operator.get(f"{LIST}?page=x")), rows[-1])


# --- details, candidates, match ----------------------------------------------------------------------

def test_details_show_the_facts_the_receipt_and_the_candidates(operator, shop):
    tx = reported(shop["wa"], "TXSAME")
    other = reported(shop["wa"], "TXOTHER", amount="800.00")
    item = appeal(shop, shop["a"], "TXSAME", receipt=png_receipt())
    page = text(operator.get(f"{DETAILS}?id={item.id}"))
    for fact in (item.public_id, "Alpha", "bKash", "alice", "TXSAME", "800.00\u00a0BDT", "01711112222"):
        assert fact in page, fact
    assert f'src="{RECEIPT}?id={item.id}"' in page and 'data-testid="appeal-receipt"' in page
    # Nothing typed: the appeal's own number.
    assert row(page, tx, "data-candidate") and not row(page, other, "data-candidate")
    assert f'data-testid="match-{tx.id}"' in page
    assert 'data-testid="reject-reason"' in page and 'data-testid="reject-submit"' in page
    # A search by amount finds both.
    found = text(operator.get(f"{DETAILS}?id={item.id}&amount=800"))
    assert row(found, tx, "data-candidate") and row(found, other, "data-candidate")
    assert row(text(operator.get(f"{DETAILS}?id={item.id}&number=TXOTHER")), other, "data-candidate")
    # Dates are typed in the viewer's zone (Asia/Dhaka, UTC+6): an hour ago there finds them,
    # an hour ago read as UTC (six hours later) would not.
    dhaka = datetime.timedelta(hours=6)
    hour_ago = (utcnow() + dhaka - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    since = text(operator.get(f"{DETAILS}?id={item.id}&amount=800&from={hour_ago}"))
    assert row(since, tx, "data-candidate") and row(since, other, "data-candidate")
    until = text(operator.get(f"{DETAILS}?id={item.id}&amount=800&to={hour_ago}"))
    assert 'data-testid="no-candidates"' in until
    later = (utcnow() + dhaka + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert 'data-testid="no-candidates"' in text(operator.get(f"{DETAILS}?id={item.id}&amount=800&from={later}"))
    assert "Dhaka, UTC+06:00" in found  # the zone as people read it (issue 22, point 5)
    bad = text(operator.get(f"{DETAILS}?id={item.id}&amount=lots"))
    assert "Amount: enter an amount such as 1,250.50" in bad and 'data-testid="no-candidates"' in bad
    # No such appeal: 404.
    for raw in ("", "abc", "999999", "99999999999999999999"):
        assert operator.get(f"{DETAILS}?id={raw}").status_code == 404, raw


def test_a_payment_credited_to_someone_else_offers_no_match_button(operator, shop):
    taken = reported(shop["wa"], "TXTAKEN")
    with shop["app"].app_context():
        assert activation.activate(shop["a"], "bkash", "TXTAKEN", "mallory").status == "activated"
    fraud = reported(shop["wa"], "TXFRAUD", originality="fraud")
    item = appeal(shop, shop["a"], "TXTAKEN")
    page = text(operator.get(f"{DETAILS}?id={item.id}&amount=800"))
    assert row(page, taken, "data-candidate") and f'data-testid="match-{taken.id}"' not in page
    assert "Credited to another visitor" in row(page, taken, "data-candidate")
    assert "mallory" in row(page, taken, "data-candidate")
    assert row(page, fraud, "data-candidate") and f'data-testid="match-{fraud.id}"' not in page


def test_match_activates_the_payment_for_the_appeals_label(operator, shop):
    tx = reported(shop["wa"], "TXMATCH")
    item = appeal(shop, shop["a"], "TXMATCH", label="alice")
    response = post(operator, MATCH, item, transaction_id=str(tx.id))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{DETAILS}?id={item.id}")
    assert completed(tx) == ("activated", "alice", 1, 1)
    after = fresh(item)
    assert after.status == "matched" and after.transaction_id == tx.id
    assert after.resolved_by_id == shop["operator"].id and after.resolved_at
    entry = AuditLog.get(AuditLog.action == "appeal.match")
    assert entry.user_id == shop["operator"].id
    page = text(operator.get(f"{DETAILS}?id={item.id}"))
    assert f"Appeal {item.public_id} matched: the deposit is credited to alice." in html.unescape(page)
    assert f'href="/admin/transactions/details/?id={tx.id}"' in page and 'data-testid="appeal-transaction"' in page
    assert 'data-testid="reject-submit"' not in page and f'data-testid="match-{tx.id}"' not in page
    # Matched again: refused, nothing more is booked.
    post(operator, MATCH, item, transaction_id=str(tx.id))
    assert "was resolved already" in text(operator.get(f"{DETAILS}?id={item.id}"))
    assert completed(tx) == ("activated", "alice", 1, 1)


def test_matching_another_merchants_payment_is_refused(operator, shop):
    theirs = reported(shop["wb"], "TXBRAVO")
    item = appeal(shop, shop["a"], "TXBRAVO")
    response = post(operator, MATCH, item, transaction_id=str(theirs.id))
    assert response.status_code == 302
    page = html.unescape(text(operator.get(f"{DETAILS}?id={item.id}")))
    assert f"Appeal {item.public_id} was not matched: Choose a payment reported to this merchant's bKash wallets." \
        in page
    assert fresh(item).status == "open" and completed(theirs) == ("new", None, 0, 0)
    # Nor an id that is none: the appeal stays open.
    for raw in ("", "abc", "999999"):
        assert post(operator, MATCH, item, transaction_id=raw).status_code == 302
    assert fresh(item).status == "open" and not AuditLog.select().where(AuditLog.action == "appeal.match").exists()


def test_reject_needs_a_reason_and_stores_it(operator, shop):
    item = appeal(shop, shop["a"], "TXNOPE")
    response = post(operator, REJECT, item, reason="   ")
    assert response.status_code == 422
    assert "Say why: the visitor reads it." in text(response) and fresh(item).status == "open"
    response = post(operator, REJECT, item, reason="x" * (appeals.MAX_REASON + 1))
    assert response.status_code == 422 and fresh(item).status == "open"
    response = post(operator, REJECT, item, reason="No payment with this number reached the wallet.")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{DETAILS}?id={item.id}")
    after = fresh(item)
    assert after.status == "rejected" and after.reason == "No payment with this number reached the wallet."
    assert after.resolved_by_id == shop["operator"].id
    assert appeals.visitor_state(after)["reason"] == "No payment with this number reached the wallet."
    page = html.unescape(text(operator.get(f"{DETAILS}?id={item.id}")))
    assert f"Appeal {item.public_id} rejected" in page and "No payment with this number reached the wallet." in page
    assert AuditLog.select().where(AuditLog.action == "appeal.reject").count() == 1


def test_a_decision_needs_the_csrf_token(operator, shop):
    tx = reported(shop["wa"], "TXCSRF")
    item = appeal(shop, shop["a"], "TXCSRF")
    assert operator.post(MATCH, data={"appeal_id": item.id, "transaction_id": tx.id}).status_code == 400
    assert operator.post(REJECT, data={"appeal_id": item.id, "reason": "no"}).status_code == 400
    assert fresh(item).status == "open" and completed(tx) == ("new", None, 0, 0)


# --- the merchant's users ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ("owner", "staff"))
def test_merchant_users_read_their_own_appeals_only(client, shop, role):
    tx = reported(shop["wa"], "TXMINE")
    mine = appeal(shop, shop["a"], "TXMINE", label="alice")
    resolved = appeal(shop, shop["a"], "TXGONE", label="carol")
    with shop["app"].app_context():
        appeals.reject(resolved.id, "Not our wallet", shop["operator"])
    theirs = appeal(shop, shop["b"], "TXTHEIRS", label="bob-secret")
    login(client, shop[role])
    page = text(client.get(f"{LIST}?merchant={shop['b'].id}"))
    assert row(page, mine) and row(page, resolved)  # every status by default
    assert not row(page, theirs) and "bob-secret" not in page and "Bravo" not in page
    line = row(page, resolved)
    assert "Rejected" in line and "Operator" in line and "ops-olga" not in line
    details = text(client.get(f"{DETAILS}?id={mine.id}"))
    assert "TXMINE" in details and "alice" in details
    assert "data-testid=\"match-" not in details and 'data-testid="reject-reason"' not in details
    assert 'data-testid="appeal-search"' not in details
    assert "Not our wallet" in text(client.get(f"{DETAILS}?id={resolved.id}"))
    assert client.get(f"{DETAILS}?id={theirs.id}").status_code == 404
    token = csrf_from(client.get(f"{DETAILS}?id={mine.id}"))
    assert client.post(MATCH, data={"csrf_token": token, "appeal_id": mine.id,
                                    "transaction_id": tx.id}).status_code == 403
    assert client.post(REJECT, data={"csrf_token": token, "appeal_id": mine.id, "reason": "no"}).status_code == 403
    assert fresh(mine).status == "open" and completed(tx) == ("new", None, 0, 0)


# --- the receipt ---------------------------------------------------------------------------------

def test_the_receipt_is_served_sandboxed_to_who_may_read_the_appeal(client, shop):
    item = appeal(shop, shop["a"], "TXPIC", receipt=png_receipt())
    bare = appeal(shop, shop["a"], "TXBARE")
    for user in (shop["operator"], shop["owner"], shop["staff"]):
        signed_in = shop["app"].test_client()
        login(signed_in, user)
        response = signed_in.get(f"{RECEIPT}?id={item.id}")
        assert response.status_code == 200 and response.mimetype == "image/png"
        assert response.data.startswith(b"\x89PNG")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
        assert response.headers["Cache-Control"] == "private, no-store"
        assert signed_in.get(f"{RECEIPT}?id={bare.id}").status_code == 404
    login(client, shop["owner_b"])
    assert client.get(f"{RECEIPT}?id={item.id}").status_code == 404
    assert client.get(f"{DETAILS}?id={item.id}").status_code == 404
    assert client.get(f"{RECEIPT}?id=abc").status_code == 404


def test_signed_out_goes_to_the_login_page(client, shop):
    item = appeal(shop, shop["a"], "TXOUT", receipt=png_receipt())
    for url in (LIST, f"{DETAILS}?id={item.id}", f"{RECEIPT}?id={item.id}"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_match_says_what_became_of_the_payment(operator, shop):
    # Under the minimum deposit: it joins the visitor's stockpiling.
    small = reported(shop["wa"], "TXSMALL", amount="300.00")
    item = appeal(shop, shop["a"], "TXSMALL", amount="300.00", label="dave")
    post(operator, MATCH, item, transaction_id=str(small.id))
    page = html.unescape(text(operator.get(f"{DETAILS}?id={item.id}")))
    assert f"Appeal {item.public_id} matched: the payment is added to the stockpiling of dave" in page
    assert fresh(item).status == "matched" and Transaction.get_by_id(small.id).label == "dave"
    # The visitor activated it meanwhile: matched, credited once.
    own = reported(shop["wa"], "TXOWN")
    item = appeal(shop, shop["a"], "TXOWN", label="erin")
    with shop["app"].app_context():
        assert activation.activate(shop["a"], "bkash", "TXOWN", "erin").status == "activated"
    page = text(operator.get(f"{DETAILS}?id={item.id}"))
    assert f'data-testid="match-{own.id}"' in page
    post(operator, MATCH, item, transaction_id=str(own.id))
    page = html.unescape(text(operator.get(f"{DETAILS}?id={item.id}")))
    assert f"Appeal {item.public_id} matched: the payment was credited to erin already." in page
    assert fresh(item).status == "matched" and completed(own) == ("activated", "erin", 1, 1)
