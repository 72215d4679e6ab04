"""Alert sensors: metric rules, failed asset checks, failed runs.

All three write to the ``alerts`` outbox first (unique dedupe key: a re-run,
a re-evaluation or a restarted sensor never creates a second alert), then
deliver pending alerts (Dagster log always; webhooks from env vars). Each
tick's summary counts the alerts still pending in the outbox.

* ``metric_alerts_sensor``: new materialisations of kpi_monthly,
  at_risk_accounts and customer_health (cursor: last seen event storage id per
  asset) -> evaluates the rules for the materialised months (kpi change rules
  also re-check the month after, whose comparison base changed), at most the
  latest ``sensor.max_months_per_tick`` months per tick. Its FIRST tick (no
  cursor) evaluates only the latest complete month and starts the cursor after
  the existing materialisations: switching alerts on never replays history
  (``saas-metrics alerts replay`` does, when asked).
* ``asset_check_alerts_sensor``: failed asset check executions of the code
  location's checks, read from the instance (failures of the last 7 days; the
  cursor remembers which were handled). Its first tick reports the unpartitioned
  failures and those of the latest complete month only.
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

from saas_metrics.alerts.delivery import (
    ALERT_WEBHOOK_ENV,
    SLACK_WEBHOOK_ENV,
    Channel,
    DeliveryReport,
    LogChannel,
    deliver_pending,
    webhook_channels,
)
from saas_metrics.alerts.evaluate import (
    CheckFailure,
    RunFailure,
    evaluate_check_failures,
    evaluate_run_failure,
    latest_month_failures,
)
from saas_metrics.alerts.history import (
    WATCHED_TABLES,
    evaluate_months,
    latest_complete_month,
    pending_count,
    table_months,
)
from saas_metrics.alerts.outbox import Outbox
from saas_metrics.alerts.rules import (
    AlertConfig,
    AssetCheckFailedRule,
    RunFailedRule,
    load_rules,
)
from saas_metrics.compat import AssetCheckExecutionRecordStatus
from saas_metrics.config import get_settings
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.warehouse import Warehouse

WATCHED_ASSETS = WATCHED_TABLES
EVENTS_PER_TICK = 500
CHECK_LOOKBACK = dt.timedelta(days=7)
CHECK_RECORDS_PER_KEY = 50
REPLAY_HINT = "saas-metrics alerts replay --start YYYY-MM --end YYYY-MM"


def _month(value: dt.date | pd.Timestamp | str) -> dt.date:
    return pd.Timestamp(value).date().replace(day=1)


def _currency() -> str:
    return get_settings().reporting_currency


def _deliver(context, warehouse: Warehouse, config: AlertConfig) -> str:
    """Deliver pending alerts; the summary counts what is pending in the outbox afterwards."""
    env = {name: dg.EnvVar(name).get_value() for name in (SLACK_WEBHOOK_ENV, ALERT_WEBHOOK_ENV)}
    channels: list[Channel] = [LogChannel(context.log), *webhook_channels(env, config.delivery)]
    report = deliver_pending(Outbox(warehouse.engine), channels, config.delivery)
    if report.errors:
        context.log.warning(f"alert delivery incomplete: {report.summary()}")
    return delivery_summary(report, pending_count(warehouse.engine))


def delivery_summary(report: DeliveryReport, pending: int) -> str:
    """This tick's deliveries and the outbox's pending count (all of it, not only this tick's alerts)."""
    text = (f"{len(report.delivered)} delivered, {len(report.failed)} failed, {len(report.unknown)} unknown this tick; "
            f"{pending} pending in the outbox")
    return text + (f"; errors: {'; '.join(report.errors[:5])}" if report.errors else "")


def _write(context, warehouse: Warehouse, alerts: pd.DataFrame) -> list[str]:
    if alerts.empty:
        return []
    added = Outbox(warehouse.engine).add(alerts)
    if added:
        context.log.info(f"{len(added)} new alert(s): {', '.join(added[:20])}")
    return added


def _latest_storage_id(context: dg.SensorEvaluationContext, name: str) -> int | None:
    result = context.instance.fetch_materializations(dg.AssetKey([name]), limit=1, ascending=False)
    return result.records[0].storage_id if result.records else None


def _first_activation(context: dg.SensorEvaluationContext, wh: Warehouse
                      ) -> tuple[dict[str, set[dt.date]], dict[str, int], list[dt.date]]:
    """The first tick: the latest complete month only, and a cursor after every existing materialisation."""
    cursor = {name: storage_id for name in WATCHED_ASSETS if (storage_id := _latest_storage_id(context, name)) is not None}
    month = latest_complete_month(wh)
    changed = {name: {month} for name in WATCHED_ASSETS} if month is not None else {}
    return changed, cursor, []


def _materialised_months(context: dg.SensorEvaluationContext, wh: Warehouse, cursor: dict[str, int],
                         config: AlertConfig) -> tuple[dict[str, set[dt.date]], dict[str, int], list[dt.date]]:
    """Months materialised since the cursor, capped to the latest ``max_months_per_tick`` (the rest is returned)."""
    changed: dict[str, set[dt.date]] = {}
    new_cursor = dict(cursor)
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
                months.update(table_months(wh, name))
            new_cursor[name] = max(new_cursor.get(name, 0), record.storage_id)
    every = sorted(set().union(*changed.values())) if changed else []
    keep = set(every[-config.sensor.max_months_per_tick:])
    skipped = [m for m in every if m not in keep]
    return {name: months & keep for name, months in changed.items()}, new_cursor, skipped


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
            event = record.event.dagster_event
            evaluation = event.event_specific_data if event is not None else None
            if not isinstance(evaluation, dg.AssetCheckEvaluation):  # a failed check record always holds one
                continue
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
    return [build(rules_file, minimum_interval_seconds, default_status)
            for build in (_metric_alerts_sensor, _asset_check_alerts_sensor, _run_failure_alerts_sensor)]


def _metric_alerts_sensor(rules_file: Path | str | None, minimum_interval_seconds: int,
                          default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @dg.sensor(
        name="metric_alerts_sensor",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Evaluates the alert rules (default_rules.yaml) when kpi_monthly, at_risk_accounts or "
        "customer_health are materialised; writes the alerts outbox and delivers pending alerts.",
    )
    def metric_alerts_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SkipReason:
        config = load_rules(rules_file)
        wh = warehouse.warehouse
        first_tick = not context.cursor
        if context.cursor:
            changed, new_cursor, skipped = _materialised_months(context, wh, json.loads(context.cursor), config)
            recheck_next = True
        else:
            changed, new_cursor, skipped = _first_activation(context, wh)
            recheck_next = False
        alerts = evaluate_months(wh, config, changed, recheck_next=recheck_next, currency=_currency()) if changed else None
        added = _write(context, wh, alerts) if alerts is not None else []
        context.update_cursor(json.dumps(new_cursor, sort_keys=True))
        delivered = _deliver(context, wh, config)
        evaluated = {k: sorted(str(m) for m in v) for k, v in changed.items() if v}
        note = (f"; {len(skipped)} older month(s) not evaluated ({min(skipped)}..{max(skipped)}; {REPLAY_HINT})"
                if skipped else "")
        first = "first tick, latest complete month only: " if first_tick else ""
        return dg.SkipReason(f"{first}evaluated {evaluated or 'nothing new'}{note}; {len(added)} new alert(s); {delivered}")

    return metric_alerts_sensor


def _asset_check_alerts_sensor(rules_file: Path | str | None, minimum_interval_seconds: int,
                               default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
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
        if not context.cursor:  # switched on: the latest complete month, not a backfill's history
            failures = latest_month_failures(failures)
        wh = warehouse.warehouse
        added = _write(context, wh, evaluate_check_failures(failures, config.active(AssetCheckFailedRule)))
        context.update_cursor(json.dumps({"seen": sorted(handled)}))
        delivered = _deliver(context, wh, config)
        return dg.SkipReason(f"{len(failures)} failed check evaluation(s); {len(added)} new alert(s); {delivered}")

    return asset_check_alerts_sensor


def _run_failure_alerts_sensor(rules_file: Path | str | None, minimum_interval_seconds: int,
                               default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
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

    return run_failure_alerts_sensor
