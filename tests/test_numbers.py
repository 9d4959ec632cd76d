"""Numbers people read and type (issue 22, point 3): the one formatter of money and of
plain numbers (``backoffice.i18n``) and the one parser of typed amounts
(``backoffice.money.parse_typed_amount``), in English and Russian.

English writes 1,250.50; Russian 1 250,50 with a no-break space between the thousands;
an amount is joined to its currency by a no-break space and, in HTML, sits in one
``bo-money`` span. The machine format ("1250.50") stays what APIs and CSV files hold.
"""
from decimal import Decimal

import pytest
from babel import Locale
from markupsafe import Markup

from backoffice import create_app
from backoffice.i18n import NBSP, format_money, format_number, money_text
from backoffice.money import AmountError, parse_amount, parse_typed_amount, to_str

EN, RU = Locale.parse("en"), Locale.parse("ru")
NNBSP = "\u202f"  # narrow no-break space


@pytest.fixture(scope="module")
def app():
    return create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "SECRET_KEY": "numbers"})


@pytest.fixture
def request_ctx(app):
    with app.test_request_context():
        yield


# -- the formatter ------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount,en,ru", [
    ("1250.5", "1,250.50", f"1{NBSP}250,50"),
    ("1250.50", "1,250.50", f"1{NBSP}250,50"),
    ("-1250.50", "-1,250.50", f"-1{NBSP}250,50"),
    ("0", "0.00", "0,00"),
    ("-0.00", "0.00", "0,00"),  # never "-0.00"
    ("0.5", "0.50", "0,50"),
    ("999.99", "999.99", "999,99"),
    ("1000", "1,000.00", f"1{NBSP}000,00"),
    ("1234567.89", "1,234,567.89", f"1{NBSP}234{NBSP}567,89"),
    ("9999999999999999.99", "9,999,999,999,999,999.99",
     NBSP.join(["9", "999", "999", "999", "999", "999,99"])),  # the largest amount a MoneyField holds
    ("-9999999999999999.99", "-9,999,999,999,999,999.99",
     "-" + NBSP.join(["9", "999", "999", "999", "999", "999,99"])),
    ("0.005", "0.01", "0,01"),  # rounded half up to the cent
])
def test_money_in_english_and_russian(amount, en, ru):
    value = Decimal(amount)
    assert money_text(value, locale=EN) == en and money_text(value, locale=RU) == ru
    assert money_text(value, "BDT", locale=EN) == f"{en}{NBSP}BDT"
    assert money_text(value, "BDT", locale=RU) == f"{ru}{NBSP}BDT"
    assert format_money(value, "BDT", locale=RU) == Markup(f'<span class="bo-money">{ru}{NBSP}BDT</span>')


def test_money_takes_stored_text_and_integers_and_reads_none_as_empty():
    assert money_text("1250.50", "INR", locale=EN) == f"1,250.50{NBSP}INR"  # an audit entry's stored amount
    assert money_text(1250, locale=RU) == f"1{NBSP}250,00"
    assert money_text(None, "BDT") == "" and format_money(None, "BDT") == Markup("")


def test_money_markup_is_escaped():
    assert format_money(Decimal("5"), "<b>", locale=EN) == Markup(f'<span class="bo-money">5.00{NBSP}&lt;b&gt;</span>')


def test_plain_numbers():
    assert format_number(1234567, locale=EN) == "1,234,567"
    assert format_number(1234567, locale=RU) == f"1{NBSP}234{NBSP}567"
    assert format_number(0, locale=RU) == "0" and format_number(-5, locale=EN) == "-5"
    assert format_number(Decimal("2.5"), locale=RU) == "2,5"
    assert format_number(Decimal("2.5"), 2, locale=EN) == "2.50"
    assert format_number(None) == ""


def test_the_viewer_s_language_is_the_default(app):
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        assert money_text(Decimal("1250.5"), "BDT") == f"1{NBSP}250,50{NBSP}BDT"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert money_text(Decimal("1250.5"), "BDT") == f"1,250.50{NBSP}BDT"
    # Outside a request: the instance's default language (English).
    with app.app_context():
        assert money_text(Decimal("1250.5")) == "1,250.50"


def test_the_jinja_filters(app):
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        template = app.jinja_env.from_string("{{ a|money(c) }}|{{ a|money }}|{{ n|number }}")
        assert template.render(a=Decimal("-1250.5"), c="BDT", n=12345) == (
            f'<span class="bo-money">-1{NBSP}250,50{NBSP}BDT</span>|<span class="bo-money">-1{NBSP}250,50</span>'
            f"|12{NBSP}345")


def test_the_machine_format_stays():
    assert to_str(Decimal("1250.5")) == "1250.50" and to_str(Decimal("-0.5")) == "-0.50"
    # APIs keep the strict machine format: what people type is not theirs.
    for typed in ("1,250.50", "1 250,50", "1250,50"):
        with pytest.raises(AmountError):
            parse_amount(typed)


