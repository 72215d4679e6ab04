"""Which partition month a source row is filed under, and how many rows fall in none."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from saas_metrics.defs.source_reads import Placement, count_placement, place_in_months
from saas_metrics.quality.accounting import FAR_BEFORE_START_YEARS

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


def test_rows_in_no_partition_are_counted_with_their_rule() -> None:
    everything = (FIRST, dt.date(2024, 4, 1))
    with_now = count_placement(TIMES, FIRST, LAST, everything, now=NOW)
    assert with_now.outside == 3  # after last (not future), before first, now itself
    assert with_now.in_window == {dt.date(2024, 1, 1): 2, dt.date(2024, 2, 1): 1, dt.date(2024, 3, 1): 2}
    assert with_now.excluded == {"before_start_month": 1, "after_end_month": 2}
    # Without `now` nothing is future: the row after now is after the last month too.
    assert count_placement(TIMES, FIRST, LAST, everything).outside == 4


def _counts_from_each_rows_month(times: pd.Series, window: tuple[dt.date, dt.date], now: pd.Timestamp | None) -> tuple:
    """The counts the slow way: every row keyed by its partition month (place_in_months), then counted."""
    placed = place_in_months(pd.DataFrame({"t": times}), "t", FIRST, LAST, now=now)
    start, end = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    in_run = placed.notna() & (placed >= start) & (placed < end)
    unplaced = placed.isna()
    before = unplaced & (times < pd.Timestamp(FIRST))
    far = before & (times <= pd.Timestamp(FIRST) - pd.DateOffset(years=FAR_BEFORE_START_YEARS))
    excluded = {"outside_run_months": int((placed.notna() & ~in_run).sum()), "before_start_month": int((before & ~far).sum()),
                "far_before_start_month": int(far.sum()), "after_end_month": int((unplaced & ~before).sum())}
    months = {m.date(): int(n) for m, n in placed[in_run].value_counts().items()}
    return months, int(unplaced.sum()), {rule: n for rule, n in excluded.items() if n}


@pytest.mark.parametrize("window", [(FIRST, dt.date(2024, 4, 1)), (FIRST, dt.date(2024, 2, 1)),
                                    (dt.date(2024, 2, 1), dt.date(2024, 3, 1)), (dt.date(2024, 3, 1), dt.date(2024, 4, 1))])
@pytest.mark.parametrize("now", [NOW, pd.Timestamp("2024-02-10 06:00"), None])
def test_counting_by_comparisons_equals_keying_every_row_by_month(window: tuple[dt.date, dt.date], now: pd.Timestamp | None) -> None:
    """Only the window's rows are keyed by month; the counts are those of placing every row, for
    missing, future, far-past, before-first and after-last times, in every window of the range."""
    rng = np.random.default_rng(7)
    many = pd.Series(pd.Timestamp("2013-06-01") + pd.to_timedelta(rng.integers(0, 12 * 365 * 24, 20_000), unit="h"))
    many = pd.concat([many, pd.Series(pd.Timestamp("2023-10-01") + pd.to_timedelta(rng.integers(0, 300 * 24, 20_000), unit="h"))],
                     ignore_index=True)
    many[::97] = pd.NaT
    placement = count_placement(many, FIRST, LAST, window, now=now)
    months, outside, excluded = _counts_from_each_rows_month(many, window, now)
    assert (placement.in_window, placement.outside, placement.excluded) == (months, outside, excluded)
    assert sum(months.values()) > 0 and outside > 0 and excluded  # the data reaches every branch
    assert placement.in_window_rows + placement.outside + sum(v for k, v in excluded.items() if k == "outside_run_months") == len(many)


def test_an_empty_read_counts_nothing() -> None:
    empty = pd.Series([], dtype="datetime64[ns]")
    assert count_placement(empty, FIRST, LAST, (FIRST, dt.date(2024, 4, 1)), now=NOW) == Placement({}, 0, {})
