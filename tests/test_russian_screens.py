"""Complete Russian (issue 22, point 5): every screen a Russian-speaking merchant owner,
merchant staff and operator can open shows no Latin-script word outside a short
allowlist (brand and wallet names, codes) and the data itself.

The screens are not listed by hand: the walk starts at every GET page of the app's URL
map the role may open (``backoffice.roles``), plus the details and edit pages of one
row in each state of every model screen, and follows every back-office link it renders
(lists, details, edit and create forms, filters, tabs, pagers…), a few URLs per
endpoint, so a screen added later is walked too; every GET page the role may open must
be rendered, or be in ``SKIP`` with its reason (``SEEDS``: the pages only a POST leads
to). Each form page is also posted empty once, to show its validation messages. The
sign-in, second-factor, enrolment, password-reset and error pages are checked too. The
data are the demo's (``backoffice.demo``), made through the services: every state,
every payment system and its withdrawal fields.

What is checked: the page's visible text (tags, scripts, styles and comments stripped;
``pre``/``code``/``kbd``/``samp`` hold code samples and data, ``textarea`` what a form
field holds, not words) and the ``title``, ``placeholder``, ``aria-label``, ``alt``
attributes and the captions of buttons (``value`` of submit inputs), and the words of
the JSON Flask-Admin's scripts turn into menus and questions (filters, confirmations).
The data are taken out by pattern (e-mail addresses, URLs, host names, paths, hex, keys
and identifiers mixing letters and digits or joined by "_", file names, a literal cited
in quotes: «v2=», "id"), text marked as another language's (``lang="en"``: a language by
its own name) and by the demo's known values (merchant, person and bank names, logins,
numbers, what operators typed as reasons…), never by weakening the check.

The same screens in Chromium at 1366 px (one page of each; ``REQUIRE_BROWSER=1`` makes a
missing browser a failure): what they show once their scripts ran (the dashboard's
chart and toggles, live rows), the date pickers (Russian month and day names, Monday
first, «Применить» and «Отмена»), and no button whose words do not fit
(``scrollWidth > clientWidth``) or that an edge clips. And the catalogs: Russian in
sentence case (ours and Flask-Admin's words as the app shows them), the page-size
labels in the three plural forms.

``RU_REPORT=/some/path`` writes each role's findings and its pages' text there (a
review aid when the test fails).
"""
import collections
import datetime
import html
import json
import os
import re
import time
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from browser_support import backoffice_url, browser  # noqa: F401 - fixtures
from conftest import csrf_from
from helpers import login
from screen_walk import endpoint_of
from screen_walk import walk as screen_walk

import factories
from backoffice import ROOT, roles
from backoffice.admin_views.base import permission_of
from backoffice.demo import build_demo
from backoffice.models import (
    Appeal,
    ConnectorToken,
    MatchingPolicy,
    Merchant,
    PaymentSystem,
    PendingActivation,
    Transaction,
    User,
    Wallet,
    WebhookEndpoint,
    Withdrawal,
    utcnow,
)

# Words that read the same in a Russian interface: brand and wallet names, codes.
ALLOWED = {
    # the product, payment systems and wallets (brands)
    "Backoffice", "bKash", "Nagad", "Rocket", "UPI", "PayTM", "Easypaisa", "JazzCash",
    # currencies
    "BDT", "INR", "PKR", "USD", "EUR",
    # codes and standards
    "ID", "API", "CSV", "JSON", "URL", "HMAC", "SHA", "TOTP", "UTC", "GMT", "HTTP", "HTTPS", "POST", "CSS", "HTML",
    "GIF", "PNG", "JPEG", "JPG", "PDF", "QR", "IP", "IFSC", "ISO", "UTF", "NUL", "Unix", "DNS", "TLS", "NAT", "RFC",
    "Teredo",
    # programming languages and tools named in the developers' pages
    "Python", "JavaScript", "Node", "PHP", "Flask",
}
ALLOWED_PHRASES = ("Standard Webhooks",)  # a specification's name

