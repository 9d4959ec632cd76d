"""Tenant isolation: merchant A's users never see or change merchant B's rows.

Every path STACK.md lists is tried: list, details, edit, delete, each action (the
built-in delete too), export, ajax lookups, ajax-posted values and relation
dropdowns. The real payment views are checked, and so is the base class itself
through a view that lets merchant users edit and delete (the way later views will).
"""
import json

import pytest
from helpers import login, post_form

import factories
from backoffice import roles
from backoffice.admin_views.base import ScopedModelView
from backoffice.models import Transaction, Wallet

ALL = ("view", "create", "edit", "delete", "details", "export")


class EditableWalletView(ScopedModelView):
    """Not in the product: the widest permissions (its line in the role table below), to
    prove the base class scopes them."""

    form_columns = ("merchant", "payment_system", "identifier", "number", "active")
    form_ajax_refs = {"payment_system": {"fields": ("code",)}}


class TransactionWithAjaxView(ScopedModelView):
    form_columns = ("wallet", "amount", "currency", "transaction_number")
    form_ajax_refs = {"wallet": {"fields": ("identifier", "number")}}


@pytest.fixture
def world(app, conn, monkeypatch):
    for endpoint in ("test_wallets", "test_transactions"):
        monkeypatch.setitem(roles.SCREENS, endpoint, {name: roles.EVERYONE for name in ALL})
    app.extensions["backoffice_admin"].add_view(EditableWalletView(Wallet, endpoint="test_wallets"))
    app.extensions["backoffice_admin"].add_view(TransactionWithAjaxView(Transaction, endpoint="test_transactions"))
    ps = factories.payment_system()
    a, b = factories.merchant(name="Alpha"), factories.merchant(name="Bravo")
    wa, wb = factories.wallet(a, ps, number="01711111111"), factories.wallet(b, ps, number="01799999999")
    ta = factories.transaction(wa, label="alice", transaction_number="A-SECRET-1")
    tb = factories.transaction(wb, label="bob-secret", transaction_number="B-SECRET-1")
    wda = factories.withdrawal(a, ps, label="alice-wd")
    wdb = factories.withdrawal(b, ps, label="bob-wd-secret")
    owner_a = factories.user("merchant_owner", merchant=a)
    staff_a = factories.user("merchant_staff", merchant=a)
    return dict(ps=ps, a=a, b=b, wa=wa, wb=wb, ta=ta, tb=tb, wda=wda, wdb=wdb, owner_a=owner_a, staff_a=staff_a)


@pytest.fixture(params=["owner_a", "staff_a"])
def signed_in(request, client, world):
    login(client, world[request.param])
    return client


def body(response):
    return response.get_data(as_text=True)


def test_lists_and_exports_show_only_own_rows(signed_in, world):
    page = body(signed_in.get("/admin/transactions/"))
    assert "A-SECRET-1" in page and "B-SECRET-1" not in page and "bob-secret" not in page
    page = body(signed_in.get("/admin/withdrawals/"))
    assert "alice-wd" in page and "bob-wd-secret" not in page
    csv = body(signed_in.get("/admin/transactions/export/csv/"))
    assert "A-SECRET-1" in csv and "B-SECRET-1" not in csv
    # A filter naming B's transaction number finds nothing.
    page = body(signed_in.get("/admin/transactions/?flt0_3=B-SECRET-1"))
    assert "bob-secret" not in page  # (the page echoes the filter value itself)


def test_details_of_another_merchants_rows_are_404(signed_in, world):
    assert signed_in.get(f"/admin/transactions/details/?id={world['ta'].id}").status_code == 200
    assert signed_in.get(f"/admin/transactions/details/?id={world['tb'].id}").status_code == 404
    assert signed_in.get(f"/admin/withdrawals/details/?id={world['wdb'].id}").status_code == 404
    assert signed_in.get("/admin/transactions/details/?id=not-a-number").status_code == 404


def test_read_only_views_refuse_changes(signed_in, world):
    for url in (f"/admin/transactions/edit/?id={world['ta'].id}", "/admin/transactions/new/"):
        assert signed_in.get(url).status_code == 403
    response = post_form(signed_in, "/admin/transactions/", "/admin/transactions/delete/", {"id": world["tb"].id})
    assert response.status_code == 403
    response = post_form(signed_in, "/admin/transactions/", "/admin/transactions/action/",
                         {"action": "delete", "rowid": [world["ta"].id, world["tb"].id]})
    assert Transaction.select().count() == 2


