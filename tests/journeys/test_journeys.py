"""Browser journeys (issue 8): the back office and the plugin the way people use them.

Playwright drives Debian's Chromium against the real app (werkzeug in a thread, on the
test database: SQLite and PostgreSQL), real Redis (RQ jobs run by a burst worker) and
real HTTP (the connector API, the merchant's postback receiver, the shop page).

* a merchant owner with a second factor signs in, filters transactions by label and
  date (in the merchant's time zone), exports the filtered list as CSV, drops a GIF
  prompt into the modal, switches to an own theme and copies the plugin snippet;
* a merchant owner asks for a withdrawal (the payment system's required fields are
  enforced); an operator (TOTP) approves it, the postback reaches the merchant's
  server, and the operator resends it (a second delivery of the same event);
* a site visitor completes a stockpiled deposit in three payments, and a deposit
  entered before the connector reported it (delayed activation).

Each screen is saved under ``test-artifacts/journeys/<backend>/``. Every page is
watched: a console error, an uncaught exception, a failed request or an HTTP answer
>= 400 fails the journey (see ``browser_support.PageWatch``).
"""
import csv
import datetime
import io
import json
import urllib.request
from decimal import Decimal

import pytest
from PIL import Image
from browser_support import backoffice_url, browser, shop  # noqa: F401 - fixtures
from browser_support import (
    HOST_PAGE, PageWatch, Screens, add_filter, backend_of, drop_gif_prompt, open_menu, shop_server, sign_in,
)
from http_receiver import receiver  # noqa: F401 - a fixture
from http_receiver import run_queued_jobs
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

import factories
from backoffice.models import (
    AuditLog,
    ConnectorToken,
    Merchant,
    MerchantPaymentSystem,
    PendingActivation,
    Postback,
    PostbackAttempt,
    Stockpiling,
    Transaction,
    Withdrawal,
)
from backoffice.plugin_builder.signing import label_signature
from backoffice.plugin_builder.snippet import snippet
from backoffice.security import new_connector_token, new_totp_secret, token_digest

VIEWPORT = {"width": 1280, "height": 900}
MERCHANT_HOOK = "http://127.0.0.1:9/hook"  # a webhook endpoint the deposit journeys never deliver to


# --- pieces the journeys share ----------------------------------------------------------------

@pytest.fixture
def journey(browser, request):
    """``open(name, **context_options)`` → (page, watch, screens); contexts closed after."""
    contexts = []
    backend = backend_of(request)

    def open_(name, **options):
        options.setdefault("viewport", VIEWPORT)
        context = browser.new_context(**options)
        context.set_default_timeout(10000)
        contexts.append(context)
        watch = PageWatch(context)
        return context.new_page(), watch, Screens(name, backend)

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def run_jobs(app):
    """Empty the test Redis; then ``run_jobs()`` sends every delivery due and runs every queued
    job (what ``backoffice worker --burst`` does)."""
    from backoffice.queues import redis_connection

    connection = redis_connection(app.config)
    connection.flushdb()
    yield lambda: run_queued_jobs(app)
    connection.flushdb()


def list_column(page, label, full=False):
    """The texts of one column of the Flask-Admin list on the page, by its header (with
    ``full``, each cell's title where it has one: a compact date's full form)."""
    return page.evaluate("""([label, full]) => {
        const table = document.querySelector("table.model-list");
        if (!table) return [];
        const headers = [...table.querySelectorAll("thead th")].map(th => th.innerText.trim());
        const index = headers.indexOf(label);
        if (index < 0) throw new Error("no column " + label + " in " + headers.join(", "));
        return [...table.querySelectorAll("tbody tr")]
            .filter(tr => tr.children.length === headers.length)
            .map(tr => tr.children[index])
            .map(td => ((full && (td.querySelector("[title]") || td).getAttribute("title")) || td.innerText).trim());
    }""", [label, full])


def flash_text(page):
    return " ".join(page.locator(".alert").all_inner_texts())