# GET pages that are not screens, or cannot be rendered by following links, with why.
SKIP = {
    "admin.static": "Flask-Admin's own static files (scripts, styles)",
    "admin.stats": "the dashboard's chart data (JSON); its words are checked through the dashboard page",
    "plugin_appearance.starter": "a CSS file to download",
    "postbacks.live_view": "JSON of the Postbacks list's live rows (the list's own cells, checked on the list)",
    "withdrawals.receipt_view": "the payout's receipt itself (the image or PDF an operator attached)",
    "appeals.receipt_view": "the visitor's receipt itself (the image they attached)",
}
# Pages no link leads to (a list action's POST redirects there), with how to open them.
SEEDS = {
    "wallets.limits_view": lambda: "/admin/wallets/limits/?" + urlencode(
        [("id", w.id) for w in Wallet.select(Wallet.id).order_by(Wallet.id).limit(3)]),
    # Reached from a not-yet-activated incoming row's link, which the list's first pages
    # may not hold (the rows' order ties differ between the databases).
    "transactions.activate_view": lambda: "/admin/transactions/activate/?" + urlencode(
        [("id", t.id) for t in Transaction.select(Transaction.id).where(
            (Transaction.status == "new") & (Transaction.direction == "incoming")).order_by(Transaction.id).limit(1)]),
}
SKIP_SUFFIXES = {
    ".export": "CSV downloads (data, not a screen)",
    ".ajax_lookup": "JSON for select boxes (data)",
}
PER_ENDPOINT = 16  # distinct URLs rendered per endpoint (query strings differ)
PER_LIST = 6  # of a list: its pages, sorts and filters
SKIPPED_TAGS = {"script", "style", "pre", "code", "kbd", "samp", "svg", "textarea"}
ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*")
URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://\S*|\bwww\.\S+")  # http(s)://…, otpauth://… (a QR code's text)
HOST = re.compile(r"\b[\w\-]+(?:\.[\w\-]+)*\.(?:example|test|com|org|net|in|bd|pk|local)\b")
PATH = re.compile(r"(?<![\w])/[\w\-./<>{}]*")
HEX = re.compile(r"\b[0-9a-fA-F]{8,}\b")
WITH_DIGITS = re.compile(r"\b(?=[\w\-]*\d)(?=[\w\-]*[A-Za-z])[\w\-]+\b")  # TX000012, wd-5, w12, evt_3
SNAKE = re.compile(r"\b\w*_\w*\b")  # whsec_…, evt_…, field names in samples
# A literal cited in quotes («label», "id", «pip install flask»): code or a value, not words.
QUOTED = re.compile(r"«[^»а-яёА-ЯЁ]+»|\"[^\"а-яёА-ЯЁ]+\"|“[^”а-яёА-ЯЁ]+”")
FILE_NAME = re.compile(r"\b[\w\-]+\.(?:css|js|csv|json|png|gif|jpe?g|pdf|html)\b")  # dark.css
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")


def filter_words(data):
    """Flask-Admin's filter definitions (JSON its script turns into the filter menus):
    the group names, operations and option labels people read, not the arguments."""
    words = []
    for group, filters in json.loads(data).items():
        words.append(group)
        for flt in filters:
            words.append(flt.get("operation") or "")
            words.extend(str(label) for _value, label in flt.get("options") or ())
    return words


# Elements holding JSON for a script, by id: what of it people read.
DATA_BLOCKS = {
    "filter-groups-data": filter_words,
    "active-filters-data": lambda data: [],  # the values typed in the filters: data
    "actions-confirmation-data": lambda data: list(json.loads(data).values()),  # {action: question}
    "message-data": lambda data: [json.loads(data)],
}


