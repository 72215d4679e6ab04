"""Revenue and retention assets: thin wiring around saas_metrics.metrics.

Lineage matches the math: ``customer_mrr`` of M reads the revenue intervals
and FX; ``mrr_movements`` of M reads ``customer_mrr`` of M-1 and M (a
TimeWindowPartitionMapping with start_offset=-1); LTV reads the 6 months
before M of ``kpi_revenue``.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from saas_metrics.config import Settings
from saas_metrics.defs.common import SINGLE_RUN, asset_window, kinds_for, table_metadata, window_months
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.movements import MRR_MOVEMENTS, mrr_movements
from saas_metrics.metrics.mrr import CUSTOMER_MRR, customer_mrr_snapshots, first_paid_months
from saas_metrics.metrics.revenue_intervals import REVENUE_INTERVALS, build_revenue_intervals
from saas_metrics.metrics.revenue_kpis import revenue_kpis
from saas_metrics.tables import Column, TableSchema
from saas_metrics.warehouse.io_manager import register_table

CUSTOMER_FIRST_PAID = TableSchema(
    name="customer_first_paid",
    description="First month-end at which each customer paid (MRR > 0): the customer's cohort.",
    columns=(
        Column("customer_id", "str", nullable=False),
        Column("first_paid_month", "date"),
    ),
    key=("customer_id",),
)

PREVIOUS_MONTH = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True)


def kpi_table(name: str, description: str) -> TableSchema:
    """A domain's KPI rows, in the kpi_monthly shape."""
    return register_table(name, TableSchema(name=name, columns=KPI_MONTHLY.columns, description=description,
                                            time_column="month", key=KPI_MONTHLY.key))


def build_revenue_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list:
    policy = settings.revenue
    currency = settings.reporting_currency
    register_table("revenue_intervals", REVENUE_INTERVALS)
    register_table("customer_first_paid", CUSTOMER_FIRST_PAID)
    register_table("customer_mrr", CUSTOMER_MRR)
    register_table("mrr_movements", MRR_MOVEMENTS)
    kpi_revenue_schema = kpi_table("kpi_revenue", "Revenue and retention KPIs (segment all) per month.")
    common = {"owners": ["team:revops"], "kinds": kinds_for(settings)}
    monthly = {"partitions_def": partitions, "backfill_policy": SINGLE_RUN}

    @dg.asset(
        group_name="revenue",
        ins={
            "customers": dg.AssetIn("stg_billing_customers"),
            "prices": dg.AssetIn("stg_billing_prices"),
            "subscriptions": dg.AssetIn("stg_billing_subscriptions"),
            "items": dg.AssetIn("stg_billing_subscription_items"),
            "status_history": dg.AssetIn("stg_billing_subscription_status_history"),
            "discounts": dg.AssetIn("stg_billing_discounts"),
            "periods": dg.AssetIn("stg_billing_subscription_periods"),
        },
        metadata=table_metadata(REVENUE_INTERVALS),
        **common,
    )
    def revenue_intervals(customers, prices, subscriptions, items, status_history, discounts, periods) -> pd.DataFrame:
        """Half-open intervals over which each subscription line earns a constant MRR (its own currency).

        Line MRR = quantity x unit_amount x (1 - discount) / interval_months; trials, pauses,
        unpaid and canceled periods earn 0; past_due earns until the delinquency cut-off.
        Built from the Stripe-like billing tables and/or the periods-style import.
        See docs/metrics.md#mrr.
        """
        return build_revenue_intervals(customers, prices, subscriptions, items, status_history, discounts,
                                       None, periods, policy, currency)

    @dg.asset(group_name="revenue", metadata=table_metadata(CUSTOMER_FIRST_PAID), **common)
    def customer_first_paid(revenue_intervals: pd.DataFrame) -> pd.DataFrame:
        """Each customer's first paid month-end (cohort; new vs reactivation)."""
        first = first_paid_months(revenue_intervals)
        return first.reset_index().rename(columns={"index": "customer_id"})

    @dg.asset(
        group_name="revenue",
        ins={"revenue_intervals": dg.AssetIn(), "fx_rates": dg.AssetIn("stg_fx_rates", partition_mapping=PREVIOUS_MONTH)},
        metadata=table_metadata(CUSTOMER_MRR),
        **monthly, **common,
    )
    def customer_mrr(context: dg.AssetExecutionContext, revenue_intervals: pd.DataFrame, fx_rates: pd.DataFrame) -> pd.DataFrame:
        """MRR of every paying customer at the last instant of the month (reporting currency and local).

        Grain: month x customer. MRR(M) = sum of line MRR active at M's last instant,
        converted at the rate in force on M's last day. See docs/metrics.md#mrr.
        """
        months = [pd.Timestamp(m) for m in window_months(asset_window(context))]
        snapshots = customer_mrr_snapshots(revenue_intervals, months, fx_rates, currency)
        _headline(context, snapshots.groupby("month")["mrr"].sum(), "mrr")
        return snapshots

    @dg.asset(
        group_name="revenue",
        ins={
            "customer_mrr": dg.AssetIn(partition_mapping=PREVIOUS_MONTH),
            "revenue_intervals": dg.AssetIn(),
            "customer_first_paid": dg.AssetIn(),
            "fx_rates": dg.AssetIn("stg_fx_rates", partition_mapping=PREVIOUS_MONTH),
        },
        metadata=table_metadata(MRR_MOVEMENTS),
        name="mrr_movements",
        **monthly, **common,
    )
    def mrr_movements_asset(context: dg.AssetExecutionContext, customer_mrr: pd.DataFrame, revenue_intervals: pd.DataFrame,
                            customer_first_paid: pd.DataFrame, fx_rates: pd.DataFrame) -> pd.DataFrame:
        """One MRR movement per customer and month: new, expansion, contraction, churn, reactivation
        or unchanged, in constant currency (both month-ends at M's rate); fx_impact separately.

        Reads customer_mrr of M-1 and M only. See docs/metrics.md#mrr-movements.
        """
        months = [pd.Timestamp(m) for m in window_months(asset_window(context))]
        before = months[0] - pd.DateOffset(months=1)
        snapshots = customer_mrr
        if not (snapshots["month"] == before).any():
            # First partition: M-1 is not a partition, so compute its snapshot from the intervals.
            snapshots = pd.concat([customer_mrr_snapshots(revenue_intervals, [before], fx_rates, currency), snapshots])
        first_paid = customer_first_paid.set_index("customer_id")["first_paid_month"]
        movements = mrr_movements(snapshots, months, fx_rates, currency, first_paid, policy)
        return movements

    @dg.asset(
        group_name="revenue",
        ins={"mrr_movements": dg.AssetIn(), "customer_mrr": dg.AssetIn()},
        metadata=table_metadata(kpi_revenue_schema),
        **monthly, **common,
    )
    def kpi_revenue(context: dg.AssetExecutionContext, mrr_movements: pd.DataFrame, customer_mrr: pd.DataFrame) -> pd.DataFrame:
        """Revenue and retention KPIs per month: MRR, ARR, ARPA, movements, churn rates, NRR, GRR ..."""
        months = [pd.Timestamp(m) for m in window_months(asset_window(context))]
        kpis = revenue_kpis(mrr_movements, customer_mrr, months)
        return kpis

    return [revenue_intervals, customer_first_paid, customer_mrr, mrr_movements_asset, kpi_revenue]


def _headline(context: dg.AssetExecutionContext, series: pd.Series, key: str) -> None:
    """Numeric metadata of the latest month under a stable key (the asset's Plots tab)."""
    if len(series):
        context.add_output_metadata({key: float(series.iloc[-1])})

