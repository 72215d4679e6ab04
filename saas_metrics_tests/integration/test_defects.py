"""Defect injection end to end: the simulator corrupts 2 % of the
rows and logs each one in ``_ground_truth/defects.csv`` (file, line, column, defect);
the pipeline must quarantine EVERY logged defect and nothing else.

Exceptions, asserted precisely:

* a defect on a row dated outside the configured partitions (history before
  ``start_month``) is not read into any partition, so it is neither clean nor
  quarantined (docs/quality.md 'Rows outside the partitions');
* a clean row whose parent row was quarantined (an invoice of a customer whose
  id was nulled, the items of an orphan subscription) is quarantined for an
  unresolved reference: nothing downstream may point at a row staging lacks.

The data ends with the last complete month (not the pinned END_MONTH) so that the
simulator's future dates (400+ days after its horizon) are after ``now``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.calendar import add_months, last_complete_month
from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.defs.source_assets import (
    REFERENCES,
    reconcile_counts,
    stg_storage_schema,
)
from saas_metrics.defs.source_reads import place_in_months
from saas_metrics.quality.quarantine import QUARANTINED_ROWS
from saas_metrics.runner import RunOutcome, materialise
from saas_metrics.sources.registry import read_source_table
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.warehouse import Warehouse
from saas_metrics_tests.integration.helpers import make_settings

MONTHS = 4


@dataclass
class DefectRun:
    url: str
    sources: Path
    outcome: RunOutcome
    defects: pd.DataFrame
    quarantined: pd.DataFrame


@pytest.fixture(scope="module")
def defect_run(tmp_path_factory: pytest.TempPathFactory) -> DefectRun:
    from saas_metrics.sample_data import generate

    root = tmp_path_factory.mktemp("defects")
    end = last_complete_month()
    generate(root / "sources", seed=11, customers=60, months=MONTHS, end_month=end, defect_rate=0.02)
    url = f"sqlite:///{root / 'warehouse.db'}"
    # With 60 customers one quarantined customer drags all its invoices and charges along,
    # which is > 5 % of a month's rows: the blocking unresolved-reference threshold is for
    # an incomplete parent table at real volumes, so it is relaxed for this tiny company.
    settings = make_settings(root / "sources", url, start=add_months(end, -(MONTHS - 1)), end=end,
                             quality={"data_docs": False})
    outcome = materialise(settings, instance=ephemeral_instance())
    defects = pd.read_csv(root / "sources" / "_ground_truth" / "defects.csv", dtype=str, keep_default_na=False)
    defects["line"] = defects["line"].astype(int)
    quarantined = Warehouse(url).read(QUARANTINED_ROWS)
    quarantined["source_line"] = quarantined["source_line"].astype(int)
    return DefectRun(url, root / "sources", outcome, defects, quarantined)


def _outside_partitions(run: DefectRun, first: pd.Timestamp, last: pd.Timestamp) -> set[tuple[str, int]]:
    """(file, line) of the rows of every partitioned table dated outside the partitions."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    out: set[tuple[str, int]] = set()
    for table, schema in SCHEMAS.items():
        if schema.time_column is None:
            continue
        frame = read_source_table(table, run.sources)
        months = place_in_months(frame, schema.time_column, first.date(), last.date(), now=now)
        rows = frame[months.isna().to_numpy()]
        out |= set(zip(rows["_source_file"], rows["_source_line"].astype(int), strict=True))
    return out


def test_the_run_succeeds_with_defects_and_loses_nothing(defect_run: DefectRun) -> None:
    assert defect_run.outcome.success, defect_run.outcome.error
    assert not [c for c in defect_run.outcome.checks_failed if c[2] == "ERROR"]
    wh = Warehouse(defect_run.url)
    for table, schema in SCHEMAS.items():
        counts = reconcile_counts(wh, table, schema.time_column is not None)
        assert (counts["raw"] == counts["clean"] + counts["quarantined"]).all(), table
        if schema.time_column is not None and len(counts) > 2:
            # Counting only some months (what a run's check does) gives exactly those months' rows.
            first, last = counts["month"].iloc[1], counts["month"].iloc[-2]
            some = reconcile_counts(wh, table, True, (first, last))
            expected = counts[(counts["month"] >= first) & (counts["month"] <= last)].reset_index(drop=True)
            pd.testing.assert_frame_equal(some, expected, check_dtype=False)
    assert len(defect_run.defects) > 150  # a real sample of every kind
    assert set(defect_run.defects["defect"]) >= {
        "duplicate_id", "future_date", "unparseable_date", "null_key", "negative_amount", "non_numeric_amount",
        "unknown_currency",
    }


def test_every_injected_defect_is_quarantined(defect_run: DefectRun) -> None:
    end = last_complete_month()
    first, last = pd.Timestamp(add_months(end, -(MONTHS - 1))), pd.Timestamp(end)
    caught = set(zip(defect_run.quarantined["source_file"], defect_run.quarantined["source_line"], strict=True))
    logged = set(zip(defect_run.defects["file"], defect_run.defects["line"], strict=True))
    missed = logged - caught
    outside = _outside_partitions(defect_run, first, last)
    assert missed <= outside, f"defects neither quarantined nor outside the partitions: {sorted(missed - outside)}"
    assert len(logged & caught) >= 0.9 * len(logged)


def test_no_clean_row_is_quarantined_except_children_of_quarantined_parents(defect_run: DefectRun) -> None:
    logged = set(zip(defect_run.defects["file"], defect_run.defects["line"], strict=True))
    q = defect_run.quarantined
    unlogged = q[[(f, int(n)) not in logged for f, n in zip(q["source_file"], q["source_line"], strict=True)]]
    assert set(unlogged["rule"]) <= {"reference"}, unlogged[["source_file", "source_line", "rule", "reason"]]
    wh = Warehouse(defect_run.url)
    parents_with_defects = {t for t in SCHEMAS if not q[q["table_name"] == t].empty}
    for row in unlogged.itertuples(index=False):
        data = json.loads(row.row_data)
        column = row.column_name
        parent = REFERENCES[row.table_name][column]
        key = stg_storage_schema(parent).key[0]
        clean_ids = set(wh.read(stg_storage_schema(parent), columns=[key])[key])
        assert data[column] not in clean_ids
        assert parent in parents_with_defects, f"{row.reason}: its parent table {parent} has no quarantined row"
        assert all(part.endswith("(rule reference)") for part in row.reason.split("; "))
