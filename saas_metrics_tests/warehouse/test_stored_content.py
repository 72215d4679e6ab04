"""A whole-table write whose rows equal the table's last write is skipped, and only then."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.tables import Column, TableSchema
from saas_metrics.warehouse import Warehouse
from saas_metrics.warehouse.stored_content import STORED_CONTENT, content_fingerprint

ACCOUNTS = TableSchema("accounts", (Column("id", "str", "account id"), Column("seats", "int", "seats"),
                                    Column("created_at", "datetime", "created")))
MONTHLY = TableSchema("monthly", (Column("month", "date", "month"), Column("value", "float", "value")),
                      time_column="month")


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "sqlite":
        return Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    wh = Warehouse(request.getfixturevalue("postgres_url"))
    with wh.engine.begin() as conn:
        for name in (ACCOUNTS.name, MONTHLY.name, STORED_CONTENT.name):
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
    return wh


@pytest.fixture
def writes(warehouse: Warehouse) -> Iterator[list[str]]:
    """The INSERT and DELETE statements sent for the test tables."""
    seen: list[str] = []

    def listen(conn: object, cursor: object, statement: str, *args: object) -> None:
        head = statement.lstrip().upper()
        if head.startswith(("INSERT", "DELETE", "COPY")) and any(t in statement for t in (ACCOUNTS.name, MONTHLY.name)):
            seen.append(head.split()[0])

    sa.event.listen(warehouse.engine, "before_cursor_execute", listen)
    yield seen
    sa.event.remove(warehouse.engine, "before_cursor_execute", listen)


def accounts(seats: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"a{i}" for i in range(len(seats))], "seats": seats,
                         "created_at": pd.to_datetime(["2024-01-02 03:04:05"] * len(seats))})


def test_an_unchanged_table_is_not_written_again(warehouse: Warehouse, writes: list[str]) -> None:
    assert warehouse.replace(ACCOUNTS, accounts([1, 2, 3]), skip_unchanged=True) == 3
    assert writes, "the first write writes"
    writes.clear()
    assert warehouse.replace(ACCOUNTS, accounts([1, 2, 3]), skip_unchanged=True) == 3
    assert writes == []
    assert warehouse.read(ACCOUNTS)["seats"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("change", ["value", "row added", "row order", "null"])
def test_any_change_is_written(warehouse: Warehouse, writes: list[str], change: str) -> None:
    warehouse.replace(ACCOUNTS, accounts([1, 2, 3]), skip_unchanged=True)
    changed = {"value": accounts([1, 2, 4]), "row added": accounts([1, 2, 3, 4]),
               "row order": accounts([1, 2, 3]).iloc[::-1], "null": accounts([1, 2, 3]).assign(created_at=pd.NaT)}[change]
    writes.clear()
    warehouse.replace(ACCOUNTS, changed, skip_unchanged=True)
    assert writes, f"a {change} must be written"
    assert warehouse.read(ACCOUNTS)["seats"].tolist() == changed["seats"].tolist()
    assert warehouse.read(ACCOUNTS)["created_at"].isna().all() == (change == "null")


def test_every_other_write_forgets_the_fingerprint(warehouse: Warehouse, writes: list[str]) -> None:
    warehouse.replace(ACCOUNTS, accounts([1, 2]), skip_unchanged=True)
    # Written around the fingerprint: the same rows count, other values.
    warehouse.replace(ACCOUNTS, accounts([8, 9]))
    writes.clear()
    warehouse.replace(ACCOUNTS, accounts([1, 2]), skip_unchanged=True)
    assert writes, "a plain replace in between must not leave the old fingerprint"
    assert warehouse.read(ACCOUNTS)["seats"].tolist() == [1, 2]

    warehouse.append(ACCOUNTS, accounts([5]))
    writes.clear()
    warehouse.replace(ACCOUNTS, accounts([1, 2]), skip_unchanged=True)
    assert writes and warehouse.read(ACCOUNTS)["seats"].tolist() == [1, 2]


def test_rows_removed_behind_its_back_are_written_again(warehouse: Warehouse, writes: list[str]) -> None:
    warehouse.replace(ACCOUNTS, accounts([1, 2, 3]), skip_unchanged=True)
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM accounts WHERE id = 'a1'"))
    writes.clear()
    warehouse.replace(ACCOUNTS, accounts([1, 2, 3]), skip_unchanged=True)
    assert warehouse.read(ACCOUNTS)["seats"].tolist() == [1, 2, 3]


def test_window_writes_are_always_done(warehouse: Warehouse, writes: list[str]) -> None:
    frame = pd.DataFrame({"month": pd.to_datetime(["2024-01-01"]), "value": [1.0]})
    window = (dt.date(2024, 1, 1), dt.date(2024, 2, 1))
    warehouse.replace(MONTHLY, frame, window, skip_unchanged=True)
    writes.clear()
    warehouse.replace(MONTHLY, frame, window, skip_unchanged=True)
    assert writes, "only whole-table writes are fingerprinted"


def test_the_schema_types_the_frame_before_it_is_fingerprinted(warehouse: Warehouse, writes: list[str]) -> None:
    """Seats as floats are stored as the same integers: the same content, not written again."""
    warehouse.replace(ACCOUNTS, accounts([1, 2, 3]), skip_unchanged=True)
    writes.clear()
    warehouse.replace(ACCOUNTS, accounts([1, 2, 3]).astype({"seats": "float64"}), skip_unchanged=True)
    assert writes == []


def test_unhashable_values_have_no_fingerprint() -> None:
    assert content_fingerprint(pd.DataFrame({"x": [{"a": 1}]})) is None
    assert content_fingerprint(accounts([1])) == content_fingerprint(accounts([1]))
    assert content_fingerprint(accounts([1])) != content_fingerprint(accounts([2]))
