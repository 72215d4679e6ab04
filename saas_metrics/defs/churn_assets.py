"""Churn reasons: thin wiring around saas_metrics.metrics.churn_reasons."""

from typing import Any

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.config import Settings
from saas_metrics.defs.common import (
    SINGLE_RUN,
    domain_defs,
    kinds_for,
    kpi_metadata,
    run_months,
    table_metadata,
)
from saas_metrics.defs.revenue_assets import kpi_table
from saas_metrics.metrics.churn_reasons import (
    CHURN_REASONS,
    churn_reason_kpis,
    churn_reasons,
    reason_candidates,
)


def build_churn_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list:
    kpi_schema = kpi_table("kpi_churn_reasons", "Churned MRR and churned customers by churn reason per month.")
    common: dict[str, Any] = {"owners": ["team:customer-success"], "kinds": kinds_for(settings), "partitions_def": partitions,
              "backfill_policy": SINGLE_RUN, "group_name": "retention"}

    @dg.asset(name="churn_reasons", metadata=table_metadata(CHURN_REASONS),
              ins={"mrr_movements": dg.AssetIn(), "subscriptions": dg.AssetIn("stg_billing_subscriptions"),
                   "companies": dg.AssetIn("stg_crm_companies"), "deals": dg.AssetIn("stg_crm_deals"),
                   "reason_rows": dg.AssetIn("stg_crm_churn_reasons"), "identity_links": dg.AssetIn()}, **common)
    def churn_reasons_asset(context: AssetExecutionContext, mrr_movements, subscriptions, companies, deals, reason_rows,
                            identity_links) -> pd.DataFrame:
        """One reason per customer that churned in the month: churn_reasons.csv, else the HubSpot company's
        churn_reason, else a lost deal's closed_lost_reason, else Stripe's cancellation_details; 'unknown'
        when none has one. See docs/guide-metrics.md#churn-reasons."""
        candidates = reason_candidates(subscriptions, companies, deals, reason_rows, identity_links)
        return churn_reasons(mrr_movements, candidates, run_months(context))

    @dg.asset(metadata=kpi_metadata(kpi_schema), ins={"churn_reasons": dg.AssetIn()}, **common)
    def kpi_churn_reasons(context: AssetExecutionContext, churn_reasons: pd.DataFrame) -> pd.DataFrame:
        """churned_mrr and churned_customers by reason (segment churn_reason; 'unknown' is its own bucket)."""
        return churn_reason_kpis(churn_reasons, run_months(context))

    return [churn_reasons_asset, kpi_churn_reasons]


def defs(settings: Settings) -> dg.Definitions:
    """Churn reasons."""
    return domain_defs(build_churn_assets, settings)
