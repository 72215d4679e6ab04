"""A small synthetic DashboardData: one year of a consistent SaaS company, made here
(not by the pipeline) so the dashboard tests stand alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from saas_metrics.reports.data import DashboardData

MONTHS = pd.date_range("2024-01-01", periods=12, freq="MS")
CHANNELS = ("paid_search", "paid_social", "organic", "referral", "email", "(none)")
MODELS = ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped", "time_decay")


def synthetic_dashboard_data() -> DashboardData:
    rng = np.random.default_rng(7)
    rows: list[dict[str, object]] = []
    mrr_prev, customers_prev = 48_000.0, 240
    for i, month in enumerate(MONTHS):
        new = round(3_000 + 150 * i + rng.uniform(-300, 300), 2)
        expansion = round(1_400 + rng.uniform(-200, 200), 2)
        reactivation = round(250 + rng.uniform(-100, 100), 2)
        contraction = round(500 + rng.uniform(-100, 100), 2)
        churned = round(1_300 + rng.uniform(-300, 300), 2)
        fx = round(rng.uniform(-120, 120), 2)
        mrr = round(mrr_prev + new + expansion + reactivation - contraction - churned + fx, 2)
        new_customers = 16 + i // 2
        churned_customers = 5 + (i % 3)
        customers = customers_prev + new_customers - churned_customers
        cac = 4_200 + rng.uniform(-300, 300)
        churn_rate = churned_customers / customers_prev
        ltv = mrr / customers / churn_rate
        visitors = 42_000 + 900 * i
        leads = round(visitors * 0.025)
        metrics = {
            "mrr": mrr, "arr": mrr * 12, "customers": customers, "new_customers": new_customers,
            "new_mrr": new, "expansion_mrr": expansion, "reactivation_mrr": reactivation,
            "contraction_mrr": contraction, "churned_mrr": churned, "fx_impact_mrr": fx,
            "customer_churn_rate": churn_rate,
            "gross_mrr_churn_rate": (contraction + churned) / mrr_prev,
            "nrr": (mrr_prev + expansion - contraction - churned) / mrr_prev,
            "grr": (mrr_prev - contraction - churned) / mrr_prev,
            "cac": cac, "ltv": ltv, "ltv_to_cac": ltv / cac,
            "unique_visitors": visitors, "leads": leads, "mqls": round(leads * 0.4),
            "sqls": round(leads * 0.15),
        }
        rows += [{"month": month, "metric": k, "value": float(v), "unit": "x",
                  "is_provisional": month == MONTHS[-1]} for k, v in metrics.items()]
        # a segment row must not leak into the headline
        rows.append({"month": month, "metric": "mrr", "segment": "plan_tier", "segment_value": "pro",
                     "value": mrr / 2, "unit": "currency", "is_provisional": False})
        # churned MRR by reason (sums to the headline) and cash with runway
        for reason, share in (("too_expensive", 0.5), ("missing_features", 0.3), ("unknown", 0.2)):
            rows.append({"month": month, "metric": "churned_mrr", "segment": "churn_reason", "segment_value": reason,
                         "value": churned * share, "unit": "currency", "is_provisional": False})
        cash = 2_000_000.0 - 60_000.0 * i
        rows += [{"month": month, "metric": k, "value": v, "unit": "x", "is_provisional": month == MONTHS[-1]}
                 for k, v in (("cash_balance", cash), ("net_burn", 60_000.0), ("runway_months", cash / 60_000.0))]
        mrr_prev, customers_prev = mrr, customers
    kpi = pd.DataFrame(rows)

    cohorts = []
    for c, cohort in enumerate(MONTHS):
        size = 16 + c // 2
        for age in range(len(MONTHS) - c):
            active = round(size * (0.93 ** age) * (1 if age == 0 else 0.97))
            cohorts.append({"cohort_month": cohort, "age_months": age, "month": MONTHS[c + age],
                            "cohort_customers": size, "active_customers": active,
                            "logo_retention": active / size, "mrr": active * 210.0,
                            "net_mrr_retention": (active * 210.0 * (1.01 ** age)) / (size * 210.0)})
    cohort_retention = pd.DataFrame(cohorts)

    weights = np.array([0.34, 0.22, 0.18, 0.12, 0.09, 0.05])
    credits = []
    for month in MONTHS:
        new = float(kpi[(kpi.month == month) & (kpi.metric == "new_mrr")]["value"].iloc[0])
        for m, model in enumerate(MODELS):
            tilt = np.roll(weights, m % 2) if m in (1, 3) else weights
            share = tilt / tilt.sum()
            for channel, s in zip(CHANNELS, share, strict=True):
                credits.append({"month": month, "model": model, "channel": channel, "campaign": f"{channel}-main",
                                "customers": float(s * 18), "new_mrr": float(s * new)})
    attribution = pd.DataFrame(credits)

    at_risk = pd.DataFrame({
        "month": [MONTHS[-1]] * 6 + [MONTHS[-2]],
        "customer_id": ["cus_0031", "cus_0107", "cus_0045", "cus_0210", "cus_0012", "cus_0150", "cus_0099"],
        "usage_previous": [420, 180, 96, 300, 55, 140, 80],
        "usage": [150, 70, 40, 160, 20, 65, 10],
        "usage_change": [-270, -110, -56, -140, -35, -75, -70],
        "usage_change_pct": [-0.643, -0.611, -0.583, -0.467, -0.636, -0.536, -0.875],
        "mrr": [1_250.0, 480.0, 99.0, 2_400.0, 49.0, 640.0, 300.0],
        "plan_tier": ["pro", "starter", "starter", "enterprise", "starter", "pro", "pro"],
        "health_score": [38, 52, 44, 61, 29, 47, 20],
        "band": ["critical", "at_risk", "at_risk", "at_risk", "critical", "at_risk", "critical"],
        "owner_id": ["own_3", "own_1", "own_2", "own_3", "own_1", "own_2", "own_1"],
    })
    forecast, backtest = synthetic_forecast(mrr_prev)
    return DashboardData(kpi_monthly=kpi, cohort_retention=cohort_retention,
                         attribution_credits=attribution, at_risk_accounts=at_risk, currency="USD",
                         kpi_forecast=forecast, forecast_backtest=backtest)


def synthetic_forecast(last_mrr: float, months: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A base case growing 2 % a month with a +-1 % per month interval, one scenario, and backtest MAPE."""
    rows = []
    for h in range(1, months + 1):
        month = MONTHS[-1] + pd.DateOffset(months=h)
        value = last_mrr * 1.02**h
        rows.append({"as_of_month": MONTHS[-1], "month": month, "metric": "mrr", "scenario": "base",
                     "value": value, "lower": value * (1 - 0.01 * h), "upper": value * (1 + 0.01 * h)})
        rows.append({"as_of_month": MONTHS[-1], "month": month, "metric": "mrr", "scenario": "churn_minus_1pp",
                     "value": last_mrr * 1.03**h, "lower": None, "upper": None})
    backtest = pd.DataFrame({"as_of_month": MONTHS[-1], "metric": "mrr", "method": ["forecast", "last_value"] * 2,
                             "horizon": [6, 6, 12, 12], "mape": [0.031, 0.12, 0.06, 0.25], "origins": 5})
    return pd.DataFrame(rows), backtest


@pytest.fixture
def dashboard_data() -> DashboardData:
    return synthetic_dashboard_data()
