"""Plugin sessions (SPEC §13): ``POST /api/v1/plugin/sessions`` makes one for a visitor;
its token replaces the label and its signature on the plugin page and every plugin API
call, names one merchant and one label, and stops at its expiry (403
``session_expired`` / ``invalid_session``)."""
import datetime
import json
import re
from decimal import Decimal

import pytest

import factories
from backoffice.models import PluginSession, Transaction, utcnow
from backoffice.services import plugin_sessions
from backoffice.services.ingest import Report, ingest


@pytest.fixture
def shop(app, conn):
    bkash, nagad = factories.payment_system("bkash", "BDT"), factories.payment_system("nagad", "BDT")
    upi = factories.payment_system("upi", "INR", name="UPI")
    a, b = factories.merchant(name="Shop A"), factories.merchant(name="Shop B")
    for m in (a, b):
        for ps in (bkash, nagad, upi):
            factories.merchant_payment_system(m, ps, min_deposit="100.00")
    wallet = factories.wallet(a, bkash)
    factories.wallet(a, nagad)
    factories.wallet(a, upi, number="shopa.1@okaxis")
    factories.wallet(b, bkash)
    with app.app_context():
        ingest(Report("bkash", wallet.number, "S-TX-1", Decimal("900.00"), "BDT"))
        ingest(Report("bkash", wallet.number, "S-TX-2", Decimal("700.00"), "BDT"))
    return dict(a=a, b=b)


def create(client, merchant, **body):
    return client.post("/api/v1/plugin/sessions", json=body, headers={"Authorization": f"Bearer {merchant.api_key}"})


def activate(client, merchant, number, **fields):
    data = {"merchant": merchant.public_key, "payment_system": "bkash", "transaction_number": number}
    data.update(fields)
    return client.post("/plugin/api/activate", json=data)


def error_code(response):
    return response.get_json()["error"]["code"]


def test_a_session_is_made_with_the_api_key_and_activates_for_its_label(client, shop):
    made = create(client, shop["a"], label="visitor-7", order_id="o-7", expires_in=600)
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert re.fullmatch(r"pss_[\w-]+", body["id"]) and body["token"].startswith("pst_")
    expires = datetime.datetime.fromisoformat(body["expires_at"].replace("Z", ""))
    assert abs((expires - utcnow()).total_seconds() - 600) < 5
    # Only the token's digest is stored.
    row = PluginSession.get(PluginSession.public_id == body["id"])
    assert body["token"] not in (row.token_digest, row.label)
    answer = activate(client, shop["a"], "S-TX-1", session=body["token"])
    assert answer.status_code == 200 and answer.get_json()["status"] == "activated"
    tx = Transaction.get(Transaction.transaction_number == "S-TX-1")
    assert (tx.label, tx.order_id) == ("visitor-7", "o-7")


def test_a_session_overrides_what_the_body_says_of_the_label(client, shop):
    token = create(client, shop["a"], label="the-real-one").get_json()["token"]
    answer = activate(client, shop["a"], "S-TX-1", session=token, label="someone-else", order_id="x",
                      signature="v2=1.00")
    assert answer.get_json()["status"] == "activated"
    assert Transaction.get(Transaction.transaction_number == "S-TX-1").label == "the-real-one"


def test_an_expired_or_unknown_or_foreign_session_is_refused(app, client, shop):
    session, token = plugin_sessions.create(shop["a"], "visitor", expires_in=60,
                                            now=utcnow() - datetime.timedelta(minutes=5))
    expired = activate(client, shop["a"], "S-TX-1", session=token)
    assert expired.status_code == 403 and error_code(expired) == "session_expired"
    for bad in ("pst_" + "x" * 43, "nonsense", "pst_"):
        refused = activate(client, shop["a"], "S-TX-1", session=bad)
        assert refused.status_code == 403 and error_code(refused) == "invalid_session", bad
    # Shop A's session is not Shop B's.
    _, live = plugin_sessions.create(shop["a"], "visitor")
    foreign = activate(client, shop["b"], "S-TX-1", session=live)
    assert foreign.status_code == 403 and error_code(foreign) == "invalid_session"
    assert Transaction.get(Transaction.transaction_number == "S-TX-1").status == "new"
    # The pending watch and the appeal take the session too, and refuse it alike.
    pending = client.post("/plugin/api/pending", json={"merchant": shop["a"].public_key, "payment_system": "bkash",
                                                        "transaction_number": "S-TX-1", "session": token})
    assert pending.status_code == 403 and error_code(pending) == "session_expired"
    appeal = client.post("/plugin/api/appeals", data={
        "merchant": shop["a"].public_key, "payment_system": "bkash", "transaction_number": "S-TX-9",
        "session": token, "amount": "500.00", "sender": "01711111111",
        "paid_at": (utcnow() - datetime.timedelta(hours=1)).isoformat(timespec="seconds") + "Z"})
    assert appeal.status_code == 403 and error_code(appeal) == "session_expired"


def test_a_session_limits_the_payment_systems(client, shop):
    token = create(client, shop["a"], label="v", payment_systems=["nagad"]).get_json()["token"]
    refused = activate(client, shop["a"], "S-TX-1", session=token)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["details"][0]["field"] == "payment_system"
    page = client.get("/plugin/v1/page", query_string={"merchant": shop["a"].public_key, "session": token})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="nagad"' in html and 'value="bkash"' not in html
    # The snippet may narrow the session's list, never widen it: nothing in common is nothing.
    none = client.get("/plugin/v1/page", query_string={"merchant": shop["a"].public_key, "session": token,
                                                       "payment_systems": "bkash"}).get_data(as_text=True)
    assert 'value="bkash"' not in none and 'value="nagad"' not in none


