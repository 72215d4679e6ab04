"""Acquisition assets: unified ad spend, attribution and the CAC family."""

import datetime as dt
import hashlib
from typing import Any

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.calendar import add_months, month_of
from saas_metrics.config import Settings
from saas_metrics.defs.common import (
    SINGLE_RUN,
    asset_window,
    domain_defs,
    kinds_for,
    kpi_metadata,
    lookback,
    run_months,
    table_metadata,
    window_months,
)
from saas_metrics.defs.partition_metadata import with_headlines
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.defs.revenue_assets import PREVIOUS_MONTH, kpi_table
from saas_metrics.defs.source_assets import CLEAN_ROWS, raw_storage_schema, stg_storage_schema
from saas_metrics.metrics.ad_spend import AD_SPEND_STAGED, ad_platform_kpis, stage_ad_spend
from saas_metrics.metrics.attribution import (
    ATTRIBUTION_CREDITS,
    TOUCHPOINT_COLUMNS,
    attribute,
    attribution_sums_check,
)
from saas_metrics.metrics.cac import cac_kpis, without_spend_data
from saas_metrics.metrics.demos import demo_kpis
from saas_metrics.metrics.funnel import SESSION_COLUMNS, VisitorCounts, first_reached, funnel_kpis
from saas_metrics.metrics.kpi import kpi_frame
from saas_metrics.metrics.pipeline import pipeline_kpis
from saas_metrics.metrics.trials import trial_kpis
from saas_metrics.tables import with_month
from saas_metrics.warehouse import Warehouse
from saas_metrics.warehouse.io_manager import COLUMNS_METADATA_KEY
from saas_metrics.warehouse.store import reader_index_prefix, sql_string

#: The product usage columns :func:`activation_crossings` reads (from the run's read cache when it can).
ACTIVATION_COLUMNS = ("date", "account_id", "event_name", "event_count")
#: The columns of the activation index (:func:`activation_index`), in its order: every column the
#: sums read, so the database reads no row of the table. Date first: the sums before a date are a
#: range of it, and a month run's rows are its newest entries, so replacing the latest month deletes
#: and appends at its end. An index led by the account takes each written row in a random place,
#: which cost the month's usage write more than the sums saved (docs/benchmark.md).
ACTIVATION_INDEX_COLUMNS = ("date", "account_id", "event_count")


def activation_index(event: str) -> tuple[str, str, str]:
    """(index name, its WHERE, the name prefix of every such index) of the partial index over the clean
    product usage rows of ``event``, on the table behind the staging view. The name carries a digest
    of the event, so a changed ``acquisition.pql_event`` gets an index of its own."""
    prefix = reader_index_prefix(raw_storage_schema("product_usage").name, "pql_")
    digest = hashlib.sha256(event.encode()).hexdigest()[:12]
    return prefix + digest, f'"event_name" = {sql_string(event)} AND {CLEAN_ROWS}', prefix


