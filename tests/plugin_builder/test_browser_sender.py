"""The plugin asking for the sender's last 4 digits, in a real browser (issue 18, SPEC §11).

A merchant whose matching policy requires the sender's digits, a reported payment sent
from a wallet ending in 4321, the plugin framed by the merchant's shop page with
``data-lang`` each of the plugin's languages: the page shows the field with its label in
that language; digits that are not 4 are refused in the page (no request); wrong digits
get the same "not found" answer as an unknown number and the payment stays unclaimed; the
right digits (written in the visitor's own digits too) activate it. A merchant without the
rule sees no such field. A 400 naming a field shows that field's message; the field the
policy added after the page loaded asks the visitor to reload. The field is readable in
the three built-in themes.

Skipped when Chromium or the playwright package is missing, unless REQUIRE_BROWSER=1.
"""
import json
import os
from decimal import Decimal

import pytest
from browser_support import backoffice_url, browser, shop  # noqa: F401 - fixtures
from browser_support import ARTIFACTS, HOST_PAGE, PageWatch

import factories
from backoffice.models import MatchingPolicy, Merchant, Transaction
from backoffice.plugin_builder.messages import LANGUAGES, Words
from backoffice.plugin_builder.snippet import snippet
from backoffice.services import matching
from backoffice.services.ingest import Report, ingest

FRAME = "#backoffice-deposit iframe"


def merchant_with_payment(app, shop_url, require_sender=True, require_amount=False, number="TRX-SND-1",
                          counterparty="01711114321"):
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    merchant = factories.merchant(name="Shop", allowed_origins=[shop_url])
    factories.merchant_payment_system(merchant, ps, min_deposit="500.00")
    wallet = factories.wallet(merchant, ps, number="01712345678")
    with app.app_context():
        matching.set_policy(merchant.id, {"require_sender": "y" if require_sender else "",
                                          "require_amount": "y" if require_amount else ""}, actor=None)
        # the connector reports the visitor's payment
        ingest(Report("bkash", wallet.number, number, Decimal("900.00"), "BDT", counterparty=counterparty))
    return merchant


def status_of(number):
    return Transaction.get(Transaction.transaction_number == number).status


class Requests:
    """The JSON bodies the plugin page sent to one API path."""

    def __init__(self, page, path):
        self.bodies = []
        page.on("request", lambda req: self.bodies.append(json.loads(req.post_data))
                if req.method == "POST" and req.url.endswith(path) else None)


@pytest.fixture
def plugin(app, browser, backoffice_url, shop):
    """``open(merchant, lang)`` -> (page, frame locator, watch, activate requests)."""
    pages, shop_url = shop
    contexts = []

    def open_(merchant, lang, viewport=(360, 900)):
        pages["html"] = HOST_PAGE.format(snippet=snippet(merchant, backoffice_url, label="visitor-9",
                                                         order_id=None, lang=lang))
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        watch = PageWatch(context)
        page = context.new_page()
        requests = Requests(page, "/plugin/api/activate")
        page.goto(shop_url + "/checkout")
        frame = page.frame_locator(FRAME)
        frame.locator("[data-testid=number]").wait_for(timeout=10000)
        return page, frame, watch, requests

    open_.shop_url = shop_url
    yield open_
    for context in contexts:
        context.close()


def plugin_frame(page, backoffice_url):
    return next(f for f in page.frames if f.url.startswith(backoffice_url))


def submit_and_wait(page, frame, count):
    """Submit, and wait for the shop page to hear of outcome number ``count``."""
    frame.locator("[data-testid=submit]").click()
    page.wait_for_function(f"window.deposits.length >= {count}", timeout=10000)
    return page.evaluate("window.deposits")[count - 1]


