"""The foundation end to end on SQLite: definitions load, one partition and a range
materialise, re-running a month leaves identical tables, MRR equals the simulator's
billed ground truth, and the bridge identity holds every month."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.acquisition_assets import activation_index
from saas_metrics.metrics.cohorts import COHORT_RETENTION
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics.metrics.mrr import CUSTOMER_MRR
from saas_metrics.warehouse.store import reader_index_prefix
from saas_metrics_tests.conftest import END_MONTH, SMALL_START
from saas_metrics_tests.integration.helpers import (
    make_settings,
    read_sorted,
    run_months,
    sqlite_copy,
)

START = SMALL_START


@pytest.fixture
def full_run(small_backfill: str) -> str:
    """All 12 months as one single-run backfill into a SQLite warehouse (shared: see conftest)."""
    return small_backfill


def test_definitions_load_and_have_groups_and_partitions(small_sources: Path, tmp_path: Path) -> None:
    settings = make_settings(small_sources, f"sqlite:///{tmp_path / 'w.db'}", start=START, end=END_MONTH)
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw_billing_customers", "stg_billing_customers", "customer_mrr", "mrr_movements", "kpi_monthly"} <= keys
    job = defs.resolve_job_def("monthly_metrics_job")
    partition_keys = job.partitions_def.get_partition_keys()
    assert partition_keys[0] == "2024-07-01" and partition_keys[-1] == "2025-06-01" and len(partition_keys) == 12
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"raw_billing", "staging", "revenue", "reports"} <= groups


def test_kpi_monthly_has_every_month_and_the_bridge_holds(full_run: str) -> None:
    kpi = read_sorted(full_run, KPI_MONTHLY, ["month", "metric"])
    head = kpi[kpi["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    assert len(head) == 12
    prev = head["mrr"].shift(1)
    bridge = prev + head["new_mrr"] + head["expansion_mrr"] + head["reactivation_mrr"] - head["contraction_mrr"] - head["churned_mrr"] + head["fx_impact_mrr"]
    assert (bridge.iloc[1:] - head["mrr"].iloc[1:]).abs().max() < 0.005
    assert (head["arr"] - 12 * head["mrr"]).abs().max() < 1e-6
    assert (head["arpa"] * head["customers"] - head["mrr"]).abs().max() < 0.005


def test_mrr_equals_simulator_ground_truth(full_run: str, small_sources: Path) -> None:
    truth = pd.read_csv(small_sources / "_ground_truth" / "customer_mrr.csv", parse_dates=["month"])
    truth = truth[(truth["month"] >= pd.Timestamp(START)) & (truth["month"] <= pd.Timestamp(END_MONTH))]
    ours = read_sorted(full_run, CUSTOMER_MRR, ["month", "customer_id"])[["month", "customer_id", "currency", "mrr_local"]]
    merged = truth.merge(ours, on=["month", "customer_id"], how="outer", indicator=True, suffixes=("_truth", "_ours"))
    missing = merged[merged["_merge"] != "both"]
    assert missing.empty, missing.head(10)
    assert (merged["currency_truth"] == merged["currency_ours"]).all()
    assert (merged["mrr"] - merged["mrr_local"]).abs().max() < 0.005
    assert len(merged) > 500


def test_rerunning_a_month_leaves_identical_tables(full_run: str, small_sources: Path, tmp_path: Path) -> None:
    # A one-month run reads its history differently from the backfill (the PQL crossings computed by
    # the warehouse, only the cohorts' first months of customer_mrr): the results must not differ.
    # On a copy of the backfill: the other tests read the shared one as the backfill left it.
    full_run = sqlite_copy(full_run, tmp_path / "rerun.db")
    # The backfill left the indexes those reads go through: the PQL event's sums and the cohorts' lookups.
    indexes = _index_names(full_run)
    assert activation_index("report_created")[0] in indexes
    assert reader_index_prefix("customer_mrr", "first_months") in indexes
    identical = (CUSTOMER_MRR, MRR_MOVEMENTS, COHORT_RETENTION)
    before = {s.name: read_sorted(full_run, s, list(s.key)) for s in (*identical, KPI_MONTHLY)}
    settings = make_settings(small_sources, full_run, start=START, end=END_MONTH)
    run_months(settings, dt.date(2025, 3, 1), dt.date(2025, 3, 1))
    for schema in identical:
        after = read_sorted(full_run, schema, list(schema.key))
        pd.testing.assert_frame_equal(before[schema.name], after)
    after_kpi = read_sorted(full_run, KPI_MONTHLY, list(KPI_MONTHLY.key))
    merged = before[KPI_MONTHLY.name].merge(after_kpi, on=list(KPI_MONTHLY.key), how="outer", suffixes=("_before", "_after"), indicator=True)
    same = (merged["value_before"] == merged["value_after"]) | (merged["value_before"].isna() & merged["value_after"].isna())
    changed = merged[(merged["_merge"] != "both") | ~same]
    assert changed.empty, changed[[*KPI_MONTHLY.key, "value_before", "value_after"]].to_string()


def _index_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
    finally:
        engine.dispose()


def test_one_partition_materialises_alone(small_sources: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    settings = make_settings(small_sources, url, start=START, end=END_MONTH)
    instance = ephemeral_instance()
    run_months(settings, dt.date(2025, 1, 1), dt.date(2025, 1, 1), instance=instance)
    movements = read_sorted(url, MRR_MOVEMENTS, ["month", "customer_id"])
    assert set(movements["month"]) == {pd.Timestamp("2025-01-01")}
    assert movements.groupby(["month", "customer_id"]).size().max() == 1


def _kpi(url: str) -> pd.DataFrame:
    return read_sorted(url, KPI_MONTHLY, ["month", "metric", "segment", "segment_value"])


def test_acquisition_metrics_equal_their_definitions(full_run: str) -> None:
    kpi = _kpi(full_run)
    head = kpi[kpi["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    assert (head["sm_spend"] - (head["ad_spend"] + head["sm_expenses"])).abs().max() < 0.005
    cac = head["sm_spend"] / head["new_customers"].where(head["new_customers"] > 0)
    assert ((head["cac"] - cac).abs() < 1e-6).where(cac.notna(), head["cac"].isna()).all()
    ltv_to_cac = head["ltv"] / head["cac"]
    both = ltv_to_cac.notna()
    assert both.any() and (head["ltv_to_cac"][both] - ltv_to_cac[both]).abs().max() < 1e-9


def test_planted_linkedin_cost_shows_in_the_channel_cac_ranking(full_run: str, small_sources: Path) -> None:
    kpi = _kpi(full_run)
    channel = kpi[kpi["segment"] == "channel"].pivot_table(index="segment_value", columns="metric", values="value", aggfunc="sum")
    cost_per_customer = channel["ad_spend"] / channel["attributed_customers"]
    ranking = cost_per_customer[["google_ads", "meta_ads", "linkedin_ads"]].sort_values(ascending=False).index.tolist()
    assert ranking[0] == "linkedin_ads"
    planted = pd.read_csv(small_sources / "_ground_truth" / "channel_costs.csv").set_index("channel")
    assert ranking == planted["planted_cost_per_customer_usd"].sort_values(ascending=False).index.tolist()


def test_attribution_credits_sum_to_new_mrr_per_model_and_month(full_run: str) -> None:
    from saas_metrics.metrics.attribution import ATTRIBUTION_CREDITS, MODELS

    credits = read_sorted(full_run, ATTRIBUTION_CREDITS, ["month", "model"])
    movements = read_sorted(full_run, MRR_MOVEMENTS, ["month", "customer_id"])
    new = movements[movements["movement"] == "new"].groupby("month")["amount"].sum()
    by_model = credits.groupby(["month", "model"])["new_mrr"].sum().unstack("model")
    assert set(by_model.columns) == set(MODELS)
    for model in MODELS:
        assert (by_model[model].reindex(new.index).fillna(0) - new).abs().max() < 0.005


def test_planted_at_risk_accounts_are_flagged_before_they_churn(full_run: str, small_sources: Path) -> None:
    from saas_metrics.metrics.health import CUSTOMER_HEALTH
    from saas_metrics.metrics.usage import AT_RISK_ACCOUNTS

    planted = pd.read_csv(small_sources / "_ground_truth" / "planted_at_risk.csv", parse_dates=["collapse_month", "churn_month"])
    planted = planted[planted["collapse_month"] > pd.Timestamp(START)]  # the month before is needed for a drop
    assert len(planted) >= 2
    at_risk = read_sorted(full_run, AT_RISK_ACCOUNTS, ["month", "customer_id"])
    health = read_sorted(full_run, CUSTOMER_HEALTH, ["month", "customer_id"])
    for account in planted.itertuples(index=False):
        flagged = at_risk[(at_risk["customer_id"] == account.customer_id) & (at_risk["month"] < account.churn_month)]
        assert not flagged.empty, f"{account.customer_id} not flagged before {account.churn_month:%Y-%m}"
        bands = health[(health["customer_id"] == account.customer_id) & (health["month"] < account.churn_month)
                       & (health["month"] >= account.collapse_month)]["band"]
        assert bands.isin(["critical", "at_risk"]).any(), (account.customer_id, bands.tolist())
