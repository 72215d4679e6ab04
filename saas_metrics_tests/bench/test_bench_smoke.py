"""The benchmark end to end on the 'tiny' scale, SQLite, one repeat: the markdown table is
written (around the hand-written text) and the DuckDB floor equals the pipeline."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from saas_metrics.bench import run_benchmark
from saas_metrics.bench.harness import BackendResult
from saas_metrics.bench.report import (
    END_MARKER,
    START_MARKER,
    fixed_cost_lines,
    month_table,
    targets_table,
)
from saas_metrics.warehouse.checkpoint import concurrent_checkpoints_are_safe


def test_tiny_bench_writes_the_table_and_duckdb_equals_the_pipeline(tmp_path: Path) -> None:
    output = tmp_path / "benchmark.md"
    output.write_text(f"# Benchmark\n\nhand-written before\n\n{START_MARKER}\nold\n{END_MARKER}\n\nhand-written after\n")
    report = run_benchmark(["tiny"], ["sqlite"], 1, work_dir=tmp_path / "work", output=output, log=False)
    (result,) = report.results
    assert result.scale == "tiny" and result.backend == "sqlite" and result.repeats == 1
    assert result.floor_check is not None and result.floor_check.equal, result.floor_check
    assert result.floor_check.rows_compared > 20 and result.floor_check.mrr_months_compared == 7
    assert result.full_seconds > 0 and result.last_month_seconds > 0 and result.early_month_seconds > 0
    assert result.warehouse_rows > 1000 and result.peak_rss_mb > 50
    assert result.movement_step_seconds > 0
    # The UI's road: the last month submitted to the queue, launched by the daemon's run launcher
    # into a run worker, beside `saas-metrics run` on the same instance.
    assert result.launched_month_seconds is not None and result.launched_month_seconds > 0
    assert result.cli_instance_month_seconds is not None and result.cli_instance_month_seconds > 0
    # The run worker the daemon launched set the read cache budget and the Arrow pool, and said so
    # in the run's log (the UI's run page).
    assert result.launched_memory == "memory: read cache 256 MiB (read_cache_mb), Arrow memory pool jemalloc"
    assert result.steps_per_month is not None and result.steps_per_month > 40
    assert result.month_floor_seconds is not None and result.month_floor_seconds > 0
    assert result.full_peak_rss_mb is not None and result.month_peak_rss_mb is not None
    assert result.events_per_month is not None and result.events_per_month > 5 * result.steps_per_month
    # The month validated its monthly tables with Great Expectations (a month of new rows), it did not replay them.
    assert result.validated_per_month is not None and result.validated_per_month >= 10
    text = output.read_text()
    # The month's row (seconds, steps, events, tables validated, its DuckDB floor and the ratio) and the UI's road.
    assert re.search(r"\| tiny \| sqlite \| [\d.,]+ \| \d+ \| [\d,]+ \| \d+ \| [\d.]+ \| [\d,]+ \|", text), text
    assert re.search(r"\| tiny \| sqlite \| [\d.,]+ \| [\d.,]+ \| [\d.]+ \|\n", text), text
    assert "launched month <= 1.3 x CLI month" in text and "| tiny month <= 8 s | sqlite |" in text
    assert "- sqlite: a tiny month takes **" in text and "### Peak memory" in text
    assert "hand-written before" in text and "hand-written after" in text and "\nold\n" not in text
    assert "| tiny | sqlite | 150 x 7 |" in text and "yes (" in text
    assert "| CPU |" in text and "| dagster |" in text
    # The SQLite Python links, and whether the warehouse checkpoints in the background with it.
    sqlite_row = f"| SQLite (Python's sqlite3) | {sqlite3.sqlite_version}"
    assert sqlite_row + (" |" if concurrent_checkpoints_are_safe() else " (WAL-reset bug: checkpoints inside COMMIT) |") in text
    # The CPU probe before and after the runs: how fast this machine was, to compare rounds by.
    probe = re.search(r"\| CPU probe, start / end \| (\d+\.\d\d) s / (\d+\.\d\d) s \(sum\(range\(3e7\)\)", text)
    assert probe is not None and all(0 < float(v) < 60 for v in probe.groups()), text
    assert not list((tmp_path / "work").glob("warehouse_*.db")), "throwaway warehouses are removed"


def test_bench_refuses_unknown_scales_backends_and_repeats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        run_benchmark(["huge"], ["sqlite"], 1, work_dir=tmp_path, output=None, log=False)
    with pytest.raises(ValueError, match="unknown backend"):
        run_benchmark(["tiny"], ["oracle"], 1, work_dir=tmp_path, output=None, log=False)
    with pytest.raises(ValueError, match="repeats"):
        run_benchmark(["tiny"], ["sqlite"], 0, work_dir=tmp_path, output=None, log=False)


def _result(scale: str, full: float, month: float, peak_mib: float, *, early: float | None = None) -> BackendResult:
    return BackendResult(scale=scale, backend="sqlite", customers=10_000, months=36, repeats=1, full_seconds=full,
                         last_month_seconds=month, early_month_seconds=early or month, peak_rss_mb=peak_mib,
                         warehouse_rows=1, movement_step_seconds=1.0)


def test_the_memory_target_is_two_decimal_gigabytes() -> None:
    # 1,950 MiB is under 2 GiB but over 2 GB (2e9 bytes = 1,907.3 MiB): not met.
    assert "| large peak memory < 2 GB (1,907 MiB) | sqlite | 1,950 MiB | NO |" in targets_table([_result("large", 400, 50, 1950)])
    assert "| large peak memory < 2 GB (1,907 MiB) | sqlite | 1,900 MiB | yes |" in targets_table([_result("large", 400, 50, 1900)])


def test_targets_fixed_cost_and_month_table_by_hand() -> None:
    tiny = _result("tiny", 20, 8.0, 400)
    medium = _result("medium", 100, 20.0, 1500, early=16.0)
    medium.steps_per_month, medium.events_per_month, medium.month_floor_seconds = 140, 1516, 0.5
    medium.validated_per_month = 14
    large = _result("large", 450, 60.0, 1800)
    table = targets_table([tiny, medium, large])
    assert "| tiny month <= 8 s | sqlite | 8.0 s | yes |" in table
    assert "| medium month <= 15 s | sqlite | 20.0 s | NO |" in table
    assert "| medium full backfill <= 90 s | sqlite | 100.0 s | NO |" in table
    assert "| medium month 36 <= 1.3 x month 6 | sqlite | 1.25 x | yes |" in table  # 20 / 16
    assert "| large full backfill <= 5 x medium | sqlite | 4.50 x | yes |" in table  # 450 / 100
    # The fixed cost is the tiny month; of the medium month, 20 - 8 = 12 s grows with the data.
    assert fixed_cost_lines([tiny, medium]) == (
        "- sqlite: a tiny month takes **8.0 s**; a medium month 20.0 s, of which 12.0 s grows with the data")
    assert "add `--scale tiny`" in fixed_cost_lines([medium])
    # A month of 20 s against DuckDB's 0.5 s for the same month's revenue metrics: 40 x.
    assert "| medium | sqlite | 20.0 | 140 | 1,516 | 14 | 0.50 | 40 |" in month_table([medium])
    assert "| tiny | sqlite | 8.0 | n/a | n/a | n/a | n/a | n/a |" in month_table([tiny])


def test_a_repeated_month_validates_again_and_snapshots_still_replay(tmp_path: Path) -> None:
    """forget_validations drops the stored validations of the month's window only: each repeat of a
    month run validates its rows as the first did, while the other windows and the snapshot tables
    ('all rows') keep theirs."""
    import datetime as dt

    import pandas as pd

    from saas_metrics.bench.harness import forget_validations
    from saas_metrics.quality.replay import VALIDATION_RESULTS
    from saas_metrics.warehouse import Warehouse

    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert forget_validations(url, dt.date(2025, 6, 1)) == 0  # nothing stored yet
    windows = ["[2025-06-01, 2025-07-01)", "[2025-05-01, 2025-06-01)", "[2024-12-01, 2025-06-01)", "all rows"]
    Warehouse(url).replace(VALIDATION_RESULTS, pd.DataFrame({
        "table_name": ["billing_invoices"] * 4, "validated_window": windows, "fingerprint": list("abcd"), "findings": ["{}"] * 4}))
    assert forget_validations(url, dt.date(2025, 6, 1)) == 1
    assert sorted(Warehouse(url).read(VALIDATION_RESULTS)["validated_window"]) == sorted(windows[1:])
