"""Atomic, idempotent reads and writes of tables by month window.

Every partitioned table has a ``month`` DATE column (first day of the row's
partition month). Writing a window ``[start, end)`` deletes exactly that window
and inserts the new rows inside ONE transaction, so re-running a month or a
range never duplicates or loses rows, and a failure mid-write leaves the
previous data intact. Unpartitioned tables are replaced whole, the same way.

Tables are created from their :class:`~saas_metrics.tables.TableSchema`, so
column types are stable whatever the first partition happens to contain.
PostgreSQL is bulk-loaded with ``COPY``; other databases use executemany.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from saas_metrics.tables import MONTH_COLUMN, TableSchema, coerce_frame

_SQL_TYPES: dict[str, sa.types.TypeEngine] = {
    "str": sa.Text(),
    "json": sa.Text(),
    "float": sa.Float(precision=53),
    "int": sa.BigInteger(),
    "bool": sa.Boolean(),
    "date": sa.Date(),
    "datetime": sa.DateTime(),
}


def month_window(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """A half-open month window [start, end) of first-of-month dates."""
    if start.day != 1 or end.day != 1 or end <= start:
        raise ValueError(f"not a month window: [{start}, {end})")
    return start, end


@lru_cache(maxsize=8)
def make_engine(url: str) -> Engine:
    """One engine per URL per process. SQLite gets WAL and a busy timeout so the
    webserver can read while a run writes."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return sa.create_engine(url, pool_pre_ping=True)


