"""The plugin for every visitor in a real browser (issue 20, SPEC §13): Playwright driving
Debian's Chromium.

* the whole journey (choose a system, copy the wallet number, type the transaction
  number, activated) in each of the five languages, with the page's words in that
  language (``Words``), Urdu right to left with a mirrored layout and numbers left to
  right;
* the same journey by keyboard alone (Tab, arrows, Space, Enter and typing), the focus
  on the answer at the end;
* no sideways scroll at 320×640 and 1280×800 on every step (pay, the answer, the appeal
  form), targets at least 24 px;
* a plugin session: the countdown, the amount to pay with its copy button (prefilled in
  the policy's amount field), requests naming the session only; an expired session
  (its time over on the page, or ended on the server) disables the forms, says so and
  cannot activate;
* UPI: the QR code on a desktop, the app link on a phone; a GIF prompt as a still frame
  with a play button under ``prefers-reduced-motion``.

Skipped when Chromium or the playwright package is missing, unless REQUIRE_BROWSER=1.
"""
import datetime
import json
import re
from decimal import Decimal

import pytest
from browser_support import backoffice_url, browser, contexts, shop  # noqa: F401 - fixtures
from browser_support import HOST_PAGE, gif_bytes

import factories
from backoffice.models import MerchantPaymentSystem, PluginSession, Transaction, utcnow
from backoffice.plugin_builder.gif import clean_gif, store_prompt
from backoffice.plugin_builder.messages import LANGUAGES, Words
from backoffice.plugin_builder.snippet import snippet
from backoffice.services import matching, plugin_sessions
from backoffice.services.ingest import Report, ingest

FRAME = "#backoffice-deposit iframe"
LABEL = "visitor-i18n"
# A long wallet number: it must wrap at 320 px, never widen the page.
LONG_WALLET = "0171234567801712345678017123456780171234"

# Everything the visitor can press or type into, when visible: its size (WCAG 2.5.8).
TARGETS_JS = """() => [...document.querySelectorAll('button, input, a[href], select, textarea')]
    .filter(el => el.offsetParent !== null && getComputedStyle(el).visibility !== 'hidden')
    .map(el => { const r = el.getBoundingClientRect();
                 return {what: el.outerHTML.slice(0, 80), w: r.width, h: r.height}; })"""
NO_SIDEWAYS_SCROLL_JS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
# The plugin page's resize messages, as the shop's window hears them.
RECORD_RESIZES = """window.resizes = [];
window.addEventListener("message", function (e) {
  if (e.data && e.data.type === "backoffice:resize") window.resizes.push(e.data);
});"""


def filled(text, **values):
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def two_systems(app, wallet_number="01712345678", number=None, amount="900.00", require_amount=False, **fields):
    """A merchant with bKash and Nagad (the visitor chooses); a reported Nagad payment
    ``number`` when given."""
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    nagad = factories.payment_system("nagad", "BDT", name="Nagad")
    merchant = factories.merchant(name="Shop", **fields)
    factories.merchant_payment_system(merchant, bkash, min_deposit="500.00")
    factories.merchant_payment_system(merchant, nagad, min_deposit="250.00")
    factories.wallet(merchant, bkash, number="01898765432")
    wallet = factories.wallet(merchant, nagad, number=wallet_number)
    with app.app_context():
        if require_amount:
            matching.set_policy(merchant.id, {"require_amount": "y"}, actor=None)
        if number:  # the connector reports the visitor's payment
            ingest(Report("nagad", wallet.number, number, Decimal(amount), "BDT"))
    return merchant


def status_of(number):
    return Transaction.get(Transaction.transaction_number == number).status


def plugin_frame(page, base_url):
    return next(f for f in page.frames if f.url.startswith(base_url))