class Visible(HTMLParser):
    """The words a person reads on a page: text outside skipped tags, and the
    attributes a browser shows (tooltips, placeholders, labels, alternative text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skipping, self.block = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") in DATA_BLOCKS:
            self.block = (tag, DATA_BLOCKS[attrs["id"]], [])
            return
        lang = (attrs.get("lang") or "").lower()
        if lang and not lang.startswith("ru") and tag not in VOID_TAGS:
            self.skipping.append(tag)  # text the page marks as another language's (a language's own name)
            return
        for name in ATTRIBUTES:
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and (attrs.get("type") or "").lower() in ("submit", "button", "reset") and attrs.get("value"):
            self.parts.append(attrs["value"])
        if tag in SKIPPED_TAGS:
            self.skipping.append(tag)

    def handle_startendtag(self, tag, attrs):
        depth = len(self.skipping)
        self.handle_starttag(tag, attrs)
        del self.skipping[depth:]

    def handle_endtag(self, tag):
        if self.block and tag == self.block[0]:
            self.parts.extend(self.block[1]("".join(self.block[2])))
            self.block = None
            return
        if tag in self.skipping:
            while self.skipping and self.skipping.pop() != tag:
                pass

    def handle_data(self, data):
        if self.block:
            self.block[2].append(data)
        elif not self.skipping:
            self.parts.append(data)


def visible_words(page):
    parser = Visible()
    parser.feed(page)
    parser.close()
    return "\n".join(" ".join(p.split()) for p in parser.parts if p.strip())


def latin_words(text, known):
    """``(word, context)`` for each Latin-script word of ``text`` outside the allowlist."""
    for pattern in (QUOTED, URL, EMAIL):  # whole addresses first (a name may sit inside one)
        text = pattern.sub(" ", text)
    for value in known:  # the data themselves, longest first
        text = text.replace(value, " ")
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    for pattern in (HOST, FILE_NAME, PATH, HEX, WITH_DIGITS, SNAKE):
        text = pattern.sub(" ", text)
    for match in LATIN_WORD.finditer(text):
        word = match.group().strip("'’")
        if word not in ALLOWED:
            yield word, " ".join(text[max(0, match.start() - 50):match.end() + 50].split())


def known_values():
    """The demo's data as shown on the screens: names, logins, numbers, identifiers."""
    values = {m.name for m in Merchant.select(Merchant.name)}
    values |= {u.login for u in User.select(User.login)}
    values |= {p.name for p in PaymentSystem.select(PaymentSystem.name)}
    values |= {p.code for p in PaymentSystem.select(PaymentSystem.code)}
    values |= {w.identifier for w in Wallet.select(Wallet.identifier)}
    values |= {c.name for c in ConnectorToken.select(ConnectorToken.name)}
    values |= {e.description for e in WebhookEndpoint.select(WebhookEndpoint.description)}
    for model in (Transaction, PendingActivation):
        values |= {v for row in model.select(model.label, model.order_id, model.transaction_number).tuples()
                   for v in row}
    values |= {v for row in Appeal.select(Appeal.reason, Appeal.public_id).tuples() for v in row}  # typed by
    # operators for the visitor; the visitor's reference
    for row in Withdrawal.select():
        values |= {row.label, row.withdrawal_id, row.wallet_recipient, row.comment, row.reject_reason}
        values |= {str(v) for v in (row.fields or {}).values()}
    for tx in Transaction.select(Transaction.counterparty):
        values.add(tx.counterparty)
    return sorted((v for v in values if v and re.search("[A-Za-z]", v)), key=len, reverse=True)


# --- the world -------------------------------------------------------------------------------

@pytest.fixture
def demo(app, conn):
    """The demo's data, its users speaking Russian."""
    MatchingPolicy.create(merchant=None, require_sender=True, require_amount=False, amount_tolerance=Decimal("0"),
                          window_minutes=24 * 60, updated_at=utcnow())
    with app.app_context():
        credentials = build_demo("http://127.0.0.1:5000", transactions=120)
    User.update(language="ru").execute()
    shop = credentials["merchants"][0]
    users = {"operator": credentials["operator"], "merchant_owner": shop["owner"], "merchant_staff": shop["staff"]}
    return dict(credentials=credentials, users=users, known=known_values())


def sign_in(client, entry):
    user = User.get(User.login == entry["login"])
    response = login(client, user, password=entry["password"])
    assert response.status_code == 302 and "/login" not in response.headers["Location"], entry["login"]
    return user


# --- the walk --------------------------------------------------------------------------------

HREF = re.compile(r"""href=["']([^"'#]+)""")


