"""Reading a JSON request body field by field, collecting every fault with its path."""
import datetime
import re

from flask import request
from flask_babel import gettext as _

from ..money import AmountError, parse_amount
from ..timeutil import local_midnight_utc, to_naive_utc
from .base import ApiError

# A day (``YYYY-MM-DD``) or a date and time with its offset (ISO-8601 / RFC 3339:
# ``2026-03-10T12:00:00Z``, ``2026-03-10T17:30+05:30``, up to 6 decimals of a second).
INSTANT = r"([0-9]{4}-[0-9]{2}-[0-9]{2})(T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2}))?"
INSTANT_PATTERN = f"^{INSTANT}$"

MAX_ID = 2**63 - 1  # the largest id a table's key holds (a bigger number is no id of ours)
ID_CURSOR_PATTERN = r"[0-9]{1,19}"  # a list's cursor that is a row id (balances, events)


def normalise_text(value):
    """The value a text field is checked and looked up as: stripped of whitespace of
    every Unicode kind (``str.strip``). Rate-limit keys use it too (issue 17): a
    variant that validation turns into the same value is the same key."""
    return value.strip()


class _Fields:
    """What a JSON body and a query string check alike: faults collected per field."""

    errors: list

    def fail(self, field, message):
        self.errors.append({"field": field, "message": str(message)})

    def _text(self, field, value, max_length, choices=None, pattern=None):
        """``value`` (a string) if it passes; else the fault is noted and None returned."""
        if len(value) > max_length:
            self.fail(field, _("must be at most %(n)d characters", n=max_length))
            return None
        if any(ord(c) < 32 for c in value):
            self.fail(field, _("must not contain control characters"))
            return None
        if choices is not None and value not in choices:
            self.fail(field, _("must be one of: %(choices)s", choices=", ".join(choices)))
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            self.fail(field, _("has an invalid format"))
            return None
        return value

    def _instant(self, field, value, zone, end=False):
        """``value`` (a string) as naive UTC: a day of ``zone`` (its start; with
        ``end``, the start of the next day: the day is included) or a date and time
        with an offset (that instant). The fault is noted and None returned otherwise."""
        match = re.fullmatch(INSTANT, value) if len(value) <= 40 else None
        message = _("must be a date (YYYY-MM-DD) or a date and time with its offset, such as "
                    "2026-03-10T12:00:00Z")
        if match is None:
            self.fail(field, message)
            return None
        try:
            if match.group(2) is None:
                day = datetime.date.fromisoformat(value)
                if not 1900 <= day.year <= 9998:
                    raise ValueError(value)
                return local_midnight_utc(day + datetime.timedelta(days=1) if end else day, zone)
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if not 1900 <= parsed.year <= 9998:
                raise ValueError(value)
            return to_naive_utc(parsed)
        except (ValueError, OverflowError):
            self.fail(field, message)
            return None


class Body(_Fields):
    """``Body().string("label")``… then ``done()`` raises one 400 with every fault."""

    def __init__(self, data=None):
        if data is None:
            data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_json", _("The request body must be a JSON object."))
        self.data = data
        self.errors = []

    def _raw(self, field, required):
        value = self.data.get(field)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            if required:
                self.fail(field, _("is required"))
            return None
        return value

    def _str(self, field, required):
        """The field's value when it is a string; None (and a fault if it is not)."""
        value = self._raw(field, required)
        if value is not None and not isinstance(value, str):
            self.fail(field, _("must be a string"))
            return None
        return value

    def string(self, field, required=True, max_length=255, pattern=None, choices=None):
        value = self._str(field, required)
        return None if value is None else self._text(field, normalise_text(value), max_length, choices, pattern)

    def instant(self, field, zone, required=True):
        """A day of ``zone`` (its start) or a date and time with its offset, as naive UTC."""
        value = self._str(field, required)
        return None if value is None else self._instant(field, value, zone)

    def amount(self, field, required=True):
        value = self._raw(field, required)
        if value is None:
            return None
        if isinstance(value, str) and value != value.strip():
            # Forms forgive stray spaces; a machine client sends the amount exactly.
            self.fail(field, _("must be a decimal number with at most 2 decimal places, such as \"500.00\""))
            return None
        try:
            return parse_amount(value)
        except AmountError as exc:
            self.fail(field, str(exc))
            return None

    def mapping(self, field, required=True):
        value = self._raw(field, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(field, _("must be an object"))
            return None
        return value

    def done(self):
        if self.errors:
            raise ApiError(400, "invalid_request", _("The request has invalid fields."), details=self.errors)
        return self


class Params(_Fields):
    """Query-string parameters, checked like ``Body``: ``Params(known).string("label")``…
    ``done()`` raises one 400 naming every faulty (or unknown) parameter."""

    def __init__(self, known):
        self.args = request.args
        self.errors = []
        for name in sorted(set(self.args) - set(known)):
            self.fail(name, _("is not a known field"))

    def _raw(self, field):
        value = self.args.get(field)
        return None if value is None or value == "" else value

    def string(self, field, max_length=255, choices=None):
        value = self._raw(field)
        return None if value is None else self._text(field, value, max_length, choices)

    def integer(self, field, minimum, maximum):
        value = self._raw(field)
        if value is None:
            return None
        if not re.fullmatch(r"[0-9]{1,19}", value) or not minimum <= int(value) <= maximum:
            self.fail(field, _("must be a whole number from %(min)d to %(max)d", min=minimum, max=maximum))
            return None
        return int(value)

    def id_cursor(self, field="cursor"):
        """A keyset cursor that is a row id (the last id of the previous page)."""
        value = self.string(field, max_length=19)
        if value is None:
            return None
        if not re.fullmatch(ID_CURSOR_PATTERN, value) or not 1 <= int(value) <= MAX_ID:
            self.fail(field, _("is not a cursor this API returned"))
            return None
        return int(value)

    def instant(self, field, zone, end=False):
        """A day of ``zone`` or a date and time with its offset, as naive UTC (see
        ``_instant``; ``end``: a day counts up to its end)."""
        value = self._raw(field)
        return None if value is None else self._instant(field, value, zone, end)

    def date(self, field):
        """A calendar date ``YYYY-MM-DD`` (years 1900 to 9998: whole days convert to UTC safely)."""
        value = self._raw(field)
        if value is None:
            return None
        try:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                raise ValueError(value)
            parsed = datetime.date.fromisoformat(value)
        except ValueError:
            self.fail(field, _("must be a date (YYYY-MM-DD)"))
            return None
        if not 1900 <= parsed.year <= 9998:
            self.fail(field, _("must be a date from 1900 to 9998"))
            return None
        return parsed

    def done(self):
        if self.errors:
            raise ApiError(400, "invalid_request", _("The request has invalid fields."), details=self.errors)
        return self
