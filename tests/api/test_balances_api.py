"""Merchant API: ``GET /api/v1/balances`` and ``GET /api/v1/balance/entries`` (SPEC §9)."""
import datetime
import re

import pytest
import schemathesis

import factories
from backoffice.models import LedgerEntry
from backoffice.services import ledger
from backoffice.services.withdrawals import create_withdrawal
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")




@pytest.fixture
def world(app, conn, clock):
    systems = seed_payment_systems()
    bkash, upi = systems["bkash"], systems["upi"]
    m = factories.merchant(timezone="Asia/Kolkata")
    other = factories.merchant()
    for ps in (bkash, upi):
        factories.merchant_payment_system(m, ps)
    factories.merchant_payment_system(other, bkash)
    op = factories.user("operator")
    with app.app_context():
        clock.now = datetime.datetime(2026, 3, 9, 10, 0)
        fund(m, bkash, amount="1000.00", commission="25.00")
        clock.now = datetime.datetime(2026, 3, 9, 20, 0)   # Kolkata: the 10th, 01:30
        create_withdrawal(m, bkash, "300.00", "BDT", label="payer", fields=VALID_FIELDS["bkash"], actor=op)
        clock.now = datetime.datetime(2026, 3, 10, 21, 0)  # Kolkata: the 11th, 02:30
        ledger.adjust(m, "BDT", "-1000.00", "chargeback", op)
        clock.now = datetime.datetime(2026, 3, 11, 9, 0)
        fund(m, upi, amount="500.00", commission="0.00")
        fund(other, bkash, amount="9000.00", commission="0.00")
    return dict(m=m, other=other, headers={"Authorization": f"Bearer {m.api_key}"},
                other_headers={"Authorization": f"Bearer {other.api_key}"})


def test_balances_lists_every_currency(client, world):
    body = client.get("/api/v1/balances", headers=world["headers"]).get_json()
    assert body["next"] is None
    assert [(i["currency"], i["available"], i["on_hold"]) for i in body["items"]] == [
        ("BDT", "-325.00", "300.00"), ("INR", "500.00", "0.00")]
    assert all(ISO_Z.fullmatch(i["updated_at"]) for i in body["items"])
    other = client.get("/api/v1/balances", headers=world["other_headers"]).get_json()
    assert [(i["currency"], i["available"]) for i in other["items"]] == [("BDT", "9000.00")]


def test_entries_have_the_documented_shape_oldest_first(client, world):
    body = client.get("/api/v1/balance/entries?currency=BDT", headers=world["headers"]).get_json()
    assert body["next"] is None
    items = body["items"]
    assert [i["kind"] for i in items] == ["deposit", "commission", "withdrawal_hold", "adjustment"]
    hold = items[2]
    assert set(hold) == {"id", "created_at", "kind", "currency", "amount", "hold", "available_after",
                         "on_hold_after", "source", "memo"}
    assert (hold["amount"], hold["hold"], hold["available_after"], hold["on_hold_after"]) == (
        "-300.00", "300.00", "675.00", "300.00")
    assert hold["created_at"] == "2026-03-09T20:00:00Z" and hold["currency"] == "BDT"
    assert hold["source"]["type"] == "withdrawal" and isinstance(hold["source"]["id"], int)
    adjustment = items[3]
    assert adjustment["memo"] == "chargeback" and adjustment["source"]["type"] == "adjustment"
    assert adjustment["available_after"] == "-325.00"
    assert [i["id"] for i in items] == sorted(i["id"] for i in items)


def test_the_cursor_walks_every_entry_once(client, world):
    everything = [i["id"] for i in client.get("/api/v1/balance/entries?currency=BDT",
                                               headers=world["headers"]).get_json()["items"]]
    seen, cursor = [], None
    for _ in range(10):
        url = "/api/v1/balance/entries?currency=BDT&limit=1" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=world["headers"]).get_json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
        assert cursor == str(body["items"][-1]["id"])
    assert seen == everything and len(seen) == 4
    # The same cursor gives the same page again (stable), and entries booked later follow it.
    first = client.get(f"/api/v1/balance/entries?currency=BDT&limit=2&cursor={everything[0]}",
                       headers=world["headers"]).get_json()
    again = client.get(f"/api/v1/balance/entries?currency=BDT&limit=2&cursor={everything[0]}",
                       headers=world["headers"]).get_json()
    assert first == again and [i["id"] for i in first["items"]] == everything[1:3]


