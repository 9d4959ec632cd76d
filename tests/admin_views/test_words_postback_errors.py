"""Postback errors in words on every screen that shows one (issue 22, point 4).

Real local servers fail a delivery in each way (``failing_servers``), the real
dispatcher sends to them, and the pages people read are crawled: the Postbacks list and
each delivery's details, each endpoint's page (its delivery log), the deposit's
timeline. Each failure reads as its sentence; no exception class name appears
anywhere in the page, and the visible text (outside the collapsed technical detail)
carries no technical text either."""
import re

import pytest
from helpers import login

import factories
from failing_servers import GUARD_URLS, failure_urls
from backoffice.db import db
from backoffice.models import Postback, PostbackAttempt, utcnow
from backoffice.services import postback_delivery as delivery
from backoffice.services import postbacks as service
from backoffice.services import webhooks

SENTENCES = {
    "connection_refused": "The server refused the connection.",
    "timeout": "The server did not answer in time (1 s).",
    "certificate": "The server&#39;s certificate is not valid.",
    "tls": "The secure connection (TLS) to the server could not be set up.",
    "closed": "The server closed the connection without answering.",
    "bad_answer": "The server&#39;s answer is not valid HTTP.",
    "redirect": "The server answered with a redirect (HTTP 302); redirects are not followed.",
    "http": "The server answered HTTP 500.",
    "private": "The address is private or local and is not allowed.",
    "port": "This port is not allowed for postbacks (use 80, 443, 8080 or 8443).",
    "dns": "The address could not be found (DNS).",
    "url": "The endpoint&#39;s URL is not valid for postbacks.",
    "endpoint_disabled": "The endpoint was disabled before the delivery was made.",
    "legacy": "The server refused the connection.",
}
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Disconnected|Timeout|StatusLine)\b|\bgaierror\b")
TECHNICAL = re.compile(r"Errno|SSL:|_ssl\.c|CERTIFICATE_VERIFY|WRONG_VERSION|Traceback")


def visible(page):
    """The page as people read it: without the collapsed technical detail, titles,
    scripts and tags."""
    page = re.sub(r"<details\b.*?</details>", " ", page, flags=re.S)
    page = re.sub(r"<script\b.*?</script>", " ", page, flags=re.S)
    page = re.sub(r'\stitle="[^"]*"', " ", page)
    return re.sub(r"<[^>]+>", " ", page)


def check_page(page, where):
    assert not CLASS_NAME.search(page), (where, CLASS_NAME.search(page).group(0))
    found = TECHNICAL.search(visible(page))
    assert found is None, (where, found and found.group(0))


@pytest.fixture
def world(app, conn, tmp_path):
    app.config.update(POSTBACK_BACKOFF=[], POSTBACK_TIMEOUT=1, POSTBACK_CONCURRENCY=8)
    m = factories.merchant(name="Words")
    tx = factories.transaction(factories.wallet(m), status="activated")
    users = dict(operator=factories.user("operator"), owner=factories.user("merchant_owner", merchant=m))
    with failure_urls(tmp_path, slow_seconds=3) as urls:
        endpoints = {kind: factories.endpoint(m, url, event_types=["deposit.completed"])
                     for kind, url in urls.items()}
        endpoints.update({kind: factories.endpoint(m, url, event_types=["deposit.reversed"])
                          for kind, url in GUARD_URLS.items()})
        endpoints["endpoint_disabled"] = factories.endpoint(m, "http://127.0.0.1:9/hook",
                                                            event_types=["deposit.completed"])
        with db.atomic():
            service.create_event(m, "deposit.completed", {"id": tx.id}, "transaction", tx.id)
        webhooks.disable(endpoints["endpoint_disabled"], "merchant", users["owner"].id)
        # The live failures: private addresses allowed (the servers are local) ...
        app.config["ALLOW_PRIVATE_POSTBACKS"] = True
        delivery.deliver_due(app.config)
        # ... then the guard's refusals, with private addresses refused.
        app.config["ALLOW_PRIVATE_POSTBACKS"] = False
        with db.atomic():
            service.create_event(m, "deposit.reversed", {"id": tx.id}, "transaction", tx.id)
        delivery.deliver_due(app.config)
    # A delivery stored before errors had codes (its text carried the class name).
    legacy = factories.endpoint(m, "http://127.0.0.1:9/legacy", event_types=["test"])
    endpoints["legacy"] = legacy
    now = utcnow()
    old = "ConnectionRefusedError: [Errno 111] Connection refused"
    pb = Postback.create(event_id=service.new_event_id(), merchant=m, endpoint=legacy, event_type="test",
                         object_type="transaction", object_id=tx.id, payload="{}", status="error", attempts=1,
                         last_error=old, created_at=now, next_attempt_at=None)
    PostbackAttempt.create(postback=pb.id, attempted_at=now, error=old, duration_ms=1)
    deliveries = {kind: Postback.get(Postback.endpoint == e.id) for kind, e in endpoints.items()}
    return dict(merchant=m, tx=tx, endpoints=endpoints, deliveries=deliveries, **users)


