"""Merchant API: webhook endpoints (SPEC §10) over HTTP with the merchant's API key —
CRUD, field errors, the limit, scoping, the secret shown once, rotation verified with
the ``standardwebhooks`` library on a real delivery, and recovery."""
import datetime
import json

import pytest
import schemathesis
from schemathesis.checks import load_all_checks
from standardwebhooks.webhooks import Webhook

import factories
from http_receiver import receiver, redis_of, run_queued_jobs  # noqa: F401 - the fixture
from backoffice.db import db
from backoffice.models import AuditLog, Postback, WebhookEndpoint, utcnow
from backoffice.services import postbacks
from backoffice.services.webhooks import MAX_ENDPOINTS

load_all_checks()
from schemathesis import checks as st_checks  # noqa: E402 - the built-ins exist once loaded

URL = "http://127.0.0.1:8080/hook"
ENDPOINT_KEYS = {"id", "url", "description", "event_types", "enabled", "disabled_reason", "failing_since",
                 "created_at"}


@pytest.fixture
def world(conn):
    m = factories.merchant(timezone="Asia/Kolkata")
    other = factories.merchant()
    return dict(m=m, other=other, headers={"Authorization": f"Bearer {m.api_key}"},
                other_headers={"Authorization": f"Bearer {other.api_key}"})


def create(client, headers, **body):
    body.setdefault("url", URL)
    return client.post("/api/v1/webhook-endpoints", json=body, headers=headers)


def fields_of(response):
    return [d["field"] for d in response.get_json()["error"].get("details", [])]


def no_secret_in(value, *secrets):
    text = json.dumps(value)
    return "secret" not in text and not any(s in text for s in secrets)


def deposit(app, merchant, label="user-1"):
    """A completed deposit's event, written as activation writes it (fanned out)."""
    with app.app_context():
        w = factories.wallet(merchant)
        with db.atomic():
            tx = factories.transaction(w, status="activated", activated_at=utcnow(), label=label)
            data = postbacks.deposit_completed_data(merchant, w.payment_system, label, "o-1", tx.currency, [tx])
            return postbacks.create_event(merchant, "deposit.completed", data, "transaction", tx.id)


def test_create_answers_the_secret_once_and_never_again(client, world):
    response = create(client, world["headers"], description="orders", event_types=["withdrawal.approved",
                                                                                     "deposit.completed"])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    secret = body.pop("secret")
    assert secret.startswith("whsec_") and set(body) == ENDPOINT_KEYS
    assert response.headers["Cache-Control"] == "no-store"
    assert body["url"] == URL and body["description"] == "orders" and body["enabled"] is True
    assert body["event_types"] == ["deposit.completed", "withdrawal.approved"]
    assert body["disabled_reason"] is None and body["failing_since"] is None and body["created_at"].endswith("Z")
    stored = WebhookEndpoint.get_by_id(body["id"])
    assert stored.secret == secret and stored.merchant_id == world["m"].id
    # Never again: not in the list, the endpoint, a change.
    listed = client.get("/api/v1/webhook-endpoints", headers=world["headers"]).get_json()
    assert listed == {"items": [body], "next": None} and no_secret_in(listed, secret)
    one = client.get(f"/api/v1/webhook-endpoints/{body['id']}", headers=world["headers"]).get_json()
    assert one == body
    changed = client.patch(f"/api/v1/webhook-endpoints/{body['id']}", json={"description": "x"},
                           headers=world["headers"]).get_json()
    assert no_secret_in(changed, secret)
    # Audited without a user (the API key acts for the merchant), secret-free.
    entry = AuditLog.get(AuditLog.action == "webhook_endpoint.create")
    assert entry.user_id is None and entry.merchant_id == world["m"].id and secret not in json.dumps(entry.summary)


