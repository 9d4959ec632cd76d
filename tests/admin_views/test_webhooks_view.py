"""Settings → Webhooks (SPEC §10), through the real pages: add, edit, disable, enable,
delete, rotate (the secret shown once), recover since (a real receiver gets exactly
the missed events), send test; the merchant's banner; the operators' list of
endpoints; scoping between merchants; staff."""
import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from helpers import login, post_form
from http_receiver import receiver, run_queued_jobs  # noqa: F401 - a fixture

import factories
from backoffice.db import db
from backoffice.models import AuditLog, Event, Postback, WebhookEndpoint, utcnow
from backoffice.queues import redis_connection
from backoffice.services import postbacks as postback_service
from backoffice.services import webhooks

LIST = "/admin/webhooks/"
BANNER = 'data-testid="webhook-banner"'


@pytest.fixture
def shop(app, conn):
    redis_connection(app.config).flushdb()  # the send quotas start afresh
    a = factories.merchant(name="Alpha", timezone="Asia/Dhaka")
    b = factories.merchant(name="Bravo")
    return dict(a=a, b=b, owner=factories.user("merchant_owner", a), staff=factories.user("merchant_staff", a),
                owner_b=factories.user("merchant_owner", b), operator=factories.user("operator"))


def text(response):
    return response.get_data(as_text=True)


def actions(merchant_id):
    return [e.action for e in AuditLog.select().where(AuditLog.merchant == merchant_id).order_by(AuditLog.id)]


def details(endpoint):
    return f"{LIST}details/?id={endpoint.id}"


def button(client, endpoint, name, data=None):
    """A POST button of the endpoint's page (with its CSRF token)."""
    return post_form(client, details(endpoint), f"{LIST}{name}/?id={endpoint.id}", data or {})


