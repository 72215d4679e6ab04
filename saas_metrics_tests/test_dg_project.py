"""The repository is a `dg` project ([tool.dg] in pyproject.toml): `dg check defs` loads the code
location and `dg list defs` lists what it holds, run from the repository root as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from saas_metrics.runner import JOB_NAME

ROOT = Path(__file__).resolve().parents[1]
DG = Path(sys.executable).with_name("dg")


def run_dg(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """``dg <args>`` from the repository root, with a throwaway Dagster home and this checkout's
    package first on the path (the venv's editable install may point at another checkout)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {**os.environ, "DAGSTER_HOME": str(home),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    # Loading the definitions imports GX and builds every asset; the bound only stops a hung command.
    return subprocess.run([str(DG), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dg_home")


def test_dg_check_defs_loads_the_code_location(dagster_home: Path) -> None:
    result = run_dg(["check", "defs"], dagster_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_lists_the_pipeline(dagster_home: Path) -> None:
    result = run_dg(["list", "defs", "--json"], dagster_home)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assets = {a["asset_key"]: a for a in listed["assets"]}
    assert {"raw_billing_invoices", "stg_billing_invoices", "mrr_movements", "kpi_monthly", "kpi_dashboard"} <= set(assets)
    assert assets["raw_billing_invoices"]["group_name"] == "raw_billing"
    assert assets["kpi_monthly"]["group_name"] == "reports"
    assert [job["name"] for job in listed["jobs"]] == [JOB_NAME]
    checks = {(c["asset_key"], c["name"]) for c in listed["asset_checks"]}
    assert ("mrr_movements", "one_movement_per_customer_month") in checks