def skip_reason(endpoint):
    if endpoint in SKIP:
        return SKIP[endpoint]
    for suffix, reason in SKIP_SUFFIXES.items():
        if endpoint.endswith(suffix):
            return reason
    return None


def may_open(endpoint, role):
    screen, method = endpoint.split(".", 1)
    return roles.allowed(screen, "view", role) and roles.allowed(screen, permission_of(method), role)


def walk(app, client, role, per_list=None, per_endpoint=None):
    """Render every screen the role can open (``screen_walk.walk`` with this test's seeds,
    skips, limits and GET forms); ``{url: (endpoint, page)}`` and the endpoints seen."""
    per_list, per_endpoint = per_list or PER_LIST, per_endpoint or PER_ENDPOINT

    def refused(url, response):
        # (400: a page that needs an id, reached by its links instead)
        allowed = (200, 302, 404) + ((400,) if "?" not in url else ())
        assert response.status_code in allowed, f"{url} as {role}: {response.status_code}"

    pages, rendered = screen_walk(
        app, client, role, extra=[seed() for seed in SEEDS.values()] + list(one_row_per_state(app)),
        limit=lambda endpoint: per_list if endpoint.endswith((".index_view", ".index")) else per_endpoint,
        skip=skip_reason, more=get_form_urls, refused=refused)
    return {url: (endpoint_of(app, url), page) for url, page in pages.items()}, rendered


