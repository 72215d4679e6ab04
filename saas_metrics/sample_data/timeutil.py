"""Calendar helpers of the simulator (naive UTC datetimes, first-of-month months)."""

from __future__ import annotations

import datetime as dt

EPOCH = dt.datetime(1970, 1, 1)


def month_start(value: dt.date | dt.datetime) -> dt.datetime:
    return dt.datetime(value.year, value.month, 1)


def add_months(value: dt.datetime, n: int) -> dt.datetime:
    """``value`` moved by ``n`` calendar months, day clamped to the target month's length."""
    total = value.year * 12 + (value.month - 1) + n
    year, month = divmod(total, 12)
    month += 1
    last_day = (dt.datetime(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return value.replace(year=year, month=month, day=min(value.day, last_day))


def month_index(value: dt.datetime, first: dt.datetime) -> int:
    """Months between the month of ``first`` and the month of ``value``."""
    return (value.year - first.year) * 12 + value.month - first.month


def _missing(value: object) -> bool:
    return value is None or value != value  # NaT and NaN are not equal to themselves


def unix(value: dt.datetime | None) -> int | None:
    return None if value is None or _missing(value) else int((value - EPOCH).total_seconds())


def iso_z(value: dt.datetime | None) -> str | None:
    """ISO 8601 with a ``Z`` suffix (HubSpot / Zendesk / Fivetran style)."""
    return None if value is None or _missing(value) else value.strftime("%Y-%m-%dT%H:%M:%SZ")
