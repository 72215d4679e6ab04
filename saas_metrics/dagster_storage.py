"""Dagster's SQLite event log, with its database engines kept instead of made for every event.

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

The default ``dagster.yaml`` of a new home names it (:mod:`saas_metrics.dagster_home`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection, Engine

from saas_metrics.compat import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    ConfigurableClassData,
    SqliteEventLogStorage,
    create_dagster_engine,
)

#: Run shards whose engine stays open, besides the index shard (the runs being written or watched).
RUN_SHARD_ENGINES = 8


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose connections come from one kept engine per shard file."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
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

    def dispose_engines(self) -> None:
        """Close every kept connection (before the shard files go, and when the instance ends)."""
        with self._engines_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self.dispose_engines()
        super().wipe()

    def dispose(self) -> None:
        self.dispose_engines()
        super().dispose()
