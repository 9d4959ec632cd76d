"""The plugin on a site that is not allowed (issue 22, point 8): ``GET /plugin/api/origin``
answers the loader whether the asking site (its Origin header) may show the plugin,
with a sentence in the visitor's language when not; every refusal is recorded for the
merchant (``services.refused_origins``), bounded, rate limited and counted exactly
under concurrency; the plugin page records a refused ``parent`` too."""
import datetime
from urllib.parse import urlencode

import pytest

from plugin_support import plugin_shop  # noqa: F401 - fixture

import factories
from backoffice.models import RefusedOrigin, utcnow
from backoffice.plugin_builder.messages import Words
from backoffice.services import refused_origins
from helpers import run_threads

URL = "/plugin/api/origin"


def ask(client, merchant, origin=None, headers=None, **params):
    key = merchant if isinstance(merchant, str) else merchant.public_key
    query = dict(merchant=key, **params)
    sent = dict(headers or {})
    if origin is not None:
        sent["Origin"] = origin
    return client.get(URL + "?" + urlencode(query), headers=sent)


def rows(merchant):
    return {r.origin: r.count for r in RefusedOrigin.select().where(RefusedOrigin.merchant == merchant)}


def test_an_allowed_site_is_told_so_and_nothing_is_recorded(client, plugin_shop):
    m = plugin_shop["merchant"]
    for origin in ("https://shop.example", "HTTPS://Shop.Example:443", "http://127.0.0.1:8123"):
        response = ask(client, m, origin)
        assert response.status_code == 200, origin
        assert response.get_json() == {"allowed": True}
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Origin" in response.headers.get("Vary", "")
        assert response.headers["Cache-Control"] == "no-store"
    assert rows(m) == {}


def test_a_refused_site_gets_the_visitors_message_and_is_recorded(client, plugin_shop):
    m, other = plugin_shop["merchant"], plugin_shop["other"]
    response = ask(client, m, "https://evil.example", lang="en")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    body = response.get_json()
    assert body == {"allowed": False, "message": Words("en")("site_not_allowed"), "lang": "en", "dir": "ltr"}
    assert body["message"] == "This payment form cannot be shown on this site. Please tell the site's support."
    first = RefusedOrigin.get(RefusedOrigin.origin == "https://evil.example")
    assert (first.merchant_id, first.count) == (m.id, 1)
    # The same site however it is spelled: one row, counted again, first_seen kept.
    ask(client, m, "HTTPS://EVIL.example:443/")
    again = RefusedOrigin.get_by_id(first.id)
    assert again.count == 2 and again.first_seen == first.first_seen and again.last_seen >= first.last_seen
    # Another merchant's allowed site is not this merchant's.
    assert ask(client, m, "https://other.example").get_json()["allowed"] is False
    assert rows(m) == {"https://evil.example": 2, "https://other.example": 1}
    assert rows(other) == {}


@pytest.mark.parametrize("params,headers,expected", [
    ({"lang": "ur"}, {"Accept-Language": "ru"}, "ur"),          # data-lang first
    ({"lang": "hi-IN"}, {}, "hi"),
    ({}, {"Accept-Language": "bn-BD,bn;q=0.9,en;q=0.5"}, "bn"),  # else the browser's
    ({}, {"Accept-Language": "ur-PK, en;q=0.8"}, "ur"),
    ({"lang": "xx"}, {"Accept-Language": "de"}, "ru"),          # else the merchant's language
    ({}, {}, "ru"),
])
def test_the_message_speaks_the_visitors_language(client, plugin_shop, params, headers, expected):
    m = plugin_shop["merchant"]
    m.plugin_language = "ru"
    m.save()
    body = ask(client, m, "https://evil.example", headers=headers, **params).get_json()
    words = Words(expected)
    assert body == {"allowed": False, "message": words("site_not_allowed"), "lang": expected,
                    "dir": "rtl" if expected == "ur" else "ltr"}


def test_unknown_merchant_no_merchant_and_no_origin(client, plugin_shop):
    unknown = ask(client, "pk_nobody", "https://evil.example", lang="ur")
    assert unknown.status_code == 404 and unknown.headers["Access-Control-Allow-Origin"] == "*"
    body = unknown.get_json()
    assert body["error"]["code"] == "not_found"
    assert (body["allowed"], body["message"], body["dir"]) == (False, Words("ur")("unknown_merchant"), "rtl")

    missing = client.get(URL, headers={"Origin": "https://evil.example"})
    assert missing.status_code == 400 and missing.get_json()["error"]["details"][0]["field"] == "merchant"

    m = plugin_shop["merchant"]
    no_origin = ask(client, m)  # not a browser's cross-site request: nothing to tell, nothing recorded
    assert no_origin.status_code == 400 and no_origin.get_json()["error"]["code"] == "origin_required"
    assert "allowed" not in no_origin.get_json()
    # An opaque origin (a sandboxed frame, a local file) is never allowed, and never recorded.
    for opaque in ("null", "file://", "javascript:alert(1)", "https://x.example/path", ""):
        response = ask(client, m, opaque)
        assert response.status_code == 200 and response.get_json()["allowed"] is False, opaque
    assert RefusedOrigin.select().count() == 0