def connector_report(base_url, token, **fields):
    """POST /api/v1/ps/transactions as the payment-system connector (real HTTP)."""
    body = {"direction": "incoming", "counterparty": "01800000000", "occurred_at": None}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    request = urllib.request.Request(base_url + "/api/v1/ps/transactions", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def connector_token(codes):
    token = new_connector_token()
    ConnectorToken.create(name="journey connector", token_hash=token_digest(token), payment_systems=codes)
    return token


def utc(*parts):
    return datetime.datetime(*parts)


def receipt_png():
    """A payout receipt picture (40×30 px)."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 140, 60)).save(out, format="PNG")
    return out.getvalue()


def balance_screen(page):
    """Payments → Balance: ``(available, on_hold)`` of the current balance, and the
    statement's entry rows as ``(kind, amount, hold, available, on hold)``."""
    open_menu(page, "Payments", "Balance")
    current = page.locator("[data-testid=current-balance] tbody tr").first.locator("td").all_inner_texts()
    rows = [[cell.strip() for cell in row.locator("td").all_inner_texts()]
            for row in page.locator("[data-testid=statement] tbody tr[data-row=entry]").all()]
    # The current balance is money with its currency ("975.00\u00a0BDT"); the statement's cells the number.
    amount = lambda cell: cell.strip().rsplit("\u00a0", 1)[0]  # noqa: E731
    return (amount(current[1]), amount(current[2])), [(r[1], r[3], r[4], r[5], r[6]) for r in rows]


# --- 1. the merchant owner ----------------------------------------------------------------------

OWN_CSS = b"""/* my shop's colours */
body { background: #102030; color: #f0e0d0; }
.bo-submit { background-color: rgb(200, 30, 90); border-radius: 12px; }
@media (max-width: 400px) { .bo-title { font-size: 18px; } }
"""


def test_merchant_owner_filters_exports_and_sets_up_the_plugin(app, conn, journey, backoffice_url):
    systems = seed_payment_systems()
    bkash = systems["bkash"]
    merchant = factories.merchant(name="Shop", timezone="Asia/Dhaka", allowed_origins=["https://shop.example"])
    settings = factories.merchant_payment_system(merchant, bkash, min_deposit="500.00")
    owner = factories.user("merchant_owner", merchant=merchant, totp_secret=new_totp_secret())
    wallet = factories.wallet(merchant, bkash, number="01711111111")
    # Asia/Dhaka is UTC+6: the filter's days are the merchant's calendar days.
    rows = {
        "TRX-IN-1": dict(label="alice", created_at=utc(2026, 1, 10, 10, 0), amount="600.00"),
        "TRX-IN-2": dict(label="alice", created_at=utc(2025, 12, 31, 19, 0), amount="750.00"),  # 1 Jan, 01:00
        "TRX-OUT-LATE": dict(label="alice", created_at=utc(2026, 1, 31, 19, 30)),  # 1 Feb, 01:30 in Dhaka
        "TRX-OUT-FEB": dict(label="alice", created_at=utc(2026, 2, 15, 9, 0)),
        "TRX-OUT-BOB": dict(label="bob", created_at=utc(2026, 1, 12, 9, 0)),
    }
    for number, fields in rows.items():
        factories.transaction(wallet, transaction_number=number, **fields)
    stranger = factories.merchant(name="Other")  # the same label at another merchant: never shown
    factories.transaction(factories.wallet(stranger, bkash), transaction_number="TRX-OTHER",
                          label="alice", created_at=utc(2026, 1, 15, 9, 0))

    page, watch, screens = journey("owner", accept_downloads=True,
                                   permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, backoffice_url, owner, factories.PASSWORD, screens)
    screens.shot(page, "dashboard")

    # Transactions: filter by label and by creation date with the filter bar and calendar.
    open_menu(page, "Payments", "Transactions")
    page.wait_for_selector("table.model-list")
    assert set(list_column(page, "Transaction number")) == set(rows)
    # The label is one of the basic filters shown above the list; the date range is under "Add Filter".
    basic = page.locator("[data-testid=basic-filters]")
    basic.locator("input[data-filter$=label_equals]").fill("alice")
    with page.expect_navigation():
        basic.locator("[data-testid=basic-filters-apply]").click()
    add_filter(page, "Creation date")
    page.click("#filter_form input[name$=_creation_date_between]")
    picker = page.locator(".daterangepicker:visible")
    picker.locator("input[name=daterangepicker_start]").fill("2026-01-01")
    picker.locator("input[name=daterangepicker_end]").fill("2026-01-31")
    screens.shot(page, "transactions-filter")
    picker.locator("button.applyBtn").click()
    # The picker names whole days as from the first second to the last.
    assert page.input_value("#filter_form input[name$=_creation_date_between]") == \
        "2026-01-01 00:00:00 to 2026-01-31 23:59:59"
    with page.expect_navigation():
        page.click("#filter_form button[type=submit]")
    assert "label_equals=alice" in page.url
    assert "creation_date_between=2026-01-01+00%3A00%3A00+to+2026-01-31+23%3A59%3A59" in page.url
    shown = list_column(page, "Transaction number")
    assert sorted(shown) == ["TRX-IN-1", "TRX-IN-2"]
    assert list_column(page, "Created", full=True) == ["2026-01-10 16:00:00", "2026-01-01 01:00:00"]  # newest first, Dhaka
    screens.shot(page, "transactions-filtered")

    # CSV export of the filtered list.
    with page.expect_download() as download_info:
        page.click("a[title=Export]")
    download = download_info.value
    assert download.failure() is None
    watch.expect(lambda e: e == f"request failed: GET {download.url}: net::ERR_ABORTED",
                 "Chromium ends a navigation that turns into a download with ERR_ABORTED; the file itself arrived")
    assert download.suggested_filename.startswith("transactions_") and download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    assert sorted((r["Transaction number"], r["Label"], r["Amount"]) for r in exported) == [
        ("TRX-IN-1", "alice", "600.00"), ("TRX-IN-2", "alice", "750.00")]

    # Plugin appearance: drop a GIF prompt into the modal.
    open_menu(page, "Settings", "Plugin appearance")
    page.wait_for_selector("[data-testid=prompt-row-bkash]")
    screens.shot(page, "plugin-appearance")
    modal = drop_gif_prompt(page, settings.id)
    assert page.evaluate(f"document.getElementById('prompt-file-{settings.id}').files[0].name") == "how-to-pay.gif"
    page.wait_for_timeout(300)  # the modal's fade-in, for the picture
    screens.shot(page, "gif-dropped")
    with page.expect_navigation():
        modal.locator("button[type=submit]").click()
    assert "The GIF prompt for bKash is saved." in flash_text(page)
    name = MerchantPaymentSystem.get_by_id(settings.id).gif_prompt
    assert name and name.endswith(".gif")
    prompt = page.locator(f"img[src='/plugin/v1/prompts/{name}']")
    assert prompt.count() == 1
    page.wait_for_function("(img) => img.complete && img.naturalWidth === 24", arg=prompt.element_handle())
    served = page.request.get(f"{backoffice_url}/plugin/v1/prompts/{name}")
    assert served.status == 200 and served.headers["content-type"] == "image/gif"
    assert served.headers["x-content-type-options"] == "nosniff"

    # Own theme: upload a stylesheet; it is live (re-serialised) and the plugin uses it.
    page.check("#theme-own")
    page.set_input_files("#theme-css", files=[{"name": "my-theme.css", "mimeType": "text/css", "buffer": OWN_CSS}])
    screens.shot(page, "own-theme-chosen")
    with page.expect_navigation():
        page.click("button:has-text('Save theme')")
    assert "Your own theme is live." in flash_text(page)
    assert page.inner_text("[data-testid=current-theme]") == "Own"
    stored = Merchant.get_by_id(merchant.id)
    assert stored.theme == "own" and "rgb(200, 30, 90)" in stored.own_css and "my shop" not in stored.own_css
    screens.shot(page, "own-theme-saved")
    css_url = page.get_attribute("a:has-text('View the stylesheet')", "href")
    css = page.request.get(backoffice_url + css_url if css_url.startswith("/") else css_url)
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    assert css.text() == stored.own_css
    plugin = page.context.new_page()
    plugin.goto(f"{backoffice_url}/plugin/v1/page?merchant={merchant.public_key}&label=preview&lang=en")
    assert plugin.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(16, 32, 48)"
    assert plugin.evaluate("getComputedStyle(document.querySelector('.bo-submit')).backgroundColor") == \
        "rgb(200, 30, 90)"
    assert plugin.locator("img.bo-prompt").get_attribute("src") == f"/plugin/v1/prompts/{name}"
    screens.shot(plugin, "plugin-with-own-theme")
    plugin.close()

    # Plugin installation: the Copy button puts the snippet on the clipboard.
    open_menu(page, "Settings", "Plugin installation")
    shown_snippet = page.inner_text("[data-testid=snippet]")
    assert shown_snippet == snippet(stored, backoffice_url + "/")
    assert f'data-merchant="{merchant.public_key}"' in shown_snippet
    page.evaluate("navigator.clipboard.writeText('something else')")
    page.click("#plugin-copy")
    page.wait_for_function("document.getElementById('plugin-copy-status').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == shown_snippet
    screens.shot(page, "snippet-copied")

    watch.assert_clean()


# --- 2. a withdrawal, from the request to the postback -----------------------------------------

def test_withdrawal_request_approved_by_the_operator_and_its_postback_resent(
        app, conn, journey, backoffice_url, receiver, run_jobs):
    systems = seed_payment_systems()
    upi = systems["upi"]
    merchant = factories.merchant(name="Shop", timezone="Asia/Kolkata", postback_url=receiver.url)
    factories.merchant_payment_system(merchant, upi, min_deposit="300.00")
    payer = factories.wallet(merchant, upi, number="9876500001")
    fund(merchant, upi, amount="1000.00", commission="25.00", wallet=payer)  # 975.00 INR available
    owner = factories.user("merchant_owner", merchant=merchant)  # no second factor
    operator = factories.user("operator")  # operators always have one

    # The merchant owner asks for a withdrawal on UPI.
    page, watch, screens = journey("withdrawal-owner")
    sign_in(page, backoffice_url, owner, factories.PASSWORD)
    open_menu(page, "Payments", "Withdrawals")
    assert "975.00\u00a0INR" in page.inner_text("[data-testid=balances]")
    screens.shot(page, "withdrawals")
    page.click("[data-testid=add-withdrawal]")
    page.select_option("#payment_system", label="UPI (INR)")
    screens.shot(page, "choose-payment-system")
    with page.expect_navigation():
        page.click("button:has-text('Next')")
    labels = page.locator("form label").all_inner_texts()
    for required in ("Recipient UPI ID *", "Recipient name *", "Bank name *", "IFSC code *"):
        assert required in labels
    assert "Account type" in labels  # optional: no star
    fields = VALID_FIELDS["upi"]
    page.fill("#f-recipient_wallet", fields["recipient_wallet"])
    page.fill("#f-recipient_name", fields["recipient_name"])
    page.fill("#f-branch_code", fields["branch_code"])  # the bank name is left out
    page.fill("#amount", "500.00")
    page.fill("#label", "payout-7")
    with page.expect_navigation():
        page.click("button:has-text('Create request')")
    assert page.locator("[data-field='fields.bank_name']").is_visible()
    assert page.input_value("#f-recipient_wallet") == fields["recipient_wallet"]  # what was typed is kept
    assert Withdrawal.select().count() == 0
    screens.shot(page, "required-field-missing")
    page.fill("#f-bank_name", fields["bank_name"])
    page.fill("#f-account_type", fields["account_type"])
    page.fill("#comment", "weekly payout")
    with page.expect_navigation():
        page.click("button:has-text('Create request')")
    assert "Withdrawal request bo-" in flash_text(page)
    withdrawal = Withdrawal.get()
    assert (withdrawal.merchant_id, withdrawal.payment_system_id) == (merchant.id, upi.id)
    assert (withdrawal.amount, withdrawal.currency, withdrawal.label) == (Decimal("500.00"), "INR", "payout-7")
    assert withdrawal.fields == fields and withdrawal.wallet_recipient == fields["recipient_wallet"]
    assert (withdrawal.request_kind, withdrawal.status, withdrawal.comment) == ("manual", "new", "weekly payout")
    assert list_column(page, "Withdrawal ID") == [withdrawal.withdrawal_id]
    assert list_column(page, "Status") == ["New"]
    screens.shot(page, "request-created")

    # The operator signs in with TOTP and approves it, choosing the paying wallet.
    op_page, op_watch, op_screens = journey("withdrawal-operator")
    sign_in(op_page, backoffice_url, operator, factories.PASSWORD, op_screens)
    op_page.goto(backoffice_url + "/admin/withdrawals/")
    op_screens.shot(op_page, "withdrawals")
    with op_page.expect_navigation():
        op_page.click("a[title=Approve]")
    op_page.select_option(f"#wallet_{merchant.id}_{upi.id}", str(payer.id))
    op_page.fill(f"#reference_{withdrawal.id}", "UPI-REF-7781")  # the payout reference, required
    op_page.set_input_files(f"#receipt_{withdrawal.id}", files=[
        {"name": "receipt.png", "mimeType": "image/png", "buffer": receipt_png()}])
    op_screens.shot(op_page, "approve")
    with op_page.expect_navigation():
        op_page.click("button:has-text('Approve')")
    assert "1 withdrawal request(s) approved." in flash_text(op_page)
    withdrawal = Withdrawal.get_by_id(withdrawal.id)
    assert (withdrawal.status, withdrawal.wallet_sender_id, withdrawal.decided_by_id) == ("approved", payer.id,
                                                                                         operator.id)
    assert (withdrawal.payout_reference, withdrawal.payout_receipt_type) == ("UPI-REF-7781", "image/png")

    # The merchant owner sees the payout reference and the receipt on the request's page.
    page.reload()
    assert list_column(page, "Status") == ["Approved"]
    with page.expect_navigation():
        page.click("table.model-list a[title='View Record']")
    assert "UPI-REF-7781" in page.inner_text("table")
    receipt = page.locator("[data-testid=payout-receipt] img")
    receipt.wait_for(state="visible")
    assert page.evaluate("(img) => img.complete && img.naturalWidth", receipt.element_handle()) == 40
    screens.shot(page, "approved-with-receipt")
    assert withdrawal.decided_at is not None and withdrawal.postback_status == "pending"
    postback = Postback.get((Postback.object_type == "withdrawal") & (Postback.object_id == withdrawal.id))
    assert (postback.event_type, postback.status, postback.merchant_id) == ("withdrawal.approved", "pending",
                                                                            merchant.id)
    assert Postback.select().count() == 1

    # The job delivers it to the merchant's server.
    run_jobs()
    assert [json.loads(r["body"])["id"] for r in receiver.requests] == [postback.event_id]
    assert json.loads(receiver.requests[0]["body"])["type"] == "withdrawal.approved"
    assert receiver.requests[0]["headers"]["webhook-id"] == postback.event_id
    assert Postback.get_by_id(postback.id).status == "sent"
    assert Withdrawal.get_by_id(withdrawal.id).postback_status == "received"
    op_page.reload()
    assert list_column(op_page, "Status") == ["Approved"]
    op_screens.shot(op_page, "approved")

    # The operator resends the postback from its details page: a new delivery, same event.
    open_menu(op_page, "Postbacks")
    assert list_column(op_page, "Event ID") == [postback.event_id]
    with op_page.expect_navigation():
        op_page.click("table.model-list a[title='View Record']")
    op_screens.shot(op_page, "postback-details")
    with op_page.expect_navigation():
        op_page.click("[data-testid=resend-postback] button")
    assert f"Postback {postback.event_id} will be sent again." in flash_text(op_page)
    resent = Postback.get_by_id(postback.id)
    assert (resent.delivery, resent.status, resent.attempts) == (2, "pending", 0)
    assert AuditLog.select().where(AuditLog.action == "postback.resend").count() == 1
    run_jobs()
    assert [json.loads(r["body"])["id"] for r in receiver.requests] == [postback.event_id, postback.event_id]
    assert receiver.requests[1]["body"] == receiver.requests[0]["body"]  # the frozen payload
    attempts = list(PostbackAttempt.select().where(PostbackAttempt.postback == postback.id)
                    .order_by(PostbackAttempt.id))
    assert [(a.delivery, a.http_status) for a in attempts] == [(1, 200), (2, 200)]
    assert Postback.get_by_id(postback.id).status == "sent"
    assert Postback.select().count() == 1  # the same event, not a new one
    op_page.reload()
    assert op_page.locator("[data-testid=postback-attempts] tbody tr").count() == 2
    op_screens.shot(op_page, "postback-resent")

    watch.assert_clean()
    op_watch.assert_clean()


def test_merchant_cancels_a_withdrawal_request_and_sees_the_hold_released(
        app, conn, journey, backoffice_url, receiver, run_jobs):
    systems = seed_payment_systems()
    bkash = systems["bkash"]
    merchant = factories.merchant(name="Shop", timezone="Asia/Dhaka", postback_url=receiver.url)
    factories.merchant_payment_system(merchant, bkash)
    fund(merchant, bkash, amount="1000.00", commission="25.00")  # 975.00 BDT available
    owner = factories.user("merchant_owner", merchant=merchant)

    page, watch, screens = journey("withdrawal-cancel")
    sign_in(page, backoffice_url, owner, factories.PASSWORD)
    (available, on_hold), entries = balance_screen(page)
    assert (available, on_hold) == ("975.00", "0.00")
    assert [e[0] for e in entries] == ["Deposit", "Commission"]

    # The owner asks for a withdrawal: the amount moves from available to on hold.
    open_menu(page, "Payments", "Withdrawals")
    page.click("[data-testid=add-withdrawal]")
    page.select_option("#payment_system", label="bKash (BDT)")
    with page.expect_navigation():
        page.click("button:has-text('Next')")
    fields = VALID_FIELDS["bkash"]
    page.fill("#f-recipient_wallet", fields["recipient_wallet"])
    page.fill("#f-recipient_name", fields["recipient_name"])
    page.fill("#amount", "300.00")
    page.fill("#label", "payout-9")
    with page.expect_navigation():
        page.click("button:has-text('Create request')")
    withdrawal = Withdrawal.get()
    assert withdrawal.status == "new"
    (available, on_hold), entries = balance_screen(page)
    assert (available, on_hold) == ("675.00", "300.00")
    assert entries[-1] == ("Withdrawal requested (held)", "-300.00", "300.00", "675.00", "300.00")
    screens.shot(page, "balance-with-hold")

    # It cancels the request from its page (the browser asks first).
    open_menu(page, "Payments", "Withdrawals")
    with page.expect_navigation():
        page.click("table.model-list a[title='View Record']")
    screens.shot(page, "request-details")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("[data-testid=cancel-buttons] button")
    assert f"Withdrawal request {withdrawal.withdrawal_id} cancelled" in flash_text(page)
    assert page.locator("[data-testid=cancel-buttons]").count() == 0
    screens.shot(page, "request-cancelled")
    assert Withdrawal.get_by_id(withdrawal.id).status == "cancelled"
    open_menu(page, "Payments", "Withdrawals")
    assert list_column(page, "Status") == ["Cancelled"]
    assert "975.00\u00a0BDT" in page.inner_text("[data-testid=balances]")

    # The statement shows the hold and its release; the money is available again.
    (available, on_hold), entries = balance_screen(page)
    assert (available, on_hold) == ("975.00", "0.00")
    assert entries[-2:] == [("Withdrawal requested (held)", "-300.00", "300.00", "675.00", "300.00"),
                            ("Withdrawal hold released", "300.00", "-300.00", "975.00", "0.00")]
    closing = page.locator("[data-testid=statement] tbody tr[data-row=closing] td").all_inner_texts()
    assert [cell.strip() for cell in closing[5:7]] == ["975.00", "0.00"]
    screens.shot(page, "balance-released")

    # The merchant's server hears of it.
    run_jobs()
    assert [json.loads(r["body"])["type"] for r in receiver.requests] == ["withdrawal.cancelled"]
    assert json.loads(receiver.requests[0]["body"])["data"]["status"] == "cancelled"
    watch.assert_clean()


# --- 3. the site visitor --------------------------------------------------------------------------

def plugin_frame(page):
    frame = page.frame_locator("#backoffice-deposit iframe")
    frame.locator("[data-testid=number]").wait_for()
    return frame


def pay(page, frame, number, deposits_before):
    frame.locator("[data-testid=number]").fill(number)
    frame.locator("[data-testid=submit]").click()
    page.wait_for_function(f"window.deposits.length > {deposits_before}")
    return page.evaluate("window.deposits")[-1]


def test_visitor_completes_a_stockpiled_deposit_in_three_payments(app, conn, journey, backoffice_url, shop):
    pages, shop_url = shop
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    nagad = factories.payment_system("nagad", "BDT", name="Nagad")
    merchant = factories.merchant(name="Shop", allowed_origins=[shop_url], require_signed_labels=True,
                                  postback_url=MERCHANT_HOOK)
    factories.merchant_payment_system(merchant, bkash, min_deposit="500.00", commission="2.00")
    factories.merchant_payment_system(merchant, nagad, min_deposit="300.00")
    wallet = factories.wallet(merchant, bkash, number="01712345678")
    factories.wallet(merchant, nagad, number="01898765432")
    token = connector_token(["bkash", "nagad"])
    # The visitor sends three small payments; the connector reports each of them.
    for number, amount in (("TRX-S-1", "150.00"), ("TRX-S-2", "200.00"), ("TRX-S-3", "250.00")):
        status, body = connector_report(backoffice_url, token, payment_system="bkash", wallet_number=wallet.number,
                                        transaction_number=number, amount=amount, currency="BDT")
        assert status == 201 and body["transaction"]["status"] == "new"
    label, order_id = "visitor-42", "order-7"
    pages["html"] = HOST_PAGE.format(snippet=snippet(
        merchant, backoffice_url, label=label, order_id=order_id, lang="en",
        signature=label_signature(merchant.plugin_secret, label, order_id)))

    page, watch, screens = journey("visitor-stockpiling", viewport={"width": 420, "height": 900})
    page.goto(shop_url + "/checkout")
    frame = plugin_frame(page)
    frame.locator("[data-testid=ps-bkash]").check()
    assert frame.locator("[data-testid=wallet-bkash]").inner_text() == wallet.number
    screens.shot(page, "checkout")

    first = pay(page, frame, "TRX-S-1", 0)
    assert first == {"status": "stockpiling", "amount": "150.00", "currency": "BDT", "order_id": order_id}
    text = frame.locator("[data-testid=result]").inner_text()
    assert "150.00 BDT" in text and "350.00 BDT" in text
    screens.shot(page, "first-payment")
    second = pay(page, frame, "TRX-S-2", 1)
    assert (second["status"], second["amount"]) == ("stockpiling", "350.00")
    assert "150.00 BDT" in frame.locator("[data-testid=result]").inner_text()  # still to pay
    screens.shot(page, "second-payment")
    assert Postback.select().count() == 0  # nothing is sent before the minimum is reached
    third = pay(page, frame, "TRX-S-3", 2)
    assert third == {"status": "activated", "amount": "600.00", "currency": "BDT", "order_id": order_id}
    assert "600.00 BDT" in frame.locator("[data-testid=result]").inner_text()
    screens.shot(page, "deposit-complete")
    # Typing a used number again is refused: a payment is never counted twice.
    again = pay(page, frame, "TRX-S-2", 3)
    assert again["status"] == "already_activated"

    stockpiling = Stockpiling.get()
    assert (stockpiling.status, stockpiling.label, stockpiling.merchant_id) == ("completed", label, merchant.id)
    assert (stockpiling.accumulated_amount, stockpiling.required_amount) == (Decimal("600.00"), Decimal("500.00"))
    members = list(Transaction.select().order_by(Transaction.transaction_number))
    assert [t.transaction_number for t in members] == ["TRX-S-1", "TRX-S-2", "TRX-S-3"]
    for tx in members:
        assert (tx.status, tx.label, tx.stockpiling_id) == ("activated", label, stockpiling.id)
        assert tx.activated_at is not None and tx.postback_status == "pending"
        assert tx.stockpiling_end_at == stockpiling.completed_at
    postbacks = list(Postback.select())
    assert len(postbacks) == 1
    event = json.loads(postbacks[0].payload)
    assert (postbacks[0].event_type, postbacks[0].object_type, postbacks[0].object_id) == (
        "deposit.completed", "stockpiling", stockpiling.id)
    assert (event["data"]["amount"], event["data"]["label"], event["data"]["currency"]) == ("600.00", label, "BDT")
    assert [t["transaction_number"] for t in event["data"]["transactions"]] == ["TRX-S-1", "TRX-S-2", "TRX-S-3"]
    watch.assert_clean()


def test_visitor_pays_before_the_report_and_the_deposit_activates_later(
        app, conn, journey, backoffice_url, shop):
    pages, shop_url = shop
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    merchant = factories.merchant(name="Lucky", allowed_origins=[shop_url], delayed_activation=True,
                                  postback_url=MERCHANT_HOOK)
    factories.merchant_payment_system(merchant, bkash, min_deposit="500.00")
    wallet = factories.wallet(merchant, bkash, number="01712345678")
    token = connector_token(["bkash"])
    label, order_id = "visitor-9", "order-31"
    pages["html"] = HOST_PAGE.format(snippet=snippet(merchant, backoffice_url, label=label, order_id=order_id,
                                                     lang="en"))

    app.config["PLUGIN_PENDING_POLL_SECONDS"] = 0.3  # the page asks after its deposit this often
    page, watch, screens = journey("visitor-delayed", viewport={"width": 420, "height": 900})
    page.goto(shop_url + "/checkout")
    frame = plugin_frame(page)
    screens.shot(page, "checkout")
    waiting = pay(page, frame, "TRX-LATE-1", 0)
    assert waiting["status"] == "pending"
    assert "not received this payment yet" in frame.locator("[data-testid=result]").inner_text()
    screens.shot(page, "waiting-for-the-report")
    entry = PendingActivation.get()
    assert (entry.status, entry.label, entry.order_id, entry.transaction_number) == (
        "waiting", label, order_id, "TRX-LATE-1")
    assert Transaction.select().count() == 0 and Postback.select().count() == 0

    # The connector reports the payment afterwards: the deposit activates by itself.
    status, body = connector_report(backoffice_url, token, payment_system="bkash", wallet_number=wallet.number,
                                    transaction_number="TRX-LATE-1", amount="700.00", currency="BDT")
    assert status == 201
    assert body["activation"] == {"status": "activated", "amount": "700.00", "currency": "BDT"}
    tx = Transaction.get(Transaction.transaction_number == "TRX-LATE-1")
    assert (tx.status, tx.label, tx.order_id, tx.postback_status) == ("activated", label, order_id, "pending")
    assert PendingActivation.get_by_id(entry.id).status == "activated"
    postback = Postback.get()
    assert (postback.event_type, postback.object_type, postback.object_id) == ("deposit.completed", "transaction",
                                                                               tx.id)
    assert json.loads(postback.payload)["data"]["order_id"] == order_id
    # The page, still open, learns it by itself and tells the host page.
    page.wait_for_function("window.deposits.length > 1", timeout=5000)
    assert page.evaluate("window.deposits")[-1] == {"status": "activated",
                                                    "amount": "700.00", "currency": "BDT", "order_id": order_id}
    assert frame.locator("[data-testid=result]").inner_text() == (
        "Payment received: 700.00 BDT has been credited to your account.")
    screens.shot(page, "activated-meanwhile")
    # The same number typed again is not counted twice.
    again = pay(page, frame, "TRX-LATE-1", 2)
    assert again["status"] == "already_activated"
    assert Postback.select().count() == 1
    watch.assert_clean()


@pytest.fixture
def hanging_url():
    """The base URL of a port that accepts connections (the kernel's backlog) and never answers."""
    import socket

    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(8)
        yield f"http://127.0.0.1:{hanging.getsockname()[1]}"


@pytest.fixture
def watched_site(browser):
    """``open(html, missing=())`` → (page, watch, url): a context watched from its first
    page, on a server that answers every path with ``html`` (404 for ``missing``); all
    closed after."""
    opened = []

    def open_(html, missing=()):
        server, url = shop_server({"html": html, "missing": list(missing)})
        context = browser.new_context()
        opened.append((server, context))
        watch = PageWatch(context)
        return context.new_page(), watch, url

    yield open_
    for server, context in opened:
        context.close()
        server.stop()


def test_the_watch_reports_a_broken_screen(watched_site):
    """The guard itself: a script error, a console error, a missing file and a request
    that never gets an answer are caught."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    page, watch, url = watched_site(f"""<!doctype html><html><head><meta charset="utf-8">
        <title>Broken</title><link rel="stylesheet" href="/missing.css">
        <link rel="stylesheet" href="http://127.0.0.1:{closed}/nothing.css"></head><body>
        <script>console.error("boom"); undefinedFunction();</script></body></html>""", missing=["/missing.css"])
    page.goto(url + "/broken")
    page.wait_for_load_state("load")
    problems = watch.problems()
    assert any("console error: boom" in p for p in problems), problems
    assert any(p.startswith("uncaught exception:") and "undefinedFunction" in p for p in problems), problems
    assert any(p == f"HTTP 404: GET {url}/missing.css" for p in problems), problems
    assert any(p.startswith(f"request failed: GET http://127.0.0.1:{closed}/nothing.css") for p in problems)
    with pytest.raises(AssertionError):
        watch.assert_clean()
    watch.expect(lambda e: True, "everything above was caused on purpose")
    watch.assert_clean()


def test_the_watch_forgives_what_a_page_left_behind_cancels(watched_site, hanging_url):
    """Leaving a page before it finished loading cancels its last requests
    (net::ERR_ABORTED): not a broken screen."""
    picture = hanging_url + "/slow.png"
    page, watch, url = watched_site(f'<!doctype html><html><head><meta charset="utf-8"><title>Slow</title>'
                                 f'</head><body><img src="{picture}" alt=""></body></html>')
    with page.expect_request(picture):
        page.goto(url + "/first", wait_until="domcontentloaded")
    page.goto(url + "/second", wait_until="domcontentloaded")  # the picture is still loading
    page.wait_for_timeout(300)
    assert watch.problems() == []
    # A request cancelled with no navigation to explain it is reported.
    page.evaluate("""(picture) => { const c = new AbortController();
        fetch(picture, {signal: c.signal}).catch(() => {}); setTimeout(() => c.abort(), 100); }""", picture)
    page.wait_for_timeout(400)
    assert [p for p in watch.problems() if picture in p] == [f"request failed: GET {picture}: net::ERR_ABORTED"]


def test_the_watch_forgives_a_script_cancelled_by_a_form_of_the_page(watched_site, hanging_url):
    """A form sent while the page still waits for a script: Chromium reports the
    cancelled script before the navigation that cancelled it. Still not a broken screen."""
    script = hanging_url + "/slow.js"  # holds the page's parsing
    page, watch, url = watched_site(f'<!doctype html><html><head><meta charset="utf-8"><title>Slow</title>'
                                 f'</head><body><form action="/next"><button id="away">Next</button></form>'
                                 f'<script src="{script}"></script></body></html>')
    with page.expect_request(script):
        page.goto(url + "/first", wait_until="commit")
    with page.expect_request(script):  # the next page asks for it again
        page.click("#away")
    page.wait_for_timeout(300)
    assert watch.problems() == []
