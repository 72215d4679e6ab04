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
        return RunMeasure(seconds=next(seconds[kind]), peak_rss_mb=100.0, warehouse_rows=5, success=True,
                          step_seconds={"mrr_movements": 1.0})

    monkeypatch.setattr(harness, "run_worker", fake_worker)
    monkeypatch.setattr(harness, "check_floor", lambda url, work_dir: (0.5, FloorCheck(5, 0, 1, 0)))
    result = harness.bench_backend(get_scale("tiny"), tmp_path, "sqlite", 3, tmp_path, "postgresql://unused",
                                   launched=False)
    assert order == ["full"] * 3 + ["last", "early"] * 3
    assert (result.full_seconds, result.last_month_seconds, result.early_month_seconds) == (20.0, 6.0, 4.0)
    assert result.late_to_early == 1.5 and result.movement_to_floor == 2.0
