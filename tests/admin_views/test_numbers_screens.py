"""Numbers people read and type, across the back office (issue 22, point 3).

* **Every money column** of every model view is money in the viewer's language on the
  page, the machine format in the CSV, and an ``AmountField`` in the generated form;
  every amount field of every hand-made form is an ``AmountField`` too (the views are
  walked, not listed by hand: a view or form added later is checked as well).
* **The main pages**, walked as an English and a Russian operator and merchant owner:
  the amount shows with the language's separators ("1,250.50" / "1 250,50", a no-break
  space between the thousands) and a no-break space before its currency, never in the
  machine format; the CSV exports keep the machine format.
* **Every amount input** takes what people type: "1 250,50" from a Russian operator
  saves ``Decimal("1250.50")`` (the withdrawal form, the wallet's limits, one by one and
  in bulk, the manual transaction, the balance adjustment, the matching policy, the
  two-approval threshold, the minimum deposit, the appeals search), "1,250.50" from an
  English one; a bad amount is refused with an error naming the field.
"""
import csv
import datetime
import html
import importlib
import io
import pkgutil
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from babel import Locale
from conftest import csrf_from
from flask_wtf import FlaskForm
from helpers import login

import factories
import backoffice.admin_views as admin_views_package
from backoffice.admin_views.amounts import AmountField, machine_column, money_column, money_fields
from backoffice.admin_views.base import ScopedModelView
from backoffice.i18n import format_number
from backoffice.models import (
    AuditLog,
    LedgerEntry,
    MatchingPolicy,
    Merchant,
    MerchantPaymentSystem,
    PendingActivation,
    Transaction,
    User,
    Wallet,
    Withdrawal,
    utcnow,
)
from backoffice.services import activation, appeals, audit, matching
from backoffice.services import wallets as wallet_service
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

NBSP = "\u00a0"
AMOUNT = Decimal("1250.50")
WRITTEN = {"en": "1,250.50", "ru": f"1{NBSP}250,50"}  # how each language writes AMOUNT
MACHINE = "1250.50"
TYPED = {"en": "1,250.50", "ru": "1 250,50"}  # what people of each language type
# The names of amount fields in the back office's forms (a model's money columns too).
AMOUNT_NAMES = {"amount", "min_deposit", "max_per_transaction", "daily_limit", "monthly_limit", "amount_tolerance",
                "review_above", "review_first_above", "withdrawal_dual_approval_above"}


def money(amount_text, currency="BDT"):
    return f"{amount_text}{NBSP}{currency}"


