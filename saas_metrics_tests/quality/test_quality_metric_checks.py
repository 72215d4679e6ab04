"""Metric checks on hand-made frames (numbers computed by hand in the comments)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.metrics.kpi import wide_to_kpi
from saas_metrics.quality.metric_checks import (
    check_bridge,
    check_kpi_completeness,
    check_one_movement_per_customer_month,
    check_rate_bounds,
    check_reconciliation,
    check_sums_to,
    rate_bounds,
)


def _bridge(mrr_march: float) -> pd.DataFrame:
    # Feb 1,000.00; March = 1,000 + 200 new + 50 expansion + 25 reactivation
    #                      - 30 contraction - 100 churn - 5.50 fx = 1,139.50
    return pd.DataFrame(
        {
            "month": pd.to_datetime(["2024-02-01", "2024-03-01"]),
            "mrr": [1000.0, mrr_march],
            "new_mrr": [1000.0, 200.0],
            "expansion_mrr": [0.0, 50.0],
            "reactivation_mrr": [0.0, 25.0],
            "contraction_mrr": [0.0, 30.0],
            "churned_mrr": [0.0, 100.0],
            "fx_impact_mrr": [0.0, -5.5],
        }
    )


def test_bridge_holds_to_the_cent() -> None:
    outcome = check_bridge(_bridge(1139.50))
    assert outcome.passed
    assert outcome.metadata["months_checked"] == 1  # February has no previous month
    assert outcome.description == "MRR bridge holds to the cent for 1 month(s)"


def test_bridge_off_by_a_tenth_of_a_cent_passes() -> None:
    assert check_bridge(_bridge(1139.501)).passed


def test_bridge_off_by_one_cent_fails() -> None:
    outcome = check_bridge(_bridge(1139.51))
    assert not outcome.passed and outcome.blocking and outcome.severity == "ERROR"
    assert outcome.metadata["failures"] == [
        {"month": "2024-03-01", "mrr": 1139.51, "expected": 1139.5, "difference": pytest.approx(0.01)}
    ]


def test_bridge_reads_kpi_monthly_rows_and_skips_gaps() -> None:
    wide = _bridge(1139.51)
    units = {c: "currency" for c in wide.columns if c != "month"}
    kpis = wide_to_kpi(wide, units)
    assert not check_bridge(kpis).passed
    # a gap month: April without March is not compared with February
    gap = wide.assign(month=pd.to_datetime(["2024-02-01", "2024-04-01"]))
    assert check_bridge(gap).metadata["months_checked"] == 0


def test_bridge_needs_mrr() -> None:
    with pytest.raises(ValueError, match="missing \\['mrr'\\]"):
        check_bridge(pd.DataFrame({"month": [], "new_mrr": []}))


def test_one_movement_per_customer_month() -> None:
    movements = pd.DataFrame(
        {
            "month": pd.to_datetime(["2024-03-01", "2024-03-01", "2024-04-01"]),
            "customer_id": ["cus_1", "cus_2", "cus_1"],
            "movement": ["new", "expansion", "churn"],
        }
    )
    assert check_one_movement_per_customer_month(movements).passed
    doubled = pd.concat([movements, movements.iloc[[0]].assign(movement="upgrade")], ignore_index=True)
    outcome = check_one_movement_per_customer_month(doubled)
    assert not outcome.passed
    assert outcome.description == "1 customer-months with more than one movement; 1 rows with an unknown movement (['upgrade'])"
    assert outcome.metadata["sample"] == [{"month": "2024-03-01", "customer_id": "cus_1"}]


def test_rate_bounds() -> None:
    assert rate_bounds("customer_churn_rate") == (0.0, 1.0)
    assert rate_bounds("net_mrr_churn_rate") == (-math.inf, 1.0)
    assert rate_bounds("nrr") == (0.0, math.inf)
    assert rate_bounds("lead_velocity_rate") == (-1.0, math.inf)
    assert rate_bounds("mrr") is None
    kpis = pd.DataFrame(
        {
            "month": pd.to_datetime(["2024-03-01"] * 6),
            "metric": ["customer_churn_rate", "net_mrr_churn_rate", "nrr", "grr", "gross_mrr_churn_rate", "mrr"],
            "segment": "all",
            "segment_value": "all",
            "value": [0.05, -0.2, 1.15, math.nan, 0.0, 5000.0],
        }
    )
    ok = check_rate_bounds(kpis)
    assert ok.passed and ok.metadata["values_checked"] == 4  # NaN grr allowed, mrr not a rate
    bad = kpis.assign(value=[1.2, -0.2, -0.1, 1.0, math.inf, 5000.0])
    outcome = check_rate_bounds(bad)
    assert not outcome.passed
    assert [v["metric"] for v in outcome.metadata["sample"]] == ["customer_churn_rate", "gross_mrr_churn_rate", "nrr"]


def test_kpi_completeness() -> None:
    kpis = pd.DataFrame(
        {
            "month": pd.to_datetime(["2024-03-01", "2024-03-01", "2024-04-01", "2024-04-01"]),
            "metric": ["mrr", "nrr", "mrr", "mrr"],
            "segment": ["all", "all", "all", "plan_tier"],
            "segment_value": ["all", "all", "all", "growth"],
            "value": [100.0, math.nan, 110.0, 50.0],
        }
    )
    months = ["2024-03-01", "2024-04-01"]
    assert check_kpi_completeness(kpis, months, ["mrr"]).passed
    outcome = check_kpi_completeness(kpis, months, ["mrr", "nrr"])
    assert not outcome.passed and not outcome.blocking and outcome.severity == "WARN"
    assert outcome.metadata["sample"] == [{"month": "2024-04-01", "metric": "nrr"}]


def test_reconciliation_per_partition() -> None:
    assert check_reconciliation(10, 7, 3).passed
    lost = check_reconciliation(10, 7, 2)
    assert not lost.passed and lost.description == "1 partition(s) do not reconcile, e.g. all: raw 10 != clean 7 + quarantined 2"
    per_month = check_reconciliation({"2024-03": 5, "2024-04": 4}, {"2024-03": 4, "2024-04": 4}, {"2024-03": 1})
    assert per_month.passed and per_month.metadata["raw"] == 9
    broken = check_reconciliation({"2024-03": 5}, {"2024-03": 5}, {"2024-03": 1})
    assert broken.metadata["mismatches"] == [{"partition": "2024-03", "raw": 5, "clean": 5, "quarantined": 1, "lost": -1}]
    with pytest.raises(ValueError, match=">= 0"):
        check_reconciliation(-1, 0, 0)


def test_sums_to_total() -> None:
    # 100.00 split 33.33 + 33.33 + 33.34 (exact); 50.00 split 25 + 24.99 (off by a cent)
    credits = pd.DataFrame({"conversion_id": ["a", "a", "a", "b", "b"], "credit": [33.33, 33.33, 33.34, 25.0, 24.99]})
    totals = pd.DataFrame({"conversion_id": ["a", "b"], "value": [100.0, 50.0]})
    outcome = check_sums_to(credits, totals, keys=["conversion_id"], value="credit", total_value="value")
    assert not outcome.passed
    assert outcome.metadata["sample"] == [
        {"conversion_id": "b", "parts_sum": 49.99, "total": 50.0, "difference": pytest.approx(-0.01)}
    ]
    fixed = credits.assign(credit=[33.33, 33.33, 33.34, 25.0, 25.0])
    assert check_sums_to(fixed, totals, keys=["conversion_id"], value="credit", total_value="value").passed
    with pytest.raises(ValueError, match="parts lack column"):
        check_sums_to(credits, totals, keys=["conversion_id"], value="amount", total_value="value")
