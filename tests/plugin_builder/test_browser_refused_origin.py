"""The plugin on a site that is not allowed, in a real browser (issue 22, point 8):
Playwright driving Debian's Chromium.

The shop's page (its own origin, not among the merchant's allowed origins) carries the
snippet: the visitor reads a clear sentence in their language (``data-lang``, else the
browser's languages) in place of the plugin — as text, with ``role="alert"``, its
language and direction — and no broken frame; the refusal is recorded for the
merchant. On an allowed site the loader frames the plugin as before, and when the
check cannot be made (a network failure) it frames it all the same.

Skipped when Chromium or the playwright package is missing, unless REQUIRE_BROWSER=1.
"""
import os

import pytest
from browser_support import backoffice_url, browser, contexts, shop  # noqa: F401 - fixtures
from browser_support import ARTIFACTS, HOST_PAGE

import factories
from backoffice.models import Merchant, RefusedOrigin
from backoffice.plugin_builder.messages import Words
from backoffice.plugin_builder.snippet import snippet

BOX = "#backoffice-deposit"
BLOCKING = ("serious", "critical")


def shop_merchant():
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    merchant = factories.merchant(name="Shop", allowed_origins=["https://shop.example"], plugin_language="en")
    factories.merchant_payment_system(merchant, bkash, min_deposit="500.00")
    factories.wallet(merchant, bkash, number="01712345678")
    return merchant


def open_shop(contexts, shop, backoffice_url, merchant, lang=None, locale="en-US", width=360):
    pages, shop_url = shop
    # The shop's own page in English (axe checks the whole page, the shop's part included).
    tag = snippet(merchant, backoffice_url, label="visitor-1", order_id=None, lang=lang)
    pages["html"] = HOST_PAGE.replace("<html>", '<html lang="en">', 1).format(snippet=tag)
    context, watch = contexts(locale=locale, viewport={"width": width, "height": 700})
    page = context.new_page()
    framed = []
    page.on("request", lambda req: framed.append(req.url) if "/plugin/v1/page" in req.url else None)
    return context, watch, page, framed, shop_url


@pytest.mark.parametrize("expected,lang,locale", [
    ("en", None, "en-US"),   # the browser's language
    ("ur", None, "ur-PK"),   # the browser's language, right to left
    ("ur", "ur", "en-US"),   # data-lang first
])
def test_a_site_not_allowed_shows_the_visitor_a_message_not_a_broken_frame(app, contexts, shop, backoffice_url,
                                                                           expected, lang, locale):
    merchant = shop_merchant()
    context, watch, page, framed, shop_url = open_shop(contexts, shop, backoffice_url, merchant, lang, locale)
    page.goto(shop_url + "/checkout")
    alert = page.locator(BOX + " [role=alert]")
    alert.wait_for()
    words = Words(expected)
    assert alert.inner_text().strip() == words("site_not_allowed")
    if expected != "en":  # really the visitor's language, not English under another lang attribute
        assert words("site_not_allowed") != Words("en")("site_not_allowed"), "the catalog has no translation"
    assert alert.get_attribute("lang") == expected
    assert alert.get_attribute("dir") == words.direction == ("rtl" if expected == "ur" else "ltr")
    # Text, never HTML; no frame at all, and the plugin page never asked for.
    assert alert.evaluate("el => el.children.length") == 0
    assert page.locator(BOX + " iframe").count() == 0 and page.locator("iframe").count() == 0
    assert framed == []
    # Readable: a real size, on screen, dark on light, no sideways scroll at 360 px.
    style = alert.evaluate("""el => { const s = getComputedStyle(el), r = el.getBoundingClientRect();
        return {size: parseFloat(s.fontSize), color: s.color, bg: s.backgroundColor, w: r.width, h: r.height,
                fits: document.documentElement.scrollWidth <= document.documentElement.clientWidth}; }""")
    assert style["size"] >= 14 and style["h"] >= 40 and 0 < style["w"] <= 360 and style["fits"], style
    assert style["color"] == "rgb(31, 31, 31)" and style["bg"] == "rgb(255, 255, 255)", style
    watch.assert_clean()
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, f"plugin-refused-site-{expected}-{lang or 'browser'}.png"))
    # The merchant will see it on the installation page.
    row = RefusedOrigin.get(RefusedOrigin.merchant == merchant)
    assert (row.origin, row.count) == (shop_url, 1)


