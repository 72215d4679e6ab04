"""The kpi_forecast asset on a warehouse holding only its inputs: the three tables it writes,
a single-run range, idempotent re-runs and its backtest metadata."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from saas_metrics.config import ForecastPolicy, Settings
from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.customer_assets import IDENTITY_LINKS
from saas_metrics.defs.partitions import partition_key
from saas_metrics.defs.revenue_assets import CUSTOMER_FIRST_PAID
from saas_metrics.defs.source_assets import stg_storage_schema
from saas_metrics.metrics.forecast_backtest import (
    FORECAST_ASSUMPTIONS,
    FORECAST_BACKTEST,
    KPI_FORECAST,
)
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics.metrics.mrr import CUSTOMER_MRR
from saas_metrics.warehouse import Warehouse

MONTHS = list(pd.date_range("2024-01-01", periods=20, freq="MS"))


def company() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three customers of MRR 100 start every month, each paying for 10 months, each won from a deal
    of ACV 1,200 created the month before (movements, snapshots, cohorts, deals, identity links)."""
    movements, snapshots, first_paid, deals, links = [], [], [], [], []
    for k, start in enumerate(MONTHS):
        for j in range(3):
            cid = f"c{k:02d}{j}"
            first_paid.append({"customer_id": cid, "first_paid_month": start})
            deals.append({"deal_id": f"d{cid}", "company_id": f"co{cid}", "created_at": start - pd.DateOffset(days=10),
                          "closed_at": start + pd.DateOffset(days=5), "stage": "closedwon", "is_closed_won": True,
                          "amount": 1200.0, "currency": "USD"})
            links.append({"customer_id": cid, "crm_company_id": f"co{cid}", "match_method": "explicit"})
            for age, month in enumerate(MONTHS[k:k + 11]):
                paying = age < 10
                movement = "new" if age == 0 else ("churn" if not paying else "unchanged")
                movements.append({"month": month, "customer_id": cid, "mrr_start": 0.0 if age == 0 else 100.0,
                                  "mrr_start_fx": 0.0 if age == 0 else 100.0, "mrr_end": 100.0 if paying else 0.0,
                                  "movement": movement, "amount": 0.0 if movement == "unchanged" else 100.0,
                                  "fx_impact": 0.0})
                if paying:
                    snapshots.append({"month": month, "customer_id": cid, "currency": "USD", "mrr_local": 100.0,
                                      "fx_rate": 1.0, "mrr": 100.0, "plan_tier": "pro" if j else "basic",
                                      "billing_interval": "month", "subscriptions": 1})
    return (pd.DataFrame(movements), pd.DataFrame(snapshots), pd.DataFrame(first_paid), pd.DataFrame(deals),
            pd.DataFrame(links))


