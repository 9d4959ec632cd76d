"""The plugin in a real browser (Playwright driving Debian's Chromium).

The back office runs on one local port (werkzeug's server in a thread, on the test
database); a plain HTML shop page with the merchant's snippet is served on a second
origin (in the merchant's allowed origins) and on a third one (not allowed). A visitor
completes a deposit with the keyboard only and the shop page receives the
``backoffice:deposit`` event; the page on the third origin shows the visitor why instead
of the plugin, and cannot frame the plugin page itself;
screenshots of the three built-in themes go to ``test-artifacts/``; and a merchant
owner drops a GIF prompt into the back office's modal (preview, then upload).

Skipped when Chromium or the playwright package is missing, unless REQUIRE_BROWSER=1.
"""
import os
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from browser_support import backoffice_url, browser  # noqa: F401 - fixtures
from browser_support import ARTIFACTS, HOST_PAGE, drop_gif_prompt, shop_server

import factories
from backoffice import ROOT
from backoffice.models import Merchant, Transaction
from backoffice.plugin_builder.signing import label_signature
from backoffice.plugin_builder.snippet import snippet
from backoffice.services.ingest import Report, ingest


@pytest.fixture
def shops(conn):
    pages = {"html": ""}
    allowed, allowed_url = shop_server(pages)
    blocked, blocked_url = shop_server(pages)
    yield pages, allowed_url, blocked_url
    allowed.stop()
    blocked.stop()


def test_deposit_end_to_end_and_framing(app, browser, backoffice_url, shops):
    pages, shop_url, stranger_url = shops
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    merchant = factories.merchant(name="Shop", allowed_origins=[shop_url], require_signed_labels=True)
    factories.merchant_payment_system(merchant, ps, min_deposit="500.00")
    wallet = factories.wallet(merchant, ps, number="01712345678")
    with app.app_context():  # the connector reports the visitor's payment
        ingest(Report("bkash", wallet.number, "TRX-E2E-1", Decimal("900.00"), "BDT"))
    label, order_id = "visitor-7", "order-99"
    pages["html"] = HOST_PAGE.format(snippet=snippet(
        merchant, backoffice_url, label=label, order_id=order_id, lang="en",
        signature=label_signature(merchant.plugin_secret, label, order_id)))

    context = browser.new_context(viewport={"width": 320, "height": 700})
    try:
        page = context.new_page()
        page.goto(shop_url + "/checkout")
        frame = page.frame_locator("#backoffice-deposit iframe")
        radio = frame.locator("[data-testid=ps-bkash]")
        radio.wait_for(timeout=10000)
        # keyboard only: select the system, tab past the copy button, type, Enter
        radio.focus()
        page.keyboard.press("Space")
        assert frame.locator("[data-testid=wallet-bkash]").inner_text() == "01712345678"
        page.keyboard.press("Tab")
        assert frame.locator(".bo-copy:focus").count() == 1
        page.keyboard.press("Tab")
        assert frame.locator("[data-testid=number]:focus").count() == 1
        page.keyboard.type("TRX-E2E-1")
        page.keyboard.press("Enter")
        page.wait_for_function("window.deposits.length > 0", timeout=10000)
        deposits = page.evaluate("window.deposits")
        assert deposits == [{"status": "activated", "amount": "900.00", "currency": "BDT", "order_id": order_id}]
        page.wait_for_function("window.messages.length > 0", timeout=5000)
        assert page.evaluate("window.messages")[0]["detail"]["status"] == "activated"
        assert "900.00 BDT" in frame.locator("[data-testid=result]").inner_text()
        # the iframe was sized from the page's messages, and nothing overflows at 320 px
        height = page.evaluate("document.querySelector('#backoffice-deposit iframe').style.height")
        assert height.endswith("px") and height != "420px"
        plugin = next(f for f in page.frames if f.url.startswith(backoffice_url))
        assert plugin.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        tx = Transaction.get(Transaction.transaction_number == "TRX-E2E-1")
        assert tx.status == "activated" and tx.label == label and tx.order_id == order_id

        # a page on an origin that is not allowed: the loader shows the visitor why, no frame
        # (issue 22; tests/plugin_builder/test_browser_refused_origin.py) …
        refused = []
        stranger = context.new_page()
        stranger.on("console", lambda msg: refused.append(msg.text) if "frame-ancestors" in msg.text else None)
        stranger.goto(stranger_url + "/elsewhere")
        stranger.wait_for_selector("#backoffice-deposit [role=alert]")
        assert stranger.locator("#backoffice-deposit iframe").count() == 0
        # … and a page that frames the plugin page itself (no loader), claiming to be the
        # allowed shop, cannot: frame-ancestors.
        own_frame = backoffice_url + "/plugin/v1/page?" + urlencode(dict(
            merchant=merchant.public_key, label=label, order_id=order_id, lang="en", parent=shop_url,
            signature=label_signature(merchant.plugin_secret, label, order_id)))
        stranger.evaluate("src => { const f = document.createElement('iframe'); f.src = src; "
                          "document.body.appendChild(f); }", own_frame)
        stranger.wait_for_timeout(1500)
        assert not any(f.url.startswith(backoffice_url) and _has_form(f) for f in stranger.frames)
        assert refused, "Chromium did not report the frame-ancestors refusal"
    finally:
        context.close()