@pytest.fixture
def on_shop(backoffice_url, shop, contexts):
    """``open(merchant, lang, **context options)`` -> (page, frame locator, plugin frame,
    watch): the merchant's snippet on the shop's page, the plugin loaded in its frame."""
    pages, shop_url = shop

    def open_(merchant, lang, extra=None, **options):
        allow_origin(merchant, shop_url)
        pages["html"] = HOST_PAGE.format(snippet=snippet(merchant, backoffice_url, label=LABEL, order_id=None,
                                                         lang=lang, extra=extra))
        context, watch = contexts(**options)
        context.add_init_script(RECORD_RESIZES)
        page = context.new_page()
        page.goto(shop_url + "/checkout")
        frame = page.frame_locator(FRAME)
        frame.locator("[data-testid=number]").wait_for()
        plugin = plugin_frame(page, backoffice_url)
        plugin.wait_for_load_state("load")  # its stylesheets applied before anything is measured
        return page, frame, plugin, watch

    open_.shop_url = shop_url
    return open_


def allow_origin(merchant, origin):
    """The shop's origin among the merchant's allowed origins (so it may frame the plugin)."""
    from backoffice.models import Merchant

    Merchant.update(allowed_origins=[origin]).where(Merchant.id == merchant.id).execute()


def open_direct(context, base_url, merchant, lang="en", **params):
    """The plugin page opened on its own (``/plugin/v1/page?…``), as the loader would frame it."""
    query = "&".join(f"{k}={v}" for k, v in dict(merchant=merchant.public_key, lang=lang, **params).items())
    page = context.new_page()
    response = page.goto(f"{base_url}/plugin/v1/page?{query}")
    return page, response


# ---- the whole journey, in each language ----

@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_whole_journey_in_each_language(app, on_shop, backoffice_url, lang):
    words = Words(lang)
    number = f"TRX-{lang.upper()}-1"
    merchant = two_systems(app, number=number)
    page, frame, plugin, watch = on_shop(merchant, lang)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=backoffice_url)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=on_shop.shop_url)

    # the page speaks the language, Urdu right to left
    assert plugin.evaluate("document.documentElement.lang") == lang
    assert plugin.evaluate("document.documentElement.dir") == words.direction
    assert words.direction == ("rtl" if lang == "ur" else "ltr")
    assert frame.locator("h1").inner_text() == words("title")
    assert frame.locator("legend").inner_text() == words("choose")
    assert frame.locator("[data-testid=submit]").inner_text() == words("submit")
    assert frame.locator("label[for=bo-number]").inner_text() == words("number_label")
    # the shop's frame is named in the visitor's language
    page.wait_for_function("window.resizes.length > 0")
    assert page.evaluate("window.resizes[0].title") == words("title")

    # choose: the pay step shows the wallet; the focus stays on the radio
    frame.locator("[data-testid=ps-nagad]").check()
    assert frame.locator("[data-testid=ps-nagad]:focus").count() == 1
    pay = frame.locator("section[data-ps=nagad]")
    pay.wait_for(state="visible")
    assert frame.locator("#bo-h-nagad").inner_text() == words("send_to", name="Nagad")
    wallet = frame.locator("[data-testid=wallet-nagad]")
    assert wallet.inner_text() == "01712345678" and wallet.get_attribute("dir") == "ltr"

    # copy: visible "Copy", named "Copy the wallet number" for assistive technology
    copy = frame.locator("[data-testid=copy-wallet-nagad]")
    assert copy.inner_text() == words("copy")
    assert frame.get_by_role("button", name=words("copy_wallet"), exact=True).get_attribute(
        "data-testid") == "copy-wallet-nagad"
    copy.click()
    frame.locator("[data-testid=result]").get_by_text(words("copied")).wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "01712345678"  # read on the shop's page

    # the number: typed left to right, sent, activated
    field = frame.locator("[data-testid=number]")
    assert field.get_attribute("dir") == "ltr"
    field.fill(number)
    frame.locator("[data-testid=submit]").click()
    page.wait_for_function("window.deposits.length > 0")
    assert page.evaluate("window.deposits")[0]["status"] == "activated"
    result = frame.locator("[data-testid=result]")
    assert result.inner_text() == words("activated", amount="900.00", currency="BDT")
    assert frame.locator("[data-testid=result-next]").inner_text() == words("activated_next")
    assert frame.locator("[data-testid=result]:focus").count() == 1
    assert result.get_attribute("aria-live") == "polite"
    tx = Transaction.get(Transaction.transaction_number == number)
    assert tx.status == "activated" and tx.label == LABEL

    if lang == "ur":  # mirrored: the answer's coloured edge is on the right, the text starts there
        edges = plugin.evaluate("""() => { const s = getComputedStyle(document.getElementById('bo-result'));
            return [s.borderRightWidth, s.borderLeftWidth, s.direction]; }""")
        assert edges == ["4px", "0px", "rtl"]
        radio = plugin.evaluate("""() => [document.querySelector('.bo-ps input').getBoundingClientRect().left,
            document.documentElement.clientWidth]""")
        assert radio[0] > radio[1] / 2  # the radios sit on the right
    assert plugin.evaluate(NO_SIDEWAYS_SCROLL_JS)
    watch.assert_clean()


