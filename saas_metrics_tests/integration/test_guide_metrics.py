"""The guides' metrics end to end on the simulated company (SQLite, 12 months): every new metric
is in kpi_monthly each month, NULL exactly where its inputs are missing; the planted churn
reasons and ticket topics are found; the CLV forms agree."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.metrics.churn_reasons import CHURN_REASONS
from saas_metrics.metrics.health import CUSTOMER_HEALTH
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics_tests.conftest import SMALL_START
from saas_metrics_tests.integration.helpers import read_sorted

START = SMALL_START
#: metric -> months (0-based from START) at whose start it is still NULL for want of history
HISTORY_NEEDED = {
    "mrr_growth_rate": 1, "cmgr_3m": 3, "cmgr_6m": 6, "arr_per_customer": 0,
    "cash_balance": 0, "operating_expenses": 0, "net_burn": 0, "runway_months": 2, "magic_number": 5,
    "operating_margin": 0, "cac_fully_loaded": 0, "sm_spend_fully_loaded": 0, "mql_to_sql_rate": 0,
    "pipeline_value": 0, "weighted_pipeline_value": 0, "open_deals": 0, "first_response_hours_mean": 0,
    "resolution_hours_mean": 0, "accounts_below_usage_floor": 0, "accounts_with_risky_ticket_topics": 0,
}
#: need 12 months before M: NULL over a 12-month history
NEVER_IN_A_YEAR = ("cmgr_12m", "arr_growth_rate_yoy", "rule_of_40")


@pytest.fixture(scope="module")
def run(small_backfill: str) -> str:
    """small_sources' 12 months from START as one backfill (shared with test_pipeline_sqlite.py: see conftest)."""
    return small_backfill


@pytest.fixture(scope="module")
def headline(run: str) -> pd.DataFrame:
    kpi = read_sorted(run, KPI_MONTHLY, ["month", "metric", "segment", "segment_value"])
    return kpi[kpi["segment"] == "all"].pivot(index="month", columns="metric", values="value")


def test_new_metrics_are_defined_once_their_inputs_exist(headline: pd.DataFrame) -> None:
    assert len(headline) == 12
    for metric, first in HISTORY_NEEDED.items():
        values = headline[metric]
        assert values.iloc[:first].isna().all(), metric
        assert values.iloc[first:].notna().all(), metric
    for metric in NEVER_IN_A_YEAR:
        assert headline[metric].isna().all(), metric
    # undefined where the denominator is 0: no churn (infinite lifetime), no net new ARR
    assert (headline["customer_lifetime_months"].isna() == (headline["customer_churn_rate"] == 0)).all()
    assert (headline["burn_multiple"].isna() == (headline["net_new_mrr"] <= 0)).all()


def test_clv_forms_agree_and_fully_loaded_cac_is_at_least_cac(headline: pd.DataFrame) -> None:
    both = headline[["clv_simple", "clv_annual_spend"]].dropna()
    assert len(both) >= 6
    assert (both["clv_simple"] - both["clv_annual_spend"]).abs().max() < 1e-6
    cac = headline[["cac", "cac_fully_loaded"]].dropna()
    assert (cac["cac_fully_loaded"] > cac["cac"]).all()  # the simulated ledger has G&A every month


def test_planted_churn_reasons_are_found(run: str, small_sources: Path) -> None:
    reasons = read_sorted(run, CHURN_REASONS, ["month", "customer_id"])
    truth = pd.read_csv(small_sources / "_ground_truth" / "planted_churn_reasons.csv", parse_dates=["ended_at"])
    truth = truth.assign(month=truth["ended_at"].dt.to_period("M").dt.to_timestamp())
    matched = reasons.merge(truth, on=["month", "customer_id"], suffixes=("", "_planted"))
    assert len(matched) >= 0.8 * len(reasons) and len(matched) >= 10
    assert (matched["reason"] == matched["reason_planted"]).all()
    assert {"unknown", "unused"} <= set(reasons["reason"])
    kpi = read_sorted(run, KPI_MONTHLY, ["month", "metric"])
    by_reason = kpi[(kpi["segment"] == "churn_reason") & (kpi["metric"] == "churned_mrr")].groupby("month")["value"].sum()
    total = kpi[(kpi["segment"] == "all") & (kpi["metric"] == "churned_mrr")].set_index("month")["value"]
    assert (by_reason - total.reindex(by_reason.index)).abs().max() < 0.01


def test_planted_ticket_topics_reach_health(run: str, small_sources: Path) -> None:
    health = read_sorted(run, CUSTOMER_HEALTH, ["month", "customer_id"])
    planted = pd.read_csv(small_sources / "_ground_truth" / "planted_ticket_topics.csv")
    planted = planted.assign(month=pd.to_datetime(planted["created_at"]).dt.tz_localize(None).dt.to_period("M").dt.to_timestamp())
    scored = planted.merge(health, on=["month", "customer_id"])
    assert len(scored) >= 1
    for row in scored.itertuples(index=False):
        assert row.topic in str(row.risky_ticket_topics).split(","), row
        assert row.support_burden_points == 0.0
