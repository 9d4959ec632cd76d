"""axe-core on every state of the plugin page, in every language and built-in theme
(issue 20, SPEC §13): Playwright driving Debian's Chromium, axe-core through
``axe-playwright-python``.

The plugin page is opened directly (``/plugin/v1/page?merchant=…&label=…&lang=…``) for a
merchant with three payment systems (one of them UPI; GIF prompts on two) whose
matching policy asks for the sender's last 4 digits and the amount. One page per
(language, theme) walks through the states and runs axe at each: choose a system
(fresh page), pay (a system chosen, its wallet shown), enter the number (number, sender
digits and amount typed), each answer of the activation (activated, stockpiling,
already_activated, rejected, a 429 "too many", pending, not_found: real reports, real
requests, a real rate limit), the appeal form open, a session with the amount to pay
(countdown, UPI QR code, the GIF's still frame and play button; the UPI app link on a
phone) and an expired session. No violation of impact "serious" or "critical" is
allowed; the failure lists each one with its rule, impact, target selectors and the
state / language / theme it was seen in.

Skipped when Chromium or the playwright package is missing, unless REQUIRE_BROWSER=1.
"""
import datetime
import re
from decimal import Decimal

import pytest
from browser_support import backoffice_url, browser  # noqa: F401 - fixtures
from browser_support import gif_bytes

import factories
from backoffice.models import Merchant, utcnow
from backoffice.plugin_builder import gif
from backoffice.plugin_builder.config import BUILT_IN_THEMES
from backoffice.plugin_builder.messages import LANGUAGES, Words
from backoffice.services import matching, plugin_sessions
from backoffice.services.ingest import Report, ingest

BLOCKING = ("serious", "critical")
LABEL = "visitor-axe"
SENDER, PAID = "4321", "900"  # the reported payments were sent from a wallet ending in 4321
ACTIVATED, SMALL, OUTGOING = "TRX-AXE-OK", "TRX-AXE-SMALL", "TRX-AXE-OUT"
UNKNOWN, TOO_MANY, WAITED = "TRX-AXE-NONE", "TRX-AXE-MANY", "TRX-AXE-WAIT"
PER_NUMBER = 2  # failed attempts per transaction number before the API answers 429


@pytest.fixture
def app_config(app_config):
    """A real 429 after a few attempts at one number (the limit is read per request)."""
    app_config["PLUGIN_LIMIT_PER_NUMBER"] = f"{PER_NUMBER} per 10 minutes"
    return app_config


@pytest.fixture(scope="module")
def contexts(browser):
    """Two browser contexts for the module, a desktop one and a phone (touch: the UPI app
    link in place of the QR code); each test opens (and closes) one page in each."""
    made = {"desktop": browser.new_context(viewport={"width": 360, "height": 900}),
            "phone": browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)}
    for context in made.values():
        context.set_default_timeout(10000)
    yield made
    for context in made.values():
        context.close()


@pytest.fixture(scope="module")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def merchant_with_payments(app, theme):
    """Three payment systems (so the visitor chooses; one is UPI), a GIF prompt on bKash
    and UPI, the policy's two extra fields, and the reports each answer needs."""
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    nagad = factories.payment_system("nagad", "BDT", name="Nagad")
    upi = factories.payment_system("upi", "INR", name="UPI")
    merchant = factories.merchant(name="Shop", theme=theme)
    with_prompt = [factories.merchant_payment_system(merchant, bkash, min_deposit="500.00"),
                   factories.merchant_payment_system(merchant, upi, min_deposit="100.00")]
    factories.merchant_payment_system(merchant, nagad, min_deposit="250.00")
    wallet = factories.wallet(merchant, bkash, number="01712345678")
    factories.wallet(merchant, nagad, number="01898765432")
    factories.wallet(merchant, upi, number="shop@okbank")
    with app.app_context():
        for settings in with_prompt:
            gif.set_prompt(settings, gif.store_prompt(gif.clean_gif(gif_bytes(size=64))))
        matching.set_policy(merchant.id, {"require_sender": "y", "require_amount": "y"}, actor=None)
        for number, amount, direction in ((ACTIVATED, PAID, "incoming"), (SMALL, "120", "incoming"),
                                          (OUTGOING, PAID, "outgoing")):
            ingest(Report("bkash", wallet.number, number, Decimal(amount), "BDT", direction=direction,
                          counterparty="0171111" + SENDER))
    return merchant


