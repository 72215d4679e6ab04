"""Monthly partitions (UTC) from the configured first month.

With a pinned ``end_month`` the partitions end with it. Otherwise they run up
to and including the month in progress (``end_offset=1``): that last partition
is refreshed daily and is provisional until the month closes; the complete
months are the ones ``make run`` and the monthly schedule materialise.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from saas_metrics.calendar import add_months, first_of_month
from saas_metrics.config import Settings

MONTH_FORMAT = "%Y-%m-%d"


def monthly_partitions(settings: Settings) -> dg.MonthlyPartitionsDefinition:
    start = settings.first_month.strftime(MONTH_FORMAT)
    if settings.end_month is not None:
        end = add_months(settings.end_month, 1).strftime(MONTH_FORMAT)
        return dg.MonthlyPartitionsDefinition(start_date=start, end_date=end, timezone="UTC", fmt=MONTH_FORMAT)
    return dg.MonthlyPartitionsDefinition(start_date=start, end_offset=1, timezone="UTC", fmt=MONTH_FORMAT)


def partition_key(month: dt.date) -> str:
    return first_of_month(month).strftime(MONTH_FORMAT)


def complete_month_keys(settings: Settings) -> list[str]:
    """Partition keys of every complete month: first_month .. last_month."""
    keys = []
    month = settings.first_month
    while month <= settings.last_month:
        keys.append(partition_key(month))
        month = add_months(month, 1)
    return keys