class Warehouse:
    """Table-level access to the warehouse at ``url``."""

    _ddl_lock = threading.Lock()

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- schema -------------------------------------------------------------
    def sa_table(self, schema: TableSchema, columns: Sequence[str] | None = None) -> sa.Table:
        """The SQLAlchemy table of ``schema`` (optionally only ``columns``). The same schema always gives the
        same Table object, so a ``where`` built on ``sa_table(schema)`` can be passed to :meth:`read`."""
        return _sa_table(schema, None if columns is None else tuple(columns))

    def storage_columns(self, schema: TableSchema, partitioned: bool) -> TableSchema:
        """The schema as stored: partitioned tables get the ``month`` column first."""
        if not partitioned or MONTH_COLUMN in schema.column_names:
            return schema
        from saas_metrics.tables import Column

        return TableSchema(
            name=schema.name,
            columns=(Column(MONTH_COLUMN, "date", "partition month"), *schema.columns),
            description=schema.description,
            time_column=MONTH_COLUMN,
            key=schema.key,
        )

    def ensure_table(self, schema: TableSchema, conn: Connection | None = None) -> None:
        """Create the table (and its month index) if it does not exist; add columns
        that a newer schema declares."""
        with self._ddl_lock:
            own = conn is None
            conn = conn or self.engine.connect()
            try:
                _lock_table(conn, schema.name)
                insp = sa.inspect(conn)
                table = _build_table(schema, None)  # not the shared Table: the index below attaches to it
                if not insp.has_table(schema.name):
                    table.create(conn)
                    if MONTH_COLUMN in schema.column_names:
                        sa.Index(f"ix_{schema.name}_month", table.c[MONTH_COLUMN]).create(conn)
                else:
                    existing = {c["name"] for c in insp.get_columns(schema.name)}
                    for col in schema.columns:
                        if col.name not in existing:
                            ddl_type = _SQL_TYPES[col.type].compile(dialect=conn.dialect)
                            conn.execute(sa.text(f'ALTER TABLE "{schema.name}" ADD COLUMN "{col.name}" {ddl_type}'))
                if own:
                    conn.commit()
            finally:
                if own:
                    conn.close()

    def has_table(self, name: str) -> bool:
        return sa.inspect(self.engine).has_table(name)

    # -- writes -------------------------------------------------------------
    def replace(
        self,
        schema: TableSchema,
        frame: pd.DataFrame,
        window: tuple[dt.date, dt.date] | None = None,
        *,
        where: dict[str, object] | None = None,
    ) -> int:
        """Replace the rows of ``window`` (all rows when None; optionally only those
        matching ``where`` equality filters) by ``frame``, atomically. Rows of
        ``frame`` outside the window are refused, so a write can never touch
        another partition. Returns the number of rows written."""
        frame = coerce_frame(frame, schema)
        if window is not None:
            if MONTH_COLUMN not in schema.column_names:
                raise ValueError(f"{schema.name} has no month column; cannot write a window")
            start, end = (pd.Timestamp(w) for w in window)
            months = frame[MONTH_COLUMN]
            outside = months.isna() | (months < start) | (months >= end)
            if outside.any():
                bad = sorted({str(m)[:10] for m in months[outside]})
                raise ValueError(f"{schema.name}: {int(outside.sum())} rows fall outside the window [{window[0]}, {window[1]}): months {bad[:5]}")
        self.ensure_table(schema)
        table = self.sa_table(schema)
        with self.engine.begin() as conn:
            _lock_table(conn, schema.name)
            delete = table.delete()
            if window is not None:
                delete = delete.where(table.c[MONTH_COLUMN] >= window[0], table.c[MONTH_COLUMN] < window[1])
            for name, value in (where or {}).items():
                delete = delete.where(table.c[name] == value)
            conn.execute(delete)
            self._insert(conn, table, schema, frame)
        return len(frame)

    def append(self, schema: TableSchema, frame: pd.DataFrame) -> int:
        frame = coerce_frame(frame, schema)
        self.ensure_table(schema)
        with self.engine.begin() as conn:
            self._insert(conn, self.sa_table(schema), schema, frame)
        return len(frame)

    def _insert(self, conn: Connection, table: sa.Table, schema: TableSchema, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if conn.dialect.name == "postgresql":
            self._copy_postgres(conn, schema, frame)
            return
        if conn.dialect.name == "sqlite":
            # executemany of tuples straight on the DBAPI cursor (same transaction): no per-row dicts.
            cols = ", ".join(f'"{c}"' for c in schema.column_names)
            marks = ", ".join("?" for _ in schema.column_names)
            cursor = conn.connection.driver_connection.cursor()
            try:
                cursor.executemany(f'INSERT INTO "{schema.name}" ({cols}) VALUES ({marks})', _sqlite_rows(frame, schema))
            finally:
                cursor.close()
            return
        records = _records(frame, schema)
        conn.execute(table.insert(), records)

    @staticmethod
    def _copy_postgres(conn: Connection, schema: TableSchema, frame: pd.DataFrame) -> None:
        """Bulk load with COPY ... FROM STDIN (CSV), the fast path on PostgreSQL."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        out = pd.DataFrame(index=frame.index)
        for col in schema.columns:
            s = frame[col.name]
            if col.type == "date":
                out[col.name] = s.dt.strftime("%Y-%m-%d")
            elif col.type == "datetime":
                out[col.name] = s.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
            elif col.type == "bool":
                out[col.name] = s.map(lambda v: None if v is pd.NA or v is None else ("t" if v else "f"))
            elif col.type == "float":
                out[col.name] = s.map(lambda v: None if pd.isna(v) else repr(float(v)))
            else:
                out[col.name] = s.astype("object")
        out = out.astype("object").where(out.notna(), None)
        null = "\\N"
        for row in out.itertuples(index=False, name=None):
            writer.writerow([null if v is None else v for v in row])
        cols = ", ".join(f'"{c}"' for c in schema.column_names)
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur, cur.copy(f'COPY "{schema.name}" ({cols}) FROM STDIN WITH (FORMAT csv, NULL \'{null}\')') as copy:
            copy.write(buf.getvalue())

    # -- reads --------------------------------------------------------------
    def read(
        self,
        schema: TableSchema,
        window: tuple[dt.date, dt.date] | None = None,
        *,
        where: sa.ColumnElement[bool] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``window`` (all when None), typed by the schema. A table that does
        not exist yet reads as an empty frame."""
        if not self.has_table(schema.name):
            return schema.empty_frame() if columns is None else schema.empty_frame()[list(columns)]
        table = self.sa_table(schema)
        names = list(columns or schema.column_names)
        # Selected as untyped so rows come back as the driver's plain tuples (no per-value result
        # processing, no Row objects): coerce_frame below types every column vectorised, and it
        # parses SQLite's ISO date/datetime text the same way SQLAlchemy's types would.
        query = sa.select(*(sa.type_coerce(table.c[c], sa.types.NullType()).label(c) for c in names))
        if window is not None:
            query = query.where(table.c[MONTH_COLUMN] >= window[0], table.c[MONTH_COLUMN] < window[1])
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            result = conn.execute(query)
            rows = result.cursor.fetchall() if result.cursor is not None else []
            frame = pd.DataFrame.from_records(rows, columns=names, coerce_float=False) if rows else pd.DataFrame(columns=names)
        sub = schema if columns is None else TableSchema(schema.name, tuple(schema.column(c) for c in columns), time_column=schema.time_column)
        return coerce_frame(frame, sub)

    def count(self, name: str, window: tuple[dt.date, dt.date] | None = None, where_sql: str = "") -> int:
        if not self.has_table(name):
            return 0
        sql = f'SELECT COUNT(*) FROM "{name}" WHERE 1=1'
        params: dict[str, object] = {}
        if window is not None:
            sql += " AND month >= :start AND month < :end"
            params = {"start": window[0], "end": window[1]}
        if where_sql:
            sql += f" AND {where_sql}"
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text(sql), params).scalar_one())


