"""Postback rows that update themselves until they settle (issue 22, point 7).

Every row of the Postbacks list (and of an endpoint's delivery log on Settings →
Webhooks) whose delivery is not settled (pending: a test just sent, a resend) asks
``/admin/postbacks/live.json`` about itself until it is sent or in error, and a change is
announced politely. Here: the JSON (scoped like the list, the cells as the list renders
them, ``settled``, ``poll_after`` from the next attempt), who may ask, the pages naming
their unsettled rows; in a real browser with a real receiver and the dispatcher, a test
postback's row goes from Pending to Sent by itself on both screens, says so in its live
region, and stops asking."""
import datetime
import re

import pytest
from browser_support import backoffice_url, browser, contexts  # noqa: F401 - fixtures
from browser_support import sign_in
from helpers import login, post_form
from http_receiver import receiver, run_queued_jobs  # noqa: F401 - a fixture

import factories
from backoffice.db import db
from backoffice.models import Postback, utcnow
from backoffice.queues import redis_connection
from backoffice.services import postbacks as service
from factories import PASSWORD


@pytest.fixture
def world(app, conn, receiver):
    redis_connection(app.config).flushdb()
    a = factories.merchant(name="Alpha", postback_url=receiver.url + "?alpha")
    b = factories.merchant(name="Bravo", postback_url=receiver.url + "?bravo")
    with db.atomic():
        ea = service.create_event(a, "test", {"who": "alpha"})
        eb = service.create_event(b, "test", {"who": "bravo"})
        es = service.create_event(a, "deposit.reversed", {"who": "alpha-sent"})
    pa, pb, sent = (Postback.get(Postback.event_id == e.event_id) for e in (ea, eb, es))
    Postback.update(status="sent", attempts=1, sent_at=utcnow(), last_http_status=200).where(
        Postback.id == sent.id).execute()
    return dict(a=a, b=b, pa=pa, pb=pb, sent=sent,
                owner_a=factories.user("merchant_owner", merchant=a),
                staff_a=factories.user("merchant_staff", merchant=a),
                operator=factories.user("operator"))


def text(html):
    """A cell's words (the list may render a status as a badge)."""
    return re.sub(r"<[^>]+>", "", html).strip()


def live(client, *ids):
    response = client.get("/admin/postbacks/live.json", query_string=[("id", i) for i in ids])
    assert response.status_code == 200, response.status_code
    return response.get_json()


def test_the_state_of_a_pending_and_a_settled_delivery(client, world):
    login(client, world["owner_a"])
    data = live(client, world["pa"].id, world["sent"].id)
    rows = {row["id"]: row for row in data["rows"]}
    pending, sent = rows[world["pa"].id], rows[world["sent"].id]
    assert pending["status"] == "pending" and pending["settled"] is False
    assert pending["event_id"] == world["pa"].event_id
    assert text(pending["cells"]["status"]) == "Pending" and pending["cells"]["attempts"] == "0"
    assert pending["announce"] == f"Postback {world['pa'].event_id}: Pending."
    assert sent["settled"] is True and text(sent["cells"]["status"]) == "Sent"
    assert sent["cells"]["last_http_status"] == "200" and sent["cells"]["sent_at"]
    assert set(pending["cells"]) == {"status", "attempts", "last_http_status", "last_error", "next_attempt_at",
                                     "sent_at"}
    assert data["poll_after"] == 2  # due now: soon
    assert live(client, world["sent"].id)["poll_after"] is None  # all settled: nothing to wait for


def test_another_merchants_delivery_and_bad_ids_are_not_answered(app, client, world):
    login(client, world["owner_a"])
    data = live(client, world["pb"].id, "abc", "99999999999999999999", "", world["pa"].id)
    assert [row["id"] for row in data["rows"]] == [world["pa"].id]
    assert live(client)["rows"] == [] and live(client)["poll_after"] is None
    operator = app.test_client()
    login(operator, world["operator"])  # operators: every merchant's
    assert {row["id"] for row in live(operator, world["pa"].id, world["pb"].id)["rows"]} == {
        world["pa"].id, world["pb"].id}


def test_who_may_ask(app, client, world):
    assert client.get(f"/admin/postbacks/live.json?id={world['pa'].id}").status_code == 302  # to the login page
    login(client, world["staff_a"])
    assert client.get(f"/admin/postbacks/live.json?id={world['pa'].id}").status_code == 403