def test_a_keyboard_only_journey(app, on_shop, backoffice_url):
    words = Words("en")
    merchant = two_systems(app, number="TRX-KEYS-1")
    page, frame, plugin, watch = on_shop(merchant, "en")
    first, second = plugin.evaluate(
        "[...document.querySelectorAll('input[name=payment_system]')].map(r => r.value)")
    # From the shop's page into the plugin: Tab reaches the first payment system
    for _ in range(5):
        page.keyboard.press("Tab")
        if frame.locator(f"[data-testid=ps-{first}]:focus").count():
            break
    assert frame.locator(f"[data-testid=ps-{first}]:focus").count() == 1
    page.keyboard.press("Space")
    assert frame.locator(f"[data-testid=ps-{first}]").is_checked()
    frame.locator(f"section[data-ps={first}]").wait_for(state="visible")
    # an arrow moves to the other one and chooses it; the focus stays in the group (WCAG 3.2.2)
    page.keyboard.press("ArrowDown")
    assert frame.locator(f"[data-testid=ps-{second}]").is_checked()
    assert frame.locator(f"[data-testid=ps-{second}]:focus").count() == 1
    assert frame.locator(f"section[data-ps={first}]").is_hidden()
    if second != "nagad":  # the reported payment is Nagad's: choose it
        page.keyboard.press("ArrowUp")
    assert frame.locator("[data-testid=ps-nagad]:focus").count() == 1
    frame.locator("[data-testid=wallet-nagad]").wait_for(state="visible")
    # Tab after the radios: the pay step's copy button, then the number
    page.keyboard.press("Tab")
    assert frame.locator("[data-testid=copy-wallet-nagad]:focus").count() == 1
    assert plugin.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # visible focus
    page.keyboard.press("Enter")
    frame.locator("[data-testid=result]").get_by_text(re.compile(
        re.escape(words("copied")) + "|" + re.escape(words("copy_failed")))).wait_for()
    assert frame.locator("[data-testid=copy-wallet-nagad]:focus").count() == 1  # copying keeps the focus
    page.keyboard.press("Tab")
    assert frame.locator("[data-testid=number]:focus").count() == 1
    page.keyboard.type("TRX-KEYS-1")
    page.keyboard.press("Enter")
    page.wait_for_function("window.deposits.length > 0")
    assert page.evaluate("window.deposits")[0]["status"] == "activated"
    # the focus is on the answer, which says what happened and what next
    frame.locator("[data-testid=result]:focus").wait_for()
    assert frame.locator("[data-testid=result]").inner_text() == words("activated", amount="900.00",
                                                                       currency="BDT")
    assert frame.locator("[data-testid=result-next]").inner_text() == words("activated_next")
    assert status_of("TRX-KEYS-1") == "activated"
    watch.assert_clean()


def test_a_keyboard_user_reaches_the_appeal_from_the_answer(app, on_shop):
    words = Words("hi")
    merchant = two_systems(app)
    page, frame, plugin, watch = on_shop(merchant, "hi")
    frame.locator("[data-testid=ps-bkash]").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("TRX-NOBODY-1")
    page.keyboard.press("Enter")
    frame.locator("[data-testid=result]:focus").wait_for()
    assert frame.locator("[data-testid=result]").inner_text() == words("not_found")
    assert frame.locator("[data-testid=result-next]").inner_text() == words("not_found_next")
    # the next Tab is the appeal's button; Enter opens the form, its heading takes the focus
    page.keyboard.press("Tab")
    assert frame.locator("[data-testid=appeal-open]:focus").count() == 1
    page.keyboard.press("Enter")
    frame.locator("#bo-appeal-h:focus").wait_for()
    page.keyboard.press("Tab")
    assert frame.locator("[data-testid=appeal-number]:focus").count() == 1
    assert frame.locator("[data-testid=appeal-number]").input_value() == "TRX-NOBODY-1"
    watch.assert_clean()


