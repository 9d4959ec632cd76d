"""Screenshots of the main back-office screens at 1366×768 (issue 22), for docs/screens/.

    .venv/bin/python docs/screens/capture.py docs/screens/after [--lang en --lang ru]

Builds the demo (``backoffice demo``'s data, 300 transactions) on a throw-away SQLite
database, serves the app on a free local port, signs in as the demo's operator and the
first merchant's owner (password, then a TOTP code) in Debian's Chromium, and saves one
JPEG per screen, language and viewer: ``<folder>/<viewer>-<screen>-<lang>.jpg``: what a
1366×768 screen shows (the viewport, not the whole page), so a table wider than the
screen is cut at its edge, as people see it.
"""
import argparse
import os
import sys
import tempfile
import threading
import time

import pyotp
from werkzeug.serving import WSGIRequestHandler, make_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

SCREENS = {
    "operator": [("dashboard", "/admin/"), ("transactions", "/admin/transactions/"),
                 ("withdrawals", "/admin/withdrawals/"), ("postbacks", "/admin/postbacks/"),
                 ("merchants", "/admin/merchants/"), ("wallets", "/admin/wallets/"),
                 ("audit-log", "/admin/audit_log/"), ("settings", "/admin/settings/")],
    "merchant": [("dashboard", "/admin/"), ("transactions", "/admin/transactions/"),
                 ("withdrawals", "/admin/withdrawals/"), ("settings-system", "/admin/settings/system/"),
                 ("plugin-installation", "/admin/plugin-installation/")],
}


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def build(instance):
    from backoffice import create_app
    from backoffice.db import db
    from backoffice.demo import build_demo

    app = create_app({"DATABASE_URL": f"sqlite:///{instance}/demo.db", "INSTANCE_PATH": instance,
                      "SECRET_KEY": "screens", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                      "RATELIMIT_STORAGE_URI": "memory://", "ALLOW_PRIVATE_POSTBACKS": True,
                      "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")})
    with app.app_context():
        from backoffice.db import apply_migrations
        with db.connection_context():
            apply_migrations()
            credentials = build_demo("http://127.0.0.1", transactions=300)
    return app, credentials


def set_language(app, login, lang):
    from backoffice.db import db
    from backoffice.models import User

    with app.app_context(), db.connection_context():
        User.update(language=lang).where(User.login == login).execute()


def sign_in(page, base, account, used={}):
    page.goto(base + "/login")
    page.fill("input[name=login]", account["login"])
    page.fill("input[name=password]", account["password"])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if "/login/code" in page.url:
        totp = pyotp.TOTP(account["totp_secret"])
        while used.get(account["login"]) == totp.now():  # a code is accepted once: wait for the next
            time.sleep(1)
        used[account["login"]] = totp.now()
        page.fill("input[name=code]", used[account["login"]])
        page.click("button[type=submit]")
        page.wait_for_load_state()
    if "/admin" not in page.url:
        raise SystemExit(f"could not sign in as {account['login']}: {page.url}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--lang", action="append", default=None)
    args = parser.parse_args()
    os.makedirs(args.folder, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as instance:
        app, credentials = build(instance)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        accounts = {"operator": credentials["operator"], "merchant": credentials["merchants"][0]["owner"]}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium")
                for lang in args.lang or ["en", "ru"]:
                    for viewer, account in accounts.items():
                        set_language(app, account["login"], lang)
                        context = browser.new_context(viewport={"width": 1366, "height": 768})
                        page = context.new_page()
                        sign_in(page, base, account)
                        for name, path in SCREENS[viewer]:
                            page.goto(base + path)
                            page.wait_for_load_state("networkidle")
                            target = os.path.join(args.folder, f"{viewer}-{name}-{lang}.jpg")
                            page.screenshot(path=target, type="jpeg", quality=70)
                            print(target)
                        context.close()
                browser.close()
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
