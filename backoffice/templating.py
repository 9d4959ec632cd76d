"""What every page's template gets, whatever the screen (issue 22, point 9).

* ``html_lang()``: the viewer's language as an ``<html lang>`` value (BCP 47: ``pt-BR``,
  not Babel's ``pt_BR``), on every page: back office, sign-in pages, error pages.
* No "None" for people: ``{{ value }}`` of a Python ``None`` prints nothing (the Jinja
  environment's ``finalize``), as Flask-Admin's list and details cells do (the
  base view's ``column_type_formatters``); where a page wants a mark or a sentence
  instead, ``{{ value|blank('—') }}`` (only ``None`` and ``""`` are blank: a zero is
  a value).
"""
from flask_babel import get_locale

DASH = "—"


def html_lang():
    locale = get_locale()
    if locale is None:
        return "en"
    return "-".join(part for part in (locale.language, locale.script, locale.territory) if part)


def finalize(value):
    """Every ``{{ … }}`` of every template: ``None`` prints as nothing."""
    return "" if value is None else value


def is_blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def blank(value, placeholder=""):
    """``value``, or ``placeholder`` when there is none (``None``, an empty string)."""
    return placeholder if is_blank(value) else value


def init_app(app):
    # Set before any template is compiled (finalize is read at compile time).
    app.jinja_env.finalize = finalize
    app.jinja_env.filters["blank"] = blank
    app.jinja_env.globals["html_lang"] = html_lang