@pytest.mark.parametrize("body,field", [
    ({}, "label"),
    ({"label": "   "}, "label"),
    ({"label": "x" * 256}, "label"),
    ({"label": "v", "expires_in": 10}, "expires_in"),
    ({"label": "v", "expires_in": 24 * 3600 + 1}, "expires_in"),
    ({"label": "v", "expires_in": "600"}, "expires_in"),
    ({"label": "v", "payment_systems": ["paypal"]}, "payment_systems"),
    ({"label": "v", "payment_systems": "bkash"}, "payment_systems"),
    ({"label": "v", "amount": "500.00"}, "currency"),
    ({"label": "v", "amount": "500.00", "currency": "USD"}, "currency"),
    ({"label": "v", "amount": "5.001", "currency": "BDT"}, "amount"),
    ({"label": "v", "currency": "INR", "payment_systems": ["bkash"]}, "currency"),
])
def test_bad_input_names_the_field_and_makes_nothing(client, shop, body, field):
    answer = create(client, shop["a"], **body)
    assert answer.status_code == 400, answer.get_json()
    assert field in [d["field"] for d in answer.get_json()["error"]["details"]]
    assert PluginSession.select().count() == 0


def test_only_the_merchants_api_key_makes_a_session(client, shop):
    assert client.post("/api/v1/plugin/sessions", json={"label": "v"}).status_code == 401
    assert client.post("/api/v1/plugin/sessions", json={"label": "v"},
                       headers={"Authorization": f"Bearer {shop['a'].public_key}"}).status_code == 401
    assert PluginSession.select().count() == 0


def _settings(html):
    found = re.search(r'<script type="application/json" id="bo-settings">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def test_the_page_under_a_session_names_the_session_only(client, shop):
    token = create(client, shop["a"], label="visitor-9", order_id="o-9", amount="1250.00", currency="INR",
                   expires_in=900).get_json()["token"]
    page = client.get("/plugin/v1/page", query_string={"merchant": shop["a"].public_key, "session": token})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    settings = _settings(html)
    assert settings["session"] == token and settings["label"] is None and settings["signature"] is None
    assert "visitor-9" not in html  # the label is the session's business, not the page's
    assert settings["amount"] == "1250.00" and settings["currency"] == "INR"
    left = (datetime.datetime.fromisoformat(settings["expires_at"][:-1])
            - datetime.datetime.fromisoformat(settings["now"][:-1])).total_seconds()
    assert 890 <= left <= 900
    # UPI: a link with the session's amount, and its QR code drawn by the server.
    assert "upi://pay?pa=shopa.1@okaxis&amp;pn=Shop%20A&amp;am=1250.00&amp;cu=INR" in html
    assert re.search(r"<svg[^>]*viewBox=", html)


def test_an_expired_session_gets_the_page_with_its_message(client, shop):
    from backoffice.plugin_builder.messages import Words
    _, token = plugin_sessions.create(shop["a"], "visitor", expires_in=60,
                                      now=utcnow() - datetime.timedelta(minutes=2))
    for lang in ("en", "ur"):
        page = client.get("/plugin/v1/page", query_string={"merchant": shop["a"].public_key, "session": token,
                                                           "lang": lang})
        html = page.get_data(as_text=True)
        assert page.status_code == 403 and Words(lang)("session_expired") in html
        assert 'id="bo-form"' not in html
    page = client.get("/plugin/v1/page", query_string={"merchant": shop["a"].public_key, "session": "pst_nope"})
    assert page.status_code == 403 and Words("en")("invalid_session") in page.get_data(as_text=True)


def test_a_visitor_reloading_for_new_sessions_keeps_one_label_allowance(app, client, shop):
    app.config["PLUGIN_LIMIT_PER_LABEL"] = "3 per hour"
    answers = []
    for n in range(5):
        token = create(client, shop["a"], label="guesser").get_json()["token"]
        answers.append(activate(client, shop["a"], f"GUESS-{n}", session=token).status_code)
    assert answers[:3] == [200, 200, 200] and answers[3:] == [429, 429]


def test_old_sessions_are_swept(app, shop):
    old_now = utcnow() - datetime.timedelta(days=9)
    plugin_sessions.create(shop["a"], "old", now=old_now)
    plugin_sessions.create(shop["a"], "recent", now=utcnow() - datetime.timedelta(days=2))
    plugin_sessions.create(shop["a"], "live")
    assert plugin_sessions.remove_old() == 1
    assert sorted(s.label for s in PluginSession.select()) == ["live", "recent"]


def test_the_page_keys_a_visitors_appeals_by_a_digest_of_the_label_across_sessions(client, shop):
    def label_key(label):
        token = create(client, shop["a"], label=label).get_json()["token"]
        html = client.get("/plugin/v1/page", query_string={"merchant": shop["a"].public_key,
                                                           "session": token}).get_data(as_text=True)
        return _settings(html)["label_key"]

    first, again, other = label_key("visitor-1"), label_key("visitor-1"), label_key("visitor-2")
    assert first == again != other and "visitor" not in first and len(first) == 24
