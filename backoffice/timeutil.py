"""Time rules used everywhere: timestamps are stored as naive UTC.

* :func:`to_naive_utc` — an aware datetime (or a naive one read in ``zone``) as naive UTC;
* :func:`local_midnight_utc` — where a calendar day of a zone starts, as naive UTC
  (date filters and the dashboard's day boundaries);
* :func:`iso_z` — how APIs and postbacks write a timestamp: ISO-8601 to the second
  with an explicit ``Z``.

Framework-free: the zone is passed in (``i18n.zone(name)`` turns a name into one).
"""
import datetime

UTC = datetime.timezone.utc


def to_naive_utc(value, zone=None):
    """``value`` as naive UTC. A naive ``value`` is read as local time in ``zone``
    (required then); an aware one keeps its own offset."""
    if value.tzinfo is None:
        if zone is None:
            raise ValueError("a naive datetime needs a zone")
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC).replace(tzinfo=None)


def local_midnight_utc(day, zone):
    """The start (00:00) of calendar ``day`` in ``zone`` (a tzinfo), as naive UTC."""
    return to_naive_utc(datetime.datetime.combine(day, datetime.time.min), zone)


def iso_z(value):
    """A stored naive-UTC datetime (or an aware one) as ``2026-01-31T12:00:05Z``; None stays None."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"
