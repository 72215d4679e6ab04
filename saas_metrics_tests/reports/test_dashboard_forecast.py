"""The forecast on the dashboard: the fan chart, its subtitle with the backtest error, and the
latest as-of month read from the warehouse."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from saas_metrics.metrics.forecast_backtest import FORECAST_BACKTEST, KPI_FORECAST
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.reports.charts import forecast_figure
from saas_metrics.reports.dashboard import forecast_subtitle, render_dashboard
from saas_metrics.reports.data import (
    DashboardData,
    headline_wide,
    latest_forecast,
    load_dashboard_data,
)
from saas_metrics.warehouse import Warehouse


def test_fan_chart_has_actuals_interval_base_and_scenarios(dashboard_data: DashboardData) -> None:
    headline = headline_wide(dashboard_data.kpi_monthly)
    fig = forecast_figure(headline, dashboard_data.kpi_forecast, "USD")
    names = [trace.name for trace in fig.data]
    assert names == ["Actual", None, "Prediction interval", "Forecast (base)", "churn_minus_1pp"]
    upper, lower, base = fig.data[1], fig.data[2], fig.data[3]
    assert lower.fill == "tonexty"  # the band between the upper and the lower bound
    last_actual = float(headline["mrr"].dropna().iloc[-1])
    # every forecast line starts at the last actual month, then follows kpi_forecast
    assert base.y[0] == last_actual and list(base.y[1:]) == list(dashboard_data.kpi_forecast.query("scenario == 'base'")["value"])
    assert upper.y[1] > base.y[1] > lower.y[1]
    assert forecast_figure(headline, dashboard_data.kpi_forecast.iloc[0:0]) is None


def test_subtitle_shows_the_backtest_error_beside_the_baseline(dashboard_data: DashboardData) -> None:
    text = forecast_subtitle(dashboard_data.kpi_forecast, dashboard_data.forecast_backtest)
    assert text.startswith("From Dec 2024:")
    assert "Backtest MAPE at 6 months: 3.1% (last value: 12.0%)." in text
    assert "at 12 months: 6.0% (last value: 25.0%)." in text
    assert forecast_subtitle(dashboard_data.kpi_forecast.iloc[0:0], dashboard_data.forecast_backtest) == ""


def test_page_without_forecast_says_so(dashboard_data: DashboardData) -> None:
    page = render_dashboard(DashboardData(kpi_monthly=dashboard_data.kpi_monthly))
    assert "no forecast in kpi_forecast" in page


def test_the_latest_forecast_before_the_window_end_is_read(tmp_path: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    assert latest_forecast(warehouse, pd.Timestamp("2025-01-01").date())[0].empty  # not materialised yet
    rows = []
    for as_of in ("2024-11-01", "2024-12-01", "2025-01-01"):
        rows.append({"as_of_month": as_of, "month": "2025-03-01", "metric": "mrr", "scenario": "base", "value": 1.0})
    warehouse.replace(KPI_FORECAST, pd.DataFrame(rows))
    warehouse.replace(FORECAST_BACKTEST, pd.DataFrame({"as_of_month": ["2024-12-01", "2025-01-01"], "metric": "mrr",
                                                       "method": "forecast", "horizon": 1, "mape": [0.1, 0.2]}))
    warehouse.replace(KPI_MONTHLY, pd.DataFrame({"month": ["2024-12-01"], "metric": "mrr", "segment": "all",
                                                 "segment_value": "all", "value": [5.0], "unit": "currency"}))
    data = load_dashboard_data(warehouse)  # kpi_monthly ends in December: December's forecast, not January's
    assert data.kpi_forecast["as_of_month"].tolist() == [pd.Timestamp("2024-12-01")]
    assert data.forecast_backtest["mape"].tolist() == [0.1]