def test_days_are_the_merchants(client, world):
    # Kolkata's 10th: only the hold (UTC 20:00 on the 9th); the chargeback is on its 11th.
    body = client.get("/api/v1/balance/entries?currency=BDT&from=2026-03-10&to=2026-03-10",
                      headers=world["headers"]).get_json()
    assert [i["kind"] for i in body["items"]] == ["withdrawal_hold"]
    body = client.get("/api/v1/balance/entries?currency=BDT&from=2026-03-11", headers=world["headers"]).get_json()
    assert [i["kind"] for i in body["items"]] == ["adjustment"]
    body = client.get("/api/v1/balance/entries?currency=BDT&to=2026-03-09", headers=world["headers"]).get_json()
    assert [i["kind"] for i in body["items"]] == ["deposit", "commission"]


def test_a_merchant_sees_only_its_own_entries(client, world):
    mine = {i["id"] for i in client.get("/api/v1/balance/entries?currency=BDT",
                                         headers=world["headers"]).get_json()["items"]}
    theirs = client.get("/api/v1/balance/entries?currency=BDT", headers=world["other_headers"]).get_json()
    assert [i["amount"] for i in theirs["items"]] == ["9000.00"] and not mine & {i["id"] for i in theirs["items"]}
    # Another merchant's entry id is no cursor.
    foreign = LedgerEntry.get(LedgerEntry.merchant == world["other"]).id
    response = client.get(f"/api/v1/balance/entries?currency=BDT&cursor={foreign}", headers=world["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["field"] == "cursor"


@pytest.mark.parametrize("query,field", [
    ("", "currency"), ("currency=bdt", "currency"), ("currency=BDTX", "currency"),
    ("currency=BDT&from=2026-03-11&to=2026-03-10", "from"), ("currency=BDT&from=2026-02-30", "from"),
    ("currency=BDT&to=0001-01-01", "to"), ("currency=BDT&limit=0", "limit"), ("currency=BDT&limit=501", "limit"),
    ("currency=BDT&cursor=abc", "cursor"), ("currency=BDT&cursor=99999999999999999999", "cursor"),
    ("currency=BDT&cursor=0", "cursor"), ("currency=BDT&page=2", "page"), ("currency=BDT&to=", "to"),
    ("currency=BDT&cursor=", "cursor"),
])
def test_bad_parameters_are_named(client, world, query, field):
    response = client.get("/api/v1/balance/entries?" + query, headers=world["headers"])
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request" and field in [d["field"] for d in error["details"]]


def test_an_unknown_parameter_on_balances_is_refused(client, world):
    response = client.get("/api/v1/balances?currency=BDT", headers=world["headers"])
    assert response.status_code == 400


def test_both_need_the_api_key(client, world):
    for url in ("/api/v1/balances", "/api/v1/balance/entries?currency=BDT"):
        assert client.get(url).status_code == 401
        assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_the_answers_match_the_openapi_document(app, client, world):
    from schemathesis.checks import load_all_checks

    load_all_checks()
    from schemathesis import checks as st_checks

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    checks = [st_checks.status_code_conformance, st_checks.response_schema_conformance]
    for path, query in (("/api/v1/balances", None), ("/api/v1/balance/entries", {"currency": "BDT", "limit": "2"}),
                        ("/api/v1/balance/entries", {"currency": "bdt"})):
        operation = schema[path]["GET"]
        case = operation.Case(query=query) if query else operation.Case()
        response = client.get(path, query_string=query or {}, headers=world["headers"])
        case.validate_response(response, checks=checks)
