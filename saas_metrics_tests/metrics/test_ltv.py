"""ltv_kpis: trailing-window LTV, clv_simple (survey example) and clv_annual_spend."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics.ltv import ltv_kpis, trailing_churn

T = pd.Timestamp
MONTHS = list(pd.date_range("2024-01-01", "2024-08-01", freq="MS"))


def values(kpis: pd.DataFrame, month: pd.Timestamp) -> dict[str, float]:
    return kpis[kpis["month"] == month].set_index("metric")["value"].to_dict()


def test_survey_example_every_clv_form_agrees_by_default():
    v = values(ltv_kpis(pd.Series({MONTHS[0]: 500.0}), pd.Series({MONTHS[0]: 0.05}), [MONTHS[0]], RevenuePolicy()), MONTHS[0])
    assert v["customer_lifetime_months"] == pytest.approx(20.0)  # 1 / 0.05
    assert v["clv_simple"] == pytest.approx(10_000.0)  # 500 / 0.05
    # annual spend 6,000 x lifetime 20 / 12 = 1.6667 years = 10,000 (the guide's own formula)
    assert v["clv_annual_spend"] == pytest.approx(10_000.0)
    assert math.isnan(v["ltv"])  # no month before M available


def test_compounded_lifetime_is_an_explicit_policy():
    policy = RevenuePolicy(clv_lifetime="compounded")
    v = values(ltv_kpis(pd.Series({MONTHS[0]: 500.0}), pd.Series({MONTHS[0]: 0.05}), [MONTHS[0]], policy), MONTHS[0])
    # annual churn 1 - 0.95^12 = 0.459640; lifetime 12 / 0.459640 = 26.107 months; 6,000 / 0.459640 = 13,053.70
    assert round(v["customer_lifetime_months"], 3) == 26.107
    assert round(v["clv_annual_spend"], 2) == 13053.70
    assert v["clv_simple"] == pytest.approx(10_000.0)  # ARPA / churn by its definition


def test_clv_lifetime_policy_is_validated():
    with pytest.raises(ValueError):
        RevenuePolicy(clv_lifetime="yearly")


def test_ltv_uses_the_six_months_before_m_and_gross_margin():
    churn = pd.Series([0.10, 0.02, 0.04, 0.03, 0.05, 0.01, 0.03, 0.90], index=MONTHS)
    arpa = pd.Series(400.0, index=MONTHS)
    kpis = ltv_kpis(arpa, churn, [MONTHS[7]], RevenuePolicy(gross_margin=0.8))
    # months Feb..Jul: mean(0.02, 0.04, 0.03, 0.05, 0.01, 0.03) = 0.03 -> 400 x 0.8 / 0.03
    assert values(kpis, MONTHS[7])["ltv"] == pytest.approx(400 * 0.8 / 0.03)
    # two months of history only (Jan, Feb) for March: mean(0.10, 0.02) = 0.06
    assert values(ltv_kpis(arpa, churn, [MONTHS[2]], RevenuePolicy()), MONTHS[2])["ltv"] == pytest.approx(400 / 0.06)


def test_null_when_trailing_churn_is_zero_or_missing():
    churn = pd.Series({MONTHS[0]: 0.0, MONTHS[1]: float("nan"), MONTHS[2]: 0.0})
    v = values(ltv_kpis(pd.Series({MONTHS[2]: 100.0}), churn, [MONTHS[2]], RevenuePolicy()), MONTHS[2])
    assert math.isnan(v["ltv"]) and math.isnan(v["clv_simple"]) and math.isnan(v["clv_annual_spend"])
    assert math.isnan(v["customer_lifetime_months"])


def test_trailing_window_is_configurable():
    churn = pd.Series([0.01, 0.02, 0.09], index=MONTHS[:3])
    got = trailing_churn(churn, [MONTHS[3]], window=1)
    assert got.iloc[0] == pytest.approx(0.09)
