"""Alert sensors: metric rules, failed asset checks, failed runs.

All three write to the ``alerts`` outbox first (unique dedupe key: a re-run,
a re-evaluation or a restarted sensor never creates a second alert), then
deliver every pending alert (Dagster log always; webhooks from env vars).

* ``metric_alerts_sensor``: new materialisations of kpi_monthly,
  at_risk_accounts and customer_health (cursor: last seen event storage id per
  asset) -> evaluates the rules for the materialised months (kpi change rules
  also re-check the month after, whose comparison base changed).
* ``asset_check_alerts_sensor``: failed asset check executions of the code
  location's checks, read from the instance (failures of the last 7 days; the
  cursor remembers which were handled).
* ``run_failure_alerts_sensor``: a @run_failure_sensor.

Cursors advance only after the outbox write commits, so a crash in between
re-evaluates and the dedupe key absorbs the repeat.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from saas_metrics.alerts.delivery import (
    ALERT_WEBHOOK_ENV,
    SLACK_WEBHOOK_ENV,
    DeliveryReport,
    LogChannel,
    deliver_pending,
    webhook_channels,
)
from saas_metrics.alerts.evaluate import (
    AT_RISK_COLUMNS,
    HEALTH_COLUMNS,
    CheckFailure,
    RunFailure,
    evaluate_at_risk,
    evaluate_check_failures,
    evaluate_health,
    evaluate_kpi_rules,
    evaluate_run_failure,
)
from saas_metrics.alerts.outbox import Outbox
from saas_metrics.alerts.rules import (
    KPI_RULES,
    AlertConfig,
    AssetCheckFailedRule,
    AtRiskAccountRule,
    HealthEnteredCriticalRule,
    HealthScoreDropRule,
    RunFailedRule,
    load_rules,
)
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.tables import Column, TableSchema
from saas_metrics.warehouse import Warehouse

WATCHED_ASSETS = ("kpi_monthly", "at_risk_accounts", "customer_health")
EVENTS_PER_TICK = 500
CHECK_LOOKBACK = dt.timedelta(days=7)
CHECK_RECORDS_PER_KEY = 50

_AT_RISK_READ = TableSchema("at_risk_accounts", tuple(
    Column(c, "date" if c == "month" else "str" if c == "customer_id" else "float") for c in AT_RISK_COLUMNS
), time_column="month")
_HEALTH_TYPES = {"month": "date", "customer_id": "str", "band": "str", "entered_critical": "bool"}
_HEALTH_READ = TableSchema("customer_health", tuple(
    Column(c, _HEALTH_TYPES.get(c, "float")) for c in HEALTH_COLUMNS  # type: ignore[arg-type]
), time_column="month")


def _month(value: dt.date | pd.Timestamp | str) -> dt.date:
    return pd.Timestamp(value).date().replace(day=1)


def _next(month: dt.date, n: int = 1) -> dt.date:
    return (pd.Timestamp(month) + pd.DateOffset(months=n)).date()


def evaluate_months(warehouse: Warehouse, config: AlertConfig, changed: dict[str, set[dt.date]]) -> pd.DataFrame:
    """Alerts for the months whose tables changed (``{asset name: months}``)."""
    frames = []
    kpi_rules = config.active(*KPI_RULES)
    for month in sorted(changed.get("kpi_monthly", set())):
        if not kpi_rules:
            break
        # M-1 is the comparison base of M; M+1 compares against the M just rewritten.
        kpi = warehouse.read(KPI_MONTHLY, (_next(month, -1), _next(month, 2)))
        frames.append(evaluate_kpi_rules(kpi, kpi_rules, months=[month, _next(month)]))
    at_risk_rules = config.active(AtRiskAccountRule)
    for month in sorted(changed.get("at_risk_accounts", set())):
        if at_risk_rules and warehouse.has_table(_AT_RISK_READ.name):
            frames.append(evaluate_at_risk(warehouse.read(_AT_RISK_READ, (month, _next(month))), at_risk_rules))
    health_rules = config.active(HealthEnteredCriticalRule, HealthScoreDropRule)
    for month in sorted(changed.get("customer_health", set())):
        if health_rules and warehouse.has_table(_HEALTH_READ.name):
            frames.append(evaluate_health(warehouse.read(_HEALTH_READ, (month, _next(month))), health_rules))
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _all_months(warehouse: Warehouse, table: str) -> set[dt.date]:
    if not warehouse.has_table(table):
        return set()
    import sqlalchemy as sa

    with warehouse.engine.connect() as conn:
        values = conn.execute(sa.text(f'SELECT DISTINCT month FROM "{table}"')).scalars().all()
    return {_month(v) for v in values if v is not None}


def _deliver(context, warehouse: Warehouse, config: AlertConfig) -> DeliveryReport:
    env = {name: dg.EnvVar(name).get_value() for name in (SLACK_WEBHOOK_ENV, ALERT_WEBHOOK_ENV)}
    channels = [LogChannel(context.log), *webhook_channels(env, config.delivery)]
    report = deliver_pending(Outbox(warehouse.engine), channels, config.delivery)
    if report.errors:
        context.log.warning(f"alert delivery incomplete: {report.summary()}")
    return report


def _write(context, warehouse: Warehouse, alerts: pd.DataFrame) -> list[str]:
    if alerts.empty:
        return []
    added = Outbox(warehouse.engine).add(alerts)
    if added:
        context.log.info(f"{len(added)} new alert(s): {', '.join(added[:20])}")
    return added


def recent_check_failures(context: dg.SensorEvaluationContext, seen: set[int]) -> tuple[list[CheckFailure], set[int]]:
    """Failed check executions of the code location's checks within CHECK_LOOKBACK, not yet in ``seen``.

    Reads the instance's asset-check execution records (the index every event
    log storage keeps, run-sharded SQLite included). Execution ids are assigned
    when a check is PLANNED, so a storage-id cursor could skip a check that
    finishes after a later one; instead the ids already handled inside the
    lookback are kept in the cursor (the outbox dedupe key is the backstop).
    Returns the new failures and the ids to remember.
    """
    repo = context.repository_def
    check_keys = sorted(repo.asset_graph.asset_check_keys, key=str) if repo is not None else []
    horizon = dt.datetime.now(dt.UTC).timestamp() - CHECK_LOOKBACK.total_seconds()
    storage = context.instance.event_log_storage
    failures: list[CheckFailure] = []
    handled: set[int] = set()
    for key in check_keys:
        records = storage.get_asset_check_execution_history(
            key, limit=CHECK_RECORDS_PER_KEY, status={AssetCheckExecutionRecordStatus.FAILED})
        for record in records:
            if record.event is None or record.event.timestamp < horizon:
                continue
            handled.add(record.id)
            if record.id in seen:
                continue
            evaluation = record.event.dagster_event.event_specific_data
            partition = record.partition or getattr(evaluation, "partition", None)
            if partition is None:
                run = context.instance.get_run_by_id(record.run_id)
                partition = run.tags.get("dagster/partition") if run else None
            failures.append(CheckFailure(
                asset=key.asset_key.to_user_string(),
                check=key.name,
                severity=evaluation.severity.value,
                partition=partition,
                run_id=record.run_id,
                evaluated_at=dt.datetime.fromtimestamp(record.event.timestamp, dt.UTC).replace(tzinfo=None),
                description=evaluation.description or "",
            ))
    return failures, handled


def build_alert_sensors(
    rules_file: Path | str | None = None,
    *,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> list[dg.SensorDefinition]:
    """The metric-rule, failed-check and failed-run alert sensors.

    ``rules_file``: None = Settings.alert_rules_file or the packaged defaults.
    The file is validated here (a bad file fails the code location load with a
    clear error) and re-read at every tick (edits apply without a reload).
    """
    load_rules(rules_file)

    @dg.sensor(
        name="metric_alerts_sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Evaluates the alert rules (default_rules.yaml) when kpi_monthly, at_risk_accounts or "
        "customer_health are materialised; writes the alerts outbox and delivers pending alerts.",
    )
    def metric_alerts_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SkipReason:
        config = load_rules(rules_file)
        cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        changed: dict[str, set[dt.date]] = {}
        new_cursor = dict(cursor)
        wh = warehouse.warehouse
        for name in WATCHED_ASSETS:
            result = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey([name]), after_storage_id=cursor.get(name)),
                limit=EVENTS_PER_TICK, ascending=True,
            )
            for record in result.records:
                months = changed.setdefault(name, set())
                if record.partition_key:
                    months.add(_month(record.partition_key))
                else:
                    months.update(_all_months(wh, name))
                new_cursor[name] = max(new_cursor.get(name, 0), record.storage_id)
        added = _write(context, wh, evaluate_months(wh, config, changed)) if changed else []
        context.update_cursor(json.dumps(new_cursor, sort_keys=True))
        report = _deliver(context, wh, config)
        evaluated = {k: sorted(str(m) for m in v) for k, v in changed.items()}
        return dg.SkipReason(f"evaluated {evaluated or 'nothing new'}; {len(added)} new alert(s); {report.summary()}")

    @dg.sensor(
        name="asset_check_alerts_sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Alerts on failed asset checks (Great Expectations suites, reconciliation, freshness).",
    )
    def asset_check_alerts_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SkipReason:
        config = load_rules(rules_file)
        seen: set[int] = set(json.loads(context.cursor)["seen"]) if context.cursor else set()
        failures, handled = recent_check_failures(context, seen)
        wh = warehouse.warehouse
        added = _write(context, wh, evaluate_check_failures(failures, config.active(AssetCheckFailedRule)))
        context.update_cursor(json.dumps({"seen": sorted(handled)}))
        report = _deliver(context, wh, config)
        return dg.SkipReason(f"{len(failures)} failed check evaluation(s); {len(added)} new alert(s); {report.summary()}")

    @dg.run_failure_sensor(
        name="run_failure_alerts_sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Alerts on failed runs of this code location.",
    )
    def run_failure_alerts_sensor(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
        config = load_rules(rules_file)
        run = context.dagster_run
        failure = RunFailure(
            run_id=run.run_id,
            job_name=run.job_name,
            partition=run.tags.get("dagster/partition"),
            error=context.failure_event.message or "",
        )
        wh = warehouse.warehouse
        _write(context, wh, evaluate_run_failure(failure, config.active(RunFailedRule)))
        _deliver(context, wh, config)

    return [metric_alerts_sensor, asset_check_alerts_sensor, run_failure_alerts_sensor]
