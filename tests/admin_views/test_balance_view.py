"""Payments → Balance (SPEC §9): the statement in the viewer's time zone, its CSV (the
same rows, formulas neutralised), operators' adjustments, and tenant isolation."""
import csv
import datetime
import html
import io
import re
from decimal import Decimal

import pytest
from conftest import csrf_from
from helpers import login

import factories
from backoffice.csv_safe import neutralise
from backoffice.models import AuditLog, LedgerEntry
from backoffice.services import ledger
from backoffice.services.withdrawals import create_withdrawal, reject
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

URL = "/admin/balance/"




@pytest.fixture
def world(app, conn, clock):
    """Merchant A (Asia/Kolkata) with entries on both sides of midnight in UTC and in
    Kolkata; merchant B with a secret memo; their users; an operator (UTC)."""
    ps = seed_payment_systems()["bkash"]
    a = factories.merchant(name="Alpha Shop", timezone="Asia/Kolkata")
    b = factories.merchant(name="Bravo Hidden", timezone="UTC")
    for m in (a, b):
        factories.merchant_payment_system(m, ps)
    operator = factories.user("operator", login="op-balance@example.test")
    owner_a = factories.user("merchant_owner", merchant=a)
    with app.app_context():
        clock.now = datetime.datetime(2026, 3, 9, 10, 0)    # the 9th in both zones
        fund(a, ps, amount="1000.00", commission="25.00")
        clock.now = datetime.datetime(2026, 3, 9, 20, 0)    # UTC 9th, Kolkata 10th 01:30
        w, _ = create_withdrawal(a, ps, "300.00", "BDT", label="payer", fields=VALID_FIELDS["bkash"], actor=owner_a)
        clock.now = datetime.datetime(2026, 3, 10, 3, 0)    # the 10th in both zones
        ledger.adjust(a, "BDT", "50.00", "=HYPERLINK(\"http://evil.example\",\"click\")", operator)
        clock.now = datetime.datetime(2026, 3, 10, 21, 0)   # UTC 10th, Kolkata 11th 02:30
        reject(w, operator, "wrong account")
        clock.now = datetime.datetime(2026, 3, 10, 5, 0)
        fund(b, ps, amount="5000.00", commission="0.00")
        ledger.adjust(b, "BDT", "7.00", "bravo-secret-memo", operator)
    return dict(a=a, b=b, ps=ps, operator=operator, owner_a=owner_a,
                staff_a=factories.user("merchant_staff", merchant=a),
                owner_b=factories.user("merchant_owner", merchant=b))


