"""axe-core on the screens people use all day (issue 22, point 9), in a real Chromium
at 1366×768, in English and Russian: Dashboard, Transactions, Withdrawals, Settings,
Postbacks for a merchant's owner and for an operator, and Merchants for the operator.
No violation of impact "serious" or "critical" is allowed; the failure lists each
one with its rule, impact, target selectors, the screen, the role and the language.

Then every other screen the two roles can open, once each, in English (walked from the
app's URL map and the pages' links: a later screen is checked too).

The walk of the main screens checks what axe alone does not: every page names its language
(``<html lang>``, the viewer's), and the navigation bar stays on one line at 1366 px
(an operator has the most menu entries; Russian words are the longest). The dashboard
is checked again with its Withdrawals tab chosen and a menu open; the sign-in and an
error page too.

Colour contrast as a class: every button, badge, alert and text colour of Bootstrap's
palette (whichever a template or a view uses now or later) and every badge tone of
``static/backoffice.css`` is drawn with the back office's styles on white, on a striped
and on a hovered table row, and axe's color-contrast rule must pass on all of them (and
its link-in-text-block rule on links in running text).

The dashboard's tabs follow the WAI-ARIA tabs pattern: roles, ``aria-selected``,
``aria-controls``, one tab in the Tab order, the arrows, Home and End.

Skipped when Chromium or the playwright package is missing, unless REQUIRE_BROWSER=1.
"""
import os
import re
from decimal import Decimal

import pytest
import screen_walk
from browser_support import backoffice_url, browser, sign_in  # noqa: F401 - fixtures

import factories
from backoffice import ROOT
from backoffice.models import User
from backoffice.services import audit
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest

BLOCKING = ("serious", "critical")
VIEWPORT = {"width": 1366, "height": 768}
LANGS = ("en", "ru")
SCREENS = {  # name -> (path, who sees it)
    "Dashboard": ("/admin/", ("merchant_owner", "operator")),
    "Transactions": ("/admin/transactions/", ("merchant_owner", "operator")),
    "Withdrawals": ("/admin/withdrawals/", ("merchant_owner", "operator")),
    "Settings": ("/admin/settings/", ("merchant_owner", "operator")),
    "Postbacks": ("/admin/postbacks/", ("merchant_owner", "operator")),
    "Merchants": ("/admin/merchants/", ("operator",)),
}
# The navigation bar on one line: the brand's and a link's height with their padding
# (about 51 px); two lines would be over 85.
ONE_LINE_NAVBAR = 70


@pytest.fixture(scope="module")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@pytest.fixture
def world(app, conn):
    """A merchant with deposits (activated, with postbacks), a withdrawal and an audit
    entry; its owner and an operator (whose menu has the most entries)."""
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    merchant = factories.merchant(name="Axe Shop", postback_url="http://127.0.0.1:1/hook")
    factories.merchant_payment_system(merchant, ps, min_deposit="500.00")
    factories.wallet(merchant, ps, number="01712345678")
    with app.app_context():
        for n, amount in enumerate(("900.00", "1250.50", "100.00"), start=1):
            ingest(Report("bkash", "01712345678", f"AXE-TX-{n}", Decimal(amount), "BDT"))
            activate(merchant, "bkash", f"AXE-TX-{n}", "visitor-1", order_id=f"order-{n}")
        # Long logins: the navigation bar must stay on one line with them too.
        owner = factories.user("merchant_owner", merchant=merchant, login="owner.of.the.shop@axe-shop.example.test")
        operator = factories.user("operator", login="operator.on.duty.with.a.long.name@backoffice.example.test")
        audit.record(owner, "settings.change", merchant, summary={"name": "Axe Shop"})
    factories.withdrawal(merchant, ps, amount="300.00", label="visitor-1")
    return {"merchant_owner": owner, "operator": operator}


def blocking_violations(axe, page, where, options=None):
    found = []
    results = axe.run(page, options=options) if options else axe.run(page)
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
        summary = (violation["nodes"][0].get("failureSummary") or "").replace("\n", " ") if violation["nodes"] else ""
        found.append(f"[{where}] {violation['id']} ({violation['impact']}): {violation['help']}; "
                     f"targets: {targets[:8]}; {summary[:300]}")
    return found


def charts_settled(page):
    """The dashboard's statistics loaded (or failed): no part of it is still busy."""
    page.wait_for_selector("[aria-busy=true]", state="detached")  # (no string predicate: the CSP forbids eval)


