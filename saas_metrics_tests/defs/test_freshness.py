"""Freshness asset checks: hand-computed ages, and the checks executed by Dagster on a SQLite warehouse."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.alerts.rules import KpiFreshness, SourceFreshness
from saas_metrics.config import Settings
from saas_metrics.defs.freshness import (
    FRESHNESS_STEP,
    build_freshness_checks,
    build_freshness_schedule,
    evaluate_kpi_freshness,
    evaluate_source_freshness,
    newest_record_time,
)
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.warehouse import Warehouse

NOW = dt.datetime(2024, 6, 10, 12, 0)
END_OF_MAY = dt.datetime(2024, 6, 1)


def test_source_freshness_limits_are_inclusive_and_hand_computed() -> None:
    policy = SourceFreshness(max_file_age_hours=48, max_record_age_days=3)
    passed, problems, meta = evaluate_source_freshness(
        dt.datetime(2024, 6, 8, 12, 0), dt.datetime(2024, 5, 29, 0, 0), policy,
        now=NOW, reference=END_OF_MAY, has_time_column=True)
    assert passed and problems == [] and meta["file_age_hours"] == 48.0 and meta["record_age_days"] == 3.0
    passed, problems, meta = evaluate_source_freshness(
        dt.datetime(2024, 6, 8, 11, 0), dt.datetime(2024, 5, 28, 12, 0), policy,
        now=NOW, reference=END_OF_MAY, has_time_column=True)
    assert not passed
    assert problems == ["newest landing file is 49.0 h old (limit 48 h)",
                        "newest record is 3.5 days before 2024-06-01 00:00 (limit 3 days)"]
    # Snapshots have no records to age; a limit set to null is not checked.
    passed, problems, _ = evaluate_source_freshness(None, None, SourceFreshness(max_file_age_hours=None), now=NOW,
                                                    reference=END_OF_MAY, has_time_column=False)
    assert passed and problems == []
    passed, problems, _ = evaluate_source_freshness(None, None, policy, now=NOW, reference=END_OF_MAY, has_time_column=True)
    assert problems == ["no landing file", "no clean record loaded"]


def test_kpi_freshness() -> None:
    policy = KpiFreshness(max_age_hours=36)
    ok, problems, meta = evaluate_kpi_freshness(dt.datetime(2024, 6, 9, 0, 0), 12, policy, now=NOW, last_month=dt.date(2024, 5, 1))
    assert ok and meta["age_hours"] == 36.0
    ok, problems, _ = evaluate_kpi_freshness(None, 0, policy, now=NOW, last_month=dt.date(2024, 5, 1))
    assert problems == ["kpi_monthly was never materialised", "no kpi_monthly rows for the last complete month 2024-05"]


def test_newest_record_ignores_quarantined_rows(tmp_path: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    assert newest_record_time(warehouse, "raw_billing_invoices", "created_at") is None
    frame = pd.DataFrame({"created_at": pd.to_datetime(["2024-05-30 10:00", "2030-01-01 00:00"]),
                          "_quarantine_reason": [None, "date in the future"]})
    frame.to_sql("raw_billing_invoices", warehouse.engine, index=False)
    assert newest_record_time(warehouse, "raw_billing_invoices", "created_at") == dt.datetime(2024, 5, 30, 10, 0)


def test_newest_record_of_a_monthly_table_skips_months_with_only_quarantined_rows(tmp_path: Path) -> None:
    """With a month column the newest month is probed first (month index), then older ones."""
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    frame = pd.DataFrame({
        "month": pd.to_datetime(["2024-04-01", "2024-04-01", "2024-05-01", "2024-06-01"]).date,
        "created_at": pd.to_datetime(["2024-04-03 00:00", "2024-04-20 08:00", "2024-05-02 00:00", "2024-06-09 00:00"]),
        "_quarantine_reason": [None, None, "duplicate", "duplicate"],
    })
    frame.to_sql("raw_billing_invoices", warehouse.engine, index=False)
    assert newest_record_time(warehouse, "raw_billing_invoices", "created_at") == dt.datetime(2024, 4, 20, 8, 0)
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text("UPDATE raw_billing_invoices SET _quarantine_reason = 'x'"))
    assert newest_record_time(warehouse, "raw_billing_invoices", "created_at") is None


@pytest.fixture
def location(tmp_path: Path):
    """A code location with a raw fact asset, a snapshot asset, kpi_monthly and the freshness checks."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    sources = tmp_path / "sources"
    (sources / "billing").mkdir(parents=True)
    landing = sources / "billing" / "invoices.csv"
    landing.write_text("id\n1\n")
    settings = Settings(sources_dir=sources, warehouse_url=url, end_month=dt.date(2024, 5, 1))
    partitions = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", end_date="2024-06-01", fmt="%Y-%m-%d")

    @dg.asset(name="raw_billing_invoices", partitions_def=partitions)
    def raw_billing_invoices(warehouse: WarehouseResource) -> None:
        pd.DataFrame({"created_at": pd.to_datetime(["2024-05-30 10:00"]), "_quarantine_reason": [None]}).to_sql(
            "raw_billing_invoices", warehouse.warehouse.engine, index=False, if_exists="replace")

    @dg.asset(name="raw_billing_customers")
    def raw_billing_customers() -> None:
        return None

    @dg.asset(name="kpi_monthly", partitions_def=partitions)
    def kpi_monthly(context, warehouse: WarehouseResource) -> None:
        month = dt.date.fromisoformat(context.partition_key)
        rows = pd.DataFrame({"month": [month], "metric": ["mrr"], "segment": ["all"], "segment_value": ["all"],
                             "value": [1.0], "unit": ["currency"], "is_provisional": [False]})
        warehouse.warehouse.replace(KPI_MONTHLY, rows, (month, (pd.Timestamp(month) + pd.DateOffset(months=1)).date()))

    checks = build_freshness_checks(
        ["raw_billing_invoices", "raw_billing_customers"], settings=settings,
        system_of={"billing_invoices": "billing", "billing_customers": "billing"},
        time_column_of={"billing_invoices": "created_at", "billing_customers": None},
        list_files=lambda folder: {"billing": sorted((folder / "billing").glob("*.csv"))},
    )
    schedule = build_freshness_schedule(checks)
    defs = dg.Definitions(assets=[raw_billing_invoices, raw_billing_customers, kpi_monthly], asset_checks=checks,
                          schedules=[schedule], resources={"warehouse": WarehouseResource(url=url)})
    return defs, schedule, landing


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}


