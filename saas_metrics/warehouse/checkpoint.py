"""WAL checkpoints of a SQLite warehouse on a background thread.

In WAL mode a committed write goes to the ``-wal`` file; a *checkpoint* copies it into the
database file. By default SQLite checkpoints inside the ``COMMIT`` that pushes the WAL past
1,000 pages, so the writer waits for the copy, which after a large load (a month of product
usage) is a long wait with the other core idle. The warehouse's connections turn that off
(``PRAGMA wal_autocheckpoint=0``) and every write transaction wakes a thread that runs a PASSIVE checkpoint on
its own connection instead. sqlite3 releases the GIL while SQLite works, so the copy runs on the
other core while the run goes on.

Nothing about durability or what readers see changes: a committed transaction is in the WAL
either way, readers read through the WAL, and a PASSIVE checkpoint never blocks a reader or a
writer (it copies what no open reader still needs, and the next wake copies the rest). If the
process ends first, SQLite checkpoints when the last connection closes, or replays the WAL when
the database is next opened.

**Only on a SQLite with the WAL-reset fix.** SQLite 3.7.0 to 3.51.2 have a data race, the
"WAL-reset bug" (sqlite.org/wal.html#walresetbug, fixed in 3.51.3 and backported to 3.50.7 and
3.44.6): a checkpoint that starts right after a complete one, while another connection commits and
restarts the WAL, records pages as copied that were not, and a later checkpoint leaves them out of
the database file. A checkpoint on its own connection after every commit is that pattern. It
corrupted a test warehouse here (SQLite 3.40.1, Debian 12's: an index page pointing at zeroed
pages, "database disk image is malformed"). So :func:`concurrent_checkpoints_are_safe` decides:
with an affected SQLite the engine keeps SQLite's own checkpoints, run by the committing
connection inside its ``COMMIT``; a process's writes are sequential, so no two of its connections
checkpoint and commit at once.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from typing import Any

import sqlalchemy as sa

logger = logging.getLogger(__name__)

#: SQLite releases with the WAL-reset fix: 3.51.3 and later, and the backports to 3.50 and 3.44.
_FIXED_FROM = (3, 51, 3)
_FIXED_BACKPORTS = {(3, 50): (3, 50, 7), (3, 44): (3, 44, 6)}

#: A checkpointer thread with nothing to do for this long ends (a new commit starts another).
IDLE_SECONDS = 5.0
#: Pause before checkpointing again what the last checkpoint could not copy yet.
RETRY_SECONDS = 0.2


def concurrent_checkpoints_are_safe(version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> bool:
    """Whether SQLite ``version`` (default: the one this Python links) has the WAL-reset fix, so a
    checkpoint may run on one connection while another commits (see the module docstring)."""
    backport = _FIXED_BACKPORTS.get(version[:2])
    return version >= _FIXED_FROM or (backport is not None and version >= backport)


class BackgroundCheckpointer:
    """One thread per engine that checkpoints the WAL after commits (:meth:`request`)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Checkpoint soon (called after every commit; cheap when one is already due)."""
        with self._lock:
            self._idle.clear()
            self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sqlite-wal-checkpoint", daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every requested checkpoint has run; False on timeout."""
        return self._idle.wait(timeout)

    def _loop(self) -> None:
        while True:
            if not self._wake.wait(IDLE_SECONDS):
                with self._lock:
                    if not self._wake.is_set():  # no request came in meanwhile: end, under the lock
                        self._thread = None
                        self._idle.set()
                        return
            self._wake.clear()
            # A PASSIVE checkpoint leaves the frames an open reader still needs: go on until the
            # WAL is copied (or a new request takes over).
            while not self.checkpoint() and not self._wake.wait(RETRY_SECONDS):
                pass
            with self._lock:
                if not self._wake.is_set():
                    self._idle.set()

    def checkpoint(self) -> bool:
        """One PASSIVE checkpoint; True when it copied the whole WAL (or failed: a busy or vanished
        database is left to the next commit's checkpoint, and a failure is only logged)."""
        try:
            with self.engine.connect() as conn:
                busy, log, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        except Exception:  # an optimisation must never fail a run
            logger.debug("WAL checkpoint of %s failed", self.engine.url, exc_info=True)
            return True
        return busy == 0 and copied >= log


_WRITTEN = "saas_metrics_wal_written"
_ATTACHED: weakref.WeakKeyDictionary[sa.Engine, BackgroundCheckpointer] = weakref.WeakKeyDictionary()


def attach(engine: sa.Engine) -> BackgroundCheckpointer:
    """Make ``engine`` (SQLite, WAL mode) checkpoint in the background: its connections stop
    checkpointing at commit, and a connection that committed wakes the engine's checkpointer when
    it is returned to the pool."""
    checkpointer = BackgroundCheckpointer(engine)
    _ATTACHED[engine] = checkpointer

    @sa.event.listens_for(engine, "connect")
    def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")

    # SQLAlchemy's commit event comes just BEFORE the COMMIT, so it only marks the connection; the
    # checkpoint is asked for when the connection goes back to the pool, after its transaction.
    @sa.event.listens_for(engine, "commit")
    def _mark_written(conn: sa.Connection) -> None:
        conn.connection.info[_WRITTEN] = True

    @sa.event.listens_for(engine, "checkin")
    def _checkpoint_soon(_dbapi_conn: Any, record: Any) -> None:
        if record.info.pop(_WRITTEN, False):
            checkpointer.request()

    return checkpointer


def checkpointer_of(engine: sa.Engine) -> BackgroundCheckpointer | None:
    """The checkpointer :func:`attach` gave ``engine`` (None for other engines)."""
    return _ATTACHED.get(engine)
