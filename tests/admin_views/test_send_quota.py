"""The per-merchant limits on sending again (SPEC §10): every Resend and Send test
button of the back office takes the merchant's quota first; once it is spent the
answer is 429 with Retry-After and a page saying so, and nothing is sent."""
import pytest
from helpers import login, post_form

import factories
from backoffice.db import db
from backoffice.models import Event, Postback, Transaction
from backoffice.queues import redis_connection
from backoffice.services import postbacks as service

REFUSED = 'data-testid="send-quota-refused"'


@pytest.fixture
def world(app, conn):
    redis_connection(app.config).flushdb()
    a = factories.merchant(name="Alpha", postback_url="http://127.0.0.1:9/alpha")
    b = factories.merchant(name="Bravo", postback_url="http://127.0.0.1:9/bravo")
    second_a = factories.endpoint(a, "http://127.0.0.1:9/alpha-two")
    tx = factories.transaction(factories.wallet(a), status="activated")
    events = {}
    with db.atomic():
        events["a"] = service.create_event(a, "deposit.completed", {"n": 1}, "transaction", tx.id)  # 2 deliveries
        events["b"] = service.create_event(b, "deposit.reversed", {"n": 2})  # 1 delivery
    Postback.update(status="error").execute()
    return dict(a=a, b=b, tx=tx, second_a=second_a, events=events,
                owner=factories.user("merchant_owner", a), operator=factories.user("operator"))


def deliveries(merchant):
    return {p.id: p.delivery for p in Postback.select().where(Postback.merchant == merchant.id)}


def assert_refused(response):
    assert response.status_code == 429, response.status_code
    assert int(response.headers["Retry-After"]) >= 1
    page = response.get_data(as_text=True)
    assert REFUSED in page and "Nothing was sent" in page
    return page


def test_resend_from_the_details_page(app, client, world):
    app.config["WEBHOOK_RESEND_PER_MINUTE"] = 1
    login(client, world["owner"])
    one, two = sorted(deliveries(world["a"]))
    page = f"/admin/postbacks/details/?id={one}"
    assert post_form(client, page, "/admin/postbacks/resend/", {"id": one}).status_code == 302
    before = deliveries(world["a"])
    text = assert_refused(post_form(client, page, "/admin/postbacks/resend/", {"id": two}))
    assert "Too many resends: at most 1 deliveries a minute." in text
    assert deliveries(world["a"]) == before  # nothing resent
    assert Postback.get_by_id(two).status == "error"


def test_resend_action_counts_every_delivery(app, client, world):
    app.config["WEBHOOK_RESEND_PER_MINUTE"] = 2
    login(client, world["owner"])
    ids = sorted(deliveries(world["a"]))
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/action/",
                         {"action": "resend", "rowid": ids})
    assert response.status_code == 302  # two deliveries: within the limit
    before = deliveries(world["a"])
    assert_refused(post_form(client, "/admin/postbacks/", "/admin/postbacks/action/",
                             {"action": "resend", "rowid": ids[:1]}))
    assert deliveries(world["a"]) == before


def test_an_operators_bulk_resend_is_counted_per_merchant(app, client, world):
    """B's spent quota refuses the whole click, and A's share of it is given back."""
    app.config["WEBHOOK_RESEND_PER_MINUTE"] = 2
    login(client, world["operator"])
    (b_delivery,) = deliveries(world["b"])
    for _ in range(2):
        assert post_form(client, "/admin/postbacks/", "/admin/postbacks/resend/", {"id": b_delivery}).status_code == 302
    a_ids = sorted(deliveries(world["a"]))
    before_a, before_b = deliveries(world["a"]), deliveries(world["b"])
    assert_refused(post_form(client, "/admin/postbacks/", "/admin/postbacks/action/",
                             {"action": "resend", "rowid": a_ids + [b_delivery]}))
    assert deliveries(world["a"]) == before_a and deliveries(world["b"]) == before_b
    # A's quota is whole again: its two deliveries go.
    response = post_form(client, "/admin/postbacks/", "/admin/postbacks/action/", {"action": "resend", "rowid": a_ids})
    assert response.status_code == 302
    assert all(deliveries(world["a"])[i] == before_a[i] + 1 for i in a_ids)


def test_transactions_resend_postback_action(app, client, world):
    app.config["WEBHOOK_RESEND_PER_MINUTE"] = 3
    login(client, world["operator"])
    tx = world["tx"]
    data = {"action": "resend_postback", "rowid": [tx.id]}
    assert post_form(client, "/admin/transactions/", "/admin/transactions/action/", data).status_code == 302
    before = deliveries(world["a"])  # 2 of 3 taken: the event has two endpoints
    Transaction.update(postback_status="error").where(Transaction.id == tx.id).execute()
    assert_refused(post_form(client, "/admin/transactions/", "/admin/transactions/action/", data))
    assert deliveries(world["a"]) == before and Transaction.get_by_id(tx.id).postback_status == "error"


def test_withdrawals_resend_postback_action(app, client, world):
    app.config["WEBHOOK_RESEND_PER_MINUTE"] = 1
    a = world["a"]
    w = factories.withdrawal(a, factories.payment_system("upay", "BDT"), amount="10.00", postback_status="error")
    with db.atomic():
        service.create_event(a, "withdrawal.approved", {"id": w.id}, "withdrawal", w.id, mark_objects=False)
    Postback.update(status="error").where(Postback.object_type == "withdrawal").execute()
    login(client, world["operator"])
    before = deliveries(a)
    assert_refused(post_form(client, "/admin/withdrawals/", "/admin/withdrawals/action/",
                             {"action": "resend_postback", "rowid": [w.id]}))  # two endpoints, limit one
    assert deliveries(a) == before


def test_send_test_from_postbacks_system_and_webhooks(app, client, world):
    app.config["WEBHOOK_TEST_PER_MINUTE"] = 1
    login(client, world["owner"])
    assert post_form(client, "/admin/postbacks/", "/admin/postbacks/test/", {}).status_code == 302
    assert Event.select().where(Event.event_type == "test").count() == 1
    text = assert_refused(post_form(client, "/admin/settings/system/", "/admin/postbacks/test/",
                                    {"next": "/admin/settings/system/"}))
    assert "Too many test postbacks: at most 1 a minute." in text and 'href="/admin/settings/system/"' in text
    endpoint = world["second_a"]
    page = f"/admin/webhooks/details/?id={endpoint.id}"
    assert_refused(post_form(client, page, f"/admin/webhooks/test/?id={endpoint.id}", {}))
    assert Event.select().where(Event.event_type == "test").count() == 1  # nothing more was written


def test_another_merchants_quota_is_its_own(app, client, world):
    app.config["WEBHOOK_TEST_PER_MINUTE"] = 1
    login(client, world["operator"])
    for merchant in (world["a"], world["b"]):
        response = post_form(client, "/admin/postbacks/", "/admin/postbacks/test/", {"merchant_id": merchant.id})
        assert response.status_code == 302
    assert_refused(post_form(client, "/admin/postbacks/", "/admin/postbacks/test/", {"merchant_id": world["b"].id}))
