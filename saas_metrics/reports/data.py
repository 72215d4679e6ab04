"""What the dashboard reads: the warehouse tables it plots, as one typed bundle.

:class:`DashboardData` holds ``kpi_monthly`` (the contract in
:mod:`saas_metrics.metrics.kpi`) and three detail tables. Each frame is coerced to
the columns the dashboard uses, so the chart builders can rely on types (months
are first-of-month Timestamps, values floats) whichever way the frames were made.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from saas_metrics.calendar import add_months, first_of_month
from saas_metrics.metrics.attribution import ATTRIBUTION_CREDITS
from saas_metrics.metrics.forecast_backtest import FORECAST_BACKTEST, KPI_FORECAST
from saas_metrics.metrics.kpi import ALL, KPI_MONTHLY
from saas_metrics.metrics.usage import AT_RISK_ACCOUNTS
from saas_metrics.tables import Column, TableSchema, coerce_frame

# attribution_credits and at_risk_accounts use their producers' schemas; cohort_retention
# is declared here with the columns the brief's contract lists (the heatmap's input).
COHORT_RETENTION = TableSchema(
    name="cohort_retention",
    description="Logo and net MRR retention per cohort (first paid month) and age (dashboard view).",
    columns=(
        Column("cohort_month", "date"),
        Column("age_months", "int"),
        Column("month", "date"),
        Column("cohort_customers", "int"),
        Column("active_customers", "int"),
        Column("logo_retention", "float"),
        Column("mrr", "float"),
        Column("net_mrr_retention", "float"),
    ),
)

#: Columns a non-empty frame must have; the rest may be missing (read as NULL).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    KPI_MONTHLY.name: ("month", "metric", "value"),
    COHORT_RETENTION.name: ("cohort_month", "age_months", "logo_retention"),
    ATTRIBUTION_CREDITS.name: ("month", "model", "channel", "new_mrr"),
    AT_RISK_ACCOUNTS.name: ("month", "customer_id", "mrr"),
    KPI_FORECAST.name: ("as_of_month", "month", "metric", "scenario", "value"),
    FORECAST_BACKTEST.name: ("metric", "method", "horizon", "mape"),
}

#: Which column places a detail table's row in the dashboard's window.
WINDOW_COLUMNS: dict[str, str] = {
    COHORT_RETENTION.name: "cohort_month",
    ATTRIBUTION_CREDITS.name: "month",
    AT_RISK_ACCOUNTS.name: "month",
}


def conform(frame: Any, schema: TableSchema) -> pd.DataFrame:
    """``frame`` coerced to ``schema``'s columns and types.

    Raises TypeError when ``frame`` is not a DataFrame and ValueError when a
    non-empty frame lacks a column the dashboard cannot do without.
    """
    if frame is None:
        return schema.empty_frame()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{schema.name}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in REQUIRED_COLUMNS[schema.name] if c not in frame.columns]
    if missing and not frame.empty:
        raise ValueError(f"{schema.name} is missing required column(s) {missing}; it has {list(frame.columns)}")
    out = coerce_frame(frame, schema)
    if schema is KPI_MONTHLY:
        out["segment"] = out["segment"].fillna(ALL)
        out["segment_value"] = out["segment_value"].fillna(ALL)
    return out


@dataclass(frozen=True)
class DashboardData:
    """The tables the dashboard plots; any of them may be empty (its charts then say 'no data').

    ``currency`` is the reporting currency of every amount (Settings.reporting_currency).
    """

    kpi_monthly: pd.DataFrame = field(default_factory=KPI_MONTHLY.empty_frame)
    cohort_retention: pd.DataFrame = field(default_factory=COHORT_RETENTION.empty_frame)
    attribution_credits: pd.DataFrame = field(default_factory=ATTRIBUTION_CREDITS.empty_frame)
    at_risk_accounts: pd.DataFrame = field(default_factory=AT_RISK_ACCOUNTS.empty_frame)
    currency: str = "USD"
    #: one as-of month's forecast and its backtest accuracy (see :func:`latest_forecast`)
    kpi_forecast: pd.DataFrame = field(default_factory=KPI_FORECAST.empty_frame)
    forecast_backtest: pd.DataFrame = field(default_factory=FORECAST_BACKTEST.empty_frame)

    def __post_init__(self) -> None:
        for name, schema in (
            ("kpi_monthly", KPI_MONTHLY),
            ("cohort_retention", COHORT_RETENTION),
            ("attribution_credits", ATTRIBUTION_CREDITS),
            ("at_risk_accounts", AT_RISK_ACCOUNTS),
            ("kpi_forecast", KPI_FORECAST),
            ("forecast_backtest", FORECAST_BACKTEST),
        ):
            object.__setattr__(self, name, conform(getattr(self, name), schema))


def headline_wide(kpi_monthly: pd.DataFrame) -> pd.DataFrame:
    """The headline KPIs (segment 'all'/'all') as one row per month and one column per
    metric, months consecutive (a month without rows is all NaN) and ascending."""
    rows = kpi_monthly[(kpi_monthly["segment"] == ALL) & (kpi_monthly["segment_value"] == ALL)]
    rows = rows.dropna(subset=["month"]).drop_duplicates(["month", "metric"], keep="last")
    if rows.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="month"))
    wide = rows.pivot(index="month", columns="metric", values="value")
    wide.columns.name = None
    months = pd.date_range(wide.index.min(), wide.index.max(), freq="MS", name="month")
    return wide.reindex(months).astype("float64")


def latest_month(headline: pd.DataFrame) -> pd.Timestamp | None:
    """The last month with an MRR value, else the last month with any headline KPI."""
    if headline.empty:
        return None
    if "mrr" in headline.columns and headline["mrr"].notna().any():
        return pd.Timestamp(headline["mrr"].last_valid_index())
    return pd.Timestamp(headline.index.max())


def provisional_months(kpi_monthly: pd.DataFrame) -> set[pd.Timestamp]:
    """Months whose headline MRR row is still provisional."""
    rows = kpi_monthly[(kpi_monthly["metric"] == "mrr") & (kpi_monthly["segment"] == ALL)]
    flagged = rows[rows["is_provisional"].fillna(False).astype(bool)]
    return {pd.Timestamp(m) for m in flagged["month"]}


def provisional_cells(kpi_monthly: pd.DataFrame) -> set[tuple[pd.Timestamp, str]]:
    """(month, metric) of the headline rows that are still provisional (the month, or
    the metric's conversion window, has not closed)."""
    rows = kpi_monthly[(kpi_monthly["segment"] == ALL) & (kpi_monthly["segment_value"] == ALL)]
    flagged = rows[rows["is_provisional"].fillna(False).astype(bool)].dropna(subset=["month"])
    return {(pd.Timestamp(month), str(metric)) for month, metric in zip(flagged["month"], flagged["metric"], strict=True)}


def load_dashboard_data(warehouse: Any, months: int = 24, *, currency: str = "USD") -> DashboardData:
    """Read the dashboard's tables from ``warehouse`` (a :class:`saas_metrics.warehouse.Warehouse`).

    ``kpi_monthly`` is read through ``Warehouse.read`` for the ``months`` months ending
    with its latest month; the detail tables are read by name (rows in the same window,
    cohorts by cohort month) when they exist, else left empty.
    """
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    window = _window(warehouse, months)
    if window is None:
        return DashboardData(currency=currency)
    kpi = warehouse.read(KPI_MONTHLY, window)
    details = {
        schema.name: _read_detail(warehouse, schema, window)
        for schema in (COHORT_RETENTION, ATTRIBUTION_CREDITS, AT_RISK_ACCOUNTS)
    }
    forecast, backtest = latest_forecast(warehouse, window[1])
    return DashboardData(kpi_monthly=kpi, currency=currency, kpi_forecast=forecast, forecast_backtest=backtest, **details)


def latest_forecast(warehouse: Any, before: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """kpi_forecast and forecast_backtest rows of the latest as-of month before ``before`` (empty frames
    when the forecast has not been materialised)."""
    if not (warehouse.has_table(KPI_FORECAST.name) and warehouse.has_table(FORECAST_BACKTEST.name)):
        return KPI_FORECAST.empty_frame(), FORECAST_BACKTEST.empty_frame()
    forecast = warehouse.sa_table(KPI_FORECAST)
    latest = sa.select(sa.func.max(forecast.c.as_of_month)).where(forecast.c.as_of_month < before).scalar_subquery()
    backtest = warehouse.sa_table(FORECAST_BACKTEST)
    return (warehouse.read(KPI_FORECAST, where=forecast.c.as_of_month == latest),
            warehouse.read(FORECAST_BACKTEST, where=backtest.c.as_of_month == latest))


def _window(warehouse: Any, months: int) -> tuple[dt.date, dt.date] | None:
    """[first, last + 1 month) for the ``months`` months ending with kpi_monthly's latest."""
    if not warehouse.has_table(KPI_MONTHLY.name):
        return None
    with warehouse.engine.connect() as conn:
        last = conn.execute(sa.text(f'SELECT MAX(month) FROM "{KPI_MONTHLY.name}"')).scalar_one()
    if last is None:
        return None
    last_month = first_of_month(pd.Timestamp(last).to_pydatetime())
    return add_months(last_month, -(months - 1)), add_months(last_month, 1)


def _read_detail(warehouse: Any, schema: TableSchema, window: tuple[dt.date, dt.date]) -> pd.DataFrame:
    if not warehouse.has_table(schema.name):
        return schema.empty_frame()
    table = sa.Table(schema.name, sa.MetaData(), autoload_with=warehouse.engine)
    column = WINDOW_COLUMNS[schema.name]
    query = sa.select(table)
    if column in table.c:
        query = query.where(table.c[column] >= window[0], table.c[column] < window[1])
    with warehouse.engine.connect() as conn:
        frame = pd.read_sql_query(query, conn)
    return frame
