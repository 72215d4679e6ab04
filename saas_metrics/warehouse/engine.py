"""The warehouse's engine and table definitions: one SQLAlchemy engine per URL, the column types
of a :class:`~saas_metrics.tables.TableSchema`, shared ``Table`` objects and the per-table write lock."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from saas_metrics.tables import TableSchema
from saas_metrics.warehouse import checkpoint

SQL_TYPES: dict[str, sa.types.TypeEngine] = {
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


#: How long a SQLite connection waits for another's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 60.0


def enter_wal(dbapi_conn: Any, timeout: float = SQLITE_BUSY_TIMEOUT_SECONDS) -> None:
    """``PRAGMA journal_mode=WAL`` on a new SQLite connection, tried again while the database is
    locked, up to ``timeout``.

    Several processes opening a new warehouse at once (the daemon's first runs, a test's writers)
    race to switch its journal to WAL. The loser can get "database is locked" at once, not after
    the busy timeout: SQLite does not call the busy handler for every lock that step takes (seen
    here as one writer in three failing ``test_store_concurrency`` within 2 s). The switch is
    made once per database and a later connection finds it done, so a short wait is enough."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        try:
            dbapi_conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


@lru_cache(maxsize=8)
def make_engine(url: str) -> Engine:
    """One engine per URL per process. SQLite gets WAL and a busy timeout so the
    webserver can read while a run writes."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            enter_wal(dbapi_conn)
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        if checkpoint.concurrent_checkpoints_are_safe():
            # WAL checkpoints off the writer's path, only where SQLite has the WAL-reset fix
            # (warehouse/checkpoint.py); otherwise SQLite checkpoints inside the committing COMMIT.
            checkpoint.attach(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return sa.create_engine(url, pool_pre_ping=True)


def lock_table(conn: Connection, name: str) -> None:
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
        dbapi = driver_connection(conn)
        if not dbapi.in_transaction:  # in one already: a write began it, so the lock is held
            dbapi.execute("BEGIN IMMEDIATE")


_TABLES: dict[tuple[object, ...], sa.Table] = {}
_TABLES_LOCK = threading.Lock()


def sa_table(schema: TableSchema, columns: tuple[str, ...] | None) -> sa.Table:
    key = (schema.name, tuple((c.name, c.type) for c in schema.columns), columns)
    with _TABLES_LOCK:
        table = _TABLES.get(key)
        if table is None:
            table = _TABLES[key] = build_table(schema, columns)
        return table


def build_table(schema: TableSchema, columns: tuple[str, ...] | None) -> sa.Table:
    cols = [sa.Column(c.name, SQL_TYPES[c.type]) for c in schema.columns if columns is None or c.name in columns]
    return sa.Table(schema.name, sa.MetaData(), *cols)


#: The kinds of PostgreSQL relation SQLAlchemy's ``has_table`` counts as a table: tables (plain,
#: partitioned, foreign), views and materialised views.
_PG_TABLE_KINDS = "('r', 'p', 'f', 'v', 'm')"


def stored_columns(conn: Connection, name: str) -> list[str] | None:
    """The column names of the table or view ``name`` in their order (SQLite's main schema; on
    PostgreSQL the first of that name on the search path), or None when there is none.

    One catalog query on the connection in hand. SQLAlchemy's inspector makes a new inspector and
    asks two or three (PostgreSQL: about 1.2 ms a question against 0.15 ms), and a month asks
    about 800 times whether a table exists; other dialects still go through the inspector."""
    quoted = '"' + name.replace('"', '""') + '"'
    if conn.dialect.name == "sqlite":
        names = [row[1] for row in conn.exec_driver_sql(f"PRAGMA main.table_info({quoted})")]
    elif conn.dialect.name == "postgresql":
        names = list(conn.execute(sa.text(
            "SELECT a.attname FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
            f" WHERE c.oid = to_regclass(:name) AND c.relkind IN {_PG_TABLE_KINDS}"
            " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"), {"name": quoted}).scalars())
    else:
        inspector = sa.inspect(conn)
        return [c["name"] for c in inspector.get_columns(name)] if inspector.has_table(name) else None
    return names or None


def driver_connection(conn: sa.Connection) -> Any:
    """The DBAPI connection under ``conn`` (for COPY, executemany and SQLite's BEGIN IMMEDIATE); a
    checked-out connection always has one."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    return dbapi
