"""Which partition month a source row is filed under, and how many rows fall in none."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from saas_metrics.defs.source_reads import place_in_months, rows_outside_partitions

FIRST, LAST = dt.date(2024, 1, 1), dt.date(2024, 3, 1)
NOW = pd.Timestamp("2024-06-15 12:00")
TIMES = pd.Series(pd.to_datetime([
    "2024-01-01 00:00", "2024-02-29 23:59:59", "2024-03-31 23:59:59.999", "2024-04-01 00:00",  # in, in, in, after last
    "2023-12-31 23:59", None, "2024-06-15 12:00:01", "2024-06-15 12:00",  # before first, missing, future, not future
], format="ISO8601").astype("datetime64[ns]"))


def test_each_row_is_filed_under_its_month_or_none() -> None:
    placed = place_in_months(pd.DataFrame({"t": TIMES}), "t", FIRST, LAST, now=NOW)
    expected = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", None, None, "2024-01-01", "2024-03-01", None])
    pd.testing.assert_series_equal(placed, pd.Series(expected.astype("datetime64[ns]")), check_names=False)


def test_rows_outside_partitions_counts_what_placement_leaves_out() -> None:
    assert rows_outside_partitions(TIMES, FIRST, LAST, now=NOW) == 3  # after last (not future), before first, now itself
    assert rows_outside_partitions(TIMES, FIRST, LAST) == 4  # without `now` nothing counts as future
    rng = np.random.default_rng(7)
    many = pd.Series(pd.Timestamp("2023-06-01") + pd.to_timedelta(rng.integers(0, 500, 5000), unit="D"))
    many[::97] = pd.NaT
    placed = place_in_months(pd.DataFrame({"t": many}), "t", FIRST, LAST, now=NOW)
    assert rows_outside_partitions(many, FIRST, LAST, now=NOW) == int(placed.isna().sum())
