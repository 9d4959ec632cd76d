"""Merchant API: ``GET /api/v1/events`` and ``GET /api/v1/events/<id>`` (SPEC §10) —
the shape with deliveries after real deliveries, filters, scoping, bad parameters,
and a walk through 100,000 events with the cursor while new ones keep arriving."""
import datetime
import json
import re

import pytest
import schemathesis
from schemathesis.checks import load_all_checks

import factories
from http_receiver import Receiver, run_queued_jobs
from backoffice.db import db
from backoffice.models import Event, Postback, PostbackAttempt, utcnow
from backoffice.services import postbacks
from backoffice.timeutil import iso_z

load_all_checks()
from schemathesis import checks as st_checks  # noqa: E402 - the built-ins exist once loaded

ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
FIELDS = ("event_id", "merchant", "event_type", "object_type", "object_id", "payload", "created_at")


@pytest.fixture
def world(conn):
    m = factories.merchant(timezone="Asia/Kolkata")
    other = factories.merchant()
    return dict(m=m, other=other, headers={"Authorization": f"Bearer {m.api_key}"},
                other_headers={"Authorization": f"Bearer {other.api_key}"})


@pytest.fixture
def receivers():
    made = []

    def make():
        made.append(Receiver())
        return made[-1]

    yield make
    for r in made:
        r.close()


def row(merchant_id, event_id, created_at, event_type="deposit.completed", data=None):
    """An Event row as ``postbacks.create_event`` writes it (a tuple in ``FIELDS`` order)."""
    created = created_at.isoformat(timespec="seconds") + "Z"
    payload = json.dumps({"id": event_id, "type": event_type, "created_at": created,
                          "data": data if data is not None else {"merchant_id": merchant_id}},
                         separators=(",", ":"), sort_keys=True)
    return (event_id, merchant_id, event_type, None, None, payload, created_at)


def insert(rows, chunk=2000):
    rows = list(rows)
    with db.atomic():
        for start in range(0, len(rows), chunk):
            Event.insert_many(rows[start:start + chunk], fields=[getattr(Event, f) for f in FIELDS]).execute()


def get(client, url, headers):
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def deposit(app, merchant, wallet, label="user-1"):
    with app.app_context():
        with db.atomic():
            tx = factories.transaction(wallet, status="activated", activated_at=utcnow(), label=label)
            data = postbacks.deposit_completed_data(merchant, wallet.payment_system, label, "o-1", tx.currency, [tx])
            return postbacks.create_event(merchant, "deposit.completed", data, "transaction", tx.id)


def test_an_event_shows_its_deliveries_after_real_deliveries(app, client, world, receivers):
    good, bad, filtered = receivers(), receivers(), receivers()
    bad.script = [{"status": 503}]
    m = world["m"]
    ok_endpoint = factories.endpoint(m, good.url)
    failing = factories.endpoint(m, bad.url)
    factories.endpoint(m, filtered.url, event_types=["withdrawal.approved"])
    app.config["POSTBACK_BACKOFF"] = (3600, 3600)  # one attempt now, the retry much later
    event = deposit(app, m, factories.wallet(m))
    body = get(client, f"/api/v1/events/{event.event_id}", world["headers"])
    assert [(d["endpoint_id"], d["status"], d["attempts"], d["last_attempt_at"], d["last_http_status"])
            for d in body["deliveries"]] == [(ok_endpoint.id, "pending", 0, None, None),
                                             (failing.id, "pending", 0, None, None)]
    run_queued_jobs(app)
    body = get(client, f"/api/v1/events/{event.event_id}", world["headers"])
    assert set(body) == {"id", "type", "created_at", "data", "deliveries"}
    assert body["id"] == event.event_id and body["type"] == "deposit.completed" and ISO_Z.fullmatch(body["created_at"])
    # The same event its webhooks carried (webhook-id, body).
    sent = json.loads(good.requests[0]["body"])
    assert good.requests[0]["headers"]["webhook-id"] == event.event_id
    assert {k: body[k] for k in ("id", "type", "created_at", "data")} == sent
    deliveries = {d["endpoint_id"]: d for d in body["deliveries"]}
    assert set(deliveries) == {ok_endpoint.id, failing.id} and filtered.requests == []
    done, pending = deliveries[ok_endpoint.id], deliveries[failing.id]
    assert (done["status"], done["attempts"], done["last_http_status"]) == ("sent", 1, 200)
    assert (pending["status"], pending["attempts"], pending["last_http_status"]) == ("pending", 1, 503)
    for endpoint_id, d in deliveries.items():
        attempt = (PostbackAttempt.select().join(Postback)
                   .where((Postback.event_id == event.event_id) & (Postback.endpoint == endpoint_id)).get())
        assert d["last_attempt_at"] == iso_z(attempt.attempted_at) and ISO_Z.fullmatch(d["last_attempt_at"])
    # A list item has the same shape, deliveries included.
    listed = get(client, "/api/v1/events", world["headers"])
    assert listed == {"items": [body], "next": None}