class GetForms(HTMLParser):
    """The page's GET forms (a choice leads to the next page: the withdrawal form of a
    payment system, a list's filters): each as (action, hidden fields, {select: options})."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.form, self.select = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "get").lower() == "get" and attrs.get("action"):
            self.form = (attrs["action"], {}, {})
        elif self.form is not None and tag == "input" and attrs.get("type") == "hidden" and attrs.get("name"):
            self.form[1][attrs["name"]] = attrs.get("value") or ""
        elif self.form is not None and tag == "select" and attrs.get("name"):
            self.select = self.form[2].setdefault(attrs["name"], [])
        elif self.select is not None and tag == "option" and attrs.get("value"):
            self.select.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag == "select":
            self.select = None
        elif tag == "form" and self.form is not None:
            self.forms.append(self.form)
            self.form = None


def get_form_urls(page, limit=12):
    """A URL for each option of each select of the page's GET forms (the others at their
    first option)."""
    parser = GetForms()
    parser.feed(page)
    urls = []
    for action, hidden, selects in parser.forms:
        if not action.startswith("/admin") or not selects:
            continue
        for name, options in selects.items():
            for value in options[:limit]:
                query = dict(hidden, **{other: values[0] for other, values in selects.items() if values})
                query[name] = value
                urls.append(html.unescape(action).split("?")[0] + "?" + urlencode(query))
    return urls


def one_row_per_state(app):
    """The details and edit pages of one row in each state (each value of each short
    text column: status, postback status, type…) of every model screen: the words of
    every state, and the pages only some states have links to (Activate, Decide…)."""
    from peewee import CharField

    from backoffice.admin_views.base import ScopedModelView

    urls = []
    for view in app.extensions["backoffice_admin"]._views:
        if not isinstance(view, ScopedModelView):
            continue
        model = view.model
        for field in model._meta.sorted_fields:
            if not isinstance(field, CharField) or field.max_length > 16:
                continue
            for (value,) in model.select(field).distinct().limit(12).tuples():
                row = model.select(model._meta.primary_key).where(field == value).first()
                if row is not None:
                    for page in ("details", "edit"):
                        urls.append(f"/admin/{view.endpoint}/{page}/?id={row._pk}")
    return urls


def post_forms_empty(app, client, role, pages):
    """Each form page posted with nothing but its CSRF token: its validation messages."""
    out = {}
    rule_methods = {rule.endpoint: rule.methods for rule in app.url_map.iter_rules()}
    for url, (endpoint, page) in list(pages.items()):
        if "POST" not in rule_methods.get(endpoint, ()) or 'name="csrf_token"' not in page:
            continue
        if endpoint.endswith((".edit_view", ".system", ".edit")):
            continue  # an empty edit would save; its messages are the create form's
        response = client.post(url, data={"csrf_token": csrf_from(client.get(url))})
        if response.status_code == 200 and response.mimetype == "text/html":
            out[url + " (posted empty)"] = (endpoint, response.get_data(as_text=True))
    return out


ROLES = ("operator", "merchant_owner", "merchant_staff")


@pytest.mark.parametrize("role", ROLES)
def test_every_screen_in_russian_shows_no_latin_words(app, client, demo, role):
    sign_in(client, demo["users"][role])
    pages, rendered = walk(app, client, role)
    pages.update(post_forms_empty(app, client, role, pages))
    found = collections.defaultdict(dict)
    for url, (endpoint, page) in pages.items():
        text = visible_words(page)
        assert re.search("[а-яё]", text, re.I), f"{url}: no Russian at all"
        for word, context in latin_words(text, demo["known"]):
            found[word].setdefault(url, context)
    # Every GET page the role may open was rendered (or is skipped, with its reason).
    unrendered = sorted(
        rule.endpoint for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin") and "GET" in rule.methods and may_open(rule.endpoint, role)
        and not skip_reason(rule.endpoint) and not rendered[rule.endpoint])
    report = "\n".join(f"  {w!r} on {len(urls)} pages, e.g. {url}: …{urls[url]}…"
                        for w, urls in sorted(found.items()) for url in sorted(urls)[:1])
    if os.environ.get("RU_REPORT"):
        with open(os.environ["RU_REPORT"] + "." + role, "w") as fh:
            fh.write(report + "\nunrendered: " + repr(unrendered) + "\n" + "\n".join(sorted(pages)))
        with open(os.environ["RU_REPORT"] + "." + role + ".pages", "w") as fh:
            for url, (endpoint, page) in sorted(pages.items()):
                fh.write(f"\n===== {url}\n{visible_words(page)}\n")
    assert not unrendered, f"screens not reached as {role}: {unrendered}"
    assert not found, f"Latin words on Russian screens as {role}:\n{report}"


def check_page(response, known, where, status=200):
    assert response.status_code == status, (where, response.status_code)
    text = visible_words(response.get_data(as_text=True))
    assert re.search("[а-яё]", text, re.I), f"{where}: no Russian at all"
    return [f"{where}: {word!r} in …{context}…" for word, context in latin_words(text, known)]


def test_sign_in_reset_and_error_pages_in_russian(app, client, demo):
    """The screens before and around the back office: sign-in (a browser asking for
    Russian), its error, the second factor, the enrolment of an operator without one,
    a password reset link, and the error pages of a signed-in Russian-speaking user."""
    from backoffice.services import merchants as merchant_service

    ru = {"Accept-Language": "ru-RU,ru;q=0.9"}
    known = demo["known"]
    problems = check_page(client.get("/login", headers=ru), known, "/login")
    token = csrf_from(client.get("/login", headers=ru))
    wrong = client.post("/login", data={"login": "nobody@demo.example", "password": "wrong", "csrf_token": token},
                        headers=ru)
    problems += check_page(wrong, known, "/login (a wrong password)", status=401)
    operator = demo["users"]["operator"]
    client.post("/login", data={"login": operator["login"], "password": operator["password"],
                                "csrf_token": csrf_from(client.get("/login", headers=ru))}, headers=ru)
    problems += check_page(client.get("/login/code", headers=ru), known, "/login/code")
    newcomer = factories.user("operator", login="new.operator@demo.example", language="ru")
    User.update(totp_secret=None).where(User.id == newcomer.id).execute()  # an operator who has none yet
    fresh = app.test_client()
    started = fresh.post("/login", data={"login": newcomer.login, "password": factories.PASSWORD,
                                         "csrf_token": csrf_from(fresh.get("/login", headers=ru))}, headers=ru)
    assert "/login/enrol" in started.headers["Location"]
    problems += check_page(fresh.get(started.headers["Location"], headers=ru), known + [newcomer.login],
                           "/login/enrol")
    owner = User.get(User.login == demo["users"]["merchant_owner"]["login"])
    with app.test_request_context():
        reset = merchant_service.issue_reset_token(owner, User.get(User.login == operator["login"]).id)
    problems += check_page(app.test_client().get(f"/login/reset/{reset}", headers=ru), known, "/login/reset/…")
    problems += check_page(app.test_client().get("/login/reset/not-a-token", headers=ru), known,
                           "/login/reset/(unknown)", status=404)
    for role, status, url in (("merchant_staff", 404, "/admin/no-such-screen/"),
                              ("merchant_staff", 403, "/admin/merchants/")):
        signed_in = app.test_client()
        sign_in(signed_in, demo["users"][role])
        problems += check_page(signed_in.get(url), known, f"{url} as {role}", status=status)
    assert not problems, "\n".join(problems)


def test_a_standard_withdrawal_field_is_labelled_in_russian_whatever_its_schema_says(app, client, demo):
    """A payment system's withdrawal fields come from data: an operator may label a
    standard field in their own English words. A Russian-speaking user reads the
    standard field's Russian label (the translated mapping), on the request form and on
    the payment system's details page, never the schema's JSON."""
    bkash = PaymentSystem.get(PaymentSystem.code == "bkash")
    schema = [dict(entry, label="Payee's phone") if entry["name"] == "recipient_wallet" else entry
              for entry in bkash.withdrawal_fields]
    PaymentSystem.update(withdrawal_fields=schema).where(PaymentSystem.id == bkash.id).execute()
    sign_in(client, demo["users"]["merchant_owner"])
    form = visible_words(client.get(f"/admin/withdrawals/new/?payment_system={bkash.id}").get_data(as_text=True))
    assert "Номер кошелька получателя" in form and "Payee" not in form
    operator = app.test_client()
    sign_in(operator, demo["users"]["operator"])
    details = operator.get(f"/admin/payment_systems/details/?id={bkash.id}").get_data(as_text=True)
    assert "Номер кошелька получателя" in visible_words(details) and "Payee" not in visible_words(details)
    assert '"label"' not in details and "&#34;label&#34;" not in details  # no JSON


# --- sentence case and plural forms ---------------------------------------------------------------

# A capitalised word inside a sentence ("Добавить Фильтр"): after a lower-case word, a digit,
# a comma or a closing bracket, not after sentence punctuation, "«" or "→" (a menu path).
TITLE_CASE = re.compile(r"(?<=[а-яёa-z0-9,)] )[А-ЯЁ][а-яё]+\b")  # (not a unit: КиБ)


def test_russian_is_in_sentence_case(app):
    """Every Russian string the back office shows, ours and Flask-Admin's (as the app
    words them: ``admin_wording``), capitalises its first word only."""
    from babel.messages.pofile import read_po
    from flask_admin import babel as admin_babel
    from flask_admin import translations as admin_translations

    with open(os.path.join(ROOT, "backoffice", "translations", "ru", "LC_MESSAGES", "messages.po"), "rb") as fh:
        ours = read_po(fh, locale="ru")
    with open(os.path.join(admin_translations.__path__[0], "ru", "LC_MESSAGES", "admin.po"), "rb") as fh:
        theirs = read_po(fh, locale="ru")
    texts = []
    for message in ours:
        if message.id:
            texts += [message.string] if isinstance(message.string, str) else list(message.string)
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        shown = admin_babel.domain.get_translations()  # Flask-Admin's words as the app resolves them
        for message in theirs:
            if not message.id:
                continue
            if isinstance(message.id, str):
                texts.append(shown.ugettext(message.id))
            else:
                texts += [shown.ungettext(message.id[0], message.id[1], n) for n in (1, 2, 5)]
    placeholder = re.compile(r"%\(\w+\)[sd]")
    offenders = sorted({t for t in texts if t and TITLE_CASE.search(placeholder.sub("x", t))})
    assert not offenders, offenders
    assert "Добавить фильтр" in texts and "Сбросить фильтры" in texts


def test_page_sizes_and_deletions_take_the_russian_plural_forms(app):
    """One, few, many: 1, 21 строка; 2, 22 строки; 5, 11, 25 строк (the page-size menu
    of every list); and Flask-Admin's "records deleted" through our catalog."""
    from flask import render_template_string
    from flask_admin import babel as admin_babel

    with app.test_request_context(headers={"Accept-Language": "ru"}):
        rows = {n: render_template_string("{{ ngettext('%(num)d row per page', '%(num)d rows per page', n) }}", n=n)
                for n in (1, 2, 5, 11, 21, 22, 25, 100)}
        deleted = {n: admin_babel.ngettext("Record was successfully deleted.",
                                           "%(count)s records were successfully deleted.", n, count=n)
                   for n in (1, 3, 5, 21)}
    assert rows == {1: "1 строка на странице", 2: "2 строки на странице", 5: "5 строк на странице",
                    11: "11 строк на странице", 21: "21 строка на странице", 22: "22 строки на странице",
                    25: "25 строк на странице", 100: "100 строк на странице"}
    assert deleted == {1: "Удалена 1 запись.", 3: "Удалено 3 записи.", 5: "Удалено 5 записей.",
                       21: "Удалена 21 запись."}


