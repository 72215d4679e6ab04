"""The bench's run order: full backfills first, then the last and the early month alternating (so a
drift in the machine's speed does not move their ratio), each figure the median of its runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from saas_metrics.bench import harness
from saas_metrics.bench.floor import FloorCheck
from saas_metrics.bench.scales import BENCH_END_MONTH, get_scale
from saas_metrics.bench.worker import RunMeasure, RunSpec


def test_month_runs_alternate_and_figures_are_medians(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    seconds = {"full": iter([30.0, 10.0, 20.0]), "last": iter([9.0, 3.0, 6.0]), "early": iter([4.0, 2.0, 8.0])}

    def fake_worker(spec: RunSpec, work_dir: Path) -> RunMeasure:
        kind = ("full" if spec.run_start != spec.run_end
                else "last" if dt.date.fromisoformat(spec.run_start) == BENCH_END_MONTH else "early")
        order.append(kind)
        took = next(seconds[kind])
        # Each run's peak and step count differ, so the test can tell which run a figure comes from.
        return RunMeasure(seconds=took, peak_rss_mb=100.0 + took, warehouse_rows=5, success=True,
                          step_seconds={"mrr_movements": 1.0}, peak_step=f"{kind}_step", steps=int(took), events=int(10 * took))

    monkeypatch.setattr(harness, "run_worker", fake_worker)
    monkeypatch.setattr(harness, "check_floor", lambda url, work_dir: (0.5, FloorCheck(5, 0, 1, 0)))
    floors: list[dt.date] = []
    monkeypatch.setattr(harness, "month_floor_seconds", lambda url, work_dir, month: floors.append(month) or 0.25)
    result = harness.bench_backend(get_scale("tiny"), tmp_path, "sqlite", 3, tmp_path, "postgresql://unused",
                                   launched=False)
    assert order == ["full"] * 3 + ["last", "early"] * 3
    assert (result.full_seconds, result.last_month_seconds, result.early_month_seconds) == (20.0, 6.0, 4.0)
    assert result.late_to_early == 1.5 and result.movement_to_floor == 2.0
    # The month's floor is the last month's; the month / floor ratio is the median month's 6 s over 0.25 s.
    assert floors == [BENCH_END_MONTH] and result.month_to_floor == 24.0
    # Steps and events of the median last-month run (6 s); peaks of the full runs and of the month runs apart.
    assert (result.steps_per_month, result.events_per_month) == (6, 60)
    assert (result.full_peak_rss_mb, result.full_peak_step) == (130.0, "full_step")
    assert (result.month_peak_rss_mb, result.month_peak_step) == (109.0, "last_step")
    assert result.peak_rss_mb == 130.0 and result.peak_step == "full_step"
