"""retention_rates: formulas and NULL rules (docs/metric-definitions.md#retention-and-churn)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.metrics.retention import RETENTION_UNITS, annualise, retention_rates


def totals(**kw: float) -> pd.DataFrame:
    base = dict(customers_start=0.0, new_customers=0.0, churned_customers=0.0, mrr_start_fx=0.0, new_mrr=0.0,
                expansion_mrr=0.0, contraction_mrr=0.0, churned_mrr=0.0, reactivation_mrr=0.0)
    return pd.DataFrame([{**base, **kw}])


def test_rates_hand_computed():
    r = retention_rates(totals(customers_start=200, new_customers=50, churned_customers=10, mrr_start_fx=20_000,
                               expansion_mrr=1500, contraction_mrr=500, churned_mrr=1000, reactivation_mrr=200)).iloc[0]
    assert r["customer_churn_rate"] == pytest.approx(0.05)
    assert r["customer_churn_rate_stripe"] == pytest.approx(10 / 250)
    assert r["customer_retention_rate"] == pytest.approx(0.95)
    assert r["gross_mrr_churn_rate"] == pytest.approx(0.075)
    assert r["net_mrr_churn_rate"] == pytest.approx(-200 / 20_000)  # expansion beats losses: negative
    assert r["grr"] == pytest.approx(0.925)
    assert r["nrr"] == pytest.approx(1.0)
    assert r["annualised_customer_churn_rate"] == pytest.approx(1 - 0.95**12)
    assert set(r.index) == set(RETENTION_UNITS)


def test_annualise_is_compounded_not_twelve_times():
    assert annualise(pd.Series([0.05])).iloc[0] == pytest.approx(0.45963991)
    assert annualise(pd.Series([0.0])).iloc[0] == 0.0


def test_no_start_customers_gives_null_rates():
    r = retention_rates(totals(new_customers=3, new_mrr=300)).iloc[0]
    for metric in ("customer_churn_rate", "customer_retention_rate", "gross_mrr_churn_rate", "grr", "nrr"):
        assert math.isnan(r[metric]), metric
    assert r["customer_churn_rate_stripe"] == 0.0  # 0 / (0 + 3)
