"""Helpers of saas_metrics.tables that are not schema declarations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from saas_metrics.tables import Column, TableSchema, coerce_frame, isin, text_series


@pytest.mark.parametrize("dtype", ["str", "string[pyarrow]", object])
def test_isin_matches_pandas_and_never_counts_a_null_as_member(dtype: object) -> None:
    values = pd.Series(["a", None, "b", "c", "a"], index=[10, 11, 12, 13, 14], dtype=dtype, name="id")
    members = frozenset({"a", "c", "zz"})
    got = isin(values, members)
    assert got.tolist() == [True, False, False, True, True]
    assert got.tolist() == values.isin(members).tolist()
    assert list(got.index) == [10, 11, 12, 13, 14] and got.name == "id" and got.dtype == bool


def test_isin_with_no_members_and_with_members_that_are_not_text() -> None:
    values = pd.Series(["1", "2", None], dtype="str")
    assert isin(values, set()).tolist() == [False, False, False]
    assert isin(values, {1, "2", None}).tolist() == [False, True, False]  # only text members can match text


def test_isin_on_a_large_id_set() -> None:
    ids = [f"cus_{i:06d}" for i in range(300_000)]
    values = pd.Series([*ids[::1000], "cus_x"], dtype="str")
    got = isin(values, frozenset(ids))
    assert got.sum() == 300 and not got.iloc[-1]
    assert np.array_equal(got.to_numpy(), values.isin(frozenset(ids)).to_numpy())


@pytest.mark.parametrize("values", [["a", None, "b"], [None, None], [], ["only"]])
def test_text_series_is_what_pandas_builds_for_str(values: list[str | None]) -> None:
    array = np.array(values, dtype=object)
    index = pd.RangeIndex(10, 10 + len(values))
    built = text_series(array, index)
    expected = pd.Series(array, index=index, dtype="str")
    pd.testing.assert_series_equal(built, expected)
    assert built.isna().tolist() == [v is None for v in values]


def test_empty_frame_is_typed_and_a_fresh_copy_each_time() -> None:
    schema = TableSchema("t", (Column("id", "str"), Column("n", "int"), Column("at", "datetime"), Column("x", "float")))
    first = schema.empty_frame()
    expected = coerce_frame(pd.DataFrame(columns=["id", "n", "at", "x"]), schema)
    pd.testing.assert_frame_equal(first, expected)
    first["extra"] = []  # changing one empty frame ...
    first.loc[0] = ["a", 1, pd.Timestamp("2024-01-01"), 1.0, None]
    pd.testing.assert_frame_equal(schema.empty_frame(), expected)  # ... leaves the next one as it was
    # Another table with the same columns gets the same typed frame.
    assert TableSchema("u", schema.columns, extra={"k": "v"}).empty_frame().dtypes.equals(expected.dtypes)
