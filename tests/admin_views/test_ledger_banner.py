"""The operators' ledger banner: shown on every back-office page while the latest check
left a difference, never to merchant users, gone after a clean check (SPEC §9)."""
from helpers import login
from ledger_verify_support import booked_merchant, change_an_entry

import factories
from backoffice.db import db
from backoffice.services import ledger_verify

BANNER = 'data-testid="ledger-banner"'
PAGES = ("/admin/", "/admin/transactions/", "/admin/withdrawals/", "/admin/audit_log/")


def text(response):
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_banner_for_operators_after_a_failed_check_until_a_clean_one(app, conn):
    m = booked_merchant("Banner Shop", 31)
    operator = factories.user("operator")
    owner = factories.user("merchant_owner", merchant=m)
    op_client, owner_client = app.test_client(), app.test_client()
    login(op_client, operator)
    login(owner_client, owner)

    ledger_verify.check()  # consistent: no banner
    assert BANNER not in text(op_client.get("/admin/"))

    entry = change_an_entry(m)
    ledger_verify.check()
    for page in PAGES:
        html = text(op_client.get(page))
        assert BANNER in html, page
        assert "The ledger has differences." in html
        assert f"Banner Shop (#{m.id}) BDT" in html and "backoffice ledger verify" in html
    for page in ("/admin/", "/admin/transactions/", "/admin/withdrawals/"):
        html = text(owner_client.get(page))
        assert BANNER not in html and "The ledger has differences." not in html, page
        assert "backoffice ledger verify" not in html and f"Banner Shop (#{m.id})" not in html, page

    db.execute_sql(f'UPDATE "ledger_entry" SET "amount" = "amount" - 1 WHERE "id" = {entry}')
    assert ledger_verify.check() == []
    assert BANNER not in text(op_client.get("/admin/"))
    assert BANNER not in text(op_client.get("/admin/transactions/"))


def test_banner_names_at_most_ten_and_counts_the_rest(app, conn):
    shops = [booked_merchant(f"Shop {n}", 40 + n) for n in range(12)]
    for shop in shops:
        change_an_entry(shop)
    ledger_verify.check()
    client = app.test_client()
    login(client, factories.user("operator"))
    html = text(client.get("/admin/"))
    assert html.count(") BDT") == 10 and "and 2 more" in html

