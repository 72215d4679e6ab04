"""A month run through a warm landing cache stores exactly what a run that parses the CSV exports
gives: every raw and staging table, the KPIs and the count of rows outside the partitions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd

from saas_metrics.config import Settings
from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.defs.source_assets import raw_storage_schema, stg_storage_schema
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings, read_sorted, run_months

START = dt.date(2024, 7, 1)
MONTH = dt.date(2025, 3, 1)


def _outside_counts(instance: dg.DagsterInstance) -> dict[str, int]:
    """rows_outside_partitions of every raw asset materialised in the instance's last run."""
    run = instance.get_runs(limit=1)[0]
    out = {}
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = record.dagster_event.event_specific_data.materialization
        metadata = materialization.metadata
        if "rows_outside_partitions" in metadata:
            out[materialization.asset_key.to_user_string()] = metadata["rows_outside_partitions"].value
    return out


def _tables(url: str) -> dict[str, pd.DataFrame]:
    out = {}
    for table in SCHEMAS:
        for schema in (raw_storage_schema(table), stg_storage_schema(table)):
            out[schema.name] = read_sorted(url, schema, ["_source_file", "_source_line"])
    out[KPI_MONTHLY.name] = read_sorted(url, KPI_MONTHLY, list(KPI_MONTHLY.key))
    return out


def test_a_warm_cache_month_equals_a_month_parsed_from_the_exports(small_sources: Path, tmp_path: Path) -> None:
    plain_url = f"sqlite:///{tmp_path / 'plain.db'}"
    plain = make_settings(small_sources, plain_url, start=START, end=END_MONTH, landing_cache_dir=None)
    plain_instance = ephemeral_instance()
    run_months(plain, MONTH, MONTH, instance=plain_instance)
    assert not (tmp_path / "cache").exists()

    cached_url = f"sqlite:///{tmp_path / 'cached.db'}"
    cached = make_settings(small_sources, cached_url, start=START, end=END_MONTH, landing_cache_dir=tmp_path / "cache")
    run_months(cached, MONTH, MONTH)  # cold: parses the exports and fills the cache
    assert len(list((tmp_path / "cache").glob("*.parquet"))) >= 20
    warm_instance = ephemeral_instance()
    run_months(cached, MONTH, MONTH, instance=warm_instance)  # warm: reads the month's rows from Parquet

    expected, actual = _tables(plain_url), _tables(cached_url)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(actual[name], frame, obj=name)
    assert sum(len(f) for f in expected.values()) > 1000
    outside = _outside_counts(plain_instance)
    assert outside == _outside_counts(warm_instance)
    assert sum(outside.values()) > 0  # the exports hold history before the first partition


def test_an_empty_setting_disables_the_cache(monkeypatch) -> None:
    monkeypatch.setenv("SAAS_METRICS_LANDING_CACHE_DIR", "")
    assert Settings().landing_cache_dir is None
