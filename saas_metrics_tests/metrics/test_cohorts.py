"""cohort_retention: logo and net MRR retention, zero-retention cohorts kept, one-month diagonal."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.metrics.cohorts import COHORT_RETENTION, cohort_retention

T = pd.Timestamp
JAN, FEB, MAR = T("2024-01-01"), T("2024-02-01"), T("2024-03-01")


def snap(month, cid, mrr):
    return {"month": month, "customer_id": cid, "currency": "USD", "mrr_local": mrr, "fx_rate": 1.0, "mrr": mrr}


SNAPSHOTS = pd.DataFrame([
    snap(JAN, "a", 100.0), snap(JAN, "b", 100.0),            # Jan cohort: a, b (200)
    snap(FEB, "a", 150.0), snap(FEB, "c", 80.0),             # b churns; c joins (Feb cohort)
    snap(MAR, "a", 150.0),                                   # c churns: Feb cohort at 0 %
])
FIRST_PAID = pd.Series({"a": JAN, "b": JAN, "c": FEB})


def test_cohort_grid_values():
    out = cohort_retention(SNAPSHOTS, FIRST_PAID, [JAN, FEB, MAR], max_age=12)
    assert list(out.columns) == COHORT_RETENTION.column_names
    rows = {(r.cohort_month, r.age_months): r for r in out.itertuples()}
    assert set(rows) == {(JAN, 0), (JAN, 1), (JAN, 2), (FEB, 0), (FEB, 1)}
    jan1 = rows[(JAN, 1)]
    assert (jan1.cohort_customers, jan1.active_customers, jan1.logo_retention) == (2, 1, 0.5)
    assert (jan1.cohort_mrr_start, jan1.mrr, jan1.net_mrr_retention) == (200.0, 150.0, pytest.approx(0.75))
    feb1 = rows[(FEB, 1)]  # the 0 % cohort keeps its row
    assert (feb1.active_customers, feb1.logo_retention, feb1.mrr, feb1.net_mrr_retention) == (0, 0.0, 0.0, 0.0)


def test_one_month_run_is_the_diagonal_and_max_age_limits():
    out = cohort_retention(SNAPSHOTS, FIRST_PAID, [MAR], max_age=12)
    assert out[["cohort_month", "age_months"]].values.tolist() == [[JAN, 2], [FEB, 1]]
    assert cohort_retention(SNAPSHOTS, FIRST_PAID, [MAR], max_age=1)["cohort_month"].tolist() == [FEB]
    full = cohort_retention(SNAPSHOTS, FIRST_PAID, [JAN, FEB, MAR], max_age=12)
    pd.testing.assert_frame_equal(out, full[full["month"] == MAR].reset_index(drop=True))


def test_missing_cohort_month_snapshot_gives_null_mrr_retention():
    out = cohort_retention(SNAPSHOTS[SNAPSHOTS["month"] != JAN], FIRST_PAID, [MAR], max_age=12)
    jan = out[out["cohort_month"] == JAN].iloc[0]
    assert pd.isna(jan["net_mrr_retention"]) and jan["logo_retention"] == 0.5


def test_negative_max_age_is_rejected():
    with pytest.raises(ValueError, match="max_age"):
        cohort_retention(SNAPSHOTS, FIRST_PAID, [MAR], max_age=-1)


def test_cohorts_by_channel_and_by_plan_tier_by_hand():
    from saas_metrics.metrics.cohorts import (
        COHORT_RETENTION_SEGMENTS,
        cohort_plan_tier,
        segmented_cohort_retention,
    )

    snapshots = pd.DataFrame([
        {**snap(JAN, "a", 100.0), "plan_tier": "growth"}, {**snap(JAN, "b", 100.0), "plan_tier": "starter"},
        {**snap(JAN, "d", 50.0), "plan_tier": "starter"},
        {**snap(FEB, "a", 150.0), "plan_tier": "enterprise"}, {**snap(FEB, "d", 50.0), "plan_tier": "starter"},
    ])
    first_paid = pd.Series({"a": JAN, "b": JAN, "d": JAN})
    tier = cohort_plan_tier(snapshots, first_paid)
    assert tier.to_dict() == {"a": "growth", "b": "starter", "d": "starter"}  # the tier at the cohort month
    # without January's snapshot, the earliest month-end read (a: enterprise in February)
    assert cohort_plan_tier(snapshots[snapshots["month"] == FEB], first_paid).to_dict() == {"a": "enterprise", "d": "starter"}
    channel = pd.Series({"a": "google_ads", "b": "google_ads"})  # d has no channel
    out = segmented_cohort_retention(snapshots, first_paid, {"acquisition_channel": channel, "plan_tier": tier}, [FEB], 12)
    assert list(out.columns) == COHORT_RETENTION_SEGMENTS.column_names
    rows = {(r.segment, r.segment_value): r for r in out.itertuples()}
    google = rows[("acquisition_channel", "google_ads")]
    # a and b joined in January; only a pays in February (150 of 200)
    assert (google.cohort_customers, google.active_customers, google.logo_retention) == (2, 1, 0.5)
    assert google.net_mrr_retention == pytest.approx(0.75)
    unknown = rows[("acquisition_channel", "(unknown)")]
    assert (unknown.cohort_customers, unknown.logo_retention, unknown.net_mrr_retention) == (1, 1.0, 1.0)
    starter = rows[("plan_tier", "starter")]
    # b and d started on starter: d stays (50 of 150)
    assert (starter.cohort_customers, starter.active_customers, starter.net_mrr_retention) == (2, 1, pytest.approx(50 / 150))
    growth = rows[("plan_tier", "growth")]  # a upgraded to enterprise but stays in its starting tier's cohort
    assert (growth.logo_retention, growth.net_mrr_retention) == (1.0, 1.5)
    empty = segmented_cohort_retention(snapshots.iloc[:0], pd.Series(dtype="datetime64[ns]"), {"plan_tier": tier}, [FEB], 12)
    assert empty.empty and list(empty.columns) == COHORT_RETENTION_SEGMENTS.column_names
