"""Metric checks as Dagster asset checks and GX Data Docs.

One clean single-run range (3 months of the small sample company, Data Docs on)
and one single-partition re-run: every check passes on clean data, the bridge
reads M-1 from the warehouse, the Data Docs links exist. The failure paths of the
warehouse-reading check functions run on a tampered copy of the warehouse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.defs.metric_checks import (
    REQUIRED_HEADLINE_METRICS,
    bridge_outcome,
    completeness_outcome,
    movements_outcome,
    rate_bounds_outcome,
)
from saas_metrics.runner import RunOutcome, materialise
from saas_metrics.warehouse import Warehouse
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings, sqlite_copy

START = dt.date(2025, 4, 1)
WINDOW = (START, dt.date(2025, 7, 1))
METRIC_CHECKS = {
    ("kpi_revenue", "mrr_bridge"),
    ("mrr_movements", "one_movement_per_customer_month"),
    ("kpi_monthly", "rate_bounds"),
    ("kpi_monthly", "headline_completeness"),
}
#: The one check clean sample data may fail, and why: source freshness (defs/freshness.py) compares the
#: latest rare events (refunds, NPS responses) of a small company with its rules (docs/quality.md).
DOCUMENTED_FAILURE = "source_freshness"


def undocumented_failures(outcome: RunOutcome) -> list[tuple[str, str, str]]:
    return [c for c in outcome.checks_failed if not (c[1] == DOCUMENTED_FAILURE and c[2] == "WARN")]


def check_evaluations(instance: dg.DagsterInstance, run_id: str) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(asset, check) -> the check's evaluation in the run."""
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.asset_check_evaluation_data
        out[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = evaluation
    return out


def check_evaluation_list(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    return [record.dagster_event.asset_check_evaluation_data
            for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]


@dataclass
class CleanRun:
    url: str
    root: Path
    outcome: RunOutcome
    one_month: RunOutcome
    instance: dg.DagsterInstance


@pytest.fixture(scope="module")
def clean(small_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    root = tmp_path_factory.mktemp("metric_checks")
    url = f"sqlite:///{root / 'warehouse.db'}"
    settings = make_settings(small_sources, url, start=START, end=END_MONTH, reports_dir=root / "reports")
    instance = ephemeral_instance()
    outcome = materialise(settings, instance=instance)
    one_month = materialise(settings, dt.date(2025, 5, 1), dt.date(2025, 5, 1), instance=instance)
    return CleanRun(url, root, outcome, one_month, instance)


def test_clean_sample_data_passes_every_check(clean: CleanRun) -> None:
    assert clean.outcome.success, clean.outcome.error
    assert undocumented_failures(clean.outcome) == []
    evaluations = check_evaluations(clean.instance, clean.outcome.run_id)
    assert set(evaluations) >= METRIC_CHECKS
    assert all(evaluations[key].passed for key in METRIC_CHECKS)
    # One evaluation per month of the single-run backfill, each for its own partition; April's M-1
    # (March) was never materialised, so April's bridge checks no month and May's and June's one each.
    bridges = {e.partition: e for e in check_evaluation_list(clean.instance, clean.outcome.run_id)
               if e.check_name == "mrr_bridge"}
    assert sorted(bridges) == ["2025-04-01", "2025-05-01", "2025-06-01"]
    assert [bridges[p].metadata["months_checked"].value for p in sorted(bridges)] == [0, 1, 1]
    assert bridges["2025-05-01"].metadata["window"].value == "[2025-05-01, 2025-06-01)"
    completeness = evaluations[("kpi_monthly", "headline_completeness")]
    assert completeness.metadata["missing"].value == 0
    assert completeness.metadata["metrics"].value == len(REQUIRED_HEADLINE_METRICS)


def test_checks_run_for_one_partition_reading_the_previous_month(clean: CleanRun) -> None:
    assert clean.one_month.success, clean.one_month.error
    assert undocumented_failures(clean.one_month) == []
    evaluations = check_evaluations(clean.instance, clean.one_month.run_id)
    assert all(evaluations[key].passed for key in METRIC_CHECKS)
    bridge = evaluations[("kpi_revenue", "mrr_bridge")]
    assert bridge.metadata["months_checked"].value == 1  # May, with April read from the warehouse
    assert bridge.metadata["window"].value == "[2025-05-01, 2025-06-01)"
    assert evaluations[("mrr_movements", "one_movement_per_customer_month")].metadata["rows"].value > 50


def test_data_docs_are_built_under_the_settings_folder_and_linked(clean: CleanRun) -> None:
    evaluations = check_evaluations(clean.instance, clean.outcome.run_id)
    schema = evaluations[("raw_billing_invoices", "billing_invoices_schema")]
    link = Path(schema.metadata["data_docs"].value)
    assert link == clean.root / "gx_docs" / "billing_invoices" / "index.html"
    assert link.is_file() and "billing_invoices" in link.read_text(encoding="utf-8")
    # The UI links the page on the docs server of `make ui` (a browser refuses file:// from an http page).
    assert schema.metadata["data_docs_url"].value == "http://127.0.0.1:3001/gx_docs/billing_invoices/index.html"
    root_index = (clean.root / "gx_docs" / "index.html").read_text(encoding="utf-8")
    assert 'href="billing_invoices/index.html"' in root_index and 'href="fx_rates/index.html"' in root_index


@pytest.fixture
def tampered(clean: CleanRun, tmp_path: Path) -> Warehouse:
    """A copy of the clean warehouse to break."""
    return Warehouse(sqlite_copy(clean.url, tmp_path / "tampered.db"))


def _execute(wh: Warehouse, sql: str, **params: object) -> None:
    with wh.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_bridge_check_fails_when_mrr_is_off_by_a_cent(tampered: Warehouse) -> None:
    assert bridge_outcome(tampered, WINDOW).passed
    _execute(tampered, "UPDATE kpi_revenue SET value = value + 0.01 WHERE metric = 'mrr' AND segment = 'all' AND month = :m",
             m=dt.date(2025, 6, 1))
    outcome = bridge_outcome(tampered, WINDOW)
    assert not outcome.passed and outcome.blocking and outcome.severity == "ERROR"
    assert outcome.description.startswith("MRR bridge broken in 1 of 2 month(s), first 2025-06-01 (off by +0.0100)")


def test_movement_check_fails_on_a_customer_counted_twice(tampered: Warehouse) -> None:
    _execute(tampered, "INSERT INTO mrr_movements SELECT * FROM mrr_movements WHERE month = :m LIMIT 1", m=dt.date(2025, 5, 1))
    outcome = movements_outcome(tampered, WINDOW)
    assert not outcome.passed and outcome.blocking
    assert outcome.description == "1 customer-months with more than one movement"
    assert outcome.metadata["sample"][0]["month"] == "2025-05-01"


def test_rate_and_completeness_checks_warn(tampered: Warehouse) -> None:
    _execute(tampered, "UPDATE kpi_monthly SET value = 1.5 WHERE metric = 'grr' AND segment = 'all' AND month = :m",
             m=dt.date(2025, 4, 1))
    _execute(tampered, "DELETE FROM kpi_monthly WHERE metric = 'arpa' AND segment = 'all' AND month = :m", m=dt.date(2025, 6, 1))
    rates = rate_bounds_outcome(tampered, WINDOW)
    assert not rates.passed and rates.severity == "WARN" and not rates.blocking
    assert rates.metadata["sample"] == [
        {"metric": "grr", "month": "2025-04-01", "segment": "all=all", "value": 1.5, "bounds": [0.0, 1.0]}
    ]
    complete = completeness_outcome(tampered, WINDOW)
    assert not complete.passed and complete.severity == "WARN"
    assert complete.metadata["sample"] == [{"month": "2025-06-01", "metric": "arpa"}]
    assert pd.Timestamp(complete.metadata["sample"][0]["month"]) == pd.Timestamp(END_MONTH)
