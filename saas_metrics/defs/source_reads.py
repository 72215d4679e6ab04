"""Reading a source table for a run and placing its rows in the run's partition months.

What the raw step of every source table does first (defs/source_assets.py does the rest):
read the source (files through the landing cache, an API or a SQL replica), collect what
the reader warned about (absent files, missing columns, rows a connector excluded), and
keep the rows of the run's window with their ``month``, counting the rows no partition holds.
"""

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.calendar import add_months, month_of
from saas_metrics.connectors.native import ExcludedRowsWarning
from saas_metrics.connectors.resource import SourceSystemsResource
from saas_metrics.defs.common import asset_window, is_partitioned_table, window_months
from saas_metrics.quality.accounting import RowAccount, exclusions_by_time
from saas_metrics.sources.drift import MissingColumn, MissingColumnsWarning
from saas_metrics.sources.landing import read_landed, wait_for_stores
from saas_metrics.sources.notices import collecting_notices
from saas_metrics.sources.registry import read_source_table
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.tables import MONTH_COLUMN


def place_in_months(
    frame: pd.DataFrame, time_column: str, first: dt.date, last: dt.date, *, now: pd.Timestamp | None = None
) -> pd.Series:
    """The partition month of each row (NaT: the row belongs to no partition).

    * time inside [first, end of last]: the month of its time;
    * time missing or unparseable: ``first`` (it is quarantined there, never lost);
    * time after ``now`` (a future date, a defect): ``last``, where it is quarantined;
    * time before ``first``, or after ``last`` but not in the future: NaT. Such a row is
      history outside the configured partitions (e.g. FX rates or invoices of the years
      before ``start_month``): it is not a defect, it belongs to no partition, and it is
      counted as ``rows_outside_partitions`` in the raw asset's metadata.
    """
    times = frame[time_column]
    rows = _filing(times, first, last, now)
    placed = month_of(times).where(rows.dated)
    placed = placed.mask(rows.missing, pd.Timestamp(first)).mask(rows.future, pd.Timestamp(last))
    return placed.astype("datetime64[ns]")


@dataclass(frozen=True)
class _Filing:
    """Which rows :func:`place_in_months` files by their own month, and which under the first or
    the last partition (one rule for placing rows and for counting them)."""

    dated: pd.Series  # a time inside the partitions, not in the future: its own month
    missing: pd.Series  # no time: the first partition
    future: pd.Series  # after now: the last partition

    @property
    def placed(self) -> pd.Series:
        return self.dated | self.missing | self.future


def _filing(times: pd.Series, first: dt.date, last: dt.date, now: pd.Timestamp | None) -> _Filing:
    future = times > now if now is not None else pd.Series(False, index=times.index)
    inside = (times >= pd.Timestamp(first)) & (times < pd.Timestamp(last) + pd.DateOffset(months=1))
    return _Filing(dated=inside & ~future, missing=times.isna(), future=future)


@dataclass(frozen=True)
class Placement:
    """Where :func:`place_in_months` files a table's rows, counted."""

    in_window: dict[dt.date, int]  # rows filed under each month of the run's window (months with rows)
    outside: int  # rows filed under no partition
    excluded: dict[str, int]  # rows filed outside the run's window, per exclusion rule

    @property
    def in_window_rows(self) -> int:
        return sum(self.in_window.values())


def count_placement(times: pd.Series, first: dt.date, last: dt.date, window: tuple[dt.date, dt.date], *,
                    now: pd.Timestamp | None = None) -> Placement:
    """The counts of :func:`place_in_months` over ``times`` for a run of ``window``: rows per month
    of the window, rows in no partition, and the rows excluded by their time
    (:func:`saas_metrics.quality.accounting.exclusions_by_time`).

    Only the rows of the window are keyed by month; every other row is counted by comparisons.
    A month's run reads the time of every row of a whole-history export (the usage export of a
    site with years of history has millions), and keying each of them by month was most of the
    placement's cost."""
    rows = _filing(times, first, last, now)
    start, end = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    months = month_of(times[rows.dated & (times >= start) & (times < end)]).value_counts()
    in_window = {month.date(): int(n) for month, n in months.items()}
    for month, filed in ((pd.Timestamp(first), rows.missing), (pd.Timestamp(last), rows.future)):
        n = int(filed.sum())
        if n and start <= month < end:
            in_window[month.date()] = in_window.get(month.date(), 0) + n
    placed = rows.placed
    total = sum(in_window.values())
    return Placement(in_window, int((~placed).sum()), exclusions_by_time(times, placed, total, first))


