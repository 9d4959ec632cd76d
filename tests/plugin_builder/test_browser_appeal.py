"""A visitor's appeal in a real browser (issue 19, SPEC §12): Playwright driving Debian's Chromium.

The journey: a visitor on the merchant's shop page types a transaction number the
plugin does not know (``not_found``), opens "I paid, but it is not credited", files
the appeal with a receipt picture and gets its reference; the connector reports the
payment meanwhile; an operator signs in, finds the appeal in the Appeals queue, sees
the receipt and matches the appeal to the payment; the visitor reopens the plugin and
reads "credited". Also: a rejection's reason is shown as text (never as HTML) in the
page's language; the form's own checks (a receipt over 2 MiB, empty fields, a time in
the future) and a fault only the server sees (too many open appeals) are said beside
their field; the page works 320 px wide.

Skipped when Chromium or the playwright package is missing, unless REQUIRE_BROWSER=1.
"""
import datetime
import io
from decimal import Decimal

import pytest
from PIL import Image
from browser_support import backoffice_url, browser, contexts, shop  # noqa: F401 - fixtures
from browser_support import HOST_PAGE, Screens, backend_of, sign_in

import factories
from backoffice.models import Appeal, AppealReceipt, Transaction, utcnow
from backoffice.plugin_builder.messages import Words
from backoffice.plugin_builder.signing import label_signature
from backoffice.plugin_builder.snippet import snippet
from backoffice.services import appeals
from backoffice.services.ingest import Report, ingest

FRAME = "#backoffice-deposit iframe"
LABEL, ORDER_ID = "visitor-7", "order-42"
NUMBER = "TRX-APL-E2E-1"


def merchant_on(base_url, shop_url, pages, lang="en", signed=True):
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    merchant = factories.merchant(name="Shop", allowed_origins=[shop_url], require_signed_labels=signed)
    factories.merchant_payment_system(merchant, ps, min_deposit="500.00")
    wallet = factories.wallet(merchant, ps, number="01712345678")
    pages["html"] = HOST_PAGE.format(snippet=snippet(
        merchant, base_url, label=LABEL, order_id=ORDER_ID, lang=lang,
        signature=label_signature(merchant.plugin_secret, LABEL, ORDER_ID) if signed else None))
    return merchant, wallet


def receipt_png(size=(120, 80)):
    image = Image.new("RGB", size, (20, 140, 90))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def plugin_frame(page, base_url):
    return next(f for f in page.frames if f.url.startswith(base_url))


def open_plugin(page, shop_url):
    page.goto(shop_url + "/checkout")
    frame = page.frame_locator(FRAME)
    frame.locator("[data-testid=number]").wait_for()
    return frame


def ask_unknown_number(page, frame, words, number=NUMBER, count=1):
    """Type a number the plugin does not know: ``not_found``, and the next step offered."""
    frame.locator("[data-testid=number]").fill(number)
    frame.locator("[data-testid=submit]").click()
    page.wait_for_function(f"window.deposits.length >= {count}")
    assert page.evaluate("window.deposits")[count - 1]["status"] == "not_found"
    assert frame.locator("[data-testid=result]").inner_text() == words["not_found"]
    opener = frame.locator("[data-testid=appeal-open]")
    opener.wait_for(state="visible")
    assert opener.inner_text() == words["appeal_open"]
    return opener


def open_appeal_form(frame, opener):
    assert frame.locator("[data-testid=appeal-form]").is_hidden()
    assert opener.get_attribute("aria-expanded") == "false"
    opener.click()
    frame.locator("[data-testid=appeal-form]").wait_for(state="visible")
    assert opener.get_attribute("aria-expanded") == "true"
    assert frame.locator("#bo-appeal-h:focus").count() == 1  # focus moved to the new step


def frame_height(page):
    """The plugin frame's height on the shop page (the loader sets it from the page's messages)."""
    return int(page.evaluate(f"document.querySelector('{FRAME}').style.height").removesuffix("px"))