@pytest.mark.parametrize("role", ["merchant_owner", "operator"])
def test_no_serious_axe_violation_on_the_main_screens(browser, axe, backoffice_url, world, role):
    user = world[role]
    found, heights = [], {}
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(10000)
    try:
        page = context.new_page()
        for lang in LANGS:  # the sign-in page, in the language the address asks for
            page.goto(f"{backoffice_url}/login?lang={lang}")
            found += blocking_violations(axe, page, f"Sign in | lang={lang}")
        sign_in(page, backoffice_url, user, factories.PASSWORD)
        for lang in LANGS:
            User.update(language=lang).where(User.id == user.id).execute()
            for name, (path, roles) in SCREENS.items():
                if role not in roles:
                    continue
                response = page.goto(backoffice_url + path)
                assert response.status == 200, (path, response.status)
                page.wait_for_load_state("load")
                where = f"{name} | {role} | lang={lang}"
                if page.evaluate("document.documentElement.lang") != lang:
                    found.append(f"[{where}] <html lang> is {page.evaluate('document.documentElement.lang')!r}")
                heights[where] = page.evaluate("document.querySelector('nav.navbar').getBoundingClientRect().height")
                if name == "Dashboard":
                    charts_settled(page)
                found += blocking_violations(axe, page, where)
                if name == "Dashboard":  # the other tab, and a menu open
                    page.click("[data-tab=withdrawals]")
                    charts_settled(page)
                    found += blocking_violations(axe, page, where + " | Withdrawals tab")
                    page.click("nav .dropdown-toggle >> nth=0")
                    page.locator("nav .dropdown-menu.show").wait_for()
                    found += blocking_violations(axe, page, where + " | a menu open")
            response = page.goto(backoffice_url + "/admin/no-such-screen/")
            assert response.status == 404
            found += blocking_violations(axe, page, f"Error 404 | {role} | lang={lang}")
    finally:
        context.close()
    tall = {where: h for where, h in heights.items() if h > ONE_LINE_NAVBAR}
    problems = found + [f"the navigation bar wraps at 1366 px ({h:.0f} px high): {where}" for where, h in tall.items()]
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


# -- every screen, once --------------------------------------------------------------------------

@pytest.fixture
def demo(app, conn):
    return screen_walk.demo_world(app)


@pytest.mark.parametrize("role", ["operator", "merchant_owner"])
def test_no_serious_axe_violation_on_any_screen(request, app, client, browser, axe, backoffice_url, demo, role):
    """Every screen the role can open (walked from the URL map and the pages' links, so a
    later screen is checked too), once each, in English, on the demo's data."""
    if request.node.callspec.params.get("database_url") == "postgres":
        pytest.skip("axe judges the HTML and CSS, the same on both databases: the SQLite run checks them "
                    "(the main screens above run on both)")
    screen_walk.sign_in(client, demo[role])
    pages, _counts = screen_walk.walk(app, client, role, per_endpoint=1)
    assert len(pages) > 20, sorted(pages)
    found = []
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(10000)
    try:
        page = context.new_page()
        sign_in(page, backoffice_url, User.get(User.login == demo[role]["login"]), demo[role]["password"])
        for url in sorted(pages):
            response = page.goto(backoffice_url + url)
            assert response.status == 200, (url, response.status)
            page.wait_for_load_state("load")
            found += blocking_violations(axe, page, f"{url} | {role}")
    finally:
        context.close()
    assert not found, f"{len(found)} serious/critical axe violation(s) on {len(pages)} screens:\n" + "\n".join(found)


# -- contrast of every style ------------------------------------------------------------------------

TONES = ("primary", "secondary", "success", "danger", "warning", "info", "light", "dark")
STYLESHEETS = ("/admin/static/bootstrap/bootstrap4/swatch/default/bootstrap.min.css",
               "/admin/static/bootstrap/bootstrap4/css/bootstrap.min.css",
               "/admin/static/admin/css/bootstrap4/admin.css", "/static/backoffice.css")
OWN_BADGE = re.compile(r"\.(bo-badge-[\w-]+)")