# --- the same screens in Chromium at 1366 px ---------------------------------------------------

VIEWPORT = {"width": 1366, "height": 768}

# The words the browser shows (the pages' scripts included: the dashboard's chart, the
# pickers, live rows), by the same rules as above: visible text nodes outside code and
# other languages' text, and the attributes people read.
SHOWN_WORDS_JS = """() => {
  const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'KBD', 'SAMP', 'TEXTAREA', 'NOSCRIPT', 'TEMPLATE']);
  const foreign = el => { const host = el.closest('[lang]'); const lang = host ? host.lang.toLowerCase() : 'ru';
                          return lang && !lang.startsWith('ru'); };
  const shown = el => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !node.textContent.trim() || el.closest('script,style,pre,code,kbd,samp,textarea,noscript,template')
        || foreign(el) || !shown(el)) continue;
    out.push(node.textContent.replace(/\\s+/g, ' ').trim());
  }
  for (const el of document.body.querySelectorAll('[title],[placeholder],[aria-label],[alt],input[type=submit],input[type=button]')) {
    if (foreign(el) || !shown(el)) continue;
    for (const name of ['title', 'placeholder', 'aria-label', 'alt']) if (el.getAttribute(name)) out.push(el.getAttribute(name));
    if (el.matches('input[type=submit],input[type=button]') && el.value) out.push(el.value);
  }
  return out.join('\\n');
}"""