@dataclass(frozen=True)
class SourceRead:
    """A canonical table as read from its source, with what the reader complained about."""

    frame: pd.DataFrame
    notices: tuple[str, ...] = ()
    missing_columns: tuple[MissingColumn, ...] = ()  # absent native columns (a required one fails the schema check)
    all_times: pd.Series | None = None  # landing cache: the time column of every row when ``frame`` is pre-filtered
    excluded: dict[str, int] = field(default_factory=dict)  # rows the connector read but did not pass on, per rule

    @property
    def source_problems(self) -> tuple[str, ...]:
        """The blocking schema problems: one per missing required column."""
        return tuple(dict.fromkeys(m.problem() for m in self.missing_columns if m.required))


def read_with_notices(table: str, sources: SourceSystemsResource | Path,
                      window: tuple[dt.date, dt.date] | None = None, now: dt.datetime | None = None,
                      *, all_times: bool = True) -> SourceRead:
    """Read ``table`` and collect the reader's warnings: a missing source file or system
    (the table is read as empty: a notice, logged as a warning) and a file lacking columns
    (a schema problem naming file and columns: the blocking schema check fails).

    Files go through the landing cache when the resource has one: the frame then holds only
    the rows the window may place (see :func:`saas_metrics.sources.landing.read_landed`) and
    ``all_times`` the time of every row (left unread with ``all_times=False``)."""
    times = None
    with collecting_notices() as caught:  # not catch_warnings: see saas_metrics/sources/notices.py
        if isinstance(sources, Path):
            frame = read_source_table(table, sources)
        elif sources.kind_of(table) == "files" and sources.landing_cache_dir:
            frame, times = read_landed(table, sources.path, Path(sources.landing_cache_dir), window, now,
                                       all_times=all_times)
        elif sources.kind_of(table) == "files":
            # Files are read whole and placed by the asset (rows outside the partitions are counted).
            frame = sources.read_table(table)
        else:
            # APIs and replicas are asked for the window only (created in the month).
            frame = sources.read_table(table, *(window or (None, None)), include_unplaced=True)
    notices: list[str] = []
    missing: list[MissingColumn] = []
    excluded: dict[str, int] = {}
    for warning in caught:
        notices.append(str(warning.message))
        if isinstance(warning.message, MissingColumnsWarning):
            missing.extend(warning.message.missing)
        elif isinstance(warning.message, ExcludedRowsWarning):
            for rule, n in warning.message.counts.items():
                excluded[rule] = excluded.get(rule, 0) + n
    return SourceRead(frame, tuple(dict.fromkeys(notices)), tuple(dict.fromkeys(missing)), times, excluded)


#: The most rows a raw step validates and stores at once: a run's window is cut into batches of
#: whole months holding at most this many rows (a bigger month is a batch of its own), so the
#: step's peak memory follows its largest month, not the run's history. A month run, and a range
#: of a small table, is one batch: the same single validation as before.
BATCH_ROWS = 400_000

Window = tuple[dt.date, dt.date]


def month_batches(window: Window, rows_per_month: Mapping[dt.date, int], max_rows: int = BATCH_ROWS) -> list[Window]:
    """``window`` cut into consecutive [start, end) batches of whole months of at most ``max_rows``
    rows (``rows_per_month``; a month over the limit is one batch)."""
    batches: list[Window] = []
    start, rows = window[0], 0
    for month in window_months(window):
        n = rows_per_month.get(month, 0)
        if month > start and rows + n > max_rows:
            batches.append((start, month))
            start, rows = month, 0
        rows += n
    return [*batches, (start, window[1])]


