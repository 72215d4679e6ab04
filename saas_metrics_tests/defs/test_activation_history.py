"""The PQL event history kpi_funnel reads: from the run's read cache when it holds every month
before the cut-off, otherwise from the database; the same rows either way."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import saas_metrics.definitions  # noqa: F401  (registers the warehouse table schemas)
from saas_metrics.defs.acquisition_assets import activation_history
from saas_metrics.warehouse import Warehouse, store
from saas_metrics.warehouse.io_manager import TABLE_SCHEMAS


def _usage() -> pd.DataFrame:
    days = pd.to_datetime(["2024-01-03", "2024-01-20", "2024-02-02", "2024-02-28", "2024-03-01", "2024-03-15"])
    return pd.DataFrame({
        "month": days.to_period("M").to_timestamp(),
        "date": days,
        "account_id": ["a", "b", "a", "c", "a", "b"],
        "user_id": ["u1", "u2", "u1", "u3", "u1", "u2"],
        "event_name": ["report_created", "login", "report_created", "report_created", "report_created", "login"],
        "event_count": [1, 4, 2, 3, 5, 1],
    })


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    monkeypatch.setattr(store, "_READ_CACHE", store.ReadCache(min_rows=1))
    return Warehouse(f"sqlite:///{tmp_path / 'w.db'}")


def test_cached_and_database_history_are_the_same_rows(warehouse: Warehouse) -> None:
    schema = TABLE_SCHEMAS["stg_product_usage"]
    frame = _usage().reindex(columns=schema.column_names)
    warehouse.replace(schema, frame, (pd.Timestamp("2024-01-01").date(), pd.Timestamp("2024-04-01").date()),
                      cache_scope="run-1")
    before = pd.Timestamp("2024-03-01")
    assert warehouse.cached(schema, (warehouse.first_month(schema.name), before.date()), None, "run-1") is not None
    from_cache = activation_history(warehouse, "report_created", before, "run-1")
    from_database = activation_history(warehouse, "report_created", before, None)
    assert from_cache["event_count"].tolist() == [1, 2, 3]  # March and the other event are left out
    pd.testing.assert_frame_equal(from_cache.sort_values(["date", "account_id"]).reset_index(drop=True),
                                  from_database.sort_values(["date", "account_id"]).reset_index(drop=True))
    # A cache of another run (or none) is not used: the database answers.
    assert activation_history(warehouse, "report_created", before, "run-2")["event_count"].sum() == 6
