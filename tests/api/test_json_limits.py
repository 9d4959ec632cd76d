"""Issue 17, class 9: a deeply nested or huge JSON body is refused before it is parsed
(``backoffice/__init__.py: JSONProvider.loads`` for depth, ``BoundedRequest.get_json``
for size): 400 ``json_too_deep`` / 413 ``payload_too_large`` in the API's error shape,
on every JSON endpoint family (connector, merchant API, plugin API); never a 500."""
import json

import pytest

import factories
from backoffice.models import ConnectorToken, PendingActivation, Transaction, Withdrawal
from backoffice.security import new_connector_token, token_digest

DEEP = 10_000


@pytest.fixture
def endpoints(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(delayed_activation=True)
    factories.merchant_payment_system(m, ps)
    factories.wallet(m, ps, number="01712345678")
    token = new_connector_token()
    ConnectorToken.create(name="c", token_hash=token_digest(token), payment_systems=["bkash"])
    connector = {"Authorization": f"Bearer {token}"}
    merchant = {"Authorization": f"Bearer {m.api_key}"}
    plugin = {"merchant": m.public_key, "payment_system": "bkash", "transaction_number": "N1", "label": "v"}
    return [
        ("/api/v1/ps/transactions", connector, {"payment_system": "bkash", "wallet_number": "01712345678",
                                                "transaction_number": "T1", "amount": "10.00", "currency": "BDT",
                                                "direction": "incoming", "counterparty": "x",
                                                "occurred_at": "2026-01-01T00:00:00Z"}),
        ("/api/v1/withdrawals", merchant, {"withdrawal_id": "w1", "payment_system": "bkash", "amount": "1.00",
                                           "currency": "BDT", "label": "l", "fields": {}}),
        ("/plugin/api/activate", {}, plugin),
        ("/plugin/api/pending", {}, plugin),
    ]


def bodies(valid):
    """(name, raw body, status, code): deep arrays and objects, alone and inside a
    valid body, and a body over the size limit."""
    deep_array = "[" * DEEP + "]" * DEEP
    deep_object = '{"a":' * DEEP + "1" + "}" * DEEP
    inside = json.dumps(dict(valid, label="__DEEP__")).replace('"__DEEP__"', deep_array)
    huge = json.dumps(dict(valid, comment="x" * (100 * 1024)))
    return [("deep-array", deep_array, 400, "json_too_deep"), ("deep-object", deep_object, 400, "json_too_deep"),
            ("deep-inside-a-valid-body", inside, 400, "json_too_deep"), ("huge", huge, 413, "payload_too_large")]


def test_every_json_endpoint_refuses_deep_and_huge_bodies(client, endpoints):
    for path, headers, valid in endpoints:
        for name, raw, status, code in bodies(valid):
            response = client.post(path, data=raw, headers=dict(headers, **{"Content-Type": "application/json"}))
            assert response.status_code == status, (path, name, response.status_code, response.get_data()[:200])
            error = response.get_json()["error"]
            assert error["code"] == code and error["message"], (path, name)
            assert error["details"][0]["field"] == "body" and error["details"][0]["message"], (path, name)
    assert Transaction.select().count() == 0 and Withdrawal.select().count() == 0
    assert PendingActivation.select().count() == 0


def test_the_limits_leave_ordinary_bodies_alone(client, endpoints):
    path, headers, valid = endpoints[0]
    nested_but_fine = dict(valid, counterparty="[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{")
    response = client.post(path, json=nested_but_fine, headers=headers)  # brackets inside a string do not count
    assert response.status_code == 201, response.get_json()
    response = client.post(endpoints[2][0], json=endpoints[2][2])
    assert response.status_code == 200 and response.get_json()["status"] == "pending"


def test_the_limits_are_settings(app, client, endpoints):
    app.config.update(JSON_MAX_DEPTH=2, JSON_MAX_BYTES=300)
    path, headers, valid = endpoints[1]
    deeper = client.post(path, json=dict(valid, fields={"a": [1]}), headers=headers)
    assert deeper.status_code == 400 and deeper.get_json()["error"]["code"] == "json_too_deep"
    bigger = client.post(path, json=dict(valid, comment="y" * 300), headers=headers)
    assert bigger.status_code == 413 and bigger.get_json()["error"]["code"] == "payload_too_large"