def test_every_delivery_error_reads_as_its_sentence_on_every_screen(client, world):
    deliveries = world["deliveries"]
    assert {k: d.status for k, d in deliveries.items()} == {k: "error" for k in SENTENCES}
    for who in ("operator", "owner"):
        user_client = client.application.test_client()
        login(user_client, world[who])
        listing = user_client.get("/admin/postbacks/?page_size=100").get_data(as_text=True)
        check_page(listing, ("list", who))
        timeline = user_client.get(f"/admin/transactions/details/?id={world['tx'].id}").get_data(as_text=True)
        check_page(timeline, ("timeline", who))
        for kind, sentence in SENTENCES.items():
            assert sentence in listing, (who, kind)
            assert sentence in timeline, (who, kind)
            pb = deliveries[kind]
            details = user_client.get(f"/admin/postbacks/details/?id={pb.id}").get_data(as_text=True)
            check_page(details, (kind, who))
            # The delivery's last error and its attempt's error: the sentence, twice.
            assert details.count(sentence) >= (1 if kind == "endpoint_disabled" else 2), (kind, who)
            endpoint = user_client.get(f"/admin/webhooks/details/?id={pb.endpoint_id}").get_data(as_text=True)
            assert endpoint.count(sentence) == 1, (kind, who)
            check_page(endpoint, ("endpoint", kind, who))


def test_the_technical_text_stays_available_without_a_class_name(client, world):
    login(client, world["operator"])
    pb = world["deliveries"]["certificate"]
    page = client.get(f"/admin/postbacks/details/?id={pb.id}").get_data(as_text=True)
    assert "Technical detail" in page and "CERTIFICATE_VERIFY_FAILED" in page
    legacy = world["deliveries"]["legacy"]
    page = client.get(f"/admin/postbacks/details/?id={legacy.id}").get_data(as_text=True)
    assert "[Errno 111] Connection refused" in page and "ConnectionRefusedError" not in page
    listing = client.get("/admin/postbacks/?page_size=100").get_data(as_text=True)
    # In the list the technical text is the sentence's title (one line per row).
    assert re.search(r'data-error-kind="certificate" title="certificate verify failed|'
                     r'data-error-kind="certificate" title="\[SSL: CERTIFICATE_VERIFY_FAILED\]', listing)


def test_the_events_api_keeps_its_documented_fields(client, world):
    """The JSON APIs are unchanged: no error text (nor sentence) in an event's deliveries."""
    from backoffice.services import merchant_settings

    key = merchant_settings.rotate_api_key(world["merchant"], world["owner"].id)
    pb = world["deliveries"]["connection_refused"]
    response = client.get(f"/api/v1/events/{pb.event_id}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    [delivered] = [d for d in response.get_json()["deliveries"] if d["endpoint_id"] == pb.endpoint_id]
    assert set(delivered) == {"endpoint_id", "status", "attempts", "last_attempt_at", "last_http_status"}
