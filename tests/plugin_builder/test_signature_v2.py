"""The label signature (``plugin_builder/signing.py``; SPEC §5, §13).

* v1 (``label|order_id``, keyed with the API key) can be re-split when a label contains
  ``|``; it and the interim ``v2=<hex>`` (length-prefixed, API key, no expiry) are
  refused once the deprecation period (``PLUGIN_SIGNATURE_V1_UNTIL``) is over — on the
  plugin API and the plugin page;
* v2 (``v2=<expires>.<hex>``) is keyed with the merchant's plugin secret, never the API
  key; it length-prefixes each field, expiry included, stops at its expiry, may not
  reach further than ``MAX_LIFETIME``, and survives a rotation of the secret for 24 h.
"""
import datetime
import itertools
import time

import pytest

import factories
from backoffice.models import Merchant
from backoffice.plugin_builder.signing import (
    MAX_LIFETIME,
    label_signature_interim,
    label_signature_v1,
    label_signature_v2,
    signature_ok,
)
from backoffice.services import plugin_sessions

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


def refused(response):
    return response.status_code == 403 and response.get_json()["error"]["code"] == "bad_signature"


@pytest.mark.parametrize("sign", [label_signature_v1, label_signature_interim], ids=["v1", "interim-v2"])
def test_the_api_key_forms_are_refused_once_their_period_is_over(app, client, shop, sign):
    key = shop.api_key
    signature = sign(key, *SIGNED)
    app.config["PLUGIN_SIGNATURE_V1_UNTIL"] = "2999-12-31"  # still in the deprecation period
    assert activate(client, shop, *SIGNED, signature).status_code == 200  # existing snippets keep working
    assert page(client, shop, *SIGNED, signature).status_code == 200
    app.config["PLUGIN_SIGNATURE_V1_UNTIL"] = "2000-01-01"  # the period is over
    assert refused(activate(client, shop, *SIGNED, signature))
    assert page(client, shop, *SIGNED, signature).status_code == 403
    app.config["PLUGIN_SIGNATURE_V1_UNTIL"] = ""  # empty: off
    assert refused(activate(client, shop, *SIGNED, signature))


def test_a_v1_forgery_across_the_split(app, client, shop):
    v1 = label_signature_v1(shop.api_key, *SIGNED)
    assert v1 == label_signature_v1(shop.api_key, *FORGED)  # the weakness: one signature, two splits
    app.config["PLUGIN_SIGNATURE_V1_UNTIL"] = "2000-01-01"
    for label, order_id in (FORGED, SIGNED):
        assert refused(activate(client, shop, label, order_id, v1))


def test_v2_is_keyed_with_the_plugin_secret_and_cannot_be_forged_across_the_split(app, client, shop):
    app.config["PLUGIN_SIGNATURE_V1_UNTIL"] = "2999-12-31"
    v2 = label_signature_v2(shop.plugin_secret, *SIGNED)
    assert v2.startswith("v2=") and v2 != label_signature_v2(shop.plugin_secret, *FORGED)
    assert activate(client, shop, *SIGNED, v2).status_code == 200
    assert page(client, shop, *SIGNED, v2).status_code == 200
    assert refused(activate(client, shop, *FORGED, v2))
    assert page(client, shop, *FORGED, v2).status_code == 403
    # The API key does not make a v2 signature, nor does another merchant's secret.
    assert refused(activate(client, shop, *SIGNED, label_signature_v2(shop.api_key, *SIGNED)))
    other = factories.merchant()
    assert refused(activate(client, shop, *SIGNED, label_signature_v2(other.plugin_secret, *SIGNED)))
    # Nor can v1's hex be passed off as v2 (the marker picks the message format).
    assert not signature_ok(shop, *FORGED, "v2=" + label_signature_v1(shop.api_key, *SIGNED))


def test_v2_expires_and_cannot_be_made_to_live_for_ever(app, client, shop):
    now = int(time.time())
    secret = shop.plugin_secret
    assert refused(activate(client, shop, *SIGNED, label_signature_v2(secret, *SIGNED, expires=now - 1)))
    assert page(client, shop, *SIGNED, label_signature_v2(secret, *SIGNED, expires=now - 1)).status_code == 403
    too_far = label_signature_v2(secret, *SIGNED, expires=now + MAX_LIFETIME + 3600)
    assert refused(activate(client, shop, *SIGNED, too_far))
    assert activate(client, shop, *SIGNED, label_signature_v2(secret, *SIGNED, expires=now + 600)).status_code == 200
    # The expiry is signed: moving it forward breaks the signature.
    good = label_signature_v2(secret, *SIGNED, expires=now + 600)
    moved = good.replace(f"v2={now + 600}.", f"v2={now + 6000}.")
    assert refused(activate(client, shop, *SIGNED, moved))


def test_v2_survives_a_rotation_of_the_plugin_secret_for_24_hours(app, client, shop):
    old = label_signature_v2(shop.plugin_secret, *SIGNED)
    new_secret = plugin_sessions.rotate_plugin_secret(shop, None)
    assert new_secret != shop.plugin_secret_previous
    assert activate(client, shop, *SIGNED, old).status_code == 200  # in the overlap
    assert activate(client, shop, *SIGNED, label_signature_v2(new_secret, *SIGNED)).status_code == 200
    # The overlap over: the old secret no longer signs.
    Merchant.update(plugin_secret_previous_until=datetime.datetime(2000, 1, 1)).where(
        Merchant.id == shop.id).execute()
    assert refused(activate(client, shop, *SIGNED, old))
    assert activate(client, shop, *SIGNED, label_signature_v2(new_secret, *SIGNED)).status_code == 200


def test_every_split_of_a_text_has_its_own_v2_signature(app, conn):
    m = factories.merchant()
    text = "a|b|c||d"
    expires = int(time.time()) + 600
    splits = [(text[:i], text[i:]) for i in range(len(text) + 1)]
    signatures = {label_signature_v2(m.plugin_secret, label, order_id, expires) for label, order_id in splits}
    assert len(signatures) == len(splits)
    for (l1, o1), (l2, o2) in itertools.permutations(splits, 2):
        assert not signature_ok(m, l2, o2, label_signature_v2(m.plugin_secret, l1, o1, expires))
