"""The run's read cache: frames read (or written) during one run, reused by later reads of the same
table in that run, within a memory budget."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from saas_metrics.tables import MONTH_COLUMN, TableSchema


def with_month_column(schema: TableSchema, columns: Sequence[str] | None) -> list[str] | None:
    """``columns`` plus the month column (so a cached frame can be sliced by window)."""
    if columns is None or MONTH_COLUMN not in schema.column_names or MONTH_COLUMN in columns:
        return None if columns is None else list(columns)
    return [MONTH_COLUMN, *columns]



def in_month_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its rows in the order the warehouse gives them back: by ``month``, stably (the
    rows of a month keep their order; rows without a month last).

    A read of a window walks the table's month index, so a month-partitioned table comes back by
    month and, within a month, in the order its rows were inserted. :meth:`Warehouse.replace`
    inserts every frame in this order, so a scan of a table written whole (row id order) agrees
    too, and the run's read cache keeps written frames in it. A read answered from the cache and
    the same read answered by the database then give the same rows in the same order: a float sum
    depends on the order of its terms (a month's ad spend summed among other months' rows differed
    in its last bit from the same month read alone)."""
    if MONTH_COLUMN not in frame.columns or frame[MONTH_COLUMN].is_monotonic_increasing:
        return frame
    order = np.argsort(frame[MONTH_COLUMN].to_numpy(dtype="datetime64[ns]"), kind="stable")
    return frame.take(order).reset_index(drop=True)


def rows_of_window(frame: pd.DataFrame, window: tuple[dt.date, dt.date]) -> pd.DataFrame:
    """The rows of ``frame`` whose ``month`` is in ``window``, with a fresh index. Rows stored in time
    order hold a window as one run of rows, which is sliced without copying; others are gathered
    (a gather of Arrow text costs as much as the whole frame, once per month read)."""
    months = frame[MONTH_COLUMN].to_numpy()
    inside = (months >= pd.Timestamp(window[0]).to_datetime64()) & (months < pd.Timestamp(window[1]).to_datetime64())
    positions = np.flatnonzero(inside)
    if len(positions) and positions[-1] - positions[0] + 1 == len(positions):
        return frame.iloc[positions[0]:positions[-1] + 1].reset_index(drop=True)
    return frame[inside].reset_index(drop=True)


def frame_bytes(frame: pd.DataFrame) -> int:
    """Memory held by ``frame``'s columns (Arrow-backed text: its buffers, without visiting values)."""
    return int(frame.memory_usage(index=False, deep=True).sum())


class BatchFill:
    """The rows of a table written batch by batch in one run, gathered for the run's read cache
    while they fit its budget (only the ``kept`` columns): a table stored in batches is then read
    back from memory by the run's later steps, as one written whole is, and one too big for the
    cache is not held at all.

    With ``expected_rows`` (the rows of every batch, known before the first is read) the first
    batch's bytes per row project the whole table: one that will not fit is dropped at once, not
    after gathering a budget's worth, and one that will fit has ``make_room(bytes)`` called with
    its projected size, so the cache drops its least recently used frames now rather than when the
    gathered table is put. Either way the cache and the fill together stay within one budget."""

    def __init__(self, max_bytes: int, kept: frozenset[str] | None, expected_rows: int | None = None,
                 make_room: Callable[[int], None] | None = None) -> None:
        self.max_bytes = max_bytes
        self.kept = kept
        self.expected_rows = expected_rows
        self.make_room = make_room
        self.parts: list[pd.DataFrame] | None = []
        self.bytes = 0
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        if self.parts is None:
            return
        part = in_month_order(frame if self.kept is None else frame[[c for c in frame.columns if c in self.kept]])
        first = not self.parts
        self.bytes += frame_bytes(part)
        self.rows += len(part)
        projected = self.bytes
        if self.expected_rows and self.rows:
            projected = max(self.bytes, round(self.bytes / self.rows * self.expected_rows))
        if projected > self.max_bytes:
            self.parts = None
            return
        if first and self.make_room is not None:
            self.make_room(projected)
        self.parts.append(part)

    def frame(self) -> pd.DataFrame | None:
        """Every batch's rows in order, or None once they passed the budget."""
        if not self.parts:
            return None
        return self.parts[0] if len(self.parts) == 1 else pd.concat(self.parts, ignore_index=True)