# -- the parser ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["1,250.50", "1250.50", "1250.5", "1 250.50", " 1,250.50 "])
def test_english_amounts(request_ctx, typed):
    assert parse_typed_amount(typed, locale=EN) == Decimal("1250.50")


@pytest.mark.parametrize("typed", ["1 250,50", "1250,50", f"1{NBSP}250,50", f"1{NNBSP}250,50", "1\u2009250,50",
                                   "1250.50", "1 250.50", f"{NBSP}1 250,5 "])
def test_russian_amounts(request_ctx, typed):
    assert parse_typed_amount(typed, locale=RU) == Decimal("1250.50")


@pytest.mark.parametrize("locale,typed,value", [
    (EN, "1,234,567.89", "1234567.89"), (RU, "1 234 567,89", "1234567.89"),
    (EN, "0.5", "0.50"), (RU, "0,5", "0.50"), (RU, ",5", "0.50"), (EN, "1250.", "1250.00"),
    (EN, "1,250", "1250.00"),  # English: a comma separates thousands
    (RU, "1,25", "1.25"),  # Russian: it is the decimal mark
    (EN, "0001250.50", "1250.50"),
    (EN, "9,999,999,999,999,999.99", "9999999999999999.99"),
])
def test_more_spellings(request_ctx, locale, typed, value):
    assert parse_typed_amount(typed, locale=locale) == Decimal(value)


@pytest.mark.parametrize("locale,typed,words", [
    (EN, "1 250,50", "enter an amount such as 1,250.50"),  # a Russian spelling in English
    (EN, "1250,50", "enter an amount such as 1,250.50"),
    (EN, "1,25", "enter an amount such as 1,250.50"),  # thousands come in threes
    (EN, "12,50,000", "enter an amount such as 1,250.50"),
    (EN, "1.250,50", "enter an amount such as 1,250.50"),
    (RU, "1,250.50", f"enter an amount such as 1{NBSP}250,50"),  # two decimal marks
    (RU, "1.250,50", f"enter an amount such as 1{NBSP}250,50"),
    (RU, "12 50", f"enter an amount such as 1{NBSP}250,50"),
    (RU, "1 2500,00", f"enter an amount such as 1{NBSP}250,50"),
    (EN, "abc", "enter an amount such as"), (EN, "12abc", "enter an amount such as"),
    (EN, "1e3", "enter an amount such as"), (EN, "NaN", "enter an amount such as"),
    (EN, "Infinity", "enter an amount such as"), (EN, "--5", "enter an amount such as"),
    (EN, "٥٠٠", "enter an amount such as"),  # digits other than ASCII
    (EN, "１２３", "enter an amount such as"),
    (EN, ".", "enter an amount such as"), (EN, "-", "enter an amount such as"),
    (EN, "1,250.505", "use at most 2 decimal places, such as 1,250.50"),
    (RU, "1,250", f"use at most 2 decimal places, such as 1{NBSP}250,50"),
    (EN, "12345678901234567", "is too large"),
    (EN, "-5", "must not be negative"),
    (EN, "0", "must be greater than zero"), (RU, "0,00", "must be greater than zero"),
])
def test_bad_amounts_name_the_field(request_ctx, locale, typed, words):
    with pytest.raises(AmountError) as exc:
        parse_typed_amount(typed, field="Daily limit", locale=locale)
    assert exc.value.message.startswith("Daily limit: ") and words in exc.value.message, exc.value.message


def test_empty_is_none_unless_required(request_ctx):
    assert parse_typed_amount("", locale=EN) is None and parse_typed_amount(f" {NBSP}", locale=RU) is None
    assert parse_typed_amount(None, locale=EN) is None
    with pytest.raises(AmountError) as exc:
        parse_typed_amount(" ", field="Amount", required=True, locale=RU)
    assert exc.value.message == f"Amount: enter an amount such as 1{NBSP}250,50"


def test_zero_and_negatives_when_allowed(request_ctx):
    assert parse_typed_amount("0", allow_zero=True, locale=EN) == Decimal("0.00")
    assert parse_typed_amount("-1 250,50", allow_negative=True, locale=RU) == Decimal("-1250.50")
    assert parse_typed_amount("\u22121,250.50", allow_negative=True, locale=EN) == Decimal("-1250.50")  # U+2212


def test_the_parser_reads_the_viewer_s_language(app):
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        assert parse_typed_amount("1 250,50") == Decimal("1250.50")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert parse_typed_amount("1,250.50") == Decimal("1250.50")
        with pytest.raises(AmountError):
            parse_typed_amount("1 250,50")


def test_what_the_formatter_writes_the_parser_reads(request_ctx):
    for locale in (EN, RU):
        for amount in ("0.01", "999.99", "1250.50", "-1250.50", "1234567.89", "9999999999999999.99"):
            value = Decimal(amount)
            assert parse_typed_amount(money_text(value, locale=locale), allow_negative=True, locale=locale) == value
