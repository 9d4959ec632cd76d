"""Time zones as people read them (issue 22, point 5): "Дакка, UTC+06:00", not
"Asia/Dhaka".

The stored value stays the IANA name (``services.checks.timezone_names``); what people
read is the zone's city in their language (Babel's CLDR names) and its offset from UTC
now. The lists offer each zone once: the IANA names of the ten regions (Africa …
Pacific) and UTC, one name per city (the old aliases, "Asia/Calcutta" beside
"Asia/Kolkata", would be the same line twice), sorted by offset, then city; the value
already chosen is always among them, whatever its name.
"""
import datetime
import functools
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_location
from flask_babel import get_locale

from ..services.checks import timezone_names

REGIONS = frozenset(("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe",
                     "Indian", "Pacific"))


def _offset_minutes(name, now):
    try:
        delta = now.astimezone(ZoneInfo(name)).utcoffset()
    except (KeyError, ValueError, OSError):
        return 0
    return int(delta.total_seconds() // 60)


def _offset_text(minutes):
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def _city(name, locale):
    try:
        return get_timezone_location(name, locale=locale, return_city=True)
    except (LookupError, ValueError, KeyError):
        return None


def _label(name, locale, now, offset=True):
    if name in ("UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"):
        return "UTC"
    city = _city(name, locale)
    city = city if city and city != name else name
    return f"{city}, {_offset_text(_offset_minutes(name, now))}" if offset else city


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def zone_label(name, locale=None, offset=True):
    """A time zone's name for people, in the viewer's language: "Дакка, UTC+06:00"
    (``offset=False``: "Дакка", for what was chosen in the past, as the audit log says it)."""
    if not name:
        return ""
    locale = locale or get_locale() or "en"
    return _label(name, locale, _now(), offset)


def _offered(name):
    region = name.split("/", 1)[0]
    return name == "UTC" or (region in REGIONS and "/" in name)


@functools.lru_cache(maxsize=8)
def _cities(locale_name):
    """Each offered zone's city in a language, one name per city (Babel is slow: once
    per language)."""
    english = {}
    by_city = {}
    for name in timezone_names():
        if not _offered(name):
            continue
        city = "UTC" if name == "UTC" else (_city(name, locale_name) or name)
        kept = by_city.get(city)
        if kept is None or _preferred(name, kept, english):
            by_city[city] = name
    return tuple((name, city) for city, name in by_city.items())


@functools.lru_cache(maxsize=16)
def _choices(locale_name, hour):
    """(label, offset, name) of each offered zone, by offset then city; per language
    and hour (offsets change with summer time)."""
    now = _now()
    rows = []
    for name, city in _cities(locale_name):
        minutes = _offset_minutes(name, now)
        rows.append(("UTC" if name == "UTC" else f"{city}, {_offset_text(minutes)}", minutes, name))
    return tuple(sorted(rows, key=lambda row: (row[1], row[0])))


def _preferred(name, kept, english):
    """Of two names of one city, the current IANA one: the one its English city name
    spells ("Asia/Kolkata", not "Asia/Calcutta"), else the longer (more specific) one."""
    def spelled(candidate):
        if candidate not in english:
            english[candidate] = _city(candidate, "en") or ""
        return candidate.rsplit("/", 1)[-1].replace("_", " ") == english[candidate]

    if spelled(name) != spelled(kept):
        return spelled(name)
    return (len(name), name) > (len(kept), kept)


def zone_choices(current=None):
    """``(name, label)`` pairs for a select: every offered zone once, ``current`` among them."""
    locale = get_locale()
    rows = _choices(str(locale or "en"), _now().strftime("%Y%m%d%H"))
    choices = [(name, label) for label, _offset, name in rows]
    if current and current not in {name for name, _label in choices}:
        label = zone_label(current)
        choices = [(name, text) for name, text in choices if text != label]  # its city: this name, not an alias
        choices.append((current, label))
        choices.sort(key=lambda pair: (_offset_minutes(pair[0], _now()), pair[1]))
    return choices
