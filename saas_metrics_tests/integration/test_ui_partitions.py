"""A single-run backfill read back from the Dagster instance the way the UI reads it: each
partition's materialization carries that month's own numbers and row count (the Plots tab), and
each partitioned check has an evaluation per month (the check's partition bar)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.defs.metric_checks import METRIC_CHECK_SPECS
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.warehouse import Warehouse
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings, run_months

START = dt.date(2024, 7, 1)
RANGE = (dt.date(2025, 3, 1), END_MONTH)
KEYS = ["2025-03-01", "2025-04-01", "2025-05-01", "2025-06-01"]


@pytest.fixture(scope="module")
def ranged_run(small_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dg.DagsterInstance]:
    """Four months as one single-run backfill, recorded in a persistent (SQLite) instance as `make ui` keeps it."""
    root = tmp_path_factory.mktemp("ui")
    url = f"sqlite:///{root / 'warehouse.db'}"
    (root / "home").mkdir()
    instance = dg.DagsterInstance.from_config(str(root / "home"))
    settings = make_settings(small_sources, url, start=START, end=END_MONTH)
    outcome = run_months(settings, *RANGE, instance=instance)
    assert not outcome.steps_failed and not outcome.steps_skipped
    return url, instance


def _materializations(instance: dg.DagsterInstance, asset: str) -> dict[str, dict[str, object]]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    out: dict[str, dict[str, object]] = {}
    for record in records:  # newest first
        event = record.asset_materialization
        assert event is not None
        out.setdefault(event.partition or "", {k: v.value for k, v in event.metadata.items()})
    return out


def _headline(url: str, metric: str) -> dict[str, float]:
    kpi = Warehouse(url).read(KPI_MONTHLY, (RANGE[0], dt.date(2025, 7, 1)))
    rows = kpi[(kpi["metric"] == metric) & (kpi["segment"] == "all")]
    return {pd.Timestamp(m).strftime("%Y-%m-%d"): float(v) for m, v in zip(rows["month"], rows["value"], strict=True)}


@pytest.mark.parametrize("asset", ["kpi_monthly", "kpi_revenue", "customer_mrr"])
def test_each_partition_records_its_own_mrr(ranged_run: tuple[str, dg.DagsterInstance], asset: str) -> None:
    url, instance = ranged_run
    expected = _headline(url, "mrr")
    recorded = _materializations(instance, asset)
    assert sorted(recorded) == KEYS
    for key in KEYS:
        assert recorded[key]["mrr"] == pytest.approx(expected[key], abs=0.005), (asset, key)
    assert len({round(float(recorded[k]["mrr"]), 2) for k in KEYS}) == len(KEYS), "a flat line is the old bug"


@pytest.mark.parametrize("asset", ["kpi_monthly", "customer_mrr", "mrr_movements", "raw_billing_invoices", "usage_activity"])
def test_each_partition_records_its_own_row_count_and_window(ranged_run: tuple[str, dg.DagsterInstance], asset: str) -> None:
    url, instance = ranged_run
    recorded = _materializations(instance, asset)
    with Warehouse(url).engine.connect() as conn:
        counts = {str(m)[:10]: n for m, n in conn.execute(sa.text(f'SELECT month, COUNT(*) FROM "{asset}" GROUP BY month'))}
    for key in KEYS:
        assert recorded[key]["dagster/row_count"] == counts.get(key, 0), (asset, key)
        end = (pd.Timestamp(key) + pd.DateOffset(months=1)).strftime("%Y-%m-%d")
        assert recorded[key]["window"] == f"[{key}, {end})"


def test_every_kpi_asset_carries_its_headline_numbers_formatted(ranged_run: tuple[str, dg.DagsterInstance]) -> None:
    _, instance = ranged_run
    expectations = {"kpi_revenue": "arr", "kpi_ltv": "ltv", "kpi_acquisition": "cac", "kpi_funnel": "leads",
                    "kpi_engagement": "active_users", "kpi_segments": "mrr[plan_tier=", "kpi_monthly": "nrr"}
    for asset, key in expectations.items():
        june = _materializations(instance, asset)["2025-06-01"]
        assert any(k.startswith(key) and isinstance(v, float) for k, v in june.items()), (asset, sorted(june))
        assert "2025-06" in str(june["kpis"]), asset
    table = str(_materializations(instance, "kpi_monthly")["2025-06-01"]["kpis"])
    assert "| mrr | $" in table and "%" in table  # money with its currency, rates in percent
    assert "0.0287" not in table and "e+05" not in table


@pytest.mark.parametrize("spec", METRIC_CHECK_SPECS, ids=lambda s: s.name)
def test_metric_checks_have_a_result_for_every_partition(ranged_run: tuple[str, dg.DagsterInstance], spec) -> None:
    _, instance = ranged_run
    key = dg.AssetCheckKey(dg.AssetKey(spec.asset), spec.name)
    infos = {i.partition_key: i for i in instance.event_log_storage.get_asset_check_partition_info([key])}
    for partition in KEYS:
        info = infos[partition]
        assert info.latest_execution_status.value in ("SUCCEEDED", "FAILED"), (partition, info.latest_execution_status)
        assert info.is_current, f"{spec.name} {partition} does not target the partition's latest materialization"
    assert None not in infos, "no result filed against no partition"
    passed = [infos[p].latest_execution_status.value == "SUCCEEDED" for p in KEYS]
    if spec.name in ("mrr_bridge", "one_movement_per_customer_month", "headline_completeness"):
        assert all(passed), spec.name


def test_lineage_flows_raw_then_staging_then_metrics(small_sources: Path, tmp_path: Path) -> None:
    """No raw table depends on a staging table (the group view drew raw_billing downstream of staging)."""
    from saas_metrics.definitions import build_definitions

    settings = make_settings(small_sources, f"sqlite:///{tmp_path / 'w.db'}", start=START, end=END_MONTH)
    graph = build_definitions(settings).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        name = key.to_user_string()
        parents = {p.to_user_string() for p in graph.get(key).parent_keys}
        if name.startswith("raw_"):
            assert all(p.startswith("raw_") for p in parents), (name, parents)
        if name.startswith("stg_"):
            assert parents == {"raw_" + name.removeprefix("stg_")}, (name, parents)
    assert {"raw_billing_customers", "raw_fx_rates"} <= {
        p.to_user_string() for p in graph.get(dg.AssetKey("raw_billing_invoices")).parent_keys}


def test_every_job_runs_in_process(small_sources: Path, tmp_path: Path) -> None:
    """The UI, schedules, sensors and backfills run one process per run, as the CLI does (not a
    process per step: each paid every import again)."""
    from saas_metrics.definitions import build_definitions

    settings = make_settings(small_sources, f"sqlite:///{tmp_path / 'w.db'}", start=START, end=END_MONTH)
    defs = build_definitions(settings)
    for job in defs.resolve_all_job_defs():
        assert job.executor_def.name == "in_process", job.name
