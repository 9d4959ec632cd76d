"""Migration 0011 on a database made by the previous release (migrations up to 0010):
each merchant's ``postback_url`` / ``postback_secret`` (and a rotated secret still in its
grace period) become its first webhook endpoint, which takes over its postbacks; every
postback becomes an event; a merchant without a URL gets no endpoint and its pending
postbacks end as errors; the merchant's four postback columns are gone.

The old schema is written to with plain SQL; the result is read through today's models
(bound to the old database), so it is also read the way the code will read it."""
import datetime
import json

from playhouse.migrations import Runner

from backoffice.db import MIGRATIONS_DIR
from backoffice.models import Event, Merchant, Postback, Transaction, WebhookEndpoint, Withdrawal, utcnow
from backoffice.services import postbacks, webhooks
from migration_support import T0, insert, old_database  # noqa: F401 - a fixture

MODELS = [Merchant, WebhookEndpoint, Event, Postback, Transaction, Withdrawal]
OLD_COLUMNS = {"postback_url", "postback_secret", "previous_postback_secret", "previous_postback_secret_until"}


def at(minutes):
    return T0 + datetime.timedelta(minutes=minutes)


def payload(event_id, event_type, data):
    return json.dumps({"id": event_id, "type": event_type, "created_at": "2026-11-01T08:00:00Z", "data": data},
                      separators=(",", ":"), sort_keys=True)


def postback(database, merchant, event_id, event_type, status, object_type=None, object_id=None, minute=0,
             **fields):
    values = dict(event_id=event_id, merchant_id=merchant, event_type=event_type, object_type=object_type,
                  object_id=object_id, payload=payload(event_id, event_type, {"object": object_id}), status=status,
                  attempts=0, delivery=1, created_at=at(minute), next_attempt_at=at(minute))
    values.update(fields)
    return insert(database, "postback", **values)


