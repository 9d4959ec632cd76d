"""Issue 17, class 2: every limiter keys on the value validation accepts.

The plugin's per-number and per-label limits key on the stripped value that the
activation looks up (``api.validation.normalise_text``), so Unicode whitespace around
a number or a label is no fresh allowance; every per-address limit groups IPv6 by /64
(IPv4 per address, IPv4-mapped IPv6 as IPv4) through ``extensions.address_key``.
"""
import pytest
from conftest import csrf_from

import factories
from backoffice import create_app
from backoffice.extensions import address_group


@pytest.fixture
def shop(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    merchant = factories.merchant(name="A")
    factories.merchant_payment_system(merchant, ps, min_deposit="500.00")
    return merchant


def activate(client, merchant, number, label, address="203.0.113.1", pk=None):
    return client.post("/plugin/api/activate", environ_base={"REMOTE_ADDR": address},
                       json={"merchant": pk or merchant.public_key, "payment_system": "bkash",
                             "transaction_number": number, "label": label})


# Variants of one value that validation strips to the same value: NBSP, ideographic
# and em spaces, line/paragraph separators, a tab, and the plain value last.
VARIANTS = [" {}", "{}\u00a0", "\u3000{}\u2003", "\u2028{}\u2029", "\t{}", "{}"]


def test_number_variants_share_one_allowance(app_config, shop):
    app_config.update(PLUGIN_LIMIT_PER_NUMBER="3 per minute", PLUGIN_LIMIT_PER_LABEL="100 per minute",
                      PLUGIN_LIMIT_PER_ADDRESS="100 per minute")
    client = create_app(app_config).test_client()
    statuses = [activate(client, shop, v.format("GUESS-1"), f"visitor-{i}").status_code
                for i, v in enumerate(VARIANTS)]
    assert statuses == [200, 200, 200, 429, 429, 429]


def test_label_and_merchant_key_variants_share_one_allowance(app_config, shop):
    app_config.update(PLUGIN_LIMIT_PER_NUMBER="100 per minute", PLUGIN_LIMIT_PER_LABEL="3 per minute",
                      PLUGIN_LIMIT_PER_ADDRESS="100 per minute")
    client = create_app(app_config).test_client()
    statuses = [activate(client, shop, f"GUESS-{i}", v.format("visitor"),
                         pk=VARIANTS[-1 - i].format(shop.public_key)).status_code
                for i, v in enumerate(VARIANTS)]
    assert statuses == [200, 200, 200, 429, 429, 429]


def test_address_groups():
    assert address_group("203.0.113.9") == "203.0.113.9"
    assert address_group("::ffff:203.0.113.9") == "203.0.113.9"
    assert address_group("2001:db8:1:2::1") == address_group("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert address_group("2001:db8:1:3::1") != address_group("2001:db8:1:2::1")
    assert address_group("") == address_group(None) == "unknown"


def test_plugin_address_limit_groups_ipv6_by_64(app_config, shop):
    app_config.update(PLUGIN_LIMIT_PER_ADDRESS="2 per minute", PLUGIN_LIMIT_PER_NUMBER="100 per minute",
                      PLUGIN_LIMIT_PER_LABEL="100 per minute")
    client = create_app(app_config).test_client()
    one_64 = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:abcd:1234:5678:9abc"]
    assert [activate(client, shop, f"N-{i}", f"l-{i}", address=a).status_code
            for i, a in enumerate(one_64)] == [200, 200, 429]
    assert activate(client, shop, "N-x", "l-x", address="2001:db8:1:3::1").status_code == 200  # the next /64
    # IPv4 per address; its IPv4-mapped IPv6 form is the same client.
    assert activate(client, shop, "N-4", "l-4", address="198.51.100.7").status_code == 200
    assert activate(client, shop, "N-5", "l-5", address="::ffff:198.51.100.7").status_code == 200
    assert activate(client, shop, "N-6", "l-6", address="198.51.100.7").status_code == 429
    assert activate(client, shop, "N-7", "l-7", address="198.51.100.8").status_code == 200


def test_pending_limit_groups_ipv6_by_64(app_config, shop):
    app_config.update(PLUGIN_LIMIT_PENDING="2 per minute")
    client = create_app(app_config).test_client()
    statuses = [client.post("/plugin/api/pending", environ_base={"REMOTE_ADDR": a},
                            json={"merchant": shop.public_key, "payment_system": "bkash",
                                  "transaction_number": "N", "label": "l"}).status_code
                for a in ("2001:db8::1", "2001:db8::2", "2001:db8::3")]
    assert statuses == [200, 200, 429]


def test_sign_in_address_limit_groups_ipv6_by_64(app_config, conn):
    app_config["LOGIN_RATE_LIMIT"] = "2 per minute"
    client = create_app(app_config).test_client()
    statuses = []
    for n, address in enumerate(["2001:db8:7:7::1", "2001:db8:7:7::2", "2001:db8:7:7::3"]):
        page = client.get("/login", environ_base={"REMOTE_ADDR": address})
        statuses.append(client.post("/login", environ_base={"REMOTE_ADDR": address},
                                    data={"login": f"x{n}@example.test", "password": "wrongpass",
                                          "csrf_token": csrf_from(page)}).status_code)
    assert statuses[:2] == [401, 401] and statuses[2] == 429
