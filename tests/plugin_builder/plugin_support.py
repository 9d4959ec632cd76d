"""A merchant set up for its plugin (a fixture imported by the plugin tests; not a
conftest.py, whose module name would shadow tests/conftest.py): two payment systems,
wallets, allowed origins."""
import pytest

import factories


@pytest.fixture
def plugin_shop(app, conn):
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    nagad = factories.payment_system("nagad", "BDT", name="Nagad")
    merchant = factories.merchant(name="Shop", allowed_origins=["https://shop.example", "http://127.0.0.1:8123"])
    other = factories.merchant(name="Other", allowed_origins=["https://other.example"])
    mps_b = factories.merchant_payment_system(merchant, bkash, min_deposit="500.00")
    mps_n = factories.merchant_payment_system(merchant, nagad, min_deposit="250.50")
    mps_n.display_order = 1
    mps_n.save()
    wallets = [factories.wallet(merchant, bkash, number=f"0171000000{i}") for i in range(3)]
    factories.wallet(merchant, nagad, number="01800000001")
    factories.merchant_payment_system(other, bkash)
    factories.wallet(other, bkash, number="01999999999")
    return dict(merchant=merchant, other=other, bkash=bkash, nagad=nagad, mps_b=mps_b, mps_n=mps_n,
                wallets=wallets)