def test_stockpiling_then_redirect_to_the_pending_url(app, browser, backoffice_url, shops):
    pages, shop_url, _stranger = shops
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    merchant = factories.merchant(name="Shop", allowed_origins=[shop_url], after_payment="redirect")
    factories.merchant_payment_system(merchant, ps, min_deposit="500.00")
    wallet = factories.wallet(merchant, ps, number="01712345678")
    with app.app_context():
        ingest(Report("bkash", wallet.number, "TRX-SMALL-1", Decimal("120.00"), "BDT"))
    pages["html"] = HOST_PAGE.format(snippet=snippet(
        merchant, backoffice_url, label="v2", order_id=None, lang="en",
        extra={"data-pending-url": shop_url + "/pending", "data-fail-url": "https://evil.example/"}))
    context = browser.new_context(viewport={"width": 480, "height": 800})
    try:
        page = context.new_page()
        page.goto(shop_url + "/checkout")
        frame = page.frame_locator("#backoffice-deposit iframe")
        frame.locator("[data-testid=number]").fill("TRX-SMALL-1")  # one system: already chosen
        frame.locator("[data-testid=submit]").click()
        page.wait_for_function("window.deposits.length > 0", timeout=10000)
        assert page.evaluate("window.deposits")[0]["status"] == "stockpiling"
        text = frame.locator("[data-testid=result]").inner_text()
        assert "120.00 BDT" in text and "380.00 BDT" in text and "500.00 BDT" in text
        page.wait_for_url(shop_url + "/pending", timeout=10000)
    finally:
        context.close()


def test_gif_prompt_drag_and_drop_into_the_modal(app, browser, backoffice_url, conn):
    from backoffice.models import MerchantPaymentSystem

    ps = factories.payment_system("bkash", "BDT", name="bKash")
    merchant = factories.merchant(name="Shop")
    settings = factories.merchant_payment_system(merchant, ps)
    owner = factories.user("merchant_owner", merchant=merchant)
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        page = context.new_page()
        page.goto(backoffice_url + "/login")
        page.fill("input[name=login]", owner.login)
        page.fill("input[name=password]", factories.PASSWORD)
        page.click("button[type=submit]")
        page.goto(backoffice_url + "/admin/plugin-appearance/")
        modal = drop_gif_prompt(page, settings.id)
        modal.locator("button[type=submit]").click()
        page.wait_for_selector("img[src^='/plugin/v1/prompts/']", timeout=10000)
        name = MerchantPaymentSystem.get_by_id(settings.id).gif_prompt
        assert name and name.endswith(".gif")
        assert page.locator(f"img[src='/plugin/v1/prompts/{name}']").count() == 1
    finally:
        context.close()


def _has_form(frame):
    try:
        return frame.query_selector("#bo-form") is not None
    except Exception:  # noqa: BLE001 - an error page is not the plugin
        return False


def test_screenshots_of_the_built_in_themes(app, browser, backoffice_url, shops):
    pages, shop_url, _stranger = shops
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    nagad = factories.payment_system("nagad", "BDT", name="Nagad")
    merchant = factories.merchant(name="Shop", allowed_origins=[shop_url])
    factories.merchant_payment_system(merchant, ps, min_deposit="500.00")
    factories.merchant_payment_system(merchant, nagad, min_deposit="250.00")
    factories.wallet(merchant, ps, number="01712345678")
    factories.wallet(merchant, nagad, number="01898765432")
    pages["html"] = HOST_PAGE.format(snippet=snippet(merchant, backoffice_url, label="v1", order_id=None,
                                                     lang="ru"))
    os.makedirs(ARTIFACTS, exist_ok=True)
    context = browser.new_context(viewport={"width": 360, "height": 800})
    backgrounds = set()
    try:
        page = context.new_page()
        for theme in ("dark", "light", "white-green"):
            Merchant.update(theme=theme).where(Merchant.id == merchant.id).execute()
            page.goto(shop_url + "/t-" + theme)
            frame = page.frame_locator("#backoffice-deposit iframe")
            frame.locator("[data-testid=ps-nagad]").check()
            frame.locator("[data-testid=wallet-nagad]").wait_for()
            page.wait_for_timeout(150)
            path = os.path.join(ARTIFACTS, f"plugin-{theme}.png")
            page.locator("#backoffice-deposit iframe").screenshot(path=path)
            assert os.path.getsize(path) > 1000
            plugin = next(f for f in page.frames if f.url.startswith(backoffice_url))
            backgrounds.add(plugin.evaluate("getComputedStyle(document.body).backgroundColor"))
            assert "Выберите платёжную систему" in plugin.inner_text("body")
    finally:
        context.close()
    assert len(backgrounds) >= 2  # the themes really differ (dark is not white)


def test_browser_artifacts_folder_is_ignored_by_git():
    with open(os.path.join(ROOT, ".gitignore"), encoding="utf-8") as fh:
        assert "test-artifacts/" in fh.read().split()
