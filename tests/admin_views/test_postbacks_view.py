"""Back office → Postbacks: the deliveries of events to endpoints. Scoping, filters
(the endpoint too), attempts, Resend, Send test postback, docs; a resend or a test
really reaches the merchant's receiver once the dispatcher runs."""
import datetime

import pytest
from helpers import login, post_form, statements
from http_receiver import receiver, run_queued_jobs  # noqa: F401 - a fixture

import factories
from backoffice.db import db
from backoffice.queues import redis_connection
from backoffice.models import Postback, PostbackAttempt, Transaction, utcnow
from backoffice.services import postbacks as service


def body(response):
    return response.get_data(as_text=True)


@pytest.fixture
def world(app, conn, receiver):
    redis_connection(app.config).flushdb()
    a = factories.merchant(name="Alpha", postback_url=receiver.url + "?alpha")
    b = factories.merchant(name="Bravo", postback_url=receiver.url + "?bravo")
    w = factories.wallet(a)
    tx = factories.transaction(w, status="activated")
    with db.atomic():
        ea = service.create_event(a, "deposit.completed", {"who": "alpha"}, "transaction", tx.id)
        eb = service.create_event(b, "withdrawal.approved", {"who": "bravo"})
    # Each event has one delivery (one endpoint per merchant): A's failed, B's arrived.
    pa, pb = (Postback.get(Postback.event_id == e.event_id) for e in (ea, eb))
    Postback.update(status="error", attempts=9).where(Postback.id == pa.id).execute()
    Postback.update(status="sent", attempts=1, sent_at=utcnow()).where(Postback.id == pb.id).execute()
    Transaction.update(postback_status="error").where(Transaction.id == tx.id).execute()
    PostbackAttempt.create(postback=pa.id, http_status=500, duration_ms=12, response_excerpt="ALPHA-ANSWER",
                           error="HTTP 500")
    PostbackAttempt.create(postback=pb.id, http_status=500, duration_ms=12, response_excerpt="BRAVO-ANSWER")
    users = {
        "operator": factories.user("operator"),
        "owner_a": factories.user("merchant_owner", merchant=a),
        "staff_a": factories.user("merchant_staff", merchant=a),
    }
    return dict(a=a, b=b, tx=tx, pa=pa, pb=pb, **users)


def delivered(app, receiver):
    """Run the dispatcher; the (event id, path) of every request the receiver got."""
    run_queued_jobs(app)
    return [({k.lower(): v for k, v in r["headers"].items()}["webhook-id"], r["path"]) for r in receiver.requests]


def test_operator_sees_every_postback_and_filters(client, world):
    login(client, world["operator"])
    page = body(client.get("/admin/postbacks/"))
    assert world["pa"].event_id in page and world["pb"].event_id in page
    # Filters: status, type, date.
    page = body(client.get("/admin/postbacks/?flt0_0=error"))
    assert world["pa"].event_id in page and world["pb"].event_id not in page
    page = body(client.get("/admin/postbacks/?flt0_1=withdrawal.approved"))
    assert world["pb"].event_id in page and world["pa"].event_id not in page
    now = utcnow()
    span = f"{(now - datetime.timedelta(hours=1)):%Y-%m-%d %H:%M:%S} to {(now + datetime.timedelta(hours=1)):%Y-%m-%d %H:%M:%S}"
    page = body(client.get("/admin/postbacks/", query_string={"flt0_2": span}))
    assert world["pa"].event_id in page and world["pb"].event_id in page
    old = "2020-01-01 00:00:00 to 2020-01-02 00:00:00"
    page = body(client.get("/admin/postbacks/", query_string={"flt0_2": old}))
    assert world["pa"].event_id not in page
    page = body(client.get(f"/admin/postbacks/?flt0_6={world['b'].id}"))
    assert world["pb"].event_id in page and world["pa"].event_id not in page
    # Details show the attempts.
    page = body(client.get(f"/admin/postbacks/details/?id={world['pb'].id}"))
    assert "BRAVO-ANSWER" in page and 'data-testid="postback-attempts"' in page


def test_merchant_owners_see_only_their_own(client, world):
    login(client, world["owner_a"])
    page = body(client.get("/admin/postbacks/"))
    assert world["pa"].event_id in page and world["pb"].event_id not in page
    page = body(client.get(f"/admin/postbacks/details/?id={world['pa'].id}"))
    assert "ALPHA-ANSWER" in page and "BRAVO-ANSWER" not in page
    assert client.get(f"/admin/postbacks/details/?id={world['pb'].id}").status_code == 404
    # Filtering by the other merchant finds nothing of theirs.
    page = body(client.get(f"/admin/postbacks/?flt0_6={world['b'].id}"))
    assert world["pb"].event_id not in page


