"""Payments → Activation attempts (SPEC §11, issue 18): operators see every merchant's
attempts and filter them by reason, label, number, network, merchant and date (days
of the viewer's zone); a merchant's users see their own merchant's only, whatever
they filter, export or open by id; the dashboard counts attempts by reason for its
period and scope, each count linking to the list filtered by it."""
import csv
import datetime
import io
import re
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import csrf_from
from helpers import login

import factories
from backoffice.models import ActivationAttempt, utcnow

T = datetime.datetime
NUMBER_CELL = re.compile(r'class="col-transaction_number">\s*([^<\s]+)\s*<')
B_MARKERS = ("Bravo Hidden", "B-SECRET", "bob-secret", "198.51.100.0/24", "01799990000")


def attempt(merchant, ps, number, reason, outcome=None, label="alice", network="203.0.113.0/24", sender=None,
            tx=None, created_at=None):
    return ActivationAttempt.create(merchant=merchant, payment_system=ps, transaction_number=number, label=label,
                                    network=network, sender=sender, transaction=tx.id if tx else None,
                                    outcome=outcome or reason, reason=reason, created_at=created_at or utcnow())


@pytest.fixture
def world(conn):
    ps = factories.payment_system("bkash", "BDT")
    a = factories.merchant(name="Alpha Shop", timezone="Asia/Dhaka")
    b = factories.merchant(name="Bravo Hidden")
    factories.merchant_payment_system(a, ps)
    factories.merchant_payment_system(b, ps)
    tx_a = factories.transaction(factories.wallet(a, ps), transaction_number="A-TX", counterparty="01711112222")
    tx_b = factories.transaction(factories.wallet(b, ps, number="01799990000"), transaction_number="B-SECRET-TX",
                                 counterparty="01799990000")
    rows = {
        # 2026-03-01 20:00 UTC is 2026-03-02 02:00 in Dhaka (merchant A's zone).
        "a_ok": attempt(a, ps, "A-TX", "activated", label="alice", sender="01711112222", tx=tx_a,
                        created_at=T(2026, 3, 1, 20)),
        "a_sender": attempt(a, ps, "A-TX", "sender_mismatch", outcome="not_found", label="mallory",
                            network="192.0.2.0/24", sender="01711112222", tx=tx_a, created_at=T(2026, 3, 1, 10)),
        "a_unknown": attempt(a, ps, "A-NOPE", "not_found", label="alice", created_at=T(2026, 3, 5, 10)),
        "b_sender": attempt(b, ps, "B-SECRET-TX", "sender_mismatch", outcome="not_found", label="bob-secret",
                            network="198.51.100.0/24", sender="01799990000", tx=tx_b, created_at=T(2026, 3, 1, 10)),
        "b_blocked": attempt(b, ps, "B-SECRET-2", "blocked", outcome="not_found", label="bob-secret",
                             network="198.51.100.0/24", created_at=T(2026, 3, 3, 10)),
    }
    return dict(ps=ps, a=a, b=b, tx_a=tx_a, tx_b=tx_b, rows=rows,
                operator=factories.user("operator"),
                owner=factories.user("merchant_owner", merchant=a),
                staff=factories.user("merchant_staff", merchant=a))


def numbers(client, query=None):
    page = client.get("/admin/attempts/", query_string=query or {})
    assert page.status_code == 200
    return sorted(NUMBER_CELL.findall(page.get_data(as_text=True)))


def csv_rows(response):
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


@pytest.fixture
def operator_client(client, world):
    login(client, world["operator"])
    return client


def test_operator_sees_every_merchants_attempts_newest_first(operator_client, world):
    page = operator_client.get("/admin/attempts/").get_data(as_text=True)
    # Newest first; at the same time, the later one first.
    assert NUMBER_CELL.findall(page) == ["A-NOPE", "B-SECRET-2", "A-TX", "B-SECRET-TX", "A-TX"]
    # Human labels, the merchant column, the transaction link, the viewer's zone (UTC).
    assert "Sender's digits did not match" in page and "Blocked by a risk rule" in page
    assert "Bravo Hidden" in page and "Alpha Shop" in page
    assert f'href="/admin/transactions/details/?id={world["tx_a"].id}"' in page
    assert "2026-03-01 20:00:00" in page
    assert 'data-transaction' in page


