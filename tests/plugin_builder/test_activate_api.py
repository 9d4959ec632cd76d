"""POST /plugin/api/activate: outcomes, signed labels, merchant keys, rate limits."""
import pytest

import factories
from backoffice import create_app
from backoffice.models import Transaction
from backoffice.plugin_builder.signing import label_signature
from backoffice.services.ingest import Report, ingest


@pytest.fixture
def shop(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    a, b = factories.merchant(name="A"), factories.merchant(name="B")
    for m in (a, b):
        factories.merchant_payment_system(m, ps, min_deposit="500.00")
    wa = factories.wallet(a, ps)
    from decimal import Decimal

    with app.app_context():
        ingest(Report("bkash", wa.number, "A-TX-1", Decimal("900.00"), "BDT"))
        ingest(Report("bkash", wa.number, "A-TX-2", Decimal("100.00"), "BDT"))
    return dict(a=a, b=b, ps=ps)


def call(client, merchant, number, label="visitor", **extra):
    data = {"merchant": merchant.public_key, "payment_system": "bkash", "transaction_number": number,
            "label": label}
    data.update(extra)
    return client.post("/plugin/api/activate", json=data)


def test_outcomes(client, shop):
    assert call(client, shop["a"], "A-TX-1").get_json() == {"status": "activated", "amount": "900.00",
                                                            "currency": "BDT"}
    assert call(client, shop["a"], "A-TX-1").get_json()["status"] == "already_activated"
    assert call(client, shop["a"], "A-TX-2").get_json()["status"] == "stockpiling"
    assert call(client, shop["a"], "NOT-THERE").get_json() == {"status": "not_found"}


def test_merchant_b_cannot_claim_merchant_a_transaction(client, shop):
    response = call(client, shop["b"], "A-TX-1")
    # Scoped to B (issue 17, class 3): A's number is, for B's visitors, never reported.
    assert response.status_code == 200 and response.get_json() == {"status": "not_found"}
    assert Transaction.get(Transaction.transaction_number == "A-TX-1").status == "new"


def test_signed_labels(client, shop):
    a = shop["a"]
    a.require_signed_labels = True
    a.save()
    assert call(client, a, "A-TX-1").status_code == 403
    assert call(client, a, "A-TX-1", signature="00" * 32).status_code == 403
    wrong_label = label_signature(a.plugin_secret, "someone-else", "o-1")
    assert call(client, a, "A-TX-1", order_id="o-1", signature=wrong_label).status_code == 403
    assert Transaction.get(Transaction.transaction_number == "A-TX-1").status == "new"
    good = call(client, a, "A-TX-1", order_id="o-1", signature=label_signature(a.plugin_secret, "visitor", "o-1"))
    assert good.status_code == 200 and good.get_json()["status"] == "activated"


def test_disabled_merchant_and_bad_input(client, shop):
    a = shop["a"]
    a.active = False
    a.save()
    response = call(client, a, "A-TX-1")
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "merchant_disabled"
    response = client.post("/plugin/api/activate", json={"merchant": "pk_unknown", "payment_system": "bkash",
                                                         "transaction_number": "x", "label": "y"})
    assert response.status_code == 400
    response = client.post("/plugin/api/activate", json={"merchant": shop["b"].public_key})
    assert {d["field"] for d in response.get_json()["error"]["details"]} == {
        "payment_system", "transaction_number", "label"}
    response = call(client, shop["b"], "x", payment_system="nagad")
    assert response.status_code == 400 and response.get_json()["error"]["details"][0]["field"] == "payment_system"


def test_guessing_is_rate_limited_per_number_label_and_address(app_config, shop):
    app_config.update(PLUGIN_LIMIT_PER_NUMBER="3 per minute", PLUGIN_LIMIT_PER_LABEL="5 per minute",
                      PLUGIN_LIMIT_PER_ADDRESS="8 per minute")
    client = create_app(app_config).test_client()
    # The same number from many labels: stopped after 3 failures.
    statuses = [call(client, shop["a"], "GUESS-1", label=f"l{i}").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert call(client, shop["a"], "GUESS-1", label="l9").get_json()["error"]["code"] == "too_many_requests"
    # One label trying many numbers: 5 failures allowed.
    statuses = [call(client, shop["a"], f"N{i}", label="prober").status_code for i in range(6)]
    assert statuses == [200] * 5 + [429]
    # The address as a whole: 8 failures in all, then even a real number is refused.
    assert call(client, shop["a"], "A-TX-1", label="real").status_code == 429


def test_successes_do_not_count_against_the_limits(app_config, shop):
    app_config.update(PLUGIN_LIMIT_PER_ADDRESS="1 per minute")
    client = create_app(app_config).test_client()
    assert call(client, shop["a"], "A-TX-1").get_json()["status"] == "activated"
    assert call(client, shop["a"], "A-TX-2").get_json()["status"] == "stockpiling"
    assert call(client, shop["a"], "NOPE").status_code == 200  # the first failure
    assert call(client, shop["a"], "NOPE").status_code == 429


def test_with_redis_away_the_limits_count_in_memory_instead_of_failing(app_config, shop):
    """A fresh process (Flask-Limiter's state is per process) with the default
    settings and a limits storage that does not answer: no 500, limits still hold."""
    import json
    import os
    import subprocess
    import sys

    code = """if True:
        import json, os, sys
        from backoffice import create_app
        config = json.loads(os.environ["TEST_APP_CONFIG"])
        client = create_app(config).test_client()
        def call(number, label):
            return client.post("/plugin/api/activate", json={"merchant": sys.argv[1], "payment_system": "bkash",
                                                             "transaction_number": number, "label": label})
        out = [call("A-TX-1", "v").get_json()["status"]]
        out += [call("GUESS-9", "l%d" % i).status_code for i in range(3)]
        print(json.dumps(out))
    """
    config = {k: v for k, v in app_config.items() if isinstance(v, (str, int, bool))}
    # Nothing listens on port 1: every call to the limits' storage fails.
    config.update(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", PLUGIN_LIMIT_PER_NUMBER="2 per minute")
    done = subprocess.run([sys.executable, "-c", code, shop["a"].public_key], capture_output=True, text=True,
                          env=dict(os.environ, TEST_APP_CONFIG=json.dumps(config)), timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["activated", 200, 200, 429]


def test_behind_a_proxy_each_visitor_has_its_own_address_limit(app_config, shop):
    """PROXY_HOPS=1: the address the proxy appended to X-Forwarded-For is the
    visitor's; the default (0) ignores the header, which anyone could write."""
    app_config.update(PLUGIN_LIMIT_PER_ADDRESS="2 per minute")

    def failures(client, forwarded_for):
        return [client.post("/plugin/api/activate", environ_base={"REMOTE_ADDR": "10.0.0.1"},
                            headers={"X-Forwarded-For": forwarded_for},
                            json={"merchant": shop["a"].public_key, "payment_system": "bkash",
                                  "transaction_number": f"NOPE-{forwarded_for}-{i}", "label": forwarded_for}
                            ).status_code for i in range(3)]

    behind_proxy = create_app(dict(app_config, PROXY_HOPS=1)).test_client()
    assert failures(behind_proxy, "203.0.113.5") == [200, 200, 429]
    assert failures(behind_proxy, "203.0.113.6") == [200, 200, 429]  # another visitor, its own budget
    # A forged first hop does not buy a fresh budget: the proxy's own entry counts.
    assert failures(behind_proxy, "198.51.100.1, 203.0.113.5") == [429, 429, 429]

    direct = create_app(dict(app_config, PROXY_HOPS=0)).test_client()
    assert failures(direct, "203.0.113.7") == [200, 200, 429]
    assert failures(direct, "203.0.113.8") == [429, 429, 429]  # the header is ignored: one address