#: The run's read cache budget by default (the setting ``read_cache_mb``). Tables are let go once
#: their readers have finished, so the cache holds what is still to be read; a bigger budget did not
#: make a medium backfill faster, and every step of a large one held that much more, while a large
#: site's months read the snapshot tables their revenue steps share again (docs/benchmark.md).
READ_CACHE_MB = 256
READ_CACHE_BYTES = READ_CACHE_MB * 2**20

#: A cache entry: window, columns (None: every column), frame, its bytes.
_Entry = tuple[tuple[dt.date, dt.date] | None, frozenset[str] | None, pd.DataFrame, int]


class ReadCache:
    """Frames read during one run, reused by later reads of the same table in that run.

    In a single-run backfill several assets read the same big table (product usage is read by
    account_engagement for M-1..M and by kpi_engagement for M): the second read is sliced from
    the first instead of fetching millions of rows again; a small table several steps read (the
    staged deals, five readers in a month) is fetched once, not once per step. Reads of at least
    ``min_rows`` rows are kept (an empty read is not: it costs nothing to ask again), at most
    ``max_bytes`` of frames in all (least recently used dropped first); every
    write to a table through :class:`Warehouse` in this process forgets that table's entries, and
    entries are scoped to one run id, so another run (or process) never sees them, and only the
    latest run's entries are kept.

    The bound is memory, not rows, so that a run's memory does not grow with the history: a
    backfill whose event tables fit keeps them and slices every month from memory; one whose
    tables do not fit reads them a month at a time from the warehouse (their readers go month by
    month), and the cache then holds a month, not the history."""

    def __init__(self, min_rows: int = 1, max_bytes: int = READ_CACHE_BYTES) -> None:
        self.min_rows = min_rows
        self.max_bytes = max_bytes
        self._views: dict[tuple[str, str], set[str]] = {}
        self._entries: OrderedDict[tuple[str, str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        # The run whose steps load inputs, the step loading now, and the steps that loaded before it.
        self._loading: tuple[str | None, str | None, set[str]] = (None, None, set())

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
        if columns is not None:
            frame = frame[list(dict.fromkeys([*columns, MONTH_COLUMN])) if window != cached_window else list(columns)]
        if window is not None and window != cached_window:
            frame = rows_of_window(frame, window)
            if columns is not None:
                frame = frame[list(columns)]
        return frame.copy(deep=False)

    def put(self, url: str, scope: str, schema: TableSchema, window: tuple[dt.date, dt.date] | None,
            columns: Sequence[str] | None, frame: pd.DataFrame, *, kept: frozenset[str] | None = None) -> None:
        """Keep ``frame`` as the run ``scope``'s read of ``window`` and ``columns``; with ``kept`` (the only
        columns any reader of the table asks for) the other columns are dropped first: they would only
        hold memory, and a read asking for them misses and goes to the database."""
        if len(frame) < self.min_rows:
            return
        if window is not None and MONTH_COLUMN not in frame.columns:
            return
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

    def resize(self, max_bytes: int) -> None:
        """A new budget; the least recently used frames go until the kept ones fit it."""
        with self._lock:
            self.max_bytes = max_bytes
            while self._entries and sum(e[3] for e in self._entries.values()) > max_bytes:
                self._entries.popitem(last=False)

    def make_room(self, scope: str, size: int) -> None:
        """Drop the least recently used frames until ``size`` more bytes fit the budget (a table being
        gathered for this run, :class:`BatchFill`), and every other run's frames."""
        with self._lock:
            for key in [k for k in self._entries if k[1] != scope]:
                del self._entries[key]
            while self._entries and sum(e[3] for e in self._entries.values()) + size > self.max_bytes:
                self._entries.popitem(last=False)

    def release_finished(self, scope: str, step: str, readers: Mapping[str, frozenset[str]]) -> None:
        """Step ``step`` of the run ``scope`` loads an input. A run's steps execute one at a time in
        its process, so the steps that loaded inputs before this one have finished: the frames of
        every table all of whose ``readers`` in the run (step keys) are among them are dropped, as no
        later step of the run asks for them. A table with no known readers stays (least recently
        used first, as before); a reader that never loads an input never counts as finished."""
        with self._lock:
            run, current, finished = self._loading
            if run != scope:
                current, finished = None, set()
            if step != current and current is not None:
                finished.add(current)
            self._loading = (scope, step, finished)
            for key in [k for k in self._entries if k[1] == scope and k[2] in readers and readers[k[2]] <= finished]:
                del self._entries[key]

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