# Buttons whose words do not fit (scrollWidth over clientWidth) or that a box clips at
# its edge (an ancestor that hides its overflow, or the window when it does not scroll).
CUT_BUTTONS_JS = """() => {
  const cut = [];
  const sideways = document.documentElement.scrollWidth > document.documentElement.clientWidth;
  for (const el of document.querySelectorAll('button, .btn, input[type=submit], input[type=button], [role=button]')) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const name = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 60);
    if (el.scrollWidth > el.clientWidth + 1) { cut.push(`${name}: its words need ${el.scrollWidth} px, it has ${el.clientWidth}`); continue; }
    if (!sideways && r.right > window.innerWidth + 1) { cut.push(`${name}: past the window's right edge`); continue; }
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (!['hidden', 'clip'].includes(style.overflowX)) continue;
      const b = box.getBoundingClientRect();
      if (r.right > b.right + 1 || r.left < b.left - 1) { cut.push(`${name}: clipped by ${box.tagName.toLowerCase()}.${box.className}`); break; }
    }
  }
  return cut;
}"""


def picker_words(page):
    """Open the page's first date picker (Flask-Admin's daterangepicker); what it says."""
    # (Flask-Admin's form fields keep their data-role; its filters' inputs have a date format.)
    field = page.locator("input[data-role$=picker]:visible, input.filter-val[data-date-format]:visible").first
    if not field.count():
        return None
    field.click()
    picker = page.locator(".daterangepicker:visible").first
    picker.wait_for()
    text = picker.inner_text()
    page.keyboard.press("Escape")
    return text


