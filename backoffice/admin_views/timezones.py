"""Dates in the viewer's time zone: list filters and CSV export headers (issue 7).

Timestamps are stored as naive UTC; people type and read them in their own zone
(merchant users: their merchant's; operators: their own setting).
"""
import datetime
import re

from flask import g
from flask_admin.contrib.peewee.filters import BasePeeweeFilter, DateTimeBetweenFilter
from flask_admin.model.filters import BaseDateTimeFilter
from flask_babel import lazy_gettext as _l
from peewee import DateTimeField

from ..i18n import viewer_timezone_name, zone
from ..timeutil import to_naive_utc


def local_to_utc(value):
    """A naive datetime typed in the viewer's zone, as naive UTC."""
    return to_naive_utc(value.replace(tzinfo=None), zone(viewer_timezone_name()))


# -- date filters: a date, or a date and time, in the viewer's zone (issue 22, point 2) ----------
DAY = datetime.timedelta(days=1)
MINUTE = datetime.timedelta(minutes=1)
SECOND = datetime.timedelta(seconds=1)
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MOMENT_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?")


def parse_moment(text):
    """What a date filter's field holds, as ``(local naive datetime, step)``: a day alone
    ("2026-03-01": its midnight, a day long), or a day and a time ("2026-03-01 14:05",
    "2026-03-01T14:05" as browsers send it, seconds optional: a minute or a second
    long). ValueError for anything else."""
    text = (text or "").strip()
    if _DAY_RE.fullmatch(text):
        return datetime.datetime.strptime(text, "%Y-%m-%d"), DAY
    match = _MOMENT_RE.fullmatch(text)
    if not match:
        raise ValueError(text)
    day, hour, minute, second = match.groups()
    value = datetime.datetime.strptime(f"{day} {hour}:{minute}:{second or '00'}", "%Y-%m-%d %H:%M:%S")
    return value, (SECOND if second is not None else MINUTE)


def _utc(local):
    return to_naive_utc(local, zone(viewer_timezone_name()))


class LocalMomentFilter:
    """A date filter of a list: it takes a date, or a date and time, typed in the viewer's
    time zone; the query compares naive UTC (how times are stored)."""

    def validate(self, value):
        """Whether ``clean`` can read ``value`` (each filter's own ``clean``)."""
        try:
            self.clean(value)
        except (ArithmeticError, ValueError):
            return False
        return True

    def input_value(self, value):
        """``value`` as a ``datetime-local`` field shows it ("" when it is not a moment)."""
        try:
            start, step = parse_moment(value)
        except ValueError:
            return ""
        if step == DAY and self.takes_end:
            start = start.replace(hour=23, minute=59)  # "to" a day: up to its last minute
        return start.strftime("%Y-%m-%dT%H:%M:%S" if step == SECOND else "%Y-%m-%dT%H:%M")

    takes_end = False


class LocalMomentRangeFilter(LocalMomentFilter, DateTimeBetweenFilter):
    """"from – to": each end a date (the whole day) or a date and time, in the viewer's
    time zone; a row is in the range from the start up to the end of the last day,
    minute or second named."""

    def clean(self, value):
        parts = [part.strip() for part in value.split(" to ")]
        if len(parts) != 2:
            raise ValueError(value)
        (start, _step), (end, end_step) = parse_moment(parts[0]), parse_moment(parts[1])
        if start > end:
            raise ValueError(value)
        return _utc(start), _utc(end + end_step)

    def apply(self, query, value):
        first, after = value
        return query.where((self.column >= first) & (self.column < after))


class LocalMomentFromFilter(LocalMomentFilter, BasePeeweeFilter, BaseDateTimeFilter):
    """Rows from a date (its start) or a date and time, in the viewer's zone."""

    def clean(self, value):
        return _utc(parse_moment(value)[0])

    def apply(self, query, value):
        return query.where(self.column >= value)

    def operation(self):
        return _l("from")


class LocalMomentToFilter(LocalMomentFromFilter):
    """Rows up to a date (its end) or a date and time (that minute included), in the viewer's zone."""

    takes_end = True

    def clean(self, value):
        moment, step = parse_moment(value)
        return _utc(moment + step)

    def apply(self, query, value):
        return query.where(self.column < value)

    def operation(self):
        return _l("to")


# The names the screens used before (whole days; date and time): one class takes both now.
LocalDateBetweenFilter = LocalMomentRangeFilter
LocalDateTimeBetweenFilter = LocalMomentRangeFilter


def date_filters(column, name):
    """A date column's filters: "from" and "to" (the row above the list) and "between"
    (under "Add Filter")."""
    return (LocalMomentFromFilter(column=column, name=name), LocalMomentToFilter(column=column, name=name),
            LocalMomentRangeFilter(column=column, name=name))


def zoned_export_columns(view, columns):
    """CSV headers: each date-time column's label names the zone, e.g. "Created (Asia/Dhaka)".

    Computed once per request and view (the export reads the columns for every row).
    """
    cache = g.setdefault("zoned_export_columns", {})
    key = (id(view), id(columns))
    if key not in cache:
        cache[key] = _zoned(view, columns)
    return cache[key]


def _zoned(view, columns):
    name = viewer_timezone_name()
    fields = view.model._meta.fields
    out = []
    for column, label in columns:
        if isinstance(fields.get(column), DateTimeField):
            label = f"{label} ({name})"
        out.append((column, label))
    return out