def activation_crossings(wh: Warehouse, event: str, threshold: int, window: tuple[dt.date, dt.date],
                         run_id: str | None = None) -> pd.DataFrame:
    """The product accounts whose cumulative count of ``event`` (over their whole history) first
    reached ``threshold`` on a day of ``window`` (month starts, end exclusive), by
    :func:`saas_metrics.metrics.funnel.first_reached`: a PQL is an account reaching N such events
    for the FIRST time, which needs each account's history.

    The history is not read row by row: the warehouse sums each account's count before the window
    (one row per account, about 11,000 instead of 438,000 at 10,000 customers over 36 months), and
    the window is gone through a month at a time, each month's counts carried into the next, so a
    backfill holds one month of usage, not the range's (from the run's read cache when it holds
    them; a backfill whose cache holds every month from the first takes all of it from there).

    The sums come from a partial index of the event's clean rows (:func:`activation_index`, made by
    the first run that reads the crossings, a backfill included), not from a scan of every usage
    row: the history's other events are most of the table, and the index holds the sums' columns,
    so the database reads the index alone. Its WHERE and the query's name the event as a literal,
    as a partial index requires."""
    import sqlalchemy as sa

    schema = stg_storage_schema("product_usage")
    columns = list(ACTIVATION_COLUMNS)
    first = wh.first_month(schema.name) if wh.has_table(schema.name) else None
    if first is None:
        return schema.empty_frame()[columns]
    start, end = window
    t = wh.sa_table(schema)
    from_cache = bool(run_id) and first < end and wh.cached(schema, (first, end), columns, str(run_id)) is not None
    begin = min(first, start) if from_cache else start
    raw = raw_storage_schema("product_usage").name
    if wh.has_table(raw):  # the staging view's table (a staging table of its own has no quarantine column)
        # Also when this run needs no sums (a backfill from its cache): made after the run's usage
        # was written, in one sort, it is there for the next month's run.
        name, where_sql, prefix = activation_index(event)
        wh.ensure_index(raw, ACTIVATION_INDEX_COLUMNS, name=name, where_sql=where_sql, replacing=prefix)
    prior = pd.Series(dtype="int64")
    if begin > first:
        prior_rows = wh.query(
            sa.select(t.c["account_id"], sa.cast(sa.func.sum(t.c["event_count"]), sa.BigInteger).label("event_count"))
            .where(t.c["event_name"] == sa.literal_column(sql_string(event)), t.c["date"] < begin)
            .group_by(t.c["account_id"]),
            schema, ["account_id", "event_count"])
        prior = prior_rows.set_index("account_id")["event_count"]
    found = []
    for month in window_months((begin, end)):
        month_window = (month, add_months(month, 1))
        rows = wh.cached(schema, month_window, columns, run_id) if run_id else None
        if rows is None:
            rows = wh.read(schema, month_window, where=t.c["event_name"] == event, columns=columns)
        rows = rows[((rows["event_name"] == event) & (rows["date"] < pd.Timestamp(end))).to_numpy()]
        reached = first_reached(rows, event, threshold, prior)
        found.append(reached[(reached["date"] >= pd.Timestamp(start)).to_numpy()])
        prior = prior.add(rows.groupby("account_id")["event_count"].sum(), fill_value=0)
    return pd.concat(found, ignore_index=True)[columns] if found else schema.empty_frame()[columns]


def visitor_counts(wh: Warehouse, window: tuple[dt.date, dt.date], run_id: str | None = None) -> VisitorCounts:
    """The funnel's unique visitors of ``window``, from the web sessions read a month at a time (from
    the run's read cache when it holds them): a backfill holds one month of sessions, not the range's."""
    schema = stg_storage_schema("web_sessions")
    if not wh.has_table(schema.name):
        return VisitorCounts.concat([])
    return VisitorCounts.concat([
        VisitorCounts.of(wh.read_month(schema, month, columns=list(SESSION_COLUMNS), cache_scope=run_id))
        for month in window_months(window)])


def _metric_by_month(kpis: pd.DataFrame, metric: str) -> pd.Series:
    rows = kpis[(kpis["metric"] == metric) & (kpis["segment"] == "all")]
    return rows.set_index("month")["value"]



def _marketing(settings: Settings, partitions: dg.PartitionsDefinition) -> dict[str, Any]:
    """Owners, kinds, group and partitions of every acquisition asset."""
    return {"owners": ["team:marketing"], "kinds": kinds_for(settings), "partitions_def": partitions,
            "backfill_policy": SINGLE_RUN, "group_name": "acquisition"}

def build_acquisition_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list:
    return [build(settings, partitions) for build in (
        _ad_spend_daily, _attribution_credits, _kpi_acquisition, _kpi_funnel,
    )]


