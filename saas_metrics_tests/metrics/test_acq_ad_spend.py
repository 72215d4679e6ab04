"""Ad spend staging: conversion at the spend date's rate; platform conversions per platform only."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.metrics.acquisition_catalog import catalog_mismatches
from saas_metrics.metrics.ad_spend import ad_platform_kpis, stage_ad_spend, to_reporting

T = pd.Timestamp
FX = pd.DataFrame({
    "date": [T("2024-03-01"), T("2024-03-15"), T("2024-03-01")],
    "currency": ["EUR", "EUR", "GBP"],
    "rate_to_usd": [1.10, 1.20, 1.25],
})


def _spend() -> pd.DataFrame:
    return pd.DataFrame({
        "date": [T("2024-03-10"), T("2024-03-20"), T("2024-03-05"), T("2024-03-06")],
        "platform": ["google_ads", "google_ads", "meta_ads", "linkedin_ads"],
        "campaign_id": ["g1", "g1", "m1", "l1"],
        "channel": ["google_ads", "google_ads", None, "linkedin_ads"],
        "currency": ["EUR", "EUR", "USD", "USD"],
        "spend": [1000.0, 1000.0, 500.0, 300.0],
        "impressions": [100, 100, 50, 10],
        "clicks": [10, 10, 5, 1],
        "platform_conversions": [3.0, 2.0, 4.0, 0.0],
    })


def test_spend_converted_at_the_spend_dates_rate():
    staged = stage_ad_spend(_spend(), FX, "USD")
    # 03-10 uses the 03-01 rate 1.10, 03-20 the 03-15 rate 1.20
    assert staged["spend_reporting"].tolist() == pytest.approx([1100.0, 1200.0, 500.0, 300.0])
    assert staged.loc[2, "channel"] == "meta_ads"  # missing channel = platform
    assert staged["platform_conversions"].tolist() == [3.0, 2.0, 4.0, 0.0]  # as reported


def test_cross_rate_to_a_non_usd_reporting_currency():
    got = to_reporting(pd.Series([1000.0, 125.0]), pd.Series(["EUR", "USD"]), pd.Series([T("2024-03-10")] * 2), FX, "GBP")
    assert got.tolist() == pytest.approx([1000 * 1.10 / 1.25, 100.0])


def test_missing_rate_is_a_clear_error():
    with pytest.raises(ValueError, match="JPY"):
        to_reporting(pd.Series([1.0]), pd.Series(["JPY"]), pd.Series([T("2024-03-10")]), FX, "USD")


def test_platform_conversions_are_reported_per_platform_never_summed():
    kpis = ad_platform_kpis(stage_ad_spend(_spend(), FX, "USD"), [T("2024-03-01")])
    conversions = kpis[kpis["metric"] == "platform_conversions"]
    assert set(conversions["segment"]) == {"platform"}  # no 'all' row: claims overlap across platforms
    assert conversions.set_index("segment_value")["value"].to_dict() == {"google_ads": 5.0, "meta_ads": 4.0, "linkedin_ads": 0.0}
    spend = kpis[kpis["metric"] == "ad_spend"].set_index("segment_value")["value"]
    assert spend["google_ads"] == pytest.approx(2300.0)
    cost = kpis[kpis["metric"] == "cost_per_platform_conversion"].set_index("segment_value")["value"]
    assert cost["google_ads"] == pytest.approx(460.0)
    assert math.isnan(cost["linkedin_ads"])  # 0 conversions -> undefined, not inf


def test_missing_canonical_column_is_rejected():
    with pytest.raises(ValueError, match="spend"):
        stage_ad_spend(_spend().drop(columns="spend"), FX, "USD")


def test_every_emitted_metric_is_in_the_catalog():
    assert catalog_mismatches(ad_platform_kpis(stage_ad_spend(_spend(), FX, "USD"), [T("2024-03-01")])) == []
