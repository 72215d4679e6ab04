"""Product usage, customer health, at-risk accounts, support and NPS assets."""

from collections.abc import Callable
from typing import Any

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.config import Settings
from saas_metrics.defs.common import (
    SINGLE_RUN,
    asset_window,
    domain_defs,
    kinds_for,
    kpi_metadata,
    run_months,
    table_metadata,
)
from saas_metrics.defs.partition_metadata import with_headlines
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.defs.revenue_assets import PREVIOUS_MONTH, kpi_table
from saas_metrics.defs.source_assets import stg_storage_schema
from saas_metrics.metrics.health import (
    CUSTOMER_HEALTH,
    HEALTH_INPUT_COLUMNS,
    customer_health,
    health_kpis,
)
from saas_metrics.metrics.kpi import kpi_frame
from saas_metrics.metrics.nps import nps_kpis
from saas_metrics.metrics.support import SUPPORT_TICKETS_MONTHLY, support_kpis, ticket_breakdown
from saas_metrics.metrics.usage import (
    ACCOUNT_ENGAGEMENT,
    AT_RISK_ACCOUNTS,
    USAGE_ACTIVITY,
    USAGE_COLUMNS,
    at_risk_accounts,
    engagement_by_month,
    usage_floor_kpis,
    usage_kpis_from_activity,
)
from saas_metrics.warehouse.io_manager import reads

#: Open tickets older than this many months before M are not read (backlog horizon).
TICKET_HORIZON = dg.TimeWindowPartitionMapping(start_offset=-12, end_offset=0, allow_nonexistent_upstream_partitions=True)


def _usage_by_month(context: AssetExecutionContext, warehouse: WarehouseResource) -> Callable[[pd.Timestamp], pd.DataFrame]:
    """product_usage rows of one month (the columns the usage math reads): usage has millions of
    rows, so its readers go through a range a month at a time (from the run's read cache when it holds them).

    The month before the run's first (read once, for the change in activity) goes straight to the
    database: the read cache keeps one read per table, and that month's read would replace the run's
    own months, which the ingest step left there, before they are read."""
    schema, wh = stg_storage_schema("product_usage"), warehouse.warehouse
    start, end = asset_window(context)

    def usage_of(month: pd.Timestamp) -> pd.DataFrame:
        in_run = start <= pd.Timestamp(month).date() < end
        return wh.read_month(schema, month, columns=USAGE_COLUMNS, cache_scope=context.run.run_id if in_run else None)

    return usage_of



def _in_months(frame: pd.DataFrame, months: list[pd.Timestamp]) -> pd.DataFrame:
    return frame[frame["month"].isin(months)] if "month" in frame.columns else frame



def _customer_success(settings: Settings, partitions: dg.PartitionsDefinition) -> dict[str, Any]:
    """Owners, kinds and partitions of every engagement asset."""
    return {"owners": ["team:customer-success"], "kinds": kinds_for(settings), "partitions_def": partitions,
            "backfill_policy": SINGLE_RUN}

def build_engagement_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list:
    return [build(settings, partitions) for build in (
        _account_engagement_asset, _customer_health_asset, _at_risk_accounts_asset, _support_tickets_monthly, _kpi_engagement,
    )]