# 4321 as a visitor of each language may type it.
RIGHT_DIGITS = {"en": "432\u09e7",  # one BENGALI DIGIT ONE among ASCII digits
                "ru": "4321",
                "bn": "\u09ea\u09e9\u09e8\u09e7",  # Bengali digits
                "hi": "\u096a\u0969\u0968\u0967",  # Devanagari digits
                "ur": "\u06f4\u06f3\u06f2\u06f1"}  # extended Arabic-Indic digits, as Urdu writes them


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_plugin_asks_for_the_sender_digits(app, plugin, backoffice_url, lang):
    words = Words(lang).all()
    merchant = merchant_with_payment(app, plugin.shop_url)
    page, frame, watch, requests = plugin(merchant, lang)
    plugin_page = plugin_frame(page, backoffice_url)
    assert plugin_page.evaluate("document.documentElement.lang") == lang

    sender = frame.locator("[data-testid=sender]")
    assert sender.is_visible()
    assert frame.locator("label[for=bo-sender]").inner_text() == words["sender_label"]
    assert sender.get_attribute("inputmode") == "numeric" and sender.get_attribute("maxlength") == "4"
    assert frame.locator("[data-testid=amount]").count() == 0  # the policy does not ask for it
    # the label names the field for assistive technology; the help describes it
    assert frame.get_by_label(words["sender_label"]).count() == 1
    assert plugin_page.evaluate("document.getElementById('bo-sender-help').textContent") == words["sender_help"]

    # not 4 digits: refused in the page, focus on the field, nothing sent
    frame.locator("[data-testid=number]").fill("TRX-SND-1")
    sender.fill("43a")
    frame.locator("[data-testid=submit]").click()
    error = frame.locator("[data-testid=sender-error]")
    error.wait_for(state="visible", timeout=5000)
    assert error.inner_text() == words["sender_invalid"]
    assert sender.get_attribute("aria-invalid") == "true"
    assert frame.locator("[data-testid=sender]:focus").count() == 1
    page.wait_for_timeout(200)
    assert requests.bodies == []
    sender.fill("12")  # typing again clears the fault
    assert sender.get_attribute("aria-invalid") is None and not error.is_visible()

    # wrong digits: the answer of an unknown number; the payment stays unclaimed
    sender.fill("1234")
    outcome = submit_and_wait(page, frame, 1)
    assert outcome["status"] == "not_found"
    assert frame.locator("[data-testid=result]").inner_text() == words["not_found"]
    assert requests.bodies[-1]["sender_last4"] == "1234" and "amount" not in requests.bodies[-1]
    assert status_of("TRX-SND-1") == "new"

    # the right digits (typed on a Bengali, Hindi or Urdu keyboard, or not): activated
    sender.fill(RIGHT_DIGITS[lang])
    outcome = submit_and_wait(page, frame, 2)
    assert outcome["status"] == "activated" and outcome["amount"] == "900.00"
    assert frame.locator("[data-testid=result]").inner_text() == words["activated"].replace(
        "{amount}", "900.00").replace("{currency}", "BDT")
    assert requests.bodies[-1]["sender_last4"] == "4321"
    tx = Transaction.get(Transaction.transaction_number == "TRX-SND-1")
    assert tx.status == "activated" and tx.label == "visitor-9"
    watch.assert_clean()


def test_a_whole_wallet_number_pasted_keeps_its_last_four_digits(app, plugin):
    merchant = merchant_with_payment(app, plugin.shop_url)
    page, frame, watch, _requests = plugin(merchant, "en")
    sender = frame.locator("[data-testid=sender]")
    sender.focus()
    sender.evaluate("""el => {
        const data = new DataTransfer();
        data.setData("text", "0171 111-4321");
        el.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
    }""")
    assert sender.input_value() == "4321"
    watch.assert_clean()


def test_no_sender_field_without_the_rule(app, plugin):
    merchant = merchant_with_payment(app, plugin.shop_url, require_sender=False, number="TRX-PLAIN-1")
    page, frame, watch, requests = plugin(merchant, "ru")
    assert frame.locator("[data-testid=sender]").count() == 0
    assert frame.locator("[data-testid=amount]").count() == 0
    assert Words("ru")("sender_label") not in frame.locator("body").inner_text()
    frame.locator("[data-testid=number]").fill("TRX-PLAIN-1")
    assert submit_and_wait(page, frame, 1)["status"] == "activated"
    assert "sender_last4" not in requests.bodies[-1]
    assert status_of("TRX-PLAIN-1") == "activated"
    watch.assert_clean()


def test_the_amount_field_checks_its_value_and_is_sent(app, plugin):
    merchant = merchant_with_payment(app, plugin.shop_url, require_amount=True, number="TRX-AMT-1")
    page, frame, watch, requests = plugin(merchant, "ru")
    amount = frame.locator("[data-testid=amount]")
    assert amount.get_attribute("inputmode") == "decimal"
    assert frame.locator("label[for=bo-amount]").inner_text() == Words("ru")("amount_label")
    frame.locator("[data-testid=number]").fill("TRX-AMT-1")
    frame.locator("[data-testid=sender]").fill("4321")
    for bad in ("0", "-5", "9,999", "abc"):
        amount.fill(bad)
        frame.locator("[data-testid=submit]").click()
        frame.locator("[data-testid=amount-error]").wait_for(state="visible", timeout=5000)
        assert frame.locator("[data-testid=amount-error]").inner_text() == Words("ru")("amount_invalid")
        assert frame.locator("[data-testid=amount]:focus").count() == 1
    assert requests.bodies == []
    amount.fill("900,00")  # a Russian visitor's decimal comma
    submit_and_wait(page, frame, 1)
    assert requests.bodies[-1]["amount"] == "900.00" and requests.bodies[-1]["sender_last4"] == "4321"
    watch.assert_clean()


