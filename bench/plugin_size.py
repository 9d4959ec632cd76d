"""What a site visitor downloads for the plugin, in every language of the plugin page
(issue 20; issue 6 set the targets): the loader, and the plugin page with its CSS and JS.

    .venv/bin/python bench/plugin_size.py [--theme light] [--markdown]

Builds the app on a throw-away SQLite database in a temporary folder, with a merchant
offering two payment systems (a wallet each) whose matching policy asks for the
sender's last 4 digits and the amount (so the page carries those fields), and fetches
through Flask's test client ``/plugin/v1/loader.js`` and, for each language of
``messages.LANGUAGES``, ``/plugin/v1/page?…&lang=…`` with every stylesheet and script the
page links (``plugin.css``, the theme's sheet, ``plugin.js``). Each file is gzipped on
its own at level 9, as a server compressing its answers would send it; GIF prompts are
excluded (pictures the merchant uploads). One more row, for information and held to the
same target: the page under a session naming an amount, for a merchant offering UPI
(its QR code is an SVG inlined in the page), in Hindi.

Targets: the loader under 2 KB gzipped; the page + CSS + JS under 30 KB gzipped, in
every language. Exits 1 when one is missed.
"""
import argparse
import gzip
import os
import re
import shutil
import sys
import tempfile
import uuid
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

LOADER_TARGET = 2 * 1024
PAGE_TARGET = 30 * 1024
LEVEL = 9
THEMES = ("dark", "light", "white-green")


def gz(body):
    return len(gzip.compress(body, LEVEL))


def seed(app, theme):
    """Two merchants: "Bench shop" (bKash and Nagad, the policy's two fields) and
    "UPI shop" (UPI, with a session of 1 000.00 INR). Their public keys and the token."""
    from backoffice.db import db
    from backoffice.models import Merchant, MerchantPaymentSystem, PaymentSystem, Wallet
    from backoffice.security import new_api_key, new_public_key
    from backoffice.services import matching, plugin_sessions

    with app.app_context(), db.connection_context():
        def merchant(name, systems):
            m = Merchant.create(name=name, public_key=new_public_key(), api_key=new_api_key(),
                                allowed_origins=["https://shop.example"], theme=theme)
            for code, label, currency, number in systems:
                ps = PaymentSystem.get_or_none(PaymentSystem.code == code) or PaymentSystem.create(
                    code=code, name=label, currency=currency)
                MerchantPaymentSystem.create(merchant=m, payment_system=ps, min_deposit=Decimal("500.00"))
                Wallet.create(merchant=m, payment_system=ps, identifier=code, number=number)
            return m

        shop = merchant("Bench shop", [("bkash", "bKash", "BDT", "01712345678"),
                                       ("nagad", "Nagad", "BDT", "01898765432")])
        matching.set_policy(shop.id, {"require_sender": "y", "require_amount": "y"}, actor=None)
        upi_shop = merchant("UPI shop", [("upi", "UPI", "INR", "shop@okbank")])
        _session, token = plugin_sessions.create(upi_shop, "visitor-1", amount="1000.00", currency="INR")
        return shop.public_key, upi_shop.public_key, token


def measure(theme):
    from backoffice import create_app
    from backoffice.db import apply_migrations, db
    from backoffice.plugin_builder.messages import LANGUAGES

    folder = tempfile.mkdtemp(prefix="plugin_size_")
    try:
        app = create_app({
            "TESTING": True,
            "INSTANCE_PATH": folder,
            "DATABASE_URL": "sqlite:///" + os.path.join(folder, "bench.sqlite3"),
            "SECRET_KEY": uuid.uuid4().hex,
            "RATELIMIT_STORAGE_URI": "memory://",
        })
        apply_migrations()
        shop, upi_shop, token = seed(app, theme)
        if not db.is_closed():
            db.close()
        client = app.test_client()

        def fetch(url):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            body = response.get_data()
            response.close()
            return body

        def page_files(url, policy_fields=True):
            """The page and each sheet and script it links: [(name, raw, gzipped)]."""
            html = fetch(url)
            text = html.decode()
            if policy_fields:
                assert 'id="bo-sender"' in text and 'id="bo-amount"' in text, "the policy's fields are missing"
            files = [("page", len(html), gz(html))]
            for link in re.findall(r'<link rel="stylesheet" href="([^"]+)"', text) + \
                    re.findall(r'<script src="([^"]+)"', text):
                body = fetch(link)
                files.append((link.split("?")[0].rsplit("/", 1)[-1], len(body), gz(body)))
            return files

        loader = fetch("/plugin/v1/loader.js")
        base = f"/plugin/v1/page?merchant={shop}&label=visitor-1&parent=https://shop.example"
        rows = [(lang, page_files(f"{base}&lang={lang}")) for lang in LANGUAGES]
        rows.append(("hi, UPI session", page_files(
            f"/plugin/v1/page?merchant={upi_shop}&session={token}&lang=hi&parent=https://shop.example",
            policy_fields=False)))
        return (len(loader), gz(loader)), rows
    finally:
        if not db.is_closed():
            db.close()
        shutil.rmtree(folder, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--theme", default="light", choices=THEMES)
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args()
    (loader_raw, loader_gz), rows = measure(args.theme)
    names = [name for name, _raw, _gz in rows[0][1]]
    over = []
    if args.markdown:
        print(f"| language | {' | '.join(names)} | page + CSS + JS raw | **gzipped** |")
        print("| --- |" + " ---: |" * (len(names) + 2))
    else:
        print(f"{'language':16}" + "".join(f"{n:>16}" for n in names) + f"{'total raw':>11}{'gzipped':>9}")
    for lang, files in rows:
        raw, zipped = sum(f[1] for f in files), sum(f[2] for f in files)
        if zipped >= PAGE_TARGET:
            over.append(f"{lang}: page + CSS + JS {zipped} B gzipped")
        cells = [f"{r} / {g}" for _n, r, g in files]
        if args.markdown:
            print(f"| {lang} | {' | '.join(cells)} | {raw} | **{zipped}** |")
        else:
            print(f"{lang:16}" + "".join(f"{c:>16}" for c in cells) + f"{raw:>11}{zipped:>9}")
    print(f"\n(each file: raw bytes / gzipped bytes, gzip level {LEVEL}; theme {args.theme})")
    if loader_gz >= LOADER_TARGET:
        over.append(f"loader: {loader_gz} B gzipped")
    print(f"loader.js: {loader_gz} B gzipped ({loader_raw} B raw); target < {LOADER_TARGET} B: "
          f"{'met' if loader_gz < LOADER_TARGET else 'MISSED'}")
    largest = max(sum(f[2] for f in files) for _lang, files in rows)
    print(f"page + CSS + JS: at most {largest} B gzipped in any language; target < {PAGE_TARGET} B: "
          f"{'met' if largest < PAGE_TARGET else 'MISSED'}")
    for line in over:
        print("OVER THE LIMIT:", line, file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
