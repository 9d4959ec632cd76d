"""The demo receiver (issue 22, point 10): ``make run`` gives the newcomer a place where
the demo merchants' postbacks visibly arrive; only ``backoffice run`` in development
mode has it, never the app factory (so no production process)."""
import json
import threading

import pytest
from conftest import empty_tables, make_test_config
from helpers import login
from werkzeug.serving import make_server

import factories
from backoffice import create_app
from backoffice.admin_views import demo_receiver
from backoffice.cli import with_demo_receiver
from backoffice.db import db
from backoffice.services import postback_delivery, postbacks


def _has_receiver(application):
    rules = {rule.rule for rule in application.url_map.iter_rules()}
    return any(rule.startswith("/demo/receiver") for rule in rules) or "/admin/demo-receiver/" in rules


@pytest.fixture
def dev_app(database_url, redis_url, tmp_path):
    application = create_app(make_test_config(database_url, redis_url, tmp_path / "instance",
                                              BACKOFFICE_ENV="development"))
    empty_tables()
    factories.APP = application
    assert with_demo_receiver(application)
    yield application
    if not db.is_closed():
        db.close()


def test_the_app_factory_never_has_it_and_production_mode_does_not_add_it(app):
    assert not _has_receiver(app)
    assert with_demo_receiver(app) is False  # BACKOFFICE_ENV is production
    assert not _has_receiver(app)
    assert app.test_client().post("/demo/receiver/1", data=b"{}").status_code == 404


def test_a_development_app_has_it_and_takes_postbacks_without_a_csrf_token(dev_app):
    assert _has_receiver(dev_app)
    with db.connection_context():
        merchant = factories.merchant(postback_url="http://127.0.0.1:5000/demo/receiver/1")
    body = json.dumps({"id": "evt_1", "type": "test", "created_at": "2026-01-01T00:00:00Z",
                       "data": {"message": "hello"}}).encode()
    signed = postbacks.signature_headers(merchant.postback_secret, "evt_1", body)
    client = dev_app.test_client()
    answer = client.post(f"/demo/receiver/{merchant.id}", data=body, headers=dict(signed),
                         content_type="application/json")
    assert answer.status_code == 200 and answer.get_json() == {"received": True}
    wrong = postbacks.signature_headers("whsec_" + "A" * 32, "evt_2", body)
    assert client.post(f"/demo/receiver/{merchant.id}", data=body, headers=dict(wrong)).status_code == 200
    assert client.post(f"/demo/receiver/{merchant.id}", data=b"not json").status_code == 200
    with dev_app.app_context():
        entries = demo_receiver.received(demo_receiver.store_path(dev_app))
    assert [e["signature"] for e in entries] == ["unsigned", "invalid", "valid"]  # newest first
    assert entries[2]["event_type"] == "test" and entries[2]["event_id"] == "evt_1"
    assert json.loads(entries[2]["body"])["data"] == {"message": "hello"}


def test_the_page_shows_what_arrived_to_whom_may_see_it(dev_app):
    with db.connection_context():
        mine = factories.merchant(name="Mine")
        other = factories.merchant(name="Other")
        operator = factories.user("operator")
        owner = factories.user("merchant_owner", merchant=mine)
        staff = factories.user("merchant_staff", merchant=mine)
    path = demo_receiver.store_path(dev_app)
    for merchant, event_id in ((mine, "evt_mine"), (other, "evt_other")):
        demo_receiver.record(path, {"received_at": "2026-01-01T00:00:00", "merchant_id": merchant.id,
                                    "event_id": event_id, "event_type": "deposit.completed", "signature": "valid",
                                    "size": 2, "body": "{}"})
    anonymous = dev_app.test_client().get("/admin/demo-receiver/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]

    client = dev_app.test_client()
    login(client, operator)
    page = client.get("/admin/demo-receiver/").get_data(as_text=True)
    assert "evt_mine" in page and "evt_other" in page and "valid signature" in page
    assert 'href="/admin/demo-receiver/"' in client.get("/admin/").get_data(as_text=True)  # in the menu

    client = dev_app.test_client()
    login(client, owner)
    page = client.get("/admin/demo-receiver/").get_data(as_text=True)
    assert "evt_mine" in page and "evt_other" not in page

    client = dev_app.test_client()
    login(client, staff)
    assert client.get("/admin/demo-receiver/").status_code == 403  # as on Postbacks


def test_the_worker_delivers_to_it_for_real(dev_app):
    """What ``make run`` does: the dispatcher posts a signed postback over HTTP to the
    running back office, which keeps it for the page."""
    server = make_server("127.0.0.1", 0, dev_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with dev_app.app_context(), db.connection_context():
            merchant = factories.merchant()
            url = f"http://127.0.0.1:{server.server_port}/demo/receiver/{merchant.id}"
            endpoint = factories.endpoint(merchant, url)
            postbacks.send_test(merchant, endpoint)
            assert postback_delivery.deliver_due(dev_app.config, threads=0) == {"sent": 1}
            entries = demo_receiver.received(demo_receiver.store_path(dev_app), merchant.id)
    finally:
        server.shutdown()
    assert len(entries) == 1 and entries[0]["signature"] == "valid" and entries[0]["event_type"] == "test"


def test_only_the_last_ones_are_kept(tmp_path):
    path = str(tmp_path / "store.jsonl")
    for n in range(25):
        demo_receiver.record(path, {"n": n, "merchant_id": n % 2}, keep=5)
    assert [e["n"] for e in demo_receiver.received(path, limit=5)] == [24, 23, 22, 21, 20]
    assert [e["n"] for e in demo_receiver.received(path, merchant_id=1, limit=3)] == [23, 21, 19]
    with open(path) as fh:
        assert len(fh.readlines()) <= 10
    assert demo_receiver.received(str(tmp_path / "none.jsonl")) == []