@dataclass(frozen=True)
class PlacedRead:
    """A source read placed in the run's partitions: what was read in all, the rows no partition
    holds, and the run's rows in batches of months (:func:`month_batches`; one batch with window
    None for a snapshot table), read one batch at a time by :meth:`frames`."""

    notices: tuple[str, ...]
    source_problems: tuple[str, ...]
    account: RowAccount
    outside: int
    batches: tuple[Window | None, ...]
    rows_of: Callable[[Window | None], pd.DataFrame] = field(repr=False)
    #: Rows of every batch together (None where unknown before reading: a snapshot table).
    rows: int | None = None

    def frames(self) -> Iterator[tuple[Window | None, pd.DataFrame]]:
        """Each batch's window and rows (with their ``month``), read when asked for."""
        for window in self.batches:
            yield window, self.rows_of(window)


def read_placed(context: AssetExecutionContext, table: str, sources: SourceSystemsResource,
                now: pd.Timestamp, max_rows: int | None = None) -> PlacedRead:
    """Read ``table`` for the run and keep the rows of its window (a snapshot table: every row).

    Files through the landing cache are read a batch at a time: the first month's read gives the
    time of every row (so the batches and the row accounting), later batches are read from the
    cache (after the first read of a cold cache has finished storing it). Other sources are read
    for the whole window and cut into batches in memory."""
    canonical = SCHEMAS[table]
    if not is_partitioned_table(canonical):
        read = _logged(context, read_with_notices(table, sources, None, now.to_pydatetime()))
        frame = read.frame
        account = RowAccount(len(frame) + sum(read.excluded.values()), 0, 0, dict(read.excluded))
        return PlacedRead(read.notices, read.source_problems, account, 0, (None,), lambda _: frame)
    assert canonical.time_column is not None  # a partitioned table has its time column
    time_column = canonical.time_column
    window = asset_window(context)
    first, last = partition_bounds(context)
    lazy = not isinstance(sources, Path) and sources.kind_of(table) == "files" and bool(sources.landing_cache_dir)
    probe = (window[0], add_months(window[0], 1)) if lazy else window
    read = _logged(context, read_with_notices(table, sources, probe, now.to_pydatetime()))
    times = read.frame[time_column] if read.all_times is None else read.all_times
    placement = count_placement(times, first, last, window, now=now)
    excluded = dict(placement.excluded)
    for rule, n in read.excluded.items():
        excluded[rule] = excluded.get(rule, 0) + n
    # What the connector excluded was read too (the loaded and quarantined rows are known after validation).
    account = RowAccount(len(times) + sum(read.excluded.values()), 0, 0, excluded)
    counts, outside = placement.in_window, placement.outside
    batches = tuple(month_batches(window, counts, max_rows or BATCH_ROWS))
    del times

    def placed_rows(frame: pd.DataFrame, batch: Window) -> pd.DataFrame:
        months = place_in_months(frame, time_column, first, last, now=now)
        frame = frame.assign(**{MONTH_COLUMN: months})
        keep = (months >= pd.Timestamp(batch[0])) & (months < pd.Timestamp(batch[1]))
        return frame if keep.all() else frame[keep.to_numpy()]

    notices, problems = read.notices, read.source_problems
    if read.all_times is None or batches == (probe,):
        whole = read.frame
        return PlacedRead(notices, problems, account, outside, batches, lambda batch: placed_rows(whole, batch or window),
                          placement.in_window_rows)
    del read  # the probe's rows are read again with their batch
    wait_for_stores()  # a cold cache: the later batches read what the first read is storing

    def read_batch(batch: Window | None) -> pd.DataFrame:
        # The first read counted every row's time; a batch reads its own rows only.
        read = read_with_notices(table, sources, batch, now.to_pydatetime(), all_times=False)
        return placed_rows(read.frame, batch or window)

    return PlacedRead(notices, problems, account, outside, batches, read_batch, placement.in_window_rows)


def _logged(context: AssetExecutionContext, read: SourceRead) -> SourceRead:
    for notice in read.notices:
        context.log.warning(notice)
    return read


def partition_bounds(context: AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """First and last month of the asset's partitions definition."""
    pdef = context.assets_def.partitions_def
    keys = pdef.get_partition_keys(dynamic_partitions_store=context.instance)
    return dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])