def test_owner_resends_own_postback_from_the_details_page(app, client, world, receiver):
    login(client, world["owner_a"])
    pa = world["pa"]
    response = post_form(client, f"/admin/postbacks/details/?id={pa.id}", "/admin/postbacks/resend/", {"id": pa.id})
    assert response.status_code == 302
    fresh = Postback.get_by_id(pa.id)
    assert fresh.event_id == pa.event_id and fresh.delivery == 2 and fresh.attempts == 0
    assert fresh.status == "pending" and fresh.next_attempt_at <= utcnow()
    assert Transaction.get_by_id(world["tx"].id).postback_status == "pending"
    # The dispatcher sends it: the same event id, to A's endpoint.
    assert delivered(app, receiver) == [(pa.event_id, "/hook?alpha")]
    assert Postback.get_by_id(pa.id).status == "sent"
    assert Transaction.get_by_id(world["tx"].id).postback_status == "sent"


def test_owner_cannot_resend_another_merchants_postback(app, client, world, receiver):
    login(client, world["owner_a"])
    pb = world["pb"]
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/resend/", {"id": pb.id})
    assert response.status_code == 404
    # Through the list action too: B's id is dropped by the scoped query.
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/action/",
                         {"action": "resend", "rowid": [pb.id]})
    assert response.status_code == 302
    assert Postback.get_by_id(pb.id).delivery == 1
    assert delivered(app, receiver) == []


def test_the_resend_action_resends_in_bulk_for_operators(app, client, world, receiver):
    login(client, world["operator"])
    ids = [world["pa"].id, world["pb"].id]
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/action/", {"action": "resend", "rowid": ids})
    assert response.status_code == 302
    assert [Postback.get_by_id(i).delivery for i in ids] == [2, 2]
    assert sorted(delivered(app, receiver)) == sorted([(world["pa"].event_id, "/hook?alpha"),
                                                       (world["pb"].event_id, "/hook?bravo")])


def test_staff_are_refused_the_screen(client, world):
    """SPEC §1: postbacks are the owner's (issue 17 found the screen open to staff)."""
    login(client, world["staff_a"])
    pa = world["pa"]
    for url in ("/admin/postbacks/", f"/admin/postbacks/details/?id={pa.id}", "/admin/postbacks/docs/"):
        assert client.get(url).status_code == 403, url
    for data in ({"id": pa.id}, {}):
        assert post_form(client, "/admin/settings/", "/admin/postbacks/resend/", data).status_code == 403
    assert post_form(client, "/admin/settings/", "/admin/postbacks/action/",
                     {"action": "resend", "rowid": [pa.id]}).status_code == 403
    assert Postback.get_by_id(pa.id).delivery == 1
    assert post_form(client, "/admin/settings/", "/admin/postbacks/test/", {}).status_code == 403


def test_send_test_postback(app, client, world, receiver):
    login(client, world["owner_a"])
    # CSRF is required.
    assert client.post("/admin/postbacks/test/").status_code == 400
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/test/", {"merchant_id": world["b"].id})
    assert response.status_code == 302
    test = Postback.get(Postback.event_type == "test")
    assert test.merchant_id == world["a"].id  # an owner's own merchant, whatever was posted
    assert delivered(app, receiver) == [(test.event_id, "/hook?alpha")]


