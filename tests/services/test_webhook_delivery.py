"""Webhook endpoints end to end (SPEC §10): fan-out, rotation, the circuit breaker,
auto-disable, recovery and the fairness of the dispatcher, with real HTTP receivers."""
import datetime
import json

import pytest
from rq.cron import CronScheduler
from standardwebhooks.webhooks import Webhook

import factories
from http_receiver import Receiver
from backoffice.db import db
from backoffice.jobs import postbacks as jobs
from backoffice.models import AuditLog, Event, Postback, Transaction, WebhookEndpoint, utcnow
from backoffice.queues import redis_connection
from backoffice.services import postback_delivery as delivery
from backoffice.services import postbacks as service
from backoffice.services import webhooks


@pytest.fixture
def receivers():
    made = []

    def make():
        r = Receiver()
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def deposit(merchant, wallet, label="user-1"):
    with db.atomic():
        tx = factories.transaction(wallet, status="activated", activated_at=utcnow(), label=label)
        data = service.deposit_completed_data(merchant, wallet.payment_system, label, "o-1", tx.currency, [tx])
        event = service.create_event(merchant, "deposit.completed", data, object_type="transaction", object_id=tx.id)
    return tx, event


def deliveries(event):
    return list(Postback.select().where(Postback.event_id == event.event_id).order_by(Postback.id))


def status_of(tx):
    return Transaction.get_by_id(tx.id).postback_status


def test_an_event_reaches_the_endpoints_whose_filter_takes_it(ctx, receivers):
    m = factories.merchant()
    w = factories.wallet(m)
    a, b, c = receivers(), receivers(), receivers()
    factories.endpoint(m, a.url)  # every type
    factories.endpoint(m, b.url, event_types=["deposit.completed", "withdrawal.approved"])
    factories.endpoint(m, c.url, event_types=["withdrawal.approved"])
    tx, event = deposit(m, w)
    assert len(deliveries(event)) == 2 and status_of(tx) == "pending"
    assert delivery.deliver_due(ctx.config) == {"sent": 2}
    ids = {r.requests[0]["headers"]["webhook-id"] for r in (a, b)}
    assert ids == {event.event_id}
    assert c.requests == []
    assert json.loads(a.requests[0]["body"]) == json.loads(b.requests[0]["body"])
    assert status_of(tx) == "sent"


def test_the_status_waits_for_every_delivery_and_an_error_wins(ctx, receivers):
    m = factories.merchant()
    w = factories.wallet(m)
    good, bad = receivers(), receivers()
    bad.script = [{"status": 500}]
    factories.endpoint(m, good.url)
    factories.endpoint(m, bad.url)
    ctx.config["POSTBACK_BACKOFF"] = (0,)  # one retry, then error
    tx, event = deposit(m, w)
    delivery.deliver_due(ctx.config)
    assert sorted(p.status for p in deliveries(event)) == ["error", "sent"]
    assert status_of(tx) == "error"


def test_no_endpoint_means_error_at_once_and_nothing_pending(ctx):
    m = factories.merchant()
    w = factories.wallet(m)
    tx, event = deposit(m, w)
    assert deliveries(event) == [] and status_of(tx) == "error"
    assert Event.get(Event.event_id == event.event_id).event_type == "deposit.completed"


def test_a_disabled_endpoint_gets_nothing(ctx, receivers):
    m = factories.merchant()
    w = factories.wallet(m)
    r = receivers()
    factories.endpoint(m, r.url, enabled=False, disabled_reason="merchant")
    tx, event = deposit(m, w)
    assert deliveries(event) == [] and status_of(tx) == "error"


def test_during_a_rotation_both_signatures_verify(ctx, receivers):
    m = factories.merchant()
    w = factories.wallet(m)
    r = receivers()
    endpoint, old = factories.endpoint(m, r.url), None
    old = endpoint.secret
    new = webhooks.rotate_secret(endpoint, None)
    deposit(m, w)
    delivery.deliver_due(ctx.config)
    request = r.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        assert Webhook(secret).verify(request["body"], headers)["type"] == "deposit.completed"
    # After the grace period only the new secret signs.
    later = utcnow() + datetime.timedelta(hours=25)
    assert webhooks.signing_secrets(WebhookEndpoint.get_by_id(endpoint.id), now=later) == [new]


