"""Helpers of saas_metrics.tables that are not schema declarations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from saas_metrics import tables
from saas_metrics.tables import (
    Column,
    ColumnType,
    TableSchema,
    _coerce_columns,
    coerce_frame,
    isin,
    text_series,
)


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


@pytest.mark.parametrize("wrap", [pd.Series, pd.Index])
def test_isin_with_another_text_column_as_members(wrap: type) -> None:
    # an Arrow text column (another table's ids) is handed to Arrow as it is: same answer, nulls never members
    values = pd.Series(["a", None, "b", "c", "a", "d"], dtype="str")
    members = wrap(["c", None, "a", "a", "zz"], dtype="str")
    assert isin(values, members).tolist() == [True, False, False, True, True, False]
    assert isin(values, wrap([], dtype="str")).tolist() == [False] * 6
    assert isin(values, wrap(["b"], dtype=object)).tolist() == [False, False, True, False, False, False]


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
    first["extra"] = pd.Series(dtype=object)  # changing one empty frame ...
    first.loc[0] = ["a", 1, pd.Timestamp("2024-01-01"), 1.0, None]
    pd.testing.assert_frame_equal(schema.empty_frame(), expected)  # ... leaves the next one as it was
    # Another table with the same columns gets the same typed frame.
    assert TableSchema("u", schema.columns, extra={"k": "v"}).empty_frame().dtypes.equals(expected.dtypes)


def _every_schema() -> list[TableSchema]:
    from saas_metrics.metrics.kpi import KPI_MONTHLY
    from saas_metrics.metrics.movements import MRR_MOVEMENTS
    from saas_metrics.metrics.mrr import CUSTOMER_MRR
    from saas_metrics.quality.accounting import SOURCE_ROW_ACCOUNTING
    from saas_metrics.quality.gaps import SOURCE_GAPS
    from saas_metrics.quality.quarantine import QUARANTINED_ROWS
    from saas_metrics.quality.replay import VALIDATION_RESULTS
    from saas_metrics.sources.schemas import SCHEMAS

    return [*SCHEMAS.values(), KPI_MONTHLY, MRR_MOVEMENTS, CUSTOMER_MRR, SOURCE_ROW_ACCOUNTING, SOURCE_GAPS,
            QUARANTINED_ROWS, VALIDATION_RESULTS]


@pytest.mark.parametrize("dtype", [None, object, "int64", "float64", "datetime64[ns]", "str", "boolean"])
def test_a_frame_without_rows_types_as_the_schema_says_whatever_its_dtypes(dtype: str | None) -> None:
    """No rows: the schema's typed empty frame (kept once per column list), exactly what typing each
    column gives, whatever the input's dtypes; extra columns kept when asked, then typed the slow way."""
    schemas = _every_schema()
    assert {c.type for s in schemas for c in s.columns} == {"str", "json", "int", "float", "bool", "date", "datetime"}
    for schema in schemas:
        names = schema.column_names
        empty = pd.DataFrame(columns=names[::2]) if dtype is None else pd.DataFrame(
            {c: pd.Series(dtype=dtype) for c in names[::-1]}, index=pd.Index([], dtype="int64"))
        expected = _coerce_columns(empty, schema, keep_extra=False)
        pd.testing.assert_frame_equal(coerce_frame(empty, schema), expected)
        out = coerce_frame(empty, schema)
        out["changed"] = pd.Series(dtype=object)
        pd.testing.assert_frame_equal(coerce_frame(empty, schema), expected)  # a fresh frame each time
        extra = empty.assign(extra=pd.Series(dtype="float64"))
        kept = coerce_frame(extra, schema, keep_extra=True)
        assert list(kept.columns) == [*names, "extra"] and kept["extra"].dtype == "float64"
    # Rows but no columns: as many rows of nulls, not an empty frame.
    schema = TableSchema("t", (Column("id", "str"),))
    assert len(coerce_frame(pd.DataFrame(index=range(3)), schema)) == 3


