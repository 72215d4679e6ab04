"""The calendar of the pipeline: month keys, month arithmetic and windows, in one place.

A **month key** is the first day of a month at midnight: a ``datetime.date`` in settings and
partitions (``first_of_month``, ``add_months``), a ``pandas.Timestamp`` (nanosecond unit, naive)
in frames (``month_start``, ``month_of``, ``normalise_months``). Every monthly table keys its
rows by it, and the Dagster partition key is its ``YYYY-MM-DD`` form.

One contract for a list of months handed to a metric function (:func:`normalise_months`): any
value ``pandas.Timestamp`` accepts (a Timestamp, a date, ``"2024-03"``, ``"2024-03-01"``), each
the first day of its month at midnight; the result is sorted and distinct. A day inside a month
is an error, not a month: it is a caller passing an event date where a month belongs.

Pure functions (pandas, numpy, datetime): the metric core imports this module too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

#: The unit of month keys in frames (the warehouse's datetime unit).
MONTH_DTYPE = "datetime64[ns]"


def first_of_month(value: dt.date | dt.datetime | str) -> dt.date:
    """The first day of the month containing ``value`` (``YYYY-MM`` or ``YYYY-MM-DD``)."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value if len(value) > 7 else f"{value}-01")
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    """``month`` moved by ``n`` months (a first-of-month date): add_months(2024-11-01, 3) = 2025-02-01."""
    total = month.year * 12 + (month.month - 1) + n
    return dt.date(total // 12, total % 12 + 1, 1)


def last_complete_month(today: dt.date | None = None) -> dt.date:
    """The first day of the month before ``today``'s (UTC): on 2026-12-06, 2026-11-01."""
    today = today or dt.datetime.now(dt.UTC).date()
    return add_months(first_of_month(today), -1)


def month_start(value: dt.date | pd.Timestamp | str) -> pd.Timestamp:
    """The month key of one instant: month_start("2024-03-17 08:00") = Timestamp("2024-03-01")."""
    return pd.Timestamp(value).to_period("M").to_timestamp().as_unit("ns")


def month_of(values: pd.Series) -> pd.Series:
    """The month key of each timestamp, vectorised (naive ``datetime64[ns]``; NaT stays NaT)."""
    return pd.to_datetime(values).dt.to_period("M").dt.to_timestamp().astype(MONTH_DTYPE)


def normalise_months(months: Iterable[object]) -> list[pd.Timestamp]:
    """Sorted, distinct month keys; raises ValueError on a value that is not the first day of a
    month at midnight (or is missing). normalise_months(["2024-02", dt.date(2024, 1, 1), "2024-02-01"])
    = [Timestamp("2024-01-01"), Timestamp("2024-02-01")]."""
    stamps = [pd.Timestamp(value) for value in months]
    wrong = [value for value in stamps if pd.isna(value) or value.day != 1 or value != value.normalize()]
    if wrong:
        raise ValueError(f"months must be first days of months, got {wrong[:3]}")
    return sorted({value.as_unit("ns") for value in stamps})


def previous_month(month: pd.Timestamp) -> pd.Timestamp:
    """The month key before ``month`` (a month key)."""
    return month - pd.offsets.MonthBegin(1)


def next_month(month: pd.Timestamp | pd.Series) -> pd.Timestamp | pd.Series:
    """The month key after ``month`` (a month key, or a Series of them: vectorised, where
    ``Series.map`` called the offset once per row)."""
    return month + pd.offsets.MonthBegin(1)


def month_index(ts: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Months since year 0 (year * 12 + month - 1) of each timestamp; -1 for NaT.
    month_index([2024-03-17]) = [2024 * 12 + 2] = [24290]."""
    if isinstance(ts, np.ndarray) and ts.dtype == MONTH_DTYPE:
        values = ts  # already what the conversion below makes
    else:
        values = pd.Series(pd.to_datetime(ts)).astype(MONTH_DTYPE).to_numpy()
    # numpy's month unit counts months since 1970-01 (floored), so no per-field .dt accessors are needed.
    months = values.astype("datetime64[M]").astype("int64") + 1970 * 12
    return np.where(np.isnat(values), -1, months)


#: month_index of the first and last whole months datetime64[ns] holds (1677-10 .. 2262-03).
_FIRST_MONTH_INDEX, _LAST_MONTH_INDEX = 1677 * 12 + 9, 2262 * 12 + 2


def months_from_index(index: np.ndarray) -> pd.Series:
    """Inverse of :func:`month_index`: month keys."""
    idx = np.asarray(index, dtype="int64")
    if len(idx) and not (idx.min() >= _FIRST_MONTH_INDEX and idx.max() <= _LAST_MONTH_INDEX):
        # outside the months datetime64[ns] holds whole: pandas raises its own error
        return pd.Series(pd.to_datetime({"year": idx // 12, "month": idx % 12 + 1, "day": 1})).astype(MONTH_DTYPE)
    # numpy's month unit counts months since 1970-01: no parsing of year/month fields.
    return pd.Series((idx - 1970 * 12).astype("datetime64[M]").astype(MONTH_DTYPE))


def shift_months(months: pd.Series, n: int | np.ndarray) -> pd.Series:
    """Month keys shifted by ``n`` months (vectorised; DateOffset on a Series loops per row)."""
    out = months_from_index(month_index(months) + np.asarray(n, dtype="int64"))
    out.index = months.index
    return out