def test_poll_after_follows_the_next_attempt(client, world):
    login(client, world["owner_a"])
    pa = world["pa"]
    for seconds, expected in ((45, 45), (3600, 60), (-10, 2)):
        Postback.update(next_attempt_at=utcnow() + datetime.timedelta(seconds=seconds), locked_until=None).where(
            Postback.id == pa.id).execute()
        assert live(client, pa.id)["poll_after"] in (expected, expected - 1), seconds
    # In flight (a worker holds its lease): soon.
    Postback.update(locked_until=utcnow() + datetime.timedelta(seconds=30)).where(Postback.id == pa.id).execute()
    assert live(client, pa.id)["poll_after"] == 2


def test_an_error_is_settled_and_its_cells_are_escaped(client, world):
    Postback.update(status="error", attempts=8, last_error="<script>alert(1)</script>", last_http_status=None).where(
        Postback.id == world["pa"].id).execute()
    login(client, world["owner_a"])
    row = live(client, world["pa"].id)["rows"][0]
    assert row["settled"] is True and text(row["cells"]["status"]) == "Error"
    assert "<script>" not in row["cells"]["last_error"] and "alert(1)" in row["cells"]["last_error"]


def pending_of(page):
    match = re.search(r'<div class="sr-only" role="status" aria-live="polite" data-live-rows[^>]*'
                      r'data-url="([^"]+)" data-pending="([^"]*)"', page, flags=re.S)
    assert match, "the page has no live region"
    return match.group(1), [int(i) for i in match.group(2).split(",") if i]


def test_the_list_and_the_delivery_log_name_their_unsettled_rows(client, world):
    login(client, world["owner_a"])
    page = client.get("/admin/postbacks/").get_data(as_text=True)
    url, pending = pending_of(page)
    assert url == "/admin/postbacks/live.json" and pending == [world["pa"].id]
    assert "/static/live_rows.js" in page
    page = client.get(f"/admin/webhooks/details/?id={world['a'].endpoint.id}").get_data(as_text=True)
    url, pending = pending_of(page)
    assert url == "/admin/postbacks/live.json" and pending == [world["pa"].id]
    assert f'data-live-row="{world["pa"].id}"' in page and 'data-live-cell="status"' in page
    Postback.update(status="sent").where(Postback.id == world["pa"].id).execute()
    assert pending_of(client.get("/admin/postbacks/").get_data(as_text=True))[1] == []


def test_a_test_postback_settles_once_the_dispatcher_sends_it(app, client, world, receiver):
    login(client, world["owner_a"])
    Postback.update(status="sent").where(Postback.id.in_([world["pa"].id, world["pb"].id])).execute()
    assert post_form(client, "/admin/postbacks/", "/admin/postbacks/test/", {}).status_code == 302
    test = Postback.select().where(Postback.event_type == "test").order_by(Postback.id.desc()).get()
    assert pending_of(client.get("/admin/postbacks/").get_data(as_text=True))[1] == [test.id]
    assert live(client, test.id)["rows"][0]["settled"] is False
    run_queued_jobs(app)
    row = live(client, test.id)["rows"][0]
    assert row["settled"] is True and row["status"] == "sent" and row["announce"] == f"Postback {test.event_id}: Sent."
    assert [r["path"] for r in receiver.requests] == ["/hook?alpha"]


# --- in a browser ----------------------------------------------------------------------------

def status_cell(page, postback_id, list_page=True):
    if list_page:
        return page.locator(f"tr:has(input.action-checkbox[value='{postback_id}']) td.col-status")
    return page.locator(f"tr[data-live-row='{postback_id}'] [data-live-cell=status]")


def settle_in_the_browser(app, page, expected, receiver, list_page=True):
    """Each row of ``expected`` ({postback id: the status it ends in}) says Pending and asks;
    the dispatcher sends; each row says how it ended, by itself."""
    region = page.locator("[data-live-rows]")
    cells = {pk: status_cell(page, pk, list_page) for pk in expected}
    for cell in cells.values():
        assert cell.inner_text().strip() == "Pending"
        assert cell.locator(".bo-live-spinner").count() == 1  # visibly still moving
    assert region.get_attribute("data-live-state") == "polling"
    assert region.get_attribute("aria-live") == "polite" and region.get_attribute("role") == "status"
    page.wait_for_selector("[data-live-rows][data-polls]", state="attached", timeout=10000)
    url_before = page.url
    run_queued_jobs(app)  # the worker's dispatcher sends them
    assert receiver.requests, "the receiver got the test postback"
    page.wait_for_selector("[data-live-rows][data-live-state=settled]", state="attached", timeout=45000)
    assert page.url == url_before  # no reload: the rows changed by themselves
    said = region.inner_text()
    for pk, status in expected.items():
        assert cells[pk].inner_text().strip() == status and cells[pk].locator(".bo-live-spinner").count() == 0
        assert f"Postback {Postback.get_by_id(pk).event_id}: {status}." in said
    polls = region.get_attribute("data-polls")
    page.wait_for_timeout(3500)
    assert region.get_attribute("data-polls") == polls  # settled: it asks no more


