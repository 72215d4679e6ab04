"""The warehouse contract's headline table: ``kpi_monthly``, the union of every domain's KPIs."""


import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.config import Settings
from saas_metrics.defs.common import (
    SINGLE_RUN,
    asset_window,
    kinds_for,
    table_metadata,
)
from saas_metrics.defs.freshness import kpi_freshness_policy
from saas_metrics.defs.partition_metadata import with_headlines
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.links import link_url
from saas_metrics.metrics.kpi import KPI_MONTHLY, kpi_frame
from saas_metrics.metrics.requirements import null_gaps, null_unavailable, unavailable_metrics
from saas_metrics.quality.gaps import SOURCE_GAPS, gaps_by_month
from saas_metrics.reports.write import write_dashboard
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.warehouse import Warehouse

#: Headline numbers emitted as numeric metadata (the Plots tab of kpi_monthly).
PLOT_METRICS = (
    "mrr", "arr", "customers", "arpa", "net_new_mrr", "customer_churn_rate", "gross_mrr_churn_rate",
    "nrr", "grr", "ltv", "cac", "ltv_to_cac", "new_customers", "leads", "nps",
)


def is_provisional_month(months: pd.Series, now: pd.Timestamp | None = None) -> pd.Series:
    """A month is provisional until it has closed (its last instant is in the past)."""
    now = now or pd.Timestamp.now(tz="UTC").tz_localize(None)
    return (months + pd.DateOffset(months=1)) > now


def build_report_assets(settings: Settings, partitions: dg.PartitionsDefinition, kpi_sources: list[str]) -> list:

    @dg.asset(
        group_name="reports",
        ins={name: dg.AssetIn(name) for name in kpi_sources},
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        owners=["team:revops"],
        kinds=kinds_for(settings),
        metadata=table_metadata(KPI_MONTHLY),
        freshness_policy=kpi_freshness_policy(settings.alert_rules_file),
    )
    def kpi_monthly(context: AssetExecutionContext, warehouse: WarehouseResource, **domain_kpis: pd.DataFrame) -> pd.DataFrame:
        """Every KPI per month x metric x segment (segment 'all' = headline): the warehouse contract
        BI tools read. Union of the domain KPI tables; rows of a month still in progress are
        provisional. Definitions: docs/metrics.md.
        """
        frames = [f for f in domain_kpis.values() if len(f)]
        kpi = kpi_frame(pd.concat(frames, ignore_index=True)) if frames else kpi_frame([])
        kpi["is_provisional"] = kpi["is_provisional"].astype(bool) | is_provisional_month(kpi["month"])
        kpi = kpi.drop_duplicates(["month", "metric", "segment", "segment_value"], keep="first")
        available = available_source_tables(warehouse.warehouse)
        missing = sorted(unavailable_metrics(available) & set(kpi["metric"]))
        if missing:
            context.log.warning(f"source data missing: NULL for {', '.join(missing)}")
        kpi = null_unavailable(kpi, available)
        gaps = gaps_by_month(warehouse.warehouse.read(SOURCE_GAPS, asset_window(context)))
        if gaps:
            context.log.warning("source gone since an earlier run: NULL for its metrics in "
                                + ", ".join(f"{m:%Y-%m} ({', '.join(sorted(t))})" for m, t in sorted(gaps.items())))
            kpi = null_gaps(kpi, available, gaps)
        return with_headlines(context, kpi, settings.reporting_currency, PLOT_METRICS)

    @dg.asset(
        group_name="reports",
        deps=["kpi_monthly", "cohort_retention", "attribution_credits", "at_risk_accounts", "kpi_forecast"],
        owners=["team:revops"],
        kinds={"html", "plotly"},
    )
    def kpi_dashboard(context: AssetExecutionContext) -> dg.MaterializeResult:
        """The KPI dashboard: one self-contained HTML file (plotly inlined, works offline) under
        data/reports/ with the MRR bridge waterfall, MRR/ARR trend, churn with NRR/GRR, CAC/LTV,
        the funnel, the cohort heatmap, attribution by model and channel, the at-risk list and the MRR
        forecast with its interval fan.
        Also written by `saas-metrics report --html`."""
        path = write_dashboard(settings)
        return dg.MaterializeResult(metadata={
            "path": dg.MetadataValue.path(str(path)),
            "url": dg.MetadataValue.url(link_url(path, settings)),  # on the docs server of `make ui`
            "size_kb": round(path.stat().st_size / 1024, 1),
        })

    return [kpi_monthly, kpi_dashboard]


def available_source_tables(wh: Warehouse) -> set[str]:
    """Canonical tables whose staging table holds at least one row (over all months)."""
    import sqlalchemy as sa

    available = set()
    with wh.engine.connect() as conn:
        for table in SCHEMAS:
            name = f"stg_{table}"
            if wh.has_table(name) and conn.execute(sa.text(f'SELECT 1 FROM "{name}" LIMIT 1')).first():
                available.add(table)
    return available
