"""Rolling-origin backtests, naive baselines, intervals from backtest errors, kpi_forecast rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from saas_metrics.config import ForecastPolicy, ForecastScenario
from saas_metrics.metrics.forecast import HISTORY_COLUMNS
from saas_metrics.metrics.forecast_backtest import (
    FORECAST_ASSUMPTIONS,
    FORECAST_BACKTEST,
    KPI_FORECAST,
    backtest,
    backtest_summary,
    forecast_rows,
    interval,
)

MONTHS = list(pd.date_range("2024-01-01", periods=8, freq="MS"))


def linear_history(months: int = 8) -> pd.DataFrame:
    """One new customer of MRR 10 a month, nothing else: MRR 100, 110, 120, ... (one age band)."""
    rows = []
    for k, month in enumerate(MONTHS[:months]):
        rows.append({c: 0.0 for c in HISTORY_COLUMNS} | {
            "month": month, "age": 0, "mrr_start": 90.0 + 10 * k, "customers_start": 9.0 + k,
            "mrr_end": 100.0 + 10 * k, "customers_end": 10.0 + k, "new_mrr": 10.0, "new_customers": 1.0})
    return pd.DataFrame(rows)[list(HISTORY_COLUMNS)]


POLICY = ForecastPolicy(by_cohort_age=False, backtest_min_history_months=3, horizon_months=3, scenarios={})


def test_backtest_origins_horizons_and_baselines():
    errors = backtest(linear_history(), POLICY)
    mrr = errors[errors["metric"] == "mrr"]
    # origins: months 3..7 of 8 (index 2..6), each up to 3 months ahead while history lasts
    assert sorted(mrr["origin"].unique()) == MONTHS[2:7]
    assert mrr.groupby("origin")["horizon"].max().tolist() == [3, 3, 3, 2, 1]
    fc = mrr[mrr["method"] == "forecast"]
    assert np.allclose(fc["predicted"], fc["actual"])  # the bridge reproduces a constant-flow history exactly
    last = mrr[(mrr["method"] == "last_value") & (mrr["origin"] == MONTHS[2])]
    assert list(last["predicted"]) == [120.0, 120.0, 120.0]
    assert list(last["actual"]) == [130.0, 140.0, 150.0]
    trend = mrr[mrr["method"] == "linear_trend"]
    assert trend[trend["origin"] < MONTHS[5]]["predicted"].isna().all()  # needs 6 months
    assert list(trend[trend["origin"] == MONTHS[5]]["predicted"]) == pytest.approx([160.0, 170.0])


def test_mape_per_horizon_by_hand():
    summary = backtest_summary(backtest(linear_history(), POLICY), MONTHS[-1], POLICY)
    mrr = summary[summary["metric"] == "mrr"].set_index(["method", "horizon"])
    # last value, h = 1: origins Mar..Jul, error 10 each on actuals 130..170
    assert mrr.loc[("last_value", 1), "mape"] == pytest.approx(np.mean([10 / a for a in (130, 140, 150, 160, 170)]))
    assert mrr.loc[("last_value", 1), "origins"] == 5
    assert mrr.loc[("forecast", 1), "mape"] == pytest.approx(0.0)
    # only what was known at the as-of month: from May, h = 1 has the origins Mar and Apr
    early = backtest_summary(backtest(linear_history(), POLICY), MONTHS[4], POLICY)
    early = early[early["metric"] == "mrr"].set_index(["method", "horizon"])
    assert early.loc[("last_value", 1), "mape"] == pytest.approx((10 / 130 + 10 / 140) / 2)
    assert ("last_value", 3) not in early.index
    assert list(summary.columns) == FORECAST_BACKTEST.column_names


def test_interval_from_known_errors():
    # actual / forecast - 1 = -2 %, 0 %, 1 %, 3 %, 5 %: at 80 % the 10th and 90th percentiles -1.2 % and 4.2 %
    errors = pd.DataFrame({"origin": MONTHS[:5], "horizon": 1, "month": MONTHS[1:6], "metric": "mrr",
                           "method": "forecast", "predicted": 100.0, "actual": [98.0, 100.0, 101.0, 103.0, 105.0]})
    policy = ForecastPolicy(interval_level=0.8)
    row = backtest_summary(errors, MONTHS[6], policy).iloc[0]
    assert row["error_low"] == pytest.approx(-0.012)
    assert row["error_high"] == pytest.approx(0.042)
    assert row["mape"] == pytest.approx(np.mean([2 / 98, 0, 1 / 101, 3 / 103, 5 / 105]))
    lower, upper = interval(pd.Series([1000.0, -100.0]), pd.Series([-0.012, -0.012]), pd.Series([0.042, 0.042]))
    assert list(lower) == pytest.approx([988.0, -104.2])
    assert list(upper) == pytest.approx([1042.0, -98.8])
    # fewer errors than min_backtest_errors: no interval
    few = backtest_summary(errors.iloc[:2], MONTHS[6], policy).iloc[0]
    assert np.isnan(few["error_low"]) and np.isnan(few["error_high"])


def test_forecast_rows_base_and_scenarios_with_intervals():
    history = linear_history()
    policy = ForecastPolicy(by_cohort_age=False, backtest_min_history_months=3, horizon_months=2,
                            scenarios={"double_new": ForecastScenario(new_mrr_pct=100)})
    summary = pd.DataFrame({"as_of_month": MONTHS[-1], "metric": "mrr", "method": "forecast", "horizon": [1, 2],
                            "mape": 0.01, "origins": 5, "error_low": [-0.01, -0.02], "error_high": [0.01, 0.03]})
    rows, assumptions = forecast_rows(history, MONTHS[-1], policy, summary)
    assert list(rows.columns) == KPI_FORECAST.column_names
    mrr = rows[rows["metric"] == "mrr"].set_index(["scenario", "month"])
    sep, oct_ = pd.Timestamp("2024-09-01"), pd.Timestamp("2024-10-01")
    assert mrr.loc[("base", sep), "value"] == pytest.approx(180.0)
    assert mrr.loc[("base", oct_), "value"] == pytest.approx(190.0)
    assert mrr.loc[("base", sep), "lower"] == pytest.approx(178.2)
    assert mrr.loc[("base", oct_), "upper"] == pytest.approx(190 * 1.03)
    assert mrr.loc[("double_new", sep), "value"] == pytest.approx(190.0)
    assert mrr.loc[("double_new", sep), "upper"] == pytest.approx(190 * 1.01)  # the base case's relative interval
    assert rows[rows["metric"] == "customers"]["lower"].isna().all()  # no backtest errors for customers
    assert (rows["as_of_month"] == MONTHS[-1]).all()
    assert set(assumptions["scenario"]) == {"base", "double_new"}
    assert list(assumptions.columns) == FORECAST_ASSUMPTIONS.column_names


def test_empty_history():
    empty = linear_history().iloc[0:0]
    assert backtest(empty, POLICY).empty
    assert backtest_summary(backtest(empty, POLICY), MONTHS[0], POLICY).empty
    # too short for any origin
    assert backtest(linear_history(3), POLICY).empty
