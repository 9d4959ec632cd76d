"""Role table drift (issue 17, class 10): one table (``backoffice.roles``) says which
role sees which screen and uses which page and action; every registered back-office
URL (walked from the app's URL map, so a later one is covered too) × every role
(operator, merchant owner, merchant staff, signed out) answers as the table says:
signed out → the login page; refused → 403; allowed → never 403 (nor a 500)."""
import pytest
from conftest import csrf_from
from helpers import login

import factories
from backoffice import roles
from backoffice.admin_views.base import ScopedModelView, permission_of

ROLES = ("operator", "merchant_owner", "merchant_staff", None)


@pytest.fixture
def world(app, conn):
    ps = factories.payment_system()
    m = factories.merchant(postback_url="http://127.0.0.1:1/hook")
    factories.merchant_payment_system(m, ps)
    factories.transaction(factories.wallet(m, ps))
    users = {"operator": factories.user("operator"),
             "merchant_owner": factories.user("merchant_owner", merchant=m),
             "merchant_staff": factories.user("merchant_staff", merchant=m)}
    return dict(m=m, users=users)


def admin_views(app):
    return {view.endpoint: view for view in app.extensions["backoffice_admin"]._views}


def admin_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin") and rule.endpoint != "admin.static":
            yield rule


def concrete(path):
    return (path.replace("<export_type>", "csv").replace("<theme>", "dark").replace("<int:settings_id>", "1"))


def test_every_screen_and_page_is_in_the_table(app):
    """Deny by default is only safe when nothing is forgotten: every page has a line."""
    views = admin_views(app)
    missing = []
    for rule in admin_rules(app):
        screen, method = rule.endpoint.split(".", 1)
        assert screen in views, rule.endpoint
        if screen not in roles.SCREENS or "view" not in roles.SCREENS[screen]:
            missing.append(rule.endpoint)
    assert not missing, missing
    for screen in roles.SCREENS:
        assert screen in views, f"the table names {screen!r}, which no view has"


def expected_open(screen, method, role):
    return roles.allowed(screen, "view", role) and roles.allowed(screen, permission_of(method), role)


@pytest.mark.parametrize("role", ROLES, ids=[r or "signed_out" for r in ROLES])
def test_every_url_answers_as_the_table_says(app, client, world, role):
    if role:
        login(client, world["users"][role])
        token = csrf_from(client.get("/admin/settings/"))
    else:
        token = csrf_from(client.get("/login"))
    checked = 0
    for rule in admin_rules(app):
        screen, method = rule.endpoint.split(".", 1)
        path = concrete(rule.rule)
        for verb in sorted(rule.methods & {"GET", "POST"}):
            if verb == "GET":
                response = client.get(path)
            else:
                response = client.post(path, data={"csrf_token": token})
            status, location = response.status_code, response.headers.get("Location", "")
            response.close()
            where = f"{verb} {path} as {role}"
            assert status != 500, where
            if role is None:
                assert status == 302 and "/login" in location, where
            elif expected_open(screen, method, role):
                assert status != 403 and "/login" not in location, f"{where}: the table allows it ({status})"
            else:
                assert status == 403, f"{where}: the table refuses it ({status})"
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("role", ("operator", "merchant_owner", "merchant_staff"))
def test_every_list_action_answers_as_the_table_says(app, client, world, role):
    login(client, world["users"][role])
    token = csrf_from(client.get("/admin/settings/"))
    for endpoint, view in admin_views(app).items():
        if not isinstance(view, ScopedModelView) or not roles.allowed(endpoint, "view", role):
            continue
        names = [name for name, _text in view._actions]
        shown = client.get(f"/admin/{endpoint}/").get_data(as_text=True)
        for name in names:
            response = client.post(f"/admin/{endpoint}/action/",
                                   data={"csrf_token": token, "action": name, "rowid": []})
            where = f"action {name} of {endpoint} as {role}"
            if roles.allowed(endpoint, name, role):
                assert response.status_code in (200, 302), where
            else:
                assert response.status_code == 403, where
                assert f'value="{name}"' not in shown and f"'{name}'" not in shown, f"{where}: offered"


def test_the_menu_follows_the_table(app, client, world):
    for role, user in world["users"].items():
        signed_in = app.test_client()
        login(signed_in, user)
        page = signed_in.get("/admin/settings/").get_data(as_text=True)
        for endpoint, view in admin_views(app).items():
            if endpoint == "admin" or not view.name:
                continue
            link = f'href="{view.url}/"'
            assert (link in page) == roles.allowed(endpoint, "view", role), f"{endpoint} in {role}'s menu"


def test_staff_are_refused_the_owner_screens_the_spec_reserves(client, world):
    """SPEC §1: staff = read-only dashboard, transactions and withdrawals; own profile."""
    login(client, world["users"]["merchant_staff"])
    for url in ("/admin/postbacks/", "/admin/postbacks/docs/", "/admin/plugin-appearance/",
                "/admin/plugin-installation/", "/admin/plugin-appearance/starter/dark.css",
                "/admin/settings/system/", "/admin/audit_log/"):
        assert client.get(url).status_code == 403, url
    for url in ("/admin/", "/admin/transactions/", "/admin/withdrawals/", "/admin/settings/"):
        assert client.get(url).status_code == 200, url
