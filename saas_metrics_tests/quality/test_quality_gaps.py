"""Source gaps and the run stamp of quarantined rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from saas_metrics.quality.gaps import file_state, gap_frame, gaps_by_month
from saas_metrics.quality.quarantine import QUARANTINED_ROWS, for_run


def test_file_state(tmp_path: Path) -> None:
    (tmp_path / "zero.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("a,b\n\n")
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    assert [file_state(tmp_path / f) for f in ("none.csv", "zero.csv", "header.csv", "rows.csv")] == ["absent", "empty", "empty", None]


def test_gap_rows_per_month_and_file() -> None:
    frame = gap_frame([dt.date(2025, 5, 1), dt.date(2025, 6, 1)], source="ads", table="ad_spend",
                      gone=[("ads/google_ads.csv", "absent")], run_id="r1")
    assert frame["month"].tolist() == [pd.Timestamp(2025, 5, 1), pd.Timestamp(2025, 6, 1)]
    assert gaps_by_month(frame) == {pd.Timestamp(2025, 5, 1): {"ad_spend"}, pd.Timestamp(2025, 6, 1): {"ad_spend"}}
    assert gap_frame([dt.date(2025, 5, 1)], source="ads", table="ad_spend", gone=[], run_id="r1").empty


def test_quarantined_rows_carry_the_run_and_snapshots_file_under_its_last_month() -> None:
    row = QUARANTINED_ROWS.empty_frame()
    row.loc[0, ["month", "source", "table_name", "rule", "reason"]] = [pd.Timestamp(2026, 12, 1), "crm", "crm_contacts", "not_null", "x"]
    out = for_run(row, "r1", (dt.date(2025, 4, 1), dt.date(2025, 6, 1)), snapshot=True).iloc[0]
    assert (out["run_id"], out["run_first_month"], out["run_last_month"]) == ("r1", pd.Timestamp(2025, 4, 1), pd.Timestamp(2025, 6, 1))
    assert out["month"] == pd.Timestamp(2025, 6, 1)
    fact = for_run(row, "r1", (dt.date(2025, 4, 1), dt.date(2025, 6, 1)), snapshot=False).iloc[0]
    assert fact["month"] == pd.Timestamp(2026, 12, 1)  # a fact row keeps its own month