def test_checks_run_with_their_assets_and_from_the_schedule(location) -> None:
    defs, schedule, landing = location
    assert schedule.cron_schedule == "15 * * * *"
    check_job = defs.resolve_job_def(schedule.job_name)
    with dg.instance_for_test() as instance:
        # Nothing loaded yet: the fact table has no records, kpi_monthly was never materialised.
        before = evaluations(check_job.execute_in_process(instance=instance))
        assert set(before) == {"raw_billing_invoices:source_freshness", "raw_billing_customers:source_freshness",
                               "kpi_monthly:kpi_freshness"}
        assert not before["raw_billing_invoices:source_freshness"].passed
        assert before["raw_billing_invoices:source_freshness"].description == "no clean record loaded"
        assert before["raw_billing_customers:source_freshness"].passed  # a fresh file; snapshots have no record age
        assert before["kpi_monthly:kpi_freshness"].severity == dg.AssetCheckSeverity.WARN
        assert not before["kpi_monthly:kpi_freshness"].passed

        # Materialising May (the last complete month) with its checks makes everything fresh:
        # newest record 2024-05-30 10:00 is 1.6 days before 2024-06-01.
        job = dg.define_asset_job("all", selection=dg.AssetSelection.all()).resolve(asset_graph=defs.resolve_asset_graph())
        after = evaluations(job.execute_in_process(instance=instance, partition_key="2024-05-01",
                                                   resources={"warehouse": defs.resources["warehouse"]}))
        assert after["raw_billing_invoices:source_freshness"].passed
        assert after["raw_billing_invoices:source_freshness"].metadata["record_age_days"].value == pytest.approx(1.58)
        assert after["kpi_monthly:kpi_freshness"].passed

        # The landing file ages past 48 h: the source check fails, naming the age.
        old = landing.stat().st_mtime - 50 * 3600
        os.utime(landing, (old, old))
        aged = evaluations(check_job.execute_in_process(instance=instance))
        description = aged["raw_billing_invoices:source_freshness"].description
        assert description.startswith("newest landing file is 50.0 h old (limit 48 h)")


def test_unknown_raw_table_is_refused() -> None:
    with pytest.raises(ValueError, match="raw_mystery: no source system known for table 'mystery'"):
        build_freshness_checks(["raw_mystery"], system_of={}, time_column_of={})


def test_kpi_check_table_count_uses_the_month_window(tmp_path: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    warehouse.ensure_table(KPI_MONTHLY)
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO kpi_monthly (month, metric, segment, segment_value) VALUES ('2024-04-01', 'mrr', 'all', 'all')"))
    assert warehouse.count("kpi_monthly", window=(dt.date(2024, 5, 1), dt.date(2024, 6, 1))) == 0


def test_kpi_monthly_carries_dagsters_freshness_policy_from_the_rules(tmp_path: Path) -> None:
    from saas_metrics.defs.freshness import kpi_freshness_policy

    # The packaged rules: 36 h, as the kpi_freshness check measures it.
    assert kpi_freshness_policy().fail_window.to_timedelta() == dt.timedelta(hours=36)  # type: ignore[union-attr]
    rules = tmp_path / "rules.yaml"
    rules.write_text("freshness:\n  kpi_monthly:\n    max_age_hours: 6\n")
    assert kpi_freshness_policy(rules).fail_window.to_timedelta() == dt.timedelta(hours=6)  # type: ignore[union-attr]
    rules.write_text("freshness:\n  kpi_monthly:\n    max_age_hours: null\n")
    assert kpi_freshness_policy(rules) is None


def test_every_freshness_check_is_evaluated_by_one_step(location) -> None:
    defs, schedule, _ = location
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(schedule.job_name).execute_in_process(instance=instance)
    steps = sorted(e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS)
    assert steps == [FRESHNESS_STEP]
    assert len(result.get_asset_check_evaluations()) == 3
