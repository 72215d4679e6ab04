"""The forecast section of `saas-metrics report`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from rich.console import Console

from saas_metrics.cli.report import print_forecast
from saas_metrics.config import Settings
from saas_metrics.metrics.forecast_backtest import (
    FORECAST_ASSUMPTIONS,
    FORECAST_BACKTEST,
    KPI_FORECAST,
)
from saas_metrics.warehouse import Warehouse


def test_report_prints_the_forecast_with_interval_scenarios_and_backtest_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    settings = Settings(warehouse_url=url, sources_dir=tmp_path, end_month="2025-01", landing_cache_dir=None)
    console = Console(record=True, width=200)
    print_forecast(settings, dt.date(2025, 2, 1), console)
    assert console.export_text() == ""  # no forecast materialised: nothing printed
    rows = [
        {"metric": "mrr", "scenario": "base", "value": 10_000.0, "lower": 9_800.0, "upper": 10_500.0},
        {"metric": "arr", "scenario": "base", "value": 120_000.0},
        {"metric": "customers", "scenario": "base", "value": 41.6},
        {"metric": "nrr", "scenario": "base", "value": 0.987},
        {"metric": "mrr", "scenario": "churn_minus_1pp", "value": 10_100.0},
    ]
    Warehouse(url).replace(KPI_FORECAST, pd.DataFrame(rows).assign(as_of_month="2025-01-01", month="2025-02-01"))
    Warehouse(url).replace(FORECAST_BACKTEST, pd.DataFrame({
        "as_of_month": "2025-01-01", "metric": "mrr", "method": ["forecast", "last_value", "linear_trend"],
        "horizon": 6, "mape": [0.039, 0.201, 0.052], "origins": 12}))
    print_forecast(settings, dt.date(2025, 2, 1), console)
    text = console.export_text()
    assert "Forecast from 2025-01" in text
    assert "2025-02" in text and "10,000" in text and "120,000" in text and "42" in text and "98.7 %" in text
    assert "9,800 – 10,500" in text
    assert "MRR churn_minus_1pp" in text and "10,100" in text
    assert "6 mo: forecast 3.9%, last value 20.1%, linear trend 5.2%" in text
    assert "New MRR" not in text  # no assumptions stored
    base = {"as_of_month": "2025-01-01", "scenario": "base", "band": "all", "window_start": "2024-02-01",
            "window_end": "2025-01-01", "method": "m"}
    assumed = [("new_customers_level", 12.5), ("new_customers_slope", 0.5), ("asp", 400.0), ("funnel_weight", 1.0),
               ("open_deals", 7.0), ("mrr_per_acv", 0.07), ("trial_funnel_weight", 0.5), ("open_trials", 5.0),
               ("mrr_per_trial", 150.0)]
    rows = [base | {"assumption": name, "value": value} for name, value in assumed]
    rows += [base | {"assumption": "open_pipeline_acv", "band": band, "value": acv}
             for band, acv in (("age 0", 60_000.0), ("age 3+", 24_000.0))]
    Warehouse(url).replace(FORECAST_ASSUMPTIONS, pd.DataFrame(rows))
    console = Console(record=True, width=400)
    print_forecast(settings, dt.date(2025, 2, 1), console)
    assert ("New MRR: 12.5 new customers a month (+0.50 a month) x ASP 400 (2024-02 .. 2025-01), corrected by the "
            "deals in flight (7 open, ACV 84,000, MRR per ACV 0.070, weight 1.00) and the trials in flight (5 not "
            "converted, MRR per converted trial 150, weight 0.50)") in console.export_text()