def test_an_event_no_endpoint_took_has_no_deliveries(app, client, world):
    event = deposit(app, world["m"], factories.wallet(world["m"]))
    body = get(client, f"/api/v1/events/{event.event_id}", world["headers"])
    assert body["deliveries"] == [] and body["data"]["label"] == "user-1"


def test_another_merchants_event_is_not_found(app, client, world):
    theirs = deposit(app, world["other"], factories.wallet(world["other"]))
    mine = deposit(app, world["m"], factories.wallet(world["m"]))
    for event_id in (theirs.event_id, "evt_nope", "x" * 65, "%00"):
        response = client.get(f"/api/v1/events/{event_id}", headers=world["headers"])
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found", event_id
    assert [i["id"] for i in get(client, "/api/v1/events", world["headers"])["items"]] == [mine.event_id]
    assert [i["id"] for i in get(client, "/api/v1/events", world["other_headers"])["items"]] == [theirs.event_id]
    # A cursor is a place in the order of arrival, never a way into another merchant's events.
    for cursor in (theirs.id + 1, mine.id + 1, mine.id + 1000):
        page = get(client, f"/api/v1/events?cursor={cursor}", world["headers"])["items"]
        assert [i["id"] for i in page] == ([mine.event_id] if cursor > mine.id else [])


