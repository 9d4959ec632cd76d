"""The date pickers in the viewer's language (issue 22, point 5).

Flask-Admin's date filters and date fields use bootstrap-daterangepicker 1.3 over
moment 2.9, both English only: month and day names, the first day of the week,
"Apply" and "Cancel". ``static/datepicker_locale.js`` teaches them the viewer's
language from :func:`datepicker_locale` (Babel's month and day names, our catalog's
words), which the page base puts on that script's tag.

:func:`init_app` also gives every template ``zone_label`` (``zone_names``): a time zone
as people read it, "Дакка, UTC+06:00".
"""
from babel import Locale
from babel.dates import get_day_names, get_month_names
from flask_babel import get_locale
from flask_babel import gettext as _

from .zone_names import zone_label


def _sunday_first(days):
    """Babel's days (Monday = 0) in the picker's order (Sunday first)."""
    return [days[6]] + [days[i] for i in range(6)]


def datepicker_locale():
    """What the date pickers say in the viewer's language: the script tag's ``data-*``
    attributes (lists joined with "|": no JSON in a page people read)."""
    locale = get_locale() or Locale("en")
    months = get_month_names("wide", "stand-alone", locale)
    short_months = get_month_names("abbreviated", "stand-alone", locale)
    return {
        "data-code": str(locale),
        "data-months": "|".join(months[m] for m in range(1, 13)),
        "data-months-short": "|".join(short_months[m].capitalize() for m in range(1, 13)),
        "data-weekdays": "|".join(_sunday_first(get_day_names("wide", "format", locale))),
        "data-weekdays-short": "|".join(_sunday_first(get_day_names("abbreviated", "format", locale))),
        "data-weekdays-min": "|".join(d.capitalize() for d in _sunday_first(get_day_names("short", "stand-alone",
                                                                                          locale))),
        "data-first-day": str((locale.first_week_day + 1) % 7),
        "data-apply": _("Apply"), "data-cancel": _("Cancel"), "data-from": _("From"), "data-to": _("To"),
    }


def init_app(app):
    app.jinja_env.globals["datepicker_locale"] = datepicker_locale
    app.jinja_env.globals["zone_label"] = zone_label