def run_forecast(settings: Settings, start: dt.date, end: dt.date) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey("kpi_forecast")})
    return job.execute_in_process(instance=ephemeral_instance(), tags={
        "dagster/asset_partition_range_start": partition_key(start),
        "dagster/asset_partition_range_end": partition_key(end)})


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'wh.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_kpi_forecast_asset_writes_forecast_backtest_and_assumptions(url: str, tmp_path: Path) -> None:
    wh = Warehouse(url)
    movements, snapshots, first_paid, deals, links = company()
    window = (MONTHS[0].date(), (MONTHS[-1] + pd.DateOffset(months=1)).date())
    wh.replace(MRR_MOVEMENTS, movements[movements["month"] <= MONTHS[-1]], window)
    wh.replace(CUSTOMER_MRR, snapshots[snapshots["month"] <= MONTHS[-1]], window)
    wh.replace(CUSTOMER_FIRST_PAID, first_paid)
    # the CRM as exported at the last month's end: the deals of the next month's customers are open
    cut = MONTHS[-1] + pd.DateOffset(months=1)
    next_ones = pd.DataFrame([{"deal_id": f"dnext{j}", "company_id": f"conext{j}", "created_at": cut - pd.DateOffset(days=10),
                               "closed_at": cut + pd.DateOffset(days=5), "stage": "closedwon", "is_closed_won": True,
                               "amount": 1200.0, "currency": "USD"} for j in range(3)])
    deals = pd.concat([deals, next_ones], ignore_index=True)
    deals = deals[deals["created_at"] < cut].assign(
        stage=lambda d: d["stage"].where(d["closed_at"] < cut, "presentationscheduled"),
        is_closed_won=lambda d: d["closed_at"] < cut, closed_at=lambda d: d["closed_at"].where(d["closed_at"] < cut))
    wh.replace(stg_storage_schema("crm_deals"), deals)
    wh.replace(IDENTITY_LINKS, links)
    # one band per age: the churn at exactly 10 months of age is then reproduced exactly
    policy = ForecastPolicy(age_bands=list(range(11)), min_band_customer_months=10)
    settings = Settings(warehouse_url=url, sources_dir=tmp_path, start_month=MONTHS[0].date(),
                        end_month=MONTHS[-1].date(), landing_cache_dir=None, forecast=policy)
    for _ in range(2):  # a re-run replaces its months, never duplicates them
        result = run_forecast(settings, MONTHS[-2].date(), MONTHS[-1].date())
        assert result.success
    forecast = wh.read(KPI_FORECAST)
    assert sorted(forecast["as_of_month"].unique()) == MONTHS[-2:]
    assert len(forecast) == 2 * 3 * 12 * 12  # as-of months x (base + 2 default scenarios) x horizon x metrics
    base = forecast[(forecast["scenario"] == "base") & (forecast["as_of_month"] == MONTHS[-1])
                    & (forecast["metric"] == "mrr")].sort_values("month")
    # steady state since October 2024: 30 customers x 100; the forecast keeps it. The pipeline agrees:
    # the 3 deals open at the month's end (ACV 3,600) are won next month, a typical month wins 3,600,
    # and MRR per ACV is 100 / 1,200
    assert base["value"].round(6).tolist() == [3000.0] * 12
    assert base["month"].iloc[0] == MONTHS[-1] + pd.DateOffset(months=1)
    backtest = wh.read(FORECAST_BACKTEST)
    assert set(backtest["method"]) == {"forecast", "last_value", "linear_trend"}
    mape = backtest[(backtest["as_of_month"] == MONTHS[-1]) & (backtest["metric"] == "mrr")].set_index(["method", "horizon"])
    # origins: the 12th .. 19th month (backtest_min_history_months = 12); the 12th sees 8 months ahead
    assert mape.loc[("forecast", 1), "origins"] == 8
    assert mape.index.get_level_values("horizon").max() == 8
    assert mape["mape"].notna().all()
    assumptions = wh.read(FORECAST_ASSUMPTIONS)
    assert {"churn_rate", "asp", "new_customers_level", "new_mrr_pct"} <= set(assumptions["assumption"])
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert "backtest_mape_mrr" in metadata and "mape_mrr_last_value_h1" in metadata
    assert "| base | asp | all | 100 |" in metadata["assumptions"].value
    funnel = assumptions[(assumptions["as_of_month"] == MONTHS[-1]) & (assumptions["scenario"] == "base")].set_index(
        ["assumption", "band"])["value"]
    assert funnel[("funnel_weight", "all")] == 1.0  # 36 won deals in the 12-month window >= 30
    assert funnel[("open_pipeline_acv", "age 0")] == 3600.0
    assert funnel[("pipeline_conversion", "h1 age 0")] == 1.0
    assert funnel[("mrr_per_acv", "all")] == pytest.approx(1 / 12)
    assert funnel[("typical_won_acv", "all")] == pytest.approx(3600.0)
    assert metadata["assumption_funnel_weight"].value == 1.0
    assert metadata["forecast_mrr_last_month"].value == base["value"].iloc[-1]
