"""Issue 17, class 3: every lookup a public endpoint makes by a key a visitor typed
(transaction number, label) scopes by the merchant first
(``services/activation.py: merchant_scope``). Two merchants share a transaction number
and a label; neither learns nor blocks anything of the other."""
from decimal import Decimal

import pytest

import factories
from backoffice.models import PendingActivation, Transaction
from backoffice.services.ingest import Report, ingest


@pytest.fixture
def two(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    a = factories.merchant(name="A", delayed_activation=True, allowed_origins=["https://a.example"])
    b = factories.merchant(name="B", delayed_activation=True, allowed_origins=["https://b.example"])
    for m in (a, b):
        factories.merchant_payment_system(m, ps, min_deposit="500.00")
    return dict(a=a, b=b, ps=ps, wa=factories.wallet(a, ps, number="01711111111"),
                wb=factories.wallet(b, ps, number="01722222222"))


def body(merchant, number, label="same-user"):
    return {"merchant": merchant.public_key, "payment_system": "bkash", "transaction_number": number,
            "label": label}


def activate(client, merchant, number, label="same-user"):
    response = client.post("/plugin/api/activate", json=body(merchant, number, label))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def pending(client, merchant, number, label="same-user"):
    response = client.post("/plugin/api/pending", json=body(merchant, number, label))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def report(app, wallet, number, amount="700.00"):
    with app.app_context():
        return ingest(Report("bkash", wallet.number, number, Decimal(amount), "BDT"))


def test_a_number_waited_for_at_one_merchant_neither_blocks_nor_shows_at_another(app, client, two):
    """activate → _not_reported: the waiting entry is looked up within the merchant."""
    assert activate(client, two["a"], "SHARED-1")["status"] == "pending"
    # Merchant B's visitor, with the same label, types the same number: B's own wait.
    assert activate(client, two["b"], "SHARED-1")["status"] == "pending"
    assert PendingActivation.select().count() == 2
    report(app, two["wb"], "SHARED-1")  # the payment went to B's wallet
    assert pending(client, two["b"], "SHARED-1") == {"status": "activated", "amount": "700.00", "currency": "BDT"}
    assert pending(client, two["a"], "SHARED-1")["status"] == "pending"  # A's visitor learns nothing of B's
    tx = Transaction.get(Transaction.transaction_number == "SHARED-1")
    assert tx.merchant_id == two["b"].id and tx.label == "same-user"


def test_another_merchants_transaction_is_a_number_never_reported(app, client, two):
    """activate: the fallback lookup of the transaction is within the merchant — no
    ``rejected`` that would tell a visitor of B that A received that number."""
    report(app, two["wa"], "A-ONLY")
    two["b"].delayed_activation = False
    two["b"].save()
    assert activate(client, two["b"], "A-ONLY") == {"status": "not_found"}
    two["b"].delayed_activation = True
    two["b"].save()
    assert activate(client, two["b"], "A-ONLY")["status"] == "pending"  # as for any unknown number
    assert Transaction.get(Transaction.transaction_number == "A-ONLY").status == "new"
    assert activate(client, two["a"], "A-ONLY")["status"] == "activated"  # A's own visitor still can


def test_pending_state_answers_only_the_merchant_it_is_asked_for(app, client, two):
    """pending_state: the waiting entry and the transaction are looked up within the merchant."""
    assert activate(client, two["a"], "SHARED-2")["status"] == "pending"
    report(app, two["wa"], "SHARED-2")
    assert pending(client, two["a"], "SHARED-2")["status"] == "activated"
    # The same label at B, asking after the same number, is told nothing.
    assert pending(client, two["b"], "SHARED-2") == {"status": "not_found"}


def test_stockpiling_state_is_the_merchants_own(app, client, two):
    """deposit_state: the stockpiling is read within the transaction's merchant; the
    same label at the other merchant has its own stockpiling."""
    report(app, two["wa"], "SMALL-A", "200.00")
    report(app, two["wb"], "SMALL-B", "300.00")
    assert activate(client, two["a"], "SMALL-A")["accumulated"] == "200.00"
    assert activate(client, two["b"], "SMALL-B")["accumulated"] == "300.00"


def test_config_and_page_show_only_the_merchants_own_wallets(client, two):
    """config API and plugin page: the same label at two merchants sees each its own wallet."""
    for m, number in ((two["a"], "01711111111"), (two["b"], "01722222222")):
        data = client.get(f"/plugin/api/config?merchant={m.public_key}&label=same-user").get_json()
        assert [p["wallet_number"] for p in data["payment_systems"]] == [number]
        page = client.get(f"/plugin/v1/page?merchant={m.public_key}&label=same-user")
        assert number in page.get_data(as_text=True)
        assert ({"01711111111", "01722222222"} - {number}).pop() not in page.get_data(as_text=True)


def test_a_theme_is_served_only_under_its_own_merchants_key(client, two):
    """theme view: the public key in the path and the sheet's digest must both match."""
    a = two["a"]
    a.own_css, a.own_css_hash, a.theme = "body{color:red}", "ab" * 32, "own"
    a.save()
    assert client.get(f"/plugin/v1/themes/{a.public_key}/{'ab' * 8}.css").status_code == 200
    assert client.get(f"/plugin/v1/themes/{two['b'].public_key}/{'ab' * 8}.css").status_code == 404
