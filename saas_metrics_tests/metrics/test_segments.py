"""segment_revenue_kpis: attribution of customers to segments, sums match the headline."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.metrics.revenue_kpis import revenue_kpis
from saas_metrics.metrics.segments import SEGMENT_METRICS, SEGMENTS, segment_revenue_kpis

T = pd.Timestamp
JAN, FEB = T("2024-01-01"), T("2024-02-01")


def snap(month, cid, mrr, tier, interval="month", currency="USD"):
    return {"month": month, "customer_id": cid, "currency": currency, "mrr_local": mrr, "fx_rate": 1.0, "mrr": mrr,
            "plan_tier": tier, "billing_interval": interval, "subscriptions": 1}


def mv(cid, start, end, movement, amount):
    return {"month": FEB, "customer_id": cid, "mrr_start": start, "mrr_start_fx": start, "mrr_end": end, "movement": movement,
            "amount": amount, "fx_impact": 0.0}


SNAPSHOTS = pd.DataFrame([
    snap(JAN, "a", 100.0, "starter"), snap(FEB, "a", 300.0, "growth"),   # upgrades starter -> growth: counted in growth
    snap(JAN, "b", 100.0, "starter"),                                     # churns: counted in starter (its Jan tier)
    snap(JAN, "c", 200.0, "growth", "year"), snap(FEB, "c", 200.0, "growth", "year"),
    snap(FEB, "d", 50.0, "starter"),
])
MOVEMENTS = pd.DataFrame([
    mv("a", 100.0, 300.0, "expansion", 200.0), mv("b", 100.0, 0.0, "churn", 100.0), mv("c", 200.0, 200.0, "unchanged", 0.0),
    mv("d", 0.0, 50.0, "new", 50.0),
])
DIMENSION = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "country": ["DE", "US", "US", None],
                          "currency": ["USD"] * 4, "channel": ["google_ads", None, "referral", "google_ads"]})


def table(kpis: pd.DataFrame, segment: str) -> pd.DataFrame:
    return kpis[kpis["segment"] == segment].pivot(index="segment_value", columns="metric", values="value")


def test_plan_tier_segments_and_revenue_churn_by_tier():
    kpis = segment_revenue_kpis(MOVEMENTS, SNAPSHOTS, DIMENSION)
    tier = table(kpis, "plan_tier")
    assert tier.loc["growth", "mrr"] == 500.0 and tier.loc["starter", "mrr"] == 50.0
    assert tier.loc["growth", "expansion_mrr"] == 200.0 and tier.loc["starter", "churned_mrr"] == 100.0
    # starter start: b only (a is counted where it ends, growth) -> churn rate 1/1; growth start: a, c = 300
    assert tier.loc["starter", "customer_churn_rate"] == 1.0
    assert tier.loc["starter", "gross_mrr_churn_rate"] == 1.0
    assert tier.loc["growth", "nrr"] == pytest.approx(500 / 300)
    assert tier.loc["growth", "grr"] == 1.0
    assert set(kpis["metric"]) == set(SEGMENT_METRICS)
    assert set(kpis["segment"]) == set(SEGMENTS)


def test_dimension_attributes_and_unknown():
    kpis = segment_revenue_kpis(MOVEMENTS, SNAPSHOTS, DIMENSION)
    channel = table(kpis, "channel")
    assert channel.loc["google_ads", "mrr"] == 350.0 and channel.loc["(unknown)", "churned_mrr"] == 100.0
    country = table(kpis, "country")
    assert country.loc["(unknown)", "new_mrr"] == 50.0 and country.loc["US", "customers"] == 1
    assert table(kpis, "billing_interval").loc["year", "mrr"] == 200.0


def test_segment_values_sum_to_the_headline():
    kpis = segment_revenue_kpis(MOVEMENTS, SNAPSHOTS, DIMENSION)
    head = revenue_kpis(MOVEMENTS, SNAPSHOTS, [FEB]).set_index("metric")["value"]
    for segment in SEGMENTS:
        t = table(kpis, segment)
        for metric in ("mrr", "customers", "new_mrr", "expansion_mrr", "churned_mrr", "net_new_mrr"):
            assert t[metric].sum() == pytest.approx(head[metric]), (segment, metric)


def test_missing_dimension_gives_unknown_segments():
    kpis = segment_revenue_kpis(MOVEMENTS, SNAPSHOTS, None)
    assert set(kpis.loc[kpis["segment"] == "country", "segment_value"]) == {"(unknown)"}
