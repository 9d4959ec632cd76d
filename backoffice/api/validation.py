"""Reading a JSON request body field by field, collecting every fault with its path."""
import datetime
import re

from flask import request
from flask_babel import gettext as _

from ..money import AmountError, parse_amount
from .base import ApiError


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

    def string(self, field, required=True, max_length=255, pattern=None, choices=None):
        value = self._raw(field, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(field, _("must be a string"))
            return None
        return self._text(field, normalise_text(value), max_length, choices, pattern)

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
