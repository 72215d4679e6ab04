"""Row accounting: read = loaded + quarantined + excluded per named rule, counted by hand."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from saas_metrics.defs.source_reads import count_placement
from saas_metrics.quality.accounting import (
    EXCLUSION_RULES,
    RowAccount,
    accounting_frame,
)

T = pd.Timestamp
FIRST, LAST = dt.date(2025, 1, 1), dt.date(2025, 6, 1)  # configured partitions: Jan..Jun 2025
NOW = T("2025-07-15")


def _excluded(times: list[str | None], window: tuple[dt.date, dt.date]) -> dict[str, int]:
    series = pd.Series([T(t) if t else pd.NaT for t in times], dtype="datetime64[ns]")
    return count_placement(series, FIRST, LAST, window, now=NOW).excluded


def test_every_row_outside_the_run_has_its_rule() -> None:
    times = [
        "2025-03-10",  # in the run (March): loaded or quarantined, not excluded
        "2025-02-01",  # configured month, not this run's: outside_run_months
        None,          # no time: placed in the first partition (January), not this run's
        "2024-12-31",  # before the start month
        "2000-03-10",  # 25 years before: a typo
        "2015-01-01",  # exactly 10 years before: a typo too
        "2015-01-02",  # less than 10 years before: history
        "2025-07-01",  # after end_month, before now: after_end_month
        "2099-01-01",  # future: placed in the last partition (June), not this run's
    ]
    assert _excluded(times, (dt.date(2025, 3, 1), dt.date(2025, 4, 1))) == {
        "outside_run_months": 3, "before_start_month": 2, "far_before_start_month": 2, "after_end_month": 1}
    # a run of every month loads the null and future rows (they are quarantined there)
    assert _excluded(times, (FIRST, dt.date(2025, 7, 1))) == {
        "before_start_month": 2, "far_before_start_month": 2, "after_end_month": 1}


def test_identity_and_description() -> None:
    account = RowAccount(read=10, loaded=6, quarantined=1, excluded={"before_start_month": 2, "soft_deleted": 1})
    assert account.balanced and account.excluded_total == 3
    assert account.describe() == "read 10 = loaded 6 + quarantined 1 + excluded 3 (2 before_start_month, 1 soft_deleted)"
    lost = RowAccount(read=10, loaded=6, quarantined=1)
    assert not lost.balanced and lost.describe().startswith("read 10 != loaded 6")


def test_accounting_row_and_unknown_rules() -> None:
    account = RowAccount(read=3, loaded=2, quarantined=0, excluded={"far_before_start_month": 1})
    row = accounting_frame(account, run_id="r1", months=(FIRST, LAST), source="billing", table="billing_invoices",
                           recorded_at=dt.datetime(2025, 7, 1)).iloc[0]
    assert (row["rows_read"], row["rows_loaded"], row["rows_excluded"], bool(row["balanced"])) == (3, 2, 1, True)
    assert json.loads(row["excluded_by_rule"]) == {"far_before_start_month": 1}
    assert (row["first_month"], row["last_month"]) == (T(FIRST), T(LAST))
    with pytest.raises(ValueError, match="unknown exclusion rule"):
        accounting_frame(RowAccount(1, 0, 0, {"dropped": 1}), run_id="r", months=None, source="s", table="t",
                         recorded_at=dt.datetime(2025, 7, 1))
    assert set(EXCLUSION_RULES) >= {"soft_deleted", "inactive_history", "outside_run_months"}
