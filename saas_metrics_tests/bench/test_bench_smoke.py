"""The benchmark end to end on the 'tiny' scale, SQLite, one repeat: the markdown table is
written (around the hand-written text) and the DuckDB floor equals the pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from saas_metrics.bench import run_benchmark
from saas_metrics.bench.report import END_MARKER, START_MARKER


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
    text = output.read_text()
    assert "hand-written before" in text and "hand-written after" in text and "\nold\n" not in text
    assert "| tiny | sqlite | 150 x 7 |" in text and "yes (" in text
    assert "| CPU |" in text and "| dagster |" in text
    assert not list((tmp_path / "work").glob("warehouse_*.db")), "throwaway warehouses are removed"


def test_bench_refuses_unknown_scales_backends_and_repeats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        run_benchmark(["huge"], ["sqlite"], 1, work_dir=tmp_path, output=None, log=False)
    with pytest.raises(ValueError, match="unknown backend"):
        run_benchmark(["tiny"], ["oracle"], 1, work_dir=tmp_path, output=None, log=False)
    with pytest.raises(ValueError, match="repeats"):
        run_benchmark(["tiny"], ["sqlite"], 0, work_dir=tmp_path, output=None, log=False)
