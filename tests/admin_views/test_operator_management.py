"""Operator management (issue 7): merchants, merchant users, reset links."""
import datetime
import re

import pytest
from helpers import login, post_form

import factories
from backoffice.models import AuditLog, Merchant, PasswordResetToken, Transaction, User, utcnow
from backoffice.security import verify_password
from backoffice.services import merchants as service


@pytest.fixture
def world(conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Shop")
    factories.merchant_payment_system(m, ps)
    w = factories.wallet(m, ps)
    tx = factories.transaction(w)
    return dict(m=m, ps=ps, tx=tx, operator=factories.user("operator"), owner=factories.user("merchant_owner", m))


def text(response):
    return response.get_data(as_text=True)


def link_from(response):
    match = re.search(r'data-testid="reset-link">([^<]+)<', text(response))
    assert match, text(response)
    return match.group(1).replace("http://localhost", "")


def test_operator_creates_a_merchant_with_keys_and_audit(client, world):
    login(client, world["operator"])
    response = post_form(client, "/admin/merchants/new/", "/admin/merchants/new/",
                         {"name": "New shop", "timezone": "Asia/Dhaka", "default_display_currency": "USD"})
    assert response.status_code == 302, text(response)
    m = Merchant.get(Merchant.name == "New shop")
    assert m.public_key.startswith("pk_") and m.api_key.startswith("sk_")  # endpoints: Settings → Webhooks
    assert m.timezone == "Asia/Dhaka" and m.active
    entry = AuditLog.get(AuditLog.action == "merchant.create")
    assert entry.merchant_id == m.id and m.api_key not in str(entry.summary)
    bad = post_form(client, "/admin/merchants/new/", "/admin/merchants/new/",
                    {"name": "Bad zone", "timezone": "Mars/Olympus", "default_display_currency": "USD"})
    assert Merchant.get_or_none(Merchant.name == "Bad zone") is None and bad.status_code == 200


def test_merchant_and_user_screens_are_operator_only(client, world):
    login(client, world["owner"])
    assert client.get("/admin/merchants/").status_code == 403
    assert client.get("/admin/users/").status_code == 403
    assert client.get("/admin/users/add/").status_code == 403


def test_a_disabled_merchant_answers_403_everywhere_and_keeps_its_data(app, client, world):
    m = world["m"]
    owner_client = app.test_client()
    login(owner_client, world["owner"])
    login(client, world["operator"])
    response = post_form(client, "/admin/merchants/", "/admin/merchants/action/",
                         {"action": "disable", "rowid": [str(m.id)]})
    assert response.status_code == 302
    assert Merchant.get_by_id(m.id).active is False
    entry = AuditLog.get(AuditLog.action == "merchant.disable")
    assert entry.summary == {"before": {"active": True}, "after": {"active": False}}

    api = client.get("/api/v1/withdrawals/wd-1", headers={"Authorization": f"Bearer {m.api_key}"})
    assert api.status_code == 403 and api.get_json()["error"]["code"] == "merchant_disabled"
    assert "disabled" in api.get_json()["error"]["message"]
    theme = client.put("/api/v1/plugin/theme", data="body{color:red}", content_type="text/css",
                       headers={"Authorization": f"Bearer {m.api_key}"})
    assert theme.status_code == 403 and theme.get_json()["error"]["code"] == "merchant_disabled"
    config = client.get(f"/plugin/api/config?merchant={m.public_key}")
    assert config.status_code == 403 and config.get_json()["error"]["code"] == "merchant_disabled"
    activate = client.post("/plugin/api/activate", json={"merchant": m.public_key, "payment_system": "bkash",
                                                         "transaction_number": world["tx"].transaction_number,
                                                         "label": "visitor"})
    assert activate.status_code == 403 and activate.get_json()["error"]["code"] == "merchant_disabled"
    page = client.get(f"/plugin/v1/page?merchant={m.public_key}&label=visitor")
    assert page.status_code == 403
    # Its users are signed out and cannot sign in; its data stays.
    assert owner_client.get("/admin/").status_code == 302
    assert login(app.test_client(), world["owner"]).status_code == 403
    assert Transaction.get_by_id(world["tx"].id).merchant_id == m.id

    post_form(client, "/admin/merchants/", "/admin/merchants/action/", {"action": "enable", "rowid": [str(m.id)]})
    assert Merchant.get_by_id(m.id).active is True
    assert client.get("/api/v1/withdrawals/wd-1",
                      headers={"Authorization": f"Bearer {m.api_key}"}).status_code == 404
    assert "merchant.enable" in [a.action for a in AuditLog.select()]


def test_operator_adds_a_merchant_user_who_sets_a_password_with_the_link(app, client, world):
    login(client, world["operator"])
    response = post_form(client, "/admin/users/add/", "/admin/users/add/", {
        "merchant": str(world["m"].id), "login": "Staff@Shop.Example", "role": "merchant_staff", "language": "ru"})
    assert response.status_code == 200
    link = link_from(response)
    user = User.get(User.login == "staff@shop.example")
    assert user.role == "merchant_staff" and user.merchant_id == world["m"].id and user.language == "ru"
    assert AuditLog.get(AuditLog.action == "user.create").summary == {"login": "staff@shop.example",
                                                                     "role": "merchant_staff"}
    token = link.rsplit("/", 1)[1]
    assert PasswordResetToken.get(PasswordResetToken.user == user.id).token_hash != token  # stored hashed

    visitor = app.test_client()
    page = visitor.get(link)
    assert page.status_code == 200 and "staff@shop.example" in text(page)
    short = post_form(visitor, link, link, {"new_password": "short", "new_password_again": "short"})
    assert short.status_code == 400
    done = post_form(visitor, link, link, {"new_password": "my own passphrase", "new_password_again":
                                           "my own passphrase"})
    assert done.status_code == 302
    assert verify_password(User.get_by_id(user.id).password_hash, "my own passphrase")
    entry = AuditLog.get(AuditLog.action == "user.reset_password")
    assert entry.user_id == user.id and "passphrase" not in str(entry.summary)
    # The link works once.
    assert visitor.get(link).status_code == 404
    assert login(app.test_client(), user, password="my own passphrase").status_code == 302
    # Bad input names the field; a duplicate login is refused.
    again = post_form(client, "/admin/users/add/", "/admin/users/add/", {
        "merchant": str(world["m"].id), "login": "staff@shop.example", "role": "merchant_owner",
        "language": "en"})
    assert "A user with this login exists already." in text(again)
    bad_role = post_form(client, "/admin/users/add/", "/admin/users/add/", {
        "merchant": str(world["m"].id), "login": "op@shop.example", "role": "operator", "language": "en"})
    assert User.get_or_none(User.login == "op@shop.example") is None and bad_role.status_code == 200


def test_reset_link_from_the_list_works_once_and_expires(app, client, world):
    owner = world["owner"]
    login(client, world["operator"])
    response = post_form(client, "/admin/users/", "/admin/users/action/",
                         {"action": "reset_password", "rowid": [str(owner.id)]})
    link = link_from(response)
    assert "user.reset_link" in [a.action for a in AuditLog.select()]
    # Expired: the link stops working.
    PasswordResetToken.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).execute()
    visitor = app.test_client()
    assert visitor.get(link).status_code == 404
    response = post_form(client, "/admin/users/", "/admin/users/action/",
                         {"action": "reset_password", "rowid": [str(owner.id)]})
    first_link = link_from(response)
    response = post_form(client, "/admin/users/", "/admin/users/action/",
                         {"action": "reset_password", "rowid": [str(owner.id)]})
    second_link = link_from(response)
    assert visitor.get(first_link).status_code == 404  # only the newest link is valid
    assert visitor.get(second_link).status_code == 200


