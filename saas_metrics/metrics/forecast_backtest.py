"""Rolling-origin backtests of the forecast, naive baselines, prediction intervals, kpi_forecast rows.

For every origin T with at least ``backtest_min_history_months`` months of history up to T, the
forecast is estimated from the history up to T only and compared with what happened at
T+1 .. T+horizon (as far as the history goes), beside two naive baselines:

* last_value: x(T+h) = x(T);
* linear_trend: the least-squares line through x(T-5) .. x(T), extended h months (NULL when one
  of the 6 months is missing).

Per metric, method and horizon h: MAPE = mean over origins of |predicted - actual| / |actual|
(origins with actual 0 skipped). Prediction interval at level L from the forecast's relative
errors e = actual / predicted - 1 at horizon h: [value x (1 + q_(1-L)/2(e)), value x (1 + q_(1+L)/2(e))]
(numpy's linear quantile), NULL where fewer than ``min_backtest_errors`` errors exist.
Example: errors -2 %, 0 %, 1 %, 3 %, 5 % at L = 0.8 give q_0.1 = -1.2 %, q_0.9 = 4.2 %: a forecast of
1,000 has the interval [988, 1,042].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from saas_metrics.config import ForecastPolicy, ForecastScenario
from saas_metrics.metrics.forecast import (
    BASE,
    FORECAST_METRICS,
    assumptions_frame,
    estimate_assumptions,
    history_totals,
    project,
)
from saas_metrics.metrics.forecast_pipeline import FunnelData
from saas_metrics.tables import Column, TableSchema

FORECAST = "forecast"
LAST_VALUE = "last_value"
LINEAR_TREND = "linear_trend"
METHODS = (FORECAST, LAST_VALUE, LINEAR_TREND)
TREND_MONTHS = 6

KPI_FORECAST = TableSchema(
    name="kpi_forecast",
    description="Forecast of the headline metrics per as-of month, forecast month, metric and scenario, "
                "with the prediction interval from the backtests.",
    columns=(
        Column("as_of_month", "date", "last month of history the forecast was made from", nullable=False),
        Column("month", "date", "forecast month (first day)", nullable=False),
        Column("metric", "str", "kpi_monthly metric name", nullable=False),
        Column("scenario", "str", "'base' or a scenario of forecast.scenarios", nullable=False),
        Column("value", "float"),
        Column("lower", "float", "lower bound of the prediction interval (NULL: too few backtest errors)"),
        Column("upper", "float", "upper bound of the prediction interval"),
    ),
    key=("as_of_month", "month", "metric", "scenario"),
)
FORECAST_BACKTEST = TableSchema(
    name="forecast_backtest",
    description="Backtest accuracy per as-of month: MAPE per metric, method and horizon.",
    columns=(
        Column("as_of_month", "date", nullable=False),
        Column("metric", "str", nullable=False),
        Column("method", "str", "forecast, last_value or linear_trend", nullable=False),
        Column("horizon", "int", "months after the origin", nullable=False),
        Column("mape", "float", "mean absolute percentage error (a fraction)"),
        Column("origins", "int", "backtest origins averaged"),
        Column("error_low", "float", "lower quantile of actual / forecast - 1 (forecast method only)"),
        Column("error_high", "float", "upper quantile of actual / forecast - 1"),
    ),
    key=("as_of_month", "metric", "method", "horizon"),
)
FORECAST_ASSUMPTIONS = TableSchema(
    name="forecast_assumptions",
    description="Every assumption of each forecast: rates per cohort-age band, new-customer trend, ASP, "
                "reactivation, base, scenario overrides; with the estimation window and method.",
    columns=(
        Column("as_of_month", "date", nullable=False),
        Column("scenario", "str", nullable=False),
        Column("assumption", "str", nullable=False),
        Column("band", "str", "cohort-age band (months since first paid month) or 'all'", nullable=False),
        Column("value", "float"),
        Column("window_start", "date", "first month the value was estimated on"),
        Column("window_end", "date", "last month the value was estimated on"),
        Column("method", "str"),
    ),
    key=("as_of_month", "scenario", "assumption", "band"),
)


def _trend_forecast(values: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    """The least-squares line through the last TREND_MONTHS values, at h months after the last one."""
    if len(values) < TREND_MONTHS or np.isnan(values[-TREND_MONTHS:]).any():
        return np.full(len(horizons), np.nan)
    x = np.arange(TREND_MONTHS, dtype="float64")
    slope, intercept = np.polyfit(x, values[-TREND_MONTHS:], 1)
    return intercept + slope * (TREND_MONTHS - 1 + horizons)


def backtest(history: pd.DataFrame, policy: ForecastPolicy, funnel: FunnelData | None = None) -> pd.DataFrame:
    """Rows (origin, horizon, month, metric, method, predicted, actual) for every origin of ``history``.

    ``history`` is :func:`saas_metrics.metrics.forecast.bridge_history`; origins are its months with
    at least ``backtest_min_history_months`` months up to them and a later month to compare with.
    ``funnel`` feeds the new MRR of the deals and trials in flight (:func:`estimate_assumptions`),
    which reads only what was known at each origin.
    """
    columns = ["origin", "horizon", "month", "metric", "method", "predicted", "actual"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    totals = history_totals(history)
    months = list(totals.index)
    # The rows of each (origin, metric) are gathered as arrays and framed once: a frame per piece
    # cost more than the projections themselves.
    parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    for i in range(policy.backtest_min_history_months - 1, len(months) - 1):
        origin = months[i]
        horizon = min(policy.horizon_months, len(months) - 1 - i)
        predicted = project(estimate_assumptions(history, origin, policy, funnel=funnel), horizon)
        actual = totals.reindex(predicted.index)
        horizons = np.arange(1, horizon + 1)
        past = totals.iloc[: i + 1]
        for metric in FORECAST_METRICS:
            parts["origin"].append(np.full(3 * horizon, pd.Timestamp(origin).to_datetime64()))
            parts["horizon"].append(np.tile(horizons, 3))
            parts["month"].append(np.tile(predicted.index.to_numpy(), 3))
            parts["metric"].append(np.full(3 * horizon, metric, dtype=object))
            parts["method"].append(np.repeat(np.asarray(METHODS, dtype=object), horizon))
            parts["predicted"].append(np.concatenate([predicted[metric].to_numpy(), np.full(horizon, past[metric].iloc[-1]),
                                                      _trend_forecast(past[metric].to_numpy(), horizons)]))
            parts["actual"].append(np.tile(actual[metric].to_numpy(), 3))
    if not parts["origin"]:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({c: np.concatenate(parts[c]) for c in columns})


def backtest_summary(errors: pd.DataFrame, as_of_month: pd.Timestamp, policy: ForecastPolicy) -> pd.DataFrame:
    """FORECAST_BACKTEST rows from the :func:`backtest` rows whose actual month is <= ``as_of_month``."""
    as_of = pd.Timestamp(as_of_month)
    rows = errors[(errors["month"] <= as_of) & errors["predicted"].notna() & errors["actual"].notna()]
    rows = rows.assign(ape=(rows["predicted"] - rows["actual"]).abs() / rows["actual"].abs().where(rows["actual"] != 0),
                       ratio=rows["actual"] / rows["predicted"].where(rows["predicted"] != 0) - 1)
    low_q, high_q = (1 - policy.interval_level) / 2, (1 + policy.interval_level) / 2
    # Each group's rows as slices of arrays sorted by group (row order kept within a group): a Series
    # per group cost more than its statistics. mape is the mean as Series.mean takes it (sum / count).
    grouped = rows.groupby(["metric", "method", "horizon"], sort=True)
    codes = grouped.ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(grouped.ngroups + 1))
    apes, ratios = rows["ape"].to_numpy(dtype="float64")[order], rows["ratio"].to_numpy(dtype="float64")[order]
    out = []
    for g, (metric, method, horizon) in enumerate(grouped.size().index):
        ape, ratio = apes[starts[g]:starts[g + 1]], ratios[starts[g]:starts[g + 1]]
        ape, ratio = ape[~np.isnan(ape)], ratio[~np.isnan(ratio)]
        bounds: tuple[float, ...] = (np.nan, np.nan)
        if method == FORECAST and len(ratio) >= policy.min_backtest_errors:
            bounds = tuple(float(q) for q in np.quantile(ratio, [low_q, high_q]))
        out.append({"as_of_month": as_of, "metric": metric, "method": method, "horizon": int(horizon),
                    "mape": float(ape.sum() / np.float64(len(ape))) if len(ape) else np.nan, "origins": len(ape),
                    "error_low": bounds[0], "error_high": bounds[1]})
    if not out:
        return FORECAST_BACKTEST.empty_frame()
    return pd.DataFrame(out)[FORECAST_BACKTEST.column_names]


def interval(value: pd.Series, error_low: pd.Series, error_high: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(lower, upper) = the sorted pair value x (1 + error_low), value x (1 + error_high); NaN bounds stay NaN."""
    a, b = value * (1 + error_low), value * (1 + error_high)
    return np.fmin(a, b).where(a.notna() & b.notna()), np.fmax(a, b).where(a.notna() & b.notna())


