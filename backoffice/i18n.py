"""Language and time zone of the viewer (Flask-Babel selectors), date display, and the
numbers people read (money and plain numbers in the viewer's language).

Merchant users see their merchant's time zone; operators their own setting (the
instance default when unset). Timestamps are stored as naive UTC and converted here.
"""
import copy
import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_skeleton
from flask import current_app, has_app_context, has_request_context, request
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup

from . import config


def languages():
    """The languages spoken, code -> own name (``LANGUAGES``): the app's setting, or the
    default list outside an app (the CLI's option choices, class-level form choices)."""
    value = current_app.config.get("LANGUAGES", config.LANGUAGES) if has_app_context() else config.LANGUAGES
    if not isinstance(value, dict):  # a plain list of codes (an older instance/config.py)
        value = {code: config.LANGUAGES.get(code, code) for code in value}
    return value


def language_choices():
    """``(code, name)`` pairs for a language picker."""
    return list(languages().items())


def select_locale():
    codes = list(languages())
    if has_request_context():
        if current_user and current_user.is_authenticated and current_user.language in codes:
            return current_user.language
        lang = request.args.get("lang")
        if lang in codes:
            return lang
        best = request.accept_languages.best_match(codes)
        if best:
            return best
    return current_app.config["DEFAULT_LANGUAGE"]


def viewer_timezone_name():
    if has_request_context() and current_user and current_user.is_authenticated:
        if current_user.merchant_id is not None:
            return current_user.merchant.timezone
        if current_user.timezone:
            return current_user.timezone
    return current_app.config["DEFAULT_TIMEZONE"]


def select_timezone():
    return viewer_timezone_name()


def zone(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_viewer_time(value):
    """A stored naive-UTC datetime in the viewer's time zone (aware)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(zone(viewer_timezone_name()))


def format_datetime(value):
    local = to_viewer_time(value)
    return "" if local is None else local.strftime("%Y-%m-%d %H:%M:%S")


def format_datetime_compact(value, now=None):
    """A stored time as lists show it (issue 22, point 1), in the viewer's zone and to the
    minute: this year's as the viewer's language writes a day ("Dec 6 14:05", "6 дек.
    14:05"), any other year's as "2025-12-06 14:05". ``format_datetime`` gives the full
    value (details pages, CSV, the list cell's title)."""
    local = to_viewer_time(value)
    if local is None:
        return ""
    today = (now or datetime.datetime.now(datetime.timezone.utc)).astimezone(local.tzinfo)
    if local.year != today.year:
        return local.strftime("%Y-%m-%d %H:%M")
    return f"{format_skeleton('MMMd', local, locale=viewer_locale())} {local.strftime('%H:%M')}"


# -- numbers people read (issue 22, point 3) ------------------------------------------------------
# One formatter for money and one for plain numbers, in the viewer's language (Babel's
# symbols and grouping: en 1,250.50; ru 1 250,50 with a no-break space). An amount is
# joined to its currency by a no-break space and, in HTML, sits in one unbreakable
# ``<span class="bo-money">``. Exports and APIs never come here: CSV cells and JSON keep
# the machine format of ``money.to_str`` ("1250.50").
NBSP = "\u00a0"
_NUMBER_PATTERNS = {}


def viewer_locale():
    """The viewer's language as a Babel ``Locale``: Flask-Babel's selection (``select_locale``)
    in an app; English outside one."""
    locale = get_locale() if has_app_context() else None
    return locale or Locale.parse("en")


def _pattern(locale, decimals):
    """The locale's own decimal pattern (its grouping) with exactly ``decimals`` places
    (None: the pattern's own, up to 3)."""
    key = (str(locale), decimals)
    if key not in _NUMBER_PATTERNS:
        pattern = copy.copy(locale.decimal_formats[None])
        if decimals is not None:
            pattern.frac_prec = (decimals, decimals)
        _NUMBER_PATTERNS[key] = pattern
    return _NUMBER_PATTERNS[key]


def format_number(value, decimals=None, locale=None):
    """A plain number as the viewer's language writes it ("1,250" / "1 250"); ``decimals``
    fixes the places (rounded half up). None and "" read as ""."""
    if value is None or value == "":
        return ""
    number = value if isinstance(value, (int, Decimal)) else Decimal(str(value))
    if decimals is not None:
        number = Decimal(number).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if number == 0:
        number = abs(number)  # never "-0.00"
    locale = locale or viewer_locale()
    return _pattern(locale, decimals).apply(number, locale)


def money_text(amount, currency=None, locale=None):
    """An amount as plain text for people (flash messages, sentences, attributes): 2
    places in the viewer's language, joined to its currency by a no-break space
    ("1 250,50\u00a0BDT"). None reads as ""."""
    if amount is None or amount == "":
        return ""
    text = format_number(amount, 2, locale)
    return f"{text}{NBSP}{currency}" if currency else text


def format_money(amount, currency=None, locale=None):
    """An amount as HTML: :func:`money_text` in one ``<span class="bo-money">`` that never
    breaks across lines (escaped; Markup)."""
    if amount is None or amount == "":
        return Markup("")
    return Markup('<span class="bo-money">%s</span>') % money_text(amount, currency, locale)


def money_filter(amount, currency=None):
    """The ``money`` Jinja filter: ``{{ tx.amount|money(tx.currency) }}``."""
    return format_money(amount, currency)


def number_filter(value, decimals=None):
    """The ``number`` Jinja filter: ``{{ row.count|number }}``."""
    return format_number(value, decimals)
