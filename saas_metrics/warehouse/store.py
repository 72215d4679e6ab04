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

import contextlib
import datetime as dt
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from saas_metrics.tables import MONTH_COLUMN, TableSchema, coerce_frame
from saas_metrics.warehouse import checkpoint

_SQL_TYPES: dict[str, sa.types.TypeEngine] = {
    "str": sa.Text(),
    "json": sa.Text(),
    "float": sa.Float(precision=53),
    "int": sa.BigInteger(),
    "bool": sa.Boolean(),
    "date": sa.Date(),
    "datetime": sa.DateTime(),
}


#: Rows per batch when writing or reading big tables (bounds the memory of Python row tuples).
CHUNK_ROWS = 200_000
#: Rows per INSERT statement on SQLite, within the bound-variable limit of old SQLite builds (999).
SQLITE_ROWS_PER_INSERT = 50
SQLITE_MAX_VARIABLES = 999


def _chunks(frame: pd.DataFrame, size: int = CHUNK_ROWS):  # type: ignore[no-untyped-def]
    """Consecutive row slices of ``frame`` of at most ``size`` rows (views, not copies)."""
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]


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

        checkpoint.attach(engine)  # WAL checkpoints off the writer's path (warehouse/checkpoint.py)
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
        cache_scope: str | None = None,
    ) -> int:
        """Replace the rows of ``window`` (all rows when None; optionally only those
        matching ``where`` filters: a value, or a list of values) by ``frame``, atomically. Rows of
        ``frame`` outside the window are refused, so a write can never touch
        another partition. Returns the number of rows written.

        With ``cache_scope`` (a run id) the written rows are also kept as that run's read of the
        window (write-through :class:`ReadCache`), so the run's next reader does not fetch them back."""
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
            # A window holding every stored row (a backfill of every month again) empties the table
            # with a DELETE without WHERE, which SQLite does page by page (its truncate optimisation)
            # instead of row by row through the indexes: 8 s for 848,000 session rows.
            if window is not None and (where or not _holds(window, _month_range(conn, schema.name))):
                delete = delete.where(table.c[MONTH_COLUMN] >= window[0], table.c[MONTH_COLUMN] < window[1])
            elif not where:
                self._drop_probe_indexes(conn, schema.name)
            for name, value in (where or {}).items():
                # A list or tuple replaces the rows holding any of its values (several partitions at once).
                is_many = isinstance(value, list | tuple)
                delete = delete.where(table.c[name].in_(value) if is_many else table.c[name] == value)
            conn.execute(delete)
            self._insert(conn, table, schema, frame)
        _READ_CACHE.forget(self.url, schema.name)
        if cache_scope is not None and not where and _stored_exactly(frame, schema):
            _READ_CACHE.put(self.url, cache_scope, schema, window, None, frame)
        return len(frame)

    def cache_subset(self, target: TableSchema, source: TableSchema, window: tuple[dt.date, dt.date] | None,
                     cache_scope: str, keep: Callable[[pd.DataFrame], pd.Series]) -> bool:
        """When the run's read cache holds ``source``'s rows of exactly ``window``, keep ``target``'s rows
        of that window too (``target`` a view of ``source``, ``keep`` = the view's filter in pandas), so
        the run's next reader of ``target`` does not fetch them. True when kept."""
        frame = _READ_CACHE.get(self.url, cache_scope, source, window, None, exact=True)
        if frame is None:
            return False
        _READ_CACHE.forget(self.url, source.name)  # the run reads the staging table, not the raw one
        rows = keep(frame).to_numpy()
        subset = frame[list(target.column_names)]
        # Clean exports keep every row: no copy of millions of rows to drop none.
        _READ_CACHE.put(self.url, cache_scope, target, window, None, subset if rows.all() else subset[rows].reset_index(drop=True))
        return True

    def ensure_view(self, view: TableSchema, source: TableSchema, *, where_sql: str = "") -> None:
        """Make ``view`` a view of the rows of ``source`` that satisfy ``where_sql`` (its columns, all of
        which ``source`` must have). Nothing is copied: a staging table of millions of clean rows costs
        no write. An existing view with the same columns is kept (views users built on it survive);
        one with other columns, or a table of that name from an older version, is replaced."""
        missing = [c for c in view.column_names if c not in source.column_names]
        if missing:
            raise ValueError(f"{view.name}: columns {missing} are not in {source.name}")
        self.ensure_table(source)
        cols = ", ".join(f'"{c}"' for c in view.column_names)
        where = f" WHERE {where_sql}" if where_sql else ""
        _READ_CACHE.depends(self.url, view.name, source.name)
        with self._ddl_lock, self.engine.begin() as conn:
            _lock_table(conn, view.name)
            insp = sa.inspect(conn)
            if view.name in insp.get_view_names():
                if [c["name"] for c in insp.get_columns(view.name)] == view.column_names:
                    return
                conn.execute(sa.text(f'DROP VIEW "{view.name}"'))
            elif insp.has_table(view.name):
                conn.execute(sa.text(f'DROP TABLE "{view.name}"'))
            conn.execute(sa.text(f'CREATE VIEW "{view.name}" AS SELECT {cols} FROM "{source.name}"{where}'))
        _READ_CACHE.forget(self.url, view.name)

    def append(self, schema: TableSchema, frame: pd.DataFrame) -> int:
        frame = coerce_frame(frame, schema)
        self.ensure_table(schema)
        with self.engine.begin() as conn:
            self._insert(conn, self.sa_table(schema), schema, frame)
        _READ_CACHE.forget(self.url, schema.name)
        return len(frame)

    def _insert(self, conn: Connection, table: sa.Table, schema: TableSchema, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if conn.dialect.name == "postgresql":
            self._copy_postgres(conn, schema, frame)
            return
        if conn.dialect.name == "sqlite":
            self._insert_sqlite(conn, schema, frame)
            return
        records = _records(frame, schema)
        conn.execute(table.insert(), records)

    @staticmethod
    def _insert_sqlite(conn: Connection, schema: TableSchema, frame: pd.DataFrame) -> None:
        """executemany straight on the DBAPI cursor (same transaction), several rows per INSERT
        statement: sqlite3's per-statement cost (reset, bind, step) was half the time of loading
        millions of rows one statement per row (20 s -> 11 s for 2.9 M usage rows in memory).

        A column that is null in every row of a chunk is left out of that chunk's INSERT (the
        table has no defaults, so it is stored as NULL all the same): binding the nulls of the
        mostly empty quarantine and parse-error columns was half of what remained (11 s -> 5 s)."""
        cursor = conn.connection.driver_connection.cursor()
        try:
            for chunk in _chunks(frame):
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

    @staticmethod
    def _copy_postgres(conn: Connection, schema: TableSchema, frame: pd.DataFrame) -> None:
        """Bulk load with COPY ... FROM STDIN (CSV), the fast path on PostgreSQL. Each chunk's CSV text
        is written by Arrow's CSV writer (:func:`_copy_csv`), so only one chunk's text is in memory
        at a time."""
        cols = ", ".join(f'"{c}"' for c in schema.column_names)
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur, cur.copy(f'COPY "{schema.name}" ({cols}) FROM STDIN WITH (FORMAT csv)') as copy:
            for chunk in _chunks(frame):
                copy.write(_copy_csv(chunk, schema))

    # -- reads --------------------------------------------------------------
    def read(
        self,
        schema: TableSchema,
        window: tuple[dt.date, dt.date] | None = None,
        *,
        where: sa.ColumnElement[bool] | None = None,
        columns: Sequence[str] | None = None,
        cache_scope: str | None = None,
    ) -> pd.DataFrame:
        """Rows of ``window`` (all when None), typed by the schema. A table that does
        not exist yet reads as an empty frame.

        With ``cache_scope`` (a run id), a big read is kept for that scope and a later read of the
        same table whose window and columns it covers is sliced from memory (see :class:`ReadCache`)."""
        if cache_scope is not None and where is None:
            hit = _READ_CACHE.get(self.url, cache_scope, schema, window, columns)
            if hit is not None:
                return hit
            frame = self.read(schema, window, columns=_with_month(schema, columns))
            _READ_CACHE.put(self.url, cache_scope, schema, window, columns, frame)
            return frame if columns is None else frame[list(columns)]
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
        return self.query(query, schema, names)

    def query(self, statement: sa.Executable, schema: TableSchema, columns: Sequence[str],
              params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """The rows of a SELECT whose result columns are ``columns`` of ``schema``, in that order,
        typed by the schema (for SQL the warehouse should answer itself: aggregates, joins)."""
        names = list(columns)
        sub = TableSchema(schema.name, tuple(schema.column(c) for c in names), time_column=schema.time_column)
        parts: list[pd.DataFrame] = []
        with self.engine.connect() as conn:
            result = conn.execute(statement, dict(params or {}))
            cursor = result.cursor
            # Typed chunk by chunk: the driver's tuples of a chunk are freed before the next is fetched.
            while cursor is not None and (rows := cursor.fetchmany(CHUNK_ROWS)):
                parts.append(coerce_frame(pd.DataFrame.from_records(rows, columns=names, coerce_float=False), sub))
                del rows
        if not parts:
            return coerce_frame(pd.DataFrame(columns=names), sub)
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    def read_month(self, schema: TableSchema, month: dt.date, *, columns: Sequence[str] | None = None,
                   cache_scope: str | None = None) -> pd.DataFrame:
        """The rows of the one month starting ``month`` (:meth:`read` of that window): for readers
        that go through a range month by month, so they hold a month of an event table at a time."""
        start = pd.Timestamp(month).date()
        end = (pd.Timestamp(start) + pd.DateOffset(months=1)).date()
        return self.read(schema, month_window(start, end), columns=columns, cache_scope=cache_scope)

    def cached(self, schema: TableSchema, window: tuple[dt.date, dt.date] | None, columns: Sequence[str] | None,
               cache_scope: str) -> pd.DataFrame | None:
        """The rows of ``window`` and ``columns`` from the run's read cache when it covers them, else
        None; nothing is read from the database."""
        return _READ_CACHE.get(self.url, cache_scope, schema, window, columns)

    def month_range(self, name: str) -> tuple[dt.date, dt.date] | None:
        """The earliest and latest ``month`` of a table or view (None when absent or empty), two
        lookups in its month index."""
        if not self.has_table(name):
            return None
        with self.engine.connect() as conn:
            return _month_range(conn, name)

    def first_month(self, name: str) -> dt.date | None:
        """The earliest ``month`` of a table or view (None when absent or empty)."""
        months = self.month_range(name)
        return None if months is None else months[0]

    def present_values(self, schema: TableSchema, column: str, values: Sequence[str], *,
                       outside: tuple[dt.date, dt.date] | None = None, where_sql: str = "") -> frozenset[str]:
        """Which of ``values`` the text ``column`` of ``schema`` holds (in rows outside the month window
        ``outside`` and matching ``where_sql``), answered by the database: the values go to a temporary
        table and are joined, not a read of all its ids into Python. The probed column gets an index, made
        by the first probe, so a month's probe costs lookups of its own ids, not a scan of the history."""
        if not values or not self.has_table(schema.name):
            return frozenset()
        if outside is not None and _holds(outside, self.month_range(schema.name)):
            return frozenset()  # no other partition to probe (a backfill of every month again)
        self._ensure_index(schema.name, column)
        conditions = [f'"{MONTH_COLUMN}" < :start OR "{MONTH_COLUMN}" >= :end'] if outside is not None else []
        if where_sql:
            conditions.append(where_sql)
        where = "".join(f" AND ({c})" for c in conditions)
        params = {"start": outside[0], "end": outside[1]} if outside is not None else {}
        unique = sorted(set(values))
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # One round trip (the values are one array parameter), and LATERAL ... LIMIT 1 makes
                # the plan one lookup per value in the column's index, whatever the statistics say.
                # A temporary table with EXISTS got a hash join over the whole table instead: 1.6 s
                # against 0.3 s for a month's 34,000 session ids among 850,000. Without statistics the
                # estimate can pass JIT's thresholds; compiling never pays for index lookups.
                conn.execute(sa.text("SET LOCAL jit = off"))
                found = conn.execute(sa.text(
                    f'SELECT p.value FROM unnest(CAST(:values AS text[])) AS p(value) CROSS JOIN LATERAL'
                    f' (SELECT 1 FROM "{schema.name}" t WHERE t."{column}" = p.value{where} LIMIT 1) hit'),
                    {**params, "values": unique}).scalars().all()
                return frozenset(str(v) for v in found)
            conn.execute(sa.text("CREATE TEMPORARY TABLE _probe_values (value TEXT PRIMARY KEY)"))
            try:
                cursor = conn.connection.driver_connection.cursor()
                try:
                    for start in range(0, len(unique), CHUNK_ROWS):
                        cursor.executemany("INSERT INTO _probe_values (value) VALUES (?)",
                                           [(v,) for v in unique[start:start + CHUNK_ROWS]])
                finally:
                    cursor.close()
                # A semi-join driven by the probe values: each is looked up in the column's index.
                # (As a plain join SQLite walked the whole index of the big table instead.)
                found = conn.execute(sa.text(
                    f'SELECT p.value FROM _probe_values p WHERE EXISTS (SELECT 1 FROM "{schema.name}" t'
                    f' WHERE t."{column}" = p.value{where})'), params).scalars().all()
            finally:
                with contextlib.suppress(sa.exc.DBAPIError):
                    conn.execute(sa.text("DROP TABLE _probe_values"))
        return frozenset(str(v) for v in found)

    def _drop_probe_indexes(self, conn: Connection, table: str) -> None:
        """Before ``table`` is loaded whole again, drop the indexes :meth:`_ensure_index` made: the
        next probe builds each again in one sort, where keeping it made the load insert every row into
        it (session ids: 2.2 s -> 9 s for 848,000 rows). The month index stays."""
        for index in sa.inspect(conn).get_indexes(table):
            name = index["name"] or ""
            if name.startswith(f"ix_{table}_") and name != f"ix_{table}_{MONTH_COLUMN}":
                conn.execute(sa.text(f'DROP INDEX "{name}"'))
                _INDEXED.discard((self.url, table, *index["column_names"]))

    def _ensure_index(self, table: str, column: str) -> None:
        """An index on ``table.column`` (no-op when it exists). A table first written by a full backfill
        gets it only when a later run probes it, so the bulk load does not maintain it."""
        key = (self.url, table, column)
        if key in _INDEXED:
            return
        with self._ddl_lock, self.engine.begin() as conn:
            _lock_table(conn, table)
            conn.execute(sa.text(f'CREATE INDEX IF NOT EXISTS "ix_{table}_{column}" ON "{table}" ("{column}")'))
        _INDEXED.add(key)

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


def _month_range(conn: Connection, name: str) -> tuple[dt.date, dt.date] | None:
    # Two scalar subqueries, not MIN and MAX in one SELECT: SQLite answers a lone MIN or MAX from
    # the index's first or last entry, but both together scan the whole index (0.3 s for 2.9 M
    # usage rows, on every monthly replace of the table).
    low, high = conn.execute(sa.text(_MONTH_RANGE_SQL.format(column=MONTH_COLUMN, table=name))).one()
    return None if low is None else (pd.Timestamp(str(low)).date(), pd.Timestamp(str(high)).date())


_MONTH_RANGE_SQL = 'SELECT (SELECT MIN("{column}") FROM "{table}"), (SELECT MAX("{column}") FROM "{table}")'


def _holds(window: tuple[dt.date, dt.date], months: tuple[dt.date, dt.date] | None) -> bool:
    """Whether the month ``window`` holds the whole range ``months`` (an empty range: yes)."""
    return months is None or (window[0] <= months[0] and months[1] < window[1])


def _stored_exactly(frame: pd.DataFrame, schema: TableSchema) -> bool:
    """Whether ``frame`` reads back from the warehouse exactly as it is (timestamps are stored to
    the microsecond: a frame with nanoseconds is not kept as a read)."""
    for col in schema.columns:
        if col.type == "datetime":
            nanos = frame[col.name].dropna().to_numpy(dtype="datetime64[ns]").astype("int64")
            if (nanos % 1000 != 0).any():
                return False
    return True


def _with_month(schema: TableSchema, columns: Sequence[str] | None) -> list[str] | None:
    """``columns`` plus the month column (so a cached frame can be sliced by window)."""
    if columns is None or MONTH_COLUMN not in schema.column_names or MONTH_COLUMN in columns:
        return None if columns is None else list(columns)
    return [MONTH_COLUMN, *columns]


def frame_bytes(frame: pd.DataFrame) -> int:
    """Memory held by ``frame``'s columns (Arrow-backed text: its buffers, without visiting values)."""
    return int(frame.memory_usage(index=False, deep=True).sum())


#: A cache entry: window, columns (None: every column), frame, its bytes.
_Entry = tuple[tuple[dt.date, dt.date] | None, frozenset[str] | None, pd.DataFrame, int]


class ReadCache:
    """Frames read during one run, reused by later reads of the same table in that run.

    In a single-run backfill several assets read the same big table (product usage is read by
    account_engagement for M-1..M and by kpi_engagement for M): the second read is sliced from
    the first instead of fetching millions of rows again. Only reads of at least ``min_rows`` rows
    are kept, at most ``max_bytes`` of frames in all (least recently used dropped first); every
    write to a table through :class:`Warehouse` in this process forgets that table's entries, and
    entries are scoped to one run id, so another run (or process) never sees them, and only the
    latest run's entries are kept.

    The bound is memory, not rows, so that a run's memory does not grow with the history: a
    backfill whose event tables fit keeps them and slices every month from memory; one whose
    tables do not fit reads them a month at a time from the warehouse (their readers go month by
    month), and the cache then holds a month, not the history."""

    def __init__(self, min_rows: int = 10_000, max_bytes: int = 768 * 2**20) -> None:
        self.min_rows = min_rows
        self.max_bytes = max_bytes
        self._kept_columns: dict[str, frozenset[str]] = {}
        self._views: dict[tuple[str, str], set[str]] = {}
        self._entries: OrderedDict[tuple[str, str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str, scope: str, schema: TableSchema, window: tuple[dt.date, dt.date] | None,
            columns: Sequence[str] | None, *, exact: bool = False) -> pd.DataFrame | None:
        """The cached rows of ``window`` and ``columns`` of the run ``scope`` (None: not cached);
        ``exact``: only an entry of exactly that window."""
        with self._lock:
            entry = self._entries.get((url, scope, schema.name))
            if entry is None:
                return None
            cached_window, cached_columns, frame, _ = entry
            if exact and cached_window != window:
                return None
            wanted = frozenset(columns) if columns is not None else None
            if cached_columns is not None and (wanted is None or not wanted <= cached_columns):
                return None
            if cached_window is not None and (window is None or window[0] < cached_window[0] or window[1] > cached_window[1]):
                return None
            self._entries.move_to_end((url, scope, schema.name))
        if window is not None and window != cached_window:
            months = frame[MONTH_COLUMN]
            frame = frame[((months >= pd.Timestamp(window[0])) & (months < pd.Timestamp(window[1]))).to_numpy()]
            frame = frame.reset_index(drop=True)
        return (frame if columns is None else frame[list(columns)]).copy(deep=False)

    def keep_columns(self, columns_by_table: Mapping[str, Iterable[str]]) -> None:
        """Keep only these columns (and ``month``) of these tables: every reader of such a table in
        the code location declares the columns it reads, and the rest (lineage columns of staging
        tables, say) would only hold memory. A read asking for other columns misses and goes to the
        database. Replaces the previous declaration; tables not named keep every column."""
        with self._lock:
            self._kept_columns = {table: frozenset(cols) | {MONTH_COLUMN} for table, cols in columns_by_table.items()}

    def kept_columns(self, table: str) -> frozenset[str] | None:
        """The columns kept of ``table`` (None: every column)."""
        return self._kept_columns.get(table)

    def put(self, url: str, scope: str, schema: TableSchema, window: tuple[dt.date, dt.date] | None,
            columns: Sequence[str] | None, frame: pd.DataFrame) -> None:
        if len(frame) < self.min_rows:
            return
        if window is not None and MONTH_COLUMN not in frame.columns:
            return
        kept = self._kept_columns.get(schema.name)
        if kept is not None and not set(frame.columns) <= kept:
            frame = frame[[c for c in frame.columns if c in kept]]
            columns = list(frame.columns)  # the entry no longer answers a read of every column
        size = frame_bytes(frame)
        if size > self.max_bytes:
            return
        with self._lock:
            # One run at a time keeps entries: a finished run's frames are dropped by the next run's first put.
            for key in [k for k in self._entries if k[1] != scope]:
                del self._entries[key]
            self._entries[(url, scope, schema.name)] = (window, frozenset(frame.columns) if columns is not None else None, frame, size)
            self._entries.move_to_end((url, scope, schema.name))
            while sum(e[3] for e in self._entries.values()) > self.max_bytes:
                self._entries.popitem(last=False)

    def depends(self, url: str, view: str, table: str) -> None:
        """``view`` reads ``table``: forgetting the table forgets the view too."""
        with self._lock:
            self._views.setdefault((url, table), set()).add(view)

    def forget(self, url: str, table: str) -> None:
        with self._lock:
            names = {table} | self._views.get((url, table), set())
            for key in [k for k in self._entries if k[0] == url and k[2] in names]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_READ_CACHE = ReadCache()


def keep_read_columns(columns_by_table: Mapping[str, Iterable[str]]) -> None:
    """Declare, for this process's read cache, the only columns read from these tables
    (:meth:`ReadCache.keep_columns`)."""
    _READ_CACHE.keep_columns(columns_by_table)
#: (url, table, column) known to have an index in this process (see Warehouse._ensure_index).
_INDEXED: set[tuple[str, str, str]] = set()


def _lock_table(conn: Connection, name: str) -> None:
    """Serialise writers of one table across processes until the transaction ends, BEFORE the
    transaction reads anything it decides on (what exists, which months are stored): concurrent
    runs then neither race on CREATE TABLE / CREATE VIEW nor delete rows another run committed
    after the read (a window holding "every stored month" empties the whole table).

    PostgreSQL: a transaction-level advisory lock per table (each later statement of the
    transaction sees what the previous holder committed). SQLite: ``BEGIN IMMEDIATE``, the
    database's write lock, taken as the transaction's first statement. sqlite3 otherwise begins a
    transaction only at the first INSERT/UPDATE/DELETE, so the reads before it ran outside any
    transaction, on whatever was committed at that moment."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"saas_metrics:{name}"})
    elif conn.dialect.name == "sqlite":
        dbapi = conn.connection.driver_connection
        if not dbapi.in_transaction:  # in one already: a write began it, so the lock is held
            dbapi.execute("BEGIN IMMEDIATE")


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
    """``frame`` as COPY CSV text, written by Arrow (pandas' ``to_csv`` took 13 s for the 2.9 M usage
    rows of the benchmark's medium scale, Arrow 0.9 s). Text is always quoted and a null is an
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
    few dozen) and by Arrow's cast to string, which writes exactly these forms in C: pandas'
    strftime took 0.72 s for the 848,000 distinct session timestamps of the medium scale, this 0.2 s."""
    codes, uniques = pd.factorize(values)
    text = pc.cast(_arrow_column(pd.Series(uniques), type_), pa.string()).to_numpy(zero_copy_only=False)
    return np.where(codes >= 0, text[codes] if len(text) else None, None).tolist()


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
