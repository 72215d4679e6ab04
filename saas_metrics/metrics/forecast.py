"""MRR forecast built from the bridge, not from a curve (method and limits: docs/forecast.md).

Each component of the MRR bridge is projected month by month on the projected base, by
cohort age a = months from a customer's first paid month to the month-end measured:

* the base at the as-of month T: MRR and paying customers at T's end, by cohort age;
* churned_mrr(a) = r_churn(a) x start MRR(a), contraction_mrr(a) = r_contraction(a) x start MRR(a),
  expansion_mrr(a) = r_expansion(a) x start MRR(a), churned_customers(a) = r_logo(a) x start customers(a);
* a rate r_x(band) = sum of x over the window / sum of start MRR (customers for r_logo) over the window,
  for the customers whose start age falls in the band; a band with fewer than
  ``min_band_customer_months`` customer-months in the window uses the rate pooled over every age;
* new_customers(h) = max(0, level + slope x h) (least-squares line over the window's months, level =
  the line at T; method ``mean``: the window's mean, slope 0; method ``growth_trend``: the line through
  the logarithms, new_customers(h) = level x (1 + g)^h); new_mrr(h) = new_customers(h) x ASP
  (corrected by the deals and trials in flight: forecast_pipeline),
  ASP = new MRR / new customers of the ``asp_window_months`` (24) months up to T (a longer window
  than the rates': a few large accounts dominate it); new customers enter at age 0;
* reactivation_mrr and reactivated customers = the window's monthly means, entering the oldest band;
* the survivors age by one month: MRR(a + 1, M) = MRR(a, M-1) x (1 - r_churn - r_contraction + r_expansion);
* mrr(M) = sum over ages; arr = 12 x mrr; customers = sum over ages;
  nrr(M) = (start MRR + expansion - contraction - churn) / start MRR (as kpi_monthly's nrr).

Rates come from ``mrr_movements`` in constant currency (start MRR at M's rate), so the forecast
holds FX rates at T's; it carries no FX impact. A :class:`ForecastScenario` overrides the
assumptions: rates + pp (floored at 0), new customers, ASP and reactivation x (1 + pct/100), and a
price change of p % on a plan tier (share s of the base MRR at T, share s_new of the window's new
MRR): in its month, expansion (or contraction) of p x s x start MRR; from then on ASP x (1 + p x s_new).

Worked example (one band): base 1,000 of 10 customers, r_churn 2 %, r_contraction 1 %,
r_expansion 3 %, 1 new customer a month at ASP 100, no reactivation: month 1 start 1,000,
churn 20, contraction 10, expansion 30, new 100 -> mrr 1,100, nrr = (1,000 + 30 - 10 - 20) / 1,000 = 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_index, month_start
from saas_metrics.config import ForecastPolicy, ForecastScenario
from saas_metrics.metrics.forecast_pipeline import (
    DEAL_AGE_BANDS,
    FunnelAssumptions,
    FunnelData,
    estimate_funnel,
)
from saas_metrics.metrics.frames import conform
from saas_metrics.metrics.kpi import safe_divide
from saas_metrics.metrics.movements import MRR_MOVEMENTS

#: Metrics the forecast produces (kpi_monthly names and meaning, per forecast month).
FORECAST_METRICS: tuple[str, ...] = (
    "mrr", "arr", "customers", "nrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr",
    "reactivation_mrr", "net_new_mrr", "new_customers", "churned_customers",
)
BASE = "base"

#: Columns of :func:`bridge_history` besides month and age; the start side is keyed by the age at
#: M-1's end, the end side (mrr_end ...) by the age at M's end.
_START_SIDE = ("mrr_start", "customers_start", "expansion_mrr", "contraction_mrr", "churned_mrr", "churned_customers")
_END_SIDE = ("mrr_end", "customers_end", "new_mrr", "new_customers", "reactivation_mrr", "reactivated_customers")
HISTORY_COLUMNS = ("month", "age", *_START_SIDE, *_END_SIDE)
#: rate name -> (numerator column, denominator column) of the history
RATES = {
    "churn_rate": ("churned_mrr", "mrr_start"),
    "contraction_rate": ("contraction_mrr", "mrr_start"),
    "expansion_rate": ("expansion_mrr", "mrr_start"),
    "logo_churn_rate": ("churned_customers", "customers_start"),
}


def bridge_history(movements: pd.DataFrame, first_paid_month: pd.Series, max_age: int) -> pd.DataFrame:
    """The bridge per month and cohort age (ages >= ``max_age`` lumped into ``max_age``).

    Start side, age = (M-1) - cohort month, customers with mrr_start > 0: mrr_start (sum of
    mrr_start_fx, constant currency), customers_start, expansion_mrr, contraction_mrr, churned_mrr,
    churned_customers. End side, age = M - cohort month, customers with mrr_end > 0: mrr_end,
    customers_end, new_mrr, new_customers, reactivation_mrr, reactivated_customers. A customer
    without a first paid month counts as the oldest age.
    """
    if max_age < 0:
        raise ValueError(f"max_age must be >= 0, got {max_age}")
    mv = conform(movements, MRR_MOVEMENTS)
    if mv.empty:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "month" else "float64") for c in HISTORY_COLUMNS})
    fpm = pd.Series(pd.to_datetime(first_paid_month).to_numpy(), index=first_paid_month.index.astype(str))
    fpm = fpm[~fpm.index.duplicated()]
    cohort = pd.Series(fpm.reindex(mv["customer_id"].astype(str).to_numpy()).to_numpy())
    cohort_idx = month_index(cohort)
    m = month_index(mv["month"])
    known = cohort.notna().to_numpy()
    start_age = np.where(known, np.clip(m - 1 - cohort_idx, 0, max_age), max_age)
    end_age = np.where(known, np.clip(m - cohort_idx, 0, max_age), max_age)
    kind = mv["movement"].to_numpy()
    amount = mv["amount"].to_numpy(dtype="float64")

    def of(movement: str) -> np.ndarray:
        return np.where(kind == movement, amount, 0.0)

    started = mv["mrr_start"].to_numpy(dtype="float64") > 0
    start = pd.DataFrame({
        "month": mv["month"].to_numpy(), "age": start_age,
        "mrr_start": mv["mrr_start_fx"].to_numpy(dtype="float64"), "customers_start": 1.0,
        "expansion_mrr": of("expansion"), "contraction_mrr": of("contraction"), "churned_mrr": of("churn"),
        "churned_customers": (kind == "churn").astype("float64"),
    })[started].groupby(["month", "age"]).sum()
    ended = mv["mrr_end"].to_numpy(dtype="float64") > 0
    end = pd.DataFrame({
        "month": mv["month"].to_numpy(), "age": end_age,
        "mrr_end": mv["mrr_end"].to_numpy(dtype="float64"), "customers_end": 1.0,
        "new_mrr": of("new"), "new_customers": (kind == "new").astype("float64"),
        "reactivation_mrr": of("reactivation"), "reactivated_customers": (kind == "reactivation").astype("float64"),
    })[ended].groupby(["month", "age"]).sum()
    out = start.join(end, how="outer").fillna(0.0).reset_index()
    out["age"] = out["age"].astype("int64")
    return out[list(HISTORY_COLUMNS)].sort_values(["month", "age"], kind="stable").reset_index(drop=True)


def history_totals(history: pd.DataFrame) -> pd.DataFrame:
    """The actual value of every FORECAST_METRICS per month of ``history`` (index: month)."""
    sums = history.drop(columns="age").groupby("month").sum()
    out = pd.DataFrame(index=sums.index)
    out["mrr"] = sums["mrr_end"]
    out["arr"] = 12.0 * sums["mrr_end"]
    out["customers"] = sums["customers_end"]
    out["nrr"] = safe_divide(sums["mrr_start"] + sums["expansion_mrr"] - sums["contraction_mrr"] - sums["churned_mrr"],
                             sums["mrr_start"])
    for col in ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr", "new_customers",
                "churned_customers"):
        out[col] = sums[col]
    out["net_new_mrr"] = (sums["new_mrr"] + sums["expansion_mrr"] + sums["reactivation_mrr"]
                          - sums["contraction_mrr"] - sums["churned_mrr"])
    return out[list(FORECAST_METRICS)]


@dataclass(frozen=True)
class ForecastAssumptions:
    """Everything the projection uses, estimated on [window_start, window_end] (see :func:`assumptions_frame`)."""

    as_of_month: pd.Timestamp
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    band_starts: tuple[int, ...]
    #: per band (index: band label): churn_rate, contraction_rate, expansion_rate, logo_churn_rate,
    #: customer_months, source ('band' or 'pooled')
    rates: pd.DataFrame
    new_customers_level: float
    new_customers_slope: float
    asp: float
    reactivation_mrr: float
    reactivated_customers: float
    #: MRR and customers at the as-of month's end by age 0..max_age
    base_mrr: np.ndarray
    base_customers: np.ndarray
    new_customers_method: str = "linear_trend"
    #: first month of the ASP's own (longer) window
    asp_window_start: pd.Timestamp | None = None
    base_tier_share: dict[str, float] = field(default_factory=dict)
    new_tier_share: dict[str, float] = field(default_factory=dict)
    #: new MRR from the open pipeline and the deal funnel, and from trials in flight (None: none)
    funnel: FunnelAssumptions | None = None
    trial_funnel: FunnelAssumptions | None = None
    #: the window's mean of new customers a month (g(h) of the funnel divides by it)
    new_customers_mean: float = 0.0


def band_labels(band_starts: Sequence[int]) -> list[str]:
    """'0', '1', '3-5', '24+' ...: the ages each band holds."""
    labels = []
    for i, lo in enumerate(band_starts):
        hi = band_starts[i + 1] - 1 if i + 1 < len(band_starts) else None
        labels.append(f"{lo}+" if hi is None else (str(lo) if hi == lo else f"{lo}-{hi}"))
    return labels


def _band_of_age(band_starts: Sequence[int], max_age: int) -> np.ndarray:
    return np.searchsorted(np.asarray(band_starts), np.arange(max_age + 1), side="right") - 1


def _linear_level_slope(values: np.ndarray) -> tuple[float, float]:
    """Least-squares line through (0..n-1, values): (its value at n-1, slope); one value: (it, 0)."""
    if len(values) < 2:
        return (float(values[0]) if len(values) else 0.0), 0.0
    x = np.arange(len(values), dtype="float64")
    slope, intercept = np.polyfit(x, values.astype("float64"), 1)
    return float(intercept + slope * x[-1]), float(slope)


def estimate_assumptions(
    history: pd.DataFrame,
    as_of_month: pd.Timestamp,
    policy: ForecastPolicy,
    *,
    base_tier_share: dict[str, float] | None = None,
    new_tier_share: dict[str, float] | None = None,
    funnel: FunnelData | None = None,
) -> ForecastAssumptions:
    """Rates, new-customer trend, ASP, reactivation and the base, from ``history`` up to ``as_of_month``.

    The window is the ``estimation_window_months`` months ending with the as-of month (fewer
    when the history is shorter). With ``funnel`` and ``new_mrr_method`` ``funnel``, the deals and
    trials in flight at the as-of month correct the trend's new MRR (forecast_pipeline). Raises
    ValueError when the as-of month has no history.
    """
    as_of = month_start(as_of_month)
    band_starts = tuple(policy.age_bands) if policy.by_cohort_age else (0,)
    max_age = band_starts[-1]
    hist = history[history["month"] <= as_of].copy()
    if hist.empty or not (hist["month"] == as_of).any():
        raise ValueError(f"no bridge history for the as-of month {as_of:%Y-%m}")
    hist["age"] = hist["age"].clip(upper=max_age)
    first = as_of - pd.DateOffset(months=policy.estimation_window_months - 1)
    window = hist[hist["month"] >= first]
    window_start = pd.Timestamp(window["month"].min())

    bands = _band_of_age(band_starts, max_age)[window["age"].to_numpy()]
    by_band = window.assign(band=bands).groupby("band")[list(_START_SIDE)].sum().reindex(range(len(band_starts)),
                                                                                         fill_value=0.0)
    pooled = window[list(_START_SIDE)].sum()
    rates = pd.DataFrame(index=band_labels(band_starts))
    rates.index.name = "band"
    supported = (by_band["customers_start"] >= policy.min_band_customer_months).to_numpy()
    for name, (num, den) in RATES.items():
        banded = np.asarray(safe_divide(by_band[num].to_numpy(), by_band[den].to_numpy()), dtype="float64")
        pooled_rate = safe_divide(pooled[num], pooled[den])
        pooled_rate = 0.0 if np.isnan(pooled_rate) else pooled_rate
        rates[name] = np.where(supported & ~np.isnan(banded), banded, pooled_rate)
    rates["customer_months"] = by_band["customers_start"].to_numpy()
    rates["source"] = np.where(supported, "band", "pooled")

    per_month = window.drop(columns="age").groupby("month").sum()
    new_counts = per_month["new_customers"].to_numpy()
    if policy.new_customers_method == "mean":
        level, slope = float(new_counts.mean()), 0.0
    elif policy.new_customers_method == "growth_trend":
        level, slope = _growth_level_rate(new_counts)
    else:
        level, slope = _linear_level_slope(new_counts)
    asp_months = hist[hist["month"] >= as_of - pd.DateOffset(months=policy.asp_window_months - 1)]
    new_business = asp_months[["new_mrr", "new_customers"]].sum()
    asp = safe_divide(new_business["new_mrr"], new_business["new_customers"])
    streams: dict[str, FunnelAssumptions | None] = {"deals": None, "trials": None}
    if policy.new_mrr_method == "funnel" and funnel is not None:
        for name, facts, arrays in (("deals", funnel.deals, "deal_arrays"), ("trials", funnel.trials, "trial_arrays")):
            if facts is not None and len(facts):
                streams[name] = estimate_funnel(getattr(funnel, arrays), funnel.new_arrays, as_of,
                                                policy.estimation_window_months, policy.horizon_months,
                                                policy.min_won_deals)
    at_end = hist[hist["month"] == as_of].groupby("age")[["mrr_end", "customers_end"]].sum().reindex(
        range(max_age + 1), fill_value=0.0)
    return ForecastAssumptions(
        as_of_month=as_of, window_start=window_start, window_end=as_of, band_starts=band_starts, rates=rates,
        new_customers_level=level, new_customers_slope=slope, asp=0.0 if np.isnan(asp) else float(asp),
        reactivation_mrr=float(per_month["reactivation_mrr"].mean()),
        reactivated_customers=float(per_month["reactivated_customers"].mean()),
        base_mrr=at_end["mrr_end"].to_numpy(dtype="float64"), base_customers=at_end["customers_end"].to_numpy(dtype="float64"),
        new_customers_method=policy.new_customers_method, asp_window_start=pd.Timestamp(asp_months["month"].min()),
        base_tier_share=dict(base_tier_share or {}), new_tier_share=dict(new_tier_share or {}),
        funnel=streams["deals"], trial_funnel=streams["trials"], new_customers_mean=float(new_counts.mean()),
    )


def _growth_level_rate(values: np.ndarray) -> tuple[float, float]:
    """Least-squares line through (0..n-1, ln values) over the months with values > 0: (its value at
    n-1 as a count, monthly growth rate e^slope - 1); fewer than 2 such months: (the mean, 0)."""
    positive = values > 0
    if positive.sum() < 2:
        return float(values.mean()) if len(values) else 0.0, 0.0
    x = np.arange(len(values), dtype="float64")[positive]
    slope, intercept = np.polyfit(x, np.log(values[positive].astype("float64")), 1)
    return float(np.exp(intercept + slope * (len(values) - 1))), float(np.expm1(slope))


def _new_customers(a: ForecastAssumptions, h: int) -> float:
    """New customers in forecast month h: level x (1 + slope)^h for growth_trend, else max(0, level + slope x h)."""
    if a.new_customers_method == "growth_trend":
        return a.new_customers_level * (1 + a.new_customers_slope) ** h
    return max(0.0, a.new_customers_level + a.new_customers_slope * h)


def _trend_growth(a: ForecastAssumptions, h: int) -> float:
    """g(h) = new_customers(h) / the window's mean of new customers (1 without new customers)."""
    return _new_customers(a, h) / a.new_customers_mean if a.new_customers_mean > 0 else 1.0