def no_sideways_scroll(plugin):
    return plugin.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_visitor_appeals_operator_matches_visitor_sees_it_credited(app, backoffice_url, shop, contexts, request):
    pages, shop_url = shop
    words = Words("en").all()
    merchant, wallet = merchant_on(backoffice_url, shop_url, pages)
    operator = factories.user("operator")
    screens = Screens("appeal", backend_of(request))

    # The visitor (in Dhaka, UTC+6) types a number nobody has reported yet.
    visitor, visitor_watch = contexts(timezone_id="Asia/Dhaka", viewport={"width": 320, "height": 900})
    page = visitor.new_page()
    frame = open_plugin(page, shop_url)
    assert frame.locator("[data-testid=appeals]").is_hidden()  # nothing filed from this browser yet
    opener = ask_unknown_number(page, frame, words)
    screens.shot(page, "not-found")
    open_appeal_form(frame, opener)
    plugin = plugin_frame(page, backoffice_url)

    # the form: the number prefilled, the time "now" by the visitor's clock, labels for each field
    assert frame.locator("[data-testid=appeal-number]").input_value() == NUMBER
    paid_at = frame.locator("[data-testid=appeal-paid-at]")
    assert paid_at.get_attribute("type") == "datetime-local" and paid_at.input_value()
    assert frame.locator("[data-testid=appeal-currency]").inner_text() == "BDT"
    for testid, key in (("appeal-number", "appeal_number_label"), ("appeal-amount", "amount_label"),
                        ("appeal-sender", "appeal_sender_label"), ("appeal-paid-at", "appeal_paid_at_label"),
                        ("appeal-receipt", "appeal_receipt_label")):
        assert frame.get_by_label(words[key], exact=True).get_attribute("data-testid") == testid
    assert frame.locator("[data-testid=appeal-receipt]").get_attribute("accept") == "image/png,image/jpeg"
    frame.locator("[data-testid=appeal-amount]").fill("900")
    frame.locator("[data-testid=appeal-sender]").fill("01711114321")
    frame.locator("[data-testid=appeal-receipt]").set_input_files(files=[
        {"name": "receipt.png", "mimeType": "image/png", "buffer": receipt_png()}])
    assert no_sideways_scroll(plugin)
    screens.shot(page, "appeal-form")
    form_height = frame_height(page)
    frame.locator("[data-testid=appeal-submit]").click()

    ref = frame.locator("[data-testid=appeal-ref]")
    ref.wait_for()
    public_id = ref.inner_text()
    assert public_id.startswith("apl_")
    result = frame.locator("[data-testid=appeal-result]")
    assert words["appeal_sent"] in result.inner_text() and words["appeal_next"] in result.inner_text()
    assert result.get_attribute("aria-live") == "polite"
    assert frame.locator("[data-testid=appeal-result]:focus").count() == 1
    assert frame.locator("[data-testid=appeal-form]").is_hidden()
    item = frame.locator(f"[data-testid=appeal-{public_id}]")
    assert words["appeal_state_open"] in item.inner_text()
    # the form closed: the shop's frame shrinks to the content (no blank space left)
    page.wait_for_function(f"parseInt(document.querySelector('{FRAME}').style.height) < {form_height}")
    screens.shot(page, "appeal-filed")

    appeal = Appeal.get(Appeal.public_id == public_id)
    assert (appeal.merchant_id, appeal.label, appeal.order_id, appeal.transaction_number) == (
        merchant.id, LABEL, ORDER_ID, NUMBER)
    assert (appeal.amount, appeal.currency, appeal.sender, appeal.status) == (
        Decimal("900.00"), "BDT", "01711114321", "open")
    # "now" in Dhaka, sent as UTC: within minutes of the server's clock (not 6 hours off)
    assert abs(appeal.paid_at - utcnow()) < datetime.timedelta(minutes=5)
    assert appeal.has_receipt
    with Image.open(io.BytesIO(bytes(AppealReceipt.get(AppealReceipt.appeal == appeal.id).data))) as stored:
        assert stored.format == "PNG" and stored.size == (120, 80)
    key = f"bo-appeals:{merchant.public_key}:{LABEL}"
    assert public_id in plugin.evaluate("(key) => localStorage.getItem(key)", key)

    # Reopened before anyone looked: "being checked".
    frame = open_plugin(page, shop_url)
    item = frame.locator(f"[data-testid=appeal-{public_id}]")
    item.wait_for()
    assert words["appeal_state_open"] in item.inner_text() and NUMBER in item.inner_text()

    # The connector reports the payment meanwhile (the visitor's number, now known).
    with app.app_context():
        tx = ingest(Report("bkash", wallet.number, NUMBER, Decimal("900.00"), "BDT",
                           counterparty="01711114321")).transaction
    assert tx.status == "new"

    # The operator finds the appeal in the queue, sees the receipt and matches it.
    office, office_watch = contexts(viewport={"width": 1280, "height": 900})
    op = office.new_page()
    sign_in(op, backoffice_url, operator, factories.PASSWORD)
    op.goto(backoffice_url + "/admin/appeals/")
    op.locator(f"a[href*='/admin/appeals/details/?id={appeal.id}']").first.click()
    op.wait_for_url(f"**/admin/appeals/details/?id={appeal.id}")
    receipt = op.locator("[data-testid=appeal-receipt]")
    receipt.wait_for()
    assert receipt.get_attribute("src").endswith(f"/admin/appeals/receipt/?id={appeal.id}")
    op.wait_for_function("(img) => img.complete && img.naturalWidth === 120", arg=receipt.element_handle())
    screens.shot(op, "operator-details")
    with op.expect_navigation():
        op.locator(f"[data-testid=match-{tx.id}]").click()
    assert f"/admin/appeals/details/?id={appeal.id}" in op.url
    assert public_id in " ".join(op.locator(".alert").all_inner_texts())
    screens.shot(op, "operator-matched")
    appeal = Appeal.get_by_id(appeal.id)
    tx = Transaction.get_by_id(tx.id)
    assert (appeal.status, appeal.transaction_id, appeal.resolved_by_id) == ("matched", tx.id, operator.id)
    assert (tx.status, tx.label, tx.order_id) == ("activated", LABEL, ORDER_ID)

    # The visitor reopens the plugin: credited.
    frame = open_plugin(page, shop_url)
    item = frame.locator(f"[data-testid=appeal-{public_id}]")
    item.wait_for()
    frame.locator(f"[data-testid=appeal-{public_id}][data-status=matched]").wait_for()
    assert words["appeal_state_matched"] in item.inner_text()
    assert frame.locator("[data-testid=appeals] li").count() == 1
    assert no_sideways_scroll(plugin_frame(page, backoffice_url))
    screens.shot(page, "appeal-credited")
    visitor_watch.assert_clean()
    office_watch.assert_clean()