def an_hour_ago():
    """A past time for Recover since, as the form takes it (typed in Alpha's zone, UTC+6)."""
    return (utcnow() - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")


def field_error(page, field):
    match = re.search(rf'id="{field}-errors">([^<]*)<', page)
    return match.group(1) if match else None


# --- add, edit ------------------------------------------------------------------------------

def test_owner_adds_an_endpoint_and_sees_its_secret_once(client, shop):
    login(client, shop["owner"])
    assert 'data-testid="no-endpoints"' in text(client.get(LIST))
    response = post_form(client, f"{LIST}new/", f"{LIST}new/", {
        "endpoint_url": "http://127.0.0.1:9/a", "description": "Orders",
        "event_types": ["deposit.completed", "withdrawal.approved"]})
    assert response.status_code == 200, text(response)
    endpoint = WebhookEndpoint.get(WebhookEndpoint.merchant == shop["a"].id)
    assert endpoint.url == "http://127.0.0.1:9/a" and endpoint.description == "Orders"
    assert endpoint.event_types == ["deposit.completed", "withdrawal.approved"] and endpoint.enabled
    page = text(response)
    assert 'data-testid="new-secret"' in page and endpoint.secret in page and endpoint.secret.startswith("whsec_")
    assert response.headers["Cache-Control"] == "no-store"
    # Shown once: never again, on the list or the endpoint's page.
    for url in (LIST, details(endpoint), f"{LIST}edit/?id={endpoint.id}"):
        again = text(client.get(url))
        assert endpoint.secret not in again and "http://127.0.0.1:9/a" in again, url
    listing = text(client.get(LIST))
    assert "Orders" in listing and "Deposit completed, Withdrawal approved" in listing and "Enabled" in listing
    assert actions(shop["a"].id) == ["webhook_endpoint.create"]
    assert endpoint.secret not in str(AuditLog.get().summary)


def test_no_event_type_ticked_means_every_type(client, shop):
    login(client, shop["owner"])
    post_form(client, f"{LIST}new/", f"{LIST}new/", {"endpoint_url": "http://127.0.0.1:9/all"})
    endpoint = WebhookEndpoint.get()
    assert endpoint.event_types == []
    assert "All events" in text(client.get(LIST))


@pytest.mark.parametrize("data, field, message", [
    ({"endpoint_url": ""}, "endpoint_url", "Give the URL the events are sent to."),
    ({"endpoint_url": "ftp://hooks.example.com/a"}, "endpoint_url", "Endpoint URL"),
    ({"endpoint_url": "http://10.0.0.5/hook"}, "endpoint_url", "Endpoint URL"),
    ({"endpoint_url": "http://127.0.0.1:9/a", "event_types": ["deposit.completed", "nope"]}, "event_types",
     "Unknown event type: nope"),
])
def test_bad_input_is_shown_beside_the_field_and_the_form_is_kept(app, client, shop, data, field, message):
    app.config["ALLOW_PRIVATE_POSTBACKS"] = False
    login(client, shop["owner"])
    posted = dict({"description": "Kept description", "event_types": ["withdrawal.rejected"]}, **data)
    response = post_form(client, f"{LIST}new/", f"{LIST}new/", posted)
    assert response.status_code == 400
    page = text(response)
    assert message in (field_error(page, field) or ""), page
    assert 'value="Kept description"' in page  # what was typed stays
    if field != "event_types":
        assert re.search(r'value="withdrawal.rejected"[^>]*checked|checked[^>]*value="withdrawal.rejected"', page)
    assert WebhookEndpoint.select().count() == 0 and actions(shop["a"].id) == []


def test_at_most_ten_endpoints(client, shop):
    for n in range(webhooks.MAX_ENDPOINTS):
        factories.endpoint(shop["a"], f"http://127.0.0.1:9/{n}")
    login(client, shop["owner"])
    assert 'data-testid="add-endpoint"' not in text(client.get(LIST))
    response = post_form(client, f"{LIST}new/", f"{LIST}new/", {"endpoint_url": "http://127.0.0.1:9/eleven"})
    assert response.status_code == 409
    assert "At most 10 endpoints." in (field_error(text(response), "endpoint_url") or "")
    assert WebhookEndpoint.select().count() == webhooks.MAX_ENDPOINTS


def test_owner_edits_url_description_and_filter(app, client, shop):
    endpoint = factories.endpoint(shop["a"], "http://127.0.0.1:9/old", description="Old")
    login(client, shop["owner"])
    url = f"{LIST}edit/?id={endpoint.id}"
    page = text(client.get(url))
    assert 'value="http://127.0.0.1:9/old"' in page and 'value="Old"' in page
    response = post_form(client, url, url, {"endpoint_url": "http://127.0.0.1:9/new", "description": "New",
                                             "event_types": ["withdrawal.rejected"]})
    assert response.status_code == 302 and response.headers["Location"].endswith(details(endpoint))
    fresh = WebhookEndpoint.get_by_id(endpoint.id)
    assert (fresh.url, fresh.description, fresh.event_types) == (
        "http://127.0.0.1:9/new", "New", ["withdrawal.rejected"])
    assert fresh.secret == endpoint.secret
    entry = AuditLog.get(AuditLog.action == "webhook_endpoint.update")
    assert entry.summary["url"] == {"before": "http://127.0.0.1:9/old", "after": "http://127.0.0.1:9/new"}
    # A refused URL: beside the field, nothing saved, the typed value kept.
    app.config["ALLOW_PRIVATE_POSTBACKS"] = False
    bad = post_form(client, url, url, {"endpoint_url": "http://127.0.0.1:8080/x", "description": "Changed"})
    assert bad.status_code == 400 and "Endpoint URL" in (field_error(text(bad), "endpoint_url") or "")
    assert 'value="Changed"' in text(bad)
    assert WebhookEndpoint.get_by_id(endpoint.id).description == "New"


# --- disable, enable, delete, rotate --------------------------------------------------------

def test_disable_and_enable(client, shop):
    endpoint = factories.endpoint(shop["a"], "http://127.0.0.1:9/a")
    with db.atomic():
        event = postback_service.create_event(shop["a"], "deposit.reversed", {"n": 1})
    login(client, shop["owner"])
    response = button(client, endpoint, "disable")
    assert response.status_code == 302
    fresh = WebhookEndpoint.get_by_id(endpoint.id)
    assert not fresh.enabled and fresh.disabled_reason == "merchant" and fresh.disabled_at is not None
    assert Postback.get(Postback.event_id == event.event_id).status == "error"  # its pending delivery ended
    page = text(client.get(details(endpoint)))
    assert "Disabled: by the merchant" in page and BANNER not in page  # not a failing endpoint: no banner
    WebhookEndpoint.update(failing_since=utcnow(), consecutive_failures=7).where(
        WebhookEndpoint.id == endpoint.id).execute()
    assert button(client, endpoint, "enable").status_code == 302
    fresh = WebhookEndpoint.get_by_id(endpoint.id)
    assert fresh.enabled and fresh.disabled_reason is None and fresh.failing_since is None
    assert fresh.consecutive_failures == 0
    assert actions(shop["a"].id) == ["webhook_endpoint.update", "webhook_endpoint.update"]
    # Without the CSRF token nothing changes.
    assert client.post(f"{LIST}disable/?id={endpoint.id}").status_code == 400
    assert WebhookEndpoint.get_by_id(endpoint.id).enabled


def test_an_operator_disabling_says_so(client, shop):
    endpoint = factories.endpoint(shop["a"], "http://127.0.0.1:9/a")
    login(client, shop["operator"])
    assert button(client, endpoint, "disable").status_code == 302
    assert WebhookEndpoint.get_by_id(endpoint.id).disabled_reason == "operator"
    assert "Disabled: by an operator" in text(client.get(f"{LIST}?merchant={shop['a'].id}"))


def test_delete(client, shop):
    endpoint = factories.endpoint(shop["a"], "http://127.0.0.1:9/gone")
    keep = factories.endpoint(shop["a"], "http://127.0.0.1:9/kept")
    login(client, shop["owner"])
    page = text(client.get(details(endpoint)))
    assert "data-confirm=" in page  # the button asks first
    response = button(client, endpoint, "delete")
    assert response.status_code == 302 and response.headers["Location"].endswith(LIST)
    assert WebhookEndpoint.get_or_none(WebhookEndpoint.id == endpoint.id) is None
    assert WebhookEndpoint.get_by_id(keep.id)
    listing = text(client.get(LIST))
    assert ">http://127.0.0.1:9/gone</a>" not in listing and ">http://127.0.0.1:9/kept</a>" in listing
    assert "The endpoint http://127.0.0.1:9/gone is deleted" in listing
    assert actions(shop["a"].id) == ["webhook_endpoint.delete"]
    assert client.get(details(endpoint)).status_code == 404


def test_rotate_shows_the_new_secret_once_and_says_both_sign_for_24_hours(client, shop):
    endpoint = factories.endpoint(shop["a"], "http://127.0.0.1:9/a")
    old = endpoint.secret
    login(client, shop["owner"])
    response = button(client, endpoint, "rotate-secret")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    fresh = WebhookEndpoint.get_by_id(endpoint.id)
    assert fresh.secret != old and fresh.previous_secret == old
    assert fresh.previous_secret_until > utcnow() + datetime.timedelta(hours=23)
    page = text(response)
    assert fresh.secret in page and old not in page
    assert "For the next 24 hours every delivery is signed with both the new and the old secret" in page
    later = text(client.get(details(endpoint)))
    assert fresh.secret not in later and old not in later
    assert "the previous secret signs too until" in later
    assert actions(shop["a"].id) == ["webhook_endpoint.rotate_secret"]
    assert fresh.secret not in str(AuditLog.get().summary) and old not in str(AuditLog.get().summary)


# --- recover since --------------------------------------------------------------------------

def ids_received(receiver):
    return [{k.lower(): v for k, v in r["headers"].items()}["webhook-id"] for r in receiver.requests]


def new_event(merchant, event_type, created_at):
    with db.atomic():
        event = postback_service.create_event(merchant, event_type, {"at": str(created_at)})
    Event.update(created_at=created_at).where(Event.id == event.id).execute()
    Postback.update(created_at=created_at).where(Postback.event_id == event.event_id).execute()
    return event


def test_recover_since_sends_exactly_the_missed_events(app, client, shop, receiver):
    a, now = shop["a"], utcnow()
    hours = lambda n: now - datetime.timedelta(hours=n)  # noqa: E731
    endpoint = factories.endpoint(a, receiver.url, created_at=hours(24))
    webhooks.disable(endpoint, "failing", None)
    before_since = new_event(a, "deposit.completed", hours(3))  # missed, but before the time asked for
    missed_1 = new_event(a, "deposit.completed", hours(0.5))
    missed_2 = new_event(a, "withdrawal.approved", hours(0.25))
    new_event(a, "test", hours(0.2))  # test events are not sent again
    new_event(shop["b"], "deposit.completed", hours(0.5))  # another merchant's
    webhooks.update_endpoint(endpoint, {"enabled": True}, None)
    received = new_event(a, "deposit.reversed", hours(0.4))
    Postback.update(status="sent").where(Postback.event_id == received.event_id).execute()  # it got this one
    webhooks.update_endpoint(endpoint, {"enabled": False}, None)

    login(client, shop["owner"])
    # The time is typed in the viewer's zone (Alpha: Asia/Dhaka, UTC+6), one hour ago.
    since = (now - datetime.timedelta(hours=1)).replace(tzinfo=datetime.timezone.utc).astimezone(
        ZoneInfo("Asia/Dhaka"))
    response = button(client, endpoint, "recover", {"since": since.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302, text(response)
    assert "2 event(s) it missed since then will be sent again" in text(client.get(details(endpoint)))
    fresh = WebhookEndpoint.get_by_id(endpoint.id)
    assert fresh.enabled and fresh.disabled_reason is None
    entry = AuditLog.get(AuditLog.action == "webhook_endpoint.recover")
    assert entry.summary["events"] == 2 and entry.user_id == shop["owner"].id

    run_queued_jobs(app)
    assert sorted(ids_received(receiver)) == sorted([missed_1.event_id, missed_2.event_id])
    assert before_since.event_id not in ids_received(receiver)
    # The delivery log of the endpoint shows them, linking to the Postbacks details.
    page = text(client.get(details(endpoint)))
    delivery = Postback.get((Postback.event_id == missed_1.event_id) & (Postback.endpoint == endpoint.id))
    assert delivery.status == "sent"
    assert f'href="/admin/postbacks/details/?id={delivery.id}"' in page and missed_1.event_id in page


@pytest.mark.parametrize("since, message", [
    ("", "Give a date and time."),
    ("yesterday", "Not a valid datetime value."),
    ("2999-01-01T10:00", "The time is in the future."),
])
def test_recover_refuses_a_bad_time_beside_the_field(client, shop, since, message):
    endpoint = factories.endpoint(shop["a"], "http://127.0.0.1:9/a", enabled=False, disabled_reason="failing")
    login(client, shop["owner"])
    response = button(client, endpoint, "recover", {"since": since})
    assert response.status_code == 400
    assert message in (field_error(text(response), "since") or ""), text(response)
    assert not WebhookEndpoint.get_by_id(endpoint.id).enabled
    assert not AuditLog.select().where(AuditLog.action == "webhook_endpoint.recover").exists()


# --- send test ------------------------------------------------------------------------------

def test_send_test_goes_to_that_endpoint_only(app, client, shop, receiver):
    one = factories.endpoint(shop["a"], receiver.url + "?one", event_types=["deposit.completed"])
    factories.endpoint(shop["a"], receiver.url + "?two")
    login(client, shop["owner"])
    response = button(client, one, "test")
    assert response.status_code == 302
    run_queued_jobs(app)
    assert [r["path"] for r in receiver.requests] == ["/hook?one"]  # whatever its filter says
    assert Event.get(Event.event_type == "test").event_id == ids_received(receiver)[0]
    disabled = factories.endpoint(shop["a"], receiver.url + "?off", enabled=False, disabled_reason="merchant")
    button(client, disabled, "test")
    assert Event.select().where(Event.event_type == "test").count() == 1
    assert "Enable the endpoint first" in text(client.get(details(disabled)))


# --- whose endpoints ------------------------------------------------------------------------

def test_a_merchant_cannot_see_or_change_another_merchants_endpoint(client, shop):
    theirs = factories.endpoint(shop["b"], "http://127.0.0.1:9/bravo-secret-path")
    login(client, shop["owner"])
    assert "bravo-secret-path" not in text(client.get(LIST))
    assert "bravo-secret-path" not in text(client.get(f"{LIST}?merchant={shop['b'].id}"))  # ignored for owners
    for url in (details(theirs), f"{LIST}edit/?id={theirs.id}"):
        assert client.get(url).status_code == 404, url
    token_page = LIST
    for name, data in (("edit", {"endpoint_url": "https://evil.example.com/"}), ("disable", {}), ("enable", {}),
                       ("delete", {}), ("rotate-secret", {}), ("recover", {"since": "2026-01-01T00:00"}),
                       ("test", {})):
        response = post_form(client, token_page, f"{LIST}{name}/?id={theirs.id}", data)
        assert response.status_code == 404, name
    fresh = WebhookEndpoint.get_by_id(theirs.id)
    assert fresh.url == theirs.url and fresh.enabled and fresh.secret == theirs.secret
    assert not Event.select().exists() and actions(shop["b"].id) == []
    # Adding always adds to the owner's own merchant, whatever the query says.
    post_form(client, f"{LIST}new/", f"{LIST}new/?merchant={shop['b'].id}", {"endpoint_url": "http://127.0.0.1:9/x"})
    assert WebhookEndpoint.get(WebhookEndpoint.url == "http://127.0.0.1:9/x").merchant_id == shop["a"].id


def test_operators_manage_any_merchants_endpoints(client, shop):
    theirs = factories.endpoint(shop["b"], "http://127.0.0.1:9/bravo")
    login(client, shop["operator"])
    choice = text(client.get(LIST))
    assert 'data-testid="merchant-choice"' in choice and f'href="/admin/webhooks/?merchant={shop["b"].id}"' in choice
    assert "http://127.0.0.1:9/bravo" in text(client.get(f"{LIST}?merchant={shop['b'].id}"))
    url = f"{LIST}new/?merchant={shop['a'].id}"
    assert post_form(client, url, url, {"endpoint_url": "http://127.0.0.1:9/alpha"}).status_code == 200
    assert WebhookEndpoint.get(WebhookEndpoint.url == "http://127.0.0.1:9/alpha").merchant_id == shop["a"].id
    response = button(client, theirs, "disable")
    assert response.status_code == 302
    assert WebhookEndpoint.get_by_id(theirs.id).disabled_reason == "operator"
    entry = AuditLog.get(AuditLog.action == "webhook_endpoint.update")
    assert entry.merchant_id == shop["b"].id and entry.user_id == shop["operator"].id


def test_staff_are_refused_like_on_system_settings(client, shop):
    """SPEC §1: staff read payments; endpoints and their secrets are the owner's."""
    endpoint = factories.endpoint(shop["a"], "http://127.0.0.1:9/a")
    login(client, shop["staff"])
    for url in (LIST, f"{LIST}new/", details(endpoint), f"{LIST}edit/?id={endpoint.id}"):
        assert client.get(url).status_code == 403, url
    for name in ("new", "edit", "disable", "enable", "delete", "rotate-secret", "recover", "test"):
        response = post_form(client, "/admin/settings/", f"{LIST}{name}/?id={endpoint.id}",
                             {"endpoint_url": "https://evil.example.com/", "since": "2026-01-01T00:00"})
        assert response.status_code == 403, name
    assert 'href="/admin/webhooks/"' not in text(client.get("/admin/"))  # not in the menu
    fresh = WebhookEndpoint.get_by_id(endpoint.id)
    assert fresh.enabled and fresh.secret == endpoint.secret and WebhookEndpoint.select().count() == 1


def test_the_menu_and_system_page_lead_to_webhooks(client, shop):
    login(client, shop["owner"])
    assert 'href="/admin/webhooks/"' in text(client.get("/admin/"))
    assert 'href="/admin/webhooks/"' in text(client.get("/admin/settings/system/"))


# --- the banner -----------------------------------------------------------------------------

PAGES = ("/admin/", "/admin/transactions/", "/admin/withdrawals/", "/admin/settings/")


def test_the_banner_shows_while_an_endpoint_is_disabled_for_failing(app, client, shop):
    a = shop["a"]
    endpoint = factories.endpoint(a, "http://127.0.0.1:9/dead", failing_since=utcnow() - datetime.timedelta(days=6))
    factories.endpoint(a, "http://127.0.0.1:9/fine")
    factories.endpoint(shop["b"], "http://127.0.0.1:9/bravo-dead", enabled=False, disabled_reason="failing")
    owner, staff, operator, owner_b = (app.test_client() for _ in range(4))
    login(owner, shop["owner"])
    login(staff, shop["staff"])
    login(operator, shop["operator"])
    login(owner_b, shop["owner_b"])
    assert BANNER not in text(owner.get("/admin/"))  # failing, not yet disabled: no banner

    with app.app_context():
        assert [e.id for e in webhooks.auto_disable(app.config)] == [endpoint.id]
    for page in PAGES + (LIST, "/admin/postbacks/"):
        html = text(owner.get(page))
        assert BANNER in html and "http://127.0.0.1:9/dead" in html, page
        assert 'class="alert-link"' in html and 'href="/admin/webhooks/"' in html
        assert "http://127.0.0.1:9/fine" not in html.split(BANNER)[1].split("</div>")[0]
    for page in PAGES:
        html = text(staff.get(page))  # staff are told, and to ask the owner (they cannot open the screen)
        assert BANNER in html and "Ask your merchant" in html and 'class="alert-link"' not in html, page
    # Bravo's own failing endpoint shows on Bravo's pages only; operators have their list instead.
    assert "bravo-dead" not in text(owner.get("/admin/"))
    assert "bravo-dead" in text(owner_b.get("/admin/")) and "127.0.0.1:9/dead<" not in text(owner_b.get("/admin/"))
    assert BANNER not in text(operator.get("/admin/"))

    # Enabled again (or disabled on purpose): the banner goes.
    assert button(owner, endpoint, "enable").status_code == 302
    assert BANNER not in text(owner.get("/admin/"))
    assert button(owner, endpoint, "disable").status_code == 302
    assert BANNER not in text(owner.get("/admin/"))


# --- the operators' list ----------------------------------------------------------------------

OPS = "/admin/webhook_endpoints/"


def test_operators_list_disabled_endpoints_of_every_merchant(client, shop):
    dead_a = factories.endpoint(shop["a"], "http://127.0.0.1:9/alpha-dead", enabled=False,
                                disabled_reason="failing", disabled_at=utcnow())
    off_b = factories.endpoint(shop["b"], "http://127.0.0.1:9/bravo-off", enabled=False,
                               disabled_reason="merchant", disabled_at=utcnow())
    factories.endpoint(shop["b"], "http://127.0.0.1:9/bravo-live")
    login(client, shop["operator"])
    page = text(client.get(OPS))  # the disabled ones by default
    assert "alpha-dead" in page and "bravo-off" in page and "bravo-live" not in page
    assert "Alpha" in page and "Bravo" in page
    assert f'href="/admin/webhooks/?merchant={shop["a"].id}"' in page  # opens that merchant's Webhooks
    assert f'href="/admin/webhooks/details/?id={dead_a.id}"' in page
    assert "whsec_" not in page
    page = text(client.get(OPS + "?flt0_state_is=all"))
    assert "alpha-dead" in page and "bravo-live" in page
    page = text(client.get(OPS + "?flt0_state_is=enabled"))
    assert "bravo-live" in page and "alpha-dead" not in page
    page = text(client.get(OPS + "?flt0_state_is=disabled&flt1_disabled_because_equals=failing"))
    assert "alpha-dead" in page and "bravo-off" not in page
    details_page = text(client.get(f"{OPS}details/?id={off_b.id}"))
    assert "bravo-off" in details_page and off_b.secret not in details_page
    # The operators' page of that merchant shows the endpoint, and the operator may enable it.
    page = text(client.get(f"{LIST}?merchant={shop['a'].id}"))
    assert "alpha-dead" in page and "Disabled: no successful delivery for days" in page


def test_the_operators_list_is_for_operators_only(client, shop):
    factories.endpoint(shop["b"], "http://127.0.0.1:9/bravo-off", enabled=False, disabled_reason="failing")
    for user in (shop["owner"], shop["staff"]):
        signed_in = client.application.test_client()
        login(signed_in, user)
        assert signed_in.get(OPS).status_code == 403
        assert signed_in.get(OPS + "?flt0_state_is=all").status_code == 403
        assert 'href="/admin/webhook_endpoints/"' not in text(signed_in.get("/admin/"))


def test_an_endpoint_an_operator_disabled_is_enabled_by_an_operator_only(app, client, shop):
    endpoint = factories.endpoint(shop["a"], "http://127.0.0.1:9/a")
    operator = app.test_client()
    login(operator, shop["operator"])
    assert button(operator, endpoint, "disable").status_code == 302
    login(client, shop["owner"])
    response = button(client, endpoint, "enable")
    assert response.status_code == 302
    assert "An operator disabled this endpoint" in text(client.get(details(endpoint)))
    response = button(client, endpoint, "recover", {"since": an_hour_ago()})
    assert response.status_code == 400 and "An operator disabled this endpoint" in text(response)
    fresh = WebhookEndpoint.get_by_id(endpoint.id)
    assert not fresh.enabled and fresh.disabled_reason == "operator"
    assert button(operator, endpoint, "enable").status_code == 302
    assert WebhookEndpoint.get_by_id(endpoint.id).enabled


def test_recover_takes_the_recovery_quota(app, client, shop):
    app.config["WEBHOOK_RECOVER_PER_MINUTE"] = 1
    endpoint = factories.endpoint(shop["a"], "http://127.0.0.1:9/a", created_at=utcnow() - datetime.timedelta(days=1))
    login(client, shop["owner"])
    # A refused time gives its share back: the next recovery still goes.
    assert button(client, endpoint, "recover", {"since": "2999-01-01T00:00"}).status_code == 400
    assert button(client, endpoint, "recover", {"since": an_hour_ago()}).status_code == 302
    response = button(client, endpoint, "recover", {"since": an_hour_ago()})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert "Too many recoveries" in text(response)
    assert AuditLog.select().where(AuditLog.action == "webhook_endpoint.recover").count() == 1