@pytest.mark.parametrize("key,value,expected", [
    ("flt0_reason_equals", "sender_mismatch", ["A-TX", "B-SECRET-TX"]),
    ("flt0_label_equals", "bob-secret", ["B-SECRET-2", "B-SECRET-TX"]),
    ("flt0_transaction_number_equals", "A-TX", ["A-TX", "A-TX"]),
    ("flt0_network_equals", "198.51.100.0/24", ["B-SECRET-2", "B-SECRET-TX"]),
    ("flt0_network_equals", "192.0.2.77", ["A-TX"]),  # an address finds its /24
    ("flt0_date_between", "2026-03-01 to 2026-03-01", ["A-TX", "A-TX", "B-SECRET-TX"]),  # operator: UTC days
    ("flt0_date_between", "2026-03-03 to 2026-03-05", ["A-NOPE", "B-SECRET-2"]),
    ("flt0_visitor_was_told_equals", "activated", ["A-TX"]),
])
def test_operator_filters(operator_client, world, key, value, expected):
    assert numbers(operator_client, {key: value}) == sorted(expected)


def test_operator_filters_by_merchant(operator_client, world):
    b = world["b"].id
    assert numbers(operator_client, {"flt0_merchant_equals": b}) == ["B-SECRET-2", "B-SECRET-TX"]
    assert numbers(operator_client, {"flt0_merchant_equals": b, "flt1_reason_equals": "blocked"}) == ["B-SECRET-2"]
    page = operator_client.get("/admin/attempts/").get_data(as_text=True)
    # The filter, in the row of basic filters above the list (issue 22), and its options.
    assert 'data-filter="merchant_equals"' in page and ">Bravo Hidden</option>" in page


def test_operator_export_is_the_filtered_list_with_labels(operator_client, world):
    rows = csv_rows(operator_client.get("/admin/attempts/export/csv/",
                                        query_string={"flt0_reason_equals": "sender_mismatch"}))
    header, body = rows[0], rows[1:]
    assert header[0] == "When (UTC)" and "Merchant" in header
    assert sorted(line[header.index("Transaction number")] for line in body) == ["A-TX", "B-SECRET-TX"]
    assert {line[header.index("Reason")] for line in body} == {"Sender's digits did not match"}
    assert {line[header.index("Visitor was told")] for line in body} == {"Not found"}
    assert str(world["tx_a"].id) in {line[header.index("Transaction")] for line in body}


def test_details_page(operator_client, world):
    page = operator_client.get("/admin/attempts/details/", query_string={"id": world["rows"]["b_sender"].id})
    assert page.status_code == 200 and "B-SECRET-TX" in page.get_data(as_text=True)


