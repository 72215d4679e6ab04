"""Metric-level asset checks: thin wiring of :mod:`saas_metrics.quality.metric_checks`.

Each check is partitioned like its asset, so it runs for one month or for the
window of a single-run backfill, and reads what it needs from the warehouse:

* ``mrr_bridge`` on ``kpi_revenue`` (blocking): mrr(M) = mrr(M-1) + new + expansion
  + reactivation - contraction - churn + fx_impact to the cent for every month of
  the window; M-1 of the window's first month is read from the warehouse (skipped
  when it was never materialised). Blocking: a broken bridge means corrupted
  revenue numbers, so kpi_monthly is not published.
* ``one_movement_per_customer_month`` on ``mrr_movements`` (blocking): a customer
  counted twice in a month double-counts its MRR movement.
* ``rate_bounds`` on ``kpi_monthly`` (WARN): churn, retention, conversion rates
  and GRR in [0, 1], NRR >= 0, ...; an odd rate is suspicious, not corrupting.
* ``headline_completeness`` on ``kpi_monthly`` (WARN): every required metric has a
  headline row (segment all) for every month of the window.
"""


import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dagster as dg
from dagster import AssetCheckExecutionContext

from saas_metrics.calendar import add_months
from saas_metrics.config import Settings
from saas_metrics.defs.check_partitions import per_partition_evaluations
from saas_metrics.defs.common import window_months
from saas_metrics.defs.partitions import monthly_partitions
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics.quality.dagster_checks import metric_check_result
from saas_metrics.quality.metric_checks import (
    BRIDGE_COLUMNS,
    check_bridge,
    check_kpi_completeness,
    check_one_movement_per_customer_month,
    check_rate_bounds,
)
from saas_metrics.quality.outcomes import CheckOutcome
from saas_metrics.tables import TableSchema
from saas_metrics.warehouse import Warehouse

#: Headline metrics kpi_monthly must carry for every month (segment all / all),
#: whatever the data: the revenue core, customer counts and retention. A NULL value
#: (undefined ratio) counts as present; a missing row does not.
REQUIRED_HEADLINE_METRICS: tuple[str, ...] = (
    *BRIDGE_COLUMNS,
    "arr",
    "arpa",
    "net_new_mrr",
    "customers",
    "new_customers",
    "churned_customers",
    "customer_churn_rate",
    "nrr",
    "grr",
    "ltv",
)

KPI_REVENUE = TableSchema(name="kpi_revenue", columns=KPI_MONTHLY.columns, time_column="month", key=KPI_MONTHLY.key)


def check_window(context: AssetCheckExecutionContext) -> tuple[dt.date, dt.date]:
    """The [start, end) months the check covers: the run's partition window."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def bridge_outcome(warehouse: Warehouse, window: tuple[dt.date, dt.date]) -> CheckOutcome:
    """The bridge of every month of ``window``, M-1 of its first month read from the warehouse."""
    rows = warehouse.read(KPI_REVENUE, (add_months(window[0], -1), window[1]))
    return check_bridge(rows, name="mrr_bridge", blocking=True)


def movements_outcome(warehouse: Warehouse, window: tuple[dt.date, dt.date]) -> CheckOutcome:
    movements = warehouse.read(MRR_MOVEMENTS, window, columns=["month", "customer_id", "movement"])
    return check_one_movement_per_customer_month(movements, name="one_movement_per_customer_month", blocking=True)


def rate_bounds_outcome(warehouse: Warehouse, window: tuple[dt.date, dt.date]) -> CheckOutcome:
    return check_rate_bounds(warehouse.read(KPI_MONTHLY, window), name="rate_bounds", blocking=False)


def completeness_outcome(warehouse: Warehouse, window: tuple[dt.date, dt.date]) -> CheckOutcome:
    return check_kpi_completeness(
        warehouse.read(KPI_MONTHLY, window), window_months(window), REQUIRED_HEADLINE_METRICS,
        name="headline_completeness", blocking=False,
    )


@dataclass(frozen=True)
class MetricCheckSpec:
    asset: str
    name: str
    blocking: bool
    description: str
    outcome: Callable[[Warehouse, tuple[dt.date, dt.date]], CheckOutcome]


METRIC_CHECK_SPECS = (
    MetricCheckSpec("kpi_revenue", "mrr_bridge", True,
                    "mrr(M) = mrr(M-1) + new + expansion + reactivation - contraction - churn + fx_impact, "
                    "to the cent (0.005), for every month of the window (M-1 read from the warehouse).",
                    bridge_outcome),
    MetricCheckSpec("mrr_movements", "one_movement_per_customer_month", True,
                    "Exactly one row per (month, customer_id) and a known movement name.",
                    movements_outcome),
    MetricCheckSpec("kpi_monthly", "rate_bounds", False,
                    "Rates within their bounds: churn/retention/conversion rates and GRR in [0, 1], NRR >= 0, "
                    "net MRR churn <= 1, growth rates >= -1; NULL allowed, infinity never.",
                    rate_bounds_outcome),
    MetricCheckSpec("kpi_monthly", "headline_completeness", False,
                    f"Every required headline metric ({', '.join(REQUIRED_HEADLINE_METRICS)}) has a segment 'all' "
                    "row for every month of the window (NULL values count as present).",
                    completeness_outcome),
)


def build_metric_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    """The four metric checks (see the module docstring), partitioned like the metric assets."""
    partitions = monthly_partitions(settings)
    return [_metric_check(spec, partitions) for spec in METRIC_CHECK_SPECS]


def _metric_check(spec: MetricCheckSpec, partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    # Dagster runs a check that yields one evaluation per partition, but types the function as
    # returning a single AssetCheckResult.
    @dg.asset_check(asset=spec.asset, name=spec.name, blocking=spec.blocking, partitions_def=partitions,  # type: ignore[arg-type]
                    description=spec.description)
    def check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[object]:
        wh = warehouse.warehouse
        yield from per_partition_evaluations(
            context, spec.asset, spec.name, spec.blocking,
            lambda window: metric_check_result(spec.outcome(wh, window), spec.asset, window=window),
        )

    return check
