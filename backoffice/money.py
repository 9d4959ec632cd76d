"""Parsing and formatting money: ``Decimal`` only, never float.

``parse_amount`` is the one gate for amounts that arrive from outside (APIs, forms,
CSV): it refuses NaN, infinities, exponents, more than 2 decimals, negatives (unless
allowed) and absurd magnitudes, with a message naming the rule. APIs and CSV files
take it strictly: the machine spelling "1250.50".

``parse_typed_amount`` reads what a person typed into a back-office form, in the
viewer's language (``1,250.50`` in English, ``1 250,50`` in Russian…), into the same
machine spelling and then through ``parse_amount``: every amount field of every
back-office form goes through it (``admin_views.amounts``); APIs never do.
"""
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import get_decimal_symbol, get_group_symbol
from flask_babel import gettext as _

from .errors import RuleError
from .i18n import format_number, viewer_locale

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999999999.99")  # what DecimalField(18, 2) can hold
# ASCII digits only: Python's \d also matches "٥٠٠", which Decimal() reads as 500.
_PLAIN = re.compile(r"-?[0-9]{1,16}(\.[0-9]{1,2})?")


class AmountError(RuleError):
    """An amount that breaks a rule; the message names it (callers name the field)."""


class ExponentNumber(Decimal):
    """A JSON number written with an exponent (``1E2``, ``5.5e1``): its exact value,
    and the fact, which ``parse_amount`` refuses (5.5e1 would read as a plain 55)."""


def json_number(text):
    """How request JSON reads a number with a fraction or an exponent: Decimal, exactly
    as written, never float (the app's JSON provider passes it as ``parse_float``)."""
    return ExponentNumber(text) if "e" in text or "E" in text else Decimal(text)


def parse_amount(value, allow_zero=False, allow_negative=False):
    """A money amount from a JSON string/number or form text, as a 2-place Decimal."""
    if isinstance(value, bool) or value is None:
        raise AmountError(_("must be a decimal number such as \"500.00\""))
    if isinstance(value, float):
        # Request JSON reads numbers as Decimal (json_number); a float can only come from
        # Python code, and its repr is the shortest exact spelling.
        value = repr(value)
    text = str(value).strip()
    if isinstance(value, ExponentNumber) or not _PLAIN.fullmatch(text):
        raise AmountError(_("must be a decimal number with at most 2 decimal places, such as \"500.00\""))
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise AmountError(_("must be a decimal number such as \"500.00\"")) from None
    if amount < 0 and not allow_negative:
        raise AmountError(_("must not be negative"))
    if amount == 0 and not allow_zero:
        raise AmountError(_("must be greater than zero"))
    if abs(amount) > MAX_AMOUNT:
        raise AmountError(_("is too large"))
    return amount.quantize(CENT)


def quantize(amount):
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def percent_of(amount, percent):
    """``percent`` % of ``amount``, rounded half up to the cent."""
    return quantize(Decimal(amount) * Decimal(percent) / Decimal(100))


def to_str(amount):
    """How money is serialised: a string with exactly 2 places ("500.00")."""
    return None if amount is None else str(quantize(amount))


# -- what people type (back-office forms only) ------------------------------------------------------
# Between groups of thousands people type a space, or paste a no-break, narrow no-break
# or thin space (what Babel and browsers write for Russian, French…).
SPACES = " \u00a0\u202f\u2009"
MINUS_SIGNS = "-\u2212"
EXAMPLE = Decimal("1250.50")
MAX_WHOLE_DIGITS = 16  # what DecimalField(18, 2) can hold


def amount_example(locale=None):
    """How the viewer's language writes an example amount ("1,250.50" / "1 250,50")."""
    return format_number(EXAMPLE, 2, locale)


def _typed_problem(problem, field):
    return AmountError(_("%(field)s: %(problem)s", field=field, problem=problem) if field else problem)


def enter_an_amount(field=None, locale=None):
    """The error of an amount field left empty or not read (it names the field)."""
    return _typed_problem(_("enter an amount such as %(example)s", example=amount_example(locale)), field).message


def parse_typed_amount(value, field=None, allow_zero=False, allow_negative=False, required=False, locale=None):
    """A back-office form's amount as a 2-place Decimal, read in the viewer's language:
    its decimal mark, its thousands separator or any space between groups of three
    digits (en ``1,250.50``, ``1250.50``; ru ``1 250,50``, ``1250,50``,
    ``1\u202f250,50``). The machine spelling ``1250.50`` is read in every language where
    "." does not separate thousands. Left empty: None (an error when ``required``).
    Anything else, more than 2 decimal places, and what ``parse_amount`` refuses (zero,
    negatives, unless allowed; absurd magnitudes) raise :class:`AmountError`, whose
    message names ``field``."""
    text = "" if value is None else str(value).strip(SPACES)
    locale = locale or viewer_locale()
    wrong = AmountError(enter_an_amount(field, locale))
    if not text:
        if required:
            raise wrong
        return None
    mark, group = get_decimal_symbol(locale), get_group_symbol(locale)
    separators = set(SPACES) | ({group} if group != mark else set())
    marks = {mark} | ({"."} if "." not in separators else set())
    sign = ""
    if text[0] in MINUS_SIGNS:
        sign, text = "-", text[1:]
    where = [i for i, char in enumerate(text) if char in marks]
    whole, fraction = (text, "") if not where else (text[:where[0]], text[where[0] + 1:])
    if len(where) > 1 or (fraction and not fraction.isascii()) or (fraction and not fraction.isdigit()):
        raise wrong
    if any(char in separators for char in whole):
        groups = re.split("[" + re.escape("".join(sorted(separators))) + "]", whole)
        if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
            raise wrong
        whole = "".join(groups)
    if not (whole or fraction) or (whole and not (whole.isascii() and whole.isdigit())):
        raise wrong
    if len(fraction) > 2:
        raise _typed_problem(_("use at most 2 decimal places, such as %(example)s",
                               example=amount_example(locale)), field)
    if len(whole.lstrip("0")) > MAX_WHOLE_DIGITS:
        raise _typed_problem(_("is too large"), field)
    machine = sign + (whole.lstrip("0") or "0") + ("." + fraction if fraction else "")
    try:
        return parse_amount(machine, allow_zero=allow_zero, allow_negative=allow_negative)
    except AmountError as exc:
        raise _typed_problem(exc.message, field) from None
