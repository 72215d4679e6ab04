"""Alert rules applied to warehouse months: what the metric sensor evaluates and
what ``saas-metrics alerts replay`` replays. No Dagster.

* :func:`evaluate_months` evaluates the months whose tables changed;
* :func:`latest_complete_month` is the one month a sensor's first tick
  evaluates (switching alerts on never replays history);
* :func:`replay_alerts` evaluates a month range on request;
* :func:`pending_count` counts the outbox's pending alerts (the truth a tick
  summary reports, not only the alerts that tick touched).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from saas_metrics.alerts.evaluate import (
    AT_RISK_COLUMNS,
    HEALTH_COLUMNS,
    evaluate_at_risk,
    evaluate_health,
    evaluate_kpi_rules,
)
from saas_metrics.alerts.outbox import PENDING, alerts_table
from saas_metrics.alerts.rules import (
    KPI_RULES,
    AlertConfig,
    AtRiskAccountRule,
    HealthEnteredCriticalRule,
    HealthScoreDropRule,
)
from saas_metrics.calendar import add_months, first_of_month, last_complete_month
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.tables import Column, ColumnType, TableSchema
from saas_metrics.warehouse import Warehouse

#: The warehouse tables the metric rules read (also the assets the sensor watches).
WATCHED_TABLES = ("kpi_monthly", "at_risk_accounts", "customer_health")

AT_RISK_READ = TableSchema("at_risk_accounts", tuple(
    Column(c, "date" if c == "month" else "str" if c == "customer_id" else "float") for c in AT_RISK_COLUMNS
), time_column="month")
_HEALTH_TYPES: dict[str, ColumnType] = {"month": "date", "customer_id": "str", "band": "str", "entered_critical": "bool"}
HEALTH_READ = TableSchema("customer_health", tuple(
    Column(c, _HEALTH_TYPES.get(c, "float")) for c in HEALTH_COLUMNS
), time_column="month")


def _months_between(start: dt.date, end: dt.date) -> list[dt.date]:
    months, month = [], first_of_month(start)
    while month <= end:
        months.append(month)
        month = add_months(month, 1)
    return months


def evaluate_range(warehouse: Warehouse, config: AlertConfig, start: dt.date, end: dt.date, *,
                   kpi_months: Iterable[dt.date] | None = None, tables: Iterable[str] = WATCHED_TABLES,
                   currency: str = "USD") -> pd.DataFrame:
    """Alerts of every rule for the months ``start``..``end`` (first days of months) of ``tables``.

    ``kpi_months`` narrows which kpi months alert (default: the range); M-1 is
    always read as the comparison base of M's change rules.
    """
    start, end = first_of_month(start), first_of_month(end)
    window = (start, add_months(end, 1))
    frames = []
    kpi_rules = config.active(*KPI_RULES)
    if "kpi_monthly" in tables and kpi_rules:
        kpi = warehouse.read(KPI_MONTHLY, (add_months(start, -1), window[1]))
        months = _months_between(start, end) if kpi_months is None else list(kpi_months)
        frames.append(evaluate_kpi_rules(kpi, kpi_rules, months=months, currency=currency))
    at_risk_rules = config.active(AtRiskAccountRule)
    if "at_risk_accounts" in tables and at_risk_rules:
        frames.append(evaluate_at_risk(warehouse.read(AT_RISK_READ, window), at_risk_rules, currency=currency))
    health_rules = config.active(HealthEnteredCriticalRule, HealthScoreDropRule)
    if "customer_health" in tables and health_rules:
        frames.append(evaluate_health(warehouse.read(HEALTH_READ, window), health_rules, currency=currency))
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def evaluate_months(warehouse: Warehouse, config: AlertConfig, changed: dict[str, set[dt.date]], *,
                    recheck_next: bool = True, currency: str = "USD") -> pd.DataFrame:
    """Alerts for the months whose tables changed (``{table name: months}``).

    With ``recheck_next``, kpi change rules also re-check M+1, whose comparison
    base M was just rewritten.
    """
    frames = []
    for table, months in changed.items():
        for month in sorted(months):
            kpi_months = [month, add_months(month, 1)] if recheck_next else [month]
            last = kpi_months[-1] if table == "kpi_monthly" else month
            frames.append(evaluate_range(warehouse, config, month, last, kpi_months=kpi_months, tables=(table,),
                                         currency=currency))
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def table_months(warehouse: Warehouse, table: str) -> set[dt.date]:
    """The months a warehouse table holds rows for."""
    if not warehouse.has_table(table):
        return set()
    with warehouse.engine.connect() as conn:
        values = conn.execute(sa.text(f'SELECT DISTINCT month FROM "{table}"')).scalars().all()
    return {first_of_month(pd.Timestamp(v).date()) for v in values if v is not None}


def latest_complete_month(warehouse: Warehouse, today: dt.date | None = None) -> dt.date | None:
    """The latest month, up to the last complete calendar month, that a watched table holds (None: none).

    The month in progress is excluded: its figures are provisional.
    """
    cap = last_complete_month(today)
    months = {m for table in WATCHED_TABLES for m in table_months(warehouse, table) if m <= cap}
    return max(months) if months else None


def replay_alerts(warehouse: Warehouse, config: AlertConfig, start: dt.date, end: dt.date,
                  currency: str = "USD") -> pd.DataFrame:
    """The alerts every metric rule raises for ``start``..``end`` (what the sensor would have raised)."""
    if first_of_month(end) < first_of_month(start):
        raise ValueError(f"the end month {end:%Y-%m} is before the start month {start:%Y-%m}")
    return evaluate_range(warehouse, config, start, end, currency=currency)


def pending_count(engine: sa.Engine) -> int:
    """Alerts waiting for delivery in the outbox (0 when the table does not exist yet)."""
    if not sa.inspect(engine).has_table(alerts_table.name):
        return 0
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(alerts_table).where(alerts_table.c.status == PENDING)
        return int(conn.execute(query).scalar_one())
