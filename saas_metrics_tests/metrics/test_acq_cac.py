"""CAC, paid CAC, channel CAC, payback, LTV:CAC, ROAS, lag: hand-computed numbers."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest

from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics.acquisition_catalog import catalog_mismatches
from saas_metrics.metrics.cac import cac_kpis

T = pd.Timestamp
FEB, MAR = T("2024-02-01"), T("2024-03-01")
FX = pd.DataFrame({"date": [T("2024-01-01")], "currency": ["EUR"], "rate_to_usd": [1.25]})


def _spend(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame({
        "date": [T(d) for d, _, _ in rows], "platform": [c for _, c, _ in rows], "channel": [c for _, c, _ in rows],
        "spend_reporting": [s for _, _, s in rows],
    })


def _expenses() -> pd.DataFrame:
    return pd.DataFrame({
        "expense_id": ["e1", "e2", "e3", "e4"],
        "date": [T("2024-03-31"), T("2024-03-01"), T("2024-03-15"), T("2024-02-10")],
        "department": ["sales", "marketing", "engineering", "Marketing"],
        "amount": [25_000.0, 12_000.0, 99_999.0, 10_000.0],
        "currency": ["USD", "EUR", "USD", "USD"],  # 12,000 EUR x 1.25 = 15,000 USD
    })


def _movements() -> pd.DataFrame:
    """March: 200 new customers (50 google_ads, 30 linkedin_ads, 120 organic), 100 MRR each;
    5 reactivations that must not count."""
    new = pd.DataFrame({"month": MAR, "customer_id": [f"c{i}" for i in range(200)], "movement": "new", "amount": 100.0})
    back = pd.DataFrame({"month": MAR, "customer_id": [f"r{i}" for i in range(5)], "movement": "reactivation", "amount": 100.0})
    return pd.concat([new, back], ignore_index=True)


def _channels() -> pd.DataFrame:
    channel = ["google_ads"] * 50 + ["linkedin_ads"] * 30 + ["organic_search"] * 120
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(200)], "channel": channel, "campaign": "(none)"})


def _run(policy=None, months=(MAR,), credits=None, gross_margin=0.8) -> pd.DataFrame:
    spend = _spend([("2024-03-03", "google_ads", 40_000.0), ("2024-03-09", "linkedin_ads", 20_000.0), ("2024-02-09", "google_ads", 40_000.0)])
    ltv = pd.Series([15_000.0], index=[MAR])
    asp = pd.DataFrame({"month": [MAR], "metric": ["asp"], "segment": ["all"], "value": [100.0]})
    return cac_kpis(spend, _expenses(), FX, _movements(), _channels(), credits, ltv, asp, list(months),
                    policy or AcquisitionPolicy(), "USD", gross_margin=gross_margin)


def _value(kpis, metric, segment="all", segment_value="all", month=MAR):
    row = kpis[(kpis["metric"] == metric) & (kpis["segment"] == segment) & (kpis["segment_value"] == segment_value) & (kpis["month"] == month)]
    assert len(row) == 1, (metric, segment, segment_value)
    return row["value"].iloc[0]


def test_blended_cac_100000_over_200():
    # The seeds quote "$100,000 / 200 = $5,000"; the arithmetic is 500 (docs/metric-definitions.md: where a
    # seed's worked example is arithmetically wrong, the definition wins).
    kpis = _run()
    assert _value(kpis, "ad_spend") == pytest.approx(60_000.0)
    assert _value(kpis, "sm_expenses") == pytest.approx(40_000.0)  # 25,000 sales + 15,000 marketing; engineering excluded
    assert _value(kpis, "sm_spend") == pytest.approx(100_000.0)
    assert _value(kpis, "cac") == pytest.approx(500.0)  # reactivations are not new customers


def test_paid_cac_and_channel_cac_roas_traffic_roi():
    kpis = _run()
    assert _value(kpis, "paid_new_customers") == 80
    assert _value(kpis, "paid_cac") == pytest.approx(60_000 / 80)
    assert _value(kpis, "cac", "channel", "google_ads") == pytest.approx(800.0)
    assert _value(kpis, "cac", "channel", "linkedin_ads") == pytest.approx(20_000 / 30)
    assert _value(kpis, "roas", "channel", "google_ads") == pytest.approx(12 * 5_000 / 40_000)  # 1.5
    assert _value(kpis, "traffic_roi", "channel", "linkedin_ads") == pytest.approx((36_000 - 20_000) / 20_000)  # 0.8
    assert math.isnan(_value(kpis, "cac", "channel", "meta_ads"))  # no spend, no customers: 0/0
    assert "organic_search" not in set(kpis.loc[kpis["segment"] == "channel", "segment_value"])


def test_payback_and_ltv_to_cac():
    kpis = _run()
    assert _value(kpis, "cac_payback_months") == pytest.approx(500 / (100 * 0.8))  # 6.25
    assert _value(kpis, "ltv_to_cac") == pytest.approx(15_000 / 500)  # 30
    assert {r for r in kpis["unit"]} <= {"currency", "count", "ratio", "months"}


def test_lag_one_month_divides_february_spend_by_march_customers():
    kpis = _run(AcquisitionPolicy(cac_lag_months=1))
    # February: google 40,000 + marketing 10,000 = 50,000 -> 50,000 / 200
    assert _value(kpis, "cac") == pytest.approx(250.0)
    assert _value(kpis, "paid_cac") == pytest.approx(40_000 / 80)
    assert _value(kpis, "cac", "channel", "linkedin_ads") == pytest.approx(0.0)  # no LinkedIn spend in February
    assert _value(kpis, "sm_spend") == pytest.approx(100_000.0)  # the month's own spend is still reported


def test_month_without_new_customers_has_nan_ratios():
    kpis = _run(months=(FEB,))
    assert _value(kpis, "sm_spend", month=FEB) == pytest.approx(50_000.0)
    for metric in ("cac", "paid_cac", "cac_payback_months", "ltv_to_cac"):
        assert math.isnan(_value(kpis, metric, month=FEB))


def test_per_model_channel_cac_uses_attribution_credits():
    credits = pd.DataFrame({
        "month": [MAR, MAR, MAR], "model": ["first_touch", "first_touch", "linear"],
        "channel": ["google_ads", "google_ads", "google_ads"], "campaign": ["a", "b", "a"],
        "customers": [6.0, 4.0, 2.5], "new_mrr": [600.0, 400.0, 250.0],
    })
    kpis = _run(credits=credits)
    assert _value(kpis, "cac", "channel:first_touch", "google_ads") == pytest.approx(4_000.0)
    assert _value(kpis, "roas", "channel:first_touch", "google_ads") == pytest.approx(12 * 1_000 / 40_000)
    assert _value(kpis, "attributed_customers", "channel:linear", "google_ads") == pytest.approx(2.5)
    assert _value(kpis, "cac", "channel:linear", "google_ads") == pytest.approx(16_000.0)


def test_invalid_gross_margin_is_rejected():
    with pytest.raises(ValueError, match="gross_margin"):
        _run(gross_margin=0.0)


def test_every_emitted_metric_is_in_the_catalog():
    assert catalog_mismatches(_run(credits=pd.DataFrame({"month": [MAR], "model": ["linear"], "channel": ["google_ads"], "campaign": ["a"], "customers": [1.0], "new_mrr": [9.0]}))) == []


def _loaded_expenses() -> pd.DataFrame:
    """_expenses plus March G&A: 50,000 of salaries and 10,000 of tools."""
    extra = pd.DataFrame({"expense_id": ["g1", "g2"], "date": [T("2024-03-05"), T("2024-03-06")], "department": ["g_and_a", "g_and_a"],
                          "category": ["salaries", "tools"], "amount": [50_000.0, 10_000.0], "currency": ["USD", "USD"]})
    return pd.concat([_expenses().assign(category="salaries"), extra], ignore_index=True)


def _run_loaded(policy: AcquisitionPolicy) -> pd.DataFrame:
    spend = _spend([("2024-03-03", "google_ads", 40_000.0), ("2024-03-09", "linkedin_ads", 20_000.0)])
    ltv = pd.Series([15_000.0], index=[MAR])
    asp = pd.Series([100.0], index=[MAR])
    return cac_kpis(spend, _loaded_expenses(), FX, _movements(), _channels(), None, ltv, asp, [MAR], policy, "USD", gross_margin=0.8)


def test_fully_loaded_cac_beside_cac_by_hand():
    # default extra scope: all of g_and_a (60,000): (100,000 + 60,000) / 200 = 800; cac stays 500
    kpis = _run_loaded(AcquisitionPolicy())
    assert _value(kpis, "cac") == pytest.approx(500.0)
    assert _value(kpis, "sm_spend_fully_loaded") == pytest.approx(160_000.0)
    assert _value(kpis, "cac_fully_loaded") == pytest.approx(800.0)
    assert _value(kpis, "cac_fully_loaded_payback_months") == pytest.approx(800 / (100 * 0.8))  # 10 months
    assert _value(kpis, "ltv_to_cac_fully_loaded") == pytest.approx(15_000 / 800)
    assert _value(kpis, "ltv_to_cac") == pytest.approx(30.0)


def test_cost_scope_lines_with_category_and_share():
    from saas_metrics.config import CostScopeLine

    # 20 % of G&A salaries only: 100,000 + 0.2 x 50,000 = 110,000 -> 550
    policy = AcquisitionPolicy(cac_fully_loaded_extra=[CostScopeLine(department="g_and_a", category="salaries", share=0.2)])
    assert _value(_run_loaded(policy), "cac_fully_loaded") == pytest.approx(550.0)
    # cac's own scope is a setting too: marketing only -> 60,000 ad + 15,000 marketing = 75,000 / 200;
    # an extra line that repeats a scope line (marketing) counts once, at the larger share
    policy = AcquisitionPolicy(cac_scope=[CostScopeLine(department="marketing")],
                               cac_fully_loaded_extra=[CostScopeLine(department="marketing", share=0.5)])
    kpis = _run_loaded(policy)
    assert _value(kpis, "cac") == pytest.approx(375.0)
    assert _value(kpis, "cac_fully_loaded") == pytest.approx(375.0)
    with pytest.raises(ValueError):
        CostScopeLine(department="sales", share=1.5)


def test_without_customer_channels_every_new_customer_is_unknown_and_nothing_warns():
    """No CRM: customer_channels is empty, so every new customer's channel is unknown (none paid).
    pandas 3.1 warns (and pandas 4 will raise) when a text label fills a mapped column that came out
    float64 because the mapping was empty."""
    spend = _spend([("2024-03-03", "google_ads", 40_000.0)])
    no_channels = pd.DataFrame({"customer_id": pd.Series([], dtype="str"), "channel": pd.Series([], dtype="object"),
                                "campaign": pd.Series([], dtype="object")})
    asp = pd.DataFrame({"month": [MAR], "metric": ["asp"], "segment": ["all"], "value": [100.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kpis = cac_kpis(spend, _expenses(), FX, _movements(), no_channels, None, None, asp, [MAR], AcquisitionPolicy(), "USD")
    assert _value(kpis, "paid_new_customers") == 0
    assert _value(kpis, "cac") == pytest.approx((40_000.0 + 25_000.0 + 15_000.0) / 200)
