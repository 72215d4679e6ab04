"""Cohorts by acquisition channel and by plan tier: thin wiring around metrics.cohorts."""

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.config import Settings
from saas_metrics.defs.common import (
    SINGLE_RUN,
    asset_window,
    domain_defs,
    kinds_for,
    lookback,
    run_months,
    table_metadata,
)
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.defs.revenue_assets import _first_month_snapshots
from saas_metrics.metrics.cohorts import (
    COHORT_RETENTION_SEGMENTS,
    cohort_plan_tier,
    segmented_cohort_retention,
)
from saas_metrics.metrics.mrr import CUSTOMER_MRR


def build_cohort_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list:
    policy = settings.revenue

    @dg.asset(
        group_name="retention",
        ins={"customer_first_paid": dg.AssetIn(), "customer_channels": dg.AssetIn()},
        deps=[dg.AssetDep("customer_mrr", partition_mapping=lookback(policy.cohort_max_age_months))],
        metadata=table_metadata(COHORT_RETENTION_SEGMENTS),
        partitions_def=partitions, backfill_policy=SINGLE_RUN, owners=["team:revops"], kinds=kinds_for(settings),
    )
    def cohort_retention_segments(context: AssetExecutionContext, customer_first_paid: pd.DataFrame,
                                  customer_channels: pd.DataFrame, warehouse: WarehouseResource) -> pd.DataFrame:
        """Logo and net MRR retention of each first-paid-month cohort within each acquisition channel
        (segment acquisition_channel) and each plan tier the customers started on (segment plan_tier).
        Like cohort_retention, a month's partition holds its diagonal."""
        months = run_months(context)
        first = customer_first_paid.set_index("customer_id")["first_paid_month"]
        current = warehouse.warehouse.read(CUSTOMER_MRR, asset_window(context), cache_scope=context.run.run_id)
        history = _first_month_snapshots(warehouse, months)
        snapshots = pd.concat([history, current], ignore_index=True).drop_duplicates(["month", "customer_id"])
        channel = customer_channels.drop_duplicates("customer_id").set_index("customer_id")["channel"]
        segments = {"acquisition_channel": channel, "plan_tier": cohort_plan_tier(snapshots, first)}
        return segmented_cohort_retention(snapshots, first, segments, months, policy.cohort_max_age_months)

    return [cohort_retention_segments]


def defs(settings: Settings) -> dg.Definitions:
    """Cohorts by channel and plan tier."""
    return domain_defs(build_cohort_assets, settings)
