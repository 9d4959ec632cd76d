"""Issue 17, class 7: a CORS grant is for the merchant the request is for
(``plugin_builder/cors.py: origin_granted``), never for an origin another merchant lists."""
import pytest

import factories


@pytest.fixture
def two(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    a = factories.merchant(name="A", allowed_origins=["https://a.example"])
    b = factories.merchant(name="B", allowed_origins=["https://b.example"])
    for m in (a, b):
        factories.merchant_payment_system(m, ps)
        factories.wallet(m, ps)
    return dict(a=a, b=b)


def preflight(client, path, origin):
    return client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                         "Access-Control-Request-Headers": "content-type"})


@pytest.mark.parametrize("path", ["/plugin/api/activate", "/plugin/api/pending", "/plugin/api/config"])
def test_a_preflight_for_a_from_bs_origin_gets_no_grant(client, two, path):
    a = two["a"]
    assert "Access-Control-Allow-Origin" not in preflight(client, f"{path}?merchant={a.public_key}",
                                                          "https://b.example").headers
    # …nor one that names no merchant at all, whoever lists the origin
    assert "Access-Control-Allow-Origin" not in preflight(client, path, "https://b.example").headers
    assert "Access-Control-Allow-Origin" not in preflight(client, path, "https://a.example").headers
    granted = preflight(client, f"{path}?merchant={a.public_key}", "https://a.example")
    assert granted.headers["Access-Control-Allow-Origin"] == "https://a.example"


def test_a_request_for_a_from_bs_origin_is_not_readable(client, two):
    a, b = two["a"], two["b"]
    body = {"merchant": a.public_key, "payment_system": "bkash", "transaction_number": "N", "label": "v"}
    response = client.post("/plugin/api/activate", json=body, headers={"Origin": "https://b.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    config = client.get(f"/plugin/api/config?merchant={a.public_key}", headers={"Origin": "https://b.example"})
    assert "Access-Control-Allow-Origin" not in config.headers
    # The query naming B (whose origin it is) while the body is for A: no grant either.
    mixed = client.post(f"/plugin/api/activate?merchant={b.public_key}", json=body,
                        headers={"Origin": "https://b.example"})
    assert "Access-Control-Allow-Origin" not in mixed.headers
    own = client.post(f"/plugin/api/activate?merchant={a.public_key}", json=body,
                      headers={"Origin": "https://a.example"})
    assert own.headers["Access-Control-Allow-Origin"] == "https://a.example"