def build_history(database, grace_until):
    """Two merchants with a URL (one in a secret rotation's grace period), one without;
    postbacks pending, sent and failed, about deposits and withdrawals."""
    bkash = insert(database, "payment_system", code="bkash", name="bKash", currency="BDT", active=True,
                   withdrawal_fields="[]")
    hooked = insert(database, "merchant", name="Hooked", public_key="pk_1", api_key="sk_1", timezone="UTC",
                    active=True, created_at=at(-600), postback_url="https://shop.example.com/hooks/bo",
                    postback_secret="whsec_bmV3LXNlY3JldC1ieXRlcw==",
                    previous_postback_secret="whsec_b2xkLXNlY3JldC1ieXRlcw==",
                    previous_postback_secret_until=grace_until)
    plain = insert(database, "merchant", name="Plain", public_key="pk_2", api_key="sk_2", timezone="UTC",
                   active=True, created_at=at(-300), postback_url="https://plain.example.com/pb",
                   postback_secret="whsec_cGxhaW4tc2VjcmV0")
    quiet = insert(database, "merchant", name="Quiet", public_key="pk_3", api_key="sk_3", timezone="UTC",
                   active=True, created_at=at(-100), postback_url="", postback_secret="whsec_cXVpZXQ=")
    wallets = {m: insert(database, "wallet", merchant_id=m, payment_system_id=bkash, identifier=f"w{m}",
                         number=f"017{m:08d}", active=True) for m in (hooked, plain, quiet)}

    def deposit(merchant, number, postback_status, **fields):
        return insert(database, "transaction", wallet_id=wallets[merchant], payment_system_id=bkash,
                      merchant_id=merchant, amount="600.00", commission="0.00", currency="BDT",
                      transaction_number=number, direction="incoming", type="auto", originality="normal",
                      status="activated", postback_status=postback_status, created_at=at(0), activated_at=at(1),
                      **fields)

    def withdrawal(merchant, number, postback_status):
        return insert(database, "withdrawal", merchant_id=merchant, payment_system_id=bkash, withdrawal_id=number,
                      amount="100.00", currency="BDT", status="approved", fields="{}", request_kind="api",
                      created_at=at(2), decided_at=at(3), postback_status=postback_status)

    h_sent_tx, h_pending_tx = deposit(hooked, "H1", "sent"), deposit(hooked, "H2", "pending")
    q_sent_tx, q_pending_tx = deposit(quiet, "Q1", "sent"), deposit(quiet, "Q2", "pending")
    q_pending_wd = withdrawal(quiet, "wd-q", "pending")
    q_pool = insert(database, "stockpiling", merchant_id=quiet, payment_system_id=bkash, label="v", currency="BDT",
                    required_amount="500.00", accumulated_amount="1200.00", status="completed", created_at=at(0),
                    completed_at=at(4))
    q_pooled = [deposit(quiet, f"QS{n}", "pending", stockpiling_id=q_pool) for n in range(2)]
    rows = {
        "h_sent": postback(database, hooked, "evt_h_sent", "deposit.completed", "sent", "transaction", h_sent_tx,
                           minute=1, attempts=1, last_http_status=200, sent_at=at(2)),
        "h_pending": postback(database, hooked, "evt_h_pending", "deposit.completed", "pending", "transaction",
                              h_pending_tx, minute=5, attempts=2, last_http_status=503, next_attempt_at=at(35)),
        "h_error": postback(database, hooked, "evt_h_error", "test", "error", minute=6, attempts=9,
                            last_error="timeout after 10 s"),
        "p_pending": postback(database, plain, "evt_p_pending", "test", "pending", minute=7,
                              locked_until=at(8)),  # a worker of the old release held it
        "q_sent": postback(database, quiet, "evt_q_sent", "deposit.completed", "sent", "transaction", q_sent_tx,
                           minute=1, attempts=1, sent_at=at(2)),  # sent while it had a URL
        "q_pending": postback(database, quiet, "evt_q_pending", "deposit.completed", "pending", "transaction",
                              q_pending_tx, minute=9, attempts=3, locked_until=at(10)),
        "q_pending_wd": postback(database, quiet, "evt_q_wd", "withdrawal.approved", "pending", "withdrawal",
                                 q_pending_wd, minute=9),
        "q_pending_pool": postback(database, quiet, "evt_q_pool", "deposit.completed", "pending", "stockpiling",
                                   q_pool, minute=9),
    }
    insert(database, "postback_attempt", postback_id=rows["h_sent"], attempted_at=at(2), http_status=200,
           duration_ms=12, response_excerpt="ok", delivery=1)
    ids = dict(hooked=hooked, plain=plain, quiet=quiet, q_sent_tx=q_sent_tx, q_pending_tx=q_pending_tx,
               q_pending_wd=q_pending_wd, h_pending_tx=h_pending_tx, q_pooled=q_pooled)
    return ids, rows


def postback_status(database, table, row_id):
    """Read with SQL: later migrations add columns the models of today would select."""
    return database.execute_sql(f'SELECT "postback_status" FROM "{table}" WHERE "id" = {database.param}',
                                (row_id,)).fetchone()[0]


