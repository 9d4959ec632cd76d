"""Parsing and formatting money: ``Decimal`` only, never float.

``parse_amount`` is the one gate for amounts that arrive from outside (APIs, forms,
CSV): it refuses NaN, infinities, exponents, more than 2 decimals, negatives (unless
allowed) and absurd magnitudes, with a message naming the rule.
"""
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext as _

from .errors import RuleError

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
