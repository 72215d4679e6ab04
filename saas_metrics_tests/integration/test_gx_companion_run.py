"""A run whose GX validations and Data Docs are done by the companion process (the default) stores
what a run doing them in its own process stores: the same rows, quarantine, check results and
Data Docs pages, all rendered by the time the run has ended; the run's log names the companion and
says it was kept after the run's last validation, and its validating steps run before its metric
steps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from saas_metrics.config import QualityPolicy
from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.defs.common import is_partitioned_table
from saas_metrics.defs.ingest import STEP_PREFIX
from saas_metrics.defs.source_assets import raw_storage_schema
from saas_metrics.quality.data_docs import FINGERPRINT_FILE, INDEX_FILE
from saas_metrics.quality.quarantine import QUARANTINED_ROWS
from saas_metrics.quality.replay import VALIDATION_RESULTS
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.warehouse import Warehouse
from saas_metrics_tests.conftest import END_MONTH, SMALL_START
from saas_metrics_tests.integration.helpers import make_settings, run_months, sqlite_copy

MONTH = dt.date(2025, 3, 1)
#: The runs cover MONTH and the next: a backfill, whose last validation decides whether the
#: companion is kept (defs/resources.py); the tables compared are MONTH's.
LAST = dt.date(2025, 4, 1)
#: Check metadata that names the run, its time or where its files are, not the verdicts.
RUN_SPECIFIC = {"data_docs", "data_docs_url", "validated_at", "validated_by_run", "run_id"}
COMPANION_LOG = "Great Expectations: validated and Data Docs rendered by companion process"


def _checks(instance: dg.DagsterInstance, run_id: str) -> dict[tuple[str, str], tuple[bool, dict[str, Any]]]:
    """Every check result of the run but the freshness checks (they measure ages, which move
    between the two runs)."""
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.asset_check_evaluation_data
        if "freshness" in evaluation.check_name:
            continue
        metadata = {k: v.value for k, v in evaluation.metadata.items() if k not in RUN_SPECIFIC}
        out[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = (evaluation.passed, metadata)
    return out


def _month_rows(url: str) -> dict[str, pd.DataFrame]:
    """The raw rows (with their quarantine annotation) of every source table (MONTH's of the
    partitioned ones), and MONTH's quarantined rows without the run's id and time."""
    warehouse = Warehouse(url)
    window = (MONTH, dt.date(2025, 4, 1))
    out = {}
    for table, schema in SCHEMAS.items():
        raw = warehouse.read(raw_storage_schema(table), window if is_partitioned_table(schema) else None)
        out[table] = raw.sort_values(list(raw.columns), kind="stable").reset_index(drop=True)
    quarantined = warehouse.read(QUARANTINED_ROWS, window).drop(columns=["run_id", "quarantined_at"])
    out["quarantined_rows"] = quarantined.sort_values(list(quarantined.columns), kind="stable").reset_index(drop=True)
    return out


def test_a_month_validated_by_the_companion_equals_one_validated_in_the_runs_process(
        small_backfill: str, small_sources: Path, tmp_path: Path) -> None:
    runs = {}
    for companion in (True, False):
        url = sqlite_copy(small_backfill, tmp_path / f"companion_{companion}.db")
        with sa.create_engine(url).begin() as conn:  # no stored validation to replay: GX validates every table
            conn.execute(sa.text(f'DELETE FROM "{VALIDATION_RESULTS.name}"'))
        settings = make_settings(small_sources, url, start=SMALL_START, end=END_MONTH,
                                 reports_dir=tmp_path / f"companion_{companion}" / "reports",
                                 quality=QualityPolicy(gx_companion=companion))
        instance = ephemeral_instance()
        outcome = run_months(settings, MONTH, LAST, instance=instance)
        said = [r.user_message for r in instance.all_logs(outcome.run_id) if r.dagster_event is None]
        # The validating steps run before every metric step (their priority, defs/ingest.py).
        order = [r.dagster_event.step_key for r in instance.all_logs(outcome.run_id, of_type=dg.DagsterEventType.STEP_START)]
        validating = [i for i, step in enumerate(order) if step.startswith(STEP_PREFIX)]
        assert validating == list(range(len(validating))) and len(validating) >= 10, order
        runs[companion] = (url, _checks(instance, outcome.run_id), said, tmp_path / f"companion_{companion}" / "gx_docs")

    url_on, checks_on, said_on, docs_on = runs[True]
    url_off, checks_off, said_off, docs_off = runs[False]
    assert sum(COMPANION_LOG in line for line in said_on) == 1 and not any(COMPANION_LOG in line for line in said_off)
    assert not [line for line in said_on if line.startswith("Data Docs: ")]  # no page failed
    # The sample's two months leave the companion well under the bound: kept for the next run.
    [kept] = [line for line in said_on if line.startswith("Great Expectations: companion process")]
    assert "kept after the run's last validation" in kept, kept
    # Every source table validated in full in both runs, with the same verdicts and metadata.
    full = {asset for (asset, _), (_, meta) in checks_on.items() if meta.get("validation") == "full"}
    assert {f"raw_{table}" for table in SCHEMAS} - full == set()
    assert checks_on == checks_off
    on_rows, off_rows = _month_rows(url_on), _month_rows(url_off)
    assert on_rows.keys() == off_rows.keys()
    for name in on_rows:
        pd.testing.assert_frame_equal(on_rows[name], off_rows[name], obj=name)
    # The pages exist once the run has returned, and show the same validations.
    for table in SCHEMAS:
        assert (docs_on / table / INDEX_FILE).is_file(), table
        assert (docs_on / table / FINGERPRINT_FILE).read_text() == (docs_off / table / FINGERPRINT_FILE).read_text()
    assert (docs_on / INDEX_FILE).is_file()