def test_send_test_postback_goes_to_every_endpoint_that_takes_tests(app, client, world, receiver):
    a = world["a"]
    factories.endpoint(a, receiver.url + "?second")
    factories.endpoint(a, receiver.url + "?deposits-only", event_types=["deposit.completed"])
    factories.endpoint(a, receiver.url + "?off", enabled=False, disabled_reason="merchant")
    login(client, world["owner_a"])
    response = post_form(client, "/admin/settings/system/", "/admin/postbacks/test/",
                         {"next": "/admin/settings/system/"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/settings/system/")
    event_id = Postback.get(Postback.event_type == "test").event_id
    assert sorted(delivered(app, receiver)) == [(event_id, "/hook?alpha"), (event_id, "/hook?second")]


def test_send_test_postback_without_an_endpoint_that_takes_it(client, world):
    from backoffice.models import WebhookEndpoint

    WebhookEndpoint.update(enabled=False, disabled_reason="merchant").where(
        WebhookEndpoint.merchant == world["a"].id).execute()
    login(client, world["owner_a"])
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/test/", {})
    assert response.status_code == 302
    assert "No enabled webhook endpoint takes test events" in body(client.get("/admin/postbacks/"))
    assert not Postback.select().where(Postback.event_type == "test").exists()


def row_link(postback_id):
    return f'href="/admin/postbacks/details/?id={postback_id}&amp;'


def test_the_endpoint_column_filter_and_details(client, world, receiver):
    a = world["a"]
    other = factories.endpoint(a, receiver.url + "?other-endpoint")
    with db.atomic():
        event = service.create_event(a, "deposit.reversed", {"who": "alpha"})
    on_other = Postback.get((Postback.event_id == event.event_id) & (Postback.endpoint == other.id))
    on_first = Postback.get((Postback.event_id == event.event_id) & (Postback.endpoint == a.endpoint.id))
    login(client, world["owner_a"])
    page = body(client.get("/admin/postbacks/"))
    assert "Endpoint" in page and "/hook?alpha" in page and "/hook?other-endpoint" in page
    assert f'href="/admin/webhooks/details/?id={other.id}"' in page  # the endpoint on Settings → Webhooks
    # Filter by endpoint id (index 7) and by URL (index 8).
    page = body(client.get(f"/admin/postbacks/?flt0_7={other.id}"))
    assert f'data-endpoint="{other.id}"' in page and f'data-endpoint="{a.endpoint.id}"' not in page
    page = body(client.get("/admin/postbacks/", query_string={"flt0_8": "other-endpoint"}))
    assert row_link(on_other.id) in page and row_link(on_first.id) not in page
    page = body(client.get(f"/admin/postbacks/details/?id={on_other.id}"))
    assert "/hook?other-endpoint" in page and "Endpoint" in page
    # Another merchant's endpoint id finds nothing of theirs.
    page = body(client.get(f"/admin/postbacks/?flt0_7={world['b'].endpoint.id}"))
    assert world["pb"].event_id not in page and "/hook?bravo" not in page


def test_the_list_runs_one_query_for_its_rows_and_their_endpoints(client, world, receiver):
    for n in range(20):
        with db.atomic():
            service.create_event(world["a"], "test", {"n": n})
    login(client, world["operator"])
    with statements() as counted:
        assert client.get("/admin/postbacks/").status_code == 200
    per_row = [q for q in counted if 'FROM "postback"' not in q and '"id" = ' in q
               and ('FROM "webhook_endpoint"' in q or 'FROM "merchant"' in q)]
    assert not per_row, per_row


def test_operator_sends_a_test_postback_for_a_chosen_merchant(client, world):
    login(client, world["operator"])
    assert 'data-testid="send-test-postback"' in body(client.get("/admin/postbacks/"))
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/test/", {"merchant_id": world["b"].id})
    assert response.status_code == 302
    assert Postback.get(Postback.event_type == "test").merchant_id == world["b"].id


def test_the_docs_page(client, world):
    login(client, world["owner_a"])
    page = body(client.get("/admin/postbacks/docs/"))
    assert "standardwebhooks" in page and "deposit.completed" in page and "withdrawal.rejected" in page
    assert "webhook-signature" in page


def test_anonymous_users_go_to_the_login_page(client, world):
    response = client.get("/admin/postbacks/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_delivery_to_a_disabled_endpoint_is_not_resent(client, world):
    """A disabled endpoint sends nothing: a resend would wait for ever, so it is refused
    with a pointer to Settings → Webhooks (enable it, or recover since)."""
    from backoffice.services import webhooks

    webhooks.disable(world["a"].endpoint, "failing", None)
    login(client, world["operator"])
    pa, pb = world["pa"], world["pb"]
    response = post_form(client, f"/admin/postbacks/details/?id={pa.id}", "/admin/postbacks/resend/", {"id": pa.id})
    assert response.status_code == 302
    assert "Its endpoint is disabled or deleted" in body(client.get(response.headers["Location"]))
    assert Postback.get_by_id(pa.id).delivery == 1
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/action/",
                         {"action": "resend", "rowid": [pa.id, pb.id]})
    assert response.status_code == 302
    page = body(client.get("/admin/postbacks/"))
    assert "1 postback(s) will be sent again." in page and "1 postback(s) were not sent again" in page
    assert Postback.get_by_id(pa.id).delivery == 1 and Postback.get_by_id(pb.id).delivery == 2
