"""DashboardData coercion and loading the dashboard's tables from a warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.reports.data import (
    DashboardData,
    headline_wide,
    latest_month,
    load_dashboard_data,
    provisional_cells,
    provisional_months,
)
from saas_metrics.warehouse import Warehouse


def test_frames_are_coerced_to_typed_columns() -> None:
    data = DashboardData(kpi_monthly=pd.DataFrame({"month": ["2025-02-01"], "metric": ["mrr"], "value": ["12.5"]}))
    kpi = data.kpi_monthly
    assert list(kpi.columns) == KPI_MONTHLY.column_names
    assert kpi["month"].iloc[0] == pd.Timestamp("2025-02-01") and kpi["value"].iloc[0] == 12.5
    assert (kpi["segment"].iloc[0], kpi["segment_value"].iloc[0]) == ("all", "all")
    assert data.cohort_retention.empty and "logo_retention" in data.cohort_retention.columns


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"kpi_monthly is missing required column\(s\) \['metric'\]"):
        DashboardData(kpi_monthly=pd.DataFrame({"month": ["2025-01-01"], "value": [1.0]}))
    with pytest.raises(TypeError, match="at_risk_accounts: expected a pandas DataFrame, got list"):
        DashboardData(at_risk_accounts=[{"month": "2025-01-01"}])  # type: ignore[arg-type]  # the wrong type on purpose


def test_latest_month_is_the_last_with_mrr_and_provisional_flag() -> None:
    kpi = DashboardData(kpi_monthly=pd.DataFrame({
        "month": ["2025-01-01", "2025-02-01", "2025-03-01"],
        "metric": ["mrr", "mrr", "leads"],
        "value": [1.0, 2.0, 3.0],
        "is_provisional": [False, True, False],
    })).kpi_monthly
    assert latest_month(headline_wide(kpi)) == pd.Timestamp("2025-02-01")
    assert provisional_months(kpi) == {pd.Timestamp("2025-02-01")}
    assert latest_month(headline_wide(DashboardData().kpi_monthly)) is None


def test_provisional_cells_are_headline_rows_per_metric() -> None:
    kpi = DashboardData(kpi_monthly=pd.DataFrame({
        "month": ["2025-01-01", "2025-02-01", "2025-02-01", "2025-02-01"],
        "metric": ["trial_to_paid_rate", "mrr", "cac", "mrr"],
        "segment": ["all", "all", "all", "plan_tier"], "segment_value": ["all", "all", "all", "pro"],
        "value": [0.326, 2.0, 3.0, 1.0],
        "is_provisional": [True, False, True, True],  # the plan_tier row is no headline
    })).kpi_monthly
    assert provisional_cells(kpi) == {(pd.Timestamp("2025-01-01"), "trial_to_paid_rate"), (pd.Timestamp("2025-02-01"), "cac")}


def kpi_rows(months: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"month": pd.to_datetime(months), "metric": "mrr", "segment": "all",
                         "segment_value": "all", "value": range(1, len(months) + 1), "unit": "currency",
                         "is_provisional": False})


def test_load_reads_the_trailing_window_and_tolerates_missing_tables(tmp_path: Path) -> None:
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    assert load_dashboard_data(warehouse).kpi_monthly.empty  # nothing written yet

    warehouse.replace(KPI_MONTHLY, kpi_rows(["2024-11-01", "2024-12-01", "2025-01-01", "2025-02-01"]))
    pd.DataFrame({
        "month": [dt.date(2024, 12, 1), dt.date(2025, 2, 1)], "customer_id": ["c1", "c2"],
        "mrr": [10.0, 20.0], "band": ["critical", "at_risk"], "email": ["x@y.z", "q@y.z"],
    }).to_sql("at_risk_accounts", warehouse.engine, index=False)
    pd.DataFrame({
        "cohort_month": [dt.date(2024, 11, 1), dt.date(2025, 1, 1)], "age_months": [0, 0],
        "cohort_customers": [5, 4], "active_customers": [5, 4], "logo_retention": [1.0, 1.0],
    }).to_sql("cohort_retention", warehouse.engine, index=False)

    data = load_dashboard_data(warehouse, months=2, currency="EUR")
    assert data.currency == "EUR"
    assert data.kpi_monthly["month"].tolist() == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")]
    assert data.kpi_monthly["value"].tolist() == [3.0, 4.0]
    assert data.at_risk_accounts["customer_id"].tolist() == ["c2"]
    assert "email" not in data.at_risk_accounts.columns
    assert data.cohort_retention["cohort_month"].tolist() == [pd.Timestamp("2025-01-01")]
    assert data.attribution_credits.empty  # table does not exist
    with pytest.raises(ValueError, match="months must be >= 1"):
        load_dashboard_data(warehouse, months=0)