def test_newest_first_with_type_filter_and_small_pages(client, world):
    mid, base = world["m"].id, datetime.datetime(2026, 3, 9, 10, 0)
    types = ["deposit.completed", "withdrawal.approved", "test", "deposit.completed", "withdrawal.rejected"]
    insert(row(mid, f"evt_{n}", base + datetime.timedelta(minutes=n), t) for n, t in enumerate(types))
    body = get(client, "/api/v1/events", world["headers"])
    assert [i["id"] for i in body["items"]] == ["evt_4", "evt_3", "evt_2", "evt_1", "evt_0"]
    assert body["items"][0]["created_at"] == "2026-03-09T10:04:00Z" and body["next"] is None
    body = get(client, "/api/v1/events?type=deposit.completed", world["headers"])
    assert [i["id"] for i in body["items"]] == ["evt_3", "evt_0"]
    seen, cursor = [], None
    while True:
        body = get(client, "/api/v1/events?limit=2" + (f"&cursor={cursor}" if cursor else ""), world["headers"])
        seen += [i["id"] for i in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == ["evt_4", "evt_3", "evt_2", "evt_1", "evt_0"]
    # The same cursor gives the same page again.
    first = get(client, "/api/v1/events?limit=2", world["headers"])
    again = [get(client, f"/api/v1/events?limit=2&cursor={first['next']}", world["headers"]) for _ in range(2)]
    assert again[0] == again[1] and [i["id"] for i in again[0]["items"]] == ["evt_2", "evt_1"]


def test_since_and_until_days_of_the_merchant_and_instants(client, world):
    mid = world["m"].id
    # Kolkata is UTC+5:30: 2026-03-09T19:00Z is the 10th there, 00:30.
    times = {"a": datetime.datetime(2026, 3, 9, 18, 0), "b": datetime.datetime(2026, 3, 9, 19, 0),
             "c": datetime.datetime(2026, 3, 10, 12, 0), "d": datetime.datetime(2026, 3, 10, 18, 30),
             "e": datetime.datetime(2026, 3, 11, 9, 0)}
    insert(row(mid, f"evt_{name}", at) for name, at in times.items())

    def ids(query):
        return [i["id"][4:] for i in get(client, "/api/v1/events?" + query, world["headers"])["items"]]

    assert ids("since=2026-03-10&until=2026-03-10") == ["c", "b"]  # the 10th in Kolkata, both ends included
    assert ids("since=2026-03-10") == ["e", "d", "c", "b"]
    assert ids("until=2026-03-09") == ["a"]
    # Instants: since included, until excluded; an offset of any zone.
    assert ids("since=2026-03-09T19:00:00Z&until=2026-03-10T18:30:00Z") == ["c", "b"]
    assert ids("since=2026-03-10T17:30%2B05:30") == ["e", "d", "c"]
    assert ids("since=2026-03-10T12:00Z&until=2026-03-10T12:00:00.000001Z") == ["c"]


@pytest.mark.parametrize("query,field", [
    ("type=deposit", "type"), ("type=", "type"), ("since=yesterday", "since"), ("since=2026-03-10T12:00:00", "since"),
    ("since=2026-02-30", "since"), ("since=0001-01-01", "since"), ("until=2026-03-10T25:00:00Z", "until"),
    ("since=2026-03-10T12:00:00 05:30", "since"), ("until=", "until"), ("since=2026-03-11&until=2026-03-10", "since"),
    ("since=2026-03-10T12:00:00Z&until=2026-03-10T12:00:00Z", "since"),
    ("since=2026-03-10T12:00:00Z&until=2026-03-09", "since"),
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=x", "limit"), ("cursor=abc", "cursor"),
    ("cursor=0", "cursor"), ("cursor=99999999999999999999", "cursor"), ("cursor=", "cursor"), ("page=2", "page"),
    ("since=" + "2" * 41, "since"),
])
def test_bad_parameters_are_named(client, world, query, field):
    response = client.get("/api/v1/events?" + query, headers=world["headers"])
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request" and field in [d["field"] for d in error["details"]]


def test_both_need_the_api_key(client, world):
    for url in ("/api/v1/events", "/api/v1/events/evt_x"):
        assert client.get(url).status_code == 401
        assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_paging_100k_events_while_new_ones_arrive_sees_each_once(client, world):
    """Every event that existed when the walk began is seen exactly once, in order, with
    new events (the merchant's and another merchant's) inserted between every two pages."""
    mid, oid = world["m"].id, world["other"].id
    total, base = 100_000, datetime.datetime(2026, 1, 1)

    def batch(merchant_id, tag, first, count, start):
        return [row(merchant_id, f"evt_{tag}{n:09d}", start + datetime.timedelta(seconds=n))
                for n in range(first, first + count)]

    # The other merchant's events interleave with ours in id order.
    rows = []
    for first in range(0, total, 5000):
        rows += batch(mid, "m", first, 5000, base) + batch(oid, "o", first, 100, base)
    insert(rows)
    existing = [f"evt_m{n:09d}" for n in reversed(range(total))]  # newest first

    seen, cursor, arrived, pages = [], None, total, 0
    while True:
        body = get(client, "/api/v1/events?limit=500" + (f"&cursor={cursor}" if cursor else ""), world["headers"])
        seen += [item["id"] for item in body["items"]]
        pages += 1
        # New events arrive between the pages (later ids, later times).
        insert(batch(mid, "m", arrived, 50, base) + batch(oid, "o", total + pages * 10, 10, base))
        arrived += 50
        cursor = body["next"]
        if cursor is None:
            break
    assert pages == total // 500
    assert len(seen) == len(set(seen))  # no duplicates
    assert seen == existing  # no gaps: each event once, newest first, none of the new ones and no one else's
    # The new events are at the front of a fresh walk.
    first = get(client, "/api/v1/events?limit=500", world["headers"])["items"]
    assert first[0]["id"] == f"evt_m{arrived - 1:09d}" and first[-1]["id"] == f"evt_m{arrived - 500:09d}"


def test_the_answers_match_the_openapi_document(app, client, world, receivers):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    checks = [st_checks.status_code_conformance, st_checks.response_schema_conformance]
    r = receivers()
    factories.endpoint(world["m"], r.url)
    event = deposit(app, world["m"], factories.wallet(world["m"]))
    with app.app_context():
        postbacks.send_test(world["m"])
    run_queued_jobs(app)
    for path, query, path_parameters in (
            ("/api/v1/events", {"limit": "1"}, None), ("/api/v1/events", {"type": "nope"}, None),
            ("/api/v1/events/{event_id}", None, {"event_id": event.event_id}),
            ("/api/v1/events/{event_id}", None, {"event_id": "evt_nope"})):
        operation = schema[path]["GET"]
        kwargs = {}
        if query:
            kwargs["query"] = query
        if path_parameters:
            kwargs["path_parameters"] = path_parameters
        url = path.replace("{event_id}", (path_parameters or {}).get("event_id", ""))
        response = client.get(url, query_string=query or {}, headers=world["headers"])
        operation.Case(**kwargs).validate_response(response, checks=checks)
