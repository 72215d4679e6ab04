"""The batches of a table written in parts are gathered for the run's read cache only while they fit."""

from __future__ import annotations

import pandas as pd

from saas_metrics.warehouse.read_cache import BatchFill, frame_bytes


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
