"""Concurrent writers never lose each other's windows, on SQLite and PostgreSQL.

Several processes start together on an EMPTY warehouse (so they also race on creating the table
and its view) and each rewrites windows it alone owns, a few dozen times:

- the *wide* writer rewrites [2024-01, 2024-07), six months, again and again;
- each *narrow* writer alternates between rows and nothing in one month of 2025.

Whenever every narrow month is empty, the wide window holds every stored row: that is when a
replace decided from a stale read (taken before the write lock) emptied the whole table and took
a narrow writer's just-committed month with it. Before each write a writer reads its window back
and compares it with what it last committed, and at the end every window must hold exactly its
owner's last write.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import queue
import time
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.tables import Column, TableSchema

STRESS = TableSchema(
    "stress_windows",
    (Column("month", "date"), Column("writer", "str"), Column("seq", "int"), Column("row", "int")),
    time_column="month",
)
STRESS_VIEW = TableSchema("stress_windows_view", (Column("month", "date"), Column("writer", "str"), Column("seq", "int")),
                          time_column="month")
WIDE = (dt.date(2024, 1, 1), dt.date(2024, 7, 1))
WRITES = 31
NARROW_WRITERS = 2
ROWS_PER_MONTH = 3


def _window(writer: int) -> tuple[dt.date, dt.date]:
    if writer == 0:
        return WIDE
    return dt.date(2025, writer, 1), dt.date(2025, writer + 1, 1)


def _rows(writer: int, seq: int) -> pd.DataFrame:
    """What ``writer`` writes the ``seq``-th time: the wide writer always writes its six months,
    a narrow writer writes its month on even turns and nothing (an empty window) on odd ones."""
    start, end = _window(writer)
    if writer and seq % 2:
        return pd.DataFrame({c: [] for c in STRESS.column_names})
    months = pd.date_range(start, end, freq="MS", inclusive="left")
    return pd.DataFrame([{"month": m, "writer": f"w{writer}", "seq": seq, "row": r}
                         for m in months for r in range(ROWS_PER_MONTH)])


def _signature(frame: pd.DataFrame) -> list[tuple[str, str, int, int]]:
    return sorted((str(m)[:10], w, int(s), int(r)) for m, w, s, r in frame[STRESS.column_names].itertuples(index=False))


def _writer(url: str, writer: int, go: mp.Event, results: mp.Queue) -> None:
    """Write the window of ``writer`` WRITES times, checking before each write that it still holds
    the previous write; report (writer, last seq written, problems)."""
    from saas_metrics.warehouse import Warehouse

    problems: list[str] = []
    last = -1
    try:
        warehouse = Warehouse(url)
        go.wait(30)
        warehouse.ensure_view(STRESS_VIEW, STRESS)
        for seq in range(WRITES):
            if last >= 0:
                held = _signature(warehouse.read(STRESS, _window(writer)))
                if held != _signature(_rows(writer, last)):
                    problems.append(f"w{writer} before write {seq}: window holds {len(held)} rows, not write {last}")
            warehouse.replace(STRESS, _rows(writer, seq), _window(writer))
            last = seq
    except Exception as exc:  # reported to the parent, which fails the test with it
        problems.append(f"w{writer}: {type(exc).__name__}: {exc}")
    results.put((writer, last, problems))


def _stress(url: str) -> None:
    from saas_metrics.warehouse import Warehouse

    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    writers = range(NARROW_WRITERS + 1)
    procs = [ctx.Process(target=_writer, args=(url, w, go, results)) for w in writers]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # let every process import and wait at the start line, so the first writes overlap
    go.set()
    reports: dict[int, tuple[int, list[str]]] = {}
    deadline = time.monotonic() + 120
    while len(reports) < len(procs):
        try:
            writer, last, problems = results.get(timeout=5)
            reports[writer] = (last, problems)
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"writer process(es) died: exit codes {dead}"
            assert time.monotonic() < deadline, "writers did not finish in time"
    for proc in procs:
        proc.join(30)
    assert [p for (_, problems) in reports.values() for p in problems] == []
    assert {w: last for w, (last, _) in reports.items()} == {w: WRITES - 1 for w in writers}
    warehouse = Warehouse(url)
    stored = warehouse.read(STRESS)
    expected = pd.concat([_rows(w, WRITES - 1) for w in writers], ignore_index=True)
    assert _signature(stored) == _signature(expected)
    # Six wide months and two narrow ones (their last turn, 30, is even: rows), 3 rows each.
    assert len(stored) == (6 + 2) * 3
    assert len(warehouse.read(STRESS_VIEW)) == len(stored)


def test_concurrent_writers_on_sqlite_lose_no_window(tmp_path: Path) -> None:
    _stress(f"sqlite:///{tmp_path / 'stress.db'}")


@pytest.mark.postgres
def test_concurrent_writers_on_postgres_lose_no_window(postgres_url: str) -> None:
    _stress(postgres_url)
