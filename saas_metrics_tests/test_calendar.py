"""Month keys, month arithmetic and the one normalise_months contract."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from saas_metrics import calendar
from saas_metrics.calendar import (
    add_months,
    first_of_month,
    last_complete_month,
    month_index,
    month_of,
    month_start,
    months_from_index,
    next_month,
    normalise_months,
    previous_month,
    shift_months,
)

T = pd.Timestamp


def test_date_months() -> None:
    assert first_of_month("2024-03") == dt.date(2024, 3, 1)
    assert first_of_month("2024-03-17") == dt.date(2024, 3, 1)
    assert first_of_month(dt.datetime(2024, 12, 31, 23, 59)) == dt.date(2024, 12, 1)
    assert add_months(dt.date(2024, 11, 1), 3) == dt.date(2025, 2, 1)
    assert add_months(dt.date(2024, 1, 1), -1) == dt.date(2023, 12, 1)
    assert add_months(dt.date(2024, 1, 1), -25) == dt.date(2021, 12, 1)
    assert last_complete_month(dt.date(2026, 12, 6)) == dt.date(2026, 11, 1)
    assert last_complete_month(dt.date(2026, 1, 1)) == dt.date(2025, 12, 1)


def test_month_keys_of_instants() -> None:
    key = month_start("2024-03-17 08:00")
    assert key == T("2024-03-01") and key.unit == "ns"
    assert month_start(dt.date(2024, 2, 29)) == T("2024-02-01")
    keys = month_of(pd.Series(["2024-01-31 23:59:59", None, "2024-02-01 00:00:00"]))
    assert str(keys.dtype) == "datetime64[ns]"
    assert keys.iloc[0] == T("2024-01-01") and pd.isna(keys.iloc[1]) and keys.iloc[2] == T("2024-02-01")


def test_normalise_months_accepts_month_keys_of_any_type_sorted_and_distinct() -> None:
    months = normalise_months(["2024-02", dt.date(2024, 1, 1), T("2024-02-01"), np.datetime64("2023-12-01")])
    assert months == [T("2023-12-01"), T("2024-01-01"), T("2024-02-01")]
    assert all(m.unit == "ns" for m in months)
    assert normalise_months(pd.Series(pd.to_datetime(["2024-05-01", "2024-04-01"]))) == [T("2024-04-01"), T("2024-05-01")]
    assert normalise_months([]) == []


@pytest.mark.parametrize("value", ["2024-03-15", T("2024-03-01 12:00"), dt.datetime(2024, 3, 2), None])
def test_normalise_months_rejects_a_day_inside_a_month(value: object) -> None:
    """A date inside a month is an event date passed where a month belongs: an error, not a move."""
    with pytest.raises(ValueError, match="first days of months"):
        normalise_months([T("2024-01-01"), value])


def test_month_arithmetic() -> None:
    assert previous_month(T("2024-01-01")) == T("2023-12-01")
    assert next_month(T("2024-12-01")) == T("2025-01-01")
    shifted = next_month(pd.Series([T("2024-01-01"), T("2024-02-01")]))
    assert list(shifted) == [T("2024-02-01"), T("2024-03-01")]
    stamps = pd.Series([T("2024-03-17"), pd.NaT, T("1999-12-31")])
    assert list(month_index(stamps)) == [2024 * 12 + 2, -1, 1999 * 12 + 11]
    assert list(months_from_index(np.array([2024 * 12 + 2, 2025 * 12]))) == [T("2024-03-01"), T("2025-01-01")]
    months = pd.Series([T("2024-11-01"), T("2024-01-01")], index=[7, 9])
    moved = shift_months(months, np.array([2, -1]))
    assert list(moved) == [T("2025-01-01"), T("2023-12-01")] and list(moved.index) == [7, 9]


def test_month_index_and_back_over_the_whole_datetime_range() -> None:
    # month_index counts with numpy's month unit: it is year * 12 + month - 1 before 1970 as after,
    # for Series, DatetimeIndex and datetime64 arrays of any unit; months_from_index is its inverse
    stamps = pd.Series(pd.to_datetime(np.linspace(pd.Timestamp("1677-09-22").value, pd.Timestamp("2262-04-10").value,
                                                  5001).astype("int64")))
    stamps[::97] = pd.NaT
    expected = np.where(stamps.isna(), -1, stamps.dt.year.fillna(0) * 12 + stamps.dt.month.fillna(1) - 1).astype("int64")
    for given in (stamps, pd.DatetimeIndex(stamps), stamps.to_numpy(), stamps.to_numpy().astype("datetime64[s]")):
        assert np.array_equal(month_index(given), expected)
    idx = np.arange(1677 * 12 + 9, 2262 * 12 + 4)
    back = months_from_index(idx)
    assert str(back.dtype) == "datetime64[ns]" and list(back.iloc[[0, -1]]) == [T("1677-10-01"), T("2262-04-01")]
    assert np.array_equal(month_index(back), idx) and back.dt.day.eq(1).all()
    assert months_from_index(np.array([], dtype="int64")).empty
    with pytest.raises(pd.errors.OutOfBoundsDatetime):
        months_from_index(np.array([1677 * 12 + 8]))


def test_month_keys_are_computed_only_here() -> None:
    """No module computes month keys its own way (the simulator, which stands for the vendors'
    systems, keeps its own calendar in sample_data/timeutil.py)."""
    package = Path(calendar.__file__).parent
    copies = []
    for path in sorted(package.rglob("*.py")):
        if path == Path(calendar.__file__) or "sample_data" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ('to_period("M")', "def normalise_months", "def month_of", "def month_start", "def add_months"):
            if needle in text:
                copies.append(f"{path.relative_to(package)}: {needle}")
    assert copies == []