def _lock_table(conn: Connection, name: str) -> None:
    """Serialise writers of one table across processes until the transaction ends (PostgreSQL
    advisory lock): concurrent runs of different partitions then neither race on CREATE TABLE
    nor both delete-then-insert an unpartitioned table (which would duplicate its rows).
    SQLite needs nothing: it has one writer at a time."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"saas_metrics:{name}"})


_TABLES: dict[tuple[object, ...], sa.Table] = {}
_TABLES_LOCK = threading.Lock()


def _sa_table(schema: TableSchema, columns: tuple[str, ...] | None) -> sa.Table:
    key = (schema.name, tuple((c.name, c.type) for c in schema.columns), columns)
    with _TABLES_LOCK:
        table = _TABLES.get(key)
        if table is None:
            table = _TABLES[key] = _build_table(schema, columns)
        return table


def _build_table(schema: TableSchema, columns: tuple[str, ...] | None) -> sa.Table:
    cols = [sa.Column(c.name, _SQL_TYPES[c.type]) for c in schema.columns if columns is None or c.name in columns]
    return sa.Table(schema.name, sa.MetaData(), *cols)


def _nullable(values: np.ndarray, missing: np.ndarray) -> list[object]:
    out = values.astype(object)
    out[missing] = None
    return out.tolist()


def _sqlite_rows(frame: pd.DataFrame, schema: TableSchema) -> list[tuple[object, ...]]:
    """Rows as tuples in SQLAlchemy's SQLite storage format (the format its Date/DateTime/Boolean
    types write and parse): dates 'YYYY-MM-DD', datetimes 'YYYY-MM-DD HH:MM:SS.ffffff', bools 1/0,
    None for nulls; built column-wise without per-value Python branches."""
    cols: list[list[object]] = []
    for col in schema.columns:
        s = frame[col.name]
        missing = s.isna().to_numpy()
        if col.type == "date":
            cols.append(_nullable(s.dt.strftime("%Y-%m-%d").to_numpy(dtype=object, na_value=None), missing))
        elif col.type == "datetime":
            cols.append(_nullable(s.dt.strftime("%Y-%m-%d %H:%M:%S.%f").to_numpy(dtype=object, na_value=None), missing))
        elif col.type == "float":
            cols.append(_nullable(s.to_numpy(dtype="float64", na_value=np.nan), missing))
        elif col.type == "int":
            cols.append(_nullable(s.astype("Int64").to_numpy(dtype="int64", na_value=0), missing))
        elif col.type == "bool":
            cols.append(_nullable(s.astype("boolean").to_numpy(dtype="int64", na_value=0), missing))
        else:
            cols.append(_nullable(s.to_numpy(dtype=object, na_value=None), missing))
    return list(zip(*cols, strict=True))


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