def settled(page, seconds=15):
    """Nothing on the page is busy any more (the dashboard's statistics loaded). Polled
    from here: the pages' CSP refuses the eval a page-side wait would use."""
    deadline = time.monotonic() + seconds
    while page.evaluate("() => Boolean(document.querySelector('[aria-busy=true]'))"):
        assert time.monotonic() < deadline, f"{page.url} stays busy"
        time.sleep(0.1)


def range_picker_url(app, role):
    """A list the role may open with a date range filter set (its picker: two calendars,
    "From", "To", "Apply", "Cancel")."""
    from backoffice.admin_views.base import ScopedModelView

    today = datetime.date.today().isoformat()
    for view in app.extensions["backoffice_admin"]._views:
        if not isinstance(view, ScopedModelView) or not may_open(f"{view.endpoint}.index_view", role):
            continue
        for key, (_index, flt) in sorted((view._filter_args or {}).items()):
            kind = getattr(flt, "data_type", None) or ""
            if kind in ("daterangepicker", "datetimerangepicker") and view.filter_offered(flt):
                value = f"{today} to {today}" if kind == "daterangepicker" else f"{today} 00:00:00 to {today} 23:59:59"
                return f"/admin/{view.endpoint}/?" + urlencode({f"flt0_{key}": value})
    return None


@pytest.mark.parametrize("role", ROLES)
def test_every_screen_in_chromium_at_1366_px_in_russian(app, client, demo, browser, backoffice_url, role):
    """One page of every screen (the walk above, one URL per screen) in a real browser at
    1366 px: no Latin word in what it shows once its scripts ran (the dashboard's chart
    and toggles, the date pickers: Russian month and day names, Russian buttons), and no
    button whose words do not fit or that an edge cuts off."""
    from browser_support import sign_in as browser_sign_in

    entry = demo["users"][role]
    sign_in(client, entry)
    pages, _rendered = walk(app, client, role, per_list=1, per_endpoint=1)
    urls = sorted(url for url in pages if "(posted" not in url)
    user = User.get(User.login == entry["login"])
    context = browser.new_context(viewport=VIEWPORT, locale="ru-RU")
    context.set_default_timeout(15000)
    found, cut, pickers = collections.defaultdict(dict), [], {}
    try:
        page = context.new_page()
        browser_sign_in(page, backoffice_url, user, entry["password"])
        for url in urls:
            response = page.goto(backoffice_url + url)
            assert response.status == 200, (url, response.status)
            page.wait_for_load_state("load")
            settled(page)
            for word, context_text in latin_words(page.evaluate(SHOWN_WORDS_JS), demo["known"]):
                found[word].setdefault(url, context_text)
            cut += [f"button cut off at {url}: {problem}" for problem in page.evaluate(CUT_BUTTONS_JS)]
            if len(pickers) < 2:
                words = picker_words(page)
                if words is not None:
                    pickers[url] = words
        ranged = range_picker_url(app, role)
        if ranged:
            page.goto(backoffice_url + ranged)
            page.wait_for_load_state("load")
            words = picker_words(page)
            if words is None or "Применить" not in words or "Отмена" not in words:
                cut.append(f"{ranged}: the range picker has no Russian «Применить» and «Отмена»: {words!r}")
            else:
                pickers[ranged] = words
    finally:
        context.close()
    problems = [f"Latin word {w!r} on {len(where)} pages, e.g. {url}: …{where[url]}…"
                for w, where in sorted(found.items()) for url in sorted(where)[:1]]
    problems += cut
    if role == "operator" and not pickers:  # the exchange rates' form has a date field
        problems.append("no date picker was found on any screen")
    for url, words in pickers.items():
        if not (re.search("Пн|пн", words) and re.search("янв|февр|март|апр|май|июн|июл|авг|сент|окт|нояб|дек",
                                                        words, re.I)):
            problems.append(f"{url}: the date picker is not in Russian: {words!r}")
        problems += [f"{url}: the date picker shows {word!r}" for word, _where in latin_words(words, demo["known"])]
    assert not problems, f"{len(problems)} problem(s) in Chromium at 1366 px as {role}:\n" + "\n".join(problems)