def _account_engagement_asset(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.engagement
    common = _customer_success(settings, partitions)
    group = {"group_name": "engagement", "owners": common["owners"], "kinds": common["kinds"]}

    @dg.multi_asset(
        outs={"account_engagement": dg.AssetOut(description=ACCOUNT_ENGAGEMENT.description,
                                                metadata=table_metadata(ACCOUNT_ENGAGEMENT), **group),
              "usage_activity": dg.AssetOut(description=USAGE_ACTIVITY.description,
                                            metadata=table_metadata(USAGE_ACTIVITY), **group)},
        deps=[dg.AssetDep("stg_product_usage", partition_mapping=PREVIOUS_MONTH)],
        ins={"identity_links": dg.AssetIn(), "customer_mrr": dg.AssetIn()},
        partitions_def=partitions, backfill_policy=SINGLE_RUN, name="account_engagement")
    def account_engagement_asset(context: AssetExecutionContext, identity_links: pd.DataFrame,
                                 customer_mrr: pd.DataFrame, warehouse: WarehouseResource):
        """account_engagement: usage per account and month (active user-days by default), its change
        vs M-1, MAU and stickiness. usage_activity: distinct active users and user-days per month over
        all accounts, counted from the same rows (the usage KPIs read it instead of the usage again).

        Reads product usage of M-1 and M, a month at a time. See docs/health.md.
        """
        result = engagement_by_month(_usage_by_month(context, warehouse), identity_links, run_months(context),
                                     policy, snapshots=customer_mrr)
        yield dg.Output(result.engagement, "account_engagement")
        yield dg.Output(result.activity, "usage_activity")

    return account_engagement_asset


def _customer_health_asset(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.engagement
    nps_lookback = dg.TimeWindowPartitionMapping(start_offset=-(policy.health_nps_lookback_months), end_offset=0,
                                                 allow_nonexistent_upstream_partitions=True)
    common = _customer_success(settings, partitions)

    @dg.asset(name="customer_health", group_name="engagement", metadata=table_metadata(CUSTOMER_HEALTH),
              ins={"engagement": dg.AssetIn("account_engagement", partition_mapping=PREVIOUS_MONTH,
                                            metadata=reads(HEALTH_INPUT_COLUMNS["engagement"])),
                   "customer_mrr": dg.AssetIn(partition_mapping=PREVIOUS_MONTH, metadata=reads(HEALTH_INPUT_COLUMNS["snapshots"])),
                   "tickets": dg.AssetIn("stg_support_tickets", partition_mapping=TICKET_HORIZON),
                   "nps": dg.AssetIn("stg_nps_responses", partition_mapping=nps_lookback, metadata=reads(HEALTH_INPUT_COLUMNS["nps"])),
                   "status_history": dg.AssetIn("stg_billing_subscription_status_history",
                                                metadata=reads(HEALTH_INPUT_COLUMNS["status_history"])),
                   "subscriptions": dg.AssetIn("stg_billing_subscriptions", metadata=reads(["subscription_id", "customer_id"])),
                   "invoices": dg.AssetIn("stg_billing_invoices", partition_mapping=PREVIOUS_MONTH,
                                          metadata=reads(HEALTH_INPUT_COLUMNS["invoices"])),
                   "payments": dg.AssetIn("stg_billing_payments", partition_mapping=PREVIOUS_MONTH,
                                          metadata=reads(HEALTH_INPUT_COLUMNS["payments"])),
                   "accounts": dg.AssetIn("stg_product_accounts", metadata=reads(HEALTH_INPUT_COLUMNS["seats"]))}, **common)
    def customer_health_asset(context: AssetExecutionContext, engagement, customer_mrr, tickets, nps, status_history,
                              subscriptions, invoices, payments, accounts) -> pd.DataFrame:
        """Health score 0-100 per paying customer and month from weighted components (usage trend 35,
        seat utilisation 20, support burden 15, NPS 15, billing health 15), each component's points
        stored; bands healthy >= 70, at risk 40-69, critical < 40. See docs/health.md.
        """
        months = run_months(context)
        history = status_history.merge(subscriptions[["subscription_id", "customer_id"]], on="subscription_id", how="left")
        health = customer_health(engagement, customer_mrr, tickets, nps, history, invoices, payments, accounts, months, policy)
        return _in_months(health, months)

    return customer_health_asset


def _at_risk_accounts_asset(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.engagement
    common = _customer_success(settings, partitions)

    @dg.asset(name="at_risk_accounts", group_name="engagement", metadata=table_metadata(AT_RISK_ACCOUNTS),
              ins={"engagement": dg.AssetIn("account_engagement"), "customer_mrr": dg.AssetIn(),
                   "health": dg.AssetIn("customer_health"), "identity_links": dg.AssetIn(),
                   "companies": dg.AssetIn("stg_crm_companies")}, **common)
    def at_risk_accounts_asset(context: AssetExecutionContext, engagement, customer_mrr, health, identity_links,
                               companies) -> pd.DataFrame:
        """Paying accounts whose usage dropped by at least the configured fraction (default 50 %) vs M-1,
        with MRR at stake, plan, health score and CRM owner."""
        owners = identity_links.merge(companies[["company_id", "owner_id"]], left_on="crm_company_id",
                                      right_on="company_id", how="inner")[["customer_id", "owner_id"]]
        return at_risk_accounts(engagement, customer_mrr, health, owners, policy)

    return at_risk_accounts_asset


def _support_tickets_monthly(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    common = _customer_success(settings, partitions)

    @dg.asset(group_name="engagement", metadata=table_metadata(SUPPORT_TICKETS_MONTHLY),
              ins={"tickets": dg.AssetIn("stg_support_tickets")}, **common)
    def support_tickets_monthly(context: AssetExecutionContext, tickets: pd.DataFrame) -> pd.DataFrame:
        """Tickets created per month, priority and weekday."""
        return ticket_breakdown(tickets, run_months(context))

    return support_tickets_monthly


def _kpi_engagement(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.engagement
    kpi_engagement_schema = kpi_table("kpi_engagement", "Usage, health, support and NPS KPIs per month.")
    common = _customer_success(settings, partitions)

    @dg.asset(group_name="engagement", metadata=kpi_metadata(kpi_engagement_schema),
              ins={"engagement": dg.AssetIn("account_engagement"), "activity": dg.AssetIn("usage_activity"),
                   "health": dg.AssetIn("customer_health"),
                   "tickets": dg.AssetIn("stg_support_tickets", partition_mapping=TICKET_HORIZON),
                   "nps": dg.AssetIn("stg_nps_responses"), "customer_mrr": dg.AssetIn()}, **common)
    def kpi_engagement(context: AssetExecutionContext, engagement, activity, health, tickets, nps,
                       customer_mrr) -> pd.DataFrame:
        """Usage (MAU, stickiness), health (share of MRR per band), support (response and resolution
        times, backlog) and NPS KPIs per month."""
        months = run_months(context)
        parts = [usage_kpis_from_activity(engagement, activity, months), health_kpis(health),
                 support_kpis(tickets, months, snapshots=customer_mrr), nps_kpis(nps, months)]
        if policy.usage_floor is not None:
            parts.append(usage_floor_kpis(engagement, customer_mrr, months, policy.usage_floor))
        kpis = kpi_frame(pd.concat([p for p in parts if len(p)], ignore_index=True)) if any(len(p) for p in parts) else kpi_frame([])
        return with_headlines(context, kpis, settings.reporting_currency)

    return kpi_engagement


def defs(settings: Settings) -> dg.Definitions:
    """Engagement: usage, health, support and NPS."""
    return domain_defs(build_engagement_assets, settings)