def forecast_rows(history: pd.DataFrame, as_of_month: pd.Timestamp, policy: ForecastPolicy, summary: pd.DataFrame,
                  funnel: FunnelData | None = None, **tier_shares: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kpi_forecast rows, assumptions) of the base case and every scenario of ``policy`` from ``as_of_month``.

    Every scenario gets the base case's relative interval (the model's backtest error, not the
    uncertainty of the scenario's own assumptions). ``tier_shares``: base_tier_share, new_tier_share.
    """
    assumptions = estimate_assumptions(history, as_of_month, policy, funnel=funnel, **tier_shares)
    scenarios: dict[str, ForecastScenario] = {BASE: ForecastScenario(), **policy.scenarios}
    bounds = summary[summary["method"] == FORECAST].set_index(["metric", "horizon"])[["error_low", "error_high"]]
    frames = []
    for name, scenario in scenarios.items():
        wide = project(assumptions, policy.horizon_months, scenario)
        long = wide.reset_index().melt(id_vars="month", var_name="metric", value_name="value")
        long["horizon"] = np.tile(np.arange(1, len(wide) + 1), len(wide.columns))
        errors = bounds.reindex(pd.MultiIndex.from_frame(long[["metric", "horizon"]]))
        lower, upper = interval(long["value"], pd.Series(errors["error_low"].to_numpy(), index=long.index),
                                pd.Series(errors["error_high"].to_numpy(), index=long.index))
        frames.append(long.assign(as_of_month=assumptions.as_of_month, scenario=name, lower=lower, upper=upper))
    rows = pd.concat(frames, ignore_index=True)[KPI_FORECAST.column_names]
    return rows, assumptions_frame(assumptions, policy.scenarios)