def _ad_spend_daily(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    currency = settings.reporting_currency
    ad_spend_schema = with_month(AD_SPEND_STAGED, "ad_spend_daily")
    common = _marketing(settings, partitions)

    @dg.asset(metadata=table_metadata(ad_spend_schema),
              ins={"ad_spend": dg.AssetIn("stg_ad_spend"), "fx_rates": dg.AssetIn("stg_fx_rates", partition_mapping=PREVIOUS_MONTH)},
              **common)
    def ad_spend_daily(ad_spend: pd.DataFrame, fx_rates: pd.DataFrame) -> pd.DataFrame:
        """Google, Meta and LinkedIn Ads daily campaign spend in one schema, converted to the
        reporting currency at the spend date's rate. Platform conversions stay per platform."""
        staged = stage_ad_spend(ad_spend, fx_rates, currency)
        return staged.assign(month=month_of(staged["date"]))

    return ad_spend_daily


def _attribution_credits(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.acquisition
    touch_months = -(-(policy.attribution_lookback_days or 365) // 28)  # ceil(days / 28)
    common = _marketing(settings, partitions)

    @dg.asset(metadata=table_metadata(ATTRIBUTION_CREDITS),
              ins={"mrr_movements": dg.AssetIn(),
                   "touchpoints": dg.AssetIn("stg_crm_touchpoints", partition_mapping=lookback(touch_months),
                                             metadata={COLUMNS_METADATA_KEY: list(TOUCHPOINT_COLUMNS)}),
                   "contacts": dg.AssetIn("stg_crm_contacts"), "deals": dg.AssetIn("stg_crm_deals"),
                   "identity_links": dg.AssetIn(), "customer_first_paid": dg.AssetIn()},
              check_specs=[dg.AssetCheckSpec("credits_sum_to_new_mrr", asset="attribution_credits", blocking=True,
                                             description="Per model and month, credits sum to the new MRR to the cent")],
              **common)
    def attribution_credits(context: AssetExecutionContext, mrr_movements, touchpoints, contacts, deals,
                            identity_links, customer_first_paid):
        """New MRR (and a count of 1 per customer) of the customers new in M, credited to their
        touchpoints up to the first paid date by six models: first_touch, last_touch, linear,
        u_shaped (40/20/40), w_shaped (30/30/30/10) and time_decay (7-day half-life).
        Grain: month x model x channel x campaign. See docs/metric-definitions.md#attribution."""
        new = mrr_movements[mrr_movements["movement"] == "new"]
        credits = attribute(new, touchpoints, contacts, deals, identity_links, policy, first_paid=customer_first_paid)
        check = attribution_sums_check(credits, mrr_movements)
        bad = check[~check["ok"]] if "ok" in check.columns else check.iloc[0:0]
        yield dg.Output(credits, metadata={"dagster/row_count": len(credits)})
        yield dg.AssetCheckResult(passed=bad.empty, check_name="credits_sum_to_new_mrr",
                                  metadata={"months_models_checked": len(check), "failures": len(bad)})

    return attribution_credits


def _kpi_acquisition(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.acquisition
    currency = settings.reporting_currency
    lag = lookback(policy.cac_lag_months)
    kpi_acq_schema = kpi_table("kpi_acquisition", "CAC, payback, LTV:CAC, ROAS and per-platform ad KPIs per month.")
    common = _marketing(settings, partitions)

    @dg.asset(metadata=kpi_metadata(kpi_acq_schema),
              ins={"ad_spend_daily": dg.AssetIn(partition_mapping=lag),
                   "expenses": dg.AssetIn("stg_finance_expenses", partition_mapping=lag),
                   "fx_rates": dg.AssetIn("stg_fx_rates", partition_mapping=lookback(policy.cac_lag_months + 1)),
                   "mrr_movements": dg.AssetIn(), "customer_channels": dg.AssetIn(),
                   "attribution_credits": dg.AssetIn(), "kpi_revenue": dg.AssetIn(), "kpi_ltv": dg.AssetIn()},
              **common)
    def kpi_acquisition(context: AssetExecutionContext, ad_spend_daily, expenses, fx_rates, mrr_movements,
                        customer_channels, attribution_credits, kpi_revenue, kpi_ltv) -> pd.DataFrame:
        """sm_spend, ad_spend, cac (blended), paid_cac, CAC/ROAS/traffic ROI by channel and by
        attribution model, cac_payback_months, ltv_to_cac; per-platform ad KPIs.
        Spend of M-k divides customers of M (k = cac_lag_months)."""
        months = run_months(context)
        kpis = cac_kpis(ad_spend_daily, expenses, fx_rates, mrr_movements, customer_channels, attribution_credits,
                        _metric_by_month(kpi_ltv, "ltv"), _metric_by_month(kpi_revenue, "asp"), months, policy,
                        currency, gross_margin=settings.revenue.gross_margin)
        if ad_spend_daily.empty and expenses.empty:
            context.log.warning("no ad spend and no S&M expenses at all: spend-based metrics are NULL")
            kpis = without_spend_data(kpis)
        platform = ad_platform_kpis(ad_spend_daily[ad_spend_daily["month"].isin(months)], months)
        return with_headlines(context, kpi_frame(pd.concat([kpis, platform], ignore_index=True)), currency)

    return kpi_acquisition


def _kpi_funnel(settings: Settings, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    policy = settings.acquisition
    currency = settings.reporting_currency
    common = _marketing(settings, partitions)
    usage_deps = [dg.AssetDep("stg_product_usage", partition_mapping=lookback(120)), dg.AssetDep("stg_web_sessions")]
    kpi_funnel_schema = kpi_table("kpi_funnel", "Funnel, trial and demo KPIs per month.")

    @dg.asset(metadata=kpi_metadata(kpi_funnel_schema), deps=usage_deps,
              ins={"contacts": dg.AssetIn("stg_crm_contacts"),
                   "forms": dg.AssetIn("stg_crm_form_submissions", partition_mapping=lookback(3)),
                   "meetings": dg.AssetIn("stg_crm_meetings"),
                   "accounts": dg.AssetIn("stg_product_accounts"),
                   "customers": dg.AssetIn("stg_billing_customers"),
                   "mrr_movements": dg.AssetIn(), "customer_first_paid": dg.AssetIn(), "identity_links": dg.AssetIn(),
                   "deals": dg.AssetIn("stg_crm_deals"),
                   "fx_rates": dg.AssetIn("stg_fx_rates", partition_mapping=PREVIOUS_MONTH)},
              **common)
    def kpi_funnel(context: AssetExecutionContext, contacts, forms, meetings, accounts, customers,
                   mrr_movements, customer_first_paid, identity_links, deals, fx_rates,
                   warehouse: WarehouseResource) -> pd.DataFrame:
        """Unique visitors, leads, MQLs, SQLs, PQLs, signups, lead velocity, lead-to-customer (cohort
        form, provisional until its N-day window has passed, and period form), visit-to-lead,
        trial-to-paid, demo-to-paid by demo type, viral coefficient, MQL -> SQL -> customer and PQL -> paid,
        open and stage-weighted pipeline. See docs/metric-definitions.md#funnel."""
        months = run_months(context)
        as_of = pd.Timestamp.now(tz="UTC").tz_localize(None)
        usage = activation_crossings(warehouse.warehouse, policy.pql_event, policy.pql_event_count,
                                     asset_window(context), context.run.run_id)
        sessions = visitor_counts(warehouse.warehouse, asset_window(context), context.run.run_id)
        forms_now = forms[month_of(forms["submitted_at"]).isin(months)]
        parts = [
            funnel_kpis(sessions, contacts, forms_now, accounts, usage, mrr_movements, customer_first_paid,
                        identity_links, months, as_of, policy, billing_customers=customers),
            trial_kpis(forms_now, accounts, customer_first_paid, identity_links, months, as_of, policy),
            demo_kpis(meetings, forms, customer_first_paid, identity_links, months, as_of, policy, contacts=contacts),
            pipeline_kpis(deals, fx_rates, months, policy, currency),
        ]
        kpis = kpi_frame(pd.concat([p for p in parts if len(p)], ignore_index=True)) if any(len(p) for p in parts) else kpi_frame([])
        return with_headlines(context, kpis, currency)

    return kpi_funnel


def defs(settings: Settings) -> dg.Definitions:
    """Acquisition: ad spend, attribution, CAC and the funnel."""
    return domain_defs(build_acquisition_assets, settings)
