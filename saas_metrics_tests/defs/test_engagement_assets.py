"""The product usage account_engagement reads, a month at a time (defs/engagement_assets.py): the
run's own months come from the run's read cache, where the ingest step left them; the month before
the run's first goes to the database without taking their place in the cache."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from saas_metrics.defs.engagement_assets import _usage_by_month
from saas_metrics.defs.source_assets import stg_storage_schema
from saas_metrics.metrics.usage import USAGE_COLUMNS
from saas_metrics.warehouse import Warehouse, store

SCHEMA = stg_storage_schema("product_usage")
JAN, FEB, MAR = (pd.Timestamp(2024, m, 1) for m in (1, 2, 3))


def _usage() -> pd.DataFrame:
    rows = [("2024-01-03", "a", "u1", "login", 1), ("2024-01-20", "b", "u2", "login", 4),
            ("2024-02-02", "a", "u1", "login", 2), ("2024-02-28", "c", "u3", "report_created", 3),
            ("2024-03-05", "a", "u1", "login", 5)]
    frame = pd.DataFrame(rows, columns=["date", "account_id", "user_id", "event_name", "event_count"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["month"] = frame["date"].dt.to_period("M").dt.to_timestamp()
    return frame.reindex(columns=SCHEMA.column_names)


def _context(start: dt.date, end: dt.date, run_id: str) -> SimpleNamespace:
    """What the reader uses of an asset's context: the run's window and id."""
    window = SimpleNamespace(start=pd.Timestamp(start), end=pd.Timestamp(end))
    return SimpleNamespace(partition_time_window=window, run=SimpleNamespace(run_id=run_id))


def test_the_month_before_the_run_does_not_evict_the_run_s_months(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_READ_CACHE", store.ReadCache(min_rows=1))
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    usage = _usage()
    warehouse.replace(SCHEMA, usage[usage["month"] < MAR], (JAN.date(), MAR.date()))  # earlier runs
    # The ingest step of a run of March: its rows are written and kept as the run's read.
    warehouse.replace(SCHEMA, usage[usage["month"] == MAR], (MAR.date(), dt.date(2024, 4, 1)), cache_scope="run-mar")
    queried: list[str] = []
    real_query = Warehouse.query

    def counting_query(self: Warehouse, statement: object, schema: object, columns: object, params: object = None,
                       **kwargs: object) -> pd.DataFrame:
        queried.append(schema.name)  # type: ignore[attr-defined]
        return real_query(self, statement, schema, columns, params, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Warehouse, "query", counting_query)
    usage_of = _usage_by_month(_context(MAR.date(), dt.date(2024, 4, 1), "run-mar"), SimpleNamespace(warehouse=warehouse))
    # engagement_by_month asks for M-1 of the run's first month, then for the month itself.
    february, march = usage_of(FEB), usage_of(MAR)
    assert queried == [SCHEMA.name]  # February from the database; March from the cache, still there
    expected = {m: usage.loc[usage["month"] == m, list(USAGE_COLUMNS)].reset_index(drop=True) for m in (FEB, MAR)}
    pd.testing.assert_frame_equal(february.reset_index(drop=True), expected[FEB], check_dtype=False)
    pd.testing.assert_frame_equal(march.reset_index(drop=True), expected[MAR], check_dtype=False)
