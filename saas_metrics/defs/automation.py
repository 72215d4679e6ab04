"""Schedules and the source-arrival sensor of the monthly metrics job.

Schedules (UTC, shown in the UI with their target job):

* ``monthly_close_schedule`` (default ``0 6 2 * *``: 06:00 on the 2nd) runs the
  LAST COMPLETE month: the partition of the month before the tick.
* ``daily_provisional_schedule`` (default ``0 5 * * *``) refreshes the month
  in progress (its KPI rows are provisional); skipped when the partitions end
  with a pinned ``end_month``.

Source-arrival sensor (``source_arrival_sensor``): every tick it fingerprints
the landing files (size + mtime, then sha256 when those moved). For each
source system with a new, changed or deleted file it re-reads that system's
canonical tables and hashes the rows of every month (order-independent, the
row's file line number excluded, so inserting a row above others does not
"change" later months). Months whose hash changed get a run request. Rows are
placed in months exactly like the raw assets do: the month of the table's
time column, clamped to the partition range, rows without a time in the first
partition.

Snapshot tables (no time column: customers, subscriptions, plans, contacts,
...) describe the current state, so a change requests the LATEST partition
and, when it is the month in progress, the last complete month too. Older
months are rebuilt by a backfill, on purpose: a snapshot edit would otherwise
re-run the whole history.

The first tick records a baseline and requests nothing (turning the sensor on
must not re-run every month); from then on changes trigger runs. The cursor
(JSON) holds the file fingerprints, the per-table per-month hashes and a
sequence number; run keys ``sources:<partition>:<sequence>`` make a re-evaluated
tick (after a daemon crash) never launch a second run, and the cursor means the
same change never triggers twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from saas_metrics.calendar import add_months, first_of_month, month_of
from saas_metrics.compat import UnresolvedAssetJobDefinition
from saas_metrics.config import Settings, get_settings
from saas_metrics.defs.partitions import monthly_partitions
from saas_metrics.sources.registry import (
    NATIVE_FILES_OF,
    SOURCE_SYSTEM_OF,
    read_source_table,
    source_files,
)
from saas_metrics.sources.schemas import SCHEMAS

MONTHLY_CRON = "0 6 2 * *"
DAILY_CRON = "0 5 * * *"
TRIGGER_TAG = "saas_metrics/trigger"
UNPLACED = "unplaced"
SNAPSHOT = "snapshot"

AnyJob = dg.JobDefinition | UnresolvedAssetJobDefinition


def _partitions(job: AnyJob, partitions_def: dg.PartitionsDefinition | None) -> dg.PartitionsDefinition:
    if partitions_def is not None:
        return partitions_def
    job_partitions = getattr(job, "partitions_def", None)
    if job_partitions is not None:
        return job_partitions
    return monthly_partitions(get_settings())


def _keys(partitions_def: dg.PartitionsDefinition, now: dt.datetime) -> list[str]:
    return list(partitions_def.get_partition_keys(current_time=now))


def _key(month: dt.date) -> str:
    return month.strftime("%Y-%m-%d")


# -- schedules ----------------------------------------------------------------
def monthly_close_partition(scheduled: dt.datetime) -> str:
    """Partition key of the last complete month at ``scheduled`` (the month before)."""
    return _key(add_months(first_of_month(scheduled), -1))


def in_progress_partition(scheduled: dt.datetime) -> str:
    return _key(first_of_month(scheduled))


def build_schedules(
    job: AnyJob,
    partitions_def: dg.PartitionsDefinition | None = None,
    *,
    monthly_cron: str = MONTHLY_CRON,
    daily_cron: str = DAILY_CRON,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> list[dg.ScheduleDefinition]:
    """The monthly close schedule and the daily refresh of the month in progress."""
    parts = _partitions(job, partitions_def)

    def _request(context: dg.ScheduleEvaluationContext, key: str, run_key: str, trigger: str):
        now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        if key not in _keys(parts, now):
            return dg.SkipReason(f"partition {key} is not in the job's partitions at {now:%Y-%m-%d %H:%M} UTC")
        return dg.RunRequest(run_key=run_key, partition_key=key, tags={TRIGGER_TAG: trigger})

    @dg.schedule(
        name="monthly_close_schedule", cron_schedule=monthly_cron, job=job, execution_timezone="UTC",
        default_status=default_status,
        description="Materialises the last complete month early in the next month (06:00 UTC on the 2nd).",
    )
    def monthly_close_schedule(context: dg.ScheduleEvaluationContext):
        scheduled = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        key = monthly_close_partition(scheduled)
        return _request(context, key, f"monthly_close:{key}", "monthly_close_schedule")

    @dg.schedule(
        name="daily_provisional_schedule", cron_schedule=daily_cron, job=job, execution_timezone="UTC",
        default_status=default_status,
        description="Refreshes the month in progress every day; its KPI rows are provisional.",
    )
    def daily_provisional_schedule(context: dg.ScheduleEvaluationContext):
        scheduled = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        key = in_progress_partition(scheduled)
        return _request(context, key, f"daily:{key}:{scheduled:%Y-%m-%d}", "daily_provisional_schedule")

    return [monthly_close_schedule, daily_provisional_schedule]


# -- source fingerprints --------------------------------------------------------
def file_fingerprint(path: Path, previous: Mapping[str, object] | None = None) -> dict[str, object]:
    """size, mtime_ns and sha256 of a file; the hash is reused when size and mtime did not move."""
    stat = path.stat()
    if previous and previous.get("size") == stat.st_size and previous.get("mtime_ns") == stat.st_mtime_ns:
        return dict(previous)
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}


def month_hashes(frame: pd.DataFrame, time_column: str | None, first: dt.date, last: dt.date) -> dict[str, str]:
    """Order-independent content hash of the rows of each month (``_source_line`` excluded).

    Keys: partition keys; rows without a time go to the first partition (as
    the raw assets place them); snapshot tables hash as one ``snapshot`` entry.
    """
    content = frame.drop(columns=[c for c in ("_source_line",) if c in frame.columns])
    if content.empty:
        return {}
    row_hashes = pd.util.hash_pandas_object(content.astype("string"), index=False).to_numpy()
    if time_column is None:
        return {SNAPSHOT: _digest(row_hashes)}
    times = pd.to_datetime(frame[time_column], errors="coerce")
    months = month_of(times)
    lo, hi = pd.Timestamp(first), pd.Timestamp(last)
    months = months.fillna(lo).clip(lower=lo, upper=hi).reset_index(drop=True)
    return {
        pd.Timestamp(month).strftime("%Y-%m-%d"): _digest(row_hashes[positions])
        for month, positions in months.groupby(months).indices.items()
    }


def _digest(row_hashes: np.ndarray) -> str:
    return hashlib.sha256(np.sort(row_hashes.astype("uint64")).tobytes()).hexdigest()[:20]


def changed_partitions(old: Mapping[str, str], new: Mapping[str, str]) -> set[str]:
    """Keys whose hash differs, including months that appeared or disappeared."""
    return {k for k in set(old) | set(new) if old.get(k) != new.get(k)}


def snapshot_partitions(keys: Sequence[str], now: dt.datetime) -> list[str]:
    """Partitions a snapshot change requests: the latest and, when that is the month in progress, the one before."""
    if not keys:
        return []
    out = [keys[-1]]
    if keys[-1] == _key(first_of_month(now)) and len(keys) > 1:
        out.insert(0, keys[-2])
    return out


def _registry() -> tuple[Callable, Callable, Mapping[str, str], Mapping[str, str | None], Mapping[str, Sequence[str]]]:
    time_columns = {n: s.time_column for n, s in SCHEMAS.items()}
    return source_files, read_source_table, SOURCE_SYSTEM_OF, time_columns, NATIVE_FILES_OF


def scan_sources(
    sources_dir: Path,
    cursor: Mapping[str, Any],
    partition_keys: Sequence[str],
    now: dt.datetime,
    *,
    list_files: Callable[[Path], Mapping[str, Sequence[Path]]],
    read_table: Callable[[str, Path], pd.DataFrame],
    system_of: Mapping[str, str],
    time_column_of: Mapping[str, str | None],
    files_of: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """New cursor state and ``{partition key: changed tables}`` for the files under ``sources_dir``.

    ``files_of`` (table -> its native files, relative to ``sources_dir``) narrows
    the re-read to the tables whose own files changed; without it every table of
    a changed system is re-read.
    """
    old_files: dict[str, dict] = dict(cursor.get("files", {}))
    old_tables: dict[str, dict[str, str]] = dict(cursor.get("tables", {}))
    files: dict[str, dict] = {}
    changed_files: set[str] = set()
    for system, paths in list_files(sources_dir).items():
        for path in paths:
            rel = Path(path).relative_to(sources_dir).as_posix() if Path(path).is_relative_to(sources_dir) else str(path)
            fp = file_fingerprint(Path(path), old_files.get(rel))
            files[rel] = {**fp, "system": system}
            if (old_files.get(rel) or {}).get("sha256") != fp["sha256"]:
                changed_files.add(rel)
    changed_files |= {k for k in old_files if k not in files}  # deleted files
    all_files = {**old_files, **files}
    changed_systems = {all_files[k].get("system") for k in changed_files}

    tables = dict(old_tables)
    requests: dict[str, set[str]] = {}
    # A changed file no table names (a downloaded export) may stand for any table of its system.
    owned = {f for fs in (files_of or {}).values() for f in fs}
    unowned_systems = {all_files[k].get("system") for k in changed_files - owned}
    if not partition_keys:
        return {"files": files, "tables": tables, "seq": cursor.get("seq", 0)}, requests
    first, last = (dt.date.fromisoformat(partition_keys[0]), dt.date.fromisoformat(partition_keys[-1]))
    for table, system in sorted(system_of.items()):
        if system not in changed_systems:
            continue
        if files_of is not None and table in files_of and table in old_tables and system not in unowned_systems \
                and not changed_files & set(files_of[table]):
            continue  # none of this table's own files changed
        time_column = time_column_of.get(table)
        new_hashes = month_hashes(read_table(table, sources_dir), time_column, first, last)
        tables[table] = new_hashes
        for key in changed_partitions(old_tables.get(table, {}), new_hashes):
            targets = snapshot_partitions(partition_keys, now) if key == SNAPSHOT else [key]
            for target in targets:
                if target in partition_keys:
                    requests.setdefault(target, set()).add(table)
    return {"files": files, "tables": tables, "seq": cursor.get("seq", 0)}, requests


def build_automation_sensors(
    job: AnyJob,
    partitions_def: dg.PartitionsDefinition | None = None,
    *,
    sources_dir: Path | None = None,
    settings: Settings | None = None,
    minimum_interval_seconds: int = 120,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    list_files: Callable[[Path], Mapping[str, Sequence[Path]]] | None = None,
    read_table: Callable[[str, Path], pd.DataFrame] | None = None,
    system_of: Mapping[str, str] | None = None,
    time_column_of: Mapping[str, str | None] | None = None,
) -> list[dg.SensorDefinition]:
    """The source-arrival sensor (a list, so more automation sensors can join).

    The source registry (``saas_metrics.sources.registry``) is used unless the
    ``list_files``/``read_table``/``system_of``/``time_column_of`` hooks are given.
    """
    parts = _partitions(job, partitions_def)

    @dg.sensor(
        name="source_arrival_sensor", job=job, minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Requests runs for exactly the months whose source rows changed (new or edited landing files).",
    )
    def source_arrival_sensor(context: dg.SensorEvaluationContext):
        folder = Path(sources_dir or (settings or get_settings()).sources_dir)
        native_files: Mapping[str, Sequence[str]] | None = None
        if list_files is None or read_table is None or system_of is None or time_column_of is None:
            reg_lf, reg_rt, reg_so, reg_tc, native_files = _registry()
            lf = list_files if list_files is not None else reg_lf
            rt = read_table if read_table is not None else reg_rt
            so = system_of if system_of is not None else reg_so
            tc = time_column_of if time_column_of is not None else reg_tc
        else:
            lf, rt, so, tc = list_files, read_table, system_of, time_column_of
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        cursor = json.loads(context.cursor) if context.cursor else None
        state, requests = scan_sources(folder, cursor or {}, _keys(parts, now), now, list_files=lf, read_table=rt,
                                       system_of=so, time_column_of=tc, files_of=native_files)
        if cursor is None:
            return dg.SensorResult(skip_reason=f"baseline of {len(state['files'])} landing file(s) recorded; "
                                   "changes from now on trigger runs", cursor=json.dumps(state, sort_keys=True))
        if not requests:
            return dg.SensorResult(skip_reason="no source rows changed", cursor=json.dumps(state, sort_keys=True))
        seq = int(state["seq"]) + 1
        state["seq"] = seq
        run_requests = [
            dg.RunRequest(
                run_key=f"sources:{key}:{seq}",
                partition_key=key,
                tags={TRIGGER_TAG: "source_arrival_sensor", "saas_metrics/changed_tables": ",".join(sorted(t))[:200]},
            )
            for key, t in sorted(requests.items())
        ]
        context.log.info(f"source changes: {({k: sorted(v) for k, v in sorted(requests.items())})}")
        return dg.SensorResult(run_requests=run_requests, cursor=json.dumps(state, sort_keys=True))

    return [source_arrival_sensor]
