"""The one Definitions object of the saas_metrics code location.

Everything is built from the typed settings (saas_metrics.config), so the UI,
the CLI and the tests load the same graph; tests build their own with
``build_definitions(Settings(...))``. Each domain module has a ``defs(settings)`` with its
assets (:data:`DOMAINS`); they are merged with the reports, checks, job, schedules, sensors and
resources by ``dg.Definitions.merge``.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from saas_metrics.config import Settings, get_settings
from saas_metrics.defs import (
    acquisition_assets,
    churn_assets,
    cohort_assets,
    customer_assets,
    engagement_assets,
    finance_assets,
    ingest,
    revenue_assets,
)
from saas_metrics.defs.acquisition_assets import ACTIVATION_COLUMNS
from saas_metrics.defs.alerting import build_alert_sensors
from saas_metrics.defs.automation import build_automation_sensors, build_schedules
from saas_metrics.defs.common import domain_defs, domain_kpi_assets
from saas_metrics.defs.forecast_assets import build_forecast_assets
from saas_metrics.defs.freshness import build_freshness_checks, build_freshness_schedule
from saas_metrics.defs.jobs import monthly_metrics_job
from saas_metrics.defs.metric_checks import build_metric_checks
from saas_metrics.defs.partitions import monthly_partitions
from saas_metrics.defs.report_assets import build_report_assets
from saas_metrics.defs.resources import (
    GreatExpectationsResource,
    sources_resource,
    warehouse_resources,
)
from saas_metrics.metrics.funnel import SESSION_COLUMNS
from saas_metrics.metrics.usage import USAGE_COLUMNS
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.warehouse.io_manager import TableRegistry


def _forecast_defs(settings: Settings) -> dg.Definitions:
    return domain_defs(build_forecast_assets, settings)


#: The domains, each a Definitions of its own assets; kpi_monthly unions their KPI tables in this order.
DOMAINS: tuple[Callable[[Settings], dg.Definitions], ...] = (
    ingest.defs, revenue_assets.defs, customer_assets.defs, acquisition_assets.defs, engagement_assets.defs,
    _forecast_defs, finance_assets.defs, cohort_assets.defs, churn_assets.defs,
)


def build_definitions(settings: Settings) -> dg.Definitions:
    partitions = monthly_partitions(settings)
    domains = dg.Definitions.merge(*(domain(settings) for domain in DOMAINS))
    # kpi_monthly unions the domain KPI tables the domains declare (kpi_metadata).
    reports = dg.with_source_code_references(
        build_report_assets(settings, partitions, domain_kpi_assets(domains.assets or [])))
    job = monthly_metrics_job()
    rules_file = settings.alert_rules_file
    freshness = build_freshness_checks([f"raw_{table}" for table in SCHEMAS], rules_file=rules_file, settings=settings)
    checks = freshness + build_metric_checks(settings)
    # The IO manager's tables, and the columns these definitions read of each (a run's read cache
    # keeps only those: not, say, the lineage columns of millions of product usage rows). Product
    # usage and web sessions have no loaded input: their readers read them directly, a month at a
    # time, with these columns.
    event_reads = {"stg_product_usage": [*USAGE_COLUMNS, *ACTIVATION_COLUMNS], "stg_web_sessions": SESSION_COLUMNS}
    tables = TableRegistry.from_definitions([*(domains.assets or []), *reports, *checks], extra_read_columns=event_reads)
    orchestration = dg.Definitions(
        assets=reports,
        asset_checks=checks,
        jobs=[job],
        # One process per run, as `saas-metrics run` does: the multiprocess default starts a process
        # per step, and each step paid the imports (GX, pandas, Dagster) again, ten times the run.
        # Applies to every job, also the implicit one behind "Materialize" in the UI.
        executor=dg.in_process_executor,
        schedules=[*build_schedules(job, partitions), build_freshness_schedule(freshness)],
        sensors=[*build_automation_sensors(job, partitions, settings=settings), *build_alert_sensors(rules_file)],
        resources={**warehouse_resources(settings, tables), "sources": sources_resource(settings),
                   "gx": GreatExpectationsResource(companion=settings.quality.gx_companion)},
    )
    return dg.Definitions.merge(domains, orchestration)


@dg.definitions
def defs() -> dg.Definitions:
    """The code location's Definitions, built when Dagster loads the location (``dagster dev``,
    ``dagster api grpc -m saas_metrics.definitions``, a run worker), not when the module is imported:
    the CLI and the tests import :func:`build_definitions` from here and build their own, so an
    eager module-level build would be a second, unused one paid by every ``saas-metrics run``."""
    return build_definitions(get_settings())
