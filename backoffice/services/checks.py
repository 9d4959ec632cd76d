"""Checks the settings services share (``profile``, ``merchant_settings``, ``merchants``).

* :class:`SettingsError` — bad input on a settings page: ``errors`` maps each faulty
  field to its message (a :class:`~backoffice.errors.RuleError`);
* time zones: :func:`timezone_names` (every IANA name a user may pick) and
  :func:`check_timezone`;
* passwords: :func:`check_not_common` against the bundled list of the most common
  passwords (the length rules are ``security.check_password_rules``).
"""
import functools
import os
from zoneinfo import available_timezones

from flask_babel import gettext as _

from ..errors import RuleError

COMMON_PASSWORDS_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "common_passwords.txt")


class SettingsError(RuleError):
    """Bad input; ``errors`` maps each faulty field to its message (also ``fields``)."""

    def __init__(self, errors):
        super().__init__(fields=errors)
        self.errors = self.fields


@functools.lru_cache(maxsize=1)
def timezone_names():
    return tuple(sorted(available_timezones()))


@functools.lru_cache(maxsize=1)
def _timezone_set():
    return frozenset(timezone_names())


def check_timezone(name, field="timezone"):
    """``name`` stripped, when it is a time zone a user may pick; else SettingsError."""
    name = (name or "").strip()
    if name not in _timezone_set():
        raise SettingsError({field: _("Choose a time zone from the list.")})
    return name


@functools.lru_cache(maxsize=1)
def common_passwords():
    with open(COMMON_PASSWORDS_FILE, encoding="utf-8") as fh:
        return frozenset(line.strip().lower() for line in fh if line.strip() and not line.startswith("#"))


def check_not_common(password, field="new_password"):
    if (password or "").strip().lower() in common_passwords():
        raise SettingsError({field: _("This password is one of the most common ones; choose another.")})


def as_bool(value):
    """A checkbox or JSON flag: True, or "1" / "y" / "yes" / "on" / "true" (any case)."""
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "y", "yes", "on", "true")
