"""A SQLite warehouse checkpoints its WAL on a background thread, not inside the writer's COMMIT,
only where SQLite has the WAL-reset fix; an affected SQLite keeps its own checkpoints in the COMMIT."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.metrics.kpi import KPI_MONTHLY, kpi_frame
from saas_metrics.warehouse import Warehouse, checkpoint
from saas_metrics.warehouse.store import make_engine


def _rows(n: int) -> pd.DataFrame:
    return kpi_frame([{"month": "2024-01-01", "metric": f"m{i}", "value": float(i), "unit": "count"} for i in range(n)])


def _rows_in_database_file_alone(db: Path, tmp_path: Path) -> int:
    """Rows of kpi_monthly in a copy of the database file WITHOUT its -wal file: what checkpoints copied."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(db, alone)
    with sqlite3.connect(alone) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        return conn.execute("SELECT COUNT(*) FROM kpi_monthly").fetchone()[0] if "kpi_monthly" in tables else 0


@pytest.fixture
def fixed_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engines made from here on take the background checkpointer, as on a SQLite with the
    WAL-reset fix (the mechanism is tested on any SQLite, on throw-away databases)."""
    monkeypatch.setattr(checkpoint, "concurrent_checkpoints_are_safe", lambda: True)


@pytest.mark.parametrize(("version", "safe"), [
    ((3, 40, 1), False),  # Debian 12's, this machine's
    ((3, 7, 0), False),
    ((3, 51, 2), False),
    ((3, 51, 3), True),
    ((3, 52, 0), True),
    ((4, 0, 0), True),
    ((3, 50, 6), False),
    ((3, 50, 7), True),  # the backport to 3.50
    ((3, 44, 5), False),
    ((3, 44, 6), True),  # the backport to 3.44
    ((3, 45, 0), False),
])
def test_only_a_sqlite_with_the_wal_reset_fix_checkpoints_concurrently(version: tuple[int, int, int], safe: bool) -> None:
    assert checkpoint.concurrent_checkpoints_are_safe(version) is safe


def test_an_affected_sqlite_checkpoints_inside_the_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the WAL-reset bug no connection checkpoints while another commits: no checkpointer thread,
    and SQLite's own checkpoint (every 1,000 pages, by the committing connection) stays on."""
    monkeypatch.setattr(checkpoint, "concurrent_checkpoints_are_safe", lambda: False)
    db = tmp_path / "w.db"
    warehouse = Warehouse(f"sqlite:///{db}")
    assert checkpoint.checkpointer_of(warehouse.engine) is None
    with warehouse.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    rows = 150_000  # a WAL of more than 1,000 pages: SQLite's checkpoint threshold
    warehouse.replace(KPI_MONTHLY, _rows(rows))
    # The committing connection checkpointed: the database file alone holds the rows.
    assert _rows_in_database_file_alone(db, tmp_path) == rows
    assert len(warehouse.read(KPI_MONTHLY)) == rows


def test_this_pythons_sqlite_decides_for_the_engines(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    attached = checkpoint.checkpointer_of(engine) is not None
    assert attached is checkpoint.concurrent_checkpoints_are_safe(sqlite3.sqlite_version_info)


@pytest.mark.usefixtures("fixed_sqlite")
def test_commits_leave_the_copy_to_the_background_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    warehouse = Warehouse(f"sqlite:///{db}")
    checkpointer = checkpoint.checkpointer_of(warehouse.engine)
    assert checkpointer is not None
    with warehouse.engine.connect() as conn:  # the writer's connections do not checkpoint at commit
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"

    warehouse.replace(KPI_MONTHLY, _rows(3000))
    assert checkpointer.wait(30)
    assert _rows_in_database_file_alone(db, tmp_path) == 3000
    # Readers saw the rows all along, through the WAL.
    assert len(warehouse.read(KPI_MONTHLY)) == 3000


@pytest.mark.usefixtures("fixed_sqlite")
def test_the_thread_ends_when_idle_and_the_next_commit_starts_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "IDLE_SECONDS", 0.05)
    db = tmp_path / "w.db"
    warehouse = Warehouse(f"sqlite:///{db}")
    checkpointer = checkpoint.checkpointer_of(warehouse.engine)
    assert checkpointer is not None
    warehouse.replace(KPI_MONTHLY, _rows(10))
    assert checkpointer.wait(30)
    first = checkpointer._thread
    if first is not None:
        first.join(5)
    assert checkpointer._thread is None  # ended after being idle
    warehouse.replace(KPI_MONTHLY, _rows(20))
    assert checkpointer.wait(30)
    assert _rows_in_database_file_alone(db, tmp_path) == 20


@pytest.mark.usefixtures("fixed_sqlite")
def test_a_failing_checkpoint_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gone' / 'w.db'}")  # its folder does not exist
    checkpointer = checkpoint.checkpointer_of(engine)
    assert checkpointer is not None
    with caplog.at_level("DEBUG", logger=checkpoint.__name__):
        checkpointer.request()
        assert checkpointer.wait(30)
    assert "WAL checkpoint" in caplog.text


def test_postgresql_engines_have_no_checkpointer() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")
    assert checkpoint.checkpointer_of(engine) is None