def test_in_a_browser_a_test_postbacks_rows_settle_on_the_postbacks_list(app, contexts, backoffice_url, world,
                                                                          receiver):
    """Two endpoints take the test: the receiver's ends Sent, a refused one Error (one attempt)."""
    Postback.update(status="sent").where(Postback.id.in_([world["pa"].id, world["pb"].id])).execute()
    refused = factories.endpoint(world["a"], "http://127.0.0.1:1/refused")
    app.config["POSTBACK_BACKOFF"] = (0,)  # one attempt, then error
    context, watch = contexts(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in(page, backoffice_url, world["owner_a"], PASSWORD)
    page.goto(backoffice_url + "/admin/postbacks/")
    page.wait_for_load_state("load")
    assert page.locator("[data-live-rows]").get_attribute("data-live-state") == "settled"  # nothing pending
    with page.expect_navigation():
        page.click("[data-testid=send-test-postback] button[type=submit]")
    page.wait_for_load_state("load")
    tests = {p.endpoint_id: p for p in Postback.select().where(Postback.event_type == "test")
             if p.id not in (world["pa"].id, world["pb"].id)}
    assert set(tests) == {world["a"].endpoint.id, refused.id}
    assert all(p.status == "pending" for p in tests.values())
    settle_in_the_browser(app, page, {tests[world["a"].endpoint.id].id: "Sent", tests[refused.id].id: "Error"},
                          receiver)
    sent = tests[world["a"].endpoint.id].id
    assert page.locator(f"tr:has(input.action-checkbox[value='{sent}']) td.col-attempts").inner_text() == "1"
    refused_error = page.locator(f"tr:has(input.action-checkbox[value='{tests[refused.id].id}']) td.col-last_error")
    assert refused_error.inner_text().strip()  # the failure in words, without a reload
    watch.assert_clean()


def test_in_a_browser_a_test_postbacks_row_settles_on_the_endpoints_delivery_log(app, contexts, backoffice_url,
                                                                                  world, receiver):
    Postback.update(status="sent").where(Postback.id.in_([world["pa"].id, world["pb"].id])).execute()
    context, watch = contexts(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    sign_in(page, backoffice_url, world["owner_a"], PASSWORD)
    page.goto(f"{backoffice_url}/admin/webhooks/details/?id={world['a'].endpoint.id}")
    page.wait_for_load_state("load")
    with page.expect_navigation():
        page.click("[data-testid=send-test]")
    page.wait_for_load_state("load")
    test = Postback.select().where(Postback.event_type == "test").order_by(Postback.id.desc()).get()
    assert test.id != world["pa"].id
    settle_in_the_browser(app, page, {test.id: "Sent"}, receiver, list_page=False)
    watch.assert_clean()


def test_in_a_browser_a_long_page_of_pending_rows_asks_in_batches(app, contexts, backoffice_url, world):
    """100 pending rows on one page (the largest page): the rows are asked about 50 at a
    time (a URL stays short), and every one of them updates itself."""
    Postback.delete().execute()
    with db.atomic():
        for n in range(100):
            service.create_event(world["a"], "test", {"n": n})
    ids = [p.id for p in Postback.select(Postback.id)]
    context, watch = contexts(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    asked = []
    page.on("request", lambda r: asked.append(r.url.count("id=")) if "/live.json" in r.url else None)
    sign_in(page, backoffice_url, world["owner_a"], PASSWORD)
    page.goto(backoffice_url + "/admin/postbacks/?page_size=100")
    page.wait_for_load_state("load")
    assert page.locator("input.action-checkbox").count() == 100
    page.wait_for_selector("[data-live-rows][data-polls]", state="attached", timeout=10000)
    page.wait_for_timeout(500)
    assert asked[:2] == [50, 50]
    Postback.update(status="sent", attempts=1, sent_at=utcnow()).where(Postback.id.in_(ids)).execute()
    page.wait_for_selector("[data-live-rows][data-live-state=settled]", state="attached", timeout=45000)
    assert page.locator("td.col-status:has-text('Sent')").count() == 100
    assert page.locator(".bo-live-spinner").count() == 0
    watch.assert_clean()