# ---- phones and desktops ----

@pytest.mark.parametrize("width,height,lang", [(320, 640, "bn"), (320, 640, "ur"), (1280, 800, "en")])
def test_no_sideways_scroll_on_any_step(app, on_shop, width, height, lang):
    words = Words(lang)
    merchant = two_systems(app, wallet_number=LONG_WALLET, require_amount=True)
    page, frame, plugin, watch = on_shop(merchant, lang, viewport={"width": width, "height": height})

    def check(step):
        assert plugin.evaluate(NO_SIDEWAYS_SCROLL_JS), (step, plugin.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"))
        small = [t for t in plugin.evaluate(TARGETS_JS) if t["w"] < 24 or t["h"] < 24]
        assert not small, (step, small)

    check("choose")
    frame.locator("[data-testid=ps-nagad]").check()
    frame.locator("[data-testid=wallet-nagad]").wait_for(state="visible")
    check("pay")
    wallet_box = frame.locator("[data-testid=wallet-nagad]").bounding_box()
    if width == 320:
        assert wallet_box["width"] <= 320 and wallet_box["height"] > 30  # wrapped onto lines
    frame.locator("[data-testid=number]").fill("TRX-NOBODY-2")
    frame.locator("[data-testid=amount]").fill("900")
    frame.locator("[data-testid=submit]").click()
    frame.locator("[data-testid=result]").get_by_text(words("not_found")).wait_for()
    frame.locator("[data-testid=appeal-open]").wait_for(state="visible")
    check("answer")
    frame.locator("[data-testid=appeal-open]").click()
    frame.locator("[data-testid=appeal-form]").wait_for(state="visible")
    check("appeal form")
    frame.locator("[data-testid=appeal-amount]").fill("x")
    frame.locator("[data-testid=appeal-submit]").click()
    frame.locator("[data-testid=appeal-amount-error]").wait_for(state="visible")
    check("appeal form with errors")
    watch.assert_clean()


# ---- plugin sessions ----

def new_session(app, merchant, **fields):
    with app.app_context():
        return plugin_sessions.create(merchant, LABEL, **fields)


class Requests:
    """The bodies the plugin page sent to the plugin API (JSON, or the multipart's names)."""

    def __init__(self, page):
        self.sent = []
        page.on("request", self.record)

    def record(self, req):
        if req.method == "POST" and "/plugin/api/" in req.url:
            data = req.post_data or ""
            try:
                body = json.loads(data)
            except ValueError:
                body = dict.fromkeys(re.findall(r'name="([^"]+)"', data), "?")
                session = re.search(r'name="session"\r\n\r\n([^\r]*)', data)
                if session:
                    body["session"] = session.group(1)
            self.sent.append((req.url.split("?")[0].rsplit("/plugin/api/", 1)[1], body))


def test_a_session_with_an_amount(app, contexts, backoffice_url):
    words = Words("en")
    merchant = two_systems(app, number="TRX-SES-1", amount="500.00", require_amount=True)
    _session, token = new_session(app, merchant, amount="500.00", currency="BDT", expires_in=1800)
    context, watch = contexts()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=backoffice_url)
    page, response = open_direct(context, backoffice_url, merchant, session=token)
    sent = Requests(page)
    assert response.status == 200
    # the time left, from the server's clock: a little under 30 minutes, quiet
    countdown = page.locator("[data-testid=countdown]")
    countdown.wait_for(state="visible")
    assert countdown.get_attribute("aria-live") == "off"
    shown = countdown.inner_text()
    assert re.fullmatch(re.escape(words("countdown")).replace(r"\{time\}", r"(29:[0-5]\d|30:00)"), shown), shown
    # the amount to pay, with its own copy button; the policy's amount field prefilled
    due = page.locator("[data-testid=amount-to-pay]")
    assert words("amount_to_pay") in due.inner_text() and "500.00 BDT" in due.inner_text()
    assert page.locator("[data-testid=amount-due]").get_attribute("dir") == "ltr"
    copy = page.locator("[data-testid=copy-amount]")
    assert copy.inner_text() == words("copy")
    assert page.get_by_role("button", name=words("copy_amount"), exact=True).count() == 1
    copy.click()
    page.locator("[data-testid=result]").get_by_text(words("copied")).wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "500.00"
    assert page.locator("[data-testid=amount]").input_value() == "500.00"
    # the requests name the session, never the label
    page.locator("[data-testid=ps-nagad]").check()
    page.locator("[data-testid=number]").fill("TRX-SES-1")
    page.locator("[data-testid=submit]").click()
    page.locator("[data-testid=result]").get_by_text(
        words("activated", amount="500.00", currency="BDT")).wait_for()
    path, body = sent.sent[-1]
    assert path == "activate" and body["session"] == token
    assert not {"label", "order_id", "signature"} & set(body)
    tx = Transaction.get(Transaction.transaction_number == "TRX-SES-1")
    assert tx.status == "activated" and tx.label == LABEL
    watch.assert_clean()


