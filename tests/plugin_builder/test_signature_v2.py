"""Issue 17, class 11: the v1 label signature (``label|order_id``) can be re-split when
a label contains ``|``; v2 (``plugin_builder/signing.py: label_signature_v2``)
length-prefixes each field, and v1 is refused once its deprecation period
(``PLUGIN_SIGNATURE_V1_UNTIL``) is over — on the plugin API and the plugin page."""
import itertools

import pytest

import factories
from backoffice.plugin_builder.signing import label_signature_v1, label_signature_v2, signature_ok

# The merchant signed this visitor: label "victim|order-9", no order id.
SIGNED = ("victim|order-9", "")
# The same text split differently: a visitor who is "victim" with order "order-9|".
FORGED = ("victim", "order-9|")


@pytest.fixture
def shop(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(require_signed_labels=True)
    factories.merchant_payment_system(m, ps)
    factories.wallet(m, ps)
    return m


def activate(client, m, label, order_id, signature):
    return client.post("/plugin/api/activate", json={"merchant": m.public_key, "payment_system": "bkash",
                                                     "transaction_number": "N-1", "label": label,
                                                     "order_id": order_id, "signature": signature})


def page(client, m, label, order_id, signature):
    return client.get("/plugin/v1/page", query_string={"merchant": m.public_key, "label": label,
                                                       "order_id": order_id, "signature": signature})


def test_a_v1_forgery_across_the_split_is_refused_once_v1_is_off(app, client, shop):
    key = shop.api_key
    v1 = label_signature_v1(key, *SIGNED)
    assert v1 == label_signature_v1(key, *FORGED)  # the weakness: one signature, two splits
    app.config["PLUGIN_SIGNATURE_V1_UNTIL"] = "2999-12-31"  # still in the deprecation period
    assert activate(client, shop, *FORGED, v1).status_code == 200  # existing snippets keep working
    app.config["PLUGIN_SIGNATURE_V1_UNTIL"] = "2000-01-01"  # the period is over
    for label, order_id in (FORGED, SIGNED):
        refused = activate(client, shop, label, order_id, v1)
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "bad_signature"
        assert page(client, shop, label, order_id, v1).status_code == 403
    app.config["PLUGIN_SIGNATURE_V1_UNTIL"] = ""  # empty: off
    assert activate(client, shop, *SIGNED, v1).status_code == 403


def test_v2_cannot_be_forged_across_the_split(app, client, shop):
    key = shop.api_key
    v2 = label_signature_v2(key, *SIGNED)
    assert v2.startswith("v2=") and v2 != label_signature_v2(key, *FORGED)
    assert activate(client, shop, *SIGNED, v2).status_code == 200
    assert page(client, shop, *SIGNED, v2).status_code == 200
    forged = activate(client, shop, *FORGED, v2)
    assert forged.status_code == 403 and forged.get_json()["error"]["code"] == "bad_signature"
    assert page(client, shop, *FORGED, v2).status_code == 403
    # Nor can v1's hex be passed off as v2 (the marker picks the message format).
    assert not signature_ok(key, *FORGED, "v2=" + label_signature_v1(key, *SIGNED))


def test_every_split_of_a_text_has_its_own_v2_signature():
    text = "a|b|c||d"
    splits = [(text[:i], text[i:]) for i in range(len(text) + 1)]
    signatures = {label_signature_v2("sk_key", label, order_id) for label, order_id in splits}
    assert len(signatures) == len(splits)
    for (l1, o1), (l2, o2) in itertools.permutations(splits, 2):
        assert not signature_ok("sk_key", l2, o2, label_signature_v2("sk_key", l1, o1))
