"""Freshness asset checks: one per raw source asset, one on kpi_monthly.

``source_freshness`` on ``raw_<table>`` fails when

* the newest landing file of the table's source system is older than
  ``max_file_age_hours`` (file modification time), or
* for fact tables (with a time column), the newest clean record in the
  warehouse's ``raw_<table>`` is older than ``max_record_age_days`` before the
  reference time: the end of ``Settings.last_month`` (``record_reference:
  last_complete_month``, default: "the last complete month has fully arrived")
  or the current time (``record_reference: now``).

``kpi_freshness`` on ``kpi_monthly`` fails when its latest materialisation is
older than ``max_age_hours`` or it has no rows for the last complete month.

Limits come from the ``freshness`` section of the alert rules YAML (per source
system, with a ``default``). The checks run with their assets and on their own
from ``freshness_checks_schedule`` (hourly); failures reach the
``asset_check_alerts_sensor`` like any other failed check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from saas_metrics.alerts.rules import FreshnessConfig, KpiFreshness, SourceFreshness, load_rules
from saas_metrics.calendar import add_months
from saas_metrics.config import Settings, get_settings
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.sources.registry import SOURCE_SYSTEM_OF, source_files
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.tables import MONTH_COLUMN
from saas_metrics.warehouse import Warehouse

SOURCE_CHECK = "source_freshness"
KPI_CHECK = "kpi_freshness"
QUARANTINE_REASON = "_quarantine_reason"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def newest_file_time(paths: Sequence[Path]) -> dt.datetime | None:
    """Modification time (naive UTC) of the newest existing file."""
    times = [Path(p).stat().st_mtime for p in paths if Path(p).exists()]
    return dt.datetime.fromtimestamp(max(times), dt.UTC).replace(tzinfo=None) if times else None


def newest_record_time(warehouse: Warehouse, table: str, time_column: str) -> dt.datetime | None:
    """MAX(time_column) of the clean rows of a warehouse table (None if absent or empty)."""
    if not warehouse.has_table(table):
        return None
    columns = {c["name"] for c in sa.inspect(warehouse.engine).get_columns(table)}
    if time_column not in columns:
        return None
    t = sa.table(table, sa.column(time_column), sa.column(QUARANTINE_REASON), sa.column(MONTH_COLUMN, sa.Date))
    query = sa.select(sa.func.max(t.c[time_column]))
    if QUARANTINE_REASON in columns:
        query = query.where(t.c[QUARANTINE_REASON].is_(None))
    with warehouse.engine.connect() as conn:
        if MONTH_COLUMN in columns:
            value = _newest_by_month(conn, t, query)
        else:
            value = conn.execute(query).scalar()
    return None if value is None else pd.Timestamp(str(value)).to_pydatetime()


def _newest_by_month(conn: sa.Connection, t: sa.TableClause, query: sa.Select) -> object:
    """MAX of ``query`` found month by month, newest first. A raw row is stored under the month of
    its own time column, so the newest clean record is in the newest month that has one; each
    probe uses the month index instead of scanning the table's whole history."""
    month_col = t.c[MONTH_COLUMN]
    newest = sa.select(sa.func.max(month_col))
    month = conn.execute(newest).scalar()
    while month is not None:
        value = conn.execute(query.where(month_col == month)).scalar()
        if value is not None:
            return value
        month = conn.execute(newest.where(month_col < month)).scalar()
    return None


def record_reference_time(config: FreshnessConfig, settings: Settings, now: dt.datetime) -> dt.datetime:
    if config.record_reference == "now":
        return now
    return dt.datetime.combine(add_months(settings.last_month, 1), dt.time())


