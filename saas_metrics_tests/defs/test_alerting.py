"""Alert sensors against a real Dagster instance and a SQLite warehouse: rules after materialisations,
failed asset checks, failed runs; no duplicate across repeated ticks, re-runs and a restart."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from saas_metrics.alerts.outbox import Outbox
from saas_metrics.defs.alerting import build_alert_sensors
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.metrics.health import CUSTOMER_HEALTH
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.usage import AT_RISK_ACCOUNTS
from saas_metrics.warehouse import Warehouse

RULES = """
rules:
  - {name: churn_high, type: kpi_threshold, metric: customer_churn_rate, operator: above, threshold: 0.05, owner: cs}
  - {name: mrr_down, type: kpi_change, metric: mrr, direction: down, severity: critical}
  - {name: usage_drop, type: at_risk_account}
  - {name: entered_critical, type: health_entered_critical, severity: critical}
  - {name: check_failed, type: asset_check_failed}
  - {name: run_failed, type: run_failed, severity: critical, owner: data}
delivery: {timeout_seconds: 0.5, retries: 2, backoff_seconds: 0.01, backoff_max_seconds: 0.01}
"""
APR, MAY, JUN = dt.date(2024, 4, 1), dt.date(2024, 5, 1), dt.date(2024, 6, 1)


@pytest.fixture
def setup(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    return rules, url, Warehouse(url)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def kpi_rows(month: dt.date, churn: float, mrr: float) -> pd.DataFrame:
    return pd.DataFrame({
        "month": [month, month], "metric": ["customer_churn_rate", "mrr"], "segment": ["all", "all"],
        "segment_value": ["all", "all"], "value": [churn, mrr], "unit": ["ratio", "currency"], "is_provisional": [False, False],
    })


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, url: str, cursor: str | None,
         definitions: dg.Definitions | None = None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions,
                                      resources={"warehouse": WarehouseResource(url=url)})
    return sensor.evaluate_tick(context)


def check_defs(rules: Path, partitioned: bool) -> tuple[dg.Definitions, dg.SensorDefinition]:
    """A code location with a failing check and the alert sensors (the sensor reads its checks from it)."""
    defs = dg.Definitions(assets=failing_check_defs(partitioned), sensors=build_alert_sensors(rules))
    return defs, defs.get_repository_def().get_sensor_def("asset_check_alerts_sensor")


def sensor_named(rules: Path, name: str) -> dg.SensorDefinition:
    return next(s for s in build_alert_sensors(rules) if s.name == name)


def materialized(instance: dg.DagsterInstance, asset: str, month: dt.date) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=month.isoformat()))


def seed_may(warehouse: Warehouse) -> None:
    """April and May KPIs (May: churn 6.2 %, MRR down 4 %), one May at-risk account, one May critical account."""
    warehouse.replace(KPI_MONTHLY, kpi_rows(APR, 0.02, 100_000.0), (APR, MAY))
    warehouse.replace(KPI_MONTHLY, kpi_rows(MAY, 0.062, 96_000.0), (MAY, JUN))
    warehouse.replace(AT_RISK_ACCOUNTS, pd.DataFrame({
        "month": [MAY], "customer_id": ["cus_9"], "usage_previous": [40.0], "usage": [12.0], "usage_change": [-28.0],
        "usage_change_pct": [-0.7], "mrr": [450.0], "plan_tier": ["growth"], "health_score": [35.0], "band": ["critical"],
        "owner_id": ["own_1"]}), (MAY, JUN))
    warehouse.replace(CUSTOMER_HEALTH, pd.DataFrame({
        "month": [MAY, MAY], "customer_id": ["cus_9", "cus_1"], "score": [35.0, 80.0], "band": ["critical", "healthy"],
        "mrr": [450.0, 900.0], "score_change": [-37.0, 2.0], "entered_critical": [True, False]}), (MAY, JUN))


MAY_KEYS = [
    "churn_high|2024-05|all|customer_churn_rate",
    "entered_critical|2024-05|account|accounts",
    "mrr_down|2024-05|all|mrr",
    "usage_drop|2024-05|account|accounts",
]


def test_metric_rules_alert_once_across_ticks_reruns_and_restart(setup, instance) -> None:
    rules, url, warehouse = setup
    sensor = sensor_named(rules, "metric_alerts_sensor")
    empty = tick(sensor, instance, url, None)
    assert "nothing new" in empty.skip_message and Outbox(warehouse.engine).read().empty

    seed_may(warehouse)
    for asset in ("kpi_monthly", "at_risk_accounts", "customer_health"):
        materialized(instance, asset, MAY)
    second = tick(sensor, instance, url, empty.cursor)
    alerts = Outbox(warehouse.engine).read()
    assert sorted(alerts["dedupe_key"]) == MAY_KEYS
    assert set(alerts["status"]) == {"delivered"}  # the Dagster log always accepts
    assert "4 new alert(s)" in second.skip_message and "0 pending in the outbox" in second.skip_message
    churn = alerts.set_index("rule").loc["churn_high"]
    assert churn["value"] == pytest.approx(0.062) and churn["owner"] == "cs"
    assert set(json.loads(second.cursor)) == {"kpi_monthly", "at_risk_accounts", "customer_health"}

    # Same tick again, a re-materialisation of May, and a restarted sensor that lost its cursor: no new alert.
    third = tick(sensor, instance, url, second.cursor)
    assert "nothing new" in third.skip_message
    materialized(instance, "kpi_monthly", MAY)
    assert "0 new alert(s)" in tick(sensor, instance, url, third.cursor).skip_message
    restarted = sensor_named(rules, "metric_alerts_sensor")
    assert "0 new alert(s)" in tick(restarted, instance, url, None).skip_message
    assert len(Outbox(warehouse.engine).read()) == 4


def test_first_tick_evaluates_only_the_latest_complete_month(setup, instance) -> None:
    rules, url, warehouse = setup
    # Five months of history, every one breaking the churn rule, all materialised before the sensor is switched on.
    months = [dt.date(2024, m, 1) for m in range(1, 6)]
    for month in months:
        nxt = dt.date(2024, month.month + 1, 1)
        warehouse.replace(KPI_MONTHLY, kpi_rows(month, 0.06 + month.month / 1000, 100_000.0 - 1000 * month.month), (month, nxt))
        materialized(instance, "kpi_monthly", month)
    sensor = sensor_named(rules, "metric_alerts_sensor")

    first = tick(sensor, instance, url, None)
    # One month (May), not five: churn above 5 % and MRR down against April.
    assert sorted(Outbox(warehouse.engine).read()["dedupe_key"]) == [
        "churn_high|2024-05|all|customer_churn_rate", "mrr_down|2024-05|all|mrr"]
    assert first.skip_message.startswith("first tick, latest complete month only: evaluated {'kpi_monthly': ['2024-05-01']")
    # The cursor starts after the existing materialisations: the next tick evaluates nothing.
    assert "nothing new" in tick(sensor, instance, url, first.cursor).skip_message

    # A later backfill of all five months: only the latest max_months_per_tick (3) are evaluated,
    # the older ones are named with the replay command.
    for month in months:
        materialized(instance, "kpi_monthly", month)
    backfill = tick(sensor, instance, url, first.cursor)
    assert "2 older month(s) not evaluated (2024-01-01..2024-02-01; saas-metrics alerts replay" in backfill.skip_message
    periods = sorted(Outbox(warehouse.engine).read()["dedupe_key"].str.split("|").str[1].unique())
    assert periods == ["2024-03", "2024-04", "2024-05"]


def test_tick_summary_counts_every_pending_alert(setup, instance) -> None:
    rules, url, warehouse = setup
    outbox = Outbox(warehouse.engine)
    pending = pd.DataFrame([{
        "dedupe_key": f"churn_high|2024-0{m}|all|customer_churn_rate", "rule": "churn_high", "month": dt.date(2024, m, 1),
        "segment": "all", "subject": "customer_churn_rate", "value": 0.06, "threshold": 0.05, "severity": "warning",
        "owner": "cs", "message": f"churn 2024-0{m}"} for m in (1, 2, 3)])
    outbox.add(pending)
    # Another ticker holds the delivery lease of all three: this tick delivers none of them, yet they are pending.
    for alert_id in outbox.read()["id"]:
        assert outbox.claim(int(alert_id), 300)
    summary = tick(sensor_named(rules, "metric_alerts_sensor"), instance, url, None).skip_message
    assert summary.endswith("0 new alert(s); 0 delivered, 0 failed, 0 unknown this tick; 3 pending in the outbox")


def test_rewritten_month_rechecks_the_month_after(setup, instance) -> None:
    rules, url, warehouse = setup
    warehouse.replace(KPI_MONTHLY, kpi_rows(APR, 0.01, 100.0), (APR, MAY))
    warehouse.replace(KPI_MONTHLY, kpi_rows(MAY, 0.01, 100.0), (MAY, JUN))
    sensor = sensor_named(rules, "metric_alerts_sensor")
    cursor = tick(sensor, instance, url, None).cursor
    # April is restated upwards: May's MRR is now down against it, although May itself was not rewritten.
    warehouse.replace(KPI_MONTHLY, kpi_rows(APR, 0.01, 120.0), (APR, MAY))
    materialized(instance, "kpi_monthly", APR)
    tick(sensor, instance, url, cursor)
    assert list(Outbox(warehouse.engine).read()["dedupe_key"]) == ["mrr_down|2024-05|all|mrr"]


@pytest.fixture
def json_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200 if len(received) > 1 else 500)  # the first request fails
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SAAS_METRICS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/hook")
    yield received
    server.shutdown()
    server.server_close()


def failing_check_defs(partitioned: bool):
    partitions = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", end_date="2024-07-01", fmt="%Y-%m-%d")

    @dg.asset(name="raw_fx_rates", partitions_def=partitions if partitioned else None)
    def raw_fx_rates() -> int:
        return 1

    @dg.asset_check(asset="raw_fx_rates", name="gx_suite")
    def gx_suite() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="2 unknown currencies")

    @dg.asset_check(asset="raw_fx_rates", name="row_count")
    def row_count() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    return [raw_fx_rates, gx_suite, row_count]


def test_failed_asset_checks_alert_once_and_reach_the_webhook(setup, instance, json_webhook) -> None:
    rules, url, warehouse = setup
    defs, sensor = check_defs(rules, partitioned=True)
    for month in ("2024-04-01", "2024-05-01"):  # history failed too: the first tick reports the latest month
        assert dg.materialize(failing_check_defs(partitioned=True), instance=instance, partition_key=month).success
    first = tick(sensor, instance, url, None, defs)
    alerts = Outbox(warehouse.engine).read()
    assert list(alerts["dedupe_key"]) == ["check_failed|2024-05-01|pipeline|raw_fx_rates:gx_suite"]
    assert "asset check gx_suite on raw_fx_rates partition 2024-05-01 failed (severity ERROR" in alerts.iloc[0]["message"]
    assert "2 unknown currencies" in alerts.iloc[0]["message"]
    # The webhook answered 500 once: still pending, retried within the tick (2 attempts), then delivered.
    assert alerts.iloc[0]["status"] == "delivered" and len(json_webhook) == 2
    assert json_webhook[-1]["rule"] == "check_failed"

    # The same check failing again for the same partition, more ticks, a restart from the stored cursor: nothing new.
    assert dg.materialize(failing_check_defs(partitioned=True), instance=instance, partition_key="2024-05-01").success
    second = tick(sensor, instance, url, first.cursor, defs)
    assert "1 failed check evaluation(s); 0 new alert(s)" in second.skip_message
    restarted_defs, restarted = check_defs(rules, partitioned=True)
    assert "0 failed check evaluation(s)" in tick(restarted, instance, url, second.cursor, restarted_defs).skip_message
    # Even a sensor that lost its cursor re-reads the failures but writes no second alert.
    assert "0 new alert(s)" in tick(restarted, instance, url, None, restarted_defs).skip_message
    assert len(Outbox(warehouse.engine).read()) == 1 and len(json_webhook) == 2


def test_unpartitioned_check_failure_alerts_once_per_day(setup, instance) -> None:
    rules, url, warehouse = setup
    assert dg.materialize(failing_check_defs(partitioned=False), instance=instance).success
    defs, sensor = check_defs(rules, partitioned=False)
    tick(sensor, instance, url, None, defs)
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert list(Outbox(warehouse.engine).read()["dedupe_key"]) == [f"check_failed|{today}|pipeline|raw_fx_rates:gx_suite"]


def test_run_failure_sensor_writes_one_alert_per_run(setup, instance) -> None:
    rules, url, warehouse = setup

    @dg.op
    def explode() -> None:
        raise RuntimeError("warehouse unreachable")

    @dg.job(name="monthly_metrics_job")
    def failing_job() -> None:
        explode()

    result = failing_job.execute_in_process(instance=instance, raise_on_error=False, tags={"dagster/partition": "2024-05-01"})
    assert not result.success
    sensor = sensor_named(rules, "run_failure_alerts_sensor")
    for _ in range(2):  # the sensor seeing the same failure twice writes it once
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=result.get_run_failure_event(), dagster_instance=instance,
            dagster_run=result.dagster_run, resources={"warehouse": WarehouseResource(url=url)},
        ).for_run_failure()
        sensor(context)
    alerts = Outbox(warehouse.engine).read()
    assert list(alerts["dedupe_key"]) == [f"run_failed|2024-05-01|pipeline|{result.run_id}"]
    row = alerts.iloc[0]
    assert row["severity"] == "critical" and row["status"] == "delivered" and row["month"].isoformat() == "2024-05-01"
    assert row["message"].startswith(f"[CRITICAL] run_failed: run {result.run_id} of job monthly_metrics_job (partition 2024-05-01) failed")
    assert row["message"].endswith("Owner: data.")


def test_invalid_rules_file_fails_at_build_time(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {name: churn_high, type: kpi_threshold, metric: m, operator: above}\n")
    with pytest.raises(ValueError, match=r"rules.yaml: rule 'churn_high' \(rules\[0\]\), field 'threshold': Field required"):
        build_alert_sensors(bad)