def test_a_400_naming_a_field_shows_that_fields_message(app, plugin):
    merchant = merchant_with_payment(app, plugin.shop_url, number="TRX-400-1")
    page, frame, watch, requests = plugin(merchant, "en")
    page.context.route("**/plugin/api/activate", lambda route: route.fulfill(
        status=400, content_type="application/json",
        body=json.dumps({"error": {"code": "invalid_request", "message": "The request has invalid fields.",
                                   "details": [{"field": "sender_last4", "message": "has an invalid format"}]}})))
    frame.locator("[data-testid=number]").fill("TRX-400-1")
    frame.locator("[data-testid=sender]").fill("4321")
    frame.locator("[data-testid=submit]").click()
    error = frame.locator("[data-testid=sender-error]")
    error.wait_for(state="visible", timeout=5000)
    assert error.inner_text() == Words("en")("sender_invalid")  # the page's words, not the server's
    assert frame.locator("[data-testid=sender]:focus").count() == 1
    assert frame.locator("[data-testid=submit]").is_enabled()
    assert len(requests.bodies) == 1
    watch.expect(lambda e: "400" in e, "the answer is a 400 on purpose")
    watch.assert_clean()


def test_a_rule_added_after_the_page_loaded_asks_to_reload(app, plugin):
    merchant = merchant_with_payment(app, plugin.shop_url, require_sender=False, number="TRX-LATE-1")
    page, frame, watch, _requests = plugin(merchant, "ru")
    assert frame.locator("[data-testid=sender]").count() == 0
    MatchingPolicy.update(require_sender=True).where(MatchingPolicy.merchant == merchant.id).execute()
    frame.locator("[data-testid=number]").fill("TRX-LATE-1")
    frame.locator("[data-testid=submit]").click()
    result = frame.locator("[data-testid=result]")
    result.get_by_text(Words("ru")("form_changed")).wait_for(timeout=10000)
    assert status_of("TRX-LATE-1") == "new"
    watch.expect(lambda e: "400" in e, "the policy changed under the page: the API answers 400 naming the field")
    watch.assert_clean()


def _luminance(rgb):
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a, b):
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _rgb(css):
    return tuple(int(float(x)) for x in css[css.index("(") + 1:css.index(")")].split(",")[:3])


@pytest.mark.parametrize("theme", ["dark", "light", "white-green"])
def test_the_fields_are_readable_in_the_built_in_themes(app, plugin, backoffice_url, theme):
    merchant = merchant_with_payment(app, plugin.shop_url, require_amount=True)
    Merchant.update(theme=theme).where(Merchant.id == merchant.id).execute()
    page, frame, watch, _requests = plugin(merchant, "en")
    frame.locator("[data-testid=number]").fill("TRX-SND-1")
    frame.locator("[data-testid=sender]").fill("12")
    frame.locator("[data-testid=submit]").click()
    frame.locator("[data-testid=sender-error]").wait_for(state="visible", timeout=5000)
    plugin_page = plugin_frame(page, backoffice_url)
    colours = plugin_page.evaluate("""() => {
        const css = el => getComputedStyle(el);
        const sender = document.getElementById("bo-sender"), number = document.getElementById("bo-number");
        return {
            page: css(document.body).backgroundColor,
            input_text: css(sender).color, input_bg: css(sender).backgroundColor,
            number_bg: css(number).backgroundColor, number_border: css(number).borderTopColor,
            amount_bg: css(document.getElementById("bo-amount")).backgroundColor,
            label: css(document.querySelector("label[for=bo-sender]")).color,
            help: css(document.getElementById("bo-sender-help")).color,
            error: css(document.getElementById("bo-sender-error")).color,
            font: [css(sender).fontSize, css(number).fontSize],
            padding: [css(sender).paddingTop, css(number).paddingTop],
        };
    }""")
    # styled like the transaction number's input
    assert colours["input_bg"] == colours["number_bg"] == colours["amount_bg"]
    assert colours["font"][0] == colours["font"][1] and colours["padding"][0] == colours["padding"][1]
    page_bg = _rgb(colours["page"])
    assert _contrast(_rgb(colours["input_text"]), _rgb(colours["input_bg"])) >= 4.5
    for name in ("label", "help", "error"):
        assert _contrast(_rgb(colours[name]), page_bg) >= 4.5, (theme, name, colours)
    # a picture for the eye (test-artifacts/ is not committed)
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"plugin-sender-{theme}.png")
    page.locator(FRAME).screenshot(path=path)
    assert os.path.getsize(path) > 1000
    # nothing overflows at 360 px
    assert plugin_page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    watch.assert_clean()
