"""Atomic, idempotent reads and writes of tables by month window.

Every partitioned table has a ``month`` DATE column (first day of the row's
partition month). Writing a window ``[start, end)`` deletes exactly that window
and inserts the new rows inside ONE transaction, so re-running a month or a
range never duplicates or loses rows, and a failure mid-write leaves the
previous data intact. Unpartitioned tables are replaced whole, the same way.

Tables are created from their :class:`~saas_metrics.tables.TableSchema`, so
column types are stable whatever the first partition happens to contain.
This module is the table access; the engine and table definitions are in
:mod:`~saas_metrics.warehouse.engine`, bulk loading in :mod:`~saas_metrics.warehouse.bulk_load` and
the run's read cache in :mod:`~saas_metrics.warehouse.read_cache`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from saas_metrics.arrow_pool import use_returning_arrow_pool
from saas_metrics.calendar import add_months
from saas_metrics.tables import MONTH_COLUMN, Column, TableSchema, coerce_frame
from saas_metrics.warehouse import stored_content
from saas_metrics.warehouse.bulk_load import CHUNK_ROWS, insert_frame
from saas_metrics.warehouse.engine import (
    SQL_TYPES,
    build_table,
    driver_connection,
    lock_table,
    make_engine,
    month_window,
    sa_table,
    stored_columns,
)
from saas_metrics.warehouse.read_cache import (
    BatchFill,
    ReadCache,
    in_month_order,
    with_month_column,
)
from saas_metrics.warehouse.stored_content import STORED_CONTENT, content_fingerprint

__all__ = ["ReadCache", "Warehouse", "make_engine", "month_window"]


class Warehouse:
    """Table-level access to the warehouse at ``url``."""

    _ddl_lock = threading.Lock()

    def __init__(self, url: str, read_columns: Mapping[str, Iterable[str]] | None = None) -> None:
        """``read_columns``: per table, the only columns the code location reads of it; a run's read
        cache keeps only those (and ``month``) of such a table (see :meth:`ReadCache.put`)."""
        self.url = url
        self.engine = make_engine(url)
        self.read_columns = {table: frozenset(cols) | {MONTH_COLUMN} for table, cols in (read_columns or {}).items()}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- schema -------------------------------------------------------------
    def sa_table(self, schema: TableSchema, columns: Sequence[str] | None = None) -> sa.Table:
        """The SQLAlchemy table of ``schema`` (optionally only ``columns``). The same schema always gives the
        same Table object, so a ``where`` built on ``sa_table(schema)`` can be passed to :meth:`read`."""
        return sa_table(schema, None if columns is None else tuple(columns))

    def storage_columns(self, schema: TableSchema, partitioned: bool) -> TableSchema:
        """The schema as stored: partitioned tables get the ``month`` column first."""
        if not partitioned or MONTH_COLUMN in schema.column_names:
            return schema
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
        # A table that has every column already needs nothing, and nothing is locked to see that;
        # only a change is made under the table's lock, after looking again.
        if conn is not None:
            current = stored_columns(conn, schema.name)
        else:
            with self.engine.connect() as own_conn:
                current = stored_columns(own_conn, schema.name)
        if current is not None and set(schema.column_names) <= set(current):
            return
        with self._ddl_lock:
            own = conn is None
            conn = conn or self.engine.connect()
            try:
                lock_table(conn, schema.name)
                table = build_table(schema, None)  # not the shared Table: the index below attaches to it
                existing = stored_columns(conn, schema.name)
                if existing is None:
                    table.create(conn)
                    if MONTH_COLUMN in schema.column_names:
                        sa.Index(f"ix_{schema.name}_month", table.c[MONTH_COLUMN]).create(conn)
                else:
                    for col in schema.columns:
                        if col.name not in existing:
                            ddl_type = SQL_TYPES[col.type].compile(dialect=conn.dialect)
                            conn.execute(sa.text(f'ALTER TABLE "{schema.name}" ADD COLUMN "{col.name}" {ddl_type}'))
                if own:
                    conn.commit()
            finally:
                if own:
                    conn.close()

    def has_table(self, name: str) -> bool:
        """Whether the table or view ``name`` exists (:func:`~saas_metrics.warehouse.engine.stored_columns`)."""
        with self.engine.connect() as conn:
            return stored_columns(conn, name) is not None

    # -- writes -------------------------------------------------------------
    def replace(
        self,
        schema: TableSchema,
        frame: pd.DataFrame,
        window: tuple[dt.date, dt.date] | None = None,
        *,
        where: dict[str, object] | None = None,
        cache_scope: str | None = None,
        skip_unchanged: bool = False,
    ) -> int:
        """Replace the rows of ``window`` (all rows when None; optionally only those
        matching ``where`` filters: a value, or a list of values) by ``frame``, atomically. Rows of
        ``frame`` outside the window are refused, so a write can never touch
        another partition. Returns the number of rows written.

        With ``cache_scope`` (a run id) the written rows are also kept as that run's read of the
        window (write-through :class:`ReadCache`), so the run's next reader does not fetch them back.

        With ``skip_unchanged``, a whole-table write (no window, no ``where``) whose rows are exactly
        those of the table's last write is not done again (:mod:`~saas_metrics.warehouse.stored_content`)."""
        # Inserted in the order reads give rows back (read_cache.in_month_order), and so kept in the cache.
        frame = in_month_order(coerce_frame(frame, schema))
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
        fingerprinting = skip_unchanged and window is None and not where
        fingerprint = content_fingerprint(frame) if fingerprinting else None
        if fingerprinting:
            self.ensure_table(STORED_CONTENT)
        table = self.sa_table(schema)
        with self.engine.begin() as conn:
            lock_table(conn, schema.name)
            if fingerprint is not None and self._holds_exactly(conn, schema.name, fingerprint, len(frame)):
                self._cache_written(schema, frame, None, cache_scope)
                return len(frame)
            self._forget_content(conn, schema.name)
            delete = table.delete()
            stored = _month_range(conn, schema.name) if window is not None and not where else None
            rebuilt: list[tuple[str, str]] = []
            # A window holding every stored row (a backfill of every month again) empties the table
            # with a DELETE without WHERE, which SQLite does page by page (its truncate optimisation)
            # instead of row by row through every index (slow for millions of event rows).
            if window is not None and (where or not _holds(window, stored)):
                delete = delete.where(table.c[MONTH_COLUMN] >= window[0], table.c[MONTH_COLUMN] < window[1])
                if not where and _outweighs_the_rest(window, stored):
                    rebuilt = self._drop_probe_indexes(conn, schema.name)
            elif not where:
                self._drop_probe_indexes(conn, schema.name)
            for name, value in (where or {}).items():
                # A list or tuple replaces the rows holding any of its values (several partitions at once).
                is_many = isinstance(value, list | tuple)
                delete = delete.where(table.c[name].in_(cast("list[Any] | tuple[Any, ...]", value)) if is_many else table.c[name] == value)
            conn.execute(delete)
            insert_frame(conn, table, schema, frame)
            for name, definition in rebuilt:
                conn.execute(sa.text(definition))
                _INDEXED.add((self.url, schema.name, name))
            if fingerprint is not None:
                stored_content.record(conn, schema.name, None, fingerprint, len(frame))
        _READ_CACHE.forget(self.url, schema.name)
        if not where:
            self._cache_written(schema, frame, window, cache_scope)
        return len(frame)

    def batch_fill(self, schema: TableSchema, cache_scope: str, expected_rows: int | None = None) -> BatchFill:
        """A gatherer of the batches of ``schema`` a step writes one by one in the run ``cache_scope``,
        ``expected_rows`` in all, for :meth:`keep_written`."""
        return BatchFill(_READ_CACHE.max_bytes, self.read_columns.get(schema.name), expected_rows,
                         make_room=lambda size: _READ_CACHE.make_room(cache_scope, size))

    def keep_written(self, schema: TableSchema, frame: pd.DataFrame, window: tuple[dt.date, dt.date] | None,
                     cache_scope: str) -> None:
        """Keep ``frame``, the rows just written to ``window`` of ``schema`` (in batches), as the run's
        read of that window."""
        self._cache_written(schema, frame, window, cache_scope)

    def _cache_written(self, schema: TableSchema, frame: pd.DataFrame, window: tuple[dt.date, dt.date] | None,
                       cache_scope: str | None) -> None:
        if cache_scope is not None and _stored_exactly(frame, schema):
            _READ_CACHE.put(self.url, cache_scope, schema, window, None, frame, kept=self.read_columns.get(schema.name))

    @staticmethod
    def _holds_exactly(conn: Connection, name: str, fingerprint: str, rows: int) -> bool:
        """Whether table ``name`` holds exactly the rows whose fingerprint is ``fingerprint``: its last
        write recorded that fingerprint and it still has that many rows."""
        if stored_content.recorded(conn, name, None) != fingerprint:
            return False
        return int(conn.execute(sa.text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()) == rows

    @staticmethod
    def _forget_content(conn: Connection, name: str) -> None:
        """Drop ``name``'s fingerprints (it is being written), when any were ever recorded here."""
        if stored_columns(conn, STORED_CONTENT.name) is not None:
            stored_content.forget(conn, name)

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
        _READ_CACHE.put(self.url, cache_scope, target, window, None, subset if rows.all() else subset[rows].reset_index(drop=True),
                        kept=self.read_columns.get(target.name))
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
            lock_table(conn, view.name)
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
            self._forget_content(conn, schema.name)
            insert_frame(conn, self.sa_table(schema), schema, frame)
        _READ_CACHE.forget(self.url, schema.name)
        return len(frame)

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
            frame = self.read(schema, window, columns=with_month_column(schema, columns))
            _READ_CACHE.put(self.url, cache_scope, schema, window, columns, frame, kept=self.read_columns.get(schema.name))
            return frame if columns is None else frame[list(columns)]
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
        return self.query(query, schema, names, of_table=schema.name)

    def distinct(self, schema: TableSchema, column: str, *, where: sa.ColumnElement[bool] | None = None) -> pd.Series:
        """The distinct values of ``column`` (of the rows matching ``where``), typed by the schema, in
        no particular order; empty when the table does not exist. The database collapses the repeats,
        so a column of a few values in a long table costs a scan, not a frame of every row."""
        table = self.sa_table(schema)
        query = sa.select(sa.type_coerce(table.c[column], sa.types.NullType()).label(column)).distinct()
        if where is not None:
            query = query.where(where)
        return self.query(query, schema, [column], of_table=schema.name)[column]

    def query(self, statement: sa.Executable, schema: TableSchema, columns: Sequence[str],
              params: Mapping[str, Any] | None = None, *, of_table: str | None = None) -> pd.DataFrame:
        """The rows of a SELECT whose result columns are ``columns`` of ``schema``, in that order,
        typed by the schema (for SQL the warehouse should answer itself: aggregates, joins). With
        ``of_table``, no rows when that table does not exist (asked on the same connection)."""
        names = list(columns)
        sub = TableSchema(schema.name, tuple(schema.column(c) for c in names), time_column=schema.time_column)
        parts: list[pd.DataFrame] = []
        with self.engine.connect() as conn:
            if of_table is not None and stored_columns(conn, of_table) is None:
                return coerce_frame(pd.DataFrame(columns=names), sub)
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
                       outside: tuple[dt.date, dt.date] | None = None, within: tuple[dt.date, dt.date] | None = None,
                       where_sql: str = "") -> frozenset[str]:
        """Which of ``values`` the text ``column`` of ``schema`` holds (in rows outside the month window
        ``outside``, or inside the month window ``within``, and matching ``where_sql``), answered by the
        database: the values go to a temporary table and are joined, not a read of all its ids into
        Python. Outside a window, the probed column gets an index, made by the first probe, so a month's
        probe costs lookups of its own ids, not a scan of the history. Within a window, the window's
        rows are gone through by the month index, each looked up among the values: a cost of the
        window, and no index on the column."""
        if outside is not None and within is not None:
            raise ValueError("present_values: give outside or within, not both")
        if not values or not self.has_table(schema.name):
            return frozenset()
        if within is not None:
            return self._present_within(schema, column, sorted(set(values)), within, where_sql)
        if outside is not None and _holds(outside, self.month_range(schema.name)):
            return frozenset()  # no other partition to probe (a backfill of every month again)
        self.ensure_index(schema.name, column)
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
                # A temporary table with EXISTS got a hash join over the whole table instead, a cost
                # that grows with the history rather than with the month's ids. Without statistics the
                # estimate can pass JIT's thresholds; compiling never pays for index lookups.
                conn.execute(sa.text("SET LOCAL jit = off"))
            # SQLite: a semi-join driven by the probe values, each looked up in the column's index.
            # (As a plain join SQLite walked the whole index of the big table instead.)
            return _found(conn, unique, params,
                          postgresql=f'SELECT p.value FROM unnest(CAST(:values AS text[])) AS p(value) CROSS JOIN LATERAL'
                                     f' (SELECT 1 FROM "{schema.name}" t WHERE t."{column}" = p.value{where} LIMIT 1) hit',
                          sqlite=f'SELECT p.value FROM _probe_values p WHERE EXISTS (SELECT 1 FROM "{schema.name}" t'
                                 f' WHERE t."{column}" = p.value{where})')

    def _present_within(self, schema: TableSchema, column: str, unique: list[str], window: tuple[dt.date, dt.date],
                        where_sql: str) -> frozenset[str]:
        """:meth:`present_values` of ``unique`` among the rows of the month ``window``."""
        where = f" AND ({where_sql})" if where_sql else ""
        months = f't."{MONTH_COLUMN}" >= :start AND t."{MONTH_COLUMN}" < :end'
        params: dict[str, Any] = {"start": window[0], "end": window[1]}
        rows = f'SELECT DISTINCT t."{column}" FROM "{schema.name}" t WHERE {months}{where} AND t."{column}"'
        with self.engine.begin() as conn:
            # Driven by the window's rows (the month index), each looked up among the values.
            return _found(conn, unique, params, postgresql=f"{rows} = ANY(CAST(:values AS text[]))",
                          sqlite=f"{rows} IN (SELECT value FROM _probe_values)")

    def _drop_probe_indexes(self, conn: Connection, table: str) -> list[tuple[str, str]]:
        """Before ``table`` is loaded whole again, drop the indexes :meth:`ensure_index` made: the
        next probe builds each again in one sort, where keeping it makes the load insert every row into
        it one by one, several times slower. The month index stays. Returns the dropped probe indexes
        (name, and the statement that made it, as the database keeps it) for a big window's load to
        build again; a reader's index (:func:`reader_index_prefix`) is left to its reader's next use."""
        dropped = []
        for name, definition in _index_definitions(conn, table):
            if name.startswith(f"ix_{table}_") and name != f"ix_{table}_{MONTH_COLUMN}":
                conn.execute(sa.text(f'DROP INDEX "{name}"'))
                _INDEXED.discard((self.url, table, name))
                if not name.startswith(reader_index_prefix(table, "")):
                    dropped.append((name, definition))
        return dropped

    def ensure_index(self, table: str, columns: str | Sequence[str], *, name: str | None = None,
                     where_sql: str = "", replacing: str | None = None) -> None:
        """An index on ``columns`` of ``table`` (no-op when it exists), named ``name`` (by default
        ``ix_<table>_<column>``, the one :meth:`present_values` probes outside a window). A step that
        loaded a table in several batches of months without it builds it once at the end (one sort,
        not an insert per row), so the next month's probe finds it.

        ``where_sql`` makes it a partial index of the rows it matches (SQL over the table's columns,
        with any value a literal: a query uses the index only when its own WHERE repeats these terms).
        ``replacing``: a name prefix; the table's other indexes of that prefix are dropped (an index
        for an earlier setting). Every ``ix_<table>_`` index but the month's is dropped while the
        table is loaded whole again: a big window's load builds a probe index again from its own
        statement, and a reader's index (:func:`reader_index_prefix`) is made again by its reader."""
        columns = (columns,) if isinstance(columns, str) else tuple(columns)
        name = name or f"ix_{table}_{'_'.join(columns)}"
        if (self.url, table, name) in _INDEXED:
            return
        with self._ddl_lock, self.engine.begin() as conn:
            lock_table(conn, table)
            if replacing is not None:
                for other, _ in _index_definitions(conn, table):
                    if other.startswith(replacing) and other != name:
                        conn.execute(sa.text(f'DROP INDEX "{other}"'))
                        _INDEXED.discard((self.url, table, other))
            self._create_index(conn, table, name, columns, where_sql)

    def _create_index(self, conn: Connection, table: str, name: str, columns: tuple[str, ...], where_sql: str = "") -> None:
        """Index ``columns`` of ``table`` as ``name`` (no-op when it exists; partial with ``where_sql``),
        in ``conn``'s transaction."""
        quoted = ", ".join(f'"{c}"' for c in columns)
        where = f" WHERE {where_sql}" if where_sql else ""
        conn.execute(sa.text(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({quoted}){where}'))
        _INDEXED.add((self.url, table, name))

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
    # the index's first or last entry, but both together scan the whole index (on every monthly
    # replace of the table, a cost that would grow with the history).
    low, high = conn.execute(sa.text(_MONTH_RANGE_SQL.format(column=MONTH_COLUMN, table=name))).one()
    return None if low is None else (pd.Timestamp(str(low)).date(), pd.Timestamp(str(high)).date())


_MONTH_RANGE_SQL = 'SELECT (SELECT MIN("{column}") FROM "{table}"), (SELECT MAX("{column}") FROM "{table}")'


def _found(conn: Connection, values: list[str], params: dict[str, Any], *, postgresql: str, sqlite: str) -> frozenset[str]:
    """The values a probe query finds: on PostgreSQL ``postgresql``, with the values as the array
    parameter ``:values`` (one round trip); elsewhere ``sqlite``, with the values in the temporary
    table ``_probe_values`` (:func:`_probe_values`)."""
    if conn.dialect.name == "postgresql":
        found = conn.execute(sa.text(postgresql), {**params, "values": values}).scalars().all()
    else:
        with _probe_values(conn, values):
            found = conn.execute(sa.text(sqlite), params).scalars().all()
    return frozenset(str(v) for v in found)


@contextlib.contextmanager
def _probe_values(conn: Connection, values: list[str]) -> Iterator[None]:
    """A SQLite temporary table ``_probe_values`` holding ``values`` (its key) while the block runs."""
    conn.execute(sa.text("CREATE TEMPORARY TABLE _probe_values (value TEXT PRIMARY KEY)"))
    try:
        cursor = driver_connection(conn).cursor()
        try:
            for start in range(0, len(values), CHUNK_ROWS):
                cursor.executemany("INSERT INTO _probe_values (value) VALUES (?)", [(v,) for v in values[start:start + CHUNK_ROWS]])
        finally:
            cursor.close()
        yield
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.execute(sa.text("DROP TABLE _probe_values"))


def _outweighs_the_rest(window: tuple[dt.date, dt.date], months: tuple[dt.date, dt.date] | None) -> bool:
    """Whether a write of the month ``window`` loads so large a share of the table that building its
    probe indexes again after the load costs less than keeping them during it: the window spans at
    least an eighth as many months as the stored months (``months``, first and last) outside it.

    Kept during a load, an index on ids that arrive in no order (session ids) takes every row in a
    random place: 565,000 web sessions went in in 5.9 s with the session-id index and 2.5 s
    without it (6 us a row more), and the index over all 848,000 then took 0.6 s to build in one
    sort (0.7 us a row of the table): rebuilding pays from about an eighth. So the batches of a
    backfill rebuild it, while a month among 36 keeps it."""
    if months is None:
        return True
    first, end = months[0], add_months(months[1], 1)
    loaded = _months_in(window[0], window[1])
    kept = _months_in(first, min(end, window[0])) + _months_in(max(first, window[1]), end)
    return loaded * 8 >= kept


def _months_in(start: dt.date, end: dt.date) -> int:
    """How many months [start, end) spans (both firsts of months; 0 when end <= start)."""
    return max(0, (end.year - start.year) * 12 + end.month - start.month)


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



_READ_CACHE = ReadCache()


def prepare_run_memory(read_cache_mb: int) -> str:
    """What a process sets before it executes a run's steps: the run's read cache budget
    (``read_cache_mb`` MiB, the setting), and an Arrow memory pool that gives freed pages back
    to the system (:mod:`saas_metrics.arrow_pool`). Returns what is in use, in words, for the run's log."""
    _READ_CACHE.resize(read_cache_mb * 2**20)
    pool = use_returning_arrow_pool()
    return f"read cache {_READ_CACHE.max_bytes // 2**20} MiB (read_cache_mb), Arrow memory pool {pool}"


def release_finished_reads(scope: str, step: str, readers: Mapping[str, frozenset[str]]) -> None:
    """The run's read cache lets go of the tables whose readers have all finished
    (:meth:`ReadCache.release_finished`)."""
    _READ_CACHE.release_finished(scope, step, readers)


#: (url, table, index name) known to exist in this process (see Warehouse.ensure_index).
_INDEXED: set[tuple[str, str, str]] = set()


def _index_definitions(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(name, the statement that made it) of every index the database keeps for ``table``; SQLite's
    automatic indexes (of a UNIQUE or PRIMARY KEY, no statement) are not among them."""
    if conn.dialect.name == "postgresql":
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t AND schemaname = current_schema()"
    else:
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
    return [(str(name), str(definition)) for name, definition in conn.execute(sa.text(sql), {"t": table})]


def reader_index_prefix(table: str, reader: str) -> str:
    """The name prefix of an index one reader of ``table`` asks for (``reader``: what it is for):
    dropped, like the probe indexes, while the table is loaded whole again, and then made again by
    that reader's next :meth:`Warehouse.ensure_index`, not by the load."""
    return f"ix_{table}_for_{reader}"


def sql_string(value: str) -> str:
    """``value`` as an SQL string literal (quotes doubled), for SQL that must carry the value itself:
    a partial index's WHERE and the queries meant to use it."""
    return "'" + value.replace("'", "''") + "'"