def test_a_session_ended_on_the_server_cannot_activate(app, contexts, backoffice_url):
    words = Words("bn")
    merchant = two_systems(app, number="TRX-LATE-S1")
    session, token = new_session(app, merchant, expires_in=1800)
    context, watch = contexts()
    page, _response = open_direct(context, backoffice_url, merchant, lang="bn", session=token)
    sent = Requests(page)
    page.locator("[data-testid=ps-nagad]").check()
    page.locator("[data-testid=number]").fill("TRX-LATE-S1")
    # the session ends while the page is open (the visitor left it for hours)
    PluginSession.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        PluginSession.id == session.id).execute()
    page.locator("[data-testid=submit]").click()
    result = page.locator("[data-testid=result]")
    result.get_by_text(words("session_expired")).wait_for()
    page.locator("[data-testid=result]:focus").wait_for()  # the message takes the focus
    assert [path for path, _body in sent.sent] == ["activate"] and sent.sent[0][1]["session"] == token
    assert status_of("TRX-LATE-S1") == "new"
    # both forms are disabled for good: nothing more can be sent
    assert page.locator("[data-testid=submit]").is_disabled()
    assert page.locator("[data-testid=number]").is_disabled()
    assert page.locator("[data-testid=ps-nagad]").is_disabled()
    page.evaluate("document.getElementById('bo-form').requestSubmit()")
    page.wait_for_timeout(300)
    assert len(sent.sent) == 1 and status_of("TRX-LATE-S1") == "new"
    # the API itself refuses the session (whatever a page would send)
    answer = page.evaluate("""([merchant, token]) => fetch('/plugin/api/activate', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({merchant: merchant,
        payment_system: 'nagad', transaction_number: 'TRX-LATE-S1', session: token})})
        .then(r => r.json().then(j => [r.status, j.error && j.error.code]))""", [merchant.public_key, token])
    assert answer == [403, "session_expired"]
    assert status_of("TRX-LATE-S1") == "new"
    watch.expect(lambda e: "403" in e and "/plugin/api/activate" in e, "the session has ended: the API says 403")
    watch.assert_clean()


