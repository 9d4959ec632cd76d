"""Lists that fit a laptop screen (issue 22, point 1), in a real browser (Chromium) at
1366×768, in English and Russian, for the merchant's owner and for the operator: with
their default columns no list of the back office scrolls sideways, neither the page
(``document.documentElement.scrollWidth <= clientWidth``) nor the table within it; the
columns a merchant searches by (Status, Postback status, Type, Originality) are on the
screen; every operator list that mixes merchants shows the merchant. The column
chooser works in the browser and is remembered."""
import pytest
from browser_support import backoffice_url, browser, contexts  # noqa: F401 - fixtures
from browser_support import sign_in
from list_support import OPERATOR_LISTS, OWNER_LISTS, build_world

from backoffice.models import User
from factories import PASSWORD

WIDTH, HEIGHT = 1366, 768
SIDEWAYS = """() => {
  const page = document.documentElement;
  const tables = [...document.querySelectorAll('.table-responsive')]
    .filter(box => box.scrollWidth > box.clientWidth)
    .map(box => [box.scrollWidth, box.clientWidth]);
  return {page: [page.scrollWidth, page.clientWidth], tables: tables};
}"""
MIXED = ("transactions", "attempts", "withdrawals", "users", "wallets", "merchant_payment_systems",
         "pending_activations", "postbacks", "audit_log", "appeals", "review", "review/decided")


@pytest.fixture
def world(app, conn):
    return build_world(app)


def open_as(contexts, backoffice_url, user, language):
    User.update(language=language).where(User.id == user.id).execute()
    user.language = language
    context, watch = contexts(viewport={"width": WIDTH, "height": HEIGHT}, locale=language)
    page = context.new_page()
    sign_in(page, backoffice_url, user, PASSWORD)
    return page, watch


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("who", ["owner", "operator"])
def test_no_list_scrolls_sideways_at_1366(contexts, backoffice_url, world, who, language):
    page, watch = open_as(contexts, backoffice_url, world[who], language)
    lists = OWNER_LISTS if who == "owner" else OPERATOR_LISTS
    wide = {}
    for name in lists:
        page.goto(f"{backoffice_url}/admin/{name}/")
        page.wait_for_load_state("load")
        measured = page.evaluate(SIDEWAYS)
        if measured["page"][0] > measured["page"][1] or measured["tables"]:
            wide[name] = measured
        if who == "operator" and name in MIXED:
            header = page.locator("table th", has_text="Мерчант" if language == "ru" else "Merchant").first
            box = header.bounding_box()
            assert box and box["x"] + box["width"] <= WIDTH, (name, "the Merchant column is not on the screen")
    assert not wide, f"lists that scroll sideways at {WIDTH}px ({who}, {language}): {wide}"
    if who == "owner":
        page.goto(f"{backoffice_url}/admin/transactions/")
        for column in ("status", "postback_status", "type", "originality"):
            box = page.locator(f"th.col-{column}").bounding_box()
            assert box and box["x"] + box["width"] <= WIDTH, column
    watch.assert_clean()


def test_the_column_chooser_in_the_browser(contexts, backoffice_url, world):
    page, watch = open_as(contexts, backoffice_url, world["owner"], "en")
    page.goto(f"{backoffice_url}/admin/transactions/")
    page.wait_for_load_state("load")
    assert page.locator("th.col-label").is_visible()
    chooser = page.locator("[data-testid=column-chooser]")
    chooser.locator("summary").click()
    chooser.locator("#col-label").uncheck()
    chooser.locator("#col-wallet_number").check()
    with page.expect_navigation():
        chooser.locator("[data-testid=columns-save]").click()
    assert page.url.endswith("/admin/transactions/")
    assert page.locator("th.col-label").count() == 0 and page.locator("th.col-wallet_number").is_visible()
    measured = page.evaluate(SIDEWAYS)
    assert measured["page"][0] <= measured["page"][1] and not measured["tables"]
    # The next visit: a new browser session, still so.
    again, _watch = open_as(contexts, backoffice_url, world["owner"], "en")
    again.goto(f"{backoffice_url}/admin/transactions/")
    assert again.locator("th.col-label").count() == 0
    # The basic filters, at once: a label typed and applied (empty fields are not sent).
    again.fill("#bf-label_equals", "user-101")
    with again.expect_navigation():
        again.click("[data-testid=basic-filters-apply]")
    assert "flt" in again.url and "label_equals=user-101" in again.url and "id_equals" not in again.url
    assert again.locator("td.col-transaction_number").all_inner_texts() == ["DJA6CDAK01R"]
    watch.assert_clean()
