"""Merchant API: GET /api/v1/transactions (SPEC §6), the Transactions screen's filters
as query parameters, keyset pages, the caller's rows only."""
import datetime

import pytest

import factories
from backoffice.models import Merchant


@pytest.fixture
def setup(conn):
    bkash, nagad = factories.payment_system("bkash", "BDT"), factories.payment_system("nagad", "BDT")
    m = factories.merchant(timezone="Asia/Dhaka")  # UTC+6
    other = factories.merchant()
    wb, wn, wo = factories.wallet(m, bkash), factories.wallet(m, nagad), factories.wallet(other, bkash)
    day = datetime.datetime(2026, 3, 10, 20, 0)  # 2026-03-11 02:00 in Dhaka
    rows = [
        factories.transaction(wb, amount="600.00", label="u-1", order_id="o-1", created_at=day,
                              status="activated", activated_at=day, postback_status="sent"),
        # 23:00 on the 10th in Dhaka
        factories.transaction(wb, amount="100.00", label="u-2", created_at=day - datetime.timedelta(hours=3)),
        factories.transaction(wn, amount="50.00", direction="outgoing", counterparty="01899999999",
                              created_at=day - datetime.timedelta(days=2)),
        factories.transaction(wb, amount="70.00", originality="fraud", type="manual", created_at=day),
    ]
    factories.transaction(wo, amount="999.00", label="u-1", created_at=day)
    return dict(m=m, other=other, rows=rows, headers={"Authorization": f"Bearer {m.api_key}"})


def ids(response):
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_lists_own_rows_newest_first_with_every_column(client, setup):
    r = setup["rows"]
    response = client.get("/api/v1/transactions", headers=setup["headers"])
    assert ids(response) == [r[3].id, r[0].id, r[1].id, r[2].id]
    assert response.get_json()["next"] is None
    item = response.get_json()["items"][1]
    assert item["amount"] == "600.00" and item["label"] == "u-1" and item["payment_system"] == "bkash"
    assert item["wallet_number"] == r[0].wallet.number and item["type"] == "auto" and item["status"] == "activated"
    assert item["created_at"] == "2026-03-10T20:00:00Z" and item["postback_status"] == "sent"


@pytest.mark.parametrize("query,expected", [
    ("label=u-1", [0]), ("order_id=o-1", [0]), ("payment_system=nagad", [2]), ("direction=outgoing", [2]),
    ("counterparty=01899999999", [2]), ("type=manual", [3]), ("originality=fraud", [3]),
    ("status=activated", [0]), ("postback_status=sent", [0]), ("created_from=2026-03-11", [3, 0]),
    ("created_to=2026-03-10", [1, 2]), ("created_from=2026-03-08&created_to=2026-03-09", [2]),
    ("activated_from=2026-03-11&activated_to=2026-03-11", [0]), ("label=nobody", []),
])
def test_filters(client, setup, query, expected):
    r = setup["rows"]
    assert ids(client.get(f"/api/v1/transactions?{query}", headers=setup["headers"])) == [r[i].id for i in expected]


def test_id_and_transaction_number_filters(client, setup):
    r = setup["rows"]
    assert ids(client.get(f"/api/v1/transactions?id={r[1].id}", headers=setup["headers"])) == [r[1].id]
    number = r[2].transaction_number
    assert ids(client.get(f"/api/v1/transactions?transaction_number={number}", headers=setup["headers"])) == [r[2].id]


def test_keyset_pages_cover_every_row_once(client, setup):
    seen, url = [], "/api/v1/transactions?limit=1"
    while True:
        page = client.get(url, headers=setup["headers"]).get_json()
        seen += [item["id"] for item in page["items"]]
        if page["next"] is None:
            break
        url = f"/api/v1/transactions?limit=1&cursor={page['next']}"
    r = setup["rows"]
    assert seen == [r[3].id, r[0].id, r[1].id, r[2].id]


def test_bad_parameters_are_400_naming_each(client, setup):
    response = client.get("/api/v1/transactions?limit=0&created_from=2026-02-30&direction=up&cursor=x&lable=u-1"
                          "&id=99999999999999999999&activated_to=0001-01-01", headers=setup["headers"])
    assert response.status_code == 400
    fields = {d["field"] for d in response.get_json()["error"]["details"]}
    assert fields == {"limit", "created_from", "direction", "cursor", "lable", "id", "activated_to"}


def test_api_key_required_and_other_merchants_rows_never_shown(client, setup):
    assert client.get("/api/v1/transactions").status_code == 401
    other = {"Authorization": f"Bearer {setup['other'].api_key}"}
    assert len(ids(client.get("/api/v1/transactions?label=u-1", headers=other))) == 1
    Merchant.update(active=False).where(Merchant.id == setup["m"].id).execute()
    assert client.get("/api/v1/transactions", headers=setup["headers"]).status_code == 403