def test_five_failures_in_a_row_open_the_circuit_then_one_probe(ctx, receivers):
    m = factories.merchant()
    w = factories.wallet(m)
    r = receivers()
    r.script = [{"status": 503}]
    endpoint = factories.endpoint(m, r.url)
    # No immediate retries (one attempt per event); the circuit's first wait is step 2: 7 s.
    ctx.config["POSTBACK_BACKOFF"] = (3600, 7, 3600, 3600)
    ctx.config["POSTBACK_JITTER"] = 0
    for n in range(5):
        deposit(m, w, label=f"user-{n}")
    delivery.deliver_due(ctx.config)
    assert len(r.requests) == 5
    ep = WebhookEndpoint.get_by_id(endpoint.id)
    assert ep.consecutive_failures == 5 and ep.circuit_until is not None
    opened_for = (ep.circuit_until - utcnow()).total_seconds()
    assert 5 < opened_for <= 7  # the back-off schedule's second step
    # New events wait while the circuit is open.
    deposit(m, w, label="user-new")
    delivery.deliver_due(ctx.config)
    assert len(r.requests) == 5
    # At the circuit's time (every delivery due by then too): one probe, not six.
    later = utcnow() + datetime.timedelta(hours=2)
    delivery.deliver_due(ctx.config, now=later)
    assert len(r.requests) == 6
    ep = WebhookEndpoint.get_by_id(endpoint.id)
    assert ep.consecutive_failures == 6 and ep.circuit_until > later
    # The endpoint answers again: the next probe succeeds and the rest follow.
    r.script = [{"status": 200}]
    r.requests.clear()
    much_later = ep.circuit_until + datetime.timedelta(seconds=1)
    delivery.deliver_due(ctx.config, now=much_later)
    assert len(r.requests) == 6
    ep = WebhookEndpoint.get_by_id(endpoint.id)
    assert ep.consecutive_failures == 0 and ep.circuit_until is None and ep.failing_since is None


def test_an_endpoint_failing_for_five_days_is_disabled(ctx, receivers):
    m = factories.merchant()
    w = factories.wallet(m)
    r = receivers()
    r.script = [{"status": 500}]
    endpoint = factories.endpoint(m, r.url)
    tx, _event = deposit(m, w)
    delivery.deliver_due(ctx.config)
    ep = WebhookEndpoint.get_by_id(endpoint.id)
    assert ep.failing_since is not None
    assert webhooks.auto_disable(ctx.config, now=ep.failing_since + datetime.timedelta(days=4, hours=23)) == []
    done = webhooks.auto_disable(ctx.config, now=ep.failing_since + datetime.timedelta(days=5, seconds=1))
    assert [e.id for e in done] == [endpoint.id]
    ep = WebhookEndpoint.get_by_id(endpoint.id)
    assert not ep.enabled and ep.disabled_reason == "failing"
    assert [e.id for e in webhooks.disabled_for_failing(m)] == [endpoint.id]
    assert AuditLog.select().where(AuditLog.action == "webhook_endpoint.auto_disable").count() == 1
    # Its pending delivery ended as error, and the deposit says so.
    assert Postback.get(Postback.endpoint == endpoint.id).status == "error"
    assert status_of(tx) == "error"


def test_a_2xx_ends_the_failing_streak(ctx, receivers):
    m = factories.merchant()
    w = factories.wallet(m)
    r = receivers()
    r.script = [{"status": 500}, {"status": 200}]
    endpoint = factories.endpoint(m, r.url)
    deposit(m, w)
    delivery.deliver_due(ctx.config)  # 500, then the immediate retry: 200
    ep = WebhookEndpoint.get_by_id(endpoint.id)
    assert ep.failing_since is None and ep.consecutive_failures == 0 and ep.last_success_at is not None


def test_recover_since_sends_exactly_the_missed_events(ctx, receivers):
    m = factories.merchant()
    w = factories.wallet(m)
    r = receivers()
    endpoint = factories.endpoint(m, r.url, event_types=["deposit.completed"])
    endpoint.created_at = utcnow() - datetime.timedelta(days=30)
    endpoint.save()
    _tx, delivered = deposit(m, w, label="before")
    delivery.deliver_due(ctx.config)
    assert len(r.requests) == 1
    webhooks.disable(endpoint, "merchant", None)
    since = utcnow()
    missed = [deposit(m, w, label=f"missed-{n}")[1] for n in range(3)]
    with db.atomic():  # a type its filter leaves out, and a test event: not re-sent
        service.create_event(m, "withdrawal.approved", {"id": 1}, object_type="withdrawal", object_id=1)
        service.create_event(m, "test", {"message": "t"})
    r.requests.clear()
    ep = WebhookEndpoint.get_by_id(endpoint.id)
    assert webhooks.recover(ep, since - datetime.timedelta(seconds=1), None) == 3
    delivery.deliver_due(ctx.config)
    got = sorted(req["headers"]["webhook-id"] for req in r.requests)
    assert got == sorted(e.event_id for e in missed)
    assert delivered.event_id not in got
    # Recovering again sends nothing: it received them all.
    assert webhooks.recover(WebhookEndpoint.get_by_id(endpoint.id), since - datetime.timedelta(days=1), None) == 0