def test_read_only(operator_client, world):
    token = csrf_from(operator_client.get("/admin/settings/"))
    rid = world["rows"]["a_ok"].id
    assert operator_client.get("/admin/attempts/new/").status_code == 403
    assert operator_client.get("/admin/attempts/edit/", query_string={"id": rid}).status_code == 403
    assert operator_client.post("/admin/attempts/delete/", data={"id": rid, "csrf_token": token}).status_code == 403
    assert operator_client.post("/admin/attempts/action/", data={"action": "delete", "rowid": [rid],
                                                                 "csrf_token": token}).status_code in (302, 403)
    assert ActivationAttempt.select().count() == 5


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_merchant_users_see_only_their_own(client, world, who):
    login(client, world[who])
    page = client.get("/admin/attempts/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert sorted(NUMBER_CELL.findall(text)) == ["A-NOPE", "A-TX", "A-TX"]
    for marker in B_MARKERS:
        assert marker not in text, marker
    assert "col-merchant" not in text  # no Merchant column, no Merchant filter
    assert "merchant_equals" not in text
    # Their own days (Dhaka): 20:00 UTC on the 1st is 02:00 on the 2nd.
    assert "2026-03-02 02:00:00" in text
    assert numbers(client, {"flt0_date_between": "2026-03-02 to 2026-03-02"}) == ["A-TX"]
    assert f'href="/admin/transactions/details/?id={world["tx_a"].id}"' in text


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_merchant_users_never_reach_another_merchants_attempt(client, world, who):
    login(client, world[who])
    b = world["b"]
    # By filtering: B's label, number, network, sender, merchant id.
    for query in ({"flt0_label_equals": "bob-secret"}, {"flt0_transaction_number_equals": "B-SECRET-TX"},
                  {"flt0_network_equals": "198.51.100.0/24"}, {"flt0_sender_equals": "01799990000"},
                  {"flt0_reason_equals": "blocked"}):
        assert numbers(client, query) == [], query
    # The merchant filter is not theirs: it is ignored, their own list answers.
    assert numbers(client, {"flt0_merchant_equals": b.id}) == ["A-NOPE", "A-TX", "A-TX"]
    # By id: details are a 404.
    for key in ("b_sender", "b_blocked"):
        response = client.get("/admin/attempts/details/", query_string={"id": world["rows"][key].id})
        assert response.status_code == 404, key
    assert client.get("/admin/attempts/details/", query_string={"id": world["rows"]["a_ok"].id}).status_code == 200
    # By export, filtered or not.
    for query in ({}, {"flt0_merchant_equals": b.id}, {"flt0_label_equals": "bob-secret"}):
        rows = csv_rows(client.get("/admin/attempts/export/csv/", query_string=query))
        text = "\n".join(",".join(line) for line in rows)
        for marker in B_MARKERS:
            assert marker not in text, (query, marker)
        assert "Merchant" not in rows[0]
        assert rows[0][0] == "When (Asia/Dhaka)"


def test_transaction_link_only_for_the_attempts_own_merchant(operator_client, world):
    """An attempt naming another merchant's transaction id (never written so by the
    service, but the column is not a foreign key) links nowhere."""
    odd = attempt(world["a"], world["ps"], "A-ODD", "not_found", tx=world["tx_b"], created_at=T(2026, 3, 6))
    page = operator_client.get("/admin/attempts/", query_string={"flt0_transaction_number_equals": "A-ODD"})
    assert f'?id={world["tx_b"].id}"' not in page.get_data(as_text=True)
    assert odd.id


# -- the dashboard's panel ------------------------------------------------------------------------
PANEL = re.compile(r'<tr data-reason="([a-z_]+)"><td><a href="([^"]+)">([^<]+)</a></td>'
                   r'<td class="text-right" data-count>(\d+)</td></tr>')


def panel(client, query=None):
    page = client.get("/admin/", query_string=query or {})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Activation attempts by reason" in text
    return {reason: (url.replace("&amp;", "&"), label, int(count)) for reason, url, label, count in PANEL.findall(text)}


def test_dashboard_counts_by_reason_for_the_operators_period_and_merchant(operator_client, world):
    rows = panel(operator_client, {"date_from": "2026-03-01", "date_to": "2026-03-03"})
    assert {reason: count for reason, (_u, _l, count) in rows.items()} == {
        "activated": 1, "sender_mismatch": 2, "blocked": 1}
    assert rows["sender_mismatch"][1] == "Sender's digits did not match"
    # Each count links to the list filtered by its reason and the period, and shows that many.
    url = urlparse(rows["sender_mismatch"][0])
    assert url.path == "/admin/attempts/"
    args = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert set(args.values()) == {"sender_mismatch", "2026-03-01 to 2026-03-03"}
    assert numbers(operator_client, args) == ["A-TX", "B-SECRET-TX"]
    # One merchant.
    only_b = panel(operator_client, {"date_from": "2026-03-01", "date_to": "2026-03-05",
                                     "merchant": world["b"].id})
    assert {reason: count for reason, (_u, _l, count) in only_b.items()} == {"sender_mismatch": 1, "blocked": 1}
    args = {k: v[0] for k, v in parse_qs(urlparse(only_b["sender_mismatch"][0]).query).items()}
    assert str(world["b"].id) in args.values()
    assert numbers(operator_client, args) == ["B-SECRET-TX"]


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_dashboard_counts_for_a_merchant_user_are_their_own_in_their_days(client, world, who):
    login(client, world[who])
    # Dhaka days: A's "activated" (01 20:00 UTC) falls on the 2nd; B's never counts.
    rows = panel(client, {"date_from": "2026-03-02", "date_to": "2026-03-05", "merchant": world["b"].id})
    assert {reason: count for reason, (_u, _l, count) in rows.items()} == {"activated": 1, "not_found": 1}
    rows = panel(client, {"date_from": "2026-03-01", "date_to": "2026-03-01"})
    assert {reason: count for reason, (_u, _l, count) in rows.items()} == {"sender_mismatch": 1}
    args = {k: v[0] for k, v in parse_qs(urlparse(rows["sender_mismatch"][0]).query).items()}
    assert not any("merchant" in key for key in args)
    assert numbers(client, args) == ["A-TX"]


def test_dashboard_panel_says_when_there_are_none(operator_client, world):
    page = operator_client.get("/admin/", query_string={"date_from": "2025-01-01", "date_to": "2025-01-02"})
    assert "No activation attempts in the period." in page.get_data(as_text=True)