def test_a_disabled_merchant_is_still_answered_by_origin(client, plugin_shop):
    m = plugin_shop["merchant"]
    m.active = False
    m.save()
    assert ask(client, m, "https://shop.example").get_json() == {"allowed": True}  # the page says "unavailable"
    assert ask(client, m, "https://evil.example").get_json()["allowed"] is False


def test_at_most_fifty_origins_per_merchant_the_oldest_dropped(client, plugin_shop):
    m, other = plugin_shop["merchant"], plugin_shop["other"]
    start = utcnow() - datetime.timedelta(days=1)
    refused_origins.record(other, "https://kept.example", now=start)
    for i in range(refused_origins.MAX_PER_MERCHANT):
        refused_origins.record(m, f"https://site{i}.example", now=start + datetime.timedelta(minutes=i))
    refused_origins.record(m, "https://site0.example", now=start + datetime.timedelta(hours=2))  # seen again
    assert len(rows(m)) == refused_origins.MAX_PER_MERCHANT
    for i in range(5):  # through the endpoint: five new origins push out the five seen longest ago
        assert ask(client, m, f"https://new{i}.example").get_json()["allowed"] is False
    kept = rows(m)
    assert len(kept) == refused_origins.MAX_PER_MERCHANT
    assert {f"https://new{i}.example" for i in range(5)} <= set(kept)
    assert "https://site0.example" in kept  # seen lately: kept
    assert not {f"https://site{i}.example" for i in range(1, 6)} & set(kept)
    assert "https://site6.example" in kept
    assert rows(other) == {"https://kept.example": 1}  # each merchant's list is its own


def test_the_endpoint_is_rate_limited_per_address(app, client, plugin_shop):
    app.config["PLUGIN_ORIGIN_LIMIT"] = "3 per minute"
    m = plugin_shop["merchant"]
    answers = [ask(client, m, "https://evil.example") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[-1].headers["Access-Control-Allow-Origin"] == "*"  # the loader reads it, then shows the frame
    assert rows(m) == {"https://evil.example": 3}
    other_address = client.get(URL + "?" + urlencode({"merchant": m.public_key}),
                               headers={"Origin": "https://evil.example"},
                               environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other_address.status_code == 200


def test_the_plugin_page_records_a_refused_parent(app, client, plugin_shop):
    m = plugin_shop["merchant"]

    def page(**params):
        query = dict(merchant=m.public_key, label="visitor-1", **params)
        return client.get("/plugin/v1/page?" + urlencode(query))

    assert page(parent="https://shop.example").status_code == 200
    assert page().status_code == 200
    assert page(parent="javascript:alert(1)").status_code == 200
    assert rows(m) == {}
    response = page(parent="https://evil.example")
    assert response.status_code == 200  # the page itself: the browser refuses to frame it (frame-ancestors)
    assert "frame-ancestors https://shop.example" in response.headers["Content-Security-Policy"]
    assert rows(m) == {"https://evil.example": 1}
    # Also under a bad session or signature: the site is what the merchant needs to know.
    assert page(parent="https://evil.example", session="pst_nothing").status_code == 403
    assert rows(m) == {"https://evil.example": 2}
    # Within an allowance per address.
    app.config["PLUGIN_ORIGIN_LIMIT"] = "1 per minute"
    page(parent="https://flood.example")
    page(parent="https://flood.example")
    assert rows(m)["https://flood.example"] == 1


ROUNDS = 4


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_refusals_are_each_counted_once(app, ctx, threads):
    """Visitors of one refused site at the same moment: one row, every visit counted
    (the upsert is one statement; no lost update, no duplicate-key error)."""
    m = factories.merchant(name="Shop", allowed_origins=["https://shop.example"])
    for round_ in range(ROUNDS):
        origin = f"https://race{round_}.example"
        counts = run_threads(app, threads, lambda i, origin=origin: refused_origins.record(m, origin))
        assert sorted(counts) == list(range(1, threads + 1)), counts
        assert rows(m)[origin] == threads
    assert RefusedOrigin.select().count() == ROUNDS