def table_rows(page):
    """The statement table's rows, each a list of its cells' text."""
    body = re.search(r'<table[^>]*data-testid="statement".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", td)).strip() for td in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                                            tr, re.S)])
    return rows


def csv_rows(response):
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_owner_sees_a_kolkata_day_and_the_csv_holds_the_same_rows(client, world):
    login(client, world["owner_a"])
    query = "?date_from=2026-03-10&date_to=2026-03-10"
    page = client.get(URL + query)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    rows = table_rows(text)
    # Opening, the hold (01:30 on the 10th in Kolkata), the credit, closing: the release is on the 11th there.
    assert [r[1] for r in rows] == ["Opening balance", "Withdrawal requested (held)", "Adjustment", "Closing balance"]
    assert rows[0][5:7] == ["975.00", "0.00"] and rows[-1][5:7] == ["725.00", "300.00"]
    assert rows[1][0] == "2026-03-10 01:30:00" and rows[2][0] == "2026-03-10 08:30:00"
    assert rows[1][3:5] == ["-300.00", "300.00"]
    # The operator's adjustment shows "Operator", never the login; the owner's own request shows the owner.
    assert rows[2][10] == "Operator" and "op-balance@example.test" not in text
    assert rows[1][10] == world["owner_a"].login
    assert "Kolkata, UTC+05:30" in text and "Adjust the balance" not in text  # the zone in words (issue 22)

    exported = csv_rows(client.get(URL + "export/csv/" + query))
    assert exported[0][0] == "Date (Asia/Kolkata)"
    assert [[cell.lstrip("'") if cell.startswith("'") else cell for cell in row] for row in exported[1:]] == rows
    assert exported[1:] != rows  # ...once the formula cell is neutralised:
    memo = exported[3][9]
    assert memo == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert exported[2][3] == "'-300.00"  # SPEC §14 literally: every cell starting with "-" (issue 17)


def test_the_operator_in_utc_sees_other_entries_on_the_same_day_and_they_add_up(client, world):
    login(client, world["operator"])
    a = world["a"]
    rows = table_rows(client.get(f"{URL}?merchant={a.id}&currency=BDT&date_from=2026-03-10&date_to=2026-03-10")
                      .get_data(as_text=True))
    assert [r[1] for r in rows] == ["Opening balance", "Adjustment", "Withdrawal hold released", "Closing balance"]
    assert rows[1][10] == "op-balance@example.test"  # operators see who booked it
    opening, closing = rows[0], rows[-1]
    number = lambda cell: Decimal(cell.replace(",", ""))  # the page writes them in English: "1,025.00"
    available, on_hold = number(opening[5]), number(opening[6])
    for row in rows[1:-1]:
        available, on_hold = available + number(row[3]), on_hold + number(row[4])
        assert (number(row[5]), number(row[6])) == (available, on_hold)
    assert (number(closing[5]), number(closing[6])) == (available, on_hold) == (Decimal("1025.00"), Decimal("0"))
    assert closing[5] == "1,025.00"
    exported = csv_rows(client.get(f"{URL}export/csv/?merchant={a.id}&currency=BDT&date_from=2026-03-10"
                                   "&date_to=2026-03-10"))
    assert exported[0][0] == "Date (UTC)" and len(exported) == len(rows) + 1
    assert [r[1] for r in exported[1:]] == [r[1] for r in rows]
    assert exported[-1][5] == "1025.00"  # the file keeps the machine format


def test_the_default_period_is_this_month_and_the_page_lists_the_current_balance(client, world):
    login(client, world["staff_a"])
    page = client.get(URL).get_data(as_text=True)
    assert 'data-testid="current-balance"' in page and "1,025.00\u00a0BDT" in page
    today = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=5, minutes=30))).date()
    assert f'value="{today.replace(day=1).isoformat()}"' in page and f'value="{today.isoformat()}"' in page


def test_an_operator_chooses_a_merchant_first(client, world):
    login(client, world["operator"])
    page = client.get(URL).get_data(as_text=True)
    assert 'data-testid="choose-merchant"' in page and "Alpha Shop" in page and "Bravo Hidden" in page


@pytest.mark.parametrize("query,field", [
    ("date_from=2026-03-10&date_to=2026-03-01", "date_from"),
    ("date_from=2026-02-30", "date_from"),
    ("date_to=yesterday", "date_to"),
    ("date_from=2020-01-01&date_to=2026-01-01", "date_from"),
    ("currency=INR", "currency"),
])
def test_a_bad_filter_is_named_beside_its_field_and_the_page_stays(client, world, query, field):
    login(client, world["owner_a"])
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(rf'data-field="{field}"', page), page
    assert 'data-testid="current-balance"' in page and 'data-testid="fix-filters"' in page
    assert 'data-testid="statement"' not in page
    assert client.get(f"{URL}export/csv/?{query}").status_code == 400


def test_an_unknown_merchant_is_named_for_operators(client, world):
    login(client, world["operator"])
    page = client.get(URL + "?merchant=999999").get_data(as_text=True)
    assert 'data-field="merchant"' in page


@pytest.mark.parametrize("who", ["owner_a", "staff_a"])
def test_merchant_a_never_sees_b_whatever_the_url_says(client, world, who):
    login(client, world[who])
    b = world["b"]
    for url in (f"{URL}?merchant={b.id}", f"{URL}?merchant={b.id}&currency=BDT&date_from=2026-03-01",
                f"{URL}export/csv/?merchant={b.id}&currency=BDT&date_from=2026-03-01&date_to=2026-03-31"):
        response = client.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert "bravo-secret-memo" not in body and "Bravo Hidden" not in body, url
        assert "5000.00" not in body and "5,000.00" not in body, url
    rows = csv_rows(client.get(f"{URL}export/csv/?merchant={b.id}&date_from=2026-03-01&date_to=2026-03-31"))
    assert [r[1] for r in rows[1:3]] == ["Opening balance", "Deposit"]
    assert all("bravo" not in cell for row in rows for cell in row)


