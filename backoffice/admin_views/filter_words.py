"""What a list says when one of its filters has a value it cannot use (issue 22,
point 4): which filter, what was given, and what it takes. The list itself answers with
the other filters applied (``base.ScopedModelView._get_list_filter_args`` leaves the bad
one out and flashes this message in its place)."""
from flask_admin.model import filters as base_filters
from flask_babel import gettext as _

from .timezones import LocalMomentFilter, LocalMomentRangeFilter

MAX_SHOWN = 100  # characters of the value given, in the message


def expected(flt):
    """What the filter takes, as a sentence (empty when there is nothing useful to say)."""
    if isinstance(flt, LocalMomentRangeFilter):
        return _("It takes two dates, each with or without a time (YYYY-MM-DD or YYYY-MM-DD HH:MM), YYYY-MM-DD to "
                 "YYYY-MM-DD, the first not after the second.")
    if isinstance(flt, LocalMomentFilter):
        return _("It takes a date, with or without a time: YYYY-MM-DD or YYYY-MM-DD HH:MM.")
    if isinstance(flt, base_filters.BaseDateTimeBetweenFilter):
        return _("It takes two dates and times, YYYY-MM-DD HH:MM:SS to YYYY-MM-DD HH:MM:SS, the first not after "
                 "the second.")
    if isinstance(flt, base_filters.BaseDateBetweenFilter):
        return _("It takes two dates, YYYY-MM-DD to YYYY-MM-DD, the first not after the second.")
    if isinstance(flt, base_filters.BaseDateTimeFilter):
        return _("It takes a date and time, YYYY-MM-DD HH:MM:SS.")
    if isinstance(flt, base_filters.BaseDateFilter):
        return _("It takes a date, YYYY-MM-DD.")
    if isinstance(flt, base_filters.BaseBooleanFilter) or getattr(flt, "options", None):
        return _("Choose one of its values.")
    if isinstance(flt, (base_filters.BaseIntFilter, base_filters.BaseIntListFilter)) or _integer(flt):
        return _("It takes a whole number.")
    return ""


def _integer(flt):
    field_type = getattr(getattr(flt, "column", None), "field_type", "")
    return field_type in ("INT", "BIGINT", "AUTO", "BIGAUTO", "SMALLINT")


def invalid_filter_message(flt, value):
    """The flashed message for ``value`` refused by filter ``flt``: it names the filter."""
    shown = str(value).replace("\x00", "\ufffd")
    if len(shown) > MAX_SHOWN:
        shown = shown[: MAX_SHOWN - 1] + "…"
    name = f"{flt.name} ({flt.operation()})"
    message = _("The filter “%(filter)s” is not applied: “%(value)s” is not a value it takes.", filter=name,
                value=shown)
    hint = expected(flt)
    return f"{message} {hint}" if hint else message


__all__ = ["invalid_filter_message"]