def test_a_rejection_reads_its_reason_as_text_in_russian(app, backoffice_url, shop, contexts):
    pages, shop_url = shop
    words = Words("ru").all()
    merchant, _wallet = merchant_on(backoffice_url, shop_url, pages, lang="ru", signed=False)
    operator = factories.user("operator")
    context, watch = contexts(viewport={"width": 320, "height": 900})
    page = context.new_page()
    frame = open_plugin(page, shop_url)
    open_appeal_form(frame, ask_unknown_number(page, frame, words, number="TRX-RU-1"))
    assert frame.locator("#bo-appeal-h").inner_text() == words["appeal_title"]
    frame.locator("[data-testid=appeal-amount]").fill("1 200,50")  # a Russian way of writing it
    frame.locator("[data-testid=appeal-sender]").fill("01711110000")
    frame.locator("[data-testid=appeal-submit]").click()
    public_id = frame.locator("[data-testid=appeal-ref]").inner_text()
    assert words["appeal_sent"] in frame.locator("[data-testid=appeal-result]").inner_text()
    appeal = Appeal.get(Appeal.public_id == public_id)
    assert appeal.amount == Decimal("1200.50") and not appeal.has_receipt

    reason = '<img src=x onerror="window.parent.hacked=1">Платёж не найден & проверьте номер'
    with app.app_context():
        appeals.reject(appeal.id, reason, operator)
    frame = open_plugin(page, shop_url)
    item = frame.locator(f"[data-testid=appeal-{public_id}][data-status=rejected]")
    item.wait_for()
    state = item.locator(".bo-appeal-state")
    assert state.inner_text() == words["appeal_state_rejected"].replace("{reason}", reason)
    assert item.locator("img").count() == 0  # text, never markup
    assert not page.evaluate("window.hacked === 1")
    assert no_sideways_scroll(plugin_frame(page, backoffice_url))
    watch.assert_clean()