def test_operator_only_views_are_403(signed_in):
    for url in ("/admin/merchants/", "/admin/users/", "/admin/wallets/", "/admin/payment_systems/",
                "/admin/merchant_payment_systems/", "/admin/connector_tokens/", "/admin/exchange_rates/",
                "/admin/pending_activations/", "/admin/jobs/"):
        assert signed_in.get(url).status_code == 403, url
    # The audit log: owners see their own merchant's entries (test_audit_log.py), staff nothing.
    if signed_in.get("/admin/settings/system/").status_code == 403:
        assert signed_in.get("/admin/audit_log/").status_code == 403


def test_base_view_scopes_edit_and_delete(signed_in, world):
    wb = world["wb"]
    assert signed_in.get(f"/admin/test_wallets/edit/?id={wb.id}").status_code == 404
    response = post_form(signed_in, "/admin/test_wallets/", f"/admin/test_wallets/edit/?id={wb.id}",
                         {"identifier": "stolen", "number": "01700000000", "payment_system": world["ps"].id})
    assert response.status_code == 404
    response = post_form(signed_in, "/admin/test_wallets/", "/admin/test_wallets/delete/", {"id": wb.id})
    assert response.status_code == 404
    fresh = Wallet.get_by_id(wb.id)
    assert fresh.identifier == wb.identifier and fresh.number == "01799999999"
    # Own rows do change: the denials above are scoping, not a broken view.
    wa = world["wa"]
    response = post_form(signed_in, "/admin/test_wallets/", f"/admin/test_wallets/edit/?id={wa.id}",
                         {"identifier": "renamed", "number": wa.number, "payment_system": world["ps"].id,
                          "active": "y"})
    assert response.status_code == 302
    assert Wallet.get_by_id(wa.id).identifier == "renamed"


def test_bulk_actions_only_touch_own_rows(signed_in, world):
    wa, wb = world["wa"], world["wb"]
    Transaction.delete().execute()  # wallets referenced by transactions cannot be deleted
    response = post_form(signed_in, "/admin/test_wallets/", "/admin/test_wallets/action/",
                         {"action": "delete", "rowid": [str(wa.id), str(wb.id)]})
    assert response.status_code == 302
    assert Wallet.get_or_none(Wallet.id == wb.id) is not None
    assert Wallet.get_or_none(Wallet.id == wa.id) is None


def test_created_rows_belong_to_own_merchant_whatever_is_posted(signed_in, world):
    response = post_form(signed_in, "/admin/test_wallets/new/", "/admin/test_wallets/new/",
                         {"merchant": world["b"].id, "identifier": "planted", "number": "01755555555",
                          "payment_system": world["ps"].id, "active": "y"})
    assert response.status_code == 302
    planted = Wallet.get(Wallet.identifier == "planted")
    assert planted.merchant_id == world["a"].id


def test_ajax_lookups_and_posted_ajax_values_are_scoped(signed_in, world):
    found = json.loads(body(signed_in.get("/admin/test_transactions/ajax/lookup/?name=wallet&query=017")))
    ids = {row[0] for row in found}
    assert world["wa"].id in ids and world["wb"].id not in ids
    # Posting B's wallet id in the ajax field is refused as an invalid choice.
    response = post_form(signed_in, "/admin/test_transactions/new/", "/admin/test_transactions/new/",
                         {"wallet": world["wb"].id, "amount": "1.00", "currency": "BDT",
                          "transaction_number": "PLANTED"})
    assert Transaction.get_or_none(Transaction.transaction_number == "PLANTED") is None
    assert response.status_code == 200  # the form comes back with the error


def test_relation_dropdowns_list_only_own_rows(signed_in, world):
    page = body(signed_in.get("/admin/test_wallets/new/"))
    assert "Bravo" not in page  # no merchant picker for merchant users at all
    assert 'name="merchant"' not in page


def test_operator_sees_everything(client, world):
    operator = factories.user("operator")
    login(client, operator)
    page = body(client.get("/admin/transactions/"))
    assert "A-SECRET-1" in page and "B-SECRET-1" in page
    assert client.get(f"/admin/transactions/details/?id={world['tb'].id}").status_code == 200
    assert client.get("/admin/merchants/").status_code == 200