def test_the_countdown_runs_out_and_the_form_closes(app, contexts, backoffice_url):
    words = Words("ur")
    merchant = two_systems(app, number="TRX-CLOCK-1")
    # made 56 seconds ago with a minute to live: 4 seconds left by the server's clock
    _session, token = new_session(app, merchant, expires_in=60, now=utcnow() - datetime.timedelta(seconds=56))
    # the visitor's clock is a day wrong: the countdown does not care
    context, watch = contexts()
    context.add_init_script("""(() => { const skew = 86400000, RealDate = Date;
        Date.now = () => RealDate.now() + skew; })();""")
    page, response = open_direct(context, backoffice_url, merchant, lang="ur", session=token)
    assert response.status == 200
    sent = Requests(page)
    countdown = page.locator("[data-testid=countdown]")
    countdown.wait_for(state="visible")
    time_left = page.locator(".bo-countdown-time").inner_text()
    assert re.fullmatch(r"0:0[1-4]", time_left), time_left
    assert countdown.inner_text() == words("countdown", time=time_left)
    page.locator("[data-testid=ps-nagad]").check()
    page.locator("[data-testid=number]").fill("TRX-CLOCK-1")
    # the time runs out: the expired state, no request made
    page.locator("[data-testid=result]").get_by_text(words("session_expired")).wait_for(timeout=10000)
    page.locator("[data-testid=result]:focus").wait_for()
    assert countdown.is_hidden()
    assert page.locator("[data-testid=submit]").is_disabled()
    assert page.locator("#bo-appeal-open").is_disabled()
    page.evaluate("document.getElementById('bo-form').requestSubmit()")
    page.wait_for_timeout(300)
    assert sent.sent == [] and status_of("TRX-CLOCK-1") == "new"
    watch.assert_clean()


def test_the_countdown_is_said_once_at_five_minutes(app, contexts, backoffice_url):
    words = Words("hi")
    merchant = two_systems(app)
    # 5 minutes and 2 seconds left by the server's clock
    _session, token = new_session(app, merchant, expires_in=1800,
                                  now=utcnow() - datetime.timedelta(seconds=1800 - 302))
    context, watch = contexts()
    page, _response = open_direct(context, backoffice_url, merchant, lang="hi", session=token)
    note = page.locator("#bo-countdown-note")
    assert note.get_attribute("aria-live") == "polite" and note.inner_text() == ""
    assert page.locator("[data-testid=countdown]").get_attribute("aria-live") == "off"
    page.wait_for_function("() => document.getElementById('bo-countdown-note').textContent !== ''", timeout=8000)
    assert note.inner_text() == words("countdown", time="5:00")
    page.wait_for_timeout(1500)  # said once, not again each second
    assert note.inner_text() == words("countdown", time="5:00")
    assert re.fullmatch(r"4:5\d", page.locator(".bo-countdown-time").inner_text())
    watch.assert_clean()


def test_an_expired_session_opens_on_its_message(app, contexts, backoffice_url):
    merchant = two_systems(app)
    _session, token = new_session(app, merchant, expires_in=60, now=utcnow() - datetime.timedelta(hours=1))
    context, watch = contexts()
    for lang in ("en", "hi"):
        page, response = open_direct(context, backoffice_url, merchant, lang=lang, session=token)
        assert response.status == 403
        assert page.locator("[data-testid=problem]").inner_text() == Words(lang)("session_expired")
        assert page.locator("[data-testid=submit]").count() == 0
    page, response = open_direct(context, backoffice_url, merchant, lang="ru", session="pst_nonsense")
    assert response.status == 403
    assert page.locator("[data-testid=problem]").inner_text() == Words("ru")("invalid_session")
    watch.expect(lambda e: "403" in e and "/plugin/v1/page" in e, "expired and unknown sessions are 403")
    watch.assert_clean()


def test_an_appeal_under_a_session_names_the_session(app, contexts, backoffice_url):
    words = Words("en")
    merchant = two_systems(app)
    _session, token = new_session(app, merchant, expires_in=1800)
    context, watch = contexts()
    page, _response = open_direct(context, backoffice_url, merchant, session=token)
    sent = Requests(page)
    page.locator("[data-testid=ps-nagad]").check()
    page.locator("[data-testid=number]").fill("TRX-AP-S1")
    page.locator("[data-testid=submit]").click()
    page.locator("[data-testid=result]").get_by_text(words("not_found")).wait_for()
    page.locator("[data-testid=appeal-open]").click()
    page.locator("[data-testid=appeal-amount]").fill("900")
    page.locator("[data-testid=appeal-sender]").fill("01711114321")
    page.locator("[data-testid=appeal-submit]").click()
    page.locator("[data-testid=appeal-ref]").wait_for()
    path, body = sent.sent[-1]
    assert path == "appeals" and body["session"] == token
    assert not {"label", "order_id", "signature"} & set(body)
    from backoffice.models import Appeal

    appeal = Appeal.get(Appeal.transaction_number == "TRX-AP-S1")
    assert appeal.label == LABEL and appeal.merchant_id == merchant.id
    watch.assert_clean()