def test_a_frame_without_rows_is_not_typed_column_by_column(monkeypatch: pytest.MonkeyPatch) -> None:
    import saas_metrics.tables as tables

    schema = TableSchema("t", (Column("id", "str"), Column("at", "date"), Column("n", "int")))
    schema.empty_frame()  # the typed empty frame of this column list, built once
    typed: list[str] = []
    coerce_series = tables._coerce_series

    def counted(series: pd.Series, type_: ColumnType) -> pd.Series:
        typed.append(type_)
        return coerce_series(series, type_)

    monkeypatch.setattr(tables, "_coerce_series", counted)
    assert coerce_frame(pd.DataFrame(columns=["n", "id"]), schema).dtypes.tolist() == schema.empty_frame().dtypes.tolist()
    assert typed == []
    coerce_frame(pd.DataFrame({"id": ["a"]}), schema)
    assert typed == ["str", "date", "int"]


def _ts(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601")).astype("datetime64[ns]")


_COERCE_CASES = {
    # type: (raw values as an export gives them, the same values already typed, the expected typed values)
    "str": (["a", None, 7], pd.Series(["a", None, "7"], dtype="str"), pd.Series(["a", None, "7"], dtype="str")),
    "float": (["1.5", None, "x"], pd.Series([1.5, np.nan, np.nan]), pd.Series([1.5, np.nan, np.nan])),
    "int": (["3", "2.5", None], pd.Series([3, pd.NA, pd.NA], dtype="Int64"), pd.Series([3, pd.NA, pd.NA], dtype="Int64")),
    "bool": (["true", "no", None], pd.Series([True, False, pd.NA], dtype="boolean"),
             pd.Series([True, False, pd.NA], dtype="boolean")),
    "date": (["2024-01-05T13:00:00", "2024-02-29", None],
             _ts("2024-01-05 13:00", "2024-02-29", None), _ts("2024-01-05", "2024-02-29", None)),
    "datetime": (["2024-01-05T13:00:00+02:00", "2024-02-29T00:00:01", None],
                 _ts("2024-01-05 11:00", "2024-02-29 00:00:01", None), _ts("2024-01-05 11:00", "2024-02-29 00:00:01", None)),
}


@pytest.mark.parametrize("type_", sorted(_COERCE_CASES))
def test_coerce_frame_types_raw_and_already_typed_columns_alike(type_: ColumnType) -> None:
    raw, typed, expected = _COERCE_CASES[type_]
    schema = TableSchema("t", (Column("v", type_),))
    want = pd.DataFrame({"v": expected})
    pd.testing.assert_frame_equal(coerce_frame(pd.DataFrame({"v": pd.Series(raw, dtype=object)}), schema), want)
    pd.testing.assert_frame_equal(coerce_frame(pd.DataFrame({"v": typed}), schema), want)


@pytest.mark.parametrize(("type_", "values", "expected"), [
    ("int", pd.Series([3, 4], dtype="int64"), pd.Series([3, 4], dtype="Int64")),
    ("bool", pd.Series([True, False]), pd.Series([True, False], dtype="boolean")),
    ("date", _ts("2024-01-05 13:00").astype("datetime64[us]"), _ts("2024-01-05")),
    ("datetime", _ts("2024-01-05 13:00").dt.tz_localize("Europe/Berlin"), _ts("2024-01-05 12:00")),
    ("str", pd.Series(["a", None], dtype="string[python]"), pd.Series(["a", None], dtype="str")),
])
def test_coerce_frame_converts_numpy_and_other_typed_columns(type_: ColumnType, values: pd.Series, expected: pd.Series) -> None:
    schema = TableSchema("t", (Column("v", type_),))
    pd.testing.assert_frame_equal(coerce_frame(pd.DataFrame({"v": values}), schema), pd.DataFrame({"v": expected}))


def test_a_date_column_of_midnights_is_kept_and_any_other_time_is_normalised() -> None:
    schema = TableSchema("t", (Column("d", "date"),))
    midnights = _ts("2024-01-01", None, "1969-12-31", "1900-02-28")  # before 1970 too: negative nanoseconds
    frame = pd.DataFrame({"d": midnights})
    out = coerce_frame(frame, schema)
    pd.testing.assert_series_equal(out["d"], midnights, check_names=False)
    assert np.shares_memory(out["d"].to_numpy(), frame["d"].to_numpy()), "no new array for dates already dates"
    times = pd.Series(pd.to_datetime(["2024-01-01 13:00", None, "1969-12-31 23:59:59.999999999",
                                      "1900-02-28 00:00:00.000000001"], format="ISO8601")).astype("datetime64[ns]")
    out = coerce_frame(pd.DataFrame({"d": times}), schema)
    pd.testing.assert_series_equal(out["d"], _ts("2024-01-01", None, "1969-12-31", "1900-02-28"), check_names=False)


#: Text dates and times: the first two rows are the warehouse's own layouts (parsed by Arrow), the
#: others are what exports hold and Arrow refuses (an offset, Z, a space, no dashes, an invalid day,
#: years outside datetime64[ns]), left to the general parser.
_TEXT_TIMES = ["2024-01-05", "2024-01-05 13:00:00.123456", "2024-01-05T13:00", "2024-01-05T13:00:00+02:00",
               "2024-01-05 13:00:00Z", " 2024-01-01", "20240105", "2024-02-30", "", "1500-01-01", "2300-01-01"]


@pytest.mark.parametrize("type_", ["date", "datetime"])
@pytest.mark.parametrize("values", [_TEXT_TIMES[:3], [*_TEXT_TIMES[:2], None], *[[v, "2024-01-05"] for v in _TEXT_TIMES[3:]]])
def test_text_times_parse_as_the_general_parser_parses_them(type_: ColumnType, values: list[str | None]) -> None:
    text = pd.DataFrame({"v": pd.Series(values, dtype="str")})
    schema = TableSchema("t", (Column("v", type_),))
    general = tables._coerce_series(pd.Series(values, dtype=object), type_)  # object: the general parser
    pd.testing.assert_series_equal(coerce_frame(text, schema)["v"], general.rename("v"))
    if values[0] in ("1500-01-01", "2300-01-01"):  # outside datetime64[ns]: null, as a value that does not parse
        assert general.isna().tolist() == [True, False]


@pytest.mark.parametrize("type_", ["date", "datetime"])
def test_a_typed_time_outside_the_nanosecond_range_is_null_not_an_overflow(type_: ColumnType) -> None:
    seconds = pd.Series(np.array(["1500-01-01T10:00", "2024-01-05T10:00", "NaT"], dtype="datetime64[s]"))
    out = coerce_frame(pd.DataFrame({"v": seconds}), TableSchema("t", (Column("v", type_),)))["v"]
    assert out.dtype == "datetime64[ns]" and out.isna().tolist() == [True, False, True]
    assert out.iloc[1] == pd.Timestamp("2024-01-05" if type_ == "date" else "2024-01-05 10:00")


def test_the_warehouse_layouts_are_parsed_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    def general(series: pd.Series) -> pd.Series:
        raise AssertionError(f"the general parser was asked: {series.tolist()}")

    monkeypatch.setattr(tables, "_to_datetime", general)
    schema = TableSchema("t", (Column("d", "date"), Column("at", "datetime")))
    out = coerce_frame(pd.DataFrame({"d": pd.Series(["2024-01-05", None], dtype="str"),
                                     "at": pd.Series(["2024-01-05 13:00:00.000001", "2024-01-05"], dtype="str")}), schema)
    assert out["d"].tolist()[0] == pd.Timestamp("2024-01-05") and pd.isna(out["d"].iloc[1])
    assert out["at"].tolist() == [pd.Timestamp("2024-01-05 13:00:00.000001"), pd.Timestamp("2024-01-05")]
    assert out.dtypes.tolist() == [np.dtype("datetime64[ns]")] * 2


def test_coerce_frame_orders_adds_and_drops_columns_and_resets_the_index() -> None:
    schema = TableSchema("t", (Column("id", "str"), Column("n", "int"), Column("at", "date")))
    frame = pd.DataFrame({"extra": [1.0, 2.0], "n": [1, 2], "id": ["a", "b"]}, index=[7, 7])
    out = coerce_frame(frame, schema)
    assert list(out.columns) == ["id", "n", "at"]
    assert out.index.equals(pd.RangeIndex(2))
    assert out["at"].isna().all() and out["at"].dtype == "datetime64[ns]"
    assert list(coerce_frame(frame, schema, keep_extra=True).columns) == ["id", "n", "at", "extra"]
    # A column that needed no typing is not copied (a month's reads hold millions of rows) ...
    floats = pd.DataFrame({"x": np.arange(3, dtype="float64")})
    typed = coerce_frame(floats, TableSchema("f", (Column("x", "float"),)))
    assert np.shares_memory(typed["x"].to_numpy(), floats["x"].to_numpy())
    # ... yet changing the output leaves the input as it was (copy-on-write).
    out.loc[0, "id"] = "changed"
    typed.loc[0, "x"] = 99.0
    assert frame["id"].tolist() == ["a", "b"] and floats["x"].tolist() == [0.0, 1.0, 2.0]
