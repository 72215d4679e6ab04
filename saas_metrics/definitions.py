"""The one Definitions object of the saas_metrics code location.

Everything is built from the typed settings (saas_metrics.config), so the UI,
the CLI and the tests load the same graph; tests build their own with
``build_definitions(Settings(...))``.
"""

from __future__ import annotations

import dagster as dg

from saas_metrics.config import Settings, get_settings
from saas_metrics.defs.acquisition_assets import ACTIVATION_COLUMNS, build_acquisition_assets
from saas_metrics.defs.alerting import build_alert_sensors
from saas_metrics.defs.automation import build_automation_sensors, build_schedules
from saas_metrics.defs.churn_assets import build_churn_assets
from saas_metrics.defs.cohort_assets import build_cohort_assets
from saas_metrics.defs.customer_assets import build_customer_assets
from saas_metrics.defs.engagement_assets import build_engagement_assets
from saas_metrics.defs.finance_assets import build_finance_assets
from saas_metrics.defs.forecast_assets import build_forecast_assets
from saas_metrics.defs.freshness import build_freshness_checks, build_freshness_schedule
from saas_metrics.defs.metric_checks import build_metric_checks
from saas_metrics.defs.partitions import monthly_partitions
from saas_metrics.defs.report_assets import build_report_assets
from saas_metrics.defs.resources import sources_resource, warehouse_resources
from saas_metrics.defs.revenue_assets import build_revenue_assets
from saas_metrics.defs.source_assets import build_source_assets
from saas_metrics.metrics.usage import USAGE_COLUMNS
from saas_metrics.runner import JOB_NAME
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.warehouse.io_manager import declared_read_columns
from saas_metrics.warehouse.store import keep_read_columns

#: The domain KPI tables that kpi_monthly unions.
KPI_SOURCES = ["kpi_revenue", "kpi_ltv", "kpi_segments", "kpi_acquisition", "kpi_funnel", "kpi_engagement"]
KPI_SOURCES += ["kpi_growth", "kpi_finance", "kpi_churn_reasons"]


def build_definitions(settings: Settings) -> dg.Definitions:
    partitions = monthly_partitions(settings)
    assets: list = []
    assets += build_source_assets(settings, partitions)
    assets += build_revenue_assets(settings, partitions)
    assets += build_customer_assets(settings)
    assets += build_acquisition_assets(settings, partitions)
    assets += build_engagement_assets(settings, partitions)
    assets += build_forecast_assets(settings, partitions)
    assets += build_finance_assets(settings, partitions)
    assets += build_cohort_assets(settings, partitions)
    assets += build_churn_assets(settings, partitions)
    assets += build_report_assets(settings, partitions, KPI_SOURCES)
    job = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(),
        partitions_def=partitions,
        description="Every asset for a month (or, as a single-run backfill, a range of months).",
        executor_def=dg.in_process_executor,
    )
    rules_file = settings.alert_rules_file
    freshness = build_freshness_checks([f"raw_{table}" for table in SCHEMAS], rules_file=rules_file, settings=settings)
    checks = [a for a in assets if isinstance(a, dg.AssetChecksDefinition)] + freshness + build_metric_checks(settings)
    # A run's read cache keeps only the columns these definitions read (not, say, the lineage
    # columns of millions of product usage rows). Product usage has no loaded input: its readers
    # read it directly, a month at a time, and these are their columns.
    usage_reads = {"stg_product_usage": frozenset(USAGE_COLUMNS) | frozenset(ACTIVATION_COLUMNS)}
    keep_read_columns({**declared_read_columns(assets + checks), **usage_reads})
    return dg.Definitions(
        # Code references: each asset's page links to the function that computes it.
        assets=dg.with_source_code_references([a for a in assets if not isinstance(a, dg.AssetChecksDefinition)]),
        asset_checks=checks,
        jobs=[job],
        # One process per run, as `saas-metrics run` does: the multiprocess default starts a process
        # per step, and each of 122 steps paid the imports (GX, pandas, Dagster) again, ten times the
        # run. Applies to every job, also the implicit one behind "Materialize" in the UI.
        executor=dg.in_process_executor,
        schedules=[*build_schedules(job, partitions), build_freshness_schedule(freshness)],
        sensors=[*build_automation_sensors(job, partitions, settings=settings), *build_alert_sensors(rules_file)],
        resources={**warehouse_resources(settings), "sources": sources_resource(settings)},
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location's Definitions, built when Dagster loads the location (``dagster dev``,
    ``dagster api grpc -m saas_metrics.definitions``, a run worker), not when the module is imported:
    the CLI and the tests import :func:`build_definitions` from here and build their own, so an
    eager module-level build was a second, unused one (about 0.7 s of every ``saas-metrics run``)."""
    return build_definitions(get_settings())
