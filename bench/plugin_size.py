"""What a site visitor downloads for the plugin: the loader, and the plugin page with
its CSS and JS (GIF prompts excluded).

    .venv/bin/python bench/plugin_size.py [--theme light] [--markdown]

Builds the app on a throw-away SQLite database in a temporary folder, with a demo
merchant (two payment systems, a wallet each), fetches ``/plugin/v1/loader.js`` and
``/plugin/v1/page`` through the app and every stylesheet and script the page links
(the built-in theme or the given one, ``plugin.css``, ``plugin.js``), and reports each
file raw and gzipped (level 6, what a reverse proxy typically sends).

Targets (issue 6): loader under 2 KB gzipped; page + CSS + JS under 30 KB transferred.
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


def measure(theme):
    from backoffice import create_app
    from backoffice.db import apply_migrations, db
    from backoffice.models import Merchant, MerchantPaymentSystem, PaymentSystem, Wallet
    from backoffice.security import new_api_key, new_public_key

    folder = tempfile.mkdtemp(prefix="plugin_size_")
    app = create_app({
        "TESTING": True,
        "INSTANCE_PATH": folder,
        "DATABASE_URL": "sqlite:///" + os.path.join(folder, "bench.sqlite3"),
        "SECRET_KEY": uuid.uuid4().hex,
        "RATELIMIT_STORAGE_URI": "memory://",
    })
    apply_migrations()
    with db.connection_context():
        merchant = Merchant.create(name="Bench shop", public_key=new_public_key(), api_key=new_api_key(),
                                   allowed_origins=["https://shop.example"],
                                   theme=theme)
        for code, name in (("bkash", "bKash"), ("nagad", "Nagad")):
            ps = PaymentSystem.create(code=code, name=name, currency="BDT")
            MerchantPaymentSystem.create(merchant=merchant, payment_system=ps, min_deposit=Decimal("500.00"))
            Wallet.create(merchant=merchant, payment_system=ps, identifier=code, number="01712345678")
        public_key = merchant.public_key
    if not db.is_closed():
        db.close()
    client = app.test_client()
    rows = []

    def fetch(url, kind):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        body = response.get_data()
        response.close()
        rows.append((kind, url.split("?")[0], len(body), len(gzip.compress(body, 6))))
        return body

    loader = fetch("/plugin/v1/loader.js", "loader")
    page = fetch(f"/plugin/v1/page?merchant={public_key}&label=visitor-1&lang=en"
                 "&parent=https://shop.example", "page").decode()
    for url in re.findall(r'<link rel="stylesheet" href="([^"]+)"', page):
        fetch(url, "page")
    for url in re.findall(r'<script src="([^"]+)"', page):
        fetch(url, "page")
    shutil.rmtree(folder, ignore_errors=True)
    return rows, len(gzip.compress(loader, 9))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--theme", default="light", choices=["dark", "light", "white-green"])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rows, loader_best = measure(args.theme)
    loader_gz = sum(r[3] for r in rows if r[0] == "loader")
    page_raw = sum(r[2] for r in rows if r[0] == "page")
    page_gz = sum(r[3] for r in rows if r[0] == "page")
    if args.markdown:
        print("| file | raw bytes | gzipped bytes |")
        print("| --- | ---: | ---: |")
        for kind, url, raw, gz in rows:
            print(f"| `{url}` ({kind}) | {raw} | {gz} |")
        print(f"| **page + CSS + JS** | {page_raw} | **{page_gz}** |")
    else:
        for kind, url, raw, gz in rows:
            print(f"{kind:7} {url:45} {raw:7d} B raw {gz:7d} B gzipped")
    print()
    print(f"loader: {loader_gz} B gzipped (level 9: {loader_best} B); target < {LOADER_TARGET} B: "
          f"{'met' if loader_gz < LOADER_TARGET else 'MISSED'}")
    verdict = "met" if page_gz < PAGE_TARGET else "MISSED"
    print(f"page + CSS + JS: {page_gz} B transferred gzipped ({page_raw} B uncompressed); target < {PAGE_TARGET} B: "
          f"{verdict}")
    return 0 if loader_gz < LOADER_TARGET and page_gz < PAGE_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