# ---- UPI and the GIF prompt ----

def upi_merchant(app):
    upi = factories.payment_system("upi", "INR", name="UPI")
    merchant = factories.merchant(name="Shop")
    factories.merchant_payment_system(merchant, upi, min_deposit="100.00")
    factories.wallet(merchant, upi, number="shop@okaxis")
    return merchant


def test_upi_shows_a_qr_code_on_a_desktop_and_a_link_on_a_phone(app, contexts, backoffice_url):
    words = Words("hi")
    merchant = upi_merchant(app)
    _session, token = new_session(app, merchant, amount="500.00", currency="INR", expires_in=1800)
    desktop, watch = contexts(viewport={"width": 1280, "height": 800})
    page, response = open_direct(desktop, backoffice_url, merchant, lang="hi", session=token)
    assert response.status == 200
    qr = page.locator("[data-testid=upi-qr-upi]")
    assert qr.is_visible() and page.locator("[data-testid=upi-link-upi]").is_hidden()
    assert words("upi_scan") in qr.inner_text()
    picture = qr.locator("[role=img]")
    assert picture.get_attribute("aria-label") == words("upi_qr_alt", name="UPI")
    svg = qr.locator("svg").bounding_box()
    assert 100 <= svg["width"] <= 220 and abs(svg["width"] - svg["height"]) < 1  # scaled, square
    assert "500.00" in page.locator("[data-testid=amount-due]").inner_text()

    phone, phone_watch = contexts(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page, _response = open_direct(phone, backoffice_url, merchant, lang="hi", session=token)
    link = page.locator("[data-testid=upi-link-upi]")
    assert link.is_visible() and page.locator("[data-testid=upi-qr-upi]").is_hidden()
    assert link.inner_text() == words("upi_link")
    href = link.get_attribute("href")
    assert href.startswith("upi://pay?") and "pa=shop@okaxis" in href and "am=500.00" in href and "cu=INR" in href
    box = link.bounding_box()
    assert box["height"] >= 24 and box["width"] >= 24
    assert page.evaluate(NO_SIDEWAYS_SCROLL_JS)
    watch.assert_clean()
    phone_watch.assert_clean()


def test_a_gif_prompt_respects_reduced_motion(app, contexts, backoffice_url):
    words = Words("ru")
    merchant = two_systems(app)
    with app.app_context():
        name = store_prompt(clean_gif(gif_bytes(size=48)))
    settings = MerchantPaymentSystem.get(MerchantPaymentSystem.merchant == merchant.id)
    settings.gif_prompt = name
    settings.save()
    code = settings.payment_system.code
    # (functions, not expressions: the page's CSP forbids eval, which an expression would need)
    current = f"() => document.querySelector('section[data-ps={code}] img').currentSrc"

    calm, watch = contexts(reduced_motion="reduce")
    page, _response = open_direct(calm, backoffice_url, merchant, lang="ru", label=LABEL)
    page.locator(f"[data-testid=ps-{code}]").check()
    play = page.locator(f"[data-testid=play-{code}]")
    play.wait_for(state="visible")
    page.wait_for_function(f"{current}.endsWith('.png')")  # the still frame
    assert play.inner_text() == words("play_animation")
    play.click()
    page.wait_for_function(f"{current}.endsWith('.gif')")
    assert play.inner_text() == words("stop_animation")
    assert page.locator(f"[data-testid=play-{code}]:focus").count() == 1
    play.click()
    page.wait_for_function(f"{current}.endsWith('.png')")
    assert play.inner_text() == words("play_animation")

    moving, moving_watch = contexts(reduced_motion="no-preference")
    page, _response = open_direct(moving, backoffice_url, merchant, lang="ru", label=LABEL)
    page.locator(f"[data-testid=ps-{code}]").check()
    page.wait_for_function(f"{current}.endsWith('.gif')")
    assert page.locator(f"[data-testid=play-{code}]").is_hidden()
    watch.assert_clean()
    moving_watch.assert_clean()