def test_reset_token_service_once_and_expiry(ctx):
    m = factories.merchant()
    user = factories.user("merchant_owner", m)
    now = utcnow()
    token = service.issue_reset_token(user, None, now=now)
    assert service.reset_token_user(token, now=now + datetime.timedelta(hours=23)).id == user.id
    assert service.reset_token_user(token, now=now + datetime.timedelta(hours=25)) is None
    with pytest.raises(service.SettingsError):
        service.use_reset_token(token, "a brand new passphrase", "a brand new passphrase",
                                now=now + datetime.timedelta(hours=25))
    service.use_reset_token(token, "a brand new passphrase", "a brand new passphrase", now=now)
    with pytest.raises(service.SettingsError):
        service.use_reset_token(token, "another passphrase", "another passphrase", now=now)
    assert verify_password(User.get_by_id(user.id).password_hash, "a brand new passphrase")


def test_operator_disables_a_user(app, client, world):
    owner = world["owner"]
    owner_client = app.test_client()
    login(owner_client, owner)
    login(client, world["operator"])
    post_form(client, "/admin/users/", "/admin/users/action/", {"action": "disable", "rowid": [str(owner.id)]})
    assert User.get_by_id(owner.id).active is False
    assert owner_client.get("/admin/").status_code == 302
    assert login(app.test_client(), owner).status_code == 403
    entry = AuditLog.get(AuditLog.action == "user.disable")
    assert entry.merchant_id == world["m"].id and entry.user_id == world["operator"].id
    # The list filters: by merchant, role, active.
    keep = factories.user("merchant_staff", factories.merchant())
    disabled = text(client.get("/admin/users/?flt0_2=0"))
    assert owner.login in disabled and keep.login not in disabled
    active = text(client.get("/admin/users/?flt0_2=1"))
    assert owner.login not in active and keep.login in active
    by_merchant = text(client.get(f"/admin/users/?flt0_0={world['m'].id}"))
    assert owner.login in by_merchant and keep.login not in by_merchant
    by_role = text(client.get("/admin/users/?flt0_1=merchant_staff"))
    assert owner.login not in by_role and keep.login in by_role
    # An operator cannot disable their own account.
    post_form(client, "/admin/users/", "/admin/users/action/",
              {"action": "disable", "rowid": [str(world["operator"].id)]})
    assert User.get_by_id(world["operator"].id).active is True


def test_connector_tokens_and_payment_systems_screens_open(client, world):
    login(client, world["operator"])
    for url in ("/admin/connector_tokens/", "/admin/connector_tokens/issue/", "/admin/payment_systems/",
                "/admin/payment_systems/new/", "/admin/users/", "/admin/users/add/", "/admin/merchants/"):
        assert client.get(url).status_code == 200, url
