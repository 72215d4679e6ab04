"""Table schemas: the one description of a table's columns and types.

Every canonical source table and every warehouse output table is declared once
as a :class:`TableSchema`. The warehouse creates tables from it (stable column
types whatever a partition's data happens to hold), frames are coerced to it,
and the Dagster UI shows it as ``dagster/column_schema``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ColumnType = Literal["str", "float", "int", "bool", "date", "datetime", "json"]

#: The partition column of every monthly table: the first day of the month (a date).
MONTH_COLUMN = "month"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str = ""
    nullable: bool = True


@dataclass(frozen=True)
class TableSchema:
    """A table's columns in order.

    ``time_column`` names the column that places a row in a monthly partition
    (for raw fact tables the event timestamp, for metric tables ``month``);
    ``None`` means the table is an unpartitioned snapshot.
    ``key`` lists the columns that identify a row (unique per table).
    """

    name: str
    columns: tuple[Column, ...]
    description: str = ""
    time_column: str | None = None
    key: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def empty_frame(self) -> pd.DataFrame:
        """No rows, the schema's typed columns: a copy of one built once per column list (typing
        even an empty frame column by column has a fixed cost, paid by every clean validation)."""
        return _empty_frame(self.columns).copy()


@lru_cache(maxsize=1024)
def _empty_frame(columns: tuple[Column, ...]) -> pd.DataFrame:
    return _coerce_columns(pd.DataFrame(columns=[c.name for c in columns]), TableSchema("empty", columns), keep_extra=False)


def _to_datetime(series: pd.Series) -> pd.Series:
    """Parse to UTC timestamps. ISO 8601 throughout (pandas would otherwise guess the
    format from the first value and silently null the others)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return pd.to_datetime(series, utc=True)
    return pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")


def _parse_naive_iso(series: pd.Series) -> pd.Series | None:
    """Text of naive ISO 8601 dates and times ('2024-01-05', '2024-01-05 13:00:00.123456': how the
    warehouse stores them, and most exports), parsed by Arrow in one pass, several times faster than
    the general parser; None when any value is anything else (an offset, another layout, an invalid
    day, a year outside ``datetime64[ns]``), which Arrow refuses: the general parser then decides,
    as before. Where Arrow parses, its values are the general parser's (naive means UTC)."""
    try:
        parsed = pc.cast(pa.array(series.array), pa.timestamp("ns"))
    except pa.ArrowInvalid:
        return None
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=series.index, name=series.name)


def _coerce_series(series: pd.Series, type_: ColumnType) -> pd.Series:
    typed = _already_typed(series, type_)
    if typed is not None:
        return typed
    if (type_ == "date" or type_ == "datetime") and series.dtype == TEXT_DTYPE:
        parsed = _parse_naive_iso(series)
        if parsed is not None:
            return parsed.dt.normalize() if type_ == "date" and not _at_midnight(parsed) else parsed
    if type_ == "str" or type_ == "json":
        # Vectorised: nulls stay null, everything else becomes its str() (pandas' str dtype).
        return series.astype("str")
    if type_ == "float":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if type_ == "int":
        numbers = pd.to_numeric(series, errors="coerce").astype("float64")
        # A non-integral value is not an int: null (the validation layer records it), never a crash.
        return numbers.where(numbers == numbers.round()).astype("Int64")
    if type_ == "bool":
        def to_bool(v: object) -> object:
            if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
                return pd.NA
            if isinstance(v, str):
                return v.strip().lower() in {"true", "1", "yes", "t", "y"}
            return bool(v)

        return series.map(to_bool).astype("boolean")
    if type_ == "date":
        return naive_ns(_to_datetime(series).dt.tz_localize(None)).dt.normalize()
    if type_ == "datetime":
        return naive_ns(_to_datetime(series).dt.tz_localize(None))
    raise ValueError(f"unknown column type {type_!r}")


_NAIVE_NS = np.dtype("datetime64[ns]")
_DAY_NS = 86_400 * 10**9
_NAT_NS = np.iinfo(np.int64).min  # NaT as int64


def _already_typed(series: pd.Series, type_: ColumnType) -> pd.Series | None:
    """``series`` as ``type_`` when its dtype says no value needs parsing, else None.

    Most columns a run coerces already have their type (frames the pipeline built, numbers the
    driver returned): the general path would re-parse each of them, a fixed cost per column paid
    thousands of times a month whatever the data's size. The results are the general path's."""
    dtype = series.dtype
    if type_ == "str" or type_ == "json":
        return series if dtype == TEXT_DTYPE else None
    if type_ == "float":
        return series if dtype == np.float64 else None
    if type_ == "int":
        if dtype == pd.Int64Dtype():
            return series
        return series.astype("Int64") if pd.api.types.is_integer_dtype(dtype) else None
    if type_ == "bool":
        if dtype == pd.BooleanDtype():
            return series
        return series.astype("boolean") if pd.api.types.is_bool_dtype(dtype) else None
    if dtype != _NAIVE_NS:
        return None
    return series.dt.normalize() if type_ == "date" and not _at_midnight(series) else series


