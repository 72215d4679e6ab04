"""The SQLite engine's set-up: WAL mode, tried again while another process holds the lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from saas_metrics.warehouse import engine as engine_module
from saas_metrics.warehouse.engine import enter_wal, make_engine


class _LockedFor:
    """A DBAPI connection whose ``PRAGMA journal_mode=WAL`` fails as locked ``times`` times."""

    def __init__(self, times: int, message: str = "database is locked") -> None:
        self.left, self.message, self.calls = times, message, 0

    def execute(self, sql: str) -> Any:
        assert sql == "PRAGMA journal_mode=WAL"
        self.calls += 1
        if self.left:
            self.left -= 1
            raise sqlite3.OperationalError(self.message)
        return self

    def fetchall(self) -> list[tuple[str]]:
        return [("wal",)]


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    pauses: list[float] = []
    monkeypatch.setattr(engine_module.time, "sleep", pauses.append)
    return pauses


def test_a_locked_switch_to_wal_is_tried_again_with_growing_pauses(no_sleep: list[float]) -> None:
    conn = _LockedFor(3)
    enter_wal(conn)
    assert conn.calls == 4
    assert no_sleep == [0.01, 0.02, 0.04]


def test_other_errors_are_raised_at_once(no_sleep: list[float]) -> None:
    conn = _LockedFor(1, "disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        enter_wal(conn)
    assert conn.calls == 1
    assert no_sleep == []


def test_a_lock_held_past_the_timeout_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(engine_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(engine_module.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    conn = _LockedFor(10_000)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enter_wal(conn, timeout=2.0)
    assert 1.0 <= clock[0] <= 2.0  # waited about the timeout, not longer
    assert conn.calls > 5


def test_every_warehouse_connection_is_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