def test_round_robin_takes_every_endpoint_before_a_second_of_any(ctx, receivers):
    slow_merchant, fast_merchant = factories.merchant(), factories.merchant()
    slow = factories.endpoint(slow_merchant, "http://127.0.0.1:9/never")
    fast = factories.endpoint(fast_merchant, "http://127.0.0.1:9/fast")
    with db.atomic():
        for n in range(20):  # the slow merchant's backlog came first
            service.create_event(slow_merchant, "test", {"n": n})
        service.create_event(fast_merchant, "test", {"n": 0})
    rows = delivery.due_deliveries(ctx.config, utcnow(), 10)
    endpoints = [row[3] for row in rows]
    assert endpoints[:2] in ([slow.id, fast.id], [fast.id, slow.id])
    assert endpoints.count(slow.id) == 2  # its in-flight cap
    claimed = delivery.dispatch(ctx.config, 10)
    assert len(claimed) == 3
    # Two of the slow endpoint's are in flight: none more of it until one ends.
    assert delivery.due_deliveries(ctx.config, utcnow(), 10) == []


def test_a_merchant_cap_bounds_many_endpoints_of_one_merchant(ctx):
    m = factories.merchant()
    for n in range(5):
        factories.endpoint(m, f"http://127.0.0.1:9/e{n}")
    with db.atomic():
        for n in range(4):
            service.create_event(m, "test", {"n": n})
    assert len(delivery.due_deliveries(ctx.config, utcnow(), 100)) == 4  # POSTBACK_MERCHANT_IN_FLIGHT


def test_resend_and_test_quotas_answer_429_with_retry_after(ctx):
    ctx.config["WEBHOOK_TEST_PER_MINUTE"] = 2
    redis_connection(ctx.config).delete("backoffice:webhooks:quota:test:77")
    webhooks.take_send_quota(ctx.config, 77, "test")
    webhooks.take_send_quota(ctx.config, 77, "test")
    with pytest.raises(webhooks.RateLimited) as caught:
        webhooks.take_send_quota(ctx.config, 77, "test")
    assert caught.value.status == 429 and 1 <= caught.value.retry_after <= 60
    assert caught.value.headers()["Retry-After"] == str(caught.value.retry_after)


def test_endpoint_values_are_checked_field_by_field(ctx):
    m = factories.merchant()
    with pytest.raises(webhooks.WebhookError) as caught:
        webhooks.create_endpoint(m, {"url": "ftp://x", "event_types": ["nope"]}, None)
    assert set(caught.value.fields) == {"url", "event_types"}
    for n in range(webhooks.MAX_ENDPOINTS):
        webhooks.create_endpoint(m, {"url": f"http://127.0.0.1:8080/{n}"}, None)
    with pytest.raises(webhooks.EndpointLimit):
        webhooks.create_endpoint(m, {"url": "http://127.0.0.1:8080/x"}, None)
    assert WebhookEndpoint.select().where(WebhookEndpoint.merchant == m.id).count() == webhooks.MAX_ENDPOINTS


def test_events_past_their_retention_are_deleted_and_their_delivery_log_stays(ctx, receivers):
    m = factories.merchant()
    w = factories.wallet(m)
    r = receivers()
    factories.endpoint(m, r.url)
    _tx, old = deposit(m, w, label="old")
    _tx, fresh = deposit(m, w, label="fresh")
    delivery.deliver_due(ctx.config)
    Event.update(created_at=utcnow() - datetime.timedelta(days=91)).where(Event.id == old.id).execute()
    ctx.config["EVENT_RETENTION_DAYS"] = 90
    assert webhooks.purge_events(ctx.config, batch=1) == 1
    assert [e.event_id for e in Event.select()] == [fresh.event_id]
    assert Postback.select().where(Postback.event_id == old.event_id).count() == 1  # the log keeps it


def test_the_worker_registers_the_webhook_sweeps(app):
    scheduler = CronScheduler(connection=redis_connection(app.config))
    jobs.register_cron(scheduler, app.config)
    names = {job.func.__name__ for job in scheduler.get_jobs()}
    assert {"auto_disable", "purge_events"} <= names


def test_resending_a_delivery_in_flight_keeps_its_slot_and_its_failure_counts(ctx):
    """The adversary's clicks: Resend on its own deliveries while they are in flight must
    not free their endpoint's slots (the attempt still holds a thread), and the attempts
    it overtook still count towards the circuit."""
    m = factories.merchant()
    endpoint = factories.endpoint(m, "http://127.0.0.1:9/slow")
    with db.atomic():
        for n in range(4):
            service.create_event(m, "test", {"n": n})
    claimed = delivery.dispatch(ctx.config, 10)
    assert len(claimed) == 2
    for postback in claimed:
        service.resend(postback)
    assert delivery.due_deliveries(ctx.config, utcnow(), 10) == []  # still two in flight
    status, _delay = service.record_attempt(claimed[0], error="timeout after 10 s")
    assert status == "lost"
    assert WebhookEndpoint.get_by_id(endpoint.id).consecutive_failures == 1
    assert len(delivery.due_deliveries(ctx.config, utcnow(), 10)) == 1  # its slot is free again
