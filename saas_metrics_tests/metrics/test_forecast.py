"""Forecast from the bridge: history by cohort age, estimated assumptions, projection, scenarios."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from saas_metrics.config import ForecastPolicy, ForecastScenario
from saas_metrics.metrics.forecast import (
    FORECAST_METRICS,
    ForecastAssumptions,
    assumptions_frame,
    band_labels,
    bridge_history,
    estimate_assumptions,
    history_totals,
    project,
    tier_shares,
)

T = pd.Timestamp
JAN, FEB, MAR, APR = T("2024-01-01"), T("2024-02-01"), T("2024-03-01"), T("2024-04-01")


def one_band(base_mrr: float = 1000.0, base_customers: float = 10.0, *, churn: float = 0.05, contraction: float = 0.0,
             expansion: float = 0.0, logo_churn: float = 0.10, level: float = 2.0, slope: float = 0.0, asp: float = 50.0,
             reactivation: float = 10.0, reactivated: float = 0.5, **shares: dict[str, float]) -> ForecastAssumptions:
    rates = pd.DataFrame({"churn_rate": [churn], "contraction_rate": [contraction], "expansion_rate": [expansion],
                          "logo_churn_rate": [logo_churn], "customer_months": [500.0], "source": ["band"]},
                         index=pd.Index(["0+"], name="band"))
    return ForecastAssumptions(
        as_of_month=MAR, window_start=T("2023-04-01"), window_end=MAR, band_starts=(0,), rates=rates,
        new_customers_level=level, new_customers_slope=slope, asp=asp, reactivation_mrr=reactivation,
        reactivated_customers=reactivated, base_mrr=np.array([base_mrr]), base_customers=np.array([base_customers]),
        **shares,
    )


def test_constant_rate_base_case_by_hand():
    # base 1,000 MRR / 10 customers; churn 5 % of MRR and 10 % of logos; 2 new a month at ASP 50; reactivation 10 + 0.5
    out = project(one_band(), 2)
    assert list(out.index) == [APR, T("2024-05-01")]
    m1, m2 = out.iloc[0], out.iloc[1]
    assert m1["churned_mrr"] == pytest.approx(50.0)
    assert m1["new_mrr"] == pytest.approx(100.0)
    assert m1["mrr"] == pytest.approx(1000 - 50 + 100 + 10)  # 1,060
    assert m1["arr"] == pytest.approx(12 * 1060)
    assert m1["customers"] == pytest.approx(10 - 1 + 2 + 0.5)  # 11.5
    assert m1["nrr"] == pytest.approx(0.95)
    assert m1["net_new_mrr"] == pytest.approx(100 + 10 - 50)
    # month 2 on the projected base: churn 5 % of 1,060 = 53
    assert m2["churned_mrr"] == pytest.approx(53.0)
    assert m2["mrr"] == pytest.approx(1060 - 53 + 100 + 10)  # 1,117
    assert m2["customers"] == pytest.approx(11.5 * 0.9 + 2.5)  # 12.85
    assert list(out.columns) == list(FORECAST_METRICS)


def test_docstring_example_and_trend_of_new_customers():
    a = one_band(churn=0.02, contraction=0.01, expansion=0.03, logo_churn=0.0, level=1.0, slope=0.5, asp=100.0,
                 reactivation=0.0, reactivated=0.0)
    out = project(a, 2)
    assert out.iloc[0]["mrr"] == pytest.approx(1000 - 20 - 10 + 30 + 150)  # 1.5 new customers x 100
    assert out.iloc[0]["nrr"] == pytest.approx(1.0)
    assert out.iloc[1]["new_customers"] == pytest.approx(2.0)  # 1 + 0.5 x 2


def test_growth_trend_new_customers_compound():
    a = dataclasses.replace(one_band(level=10.0, slope=0.10), new_customers_method="growth_trend")
    assert list(project(a, 3)["new_customers"]) == pytest.approx([11.0, 12.1, 13.31])


def test_scenario_overrides_rates_new_mrr_and_reactivation():
    a = one_band()
    lower_churn = project(a, 1, ForecastScenario(churn_rate_pp=-1)).iloc[0]
    assert lower_churn["churned_mrr"] == pytest.approx(40.0)  # 4 % of 1,000
    assert lower_churn["mrr"] == pytest.approx(1000 - 40 + 100 + 10)
    assert lower_churn["customers"] == pytest.approx(10 * 0.91 + 2.5)  # logo churn 9 %
    more_new = project(a, 1, ForecastScenario(new_mrr_pct=20, reactivation_pct=-50)).iloc[0]
    assert more_new["new_customers"] == pytest.approx(2.4)
    assert more_new["new_mrr"] == pytest.approx(120.0)
    assert more_new["mrr"] == pytest.approx(1000 - 50 + 120 + 5)
    # a rate never goes below 0
    assert project(a, 1, ForecastScenario(churn_rate_pp=-10)).iloc[0]["churned_mrr"] == 0.0


def test_price_change_on_a_plan_tier():
    a = one_band(base_tier_share={"pro": 0.4, "basic": 0.6}, new_tier_share={"pro": 0.5, "basic": 0.5})
    out = project(a, 2, ForecastScenario(price_change_pct=10, price_change_tier="pro", price_change_month=2))
    assert out.iloc[0]["mrr"] == pytest.approx(1060.0)  # before the change: the base case
    m2 = out.iloc[1]
    # month 2: +10 % on pro's 40 % of the start MRR 1,060 = 42.4 expansion; ASP 50 x (1 + 0.1 x 0.5) = 52.5
    assert m2["expansion_mrr"] == pytest.approx(42.4)
    assert m2["new_mrr"] == pytest.approx(105.0)
    assert m2["mrr"] == pytest.approx(1060 - 53 + 42.4 + 105 + 10)
    cut = project(a, 1, ForecastScenario(price_change_pct=-10)).iloc[0]  # every tier
    assert cut["contraction_mrr"] == pytest.approx(100.0)
    assert cut["new_mrr"] == pytest.approx(90.0)


def test_cohort_age_bands_age_the_base():
    # churn 10 % in the first month of life only; base: 100 at age 0, 200 at age 1+
    rates = pd.DataFrame({"churn_rate": [0.10, 0.0], "contraction_rate": 0.0, "expansion_rate": 0.0,
                          "logo_churn_rate": [0.10, 0.0], "customer_months": 500.0, "source": "band"},
                         index=pd.Index(band_labels([0, 1]), name="band"))
    a = ForecastAssumptions(MAR, JAN, MAR, (0, 1), rates, 0.0, 0.0, 0.0, 0.0, 0.0,
                            np.array([100.0, 200.0]), np.array([1.0, 2.0]))
    out = project(a, 2)
    assert list(out["churned_mrr"]) == pytest.approx([10.0, 0.0])  # the survivors are 1 month old in month 2
    assert list(out["mrr"]) == pytest.approx([290.0, 290.0])


def test_band_labels():
    assert band_labels([0, 1, 2, 3, 6, 12, 24]) == ["0", "1", "2", "3-5", "6-11", "12-23", "24+"]


def movements() -> tuple[pd.DataFrame, pd.Series]:
    """A and B start in January (100, 200), B expands by 50 in February, A churns and C starts (300) in March."""
    rows = [
        (JAN, "A", 0, 100, "new", 100), (JAN, "B", 0, 200, "new", 200),
        (FEB, "A", 100, 100, "unchanged", 0), (FEB, "B", 200, 250, "expansion", 50),
        (MAR, "A", 100, 0, "churn", 100), (MAR, "B", 250, 250, "unchanged", 0), (MAR, "C", 0, 300, "new", 300),
    ]
    mv = pd.DataFrame(rows, columns=["month", "customer_id", "mrr_start", "mrr_end", "movement", "amount"])
    mv = mv.assign(mrr_start_fx=mv["mrr_start"].astype(float), fx_impact=0.0)
    first_paid = pd.Series({"A": JAN, "B": JAN, "C": MAR})
    return mv, first_paid


def test_bridge_history_by_cohort_age():
    mv, first_paid = movements()
    h = bridge_history(mv, first_paid, max_age=1).set_index(["month", "age"])
    # February: A and B were 0 months old at January's end, 1 at February's
    assert h.loc[(FEB, 0), "mrr_start"] == 300 and h.loc[(FEB, 0), "expansion_mrr"] == 50
    assert h.loc[(FEB, 1), "mrr_end"] == 350 and h.loc[(FEB, 1), "customers_end"] == 2
    # March: the start base is 1 month old; B at 2 months is capped to 1; C enters at 0
    assert h.loc[(MAR, 1), "churned_mrr"] == 100 and h.loc[(MAR, 1), "churned_customers"] == 1
    assert h.loc[(MAR, 1), "mrr_end"] == 250
    assert h.loc[(MAR, 0), "new_mrr"] == 300 and h.loc[(MAR, 0), "new_customers"] == 1
    totals = history_totals(bridge_history(mv, first_paid, 1))
    assert list(totals["mrr"]) == [300, 350, 550]
    assert totals.loc[FEB, "nrr"] == pytest.approx(350 / 300)
    assert totals.loc[MAR, "net_new_mrr"] == 200


def test_estimate_assumptions_by_hand():
    mv, first_paid = movements()
    history = bridge_history(mv, first_paid, 1)
    policy = ForecastPolicy(age_bands=[0, 1], min_band_customer_months=1, estimation_window_months=3)
    a = estimate_assumptions(history, MAR, policy)
    assert a.rates.loc["0", "expansion_rate"] == pytest.approx(50 / 300)
    assert a.rates.loc["1+", "churn_rate"] == pytest.approx(100 / 350)
    assert a.rates.loc["1+", "logo_churn_rate"] == pytest.approx(0.5)
    # new customers 2, 0, 1: least-squares slope -0.5, line at March 0.5; ASP (300 + 300) / 3
    assert a.new_customers_slope == pytest.approx(-0.5)
    assert a.new_customers_level == pytest.approx(0.5)
    assert a.asp == pytest.approx(200.0)
    assert list(a.base_mrr) == [300.0, 250.0]
    april = project(a, 1).iloc[0]
    # age 0: 300 + 1/6 expansion -> 350; age 1: 250 x (1 - 2/7); no new customer (0.5 - 0.5 = 0)
    assert april["mrr"] == pytest.approx(350 + 250 * (1 - 100 / 350))
    assert april["customers"] == pytest.approx(1 + 0.5)
    # too little support: every band takes the pooled rate
    pooled = estimate_assumptions(history, MAR, ForecastPolicy(age_bands=[0, 1], min_band_customer_months=5))
    assert set(pooled.rates["source"]) == {"pooled"}
    assert list(pooled.rates["churn_rate"]) == pytest.approx([100 / 650, 100 / 650])


def test_mean_method_and_window():
    mv, first_paid = movements()
    history = bridge_history(mv, first_paid, 1)
    a = estimate_assumptions(history, MAR, ForecastPolicy(new_customers_method="mean", estimation_window_months=2))
    assert a.window_start == FEB
    assert (a.new_customers_level, a.new_customers_slope) == (0.5, 0.0)  # February 0, March 1
    assert a.asp == pytest.approx(200.0)  # the ASP's own window (24 months) holds January too: 600 / 3
    asp_row = assumptions_frame(a).set_index("assumption").loc["asp"]
    assert asp_row["window_start"] == JAN and asp_row["window_end"] == MAR
    short = estimate_assumptions(history, MAR, ForecastPolicy(estimation_window_months=2, asp_window_months=2))
    assert short.asp == pytest.approx(300.0)  # March's one new customer


def test_bad_and_empty_input():
    mv, first_paid = movements()
    history = bridge_history(mv, first_paid, 1)
    with pytest.raises(ValueError, match="no bridge history"):
        estimate_assumptions(history, APR, ForecastPolicy())
    empty = bridge_history(mv.iloc[0:0], first_paid, 24)
    assert empty.empty and "mrr_start" in empty.columns
    with pytest.raises(ValueError):
        project(one_band(), 0)
    with pytest.raises(ValueError):
        bridge_history(mv, first_paid, -1)
    with pytest.raises(ValueError):
        ForecastPolicy(age_bands=[1, 3])
    with pytest.raises(ValueError):
        ForecastPolicy(scenarios={"base": ForecastScenario()})
    # a customer without a first paid month counts as the oldest age
    h = bridge_history(mv, first_paid.drop("C"), 1)
    assert h.set_index(["month", "age"]).loc[(MAR, 1), "new_mrr"] == 300


def test_assumptions_frame_lists_every_rate_window_and_override():
    frame = assumptions_frame(one_band(), {"cheaper": ForecastScenario(price_change_pct=-5, price_change_tier="pro")})
    base = frame[frame["scenario"] == "base"].set_index(["assumption", "band"])["value"]
    assert base[("churn_rate", "0+")] == 0.05 and base[("asp", "all")] == 50.0
    assert base[("base_mrr", "all")] == 1000.0
    overrides = frame[frame["scenario"] == "cheaper"]
    assert set(overrides["assumption"]) == {"price_change_pct", "price_change_tier"}
    assert (frame["window_start"] == T("2023-04-01")).all() and (frame["window_end"] == MAR).all()


def test_tier_shares():
    snaps = pd.DataFrame({"month": [MAR, MAR, MAR, FEB], "customer_id": ["A", "B", "C", "B"],
                          "mrr": [100.0, 300.0, 0.0, 50.0], "plan_tier": ["pro", "basic", "pro", "pro"]})
    mv = pd.DataFrame({"month": [MAR, FEB, JAN], "customer_id": ["A", "B", "C"], "movement": ["new", "new", "new"],
                       "amount": [100.0, 50.0, 10.0]})
    shares = tier_shares(snaps, mv, MAR, 2)  # January is outside the window
    assert shares["base_tier_share"] == {"basic": 0.75, "pro": 0.25}
    assert shares["new_tier_share"] == {"pro": 1.0}
    assert tier_shares(snaps.iloc[0:0], mv.iloc[0:0], MAR, 2) == {"base_tier_share": {}, "new_tier_share": {}}
