"""Dates in the viewer's time zone: list filters and CSV export headers (issue 7).

Timestamps are stored as naive UTC; people type and read them in their own zone
(merchant users: their merchant's; operators: their own setting).
"""
import datetime

from flask import g
from flask_admin.contrib.peewee.filters import DateBetweenFilter, DateTimeBetweenFilter
from peewee import DateTimeField

from ..i18n import viewer_timezone_name, zone
from ..timeutil import local_midnight_utc, to_naive_utc


def local_to_utc(value):
    """A naive datetime typed in the viewer's zone, as naive UTC."""
    return to_naive_utc(value.replace(tzinfo=None), zone(viewer_timezone_name()))


class LocalDateTimeBetweenFilter(DateTimeBetweenFilter):
    """'from – to' date-times typed in the viewer's time zone."""

    def apply(self, query, value):
        start, end = value
        return query.where(self.column.between(local_to_utc(start), local_to_utc(end)))


class LocalDateBetweenFilter(DateBetweenFilter):
    """'from – to' whole calendar days of the viewer's time zone."""

    def apply(self, query, value):
        start, end = value
        tz = zone(viewer_timezone_name())
        first = local_midnight_utc(start, tz)
        after = local_midnight_utc(end + datetime.timedelta(days=1), tz)
        return query.where((self.column >= first) & (self.column < after))


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
