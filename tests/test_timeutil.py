"""``backoffice.timeutil``: local midnight as naive UTC, the ISO-8601 ``Z`` timestamp."""
import datetime
from zoneinfo import ZoneInfo

import pytest

from backoffice.timeutil import iso_z, local_midnight_utc, to_naive_utc


@pytest.mark.parametrize("zone, day, expected", [
    ("UTC", datetime.date(2026, 3, 1), datetime.datetime(2026, 3, 1, 0, 0)),
    # +5:30 all year: the day starts at 18:30 UTC the day before.
    ("Asia/Kolkata", datetime.date(2026, 3, 1), datetime.datetime(2026, 2, 28, 18, 30)),
    ("Asia/Kathmandu", datetime.date(2026, 3, 1), datetime.datetime(2026, 2, 28, 18, 15)),
    # New York: EST (-5) before 8 March 2026, EDT (-4) from then on.
    ("America/New_York", datetime.date(2026, 3, 7), datetime.datetime(2026, 3, 7, 5, 0)),
    ("America/New_York", datetime.date(2026, 3, 8), datetime.datetime(2026, 3, 8, 5, 0)),
    ("America/New_York", datetime.date(2026, 3, 9), datetime.datetime(2026, 3, 9, 4, 0)),
    # Europe/London: BST (+1) in summer.
    ("Europe/London", datetime.date(2026, 7, 1), datetime.datetime(2026, 6, 30, 23, 0)),
])
def test_local_midnight_utc(zone, day, expected):
    value = local_midnight_utc(day, ZoneInfo(zone))
    assert value == expected and value.tzinfo is None


def test_a_dst_day_is_23_or_25_hours_long():
    tz = ZoneInfo("America/New_York")
    spring = local_midnight_utc(datetime.date(2026, 3, 9), tz) - local_midnight_utc(datetime.date(2026, 3, 8), tz)
    autumn = local_midnight_utc(datetime.date(2026, 11, 2), tz) - local_midnight_utc(datetime.date(2026, 11, 1), tz)
    assert spring == datetime.timedelta(hours=23) and autumn == datetime.timedelta(hours=25)


def test_to_naive_utc():
    kolkata = ZoneInfo("Asia/Kolkata")
    assert to_naive_utc(datetime.datetime(2026, 3, 1, 12, 0), kolkata) == datetime.datetime(2026, 3, 1, 6, 30)
    aware = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-3)))
    assert to_naive_utc(aware) == datetime.datetime(2026, 3, 1, 15, 0)
    assert to_naive_utc(aware, kolkata) == datetime.datetime(2026, 3, 1, 15, 0)  # its own offset wins
    with pytest.raises(ValueError):
        to_naive_utc(datetime.datetime(2026, 3, 1))


def test_iso_z():
    assert iso_z(None) is None
    assert iso_z(datetime.datetime(2026, 1, 31, 12, 0, 5, 999999)) == "2026-01-31T12:00:05Z"
    aware = datetime.datetime(2026, 1, 31, 17, 30, 5, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert iso_z(aware) == "2026-01-31T12:00:05Z"
    assert iso_z(datetime.datetime(2026, 1, 31, 12, 0, 5, tzinfo=datetime.timezone.utc)) == "2026-01-31T12:00:05Z"