class Walk:
    """One plugin page walked through its states; axe's blocking violations of each."""

    def __init__(self, page, axe, base_url, merchant, lang, theme):
        self.page, self.axe = page, axe
        self.lang, self.theme = lang, theme
        self.words = Words(lang).all()
        self.url = f"{base_url}/plugin/v1/page?merchant={merchant.public_key}&label={LABEL}&lang={lang}"
        self.found = []
        self.states = []

    def check(self, state, on=None):
        """Run axe on the page as it is now; note the serious and critical violations."""
        self.states.append(state)
        results = self.axe.run(on or self.page)
        for violation in results.response["violations"]:
            if violation["impact"] not in BLOCKING:
                continue
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
            summary = (violation["nodes"][0].get("failureSummary") or "").replace("\n", " ") if violation["nodes"] \
                else ""
            self.found.append(f"[{state} | lang={self.lang} | theme={self.theme}] {violation['id']} "
                              f"({violation['impact']}): {violation['help']}; targets: {targets}; {summary[:300]}")

    def open(self):
        response = self.page.goto(self.url)
        assert response.status == 200, (self.url, response.status)
        self.page.locator("[data-testid=ps-bkash]").wait_for()

    def form_ready(self):
        """The form as the visitor uses it: bKash chosen, its wallet shown (reopened when
        an answer closed the form)."""
        if not self.page.locator("[data-testid=number]").is_visible():
            self.open()
        radio = self.page.locator("[data-testid=ps-bkash]")
        if not radio.is_checked():
            radio.check()
        self.page.locator("[data-testid=wallet-bkash]").wait_for(state="visible")

    def fill(self, number, amount=PAID):
        self.page.locator("[data-testid=number]").fill(number)
        self.page.locator("[data-testid=sender]").fill(SENDER)
        self.page.locator("[data-testid=amount]").fill(amount)

    def answer(self, key, number, amount=PAID):
        """Send a number; wait until the result says the answer ``key`` (its words)."""
        self.form_ready()
        self.fill(number, amount)
        self.page.locator("[data-testid=submit]").click()
        fragment = max(re.split(r"\{\w+\}", self.words[key]), key=len).strip()
        self.page.wait_for_function(
            "([text]) => (document.querySelector('[data-testid=result]') || {}).textContent.includes(text)",
            arg=[fragment])

    def failure(self):
        return (f"{len(self.found)} serious/critical axe violation(s) in lang={self.lang}, theme={self.theme} "
                f"(states checked: {'; '.join(self.states)}):\n" + "\n".join(self.found))


def set_delayed(merchant, on):
    Merchant.update(delayed_activation=on).where(Merchant.id == merchant.id).execute()


def walk_through_the_states(app, walk, phone, base_url, merchant, lang):
    page = walk.page
    walk.open()
    assert page.evaluate("document.documentElement.lang") == lang
    walk.check("choose system")

    page.locator("[data-testid=ps-bkash]").check()
    page.locator("[data-testid=wallet-bkash]").wait_for(state="visible")
    walk.check("pay")

    walk.fill(ACTIVATED)
    walk.check("enter number")

    walk.answer("activated", ACTIVATED)
    walk.check("answer: activated")
    walk.answer("stockpiling", SMALL, amount="120")
    walk.check("answer: stockpiling")
    walk.answer("already_activated", ACTIVATED)
    walk.check("answer: already_activated")
    walk.answer("rejected", OUTGOING)
    walk.check("answer: rejected")
    for _attempt in range(PER_NUMBER):  # failed attempts count against the number's limit
        walk.answer("not_found", TOO_MANY)
    walk.answer("too_many", TOO_MANY)  # a real 429
    walk.check("answer: 429 too many")

    set_delayed(merchant, True)
    walk.answer("pending", WAITED)
    walk.check("answer: pending")
    set_delayed(merchant, False)
    walk.answer("not_found", UNKNOWN)
    walk.check("answer: not_found")

    opener = page.locator("[data-testid=appeal-open]")
    opener.wait_for(state="visible")
    opener.click()
    page.locator("[data-testid=appeal-form]").wait_for(state="visible")
    walk.check("appeal form open")

    # A session naming the amount to pay and the UPI system: the amount due, the time
    # left, the UPI QR code, the GIF prompt's still frame and its play button (for a
    # visitor who asked for less motion); then on a phone, the UPI app link.
    with app.app_context():
        _session, token = plugin_sessions.create(merchant, LABEL, amount="1000.00", currency="INR",
                                                 payment_systems=["upi"])
    session_url = f"{base_url}/plugin/v1/page?merchant={merchant.public_key}&session={token}&lang={lang}"
    page.emulate_media(reduced_motion="reduce")
    response = page.goto(session_url)
    assert response.status == 200, response.status
    for testid in ("amount-due", "countdown", "upi-qr-upi", "play-upi", "wallet-upi"):
        page.locator(f"[data-testid={testid}]").wait_for(state="visible")
    walk.check("session: amount to pay, countdown, UPI QR code, GIF still and play button")
    page.emulate_media(reduced_motion="no-preference")
    phone.goto(session_url)
    phone.locator("[data-testid=upi-link-upi]").wait_for(state="visible")
    walk.check("session on a phone: UPI app link", on=phone)

    # An expired session: the page says so (HTTP 403), in the page's language.
    with app.app_context():
        _session, token = plugin_sessions.create(merchant, LABEL, expires_in=1800,
                                                 now=utcnow() - datetime.timedelta(hours=2))
    response = page.goto(f"{base_url}/plugin/v1/page?merchant={merchant.public_key}&session={token}&lang={lang}")
    assert response.status == 403, response.status
    problem = page.locator("[data-testid=problem]")
    problem.wait_for()
    assert problem.inner_text().strip() == Words(lang)("session_expired")
    walk.check("expired session")


@pytest.mark.parametrize("theme", BUILT_IN_THEMES)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_serious_axe_violation_in_any_state(app, contexts, axe, backoffice_url, lang, theme):
    merchant = merchant_with_payments(app, theme)
    page, phone = contexts["desktop"].new_page(), contexts["phone"].new_page()
    walk = Walk(page, axe, backoffice_url, merchant, lang, theme)
    try:
        walk_through_the_states(app, walk, phone, backoffice_url, merchant, lang)
    except Exception as exc:  # noqa: BLE001 - say what axe found before the walk stopped
        seen = walk.failure() if walk.found else "no serious/critical violation until then"
        raise AssertionError(f"the walk stopped after state {walk.states[-1:]}: {exc}\n{seen}") from exc
    finally:
        page.close()
        phone.close()
    assert not walk.found, walk.failure()