def test_the_message_passes_axe(app, contexts, shop, backoffice_url):
    from axe_playwright_python.sync_playwright import Axe

    merchant = shop_merchant()
    context, watch, page, framed, shop_url = open_shop(contexts, shop, backoffice_url, merchant, "ur")
    page.goto(shop_url + "/checkout")
    page.locator(BOX + " [role=alert]").wait_for()
    results = Axe().run(page)
    blocking = [f"{v['id']}: {v['help']}" for v in results.response["violations"] if v["impact"] in BLOCKING]
    assert not blocking, blocking


def test_an_allowed_site_still_gets_the_plugin(app, contexts, shop, backoffice_url):
    merchant = shop_merchant()
    context, watch, page, framed, shop_url = open_shop(contexts, shop, backoffice_url, merchant, "en")
    Merchant.update(allowed_origins=[shop_url]).where(Merchant.id == merchant.id).execute()
    page.goto(shop_url + "/checkout")
    page.frame_locator(BOX + " iframe").locator("[data-testid=number]").wait_for()
    assert page.locator(BOX + " [role=alert]").count() == 0 and len(framed) == 1
    watch.assert_clean()
    assert RefusedOrigin.select().count() == 0


def test_when_the_check_fails_the_loader_frames_the_plugin(app, contexts, shop, backoffice_url):
    """A strict site CSP, a network fault or a rate limit must not hide the plugin from an
    allowed site: the loader then inserts the frame, and frame-ancestors decides."""
    merchant = shop_merchant()
    context, watch, page, framed, shop_url = open_shop(contexts, shop, backoffice_url, merchant, "en")
    Merchant.update(allowed_origins=[shop_url]).where(Merchant.id == merchant.id).execute()
    context.route("**/plugin/api/origin*", lambda route: route.abort("connectionrefused"))
    watch.expect(lambda e: "/plugin/api/origin" in e and "request failed" in e, "the check is made to fail")
    watch.expect(lambda e: "/plugin/api/origin" in e and "console error" in e, "Chromium logs the failed fetch")
    page.goto(shop_url + "/checkout")
    page.frame_locator(BOX + " iframe").locator("[data-testid=number]").wait_for()
    assert page.locator(BOX + " [role=alert]").count() == 0
    watch.assert_clean()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_merchant_sees_the_refused_site_and_allows_it_with_one_click(app, contexts, shop, backoffice_url,
                                                                         language):
    """The visitor's refusal, then the merchant's installation page: the site listed, one
    click on Allow, and the visitor's next visit gets the plugin."""
    from browser_support import sign_in
    from axe_playwright_python.sync_playwright import Axe

    merchant = shop_merchant()
    owner = factories.user("merchant_owner", merchant=merchant, language=language)
    context, watch, page, framed, shop_url = open_shop(contexts, shop, backoffice_url, merchant, "en")
    page.goto(shop_url + "/checkout")
    page.locator(BOX + " [role=alert]").wait_for()

    office, _watch = contexts(viewport={"width": 1366, "height": 768})
    screen = office.new_page()
    sign_in(screen, backoffice_url, owner, factories.PASSWORD)
    screen.goto(backoffice_url + "/admin/plugin-installation/")
    block = screen.locator("[data-testid=refused-origins]")
    row = block.locator("[data-testid=refused-row]")
    assert row.count() == 1 and shop_url in row.inner_text()
    results = Axe().run(screen, context="[data-testid=refused-origins]")
    blocking = [f"{v['id']}: {v['help']}: {[(n['target'], n.get('failureSummary', '')[:200]) for n in v['nodes']]}"
                for v in results.response["violations"] if v["impact"] in BLOCKING]
    assert not blocking, blocking
    button = row.locator("button[type=submit]")
    assert button.get_attribute("aria-label") == f"{'Разрешить' if language == 'ru' else 'Allow'} {shop_url}"
    button.click()
    screen.wait_for_load_state()
    assert shop_url in Merchant.get_by_id(merchant.id).allowed_origins
    assert screen.locator("[data-testid=refused-row]").count() == 0

    page.reload()
    page.frame_locator(BOX + " iframe").locator("[data-testid=number]").wait_for()
    assert page.locator(BOX + " [role=alert]").count() == 0
    watch.assert_clean()