def evaluate_source_freshness(
    newest_file: dt.datetime | None,
    newest_record: dt.datetime | None,
    policy: SourceFreshness,
    *,
    now: dt.datetime,
    reference: dt.datetime,
    has_time_column: bool,
) -> tuple[bool, list[str], dict[str, object]]:
    """(passed, problems, metadata) of one source table's freshness."""
    problems: list[str] = []
    metadata: dict[str, object] = {}
    if policy.max_file_age_hours is not None:
        metadata["max_file_age_hours"] = policy.max_file_age_hours
        if newest_file is None:
            problems.append("no landing file")
        else:
            age = (now - newest_file).total_seconds() / 3600
            metadata["newest_file_at"] = newest_file.isoformat(timespec="seconds")
            metadata["file_age_hours"] = round(age, 2)
            if age > policy.max_file_age_hours:
                problems.append(f"newest landing file is {age:.1f} h old (limit {policy.max_file_age_hours:g} h)")
    if has_time_column and policy.max_record_age_days is not None:
        metadata["max_record_age_days"] = policy.max_record_age_days
        metadata["record_reference"] = reference.isoformat(timespec="seconds")
        if newest_record is None:
            problems.append("no clean record loaded")
        else:
            lag = (reference - newest_record).total_seconds() / 86400
            metadata["newest_record_at"] = newest_record.isoformat(timespec="seconds")
            metadata["record_age_days"] = round(lag, 2)
            if lag > policy.max_record_age_days:
                problems.append(f"newest record is {lag:.1f} days before {reference:%Y-%m-%d %H:%M} "
                                f"(limit {policy.max_record_age_days:g} days)")
    return not problems, problems, metadata


def evaluate_kpi_freshness(
    last_materialized: dt.datetime | None,
    last_month_rows: int,
    policy: KpiFreshness,
    *,
    now: dt.datetime,
    last_month: dt.date,
) -> tuple[bool, list[str], dict[str, object]]:
    problems: list[str] = []
    metadata: dict[str, object] = {"last_complete_month": last_month.isoformat(), "last_month_rows": last_month_rows}
    if policy.max_age_hours is not None:
        metadata["max_age_hours"] = policy.max_age_hours
        if last_materialized is None:
            problems.append("kpi_monthly was never materialised")
        else:
            age = (now - last_materialized).total_seconds() / 3600
            metadata["last_materialized_at"] = last_materialized.isoformat(timespec="seconds")
            metadata["age_hours"] = round(age, 2)
            if age > policy.max_age_hours:
                problems.append(f"last materialised {age:.1f} h ago (limit {policy.max_age_hours:g} h)")
    if policy.require_last_complete_month and last_month_rows == 0:
        problems.append(f"no kpi_monthly rows for the last complete month {last_month:%Y-%m}")
    return not problems, problems, metadata


def _result(passed: bool, problems: list[str], metadata: dict[str, Any], severity: str,
            key: dg.AssetCheckKey) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key.asset_key, check_name=key.name, passed=passed, severity=dg.AssetCheckSeverity(severity),
        description="fresh" if passed else "; ".join(problems), metadata=metadata,
    )


FRESHNESS_STEP = "freshness_checks"


def _source_specs(system: str, tables: Mapping[str, str | None], config: FreshnessConfig) -> list[dg.AssetCheckSpec]:
    """``source_freshness`` of the raw tables of one source system (``tables``: table -> time column)."""
    policy = config.for_system(system)
    return [dg.AssetCheckSpec(
        SOURCE_CHECK, asset=f"raw_{table}", blocking=False,
        description=f"Source `{system}`: newest landing file within {policy.max_file_age_hours} h"
        + (f", newest `{table}` record within {policy.max_record_age_days} days" if time_column else "") + ".",
    ) for table, time_column in tables.items()]


def _kpi_spec(key: dg.AssetKey, config: FreshnessConfig) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        KPI_CHECK, asset=key, blocking=False,
        description=f"kpi_monthly materialised within {config.kpi_monthly.max_age_hours} h and holding the last complete month.",
    )


