"""The README's two runs on the reader's own data: the periods export and `make run` (apart from
test_readme_commands.py, whose module fixture runs the data-quality demo: each file is a few
minutes, and `make test` puts a whole file on one worker)."""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

from saas_metrics.calendar import add_months, last_complete_month
from saas_metrics.config import PROJECT_ROOT
from saas_metrics_tests.cli.test_readme_commands import _assert_clean_run, _run


def test_periods_export_runs_as_shown(tmp_path: Path) -> None:
    """The README's 'Billing from a periods export': one file, three settings, a run."""
    mine = tmp_path / "mine"
    mine.mkdir()
    with (mine / "subscription_periods.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subscription_id", "customer_id", "start_date", "end_date", "monthly_amount"])
        writer.writerows([["s1", "c1", "2022-01-01", "", "100"], ["s2", "c2", "2024-03-15", "2024-06-01", "250"],
                          ["s3", "c3", "2024-02-01", "", "40"]])
    env = {"SAAS_METRICS_SOURCES_DIR": str(mine), "SAAS_METRICS_START_MONTH": "2024-01",
           "SAAS_METRICS_END_MONTH": "2024-12", "SAAS_METRICS_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'mine.db'}",
           "DAGSTER_HOME": str(tmp_path / "home"), "SAAS_METRICS_DATA_DIR": str(tmp_path / "data")}
    proc = _run(["saas-metrics", "run"], env, tmp_path)
    _assert_clean_run(proc)
    assert re.search(r"2024-12 .*?\b140\b", proc.stdout), proc.stdout[-3000:]  # s1 100 + s3 40


def test_make_run_materialises_the_sample_data(tmp_path: Path) -> None:
    """`make run` is `saas-metrics run --generate-if-missing` (checked on the Makefile): here on a small
    generated company already in the data folder, so the test does not spend minutes generating."""
    recipe = subprocess.run(["make", "-n", "run"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    assert "saas-metrics run --generate-if-missing" in recipe
    data = tmp_path / "data"
    gen = _run(["saas-metrics", "generate-sample-data", "--customers", "40", "--months", "3",
                "--out", str(data / "sources")], {}, tmp_path)
    assert gen.returncode == 0, gen.stderr[-2000:]
    env = {"SAAS_METRICS_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home"),
           "SAAS_METRICS_START_MONTH": add_months(last_complete_month(), -2).strftime("%Y-%m")}
    _assert_clean_run(_run(["saas-metrics", "run", "--generate-if-missing"], env, tmp_path))
    assert (data / "warehouse.db").stat().st_size > 100_000