def _tier_share(shares: dict[str, float], tier: str | None) -> float:
    return 1.0 if tier is None else float(shares.get(tier, 0.0))


def project(assumptions: ForecastAssumptions, horizon: int, scenario: ForecastScenario | None = None) -> pd.DataFrame:
    """FORECAST_METRICS for the ``horizon`` months after the as-of month (index: month)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    a = assumptions
    s = scenario or ForecastScenario()
    age_band = _band_of_age(a.band_starts, len(a.base_mrr) - 1)

    def rate(name: str, pp: float) -> np.ndarray:
        return np.clip(a.rates[name].to_numpy(dtype="float64")[age_band] + pp / 100.0, 0.0, 1.0)

    churn, contraction = rate("churn_rate", s.churn_rate_pp), rate("contraction_rate", s.contraction_rate_pp)
    expansion, logo_churn = rate("expansion_rate", s.expansion_rate_pp), rate("logo_churn_rate", s.churn_rate_pp)
    price = s.price_change_pct / 100.0
    base_share = _tier_share(a.base_tier_share, s.price_change_tier)
    new_share = _tier_share(a.new_tier_share, s.price_change_tier) if a.new_tier_share or s.price_change_tier is None else base_share
    reactivation = a.reactivation_mrr * (1 + s.reactivation_pct / 100.0)
    reactivated = a.reactivated_customers * (1 + s.reactivation_pct / 100.0)

    mrr, customers = a.base_mrr.copy(), a.base_customers.copy()
    rows = []
    for h in range(1, horizon + 1):
        start = mrr.sum()
        churned, contracted, expanded = mrr * churn, mrr * contraction, mrr * expansion
        churned_customers = customers * logo_churn
        uplift = 1 + s.asp_pct / 100.0
        survivors = mrr - churned - contracted + expanded
        if price and h >= s.price_change_month:
            uplift *= 1 + price * new_share
            if h == s.price_change_month:
                change = mrr * base_share * price
                survivors = survivors + change
                expanded = expanded + np.maximum(change, 0.0)
                contracted = contracted + np.maximum(-change, 0.0)
        trend = _new_customers(a, h) * a.asp
        in_flight = [f.correction(h, _trend_growth(a, h)) for f in (a.funnel, a.trial_funnel) if f is not None]
        base_new = max(0.0, trend + sum(in_flight)) if in_flight else trend
        new_count = _new_customers(a, h) * (1 + s.new_mrr_pct / 100.0)
        new_mrr = base_new * (1 + s.new_mrr_pct / 100.0) * uplift
        mrr = _age_by_one(survivors, new_mrr, reactivation)
        customers = _age_by_one(customers - churned_customers, new_count, reactivated)
        end = mrr.sum()
        exp_sum, con_sum, churn_sum = expanded.sum(), contracted.sum(), churned.sum()
        rows.append({
            "month": a.as_of_month + pd.DateOffset(months=h), "mrr": end, "arr": 12.0 * end, "customers": customers.sum(),
            "nrr": safe_divide(start + exp_sum - con_sum - churn_sum, start), "new_mrr": new_mrr,
            "expansion_mrr": exp_sum, "contraction_mrr": con_sum, "churned_mrr": churn_sum, "reactivation_mrr": reactivation,
            "net_new_mrr": new_mrr + exp_sum + reactivation - con_sum - churn_sum, "new_customers": new_count,
            "churned_customers": churned_customers.sum(),
        })
    return pd.DataFrame(rows).set_index("month")[list(FORECAST_METRICS)].astype("float64")


def _age_by_one(by_age: np.ndarray, entering_new: float, entering_oldest: float) -> np.ndarray:
    """Every age moves up one month (the oldest bucket keeps its own); new at age 0, returns at the oldest."""
    aged = np.concatenate([[0.0], by_age[:-1]])
    aged[-1] += by_age[-1]
    aged[0] += entering_new
    aged[-1] += entering_oldest
    return aged


def assumptions_frame(assumptions: ForecastAssumptions, scenarios: dict[str, ForecastScenario] | None = None) -> pd.DataFrame:
    """The assumptions as rows (as_of_month, scenario, assumption, band, value, window_start, window_end, method).

    The base case lists every estimated value; a scenario lists only its overrides (as set in the
    settings: pp or %)."""
    a = assumptions
    window = {"as_of_month": a.as_of_month, "window_start": a.window_start, "window_end": a.window_end}
    ratio_method = "sum over the window of the movement / sum of start MRR (customers for logo churn), per cohort-age band"
    rows = []
    for band, rates in a.rates.iterrows():
        for name in RATES:
            rows.append({"assumption": name, "band": band, "value": float(rates[name]),
                         "method": f"{ratio_method} ({rates['source']}; {rates['customer_months']:.0f} customer-months)"})
    trend = {"linear_trend": "least-squares line over the window's months",
             "growth_trend": "least-squares line through the logarithms of the window's months (months with 0 left out)",
             "mean": "mean over the window"}[a.new_customers_method]
    rows += [
        {"assumption": "new_customers_level", "band": "all", "value": a.new_customers_level,
         "method": f"new customers per month at the as-of month: {trend}"},
        {"assumption": "new_customers_slope", "band": "all", "value": a.new_customers_slope,
         "method": ("monthly growth rate; new_customers(h) = level x (1 + slope)^h" if a.new_customers_method == "growth_trend"
                    else "change of new customers per month (0 for the mean); new_customers(h) = max(0, level + slope x h)")},
        {"assumption": "asp", "band": "all", "value": a.asp, "window_start": a.asp_window_start,
         "method": "new MRR / new customers of the ASP's window (forecast.asp_window_months)"},
        {"assumption": "reactivation_mrr", "band": "all", "value": a.reactivation_mrr, "method": "window's monthly mean"},
        {"assumption": "reactivated_customers", "band": "all", "value": a.reactivated_customers,
         "method": "window's monthly mean"},
        {"assumption": "base_mrr", "band": "all", "value": float(a.base_mrr.sum()), "method": "MRR at the as-of month's end"},
        {"assumption": "base_customers", "band": "all", "value": float(a.base_customers.sum()),
         "method": "paying customers at the as-of month's end"},
    ]
    rows += _funnel_rows(a.funnel, "deals") + _funnel_rows(a.trial_funnel, "trials")
    out = pd.DataFrame(rows).assign(scenario=BASE)
    overrides = []
    for name, scenario in (scenarios or {}).items():
        defaults = ForecastScenario()
        for key, value in scenario.model_dump().items():
            if value != getattr(defaults, key):
                numeric = isinstance(value, int | float) and not isinstance(value, bool)
                overrides.append({"scenario": name, "assumption": key, "band": "all",
                                  "value": float(value) if numeric else np.nan,
                                  "method": "override" if numeric else f"override: {value}"})
    if overrides:
        out = pd.concat([out, pd.DataFrame(overrides)], ignore_index=True)
    own_start = out["window_start"] if "window_start" in out.columns else pd.Series(pd.NaT, index=out.index)
    out = out.assign(**window)
    out["window_start"] = pd.to_datetime(own_start).fillna(a.window_start)
    return out[["as_of_month", "scenario", "assumption", "band", "value", "window_start", "window_end", "method"]]


#: Assumption names of each funnel stream: weight, in-flight count, won count, MRR per unit, typical won
#: a month, open by age, conversion by lag and age, fresh by lag; and what a unit is.
_STREAM_NAMES = {
    "deals": ("funnel_weight", "open_deals", "won_deals", "mrr_per_acv", "typical_won_acv", "open_pipeline_acv",
              "pipeline_conversion", "fresh_deal_acv", "ACV"),
    "trials": ("trial_funnel_weight", "open_trials", "converted_trials", "mrr_per_trial", "typical_converted_trials",
               "open_trials_by_age", "trial_conversion", "fresh_trials", "trials"),
}


def _funnel_rows(f: FunnelAssumptions | None, stream: str) -> list[dict[str, object]]:
    """A funnel stream's assumptions (forecast_pipeline's module docstring), or that there is none."""
    weight, open_n, won_n, per_unit, typical, open_by_age, conversion, fresh_name, unit = _STREAM_NAMES[stream]
    if f is None:
        return [{"assumption": weight, "band": "all", "value": 0.0,
                 "method": f"no {stream} (or new_mrr_method trend): the trend alone"}]
    rows: list[dict[str, object]] = [
        {"assumption": weight, "band": "all", "value": f.weight,
         "method": f"w = min(1, {stream} won in the window / forecast.min_won_deals); "
                   f"new MRR = trend + w x {per_unit} x (expected {unit} won - typical x g)"},
        {"assumption": open_n, "band": "all", "value": float(f.open_deals),
         "method": f"{stream} open at the as-of month's end"},
        {"assumption": won_n, "band": "all", "value": float(f.won_deals), "method": f"{stream} won in the window"},
        {"assumption": per_unit, "band": "all", "value": f.mrr_per_acv,
         "method": f"new MRR of the customers of the {stream} won in the window / their {unit} (linked by identity_links)"},
        {"assumption": typical, "band": "all", "value": f.typical_acv,
         "method": f"window's monthly mean of the {unit} won"},
    ]
    ages = band_labels(DEAL_AGE_BANDS)
    for age, value in zip(ages, f.open_acv, strict=True):
        rows.append({"assumption": open_by_age, "band": f"age {age}", "value": float(value),
                     "method": f"{unit} open at the as-of month's end, by months since created (started)"})
    for h, (by_age, fresh) in enumerate(zip(f.conversion, f.fresh_acv, strict=True), start=1):
        for age, p in zip(ages, by_age, strict=True):
            rows.append({"assumption": conversion, "band": f"h{h} age {age}", "value": float(p),
                         "method": f"{unit} won {h} month(s) after a window month / {unit} open at its end, by age"})
        rows.append({"assumption": fresh_name, "band": f"h{h}", "value": float(fresh),
                     "method": f"window's monthly mean of {unit} won by items created in the {h} month(s) up to the win"})
    return rows


def new_business_summary(assumptions: pd.DataFrame) -> str | None:
    """One line on where the base case's new MRR comes from, from one as-of month's assumptions rows
    (assumptions_frame): the trend of new customers x ASP with its windows, then each funnel stream in
    flight with its weight; None without rows."""
    base = assumptions[assumptions["scenario"] == BASE]
    if base.empty:
        return None
    value = base.groupby("assumption")["value"].sum()
    asp = base[base["assumption"] == "asp"]

    def get(name: str) -> float:
        return float(value.get(name, 0.0))

    window = (f" ({pd.Timestamp(asp['window_start'].iloc[0]):%Y-%m} .. {pd.Timestamp(asp['window_end'].iloc[0]):%Y-%m})"
              if len(asp) else "")
    text = (f"New MRR: {get('new_customers_level'):,.1f} new customers a month ({get('new_customers_slope'):+,.2f} a month) "
            f"x ASP {get('asp'):,.0f}{window}")
    streams = []
    if get("funnel_weight") > 0:
        streams.append(f"the deals in flight ({get('open_deals'):,.0f} open, ACV {get('open_pipeline_acv'):,.0f}, "
                       f"MRR per ACV {get('mrr_per_acv'):.3f}, weight {get('funnel_weight'):.2f})")
    if get("trial_funnel_weight") > 0:
        streams.append(f"the trials in flight ({get('open_trials'):,.0f} not converted, MRR per converted trial "
                       f"{get('mrr_per_trial'):,.0f}, weight {get('trial_funnel_weight'):.2f})")
    return text + (", corrected by " + " and ".join(streams) if streams else "")


def tier_shares(snapshots: pd.DataFrame, movements: pd.DataFrame, as_of_month: pd.Timestamp,
                window_months: int) -> dict[str, dict[str, float]]:
    """Plan-tier shares for a price-change scenario: base_tier_share = each tier's share of the MRR at
    the as-of month's end (customer_mrr); new_tier_share = its share of the new MRR of the window's
    months (a new customer's tier at the end of its first month). Empty dicts without data."""
    as_of = pd.Timestamp(as_of_month)
    first = as_of - pd.DateOffset(months=window_months - 1)
    at_end = snapshots[(snapshots["month"] == as_of) & (snapshots["mrr"] > 0)]
    base = at_end.groupby("plan_tier")["mrr"].sum()
    new = movements[(movements["movement"] == "new") & (movements["month"] >= first) & (movements["month"] <= as_of)]
    new = new[["month", "customer_id", "amount"]].merge(snapshots[["month", "customer_id", "plan_tier"]],
                                                         on=["month", "customer_id"], how="inner")
    new_by_tier = new.groupby("plan_tier")["amount"].sum()

    def shares(sums: pd.Series) -> dict[str, float]:
        total = float(sums.sum())
        return {str(k): float(v) / total for k, v in sums.items()} if total > 0 else {}

    return {"base_tier_share": shares(base), "new_tier_share": shares(new_by_tier)}
