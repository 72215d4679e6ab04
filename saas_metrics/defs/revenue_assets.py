"""Revenue and retention assets: thin wiring around saas_metrics.metrics.

Lineage matches the math: ``customer_mrr`` of M reads the revenue intervals
and FX; ``mrr_movements`` of M reads ``customer_mrr`` of M-1 and M (a
TimeWindowPartitionMapping with start_offset=-1); LTV reads the 6 months
before M of ``kpi_revenue``.
"""



from typing import Any

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.calendar import month_of, next_month
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
from saas_metrics.defs.partition_metadata import (
    add_metadata_per_partition,
    add_monthly_values,
    kpi_headline_metadata,
    segment_headlines,
    with_headlines,
)
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.metrics.cohorts import COHORT_RETENTION, cohort_retention
from saas_metrics.metrics.fx import with_opening_rates
from saas_metrics.metrics.invoice_revenue import build_intervals_by_engine, reconcilable_intervals
from saas_metrics.metrics.kpi import COUNT, CURRENCY, KPI_MONTHLY, kpi_frame
from saas_metrics.metrics.ltv import ltv_kpis
from saas_metrics.metrics.movements import MRR_MOVEMENTS, mrr_movements
from saas_metrics.metrics.mrr import CUSTOMER_MRR, customer_mrr_snapshots, first_paid_months
from saas_metrics.metrics.revenue_intervals import REVENUE_INTERVALS
from saas_metrics.metrics.revenue_kpis import acv_kpis, cash_kpis, cmrr_kpis, revenue_kpis
from saas_metrics.metrics.revenue_reconciliation import (
    REASONS,
    REVENUE_RECONCILIATION,
    month_ends,
    reconcile_engines,
)
from saas_metrics.metrics.segments import segment_revenue_kpis
from saas_metrics.tables import Column, TableSchema
from saas_metrics.warehouse.store import reader_index_prefix

CUSTOMER_FIRST_PAID = TableSchema(
    name="customer_first_paid",
    description="First month-end at which each customer paid (MRR > 0): the customer's cohort.",
    columns=(
        Column("customer_id", "str", nullable=False),
        Column("first_paid_month", "date"),
        Column("first_paid_at", "datetime", "start of the first interval that reached a month-end with MRR > 0"),
    ),
    key=("customer_id",),
)

PREVIOUS_MONTH = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True)


#: Segment metrics whose value per segment is charted on kpi_segments (``mrr[plan_tier=pro]``).
SEGMENT_PLOT_METRICS = ("mrr", "customers")


def kpi_table(name: str, description: str) -> TableSchema:
    """A domain's KPI rows, in the kpi_monthly shape."""
    return TableSchema(name=name, columns=KPI_MONTHLY.columns, description=description, time_column="month",
                       key=KPI_MONTHLY.key)


KPI_REVENUE_TABLE = kpi_table("kpi_revenue", "Revenue and retention KPIs (segment all) per month.")
KPI_LTV_TABLE = kpi_table("kpi_ltv", "LTV / CLV KPIs per month.")
KPI_SEGMENTS_TABLE = kpi_table("kpi_segments", "Revenue and retention KPIs by segment per month.")


def _revops(settings: Settings, partitions: dg.PartitionsDefinition | None = None) -> dict[str, Any]:
    """Owners and kinds of every revenue asset, and the monthly partitions of a partitioned one."""
    monthly = {"partitions_def": partitions, "backfill_policy": SINGLE_RUN} if partitions is not None else {}
    return {"owners": ["team:revops"], "kinds": kinds_for(settings), **monthly}

def build_revenue_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list:
    builders = (_revenue_intervals, _customer_first_paid, _customer_mrr, _mrr_movements_asset, _kpi_revenue, _kpi_ltv,
                _kpi_segments, _cohort_retention_asset)
    return [build(settings, partitions) for build in builders]