class Visible(HTMLParser):
    """The text a person reads on a page (no scripts, styles, code samples)."""

    SKIPPED = {"script", "style", "pre", "code", "template", "svg"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skipping = [], []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self.skipping.append(tag)

    def handle_endtag(self, tag):
        if tag in self.SKIPPED and tag in self.skipping:
            while self.skipping and self.skipping.pop() != tag:
                pass

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible(page):
    """The page's text, one text node a line (cells apart: "1,250.50" then "BDT" in the next
    cell are not one amount)."""
    parser = Visible()
    parser.feed(page)
    parser.close()
    return "\n".join(parser.parts)


# -- the class: every money column, every amount field ------------------------------------------------

def model_views(app):
    return [view for view in app.extensions["backoffice_admin"]._views if isinstance(view, ScopedModelView)]


def test_every_money_column_of_every_model_view(app):
    checked = 0
    for view in model_views(app):
        names = money_fields(view.model)
        form = view.get_form()
        for name in names:
            checked += 1
            where = f"{view.endpoint}.{name}"
            # On the page: money (the view's own formatter may take the cell, and must say money).
            assert name in view.column_formatters, where
            assert name in (view.column_formatters_detail or view.column_formatters), where
            # In the CSV: the machine format, unless the view gives a CSV formatter of its own.
            assert view.column_formatters_export.get(name) is not None, where
            if name in view.column_formatters and view.column_formatters[name] is not money_column:
                assert name in type(view).__dict__.get("column_formatters_export", {}) or \
                    view.column_formatters_export[name] is machine_column, where
            # In the generated form: typed as people write amounts.
            if hasattr(form, name):
                assert issubclass(getattr(form, name).field_class, AmountField), where
    assert checked >= 11  # transactions, withdrawals, wallets, payment settings, pending activations, merchants


def _form_classes():
    for info in pkgutil.iter_modules(admin_views_package.__path__):
        module = importlib.import_module(f"{admin_views_package.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, FlaskForm) and value.__module__ == module.__name__:
                yield value


def test_every_amount_field_of_every_hand_made_form_is_an_amount_field():
    seen = []
    for form_class in _form_classes():
        for name in dir(form_class):
            unbound = getattr(form_class, name)
            if name in AMOUNT_NAMES and hasattr(unbound, "field_class"):
                seen.append(f"{form_class.__name__}.{name}")
                assert issubclass(unbound.field_class, AmountField), f"{form_class.__name__}.{name}"
    # The manual transaction, the adjustment, the appeals search, the bulk limits, the
    # two-approval threshold, the matching policy's amounts.
    assert {"ManualTransactionForm.amount", "AdjustmentForm.amount", "SearchForm.amount",
            "BulkLimitsForm.daily_limit", "SystemForm.withdrawal_dual_approval_above",
            "PolicyForm.review_above"} <= set(seen), seen


# -- the data ------------------------------------------------------------------------------------------

@pytest.fixture
def books(app, conn):
    """Alpha's books with AMOUNT (1250.50 BDT) on every screen that shows money."""
    ps = seed_payment_systems()["bkash"]
    a = factories.merchant(name="Alpha", postback_url="http://127.0.0.1:9/hook", timezone="Asia/Dhaka",
                           withdrawal_dual_approval_above=AMOUNT)
    settings_row = factories.merchant_payment_system(a, ps, min_deposit=str(AMOUNT))
    operator = factories.user("operator", login="ops-numbers@example.test")
    owner = factories.user("merchant_owner", a)
    wallet = factories.wallet(a, ps)
    fund(a, ps, amount="5000.00", commission="0.00", wallet=wallet)  # 5,000.00 available
    withdrawal = factories.withdrawal(a, ps, amount=str(AMOUNT), fields=VALID_FIELDS["bkash"],
                                      wallet_recipient=VALID_FIELDS["bkash"]["recipient_wallet"])
    with app.app_context():
        # Held for review (above 1,000.00), then a visitor's appeal of the same amount.
        matching.set_policy(a.id, {"require_sender": "", "review_above": "1000"}, actor=operator.id)
        held = factories.transaction(wallet, str(AMOUNT), counterparty="01711112222")
        outcome = activation.activate(a, ps.code, held.transaction_number, "alice")
        assert outcome.status == "pending", outcome
        appeal, _created = appeals.file(activation.merchant_settings(a, ps.code), "bob", "TXAPPEAL", AMOUNT,
                                        "01799998888", utcnow() - datetime.timedelta(minutes=30))
        wallet_service.update([wallet.id], {"daily_limit": AMOUNT}, operator.id)  # audited
        audit.record(operator, "withdrawal.approve", withdrawal, summary={
            "withdrawal_id": withdrawal.withdrawal_id, "amount": MACHINE, "currency": "BDT"})
    PendingActivation.create(merchant=a, payment_system=ps, transaction_number="TXWAIT", label="carol",
                             expires_at=utcnow() + datetime.timedelta(minutes=30), amount=AMOUNT)
    return dict(ps=ps, a=a, operator=operator, owner=owner, wallet=wallet, withdrawal=withdrawal, held=held,
                appeal=appeal, settings=settings_row)


def _speaking(user, language):
    User.update(language=language).where(User.id == user.id).execute()
    return user


# What each page shows of AMOUNT (or of another amount of the books), by role: (url, the
# amount, with its currency — "sentence": with it, in a sentence's text rather than a span).
def operator_pages(b):
    a, w = b["a"], b["withdrawal"]
    return [
        ("/admin/transactions/", AMOUNT, True),
        (f"/admin/transactions/details/?id={b['held'].id}", AMOUNT, True),
        (f"/admin/transactions/activate/?id={b['held'].id}", AMOUNT, True),
        ("/admin/withdrawals/", AMOUNT, True),
        (f"/admin/withdrawals/details/?id={w.id}", AMOUNT, True),
        (f"/admin/withdrawals/decide/?decision=approve&id={w.id}", AMOUNT, True),
        ("/admin/wallets/", AMOUNT, True),
        (f"/admin/wallets/details/?id={b['wallet'].id}", AMOUNT, True),
        (f"/admin/wallets/limits/?id={b['wallet'].id}", AMOUNT, True),
        (f"/admin/balance/?merchant={a.id}&currency=BDT", AMOUNT, True),  # on hold; the statement
        ("/admin/review/", AMOUNT, True),
        ("/admin/appeals/", AMOUNT, True),
        (f"/admin/appeals/details/?id={b['appeal'].id}", AMOUNT, True),
        ("/admin/merchant_payment_systems/", AMOUNT, True),
        ("/admin/pending_activations/", AMOUNT, True),
        ("/admin/audit_log/", AMOUNT, "sentence"),  # in a sentence: joined by a no-break space, no span
        (f"/admin/?merchant={a.id}", Decimal("3749.50"), True),  # 5,000.00 − the 1,250.50 held
        (f"/admin/merchants/details/?id={a.id}", AMOUNT, False),  # a threshold in any currency
    ]


def owner_pages(b):
    return [
        ("/admin/transactions/", AMOUNT, True),
        ("/admin/withdrawals/", Decimal("3749.50"), True),  # the balance above the list
        (f"/admin/withdrawals/new/?payment_system={b['ps'].id}", Decimal("3749.50"), True),
        ("/admin/balance/", AMOUNT, True),
        ("/admin/appeals/", AMOUNT, True),
        ("/admin/", Decimal("3749.50"), True),
    ]


def written(amount, language):
    """How ``language`` writes ``amount`` (2 places, its separators)."""
    return format_number(amount, 2, Locale.parse(language))


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("role", ["operator", "owner"])
def test_the_main_pages_write_amounts_in_the_viewer_s_language(client, books, language, role):
    user = _speaking(books[role], language)
    login(client, user)
    pages = operator_pages(books) if role == "operator" else owner_pages(books)
    for url, amount, with_currency in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        text = visible(page)
        expected = written(amount, language)
        if with_currency:
            expected = money(expected)
        assert expected in text, (url, expected, text[:3000])
        if with_currency != "sentence":
            assert f'<span class="bo-money">{expected}</span>' in page, url  # one unbreakable span
        # Never the machine format, nor an amount split from its currency by a breaking space.
        assert MACHINE not in text and "3749.50" not in text, url
        assert not re.search(r"\d[ \t]+BDT", text), (url, re.findall(r".{0,20}\d[ \t]+BDT", text))


SKIP_LINKS = re.compile(r"/export/|/logout|/receipt|/delete|stats\.json|/static/|/ajax/|/login|\.css$|/starter")
LINK = re.compile(r'href="(/admin/[^"#]*)"')


@pytest.mark.parametrize("language", ["en", "ru"])
def test_no_screen_shows_the_machine_format_or_an_amount_apart_from_its_currency(client, books, language):
    """Every screen an operator reaches from the menu, and the pages those link to (a few
    of each): no amount in the machine format, none split from its currency."""
    login(client, _speaking(books["operator"], language))
    seen, queue, per_path, pages = set(), [("/admin/", 0)], {}, 0
    while queue:
        url, depth = queue.pop(0)
        path = url.split("?")[0]
        if url in seen or per_path.get(path, 0) >= 3:
            continue
        seen.add(url)
        per_path[path] = per_path.get(path, 0) + 1
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        pages += 1
        page = response.get_data(as_text=True)
        text = visible(page)
        for machine in (MACHINE, "3749.50", "5000.00"):
            assert machine not in text, (url, machine)
        assert not re.search(r"\d[ \t]+BDT", text), (url, re.findall(r".{0,20}\d[ \t]+BDT", text))
        if depth < 2:
            queue += [(html.unescape(link), depth + 1) for link in LINK.findall(page) if not SKIP_LINKS.search(link)]
    assert pages >= 25, pages


def test_a_russian_merchant_reads_its_balance_with_russian_separators(client, books):
    login(client, _speaking(books["owner"], "ru"))
    text = visible(client.get("/admin/withdrawals/").get_data(as_text=True))
    assert f"3{NBSP}749,50{NBSP}BDT" in text


# -- the CSV keeps the machine format --------------------------------------------------------------

def csv_text(response):
    assert response.status_code == 200 and response.mimetype == "text/csv", response.status_code
    return response.get_data(as_text=True)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_exports_keep_the_machine_format(client, books, language):
    login(client, _speaking(books["operator"], language))
    a = books["a"]
    for url in ("/admin/transactions/export/csv/", "/admin/withdrawals/export/csv/", "/admin/wallets/export/csv/",
                f"/admin/balance/export/csv/?merchant={a.id}&currency=BDT"):
        body = csv_text(client.get(url))
        assert MACHINE in body, url
        assert WRITTEN["en"] not in body and WRITTEN["ru"] not in body and NBSP not in body, url
    # The chart's data too.
    data = client.get(f"/admin/dashboard/stats.json?merchant={a.id}").get_json()
    assert all(isinstance(t["amount"], str) and re.fullmatch(r"-?\d+\.\d\d", t["amount"])
               for t in data["summary"]["period"])


def test_the_wallets_export_holds_each_amount_in_its_own_column(client, books):
    login(client, books["operator"])
    rows = list(csv.DictReader(io.StringIO(csv_text(client.get("/admin/wallets/export/csv/")))))
    row = next(r for r in rows if r["Wallet number"] == books["wallet"].number)
    assert row["Daily limit"] == MACHINE and row["Incoming today"] == "0.00"


# -- amount inputs take what people type ------------------------------------------------------------

def post(client, page_url, url, data):
    token = csrf_from(client.get(page_url))
    return client.post(url, data=dict(data, csrf_token=token))


@pytest.fixture(params=["en", "ru"])
def typist(request, client, books):
    """An operator typing amounts as their language writes them."""
    language = request.param
    login(client, _speaking(books["operator"], language))
    return client, TYPED[language], language


def test_the_withdrawal_form(typist, books):
    client, typed, _language = typist
    ps, a = books["ps"], books["a"]
    url = f"/admin/withdrawals/new/?merchant={a.id}&payment_system={ps.id}"
    form = {"merchant": a.id, "payment_system": ps.id, "withdrawal_id": "typed-1", "amount": typed,
            **{f"fields.{k}": v for k, v in VALID_FIELDS["bkash"].items()}}
    response = post(client, url, "/admin/withdrawals/new/", form)
    assert response.status_code == 302, visible(response.get_data(as_text=True))[-2000:]
    assert Withdrawal.get(Withdrawal.withdrawal_id == "typed-1").amount == AMOUNT


def test_the_withdrawal_form_names_a_bad_amount_and_keeps_what_was_typed(client, books):
    login(client, _speaking(books["operator"], "ru"))
    ps, a = books["ps"], books["a"]
    url = f"/admin/withdrawals/new/?merchant={a.id}&payment_system={ps.id}"
    response = post(client, url, "/admin/withdrawals/new/", {
        "merchant": a.id, "payment_system": ps.id, "withdrawal_id": "typed-2", "amount": "1,250.50",
        **{f"fields.{k}": v for k, v in VALID_FIELDS["bkash"].items()}})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and not Withdrawal.select().where(Withdrawal.withdrawal_id == "typed-2").exists()
    assert re.search(r'data-field="amount">[^<]*1\xa0250,50', page), page[-3000:]
    assert 'value="1,250.50"' in page  # what was typed, to correct
    # More than is available: the available amount as the viewer's language writes it.
    response = post(client, url, "/admin/withdrawals/new/", {
        "merchant": a.id, "payment_system": ps.id, "withdrawal_id": "typed-3", "amount": "9 000,00",
        **{f"fields.{k}": v for k, v in VALID_FIELDS["bkash"].items()}})
    assert f"3{NBSP}749,50{NBSP}BDT" in visible(response.get_data(as_text=True))


def test_the_wallet_form_and_the_bulk_limits(typist, books):
    client, typed, language = typist
    w = books["wallet"]
    edit = f"/admin/wallets/edit/?id={w.id}"
    page = client.get(edit).get_data(as_text=True)
    assert f'value="{WRITTEN[language]}"' in page  # the stored limit, as the language writes it
    bigger = "2,000.00" if language == "en" else "2\u202f000,00"  # a pasted narrow no-break space
    data = {"merchant": books["a"].id, "payment_system": books["ps"].id, "identifier": w.identifier,
            "number": w.number, "active": "y", "daily_limit": typed, "monthly_limit": bigger,
            "max_per_transaction": ""}
    response = post(client, edit, edit, data)
    assert response.status_code == 302, visible(response.get_data(as_text=True))[-2000:]
    fresh = Wallet.get_by_id(w.id)
    assert (fresh.daily_limit, fresh.monthly_limit, fresh.max_per_transaction) == (AMOUNT, Decimal("2000.00"), None)

    limits = f"/admin/wallets/limits/?id={w.id}"
    response = post(client, limits, limits, {"id": str(w.id), "max_per_transaction_mode": "set",
                                             "max_per_transaction": typed, "daily_limit_mode": "keep",
                                             "monthly_limit_mode": "keep"})
    assert response.status_code == 302, visible(response.get_data(as_text=True))[-2000:]
    assert Wallet.get_by_id(w.id).max_per_transaction == AMOUNT


def test_the_manual_transaction(typist, books):
    client, typed, _language = typist
    url = "/admin/transactions/manual/"
    response = post(client, url, url, {"payment_system": books["ps"].id, "wallet_number": books["wallet"].number,
                                       "transaction_number": "TXTYPED", "amount": typed, "direction": "incoming"})
    assert response.status_code == 302, visible(response.get_data(as_text=True))[-2000:]
    assert Transaction.get(Transaction.transaction_number == "TXTYPED").amount == AMOUNT


def test_the_balance_adjustment(typist, books):
    client, typed, _language = typist
    a = books["a"]
    page = f"/admin/balance/?merchant={a.id}&currency=BDT"
    response = post(client, page, f"/admin/balance/adjust/?merchant={a.id}&currency=BDT", {
        "merchant": str(a.id), "currency": "BDT", "amount": "-" + typed, "reason": "typed by hand"})
    assert response.status_code == 302, visible(response.get_data(as_text=True))[-2000:]
    assert LedgerEntry.get(LedgerEntry.memo == "typed by hand").amount == -AMOUNT
    flashed = visible(client.get(response.headers["Location"]).get_data(as_text=True))
    assert money("-" + WRITTEN[_language]) in flashed


def test_the_matching_policy(typist, books):
    client, typed, language = typist
    a = books["a"]
    url = f"/admin/risk/?merchant={a.id}"
    page = client.get(url).get_data(as_text=True)
    field = re.search(r'<input[^>]*name="review_above"[^>]*>', page).group(0)
    assert f'value="{written(Decimal(1000), language)}"' in field  # the stored threshold, as the language writes it
    data = {"require_amount": "", "amount_tolerance": "0", "window_minutes": "60", "velocity_label_hour": "",
            "velocity_sender_day": "", "review_above": typed, "review_first_above": ""}
    response = post(client, url, f"/admin/risk/policy/?merchant={a.id}", data)
    assert response.status_code == 302, visible(response.get_data(as_text=True))[-2000:]
    assert MatchingPolicy.get(MatchingPolicy.merchant == a.id).review_above == AMOUNT


def test_the_two_approval_threshold(typist, books):
    client, typed, language = typist
    a = books["a"]
    url = f"/admin/settings/system/?merchant={a.id}"
    page = html.unescape(client.get(url).get_data(as_text=True))
    assert f'value="{WRITTEN[language]}"' in page
    merchant = Merchant.get_by_id(a.id)
    data = {"after_payment": merchant.after_payment, "after_payment_url": merchant.after_payment_url or "",
            "timezone": merchant.timezone, "allowed_origins": "", "plugin_language": merchant.plugin_language,
            "pending_activation_ttl": str(merchant.pending_activation_ttl),
            "withdrawal_dual_approval_above": "5 000,00" if language == "ru" else "5,000.00"}
    response = post(client, url, url, data)
    assert response.status_code == 302, visible(response.get_data(as_text=True))[-2000:]
    assert Merchant.get_by_id(a.id).withdrawal_dual_approval_above == Decimal("5000.00")


def test_the_minimum_deposit(typist, books):
    client, typed, language = typist
    row = books["settings"]
    url = f"/admin/merchant_payment_systems/edit/?id={row.id}"
    assert f'value="{WRITTEN[language]}"' in html.unescape(client.get(url).get_data(as_text=True))
    data = {"merchant": books["a"].id, "payment_system": books["ps"].id, "enabled": "y",
            "min_deposit": "2 500,75" if language == "ru" else "2,500.75", "commission_percent": "2.5",
            "display_order": "0"}
    response = post(client, url, url, data)
    assert response.status_code == 302, visible(response.get_data(as_text=True))[-2000:]
    assert MerchantPaymentSystem.get_by_id(row.id).min_deposit == Decimal("2500.75")


def search_field(page):
    return re.search(r'<input[^>]*data-testid="search-amount"[^>]*>', page).group(0)


def test_the_appeals_search(typist, books):
    client, typed, language = typist
    url = "/admin/appeals/details/"
    page = client.get(url, query_string={"id": books["appeal"].id, "amount": typed}).get_data(as_text=True)
    assert "is-invalid" not in search_field(page)
    assert books["held"].transaction_number in page  # found by its amount
    page = client.get(url, query_string={"id": books["appeal"].id, "amount": "12abc"}).get_data(as_text=True)
    such_as = {"en": "such as", "ru": "например"}[language]  # the catalog's words for it
    assert "is-invalid" in search_field(page) and f"{such_as} {WRITTEN[language]}" in page


@pytest.mark.parametrize("language,typed,words", [
    ("ru", "1,250.50", f"например 1{NBSP}250,50"),  # the catalog's "such as"
    ("en", "1 250,50", "Daily limit: enter an amount such as 1,250.50"),
    ("en", "12.345", "Daily limit: use at most 2 decimal places, such as 1,250.50"),
])
def test_a_bad_amount_is_refused_naming_the_field(client, books, language, typed, words):
    login(client, _speaking(books["operator"], language))
    w = books["wallet"]
    edit = f"/admin/wallets/edit/?id={w.id}"
    data = {"merchant": books["a"].id, "payment_system": books["ps"].id, "identifier": w.identifier,
            "number": w.number, "active": "y", "daily_limit": typed, "monthly_limit": "", "max_per_transaction": ""}
    response = post(client, edit, edit, data)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and words in page, page[-3000:]
    if language == "ru":  # the field named in the viewer's language
        label = re.search(r'<label[^>]*for="daily_limit"[^>]*>\s*([^<*]+?)\s*[<*]', page).group(1)
        assert f"{label}: " in page
    assert Wallet.get_by_id(w.id).daily_limit == AMOUNT  # unchanged
    assert AuditLog.select().where(AuditLog.action == "wallet.edit").count() == 0
