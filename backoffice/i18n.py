"""Language and time zone of the viewer (Flask-Babel selectors) and date display.

Merchant users see their merchant's time zone; operators their own setting (the
instance default when unset). Timestamps are stored as naive UTC and converted here.
"""
import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_request_context, request
from flask_login import current_user


def select_locale():
    languages = current_app.config["LANGUAGES"]
    if has_request_context():
        if current_user and current_user.is_authenticated and current_user.language in languages:
            return current_user.language
        lang = request.args.get("lang")
        if lang in languages:
            return lang
        best = request.accept_languages.best_match(languages)
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
