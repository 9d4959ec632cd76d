"""Issue 17, class 12: the Content-Security-Policy allows no inline script or style.

Every HTML page (the back office for each role, the sign-in pages, the plugin page) is
fetched from the app's own URL map, so a page added later is checked too. Each answer's
policy must leave out ``'unsafe-inline'``; each inline ``<script>``/``<style>`` in it
must carry this response's nonce; no inline event handler (``onclick=``…), ``style=``
attribute or ``javascript:`` link may remain (a nonce cannot allow those).
"""
import re
from html.parser import HTMLParser

import pytest
from helpers import login

import factories
from backoffice.services import audit

# Flask-Admin's placeholder links (the current tab, the current page): static/backoffice.js
# cancels a click on them, so the browser never runs (nor refuses) the URL.
INERT_LINK = "javascript:void(0)"
# Data blocks: never executed, so no nonce needed.
DATA_SCRIPT_TYPES = ("application/json", "application/ld+json")


class InlineCode(HTMLParser):
    def __init__(self):
        super().__init__()
        self.faults = []
        self.nonces = []
        self._open = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.faults.append(f"inline event handler <{tag} {name}={value!r}>")
            if name == "style":
                self.faults.append(f"style attribute <{tag} style={value!r}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                    "javascript:") and value != INERT_LINK:
                self.faults.append(f"javascript: URL <{tag} {name}={value!r}>")
        if tag == "script" and "src" not in attributes and (attributes.get("type") or "") not in DATA_SCRIPT_TYPES:
            self.nonces.append((tag, attributes.get("nonce")))
        if tag == "style":
            self.nonces.append((tag, attributes.get("nonce")))


def directives(policy):
    result = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            result[words[0]] = words[1:]
    return result


def check_page(response, url):
    assert response.status_code < 500, url
    policy = response.headers.get("Content-Security-Policy")
    assert policy, f"{url}: no Content-Security-Policy"
    rules = directives(policy)
    for name in ("default-src", "script-src", "style-src", "script-src-attr", "style-src-attr"):
        assert "'unsafe-inline'" not in rules.get(name, []), f"{url}: {name} allows 'unsafe-inline' ({policy})"
        assert "'unsafe-eval'" not in rules.get(name, []), f"{url}: {name} allows 'unsafe-eval'"
    nonces = {word[len("'nonce-"):-1] for word in rules.get("script-src", []) if word.startswith("'nonce-")}
    parser = InlineCode()
    parser.feed(response.get_data(as_text=True))
    assert not parser.faults, f"{url}: {parser.faults}"
    if INERT_LINK in response.get_data(as_text=True):
        assert "/static/backoffice.js" in response.get_data(as_text=True), url
    for tag, nonce in parser.nonces:
        assert nonce and nonce in nonces, f"{url}: inline <{tag}> without this response's nonce ({nonce!r})"
    return nonces


@pytest.fixture
def world(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="CSP Shop", allowed_origins=["https://shop.example"])
    factories.merchant_payment_system(m, ps)
    wallet = factories.wallet(m, ps)
    tx = factories.transaction(wallet, transaction_number="CSP-TX")
    wd = factories.withdrawal(m, ps, withdrawal_id="CSP-WD")
    operator = factories.user("operator")
    owner = factories.user("merchant_owner", m)
    entry = audit.record(owner, "merchant.settings", m, merchant=m.id)
    return dict(m=m, ps=ps, tx=tx, wd=wd, operator=operator, owner=owner, staff=factories.user("merchant_staff", m),
                ids={"transactions": tx.id, "withdrawals": wd.id, "audit_log": entry.id, "merchants": m.id,
                     "users": owner.id, "wallets": wallet.id, "payment_systems": ps.id})


def html_pages(app, world):
    """Every GET page of the app without path arguments, and each list's details page."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint.endswith("static"):
            continue
        if rule.rule.startswith("/api/") or "/export/" in rule.rule or rule.rule.endswith((".js", ".css", ".ico")):
            continue
        urls.append(rule.rule)
        if rule.rule.endswith("/details/") or rule.rule.endswith("/edit/"):
            name = rule.rule.strip("/").split("/")[1]
            if name in world["ids"]:
                urls.append(f"{rule.rule}?id={world['ids'][name]}")
    return sorted(set(urls))


@pytest.mark.parametrize("who", ["operator", "owner", "staff", None])
def test_every_page_has_a_nonce_policy_and_no_unnonced_inline_code(app, client, world, who):
    if who:
        login(client, world[who])
    checked, seen_nonces = 0, []
    for url in html_pages(app, world):
        response = client.get(url)
        if response.status_code in (301, 302, 303) or response.mimetype != "text/html":
            continue
        nonces = check_page(response, url)
        seen_nonces += list(nonces)
        checked += 1
    assert checked >= (20 if who == "operator" else 2), checked
    if who == "operator":
        # A fresh nonce per response, never reused.
        assert len(seen_nonces) == len(set(seen_nonces)) >= checked - 1  # the plugin page has none


def test_the_plugin_page_keeps_its_framing_and_no_inline_code(client, world):
    for query in (f"merchant={world['m'].public_key}&label=payer-1", "merchant=nope&label=x",
                  f"merchant={world['m'].public_key}"):
        response = client.get("/plugin/v1/page?" + query)
        check_page(response, query)
        policy = directives(response.headers["Content-Security-Policy"])
        assert "'unsafe-inline'" not in policy.get("script-src", [])
    framed = directives(client.get(f"/plugin/v1/page?merchant={world['m'].public_key}&label=payer-1")
                        .headers["Content-Security-Policy"])
    assert framed["frame-ancestors"] == ["https://shop.example"]


def test_the_nonce_reaches_flask_admins_inline_code_and_ours(client, world):
    """A list page with actions and filters: every inline script carries the nonce."""
    login(client, world["operator"])
    response = client.get("/admin/transactions/")
    nonces = check_page(response, "/admin/transactions/")
    assert len(nonces) == 1
    nonce = nonces.pop()
    body = response.get_data(as_text=True)
    assert re.search(rf'<script[^>]*nonce="{re.escape(nonce)}"', body)
    assert 'data-action-name="mark_fraud"' in body  # the actions menu, without onclick
