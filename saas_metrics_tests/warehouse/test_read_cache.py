"""The batches of a table written in parts are gathered for the run's read cache only while they fit."""

from __future__ import annotations

import pandas as pd

from saas_metrics.tables import Column, TableSchema
from saas_metrics.warehouse.read_cache import BatchFill, ReadCache, frame_bytes, in_month_order


def batch(month: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"month": pd.to_datetime([month] * n), "account_id": [f"a{i}" for i in range(n)],
                         "events": range(n), "note": ["x" * 20] * n})


def test_batches_within_the_budget_are_kept_in_order_with_the_kept_columns() -> None:
    fill = BatchFill(max_bytes=10**9, kept=frozenset({"month", "account_id"}))
    fill.add(batch("2024-01-01", 3))
    fill.add(batch("2024-02-01", 2))
    out = fill.frame()
    assert out is not None
    assert list(out.columns) == ["month", "account_id"]
    assert out["month"].dt.strftime("%Y-%m").tolist() == ["2024-01"] * 3 + ["2024-02"] * 2
    assert out.index.tolist() == [0, 1, 2, 3, 4]


def test_batches_past_the_budget_are_dropped_and_stay_dropped() -> None:
    one = batch("2024-01-01", 100)
    fill = BatchFill(max_bytes=int(frame_bytes(one) * 1.5), kept=None)
    fill.add(one)
    assert fill.frame() is not None
    fill.add(batch("2024-02-01", 100))
    assert fill.frame() is None and fill.parts is None
    fill.add(batch("2024-03-01", 1))  # a small batch after the budget passed does not bring a part back
    assert fill.frame() is None


def test_a_table_projected_past_the_budget_is_dropped_at_its_first_batch() -> None:
    one = batch("2024-01-01", 100)
    rooms: list[int] = []
    # 100 rows fit the budget, but the batches announce 1,000 rows in all: ten times the first's bytes.
    fill = BatchFill(max_bytes=frame_bytes(one) * 5, kept=None, expected_rows=1_000, make_room=rooms.append)
    fill.add(one)
    assert fill.parts is None and fill.frame() is None and rooms == []


def test_a_table_projected_to_fit_makes_room_for_its_whole_size_once() -> None:
    one = batch("2024-01-01", 100)
    rooms: list[int] = []
    fill = BatchFill(max_bytes=frame_bytes(one) * 5, kept=None, expected_rows=300, make_room=rooms.append)
    for month in ("2024-01-01", "2024-02-01", "2024-03-01"):
        fill.add(batch(month, 100))
    assert rooms == [frame_bytes(one) * 3]
    out = fill.frame()
    assert out is not None and len(out) == 300


def _schema(name: str) -> TableSchema:
    return TableSchema(name=name, columns=(Column("month", "date", ""), Column("account_id", "str", ""),
                                           Column("events", "int", ""), Column("note", "str", "")))


def test_making_room_drops_the_least_recently_used_frames_and_other_runs_frames() -> None:
    frame = batch("2024-01-01", 50)
    size = frame_bytes(frame)
    cache = ReadCache(min_rows=1, max_bytes=size * 3)
    for name in ("a", "b", "c"):
        cache.put("url", "run1", _schema(name), None, None, frame)
    assert cache.get("url", "run1", _schema("a"), None, None) is not None  # "a" now the most recent
    cache.make_room("run1", size)
    assert [n for n in "abc" if cache.get("url", "run1", _schema(n), None, None) is not None] == ["a", "c"]
    cache.make_room("run2", 0)  # another run's gathering: run1's frames go
    assert all(cache.get("url", "run1", _schema(n), None, None) is None for n in "abc")


def test_the_default_cache_keeps_a_small_table_and_not_an_empty_read() -> None:
    # A table of a few rows several steps read (the staged deals) is fetched once per run, not per step.
    cache = ReadCache()
    cache.put("url", "run1", _schema("deals"), None, None, batch("2024-01-01", 3))
    cache.put("url", "run1", _schema("gaps"), None, None, batch("2024-01-01", 0))
    kept = cache.get("url", "run1", _schema("deals"), None, None)
    assert kept is not None and kept["account_id"].tolist() == ["a0", "a1", "a2"]
    assert cache.get("url", "run1", _schema("gaps"), None, None) is None


def test_rows_are_put_in_month_order_stably_with_rows_without_a_month_last() -> None:
    frame = pd.DataFrame({"month": pd.to_datetime(["2024-02-01", None, "2024-01-01", "2024-02-01", "2024-01-01"]),
                          "id": ["b1", "x", "a1", "b2", "a2"]})
    assert in_month_order(frame)["id"].tolist() == ["a1", "a2", "b1", "b2", "x"]
    ordered = frame.iloc[[2, 4, 0, 3]].reset_index(drop=True)
    assert in_month_order(ordered) is ordered  # already in order: not copied
    no_month = pd.DataFrame({"id": ["b", "a"]})
    assert in_month_order(no_month) is no_month


def test_batches_are_gathered_in_month_order() -> None:
    fill = BatchFill(10**9, None)
    fill.add(pd.concat([batch("2024-02-01", 2), batch("2024-01-01", 1)], ignore_index=True))
    gathered = fill.frame()
    assert gathered is not None and gathered["month"].dt.month.tolist() == [1, 2, 2]
