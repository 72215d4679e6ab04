"""saas_metrics.frame_digest: different content never gives the same bytes; equal content held
differently (chunks, slices, a fresh copy) gives the same."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from saas_metrics.frame_digest import update_with_frame


def digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    update_with_frame(h, frame)
    return h.hexdigest()


def sample() -> pd.DataFrame:
    """One column of every kind the pipeline's frames hold."""
    return pd.DataFrame({
        "text": pd.array(["cus_1", None, "", "cus_é"], dtype="str"),
        "when": pd.to_datetime(["2025-01-01", None, "2025-03-31 23:59:59", "2024-12-01"], format="ISO8601").astype("datetime64[ns]"),
        "amount": [10.5, np.nan, 0.0, -3.25],
        "count": pd.array([1, None, 0, 7], dtype="Int64"),
        "flag": pd.array([True, None, False, True], dtype="boolean"),
        "plain_int": np.array([1, 2, 3, 4], dtype="int64"),
        "plain_bool": [True, False, False, True],
        "labels": pd.Series([["a"], ["b", "c"], [], ["d"]], dtype=object).map(tuple),
    })


def test_the_same_content_gives_the_same_digest_however_it_is_held() -> None:
    frame = sample()
    assert digest(frame) == digest(sample())
    # a slice of a bigger frame, with another index, against the same rows built fresh
    bigger = pd.concat([sample().iloc[:1], frame], ignore_index=True)
    sliced = bigger.iloc[1:]
    assert digest(sliced) == digest(frame)
    # Arrow strings in several chunks against one chunk
    chunked = pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(["a", None], pa.large_string()), pa.array(["bc"], pa.large_string())]))
    whole = pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(["a", None, "bc"], pa.large_string())]))
    assert digest(pd.DataFrame({"s": chunked})) == digest(pd.DataFrame({"s": whole}))


@pytest.mark.parametrize(("column", "row", "value"), [
    ("text", 0, "cus_2"), ("text", 1, ""), ("text", 2, None), ("when", 0, pd.Timestamp("2025-01-01 00:00:01")),
    ("when", 1, pd.Timestamp("1970-01-01")), ("amount", 0, 10.500001), ("amount", 1, 0.0), ("count", 1, 0),
    ("count", 2, None), ("flag", 1, False), ("flag", 2, None), ("plain_int", 3, 5), ("plain_bool", 0, False),
    ("labels", 2, ("x",)),
])
def test_any_changed_value_changes_the_digest(column: str, row: int, value: object) -> None:
    changed = sample()
    changed.loc[row, column] = value
    assert digest(changed) != digest(sample())


def test_where_values_split_and_how_the_frame_is_shaped_count() -> None:
    strings = pd.DataFrame({"s": pd.array(["ab", "c"], dtype="str")})
    assert digest(strings) != digest(pd.DataFrame({"s": pd.array(["a", "bc"], dtype="str")}))
    frame = sample()
    assert digest(frame) != digest(frame[list(reversed(frame.columns))])  # column order
    assert digest(frame) != digest(frame.rename(columns={"amount": "amount_usd"}))  # names
    assert digest(frame) != digest(frame.astype({"plain_int": "float64"}))  # dtypes
    assert digest(frame) != digest(frame.iloc[[1, 0, 2, 3]])  # row order
    assert digest(frame.iloc[:0]) != digest(frame.iloc[:1])
    # the same values moved between two columns: "ab"+"" against "a"+"b"
    two = pd.DataFrame({"x": pd.array(["ab"], dtype="str"), "y": pd.array([""], dtype="str")})
    assert digest(two) != digest(pd.DataFrame({"x": pd.array(["a"], dtype="str"), "y": pd.array(["b"], dtype="str")}))


def test_an_empty_frame_and_a_frame_of_nulls_are_digested() -> None:
    empty = sample().iloc[:0]
    assert digest(empty) == digest(sample().iloc[:0].copy())
    nulls = pd.DataFrame({"s": pd.array([None, None], dtype="str"), "i": pd.array([None, None], dtype="Int64")})
    assert digest(nulls) != digest(nulls.iloc[:1])


def test_an_unhashable_value_raises_for_the_caller_to_decide() -> None:
    with pytest.raises(TypeError):
        digest(pd.DataFrame({"o": pd.Series([{"a": 1}, {"b": 2}], dtype=object)}))
