"""The DuckDB floor's SQL on hand-made customer MRR (docs/metric-definitions.md#customer-mrr-movements)."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.bench.floor import FloorResult, compare_with_pipeline, duckdb_floor

JAN, FEB, MAR = (pd.Timestamp(f"2025-0{m}-01") for m in (1, 2, 3))


def customer_mrr() -> pd.DataFrame:
    rows = [
        # month, customer, currency, local, rate, mrr
        (JAN, "a", "USD", 100.0, 1.0, 100.0),
        (FEB, "a", "USD", 150.0, 1.0, 150.0),   # expansion 50
        (MAR, "a", "USD", 150.0, 1.0, 150.0),   # unchanged
        (JAN, "b", "EUR", 100.0, 1.1, 110.0),
        (FEB, "b", "EUR", 100.0, 1.2, 120.0),   # unchanged locally: fx impact only
        (FEB, "c", "USD", 40.0, 1.0, 40.0),     # new (first paid Feb)
        (MAR, "d", "USD", 70.0, 1.0, 70.0),     # reactivation (first paid 2024)
        (JAN, "e", "USD", 90.0, 1.0, 90.0),
        (FEB, "e", "USD", 60.0, 1.0, 60.0),     # contraction 30
    ]
    frame = pd.DataFrame(rows, columns=["month", "customer_id", "currency", "mrr_local", "fx_rate", "mrr"])
    return frame.assign(plan_tier="pro", billing_interval="month", subscriptions=1)


def first_paid() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "first_paid_month": pd.to_datetime(["2024-06-01", "2024-01-01", "2025-02-01", "2024-03-01", "2024-09-01"]),
    })


def fx_rates() -> pd.DataFrame:
    """EUR at 1.1 from Jan, 1.2 from Feb, 1.25 from 2025-03-31 (in force on March's last day)."""
    return pd.DataFrame({
        "date": pd.to_datetime(["2024-12-31", "2025-02-28", "2025-03-31", "2025-03-31"]),
        "currency": ["EUR", "EUR", "EUR", "GBP"],
        "rate_to_usd": [1.1, 1.2, 1.25, 1.3],
    })


def test_floor_classifies_each_movement_with_hand_computed_amounts() -> None:
    floor = duckdb_floor(customer_mrr(), first_paid(), fx_rates())
    got = {(r.month, r.customer_id): (r.movement, round(r.amount, 6)) for r in floor.movements.itertuples()}
    assert got == {
        (FEB, "a"): ("expansion", 50.0),
        (MAR, "a"): ("unchanged", 0.0),
        (FEB, "b"): ("unchanged", 0.0),       # 100 EUR both months: m0' = 100 x 1.2 = m1
        (MAR, "b"): ("churn", 125.0),         # churn at M's rate: m0' = 100 EUR x 1.25
        (FEB, "c"): ("new", 40.0),
        (MAR, "c"): ("churn", 40.0),
        (MAR, "d"): ("reactivation", 70.0),
        (FEB, "e"): ("contraction", 30.0),
        (MAR, "e"): ("churn", 60.0),
    }
    assert floor.seconds > 0
    totals = floor.mrr.set_index("month")
    assert totals.loc[FEB, "mrr"] == pytest.approx(370.0) and totals.loc[FEB, "customers"] == 4


def test_floor_converts_into_a_non_usd_reporting_currency_through_usd() -> None:
    mrr = customer_mrr()
    floor = duckdb_floor(mrr[mrr["customer_id"].isin(["a", "b"])], first_paid(), fx_rates(), reporting_currency="GBP")
    churn = floor.movements.set_index(["month", "customer_id"]).loc[(MAR, "b")]
    # 100 EUR at March's EUR->USD 1.25 over GBP->USD 1.3
    assert churn["movement"] == "churn" and churn["amount"] == pytest.approx(100 * 1.25 / 1.3)


def pipeline_frames(floor: FloorResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    movements = floor.movements.assign(mrr_start=floor.movements["mrr_start"], mrr_end=floor.movements["mrr_end"])
    first = pd.DataFrame({"month": [JAN], "customer_id": ["a"], "mrr_start": [0.0], "mrr_end": [100.0],
                          "movement": ["new"], "amount": [100.0]})
    kpi = pd.concat([
        pd.DataFrame({"month": floor.mrr["month"], "metric": "mrr", "segment": "all", "value": floor.mrr["mrr"]}),
        pd.DataFrame({"month": floor.mrr["month"], "metric": "customers", "segment": "all",
                      "value": floor.mrr["customers"].astype(float)}),
    ])
    return pd.concat([first, movements], ignore_index=True), kpi


def test_compare_accepts_equal_tables_and_counts_each_difference() -> None:
    floor = duckdb_floor(customer_mrr(), first_paid(), fx_rates())
    movements, kpi = pipeline_frames(floor)
    check = compare_with_pipeline(floor, movements, kpi)
    assert check.equal and check.rows_compared == 9 and check.mrr_months_compared == 3
    movements.loc[movements["customer_id"] == "e", "amount"] += 0.01          # 2 rows of e
    kpi.loc[(kpi["metric"] == "mrr") & (kpi["month"] == FEB), "value"] += 1.0
    worse = compare_with_pipeline(floor, movements, kpi)
    assert not worse.equal and worse.movement_mismatches == 2 and worse.mrr_mismatches == 1


def test_floor_fails_clearly_without_the_fx_columns() -> None:
    with pytest.raises(KeyError, match="rate_to_usd"):
        duckdb_floor(customer_mrr(), first_paid(), pd.DataFrame({"date": [], "currency": []}))