def _freshness_checks(by_system: Mapping[str, Mapping[str, str | None]], kpi_key: dg.AssetKey | None,
                      config: FreshnessConfig, settings: Settings | None,
                      list_files: Callable[[Path], Mapping[str, Sequence[Path]]] | None) -> dg.AssetChecksDefinition:
    """Every freshness check, evaluated by one step: each check is cheap, a step's fixed cost is not.
    The checks stay selectable one by one (the UI's Execute on one check runs that check alone)."""
    system_of_raw = {f"raw_{table}": system for system, tables in by_system.items() for table in tables}
    specs = [spec for system, tables in by_system.items() for spec in _source_specs(system, tables, config)]
    if kpi_key is not None:
        specs.append(_kpi_spec(kpi_key, config))

    @dg.multi_asset_check(name=FRESHNESS_STEP, specs=specs, can_subset=True)
    def _checks(context, warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
        current = settings or get_settings()
        lister = list_files or source_files
        now = utcnow()
        files: Mapping[str, Sequence[Path]] | None = None
        newest_file: dict[str, dt.datetime | None] = {}
        for key in sorted(context.selected_asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
            if key.name == KPI_CHECK:
                yield _kpi_result(context.instance, key, warehouse.warehouse, config, current)
                continue
            raw = key.asset_key.path[-1]
            system = system_of_raw[raw]
            if system not in newest_file:
                files = files if files is not None else lister(Path(current.sources_dir))
                newest_file[system] = newest_file_time(list(files.get(system, [])))
            time_column = by_system[system][raw.removeprefix("raw_")]
            newest_record = newest_record_time(warehouse.warehouse, raw, time_column) if time_column else None
            passed, problems, metadata = evaluate_source_freshness(
                newest_file[system], newest_record, config.for_system(system), now=now,
                reference=record_reference_time(config, current, now), has_time_column=time_column is not None,
            )
            yield _result(passed, problems, {"source_system": system, **metadata}, config.severity, key)

    return _checks


def _kpi_result(instance: dg.DagsterInstance, key: dg.AssetCheckKey, warehouse: Warehouse, config: FreshnessConfig,
                settings: Settings) -> dg.AssetCheckResult:
    event = instance.get_latest_materialization_event(key.asset_key)
    last = None if event is None else dt.datetime.fromtimestamp(event.timestamp, dt.UTC).replace(tzinfo=None)
    month = settings.last_month
    rows = warehouse.count(key.asset_key.path[-1], window=(month, add_months(month, 1)))
    passed, problems, metadata = evaluate_kpi_freshness(last, rows, config.kpi_monthly, now=utcnow(), last_month=month)
    return _result(passed, problems, metadata, config.severity, key)


def kpi_freshness_policy(rules_file: Path | str | None = None) -> dg.FreshnessPolicy | None:
    """Dagster's own freshness policy for kpi_monthly: failing once its latest materialisation is
    older than ``freshness.kpi_monthly.max_age_hours`` (the UI's freshness status and the asset
    health). The ``kpi_freshness`` check stays: it also requires the last complete month's rows,
    and its failures reach the check-alert sensor."""
    max_age = load_rules(rules_file).freshness.kpi_monthly.max_age_hours
    return None if max_age is None else dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=max_age))


def build_freshness_checks(
    raw_asset_keys: Sequence[dg.AssetKey | str],
    *,
    kpi_asset_key: dg.AssetKey | str | None = "kpi_monthly",
    rules_file: Path | str | None = None,
    settings: Settings | None = None,
    system_of: Mapping[str, str] | None = None,
    time_column_of: Mapping[str, str | None] | None = None,
    list_files: Callable[[Path], Mapping[str, Sequence[Path]]] | None = None,
) -> list[dg.AssetChecksDefinition]:
    """``source_freshness`` on every ``raw_<table>`` key and ``kpi_freshness`` on kpi_monthly, as one
    checks definition (one step).

    ``system_of`` / ``time_column_of`` default to the source registry and the
    canonical schemas; ``settings`` (sources_dir, last_month) defaults to
    get_settings() at check time.
    """
    config = load_rules(rules_file).freshness
    if system_of is None:
        system_of = SOURCE_SYSTEM_OF
    if time_column_of is None:
        time_column_of = {name: schema.time_column for name, schema in SCHEMAS.items()}
    by_system: dict[str, dict[str, str | None]] = {}
    for raw in raw_asset_keys:
        name = raw.path[-1] if isinstance(raw, dg.AssetKey) else raw
        table = name.removeprefix("raw_")
        if table not in system_of:
            raise ValueError(f"{name}: no source system known for table {table!r}")
        by_system.setdefault(system_of[table], {})[table] = time_column_of.get(table)
    kpi_key = None if kpi_asset_key is None else (
        kpi_asset_key if isinstance(kpi_asset_key, dg.AssetKey) else dg.AssetKey([kpi_asset_key]))
    return [_freshness_checks(by_system, kpi_key, config, settings, list_files)]


def build_freshness_schedule(
    checks: Sequence[dg.AssetChecksDefinition],
    *,
    cron: str = "15 * * * *",
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    """Runs only the freshness checks, hourly (their results reach the check-alert sensor)."""
    return dg.ScheduleDefinition(
        name="freshness_checks_schedule",
        cron_schedule=cron,
        execution_timezone="UTC",
        target=dg.AssetSelection.checks(*checks),
        default_status=default_status,
        description="Runs the source and kpi_monthly freshness checks every hour.",
    )
