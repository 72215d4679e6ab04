"""Reading a source table for a run and placing its rows in the run's partition months.

What the raw step of every source table does first (defs/source_assets.py does the rest):
read the source (files through the landing cache, an API or a SQL replica), collect what
the reader warned about (absent files, missing columns, rows a connector excluded), and
keep the rows of the run's window with their ``month``, counting the rows no partition holds.
"""

import datetime as dt
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.calendar import month_of
from saas_metrics.connectors.native import ExcludedRowsWarning
from saas_metrics.connectors.resource import SourceSystemsResource
from saas_metrics.defs.common import asset_window, is_partitioned_table
from saas_metrics.quality.accounting import RowAccount, exclusions_by_time
from saas_metrics.sources.drift import MissingColumn, MissingColumnsWarning
from saas_metrics.sources.landing import read_landed
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
    lo, hi = pd.Timestamp(first), pd.Timestamp(last)
    end = hi + pd.DateOffset(months=1)
    times = frame[time_column]
    months = month_of(times)
    placed = months.where((times >= lo) & (times < end))
    placed = placed.mask(times.isna(), lo)
    if now is not None:
        placed = placed.mask(times > now, hi)
    return placed.astype("datetime64[ns]")


def rows_outside_partitions(times: pd.Series, first: dt.date, last: dt.date, *, now: pd.Timestamp | None = None) -> int:
    """How many of ``times`` :func:`place_in_months` puts in no partition: present, not in the
    future, and before ``first`` or after the end of ``last`` (comparisons only, no month per row)."""
    inside = (times >= pd.Timestamp(first)) & (times < pd.Timestamp(last) + pd.DateOffset(months=1))
    future = times > now if now is not None else False
    return int((times.notna() & ~inside & ~future).sum())


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
                      window: tuple[dt.date, dt.date] | None = None, now: dt.datetime | None = None) -> SourceRead:
    """Read ``table`` and collect the reader's warnings: a missing source file or system
    (the table is read as empty: a notice, logged as a warning) and a file lacking columns
    (a schema problem naming file and columns: the blocking schema check fails).

    Files go through the landing cache when the resource has one: the frame then holds only
    the rows the window may place (see :func:`saas_metrics.sources.landing.read_landed`) and
    ``all_times`` the time of every row."""
    all_times = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(sources, Path):
            frame = read_source_table(table, sources)
        elif sources.kind_of(table) == "files" and sources.landing_cache_dir:
            frame, all_times = read_landed(table, sources.path, Path(sources.landing_cache_dir), window, now)
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
    return SourceRead(frame, tuple(dict.fromkeys(notices)), tuple(dict.fromkeys(missing)), all_times, excluded)


@dataclass(frozen=True)
class PlacedRead:
    """A source read placed in the run's partitions: the rows of the run's window (with their
    ``month``), what was read in all, and the rows no partition holds."""

    frame: pd.DataFrame
    notices: tuple[str, ...]
    source_problems: tuple[str, ...]
    account: RowAccount
    outside: int


def read_placed(context: AssetExecutionContext, table: str, sources: SourceSystemsResource,
                now: pd.Timestamp) -> PlacedRead:
    """Read ``table`` for the run and keep the rows of its window (a snapshot table: every row)."""
    canonical = SCHEMAS[table]
    window = asset_window(context) if is_partitioned_table(canonical) else None
    read = read_with_notices(table, sources, window, now.to_pydatetime())
    for notice in read.notices:
        context.log.warning(notice)
    frame, outside, rows_read, excluded = read.frame, 0, len(read.frame), {}
    if window is not None:
        assert canonical.time_column is not None  # a partitioned table has its time column
        first, last = partition_bounds(context)
        months = place_in_months(frame, canonical.time_column, first, last, now=now)
        if read.all_times is None:
            outside, times, placed = int(months.isna().sum()), frame[canonical.time_column], months
        else:
            outside, times = rows_outside_partitions(read.all_times, first, last, now=now), read.all_times
            placed = place_in_months(pd.DataFrame({canonical.time_column: times}), canonical.time_column, first, last, now=now)
        rows_read, excluded = len(times), exclusions_by_time(times, placed, window, first)
        frame = frame.assign(**{MONTH_COLUMN: months})
        in_window = (months >= pd.Timestamp(window[0])) & (months < pd.Timestamp(window[1]))
        if not in_window.all():
            frame = frame[in_window.to_numpy()]
    for rule, n in read.excluded.items():
        excluded[rule] = excluded.get(rule, 0) + n
    # What the connector excluded was read too (the loaded and quarantined rows are known after validation).
    account = RowAccount(rows_read + sum(read.excluded.values()), 0, 0, excluded)
    return PlacedRead(frame, read.notices, read.source_problems, account, outside)


def partition_bounds(context: AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """First and last month of the asset's partitions definition."""
    pdef = context.assets_def.partitions_def
    keys = pdef.get_partition_keys(dynamic_partitions_store=context.instance)
    return dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[-1])


