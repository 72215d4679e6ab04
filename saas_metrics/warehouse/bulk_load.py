"""Bulk loading of typed frames: PostgreSQL by ``COPY ... FROM STDIN`` with CSV text written by
Arrow, SQLite by multi-row INSERTs bound on the DBAPI cursor, other databases by executemany.
Values are stored in the form SQLAlchemy's own types write, so a read through SQLAlchemy sees
exactly what it would have written; big frames go in chunks so only a chunk's Python values exist
at a time."""

from __future__ import annotations

import io
from collections.abc import Iterator
from itertools import chain

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from saas_metrics.tables import TableSchema
from saas_metrics.warehouse.engine import driver_connection

#: Rows per batch when writing or reading big tables (bounds the memory of Python row tuples).
CHUNK_ROWS = 200_000
#: Rows per INSERT statement on SQLite, within the bound-variable limit of old SQLite builds (999).
SQLITE_ROWS_PER_INSERT = 50
SQLITE_MAX_VARIABLES = 999


def chunks(frame: pd.DataFrame, size: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Consecutive row slices of ``frame`` of at most ``size`` rows (views, not copies)."""
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]



def insert_frame(conn: Connection, table: sa.Table, schema: TableSchema, frame: pd.DataFrame) -> None:
    """Append ``frame`` (typed by ``schema``) to ``table`` within the transaction of ``conn``: COPY on
    PostgreSQL, multi-row INSERTs on SQLite, executemany elsewhere."""
    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        copy_postgres(conn, schema, frame)
        return
    if conn.dialect.name == "sqlite":
        insert_sqlite(conn, schema, frame)
        return
    records = _records(frame, schema)
    conn.execute(table.insert(), records)

def insert_sqlite(conn: Connection, schema: TableSchema, frame: pd.DataFrame) -> None:
    """executemany straight on the DBAPI cursor (same transaction), several rows per INSERT
    statement: with one statement per row, sqlite3's per-statement cost (reset, bind, step) is
    about as large as the insert itself.

    A column that is null in every row of a chunk is left out of that chunk's INSERT (the
    table has no defaults, so it is stored as NULL all the same): the quarantine and parse-error
    columns are null in almost every row, and binding their nulls costs as much as the values."""
    cursor = driver_connection(conn).cursor()
    try:
        for chunk in chunks(frame):
            names, columns = _sqlite_columns(chunk, schema)
            width = len(names)
            per_insert = max(1, min(SQLITE_ROWS_PER_INSERT, SQLITE_MAX_VARIABLES // width))
            quoted = ", ".join(f'"{c}"' for c in names)
            insert = f'INSERT INTO "{schema.name}" ({quoted}) VALUES '
            one = "(" + ", ".join("?" for _ in names) + ")"
            step = per_insert * width
            values = list(chain.from_iterable(zip(*columns, strict=True)))
            whole = len(chunk) // per_insert * step
            if whole:
                many = insert + ", ".join([one] * per_insert)
                cursor.executemany(many, (values[i:i + step] for i in range(0, whole, step)))
            rest = values[whole:]
            if rest:
                cursor.executemany(insert + one, (rest[i:i + width] for i in range(0, len(rest), width)))
    finally:
        cursor.close()

def copy_postgres(conn: Connection, schema: TableSchema, frame: pd.DataFrame) -> None:
    """Bulk load with COPY ... FROM STDIN (CSV), the fast path on PostgreSQL. Each chunk's CSV text
    is written by Arrow's CSV writer (:func:`_copy_csv`), so only one chunk's text is in memory
    at a time."""
    cols = ", ".join(f'"{c}"' for c in schema.column_names)
    dbapi = driver_connection(conn)
    with dbapi.cursor() as cur, cur.copy(f'COPY "{schema.name}" ({cols}) FROM STDIN WITH (FORMAT csv)') as copy:
        for chunk in chunks(frame):
            copy.write(_copy_csv(chunk, schema))


def _nullable(values: np.ndarray, missing: np.ndarray) -> list[object]:
    out = values.astype(object)
    out[missing] = None
    return out.tolist()


def _arrow_column(values: pd.Series, type_: str) -> pa.Array:
    """One column as Arrow, in the form both bulk loads store: dates as date32, datetimes
    truncated to microseconds (what PostgreSQL keeps and SQLAlchemy's SQLite format writes)."""
    array = pa.array(values, from_pandas=True)
    if type_ == "date":
        return pc.cast(array, pa.date32(), safe=False)
    if type_ == "datetime":
        return pc.cast(array, pa.timestamp("us"), safe=False)
    return array


def _copy_csv(frame: pd.DataFrame, schema: TableSchema) -> bytes:
    """``frame`` as COPY CSV text, written by Arrow in C (pandas' ``to_csv`` formats value by value in
    Python, an order of magnitude slower for millions of rows). Text is always quoted and a null is an
    unquoted empty field, so an empty string stays an empty string. Dates as 'YYYY-MM-DD',
    datetimes truncated to microseconds, booleans true/false, floats in their shortest exact form."""
    arrays = [_arrow_column(frame[col.name], col.type) for col in schema.columns]
    sink = io.BytesIO()
    pa_csv.write_csv(pa.Table.from_arrays(arrays, names=schema.column_names), sink,
                     pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()


def _as_text(values: pd.Series, type_: str) -> list[object]:
    """Dates and datetimes as SQLAlchemy's SQLite text ('YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS.ffffff'),
    None for NaT. Each distinct value is formatted once (a month column of millions of rows has a
    few dozen) and by Arrow's cast to string, which writes exactly these forms in C, where pandas'
    strftime goes value by value (session timestamps are nearly all distinct)."""
    codes, uniques = pd.factorize(values)
    text = pc.cast(_arrow_column(pd.Series(uniques), type_), pa.string()).to_numpy(zero_copy_only=False)
    return np.asarray(np.where(codes >= 0, text[codes] if len(text) else None, None), dtype=object).tolist()


def _sqlite_columns(frame: pd.DataFrame, schema: TableSchema) -> tuple[list[str], list[list[object]]]:
    """The names and values of the columns of ``frame`` that hold at least one value, in
    SQLAlchemy's SQLite storage format (the format its Date/DateTime/Boolean types write and
    parse): dates 'YYYY-MM-DD', datetimes 'YYYY-MM-DD HH:MM:SS.ffffff', bools 1/0, None for nulls;
    built column-wise without per-value Python branches. A column with no value at all is left
    out (at least one column is always kept, so an all-null row is still a row)."""
    names: list[str] = []
    cols: list[list[object]] = []
    for col in schema.columns:
        s = frame[col.name]
        missing = s.isna().to_numpy()
        if missing.all():
            continue
        names.append(col.name)
        if not missing.any() and col.type in ("str", "json"):
            cols.append(s.to_numpy(dtype=object).tolist())
        elif col.type in ("date", "datetime"):
            cols.append(_as_text(s, col.type))
        elif col.type == "float":
            cols.append(_nullable(s.to_numpy(dtype="float64", na_value=np.nan), missing))
        elif col.type == "int":
            cols.append(_nullable(s.astype("Int64").to_numpy(dtype="int64", na_value=0), missing))
        elif col.type == "bool":
            cols.append(_nullable(s.astype("boolean").to_numpy(dtype="int64", na_value=0), missing))
        else:
            cols.append(_nullable(s.to_numpy(dtype=object, na_value=None), missing))
    if not names:
        first = schema.columns[0].name
        return [first], [[None] * len(frame)]
    return names, cols


def _records(frame: pd.DataFrame, schema: TableSchema) -> list[dict[str, object]]:
    """Rows as plain Python values (None for nulls) for executemany."""
    cols: dict[str, list[object]] = {}
    for col in schema.columns:
        s = frame[col.name]
        if col.type == "date":
            values = [None if pd.isna(v) else v.date() for v in s]
        elif col.type == "datetime":
            values = [None if pd.isna(v) else v.to_pydatetime() for v in s]
        elif col.type == "float":
            arr = s.to_numpy(dtype="float64", na_value=np.nan)
            values = [None if np.isnan(v) else float(v) for v in arr]
        elif col.type == "int":
            values = [None if v is pd.NA else int(v) for v in s.astype("Int64")]
        elif col.type == "bool":
            values = [None if v is pd.NA else bool(v) for v in s]
        else:
            values = [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in s.astype("object")]
        cols[col.name] = values
    names = list(cols)
    return [dict(zip(names, row, strict=True)) for row in zip(*cols.values(), strict=True)]