def samples():
    """Every style a person reads text in: ``(html, needs a dark background)``."""
    out = []
    for tone in TONES:
        dark = tone == "light"  # light text: made for dark backgrounds (the navigation bar)
        out += [(f'<button type="button" class="btn btn-{tone}">Button {tone}</button>', False),
                (f'<button type="button" class="btn btn-sm btn-outline-{tone}">Outline {tone}</button>', dark),
                (f'<button type="button" class="btn btn-sm btn-outline-{tone} active">Pressed {tone}</button>', dark),
                (f'<span class="badge badge-{tone}">Badge {tone}</span>', False),
                (f'<span class="text-{tone}">Text {tone}</span>', dark),
                (f'<div class="alert alert-{tone}">Alert {tone} <a class="alert-link" href="#">link</a></div>', False)]
    out += [('<span class="text-muted small">Muted text</span>', False), ('<a href="#">A link</a>', False),
            ("<code>code</code>", False),
            ('<p>Text with <a href="#">a link</a> in it.</p>', False),
            ('<p class="small text-muted">Muted text with <a href="#">a link</a> in it.</p>', False),
            ('<ul><li>An item with <a href="#">a link</a> in it.</li></ul>', False),
            ('<ul class="pagination"><li class="page-item"><a class="page-link" href="#">2</a></li>'
             '<li class="page-item active"><a class="page-link" href="#">3</a></li></ul>', False)]
    with open(os.path.join(ROOT, "static", "backoffice.css"), encoding="utf-8") as fh:
        own = sorted(set(OWN_BADGE.findall(fh.read())))
    out += [(f'<span class="badge bo-badge {name}">Status {name}</span>', False) for name in own]
    return out


def sample_page(base_url):
    links = "".join(f'<link rel="stylesheet" href="{base_url}{href}">' for href in STYLESHEETS)
    striped, hovered = [], []
    for html, dark in samples():
        if dark:
            striped.append(f'<tr><td class="bg-dark">{html}</td></tr>')
        else:  # on a striped and a white row; on a hovered row's grey (.table-active, as :hover)
            striped.append(f"<tr><td>{html}</td></tr><tr><td>{html}</td></tr>")
            hovered.append(f'<tr class="table-active"><td class="bg-transparent">{html}</td></tr>')
    return (f'<!DOCTYPE html><html lang="en"><head><title>Styles</title>{links}</head><body><main>'
            f'<table class="table table-striped table-sm"><tbody>{"".join(striped)}</tbody></table>'
            f'<table class="table table-sm"><tbody>{"".join(hovered)}</tbody></table>'
            "</main></body></html>")


def test_every_text_style_has_enough_contrast(browser, axe, backoffice_url):
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(backoffice_url + "/login")  # the back office's origin: its styles load as on its pages
        page.set_content(sample_page(backoffice_url), wait_until="load")
        loaded = page.evaluate("[...document.styleSheets].filter(s => s.cssRules.length).length")
        assert loaded == len(STYLESHEETS), f"{loaded} of the {len(STYLESHEETS)} stylesheets loaded"
        found = blocking_violations(axe, page, "styles", options={"runOnly": ["color-contrast", "link-in-text-block"]})
        found = [line.replace("targets: ", "targets (first 8): ") for line in found]
    finally:
        context.close()
    assert not found, "\n".join(found)


# -- the dashboard's tabs ----------------------------------------------------------------------------

def test_the_dashboard_tabs_follow_the_aria_tabs_pattern(browser, backoffice_url, world):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(10000)
    try:
        page = context.new_page()
        sign_in(page, backoffice_url, world["merchant_owner"], factories.PASSWORD)
        page.wait_for_load_state("load")
        tabs = page.locator("[role=tablist] [role=tab]")
        assert tabs.count() == 2
        panel = page.locator("[role=tabpanel]")
        assert panel.count() == 1

        def state():
            return [(tabs.nth(i).get_attribute("aria-selected"), tabs.nth(i).get_attribute("tabindex"))
                    for i in range(2)]

        for i in range(2):
            assert tabs.nth(i).get_attribute("aria-controls") == panel.get_attribute("id")
        assert state() == [("true", None), ("false", "-1")]
        assert panel.get_attribute("aria-labelledby") == tabs.nth(0).get_attribute("id")
        tabs.nth(0).focus()
        page.keyboard.press("ArrowRight")
        assert state() == [("false", "-1"), ("true", "0")]
        assert page.evaluate("document.activeElement.dataset.tab") == "withdrawals"
        assert panel.get_attribute("aria-labelledby") == tabs.nth(1).get_attribute("id")
        page.keyboard.press("ArrowRight")  # wraps round
        assert page.evaluate("document.activeElement.dataset.tab") == "deposits"
        page.keyboard.press("End")
        assert page.evaluate("document.activeElement.dataset.tab") == "withdrawals"
        page.keyboard.press("Home")
        assert page.evaluate("document.activeElement.dataset.tab") == "deposits"
        assert state() == [("true", "0"), ("false", "-1")]
        page.keyboard.press("ArrowLeft")
        assert page.evaluate("document.activeElement.dataset.tab") == "withdrawals"
        page.keyboard.press("Tab")  # out of the tab list, into the panel: not onto the other tab
        assert page.evaluate("document.activeElement.getAttribute('role')") != "tab"
    finally:
        context.close()
