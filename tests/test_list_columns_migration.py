"""Migration 0016 (issue 22, points 1 and 2) on a database made by the previous release
(migrations up to 0015): every user gets an empty column choice (each list shows its
defaults), and each payment system the country its currency names (BDT → BD, INR → IN,
PKR → PK, NPR → NP, LKR → LK; any other currency: none until an operator sets it)."""
from playhouse.migrations import Runner

from backoffice.db import MIGRATIONS_DIR
from backoffice.models import PaymentSystem, User
from migration_support import insert, old_database  # noqa: F401 - a fixture


def test_payment_systems_get_their_country_and_users_an_empty_choice(old_database):
    runner = Runner(old_database, MIGRATIONS_DIR)
    runner.up("0015_refused_origins")
    systems = {code: insert(old_database, "payment_system", code=code, name=code.title(), currency=currency,
                            active=True, withdrawal_fields="[]")
               for code, currency in (("bkash", "BDT"), ("upi", "INR"), ("jazzcash", "PKR"), ("esewa", "NPR"),
                                      ("ezcash", "LKR"), ("wise", "USD"))}
    merchant = insert(old_database, "merchant", name="Shop", public_key="pk_1", api_key="sk_1", active=True)
    owner = insert(old_database, "user", login="owner@shop.example", password_hash="x", role="merchant_owner",
                   merchant_id=merchant, session_token="t", active=True)

    assert runner.up() == ["0016_list_columns"]

    with old_database.bind_ctx([PaymentSystem, User]):
        countries = {ps.code: ps.country for ps in PaymentSystem.select()}
        assert countries == {"bkash": "BD", "upi": "IN", "jazzcash": "PK", "esewa": "NP", "ezcash": "LK",
                             "wise": None}
        assert PaymentSystem.get_by_id(systems["bkash"]).currency == "BDT"  # nothing else changed
        assert User.get_by_id(owner).list_columns == {}
    runner.down("0015_refused_origins")
    columns = {c.name for c in old_database.get_columns("payment_system")}
    assert "country" not in columns and "list_columns" not in {c.name for c in old_database.get_columns("user")}
