"""Shared pieces of the browser tests (Playwright driving Debian's Chromium).

* ``browser``: one Chromium per test module (skipped when Chromium or the playwright
  package is missing, unless ``REQUIRE_BROWSER=1``);
* ``backoffice_url``: the app under test served by werkzeug in a thread, on the test
  database, so the browser meets real HTTP;
* :func:`shop_server`: a plain HTML page (a merchant's site) on another origin;
* :class:`PageWatch`: records console errors, uncaught exceptions, failed requests and
  error responses of every page of a context, so a broken screen fails the test;
* :func:`drop_file`: a real drag-and-drop of a file (``DataTransfer``) onto an element;
* :func:`sign_in`: the sign-in pages, with the TOTP step when the user has one.

Import the fixtures into a test module: ``from browser_support import browser, backoffice_url``.
"""
import base64
import http.server
import io
import os
import threading
import time

import pytest
from werkzeug.serving import make_server

from backoffice import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(ROOT, "test-artifacts")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]


def _unavailable(reason):
    if os.environ.get("REQUIRE_BROWSER", "") not in ("", "0", "false", "no"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is not installed: {exc}")
    if not os.path.exists(CHROMIUM):
        _unavailable(f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield instance
        instance.close()


class ServerThread:
    def __init__(self, server):
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def backoffice_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    running = ServerThread(server)
    yield f"http://127.0.0.1:{server.server_port}"
    running.stop()


def shop_server(pages):
    """A plain HTTP server answering every path with ``pages["html"]`` (404 for the
    paths in ``pages["missing"]``)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path == "/favicon.ico":  # the browser asks; a shop without one says 204
                self.send_response(204)
                self.end_headers()
                return
            if self.path in pages.get("missing", ()):
                self.send_error(404)
                return
            body = pages["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    return ServerThread(server), f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def shop(conn):
    """The merchant's site on its own origin: ``pages["html"]`` is what it serves;
    ``(pages, url)``."""
    pages = {"html": ""}
    server, url = shop_server(pages)
    yield pages, url
    server.stop()


# The merchant's page: the snippet, and a record of what the plugin told the page.
HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body>
<h1>My shop</h1>
{snippet}
<script>
window.deposits = []; window.messages = [];
document.addEventListener("backoffice:deposit", function (e) {{ window.deposits.push(e.detail); }});
window.addEventListener("message", function (e) {{
  if (e.origin === location.origin && e.data && e.data.type === "backoffice:deposit") window.messages.push(e.data);
}});
</script></body></html>"""


class PageWatch:
    """Everything that says a screen is broken, for every page of a browser context.

    ``problems()`` lists console errors, uncaught exceptions, failed requests and HTTP
    answers >= 400 (each with its URL). ``expect(predicate, reason)`` allows a problem
    the test causes on purpose; the reason is the written justification.
    """

    ABORT_GRACE = 2.0  # seconds between an abort and the navigation that explains it

    def __init__(self, context):
        self.events = []
        self.unexplained_aborts = []  # per page: (navigation count, monotonic time, message)
        self.allowed = []
        context.on("page", self.watch)
        for page in context.pages:
            self.watch(page)

    def watch(self, page):
        page.on("console", lambda msg: self.events.append(
            f"console {msg.type}: {msg.text} ({msg.location.get('url') or page.url})") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.events.append(f"uncaught exception: {exc} ({page.url})"))
        # A page left before it finished loading has its last requests cancelled
        # (net::ERR_ABORTED): not a broken screen. Any other failure is, and so is an
        # abort no navigation explains. Chromium may report the cancelled requests just
        # before the navigation that cancelled them (a link or form in the page), so an
        # abort waits, briefly, for a main-frame navigation started after its request.
        navigations, started, aborted = [0], {}, []

        def on_request(req):
            if req.is_navigation_request() and req.frame == page.main_frame:
                navigations[0] += 1
                now = time.monotonic()
                aborted[:] = [(n, at, message) for n, at, message in aborted
                              if not (n < navigations[0] and now - at < self.ABORT_GRACE)]
            started[req] = navigations[0]

        def on_failed(req):
            message = f"request failed: {req.method} {req.url}: {req.failure}"
            began = started.pop(req, navigations[0])
            if "ERR_ABORTED" not in (req.failure or ""):
                self.events.append(message)
            elif began == navigations[0]:  # no navigation since it started: yet
                aborted.append((began, time.monotonic(), message))

        self.unexplained_aborts.append(aborted)
        page.on("request", on_request)
        page.on("requestfinished", lambda req: started.pop(req, None))
        page.on("requestfailed", on_failed)
        page.on("response", lambda res: self.events.append(f"HTTP {res.status}: {res.request.method} {res.url}")
                if res.status >= 400 else None)

    def expect(self, predicate, reason):
        assert reason, "say why this problem is expected"
        self.allowed.append((predicate, reason))

    def problems(self):
        aborts = [message for page_aborts in self.unexplained_aborts for _n, _at, message in page_aborts]
        return [e for e in self.events + aborts if not any(pred(e) for pred, _reason in self.allowed)]

    def assert_clean(self):
        problems = self.problems()
        assert not problems, "the screens reported problems:\n" + "\n".join(problems)


class Screens:
    """Numbered full-page screenshots in ``test-artifacts/journeys/<backend>/``."""

    def __init__(self, journey, backend):
        self.folder = os.path.join(ARTIFACTS, "journeys", backend)
        os.makedirs(self.folder, exist_ok=True)
        self.journey = journey
        self.count = 0
        for name in os.listdir(self.folder):  # the previous run's pictures of this journey
            if name.startswith(journey + "-"):
                os.remove(os.path.join(self.folder, name))

    def shot(self, page, name):
        self.count += 1
        path = os.path.join(self.folder, f"{self.journey}-{self.count:02d}-{name}.png")
        page.screenshot(path=path, full_page=True)
        assert os.path.getsize(path) > 1000, f"{path} is blank"
        return path


@pytest.fixture
def contexts(browser):
    """``open(**options)`` -> (context, watch); every context closed after the test."""
    made = []

    def open_(**options):
        options.setdefault("viewport", {"width": 360, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(10000)
        made.append(context)
        return context, PageWatch(context)

    yield open_
    for context in made:
        context.close()


def backend_of(request):
    """``sqlite`` or ``postgres``: the database this run of the test uses."""
    callspec = getattr(request.node, "callspec", None)
    return callspec.params.get("database_url", "db") if callspec else "db"


def gif_bytes(size=24, frames=3):
    """A small animated GIF (Pillow)."""
    from PIL import Image

    images = [Image.new("P", (size, size), i) for i in range(frames)]
    for image in images:
        image.putpalette([0, 0, 0, 220, 40, 40, 40, 160, 60])
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


def drop_file(page, selector, data, name, mime):
    """Drag a file onto ``selector`` the way a browser does it (dragover, then drop)."""
    page.evaluate("""([selector, data, name, mime]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: mime}));
        const zone = document.querySelector(selector);
        zone.dispatchEvent(new DragEvent("dragenter", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", [selector, base64.b64encode(data).decode(), name, mime])


def sign_in(page, base_url, user, password, screens=None):
    """Sign in through the pages; the TOTP step (a fresh code) when the user has a secret."""
    from helpers import fresh_code

    page.goto(base_url + "/login")
    page.fill("input[name=login]", user.login)
    page.fill("input[name=password]", password)
    if screens:
        screens.shot(page, "sign-in")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if user.totp_secret:
        assert page.url.startswith(base_url + "/login/code"), page.url
        page.fill("input[name=code]", fresh_code(user))
        if screens:
            screens.shot(page, "second-factor")
        page.click("button[type=submit]")
        page.wait_for_load_state()
    assert page.url.startswith(base_url + "/admin"), f"not signed in: {page.url}"
    assert page.locator("[data-testid=current-user]").inner_text() == user.login


def open_menu(page, *path):
    """Click through the top navigation, e.g. open_menu(page, "Payments", "Transactions").

    The menus are Bootstrap dropdowns: a click before the page's scripts have run opens
    nothing (the table is in the DOM before the scripts at the end of the body load), so
    wait for the page's load event first."""
    page.wait_for_load_state("load")
    *menus, item = path
    for name in menus:
        page.click(f"nav >> text={name}")
    with page.expect_navigation():  # and its load event: the next screen's scripts have run
        page.click(f"nav >> text={item}")


def add_filter(page, name):
    """Add a filter from the list's "Add Filter" dropdown (after the scripts have run)."""
    page.wait_for_load_state("load")
    page.click("text=Add Filter")
    item = page.locator(".field-filters").get_by_text(name, exact=True)
    item.wait_for(state="visible")
    item.click()


def drop_gif_prompt(page, settings_id):
    """Open the GIF prompt modal of a merchant payment system's row, drop a GIF into it
    and wait for the preview; the modal (its submit button saves the picture)."""
    page.wait_for_load_state("load")  # Bootstrap's modal toggle is bound by then
    page.click(f"[data-target='#prompt-modal-{settings_id}']")
    modal = page.locator(f"#prompt-modal-{settings_id}")
    modal.locator("[data-dropzone]").wait_for(state="visible")
    drop_file(page, f"#prompt-modal-{settings_id} [data-dropzone]", gif_bytes(), "how-to-pay.gif", "image/gif")
    preview = modal.locator(".plugin-preview")
    preview.wait_for(state="visible")
    assert preview.get_attribute("src").startswith("data:image/gif;base64,")
    return modal
