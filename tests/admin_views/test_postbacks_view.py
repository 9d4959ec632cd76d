"""Back office → Postbacks: scoping, filters, attempts, Resend, Send test postback, docs."""
import datetime

import pytest
from helpers import login, post_form

import factories
from backoffice.db import db
from backoffice.queues import redis_connection
from backoffice.services.postbacks import job_id_for
from backoffice.models import Postback, PostbackAttempt, Transaction, utcnow
from backoffice.services import postbacks as service


def body(response):
    return response.get_data(as_text=True)


@pytest.fixture
def world(app, conn):
    redis_connection(app.config).flushdb()
    a = factories.merchant(name="Alpha", postback_url="http://127.0.0.1:9/a")
    b = factories.merchant(name="Bravo", postback_url="http://127.0.0.1:9/b")
    w = factories.wallet(a)
    tx = factories.transaction(w, status="activated")
    with db.atomic():
        pa = service.create_event(a, "deposit.completed", {"who": "alpha"}, "transaction", tx.id)
        pb = service.create_event(b, "withdrawal.approved", {"who": "bravo"})
    Postback.update(status="error", attempts=9).where(Postback.id == pa.id).execute()
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


def queued_ids(app):
    from rq import Queue

    return Queue("postbacks", connection=redis_connection(app.config)).job_ids


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


def test_owner_resends_own_postback_from_the_details_page(app, client, world):
    login(client, world["owner_a"])
    pa = world["pa"]
    response = post_form(client, f"/admin/postbacks/details/?id={pa.id}", "/admin/postbacks/resend/", {"id": pa.id})
    assert response.status_code == 302
    fresh = Postback.get_by_id(pa.id)
    assert fresh.event_id == pa.event_id and fresh.delivery == 2 and fresh.attempts == 0
    assert fresh.status == "pending" and fresh.next_attempt_at <= utcnow()
    assert Transaction.get_by_id(world["tx"].id).postback_status == "pending"
    assert job_id_for(pa.id, 2, 0) in queued_ids(app)


def test_owner_cannot_resend_another_merchants_postback(app, client, world):
    login(client, world["owner_a"])
    pb = world["pb"]
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/resend/", {"id": pb.id})
    assert response.status_code == 404
    # Through the list action too: B's id is dropped by the scoped query.
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/action/",
                         {"action": "resend", "rowid": [pb.id]})
    assert response.status_code == 302
    assert Postback.get_by_id(pb.id).delivery == 1
    assert queued_ids(app) == []


def test_the_resend_action_resends_in_bulk_for_operators(app, client, world):
    login(client, world["operator"])
    ids = [world["pa"].id, world["pb"].id]
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/action/", {"action": "resend", "rowid": ids})
    assert response.status_code == 302
    assert [Postback.get_by_id(i).delivery for i in ids] == [2, 2]
    assert sorted(queued_ids(app)) == sorted(job_id_for(i, 2, 0) for i in ids)


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


def test_send_test_postback(app, client, world):
    login(client, world["owner_a"])
    # CSRF is required.
    assert client.post("/admin/postbacks/test/").status_code == 400
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/test/", {"merchant_id": world["b"].id})
    assert response.status_code == 302
    test = Postback.get(Postback.event_type == "test")
    assert test.merchant_id == world["a"].id  # an owner's own merchant, whatever was posted
    assert job_id_for(test.id, 1, 0) in queued_ids(app)


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