def test_the_forms_checks_are_said_beside_each_field(app, backoffice_url, shop, contexts):
    pages, shop_url = shop
    words = Words("en").all()
    merchant_on(backoffice_url, shop_url, pages)
    context, watch = contexts()
    page = context.new_page()
    sent = []
    page.on("request", lambda req: sent.append(req) if req.method == "POST" and "/plugin/api/appeals" in req.url
            else None)
    frame = open_plugin(page, shop_url)
    open_appeal_form(frame, ask_unknown_number(page, frame, words))

    def error_of(testid):
        return frame.locator(f"[data-testid={testid}-error]")

    # nothing typed but the number: each empty field says so; focus on the first
    frame.locator("[data-testid=appeal-paid-at]").fill("")
    frame.locator("[data-testid=appeal-submit]").click()
    for testid, key in (("appeal-amount", "amount_invalid"), ("appeal-sender", "appeal_sender_invalid"),
                        ("appeal-paid-at", "appeal_paid_at_invalid")):
        error_of(testid).wait_for(state="visible")
        assert error_of(testid).inner_text() == words[key]
        assert frame.locator(f"[data-testid={testid}]").get_attribute("aria-invalid") == "true"
    assert error_of("appeal-number").is_hidden()
    assert frame.locator("[data-testid=appeal-amount]:focus").count() == 1
    frame.locator("[data-testid=appeal-amount]").fill("900")  # typing again clears the fault
    assert error_of("appeal-amount").is_hidden()

    # a time in the future, and a receipt over 2 MiB: refused in the page
    tomorrow = (datetime.datetime.now() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    frame.locator("[data-testid=appeal-paid-at]").fill(tomorrow)
    frame.locator("[data-testid=appeal-sender]").fill("01711114321")
    big = receipt_png() + b"\0" * (2 * 1024 * 1024)
    frame.locator("[data-testid=appeal-receipt]").set_input_files(files=[
        {"name": "huge.png", "mimeType": "image/png", "buffer": big}])
    error_of("appeal-receipt").wait_for(state="visible")
    assert error_of("appeal-receipt").inner_text() == words["appeal_receipt_too_large"]
    frame.locator("[data-testid=appeal-submit]").click()
    assert error_of("appeal-paid-at").inner_text() == words["appeal_paid_at_invalid"]
    assert frame.locator("[data-testid=appeal-paid-at]:focus").count() == 1
    page.wait_for_timeout(200)
    assert sent == []  # nothing left the page

    # fixed; the server then refuses what only it can see (too many open appeals)
    now = datetime.datetime.now().strftime("%Y-%m-%dT%H:%M")
    frame.locator("[data-testid=appeal-paid-at]").fill(now)
    frame.locator("[data-testid=appeal-receipt]").set_input_files(files=[])
    app.config["APPEALS_OPEN_PER_LABEL"] = 0
    frame.locator("[data-testid=appeal-submit]").click()
    result = frame.locator("[data-testid=appeal-result]")
    result.filter(has_text=words["appeal_too_many_open"]).wait_for()
    assert len(sent) == 1 and Appeal.select().count() == 0
    assert frame.locator("[data-testid=appeal-submit]").is_enabled()
    watch.expect(lambda e: "409" in e, "the server refuses the appeal on purpose (no open appeal allowed)")

    # allowed again: filed; the ids of this visitor are remembered for the next visit
    app.config["APPEALS_OPEN_PER_LABEL"] = 5
    frame.locator("[data-testid=appeal-submit]").click()
    frame.locator("[data-testid=appeal-ref]").wait_for()
    assert Appeal.select().count() == 1
    # the same number again answers with the appeal already open
    frame = open_plugin(page, shop_url)
    open_appeal_form(frame, ask_unknown_number(page, frame, words, count=1))
    frame.locator("[data-testid=appeal-amount]").fill("900")
    frame.locator("[data-testid=appeal-sender]").fill("01711114321")
    frame.locator("[data-testid=appeal-submit]").click()
    frame.locator("[data-testid=appeal-ref]").wait_for()
    assert words["appeal_already"] in frame.locator("[data-testid=appeal-result]").inner_text()
    assert frame.locator("[data-testid=appeals] li").count() == 1 and Appeal.select().count() == 1
    watch.assert_clean()