def naive_ns(series: pd.Series) -> pd.Series:
    """A naive datetime series as ``datetime64[ns]``, values outside its range (years before 1677 or
    after 2262: a typo in an export, '0202-01-05') null like any value that does not parse, so the
    validation records them instead of the run stopping on pandas' overflow error."""
    if series.dtype == _NAIVE_NS:
        return series
    inside = series.between(pd.Timestamp.min, pd.Timestamp.max)
    return series.where(inside).astype(_NAIVE_NS)


def _at_midnight(series: pd.Series) -> bool:
    """Whether every value of a ``datetime64[ns]`` series is a midnight or null: such a date column
    needs no normalising, which cost a new array per column, the month column of every read and write."""
    ns = series.to_numpy().view("i8")
    return bool(((ns % _DAY_NS == 0) | (ns == _NAT_NS)).all())


def coerce_frame(frame: pd.DataFrame, schema: TableSchema, *, keep_extra: bool = False) -> pd.DataFrame:
    """Return ``frame`` with exactly the schema's columns (missing ones added as
    nulls) in order, each coerced to its type. Datetimes are naive UTC.

    Extra columns are dropped unless ``keep_extra`` (then they follow the schema's).
    """
    if len(frame) == 0 and (not keep_extra or set(frame.columns) <= set(schema.column_names)):
        # No rows: the schema's typed empty frame, whatever the input's dtypes (typing each column
        # of an empty frame cost milliseconds, paid by every table's bookkeeping in every run).
        return schema.empty_frame()
    return _coerce_columns(frame, schema, keep_extra)


def _coerce_columns(frame: pd.DataFrame, schema: TableSchema, keep_extra: bool) -> pd.DataFrame:
    # The columns are assembled into one new frame at the end: inserting them one by one into an
    # empty frame cost more than typing them, for the small frames most calls get. Not copied
    # (a dict's columns would be by default): copy-on-write keeps the input safe from the output.
    frame = frame.reset_index(drop=True)
    columns: dict[str, pd.Series] = {}
    for col in schema.columns:
        series = frame[col.name] if col.name in frame.columns else pd.Series([None] * len(frame), dtype="object")
        columns[col.name] = _coerce_series(series, col.type)
    if keep_extra:
        for name in frame.columns:
            if name not in columns:
                columns[name] = frame[name]
    return pd.DataFrame(columns, index=frame.index, copy=False)


def with_month(schema: TableSchema, name: str | None = None) -> TableSchema:
    """The schema with a leading ``month`` partition column (unchanged if it has one)."""
    columns = schema.columns
    if MONTH_COLUMN not in schema.column_names:
        columns = (Column(MONTH_COLUMN, "date", "partition month (first day)", nullable=False), *columns)
    return TableSchema(name=name or schema.name, columns=columns, description=schema.description,
                       time_column=MONTH_COLUMN, key=schema.key)


#: pandas' default text dtype (Arrow-backed, NaN for null), what ``Series(..., dtype="str")`` gives.
TEXT_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def text_series(values: np.ndarray, index: pd.Index) -> pd.Series:
    """An object array of ``str`` and ``None`` as a Series of pandas' text dtype, converted by Arrow
    in one pass: ``pd.Series(values, dtype="str")`` checks each value in Python, which the
    quarantine columns of millions of rows (mostly null) would pay."""
    array = pa.array(values, type=pa.large_string(), from_pandas=True)
    return pd.Series(pd.array(array, dtype=TEXT_DTYPE), index=index)


def isin(values: pd.Series, members: Collection[object]) -> pd.Series:
    """``values.isin(members)`` (nulls are never members), fast for Arrow-backed text.

    pandas' ``isin`` on an Arrow string column turns every member into a pyarrow scalar one at
    a time, a cost that grows with the set and is paid by every reference and uniqueness rule of
    every validation. Here the members become one Arrow array and Arrow does the lookup."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return values.isin(members)
    column = pa.array(values.array)
    if isinstance(members, (pd.Series, pd.Index)) and members.dtype == dtype:
        # Arrow text members (another table's id column) go over as they are: no Python pass over them.
        value_set = pc.drop_null(pa.chunked_array(pa.array(members.array)).combine_chunks())
    else:
        value_set = pa.array([m for m in members if isinstance(m, str)], type=column.type)
    found = pc.fill_null(pc.is_in(column, value_set=value_set), False)
    return pd.Series(np.asarray(found, dtype=bool), index=values.index, name=values.name)
