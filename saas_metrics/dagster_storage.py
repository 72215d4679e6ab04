"""Dagster's SQLite event logs, with their connections kept instead of made for every event.

Dagster's ``SqliteEventLogStorage`` (the event log of a local ``DAGSTER_HOME``: ``make run``,
``make ui``, the daemon's runs) opens every connection through a new SQLAlchemy engine with no
pool, and disposes of it after one transaction. A run stores an event per step start, output,
materialisation, check result and log line, and a backfill's planned events besides, each through
its own engine: a new SQLite connection, and every statement compiled again because SQLAlchemy's
compiled-statement cache belongs to the engine. That was most of a small run's time.

:class:`PooledSqliteEventLogStorage` keeps one pooled engine per database file (the index shard and
each run's shard), so connections and compiled statements are reused. What is stored, where, and
how other processes see it are unchanged: every event is still committed in its own transaction,
and SQLite's file locks (with Dagster's busy timeout) still order writers of several processes. The
engines of the most recent run shards are kept (:data:`RUN_SHARD_ENGINES`); older ones are closed,
so a long-lived webserver or daemon does not keep a file open per run it ever read.

Its connections sync the write-ahead log at checkpoints rather than at every event's commit
(``PRAGMA synchronous=NORMAL``, :func:`_normal_sync_in_wal`).

The default ``dagster.yaml`` of a new home names it (:mod:`saas_metrics.dagster_home`).

The ephemeral instance (in-process runs of the tests and the benchmark) has the same cost in
Dagster's ``InMemoryEventLogStorage``: a new connection to its in-memory database, and two
``PRAGMA`` statements, for every event, and a table lookup for every check evaluation.
:func:`ephemeral_instance` is ``dg.DagsterInstance.ephemeral()`` with
:class:`KeptConnectionEventLogStorage`, which keeps one connection for the instance's life.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from saas_metrics.compat import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    AssetKeyTable,
    ConfigurableClassData,
    InMemoryEventLogStorage,
    SqliteEventLogStorage,
    create_dagster_engine,
    ephemeral_instance_with,
)

#: Run shards whose engine stays open, besides the index shard (the runs being written or watched).
RUN_SHARD_ENGINES = 8


def _normal_sync_in_wal(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """``PRAGMA synchronous=NORMAL`` on a connection to a shard in WAL mode (Dagster makes every
    shard a WAL database), once per connection.

    SQLite's default, FULL, syncs the write-ahead log to disk at every commit, and the event log
    commits every event (and an asset event twice: its run shard and the index): about 1,700
    syncs a month, each a wait on the disk. In WAL mode NORMAL syncs at checkpoints only: the
    database stays consistent whatever happens; a process that crashes loses nothing, and an
    operating system crash or a power cut can lose the events of its last moments (the run
    storage, with the runs' status, keeps FULL). sqlite.org/pragma.html#pragma_synchronous. A
    shard not yet in WAL mode (the connection that creates it) keeps FULL, where NORMAL could
    corrupt the file on a power cut; its next checkout, once Dagster has made it WAL, is switched."""
    if record.info.get("synchronous_normal"):
        return
    cursor = dbapi_conn.cursor()
    try:
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
            record.info["synchronous_normal"] = True
    finally:
        cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose connections come from one kept engine per shard file."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._tables_seen: set[str] = set()
        self._asset_key_columns_seen: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is None:
                # SQLAlchemy pools a file database's connections (QueuePool) and lets them be used
                # from any thread; Dagster's _db_lock still serialises this storage's transactions.
                engine = create_dagster_engine(self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                                       pool_size=1, max_overflow=4)
                sa.event.listen(engine, "checkout", _normal_sync_in_wal)
                self._engines[shard] = engine
            self._engines.move_to_end(shard)
            run_shards = [s for s in self._engines if s != INDEX_SHARD_NAME]
            for old in run_shards[:-RUN_SHARD_ENGINES]:
                self._engines.pop(old).dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Whether the index shard has the table, through its kept engine (Dagster asks at every
        check evaluation, and made an engine for each). A table found stays found: migrations add
        tables, and only :meth:`wipe` removes the shard."""
        if table_name in self._tables_seen:
            return True
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._tables_seen.add(table_name)
        return found

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        """Whether the asset key table has the column: Dagster inspects the table's columns again
        at every asset record look-up and every asset event. A column found stays found, as
        :meth:`has_table`'s tables do (migrations add columns)."""
        if column_name in self._asset_key_columns_seen:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._asset_key_columns_seen.add(column_name)
        return found

    def has_asset_key_col(self, column_name: str) -> bool:
        if column_name in self._asset_key_columns_seen:
            return True
        return super().has_asset_key_col(column_name)

    def dispose_engines(self) -> None:
        """Close every kept connection (before the shard files go, and when the instance ends)."""
        with self._engines_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self.dispose_engines()
        self._tables_seen.clear()
        self._asset_key_columns_seen.clear()
        super().wipe()

    def dispose(self) -> None:
        self.dispose_engines()
        super().dispose()


class KeptConnectionEventLogStorage(InMemoryEventLogStorage):
    """Dagster's in-memory event log, its transactions on one connection kept for its life.

    Dagster's own opens a connection per transaction (``NullPool``) and sets two pragmas on each;
    the database lives as long as any connection to it does, which Dagster's held connection
    ensures. Here the engine's ``StaticPool`` hands out one connection, usable from any thread
    because ``_db_lock`` still serialises every transaction. The tables are made once, in
    ``__init__``, and never dropped, so :meth:`has_table` (asked at every check evaluation) and
    the asset key table's columns (asked at every asset record look-up and asset event) are
    answered from what was read then."""

    def __init__(self, inst_data: ConfigurableClassData | None = None, preload: Any = None) -> None:
        super().__init__(inst_data, preload)
        self._engine = create_dagster_engine(self._engine.url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        with self._held_conn.begin():
            inspector = sa.inspect(self._held_conn)
            self._tables = frozenset(inspector.get_table_names())
            self._asset_key_columns = frozenset(c["name"] for c in inspector.get_columns(AssetKeyTable.name))

    def has_table(self, table_name: str) -> bool:
        return table_name in self._tables

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        return column_name in self._asset_key_columns

    def has_asset_key_col(self, column_name: str) -> bool:
        return column_name in self._asset_key_columns

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._db_lock, self._engine.connect() as conn, conn.begin():
            yield conn


def ephemeral_instance() -> dg.DagsterInstance:
    """``dg.DagsterInstance.ephemeral()`` with :class:`KeptConnectionEventLogStorage` as its event log."""
    return ephemeral_instance_with(KeptConnectionEventLogStorage())