def test_change_disable_enable_and_delete(client, world):
    created = create(client, world["headers"]).get_json()
    path = f"/api/v1/webhook-endpoints/{created['id']}"
    response = client.patch(path, headers=world["headers"], json={
        "url": "http://127.0.0.1:8443/other", "description": "  ledger sync ", "event_types": ["deposit.reversed"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["url"], body["description"], body["event_types"]) == (
        "http://127.0.0.1:8443/other", "ledger sync", ["deposit.reversed"])
    # Only the fields sent change; an empty filter means every type, an empty description clears it.
    body = client.patch(path, headers=world["headers"], json={"event_types": [], "description": ""}).get_json()
    assert body["event_types"] == [] and body["description"] == "" and body["url"] == "http://127.0.0.1:8443/other"
    body = client.patch(path, headers=world["headers"], json={"enabled": False}).get_json()
    assert body["enabled"] is False and body["disabled_reason"] == "merchant"
    WebhookEndpoint.update(failing_since=datetime.datetime(2026, 1, 1)).where(
        WebhookEndpoint.id == created["id"]).execute()
    assert client.get(path, headers=world["headers"]).get_json()["failing_since"] == "2026-01-01T00:00:00Z"
    body = client.patch(path, headers=world["headers"], json={"enabled": True}).get_json()
    assert body["enabled"] is True and body["disabled_reason"] is None and body["failing_since"] is None
    assert client.patch(path, headers=world["headers"], json={}).get_json() == body  # nothing to change
    actions = [a for (a,) in AuditLog.select(AuditLog.action).order_by(AuditLog.id).tuples()]
    assert actions.count("webhook_endpoint.update") == 4
    response = client.delete(path, headers=world["headers"])
    assert response.status_code == 204 and response.get_data() == b""
    assert client.get(path, headers=world["headers"]).status_code == 404
    assert WebhookEndpoint.get_or_none(WebhookEndpoint.id == created["id"]) is None
    assert "webhook_endpoint.delete" in [a for (a,) in AuditLog.select(AuditLog.action).tuples()]


@pytest.mark.parametrize("body,fields", [
    ({"url": None}, ["url"]),
    ({"url": ""}, ["url"]),
    ({"url": 5}, ["url"]),
    ({"url": "ftp://example.test/hook"}, ["url"]),
    ({"url": "http://127.0.0.1:8080/" + "x" * 2000}, ["url"]),
    ({"url": "http://127.0.0.1:8080/\x00"}, ["url"]),
    ({"event_types": ["deposit.completed", "nope"]}, ["event_types"]),
    ({"event_types": "deposit.completed"}, ["event_types"]),
    ({"event_types": None}, ["event_types"]),
    ({"event_types": [1]}, ["event_types"]),
    ({"description": 5}, ["description"]),
    ({"description": "x" * 501}, ["description"]),
    ({"description": "two\x00parts"}, ["description"]),
    ({"enabled": False}, ["enabled"]),  # not a field of POST
    ({"secret": "whsec_AAAA"}, ["secret"]),
    ({"url": 5, "description": 5, "event_types": 5, "extra": 1}, ["description", "event_types", "extra", "url"]),
])
def test_create_names_each_faulty_field_and_saves_nothing(client, world, body, fields):
    response = create(client, world["headers"], **body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] in ("invalid_request", "invalid_endpoint")
    assert sorted(fields_of(response)) == fields
    assert WebhookEndpoint.select().count() == 0


@pytest.mark.parametrize("body,fields", [
    ({"url": ""}, ["url"]),
    ({"url": "javascript:alert(1)"}, ["url"]),
    ({"enabled": "yes"}, ["enabled"]),
    ({"enabled": None}, ["enabled"]),
    ({"event_types": ["withdrawal.approved", "deposit.complete"]}, ["event_types"]),
    ({"description": None}, ["description"]),
    ({"id": 5}, ["id"]),
])
def test_change_names_each_faulty_field_and_changes_nothing(client, world, body, fields):
    created = create(client, world["headers"], description="kept").get_json()
    response = client.patch(f"/api/v1/webhook-endpoints/{created['id']}", json=body, headers=world["headers"])
    assert response.status_code == 400 and sorted(fields_of(response)) == fields
    stored = WebhookEndpoint.get_by_id(created["id"])
    assert (stored.url, stored.description, stored.enabled, stored.event_types) == (URL, "kept", True, [])


def test_a_body_that_is_no_json_object_is_refused(client, world):
    for data in ("[]", "nope", ""):
        response = client.post("/api/v1/webhook-endpoints", data=data, content_type="application/json",
                               headers=world["headers"])
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


def test_private_targets_are_refused_naming_url(app, client, world):
    app.config["ALLOW_PRIVATE_POSTBACKS"] = False
    for url in ("http://10.0.0.1/hook", "http://127.0.0.1/hook", "http://100.64.0.1/hook",
                "http://[::ffff:127.0.0.1]/hook", "http://8.8.8.8:22/hook"):
        response = create(client, world["headers"], url=url)
        assert response.status_code == 400 and fields_of(response) == ["url"], url
    assert WebhookEndpoint.select().count() == 0


def test_at_most_ten_endpoints(client, world):
    for n in range(MAX_ENDPOINTS):
        assert create(client, world["headers"], url=f"http://127.0.0.1:8080/{n}").status_code == 201
    response = create(client, world["headers"], url="http://127.0.0.1:8080/more")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "too_many_endpoints" and [d["field"] for d in error["details"]] == ["url"]
    assert WebhookEndpoint.select().where(WebhookEndpoint.merchant == world["m"].id).count() == MAX_ENDPOINTS
    listed = client.get("/api/v1/webhook-endpoints", headers=world["headers"]).get_json()
    assert len(listed["items"]) == MAX_ENDPOINTS and listed["next"] is None
    # The limit is per merchant; a deleted endpoint frees its place.
    assert create(client, world["other_headers"]).status_code == 201
    client.delete(f"/api/v1/webhook-endpoints/{listed['items'][0]['id']}", headers=world["headers"])
    assert create(client, world["headers"], url="http://127.0.0.1:8080/more").status_code == 201


def test_another_merchants_endpoint_is_not_found(client, world):
    theirs = factories.endpoint(world["other"], URL, description="theirs")
    mine = create(client, world["headers"]).get_json()
    base = "/api/v1/webhook-endpoints"
    calls = [("get", f"{base}/{theirs.id}", None), ("patch", f"{base}/{theirs.id}", {"enabled": False}),
             ("delete", f"{base}/{theirs.id}", None), ("post", f"{base}/{theirs.id}/rotate-secret", None),
             ("post", f"{base}/{theirs.id}/recover", {"since": "2026-01-01T00:00:00Z"})]
    for endpoint_id in ("0", "-1", "abc", "99999999999999999999", "9223372036854775807", str(mine["id"] + 1000)):
        calls.append(("get", f"{base}/{endpoint_id}", None))
        calls.append(("post", f"{base}/{endpoint_id}/rotate-secret", None))
    for method, path, body in calls:
        response = getattr(client, method)(path, json=body, headers=world["headers"])
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.get_json()["error"]["code"] == "not_found"
    stored = WebhookEndpoint.get_by_id(theirs.id)
    assert stored.enabled and stored.secret == theirs.secret and stored.description == "theirs"
    listed = client.get(base, headers=world["headers"]).get_json()
    assert [e["id"] for e in listed["items"]] == [mine["id"]]


def test_every_route_needs_the_api_key(client, world):
    e = factories.endpoint(world["m"], URL)
    base = "/api/v1/webhook-endpoints"
    for method, path in (("get", base), ("post", base), ("get", f"{base}/{e.id}"), ("patch", f"{base}/{e.id}"),
                         ("delete", f"{base}/{e.id}"), ("post", f"{base}/{e.id}/rotate-secret"),
                         ("post", f"{base}/{e.id}/recover")):
        for headers in ({}, {"Authorization": "Bearer nope"}):
            response = getattr(client, method)(path, json={"url": URL}, headers=headers)
            assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer", (method, path)
    assert WebhookEndpoint.select().count() == 1 and WebhookEndpoint.get_by_id(e.id).secret == e.secret


def test_an_unknown_list_parameter_is_refused(client, world):
    response = client.get("/api/v1/webhook-endpoints?page=2", headers=world["headers"])
    assert response.status_code == 400 and fields_of(response) == ["page"]


def test_rotation_both_secrets_verify_a_real_delivery(app, client, world, receiver):  # noqa: F811
    created = create(client, world["headers"], url=receiver.url).get_json()
    old = created["secret"]
    before = utcnow()
    response = client.post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret", headers=world["headers"])
    assert response.status_code == 200, response.get_json()
    rotated = response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    new = rotated.pop("secret")
    assert new.startswith("whsec_") and new != old
    until = datetime.datetime.fromisoformat(rotated.pop("previous_secret_until").replace("Z", ""))
    assert before + datetime.timedelta(hours=24) - datetime.timedelta(seconds=2) <= until \
        <= utcnow() + datetime.timedelta(hours=24)
    assert set(rotated) == ENDPOINT_KEYS
    shown = client.get(f"/api/v1/webhook-endpoints/{created['id']}", headers=world["headers"]).get_json()
    assert no_secret_in(shown, old, new)
    event = deposit(app, world["m"])
    run_queued_jobs(app)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["webhook-id"] == event.event_id and len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        assert Webhook(secret).verify(request["body"], headers)["id"] == event.event_id
    entry = AuditLog.get(AuditLog.action == "webhook_endpoint.rotate_secret")
    assert entry.user_id is None and new not in json.dumps(entry.summary) and old not in json.dumps(entry.summary)


def test_recover_resends_what_the_endpoint_missed(app, client, world, receiver):  # noqa: F811
    created = create(client, world["headers"], url=receiver.url, event_types=["deposit.completed"]).get_json()
    path = f"/api/v1/webhook-endpoints/{created['id']}"
    client.patch(path, json={"enabled": False}, headers=world["headers"])
    since = utcnow().replace(microsecond=0) - datetime.timedelta(seconds=1)
    missed = [deposit(app, world["m"], label=f"user-{n}") for n in range(2)]
    with app.app_context():
        postbacks.send_test(world["m"])  # not for this endpoint's filter (and tests are never re-sent)
    assert Postback.select().where(Postback.endpoint == created["id"]).count() == 0
    # The request's faults first: each names since, and nothing is re-sent.
    for body in ({}, {"since": "yesterday"}, {"since": "2026-03-10T12:00:00"}, {"since": 5},
                 {"since": "2999-01-01T00:00:00Z"}, {"since": "2026-02-30"}):
        response = client.post(f"{path}/recover", json=body, headers=world["headers"])
        assert response.status_code == 400 and fields_of(response) == ["since"], (body, response.get_json())
    response = client.post(f"{path}/recover", json={"since": "2026-01-01T00:00:00Z", "extra": 1},
                           headers=world["headers"])
    assert response.status_code == 400 and fields_of(response) == ["extra"]
    assert WebhookEndpoint.get_by_id(created["id"]).enabled is False
    response = client.post(f"{path}/recover", json={"since": since.isoformat() + "Z"}, headers=world["headers"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["resent"] == 2 and body["endpoint"]["enabled"] is True and body["endpoint"]["disabled_reason"] is None
    run_queued_jobs(app)
    assert sorted(r["headers"]["webhook-id"] for r in receiver.requests) == sorted(e.event_id for e in missed)
    # Received now: a second recovery (a day of the merchant's zone this time) has nothing to re-send.
    today = (utcnow() + datetime.timedelta(hours=5, minutes=30)).date().isoformat()
    again = client.post(f"{path}/recover", json={"since": today}, headers=world["headers"]).get_json()
    assert again["resent"] == 0
    entry = AuditLog.select().where(AuditLog.action == "webhook_endpoint.recover").order_by(AuditLog.id).first()
    assert entry.user_id is None and entry.summary["events"] == 2


def test_the_answers_match_the_openapi_document(app, client, world):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    checks = [st_checks.status_code_conformance, st_checks.response_schema_conformance]
    created = create(client, world["headers"], description="d", event_types=["test"])
    schema["/api/v1/webhook-endpoints"]["POST"].Case(body={"url": URL}, media_type="application/json") \
        .validate_response(created, checks=checks)
    endpoint_id = created.get_json()["id"]
    WebhookEndpoint.update(failing_since=datetime.datetime(2026, 1, 1)).where(
        WebhookEndpoint.id == endpoint_id).execute()
    ids = {"endpoint_id": endpoint_id}
    for method, path, path_parameters, body in (
            ("GET", "/api/v1/webhook-endpoints", None, None),
            ("GET", "/api/v1/webhook-endpoints/{endpoint_id}", ids, None),
            ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}", ids, {"enabled": False}),
            ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}", ids, {"url": "nope"}),
            ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret", ids, None),
            ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/recover", ids, {"since": "2026-01-01"}),
            ("GET", "/api/v1/webhook-endpoints/{endpoint_id}", {"endpoint_id": endpoint_id + 1}, None),
            ("DELETE", "/api/v1/webhook-endpoints/{endpoint_id}", ids, None)):
        operation = schema[path][method]
        kwargs = {"path_parameters": path_parameters} if path_parameters else {}
        if body is not None:
            kwargs.update(body=body, media_type="application/json")
        case = operation.Case(**kwargs)
        url = path.replace("{endpoint_id}", str((path_parameters or {}).get("endpoint_id", "")))
        response = client.open(url, method=method, json=body, headers=world["headers"])
        case.validate_response(response, checks=checks)


def test_recover_is_limited_per_merchant_with_retry_after(app, client, world):
    app.config["WEBHOOK_RECOVER_PER_MINUTE"] = 2
    redis = redis_of(app)  # ids restart with each backend's run: start from empty windows
    for key in redis.scan_iter("backoffice:webhooks:quota:*"):
        redis.delete(key)
    endpoint_id = create(client, world["headers"]).get_json()["id"]
    since = {"since": "2026-01-01T00:00:00Z"}
    path = f"/api/v1/webhook-endpoints/{endpoint_id}/recover"
    assert [client.post(path, json=since, headers=world["headers"]).status_code for _ in range(2)] == [200, 200]
    refused = client.post(path, json=since, headers=world["headers"])
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another merchant's quota is its own.
    other_id = create(client, world["other_headers"]).get_json()["id"]
    assert client.post(f"/api/v1/webhook-endpoints/{other_id}/recover", json=since,
                       headers=world["other_headers"]).status_code == 200


def test_an_endpoint_an_operator_disabled_stays_off_for_the_merchant(app, client, world):
    endpoint_id = create(client, world["headers"]).get_json()["id"]
    with app.app_context():
        from backoffice.services import webhooks

        webhooks.disable(WebhookEndpoint.get_by_id(endpoint_id), "operator", None)
    path = f"/api/v1/webhook-endpoints/{endpoint_id}"
    refused = client.patch(path, json={"enabled": True}, headers=world["headers"])
    assert refused.status_code == 400 and fields_of(refused) == ["enabled"]
    refused = client.post(path + "/recover", json={"since": "2026-01-01T00:00:00Z"}, headers=world["headers"])
    assert refused.status_code == 400 and fields_of(refused) == ["enabled"]
    assert not WebhookEndpoint.get_by_id(endpoint_id).enabled
