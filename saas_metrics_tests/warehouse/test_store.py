"""Warehouse writes replace exactly a window, atomically, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.metrics.kpi import KPI_MONTHLY, kpi_frame
from saas_metrics.tables import Column, TableSchema
from saas_metrics.warehouse import Warehouse

JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "sqlite":
        return Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    return Warehouse(request.getfixturevalue("postgres_url"))


def rows(month: str, values: list[float]) -> pd.DataFrame:
    return kpi_frame([{"month": month, "metric": f"m{i}", "value": v, "unit": "count"} for i, v in enumerate(values)])


def test_replacing_a_window_touches_only_that_window(warehouse: Warehouse) -> None:
    warehouse.replace(KPI_MONTHLY, pd.concat([rows("2024-01-01", [1, 2]), rows("2024-02-01", [3])]), (JAN, MAR))
    warehouse.replace(KPI_MONTHLY, rows("2024-02-01", [7, 8, 9]), (FEB, MAR))
    warehouse.replace(KPI_MONTHLY, rows("2024-02-01", [7, 8, 9]), (FEB, MAR))  # idempotent re-run
    out = warehouse.read(KPI_MONTHLY).sort_values(["month", "metric"])
    assert out["value"].tolist() == [1, 2, 7, 8, 9]
    assert sorted(warehouse.read(KPI_MONTHLY, (JAN, FEB))["value"]) == [1, 2]


def test_rows_outside_the_window_are_refused_and_nothing_changes(warehouse: Warehouse) -> None:
    warehouse.replace(KPI_MONTHLY, rows("2024-01-01", [1]), (JAN, FEB))
    with pytest.raises(ValueError, match="outside the window"):
        warehouse.replace(KPI_MONTHLY, rows("2024-02-01", [5]), (JAN, FEB))
    assert warehouse.read(KPI_MONTHLY)["value"].tolist() == [1]


def test_a_failed_write_leaves_the_previous_data(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse.replace(KPI_MONTHLY, rows("2024-01-01", [1, 2]), (JAN, FEB))

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(Warehouse, "_insert", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        warehouse.replace(KPI_MONTHLY, rows("2024-01-01", [9]), (JAN, FEB))
    monkeypatch.undo()
    assert sorted(warehouse.read(KPI_MONTHLY)["value"].tolist()) == [1, 2]


def test_types_are_stable_and_nulls_round_trip(warehouse: Warehouse) -> None:
    schema = TableSchema("typed", (
        Column("month", "date"), Column("s", "str"), Column("f", "float"), Column("i", "int"),
        Column("b", "bool"), Column("t", "datetime"),
    ), time_column="month")
    frame = pd.DataFrame({
        "month": ["2024-01-01", "2024-01-01"], "s": ["a", None], "f": [1.25, None], "i": [3, None],
        "b": [True, None], "t": ["2024-01-05 10:00:00", None],
    })
    warehouse.replace(schema, frame, (JAN, FEB))
    out = warehouse.read(schema).sort_values("s", na_position="last").reset_index(drop=True)
    assert out.loc[0, "s"] == "a" and pd.isna(out.loc[1, "s"])
    assert out.loc[0, "f"] == 1.25 and pd.isna(out.loc[1, "f"])
    assert out.loc[0, "i"] == 3 and pd.isna(out.loc[1, "i"])
    assert bool(out.loc[0, "b"]) is True and pd.isna(out.loc[1, "b"])
    assert out.loc[0, "t"] == pd.Timestamp("2024-01-05 10:00:00") and pd.isna(out.loc[1, "t"])
    assert str(out["month"].dtype) == "datetime64[ns]"


def test_reading_a_missing_table_gives_an_empty_typed_frame(warehouse: Warehouse) -> None:
    out = warehouse.read(KPI_MONTHLY)
    assert out.empty and list(out.columns) == KPI_MONTHLY.column_names