def test_the_postback_url_becomes_the_first_endpoint(old_database):
    runner = Runner(old_database, MIGRATIONS_DIR)
    runner.up("0010_secret_attempts")
    now = utcnow()
    grace_until = now + datetime.timedelta(hours=12)  # a rotation's grace period, still running
    ids, rows = build_history(old_database, grace_until)
    old_postbacks = {r[0]: r for r in old_database.execute_sql(
        'SELECT "id", "event_id", "merchant_id", "event_type", "object_type", "object_id", "payload", "status", '
        '"attempts", "next_attempt_at", "delivery" FROM "postback"').fetchall()}

    assert runner.up("0011_webhook_endpoints") == ["0011_webhook_endpoints"]

    assert not OLD_COLUMNS & {c.name for c in old_database.get_columns("merchant")}
    with old_database.bind_ctx(MODELS):
        # One endpoint per merchant that had a URL, with its URL, its secret and the
        # rotated secret still signing until the grace period ends.
        endpoints = {e.merchant_id: e for e in WebhookEndpoint.select()}
        assert set(endpoints) == {ids["hooked"], ids["plain"]}
        hooked = endpoints[ids["hooked"]]
        assert (hooked.url, hooked.secret, hooked.previous_secret) == (
            "https://shop.example.com/hooks/bo", "whsec_bmV3LXNlY3JldC1ieXRlcw==", "whsec_b2xkLXNlY3JldC1ieXRlcw==")
        assert abs((hooked.previous_secret_until - grace_until).total_seconds()) < 1
        assert hooked.enabled and hooked.disabled_reason is None and hooked.event_types == []
        assert hooked.consecutive_failures == 0 and hooked.circuit_until is None
        assert webhooks.signing_secrets(hooked, now=now) == [hooked.secret, hooked.previous_secret]
        assert webhooks.signing_secrets(hooked, now=now + datetime.timedelta(hours=13)) == [hooked.secret]
        plain = endpoints[ids["plain"]]
        assert (plain.url, plain.secret, plain.previous_secret) == (
            "https://plain.example.com/pb", "whsec_cGxhaW4tc2VjcmV0", None)
        assert postbacks.takes(plain, "deposit.completed") and postbacks.takes(plain, "test")

        # Every postback became an event with the same id, type, object and payload.
        events = {e.event_id: e for e in Event.select()}
        assert set(events) == {row[1] for row in old_postbacks.values()}
        for pid, event_id, merchant, event_type, object_type, object_id, body, *_rest in old_postbacks.values():
            event = events[event_id]
            assert (event.merchant_id, event.event_type, event.object_type, event.object_id, event.payload) == (
                merchant, event_type, object_type, object_id, body)
            assert json.loads(event.payload)["id"] == event_id

        # The merchants' postbacks are deliveries to their endpoint, in the state they were.
        deliveries = {p.id: p for p in Postback.select()}
        for name in ("h_sent", "h_pending", "h_error"):
            assert deliveries[rows[name]].endpoint_id == hooked.id
        assert deliveries[rows["p_pending"]].endpoint_id == plain.id
        for pid, (_id, _event, _m, _t, _ot, _oi, _body, status, attempts, next_at, delivery) in old_postbacks.items():
            row = deliveries[pid]
            if row.endpoint_id is not None:
                assert (row.status, row.attempts, row.delivery) == (status, attempts, delivery)
        pending = deliveries[rows["h_pending"]]
        assert pending.status == "pending" and pending.next_attempt_at == at(35)  # its retry keeps its time
        assert postback_status(old_database, "transaction", ids["h_pending_tx"]) == "pending"

        # No URL: no endpoint; what was pending had nowhere to go and is an error,
        # and its deposit / withdrawal says so; what was sent stays sent.
        for name in ("q_pending", "q_pending_wd", "q_pending_pool"):
            row = deliveries[rows[name]]
            assert (row.endpoint_id, row.status, row.locked_until) == (None, "error", None)
            assert row.last_error == "no postback URL is set"
        assert (deliveries[rows["q_sent"]].endpoint_id, deliveries[rows["q_sent"]].status) == (None, "sent")
        assert postback_status(old_database, "transaction", ids["q_pending_tx"]) == "error"
        assert postback_status(old_database, "withdrawal", ids["q_pending_wd"]) == "error"
        assert {postback_status(old_database, "transaction", t) for t in ids["q_pooled"]} == {"error"}
        assert postback_status(old_database, "transaction", ids["q_sent_tx"]) == "sent"

        # An event may now go to several endpoints: one delivery per endpoint.
        second = WebhookEndpoint.create(merchant=ids["hooked"], url="https://shop.example.com/second",
                                        secret="whsec_c2Vjb25k")
        old = deliveries[rows["h_sent"]]
        Postback.create(event_id=old.event_id, merchant=old.merchant_id, endpoint=second.id,
                        event_type=old.event_type, payload=old.payload, status="pending", next_attempt_at=now)
        assert Postback.select().where(Postback.event_id == old.event_id).count() == 2

    assert all(name > "0011" for name in runner.up())  # the later migrations apply on top