def adjustment_page(merchant):
    return f"{URL}?merchant={merchant.id}&currency=BDT"


def test_an_operator_adjusts_with_a_reason_audited(client, world):
    a, op = world["a"], world["operator"]
    login(client, op)
    page = client.get(adjustment_page(a))
    assert 'data-testid="adjustment-form"' in page.get_data(as_text=True)
    token = csrf_from(page)
    response = client.post(f"{URL}adjust/?merchant={a.id}&currency=BDT", data={
        "csrf_token": token, "merchant": str(a.id), "currency": "BDT", "amount": "-25.50",
        "reason": "duplicate credit"})
    assert response.status_code == 302, response.get_data(as_text=True)
    entry = LedgerEntry.select().where(LedgerEntry.memo == "duplicate credit").get()
    audit = AuditLog.get_by_id(entry.source_id)
    assert (entry.kind, entry.source_type, entry.amount, entry.actor_id) == (
        "adjustment", "adjustment", Decimal("-25.50"), op.id)
    assert (audit.action, audit.user_id, audit.merchant_id) == ("balance.adjust", op.id, a.id)
    assert ledger.available(a, "BDT") == Decimal("999.50")
    followed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The adjustment of -25.50\u00a0BDT is booked: available is now 999.50\u00a0BDT." in followed


@pytest.mark.parametrize("data,field", [
    ({"amount": "10.00", "reason": ""}, "reason"),
    ({"amount": "0", "reason": "nothing"}, "amount"),
    ({"amount": "ten", "reason": "words"}, "amount"),
    ({"amount": "10.00", "reason": "x", "currency": "ZZZ"}, "currency"),
])
def test_a_bad_adjustment_shows_the_error_beside_the_field_and_books_nothing(client, world, data, field):
    a = world["a"]
    login(client, world["operator"])
    token = csrf_from(client.get(adjustment_page(a)))
    before = LedgerEntry.select().count(), AuditLog.select().count()
    response = client.post(f"{URL}adjust/?merchant={a.id}&currency=BDT",
                           data=dict({"csrf_token": token, "merchant": str(a.id), "currency": "BDT"}, **data))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(rf'data-field="{field}"', page)
    assert 'data-testid="statement"' in page  # the rest of the page stays
    assert (LedgerEntry.select().count(), AuditLog.select().count()) == before


def test_an_adjustment_needs_the_csrf_token(client, world):
    a = world["a"]
    login(client, world["operator"])
    before = LedgerEntry.select().count()
    response = client.post(f"{URL}adjust/", data={"merchant": str(a.id), "currency": "BDT", "amount": "5.00",
                                                  "reason": "no token"})
    assert response.status_code == 400 and LedgerEntry.select().count() == before


@pytest.mark.parametrize("who", ["owner_a", "staff_a", "owner_b"])
def test_merchant_users_cannot_adjust(client, world, who):
    a = world["a"]
    login(client, world[who])
    page = client.get(URL)
    assert "Adjust the balance" not in page.get_data(as_text=True)
    before = LedgerEntry.select().count(), AuditLog.select().count()
    response = client.post(f"{URL}adjust/", data={"csrf_token": csrf_from(page), "merchant": str(a.id),
                                                  "currency": "BDT", "amount": "1000.00", "reason": "gift"})
    assert response.status_code == 403
    assert (LedgerEntry.select().count(), AuditLog.select().count()) == before


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    assert client.get(URL).status_code == 302
    assert client.get(URL + "export/csv/").status_code == 302


def test_the_csv_neutralises_every_formula_start():
    for text in ("=1+2", "+1", "-1+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx", "-", "=", "- 5", "-25.00"):
        assert neutralise(text) == "'" + text
    for text in ("1000.00", "0", "memo", "", "a=b"):
        assert neutralise(text) == text