def _engine_use(engines: pd.Series, source: str) -> tuple[dict[str, int], str]:
    """How many subscriptions each revenue engine built, and (under ``auto``) the invoice-engine ones
    named, first 50: per subscription it is revenue_intervals.source, the log and metadata name them."""
    counts = engines.value_counts()
    used = {f"subscriptions_on_{engine}_engine": int(counts.get(engine, 0)) for engine in ("subscriptions", "invoices")}
    on_invoices = sorted(engines.index[engines.to_numpy() == "invoices"]) if source == "auto" else []
    named = ", ".join(on_invoices[:50]) + (f" (+{len(on_invoices) - 50} more)" if len(on_invoices) > 50 else "")
    return used, named


def _revenue_intervals(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.revenue
    currency = settings.reporting_currency
    common = _revops(settings)

    @dg.multi_asset(
        outs={
            "revenue_intervals": dg.AssetOut(group_name="revenue", description=REVENUE_INTERVALS.description,
                                             metadata=table_metadata(REVENUE_INTERVALS), **common),
            "revenue_reconciliation": dg.AssetOut(group_name="revenue", description=REVENUE_RECONCILIATION.description,
                                                  metadata=table_metadata(REVENUE_RECONCILIATION), **common),
        },
        ins={
            "customers": dg.AssetIn("stg_billing_customers"),
            "prices": dg.AssetIn("stg_billing_prices"),
            "subscriptions": dg.AssetIn("stg_billing_subscriptions"),
            "items": dg.AssetIn("stg_billing_subscription_items"),
            "status_history": dg.AssetIn("stg_billing_subscription_status_history"),
            "discounts": dg.AssetIn("stg_billing_discounts"),
            "periods": dg.AssetIn("stg_billing_subscription_periods"),
            "invoice_lines": dg.AssetIn("stg_billing_invoice_lines"),
        },
        check_specs=[dg.AssetCheckSpec("engines_agree", asset="revenue_reconciliation",
                                       description="the subscription and the invoice engine give the same MRR every customer-month")],
    )
    def revenue_intervals(context: AssetExecutionContext, customers, prices, subscriptions, items, status_history,
                          discounts, periods, invoice_lines):
        """revenue_intervals: half-open intervals over which each subscription line earns a constant MRR
        (its own currency). Line MRR = quantity x unit_amount x (1 - discount) / interval_months; trials,
        pauses, unpaid and canceled periods earn 0; past_due earns until the delinquency cut-off. Built per
        subscription by the engine ``revenue.source`` picks (item and status histories, or invoice lines and
        the current state) and/or from the periods-style import.

        revenue_reconciliation: the customer-months (to the last partition month) whose MRR differs between
        the two engines, over the subscriptions both can run; both values and the reason class.
        See docs/metrics.md#mrr.
        """
        intervals, engines = build_intervals_by_engine(customers, prices, subscriptions, items, status_history,
                                                       discounts, None, periods, invoice_lines, policy, currency)
        used, named = _engine_use(engines, policy.source)
        context.log.info(f"revenue.source={policy.source}: " + ", ".join(f"{k.split('_on_')[1]}: {v} subscription(s)" for k, v in used.items())
                         + (f"; on invoices: {named}" if named else ""))
        yield dg.Output(intervals, "revenue_intervals", metadata={"revenue_source": policy.source, **used,
                                                                   "invoice_engine_subscriptions": named or "-"})

        by_subscriptions, by_invoices = reconcilable_intervals(customers, prices, subscriptions, items, status_history,
                                                               discounts, invoice_lines, policy, currency,
                                                               built=(intervals, engines))
        months = month_ends(by_subscriptions, by_invoices, pd.Timestamp(settings.last_month))
        differences = reconcile_engines(by_subscriptions, by_invoices, months)
        reasons = differences["reason"].value_counts()
        counted = {"customer_months_differing": len(differences),
                   "reconciled_subscriptions": int(by_subscriptions["subscription_id"].nunique()),
                   **{f"reason_{r}": int(reasons.get(r, 0)) for r in REASONS}}
        yield dg.Output(differences, "revenue_reconciliation", metadata=counted)
        yield dg.AssetCheckResult(asset_key="revenue_reconciliation", check_name="engines_agree", passed=differences.empty,
                                  severity=dg.AssetCheckSeverity.WARN, metadata=counted)

    return revenue_intervals


def _customer_first_paid(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    common = _revops(settings)

    @dg.asset(group_name="revenue", metadata=table_metadata(CUSTOMER_FIRST_PAID), **common)
    def customer_first_paid(revenue_intervals: pd.DataFrame) -> pd.DataFrame:
        """Each customer's first paid month-end (cohort; new vs reactivation)."""
        first = first_paid_months(revenue_intervals).rename("first_paid_month").reset_index()
        first = first.rename(columns={"index": "customer_id"})
        paid = revenue_intervals[revenue_intervals["mrr"] > 0]
        month_end = next_month(month_of(paid["start_at"]))
        reaches = paid["end_at"].isna() | (paid["end_at"] >= month_end)
        first_at = paid[reaches].groupby("customer_id")["start_at"].min().rename("first_paid_at")
        return first.merge(first_at, left_on="customer_id", right_index=True, how="left")

    return customer_first_paid


def _customer_mrr(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    currency = settings.reporting_currency
    common = _revops(settings, partitions)

    @dg.asset(
        group_name="revenue",
        ins={"revenue_intervals": dg.AssetIn(), "fx_rates": dg.AssetIn("stg_fx_rates", partition_mapping=PREVIOUS_MONTH)},
        metadata=table_metadata(CUSTOMER_MRR),
        **common,
    )
    def customer_mrr(context: AssetExecutionContext, revenue_intervals: pd.DataFrame, fx_rates: pd.DataFrame) -> pd.DataFrame:
        """MRR of every paying customer at the last instant of the month (reporting currency and local).

        Grain: month x customer. MRR(M) = sum of line MRR active at M's last instant,
        converted at the rate in force on M's last day. See docs/metrics.md#mrr.
        """
        months = run_months(context)
        snapshots = customer_mrr_snapshots(revenue_intervals, months, fx_rates, currency)
        by_month = snapshots.groupby("month")
        add_monthly_values(context, {"mrr": by_month["mrr"].sum(), "customers": by_month["customer_id"].nunique()},
                           {"mrr": CURRENCY, "customers": COUNT}, currency)
        return snapshots

    return customer_mrr


def _mrr_movements_asset(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.revenue
    currency = settings.reporting_currency
    common = _revops(settings, partitions)

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
        **common,
    )
    def mrr_movements_asset(context: AssetExecutionContext, customer_mrr: pd.DataFrame, revenue_intervals: pd.DataFrame,
                            customer_first_paid: pd.DataFrame, fx_rates: pd.DataFrame) -> pd.DataFrame:
        """One MRR movement per customer and month: new, expansion, contraction, churn, reactivation
        or unchanged, in constant currency (both month-ends at M's rate); fx_impact separately.

        Reads customer_mrr of M-1 and M only. See docs/metric-definitions.md#customer-mrr-movements.
        """
        months = run_months(context)
        before = months[0] - pd.DateOffset(months=1)
        snapshots = customer_mrr
        if not (snapshots["month"] == before).any():
            # First partition: M-1 is not a partition, so compute its snapshot from the intervals.
            opening_fx = with_opening_rates(fx_rates, before + pd.offsets.MonthEnd(0))
            snapshots = pd.concat([customer_mrr_snapshots(revenue_intervals, [before], opening_fx, currency), snapshots])
        first_paid = customer_first_paid.set_index("customer_id")["first_paid_month"]
        movements = mrr_movements(snapshots, months, fx_rates, currency, first_paid, policy)
        return movements

    return mrr_movements_asset


def _kpi_revenue(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    currency = settings.reporting_currency
    common = _revops(settings, partitions)

    @dg.asset(
        group_name="revenue",
        ins={"mrr_movements": dg.AssetIn(), "customer_mrr": dg.AssetIn(), "revenue_intervals": dg.AssetIn(),
             "subscriptions": dg.AssetIn("stg_billing_subscriptions"),
             "payments": dg.AssetIn("stg_billing_payments"), "refunds": dg.AssetIn("stg_billing_refunds"),
             "deals": dg.AssetIn("stg_crm_deals"),
             "fx_rates": dg.AssetIn("stg_fx_rates", partition_mapping=PREVIOUS_MONTH)},
        metadata=kpi_metadata(KPI_REVENUE_TABLE),
        **common,
    )
    def kpi_revenue(context: AssetExecutionContext, mrr_movements, customer_mrr, revenue_intervals, subscriptions,
                    payments, refunds, deals, fx_rates) -> pd.DataFrame:
        """Revenue and retention KPIs per month (segment all): MRR, ARR, ARPA, ASP, ACV, the MRR
        movements and bridge, CMRR/CARR, cash collected, customer and revenue churn, NRR, GRR,
        quick ratio. Definitions: docs/metrics.md."""
        months = run_months(context)
        core = revenue_kpis(mrr_movements, customer_mrr, months)
        wide = core[core["segment"] == "all"].pivot(index="month", columns="metric", values="value")
        parts = [
            core,
            cmrr_kpis(revenue_intervals, subscriptions, months, fx_rates, currency),
            cash_kpis(payments, refunds, fx_rates, months, currency),
            acv_kpis(deals, wide.get("new_mrr", pd.Series(dtype=float)), wide.get("new_customers", pd.Series(dtype=float)),
                     fx_rates, months, currency),
        ]
        return with_headlines(context, kpi_frame(pd.concat([p for p in parts if len(p)], ignore_index=True)), currency)

    return kpi_revenue


def _kpi_ltv(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.revenue
    currency = settings.reporting_currency
    common = _revops(settings, partitions)
    ltv_window = dg.TimeWindowPartitionMapping(start_offset=-policy.ltv_churn_window_months, end_offset=0,
                                               allow_nonexistent_upstream_partitions=True)

    @dg.asset(
        group_name="retention",
        ins={"kpi_revenue": dg.AssetIn(partition_mapping=ltv_window)},
        metadata=kpi_metadata(KPI_LTV_TABLE),
        **common,
    )
    def kpi_ltv(context: AssetExecutionContext, kpi_revenue: pd.DataFrame) -> pd.DataFrame:
        """LTV = ARPA x gross margin / mean customer churn rate of the 6 months before M (ChartMogul);
        clv_simple = ARPA / churn of M; clv_annual_spend and customer_lifetime_months from one lifetime
        (revenue.clv_lifetime). Reads kpi_revenue of M-6 .. M only."""
        months = run_months(context)
        head = kpi_revenue[kpi_revenue["segment"] == "all"]
        arpa = head[head["metric"] == "arpa"].set_index("month")["value"]
        churn = head[head["metric"] == "customer_churn_rate"].set_index("month")["value"]
        return with_headlines(context, ltv_kpis(arpa, churn, months, policy), currency)

    return kpi_ltv


def _kpi_segments(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    currency = settings.reporting_currency
    common = _revops(settings, partitions)

    @dg.asset(
        group_name="retention",
        ins={"mrr_movements": dg.AssetIn(), "customer_mrr": dg.AssetIn(partition_mapping=PREVIOUS_MONTH),
             "customers": dg.AssetIn("stg_billing_customers"), "customer_channels": dg.AssetIn()},
        metadata=kpi_metadata(KPI_SEGMENTS_TABLE),
        **common,
    )
    def kpi_segments(context: AssetExecutionContext, mrr_movements, customer_mrr, customers, customer_channels) -> pd.DataFrame:
        """Headline revenue and retention metrics by plan tier, billing interval, country, currency and
        acquisition channel (revenue churn by tier = gross_mrr_churn_rate, segment plan_tier)."""
        dimension = customers[["customer_id", "country", "currency"]].merge(
            customer_channels[["customer_id", "channel"]], on="customer_id", how="left")
        kpis = segment_revenue_kpis(mrr_movements, customer_mrr, dimension, run_months(context))
        add_metadata_per_partition(context, kpi_headline_metadata(segment_headlines(kpis, SEGMENT_PLOT_METRICS), currency=currency))
        return kpis

    return kpi_segments


def _cohort_retention_asset(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.revenue
    common = _revops(settings, partitions)

    @dg.asset(
        group_name="retention",
        ins={"customer_first_paid": dg.AssetIn()},
        # The lineage spans the cohorts' ages (a multi-run backfill then orders the months), but only
        # the run's own months and each cohort's first month are read: not 36 months of customer_mrr.
        deps=[dg.AssetDep("customer_mrr", partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-policy.cohort_max_age_months, end_offset=0, allow_nonexistent_upstream_partitions=True))],
        metadata=table_metadata(COHORT_RETENTION),
        name="cohort_retention",
        **common,
    )
    def cohort_retention_asset(context: AssetExecutionContext, customer_first_paid,
                               warehouse: WarehouseResource) -> pd.DataFrame:
        """Logo and net MRR retention per first-paid-month cohort and age (0..36 months); computed
        before any segment filter; cohorts with 0 % retention are kept. A month's partition holds
        its diagonal; only the cohorts' first-month snapshots are read from history."""
        months = run_months(context)
        first = customer_first_paid.set_index("customer_id")["first_paid_month"]
        customer_mrr = warehouse.warehouse.read(CUSTOMER_MRR, asset_window(context), cache_scope=context.run.run_id)
        history = _first_month_snapshots(warehouse, months)
        snapshots = pd.concat([history, customer_mrr], ignore_index=True).drop_duplicates(["month", "customer_id"])
        return cohort_retention(snapshots, first, months, policy.cohort_max_age_months)

    return cohort_retention_asset




#: The customer_mrr index :func:`_first_month_snapshots` looks its rows up in.
FIRST_MONTH_INDEX_COLUMNS = ("month", "customer_id")


def _first_month_snapshots(warehouse: WarehouseResource, months: list[pd.Timestamp]) -> pd.DataFrame:
    """customer_mrr rows of each customer's first paid month (the cohorts' k = 0), read by a join
    in the warehouse instead of reading all history."""
    import sqlalchemy as sa

    wh = warehouse.warehouse
    if not (wh.has_table("customer_mrr") and wh.has_table("customer_first_paid")):
        return CUSTOMER_MRR.empty_frame()
    # Each (month, customer) pair is then one lookup, not a walk of every row of the months some
    # customer first paid in (all of them, in a long history). Month first: a month's write appends
    # at the index's end.
    wh.ensure_index("customer_mrr", FIRST_MONTH_INDEX_COLUMNS, name=reader_index_prefix("customer_mrr", "first_months"))
    cols = ", ".join(f'm."{c}"' for c in CUSTOMER_MRR.column_names)
    # A row-value IN, not a JOIN: SQLite looks each first-paid pair up in the index. As a JOIN without
    # the index it scanned a month of customer_mrr per customer, which grows with customers squared.
    sql = (f"SELECT {cols} FROM customer_mrr m WHERE m.month < :before "
           "AND (m.customer_id, m.month) IN (SELECT customer_id, first_paid_month FROM customer_first_paid)")
    return wh.query(sa.text(sql), CUSTOMER_MRR, CUSTOMER_MRR.column_names, {"before": months[0].date()})


def defs(settings: Settings) -> dg.Definitions:
    """Revenue and retention."""
    return domain_defs(build_revenue_assets, settings)
