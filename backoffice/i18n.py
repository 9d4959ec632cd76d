"""Language and time zone of the viewer (Flask-Babel selectors) and date display.

Merchant users see their merchant's time zone; operators their own setting (the
instance default when unset). Timestamps are stored as naive UTC and converted here.
"""
import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_app_context, has_request_context, request
from flask_login import current_user

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
