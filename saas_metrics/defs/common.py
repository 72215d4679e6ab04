"""Small helpers shared by the asset modules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import dagster as dg
import pandas as pd

from saas_metrics.config import Settings
from saas_metrics.defs.partitions import monthly_partitions
from saas_metrics.tables import TableSchema
from saas_metrics.warehouse.io_manager import table_metadata

SINGLE_RUN = dg.BackfillPolicy.single_run()

__all__ = ["table_metadata"]  # re-exported: the asset modules import it from here

#: Metadata marking a domain's KPI table (kpi_monthly's shape): kpi_monthly unions every asset marked so.
DOMAIN_KPIS_METADATA_KEY = "saas_metrics/domain_kpis"


def kpi_metadata(schema: TableSchema) -> dict[str, Any]:
    """:func:`table_metadata` of a domain KPI table, marked for kpi_monthly to find."""
    return {**table_metadata(schema), DOMAIN_KPIS_METADATA_KEY: True}


def domain_kpi_assets(definitions: Iterable[object]) -> list[str]:
    """The domain KPI assets among ``definitions``, in their order (kpi_monthly keeps the first row
    of a duplicated month x metric x segment)."""
    return [key.path[-1] for d in definitions for key, spec in getattr(d, "specs_by_key", {}).items()
            if spec.metadata.get(DOMAIN_KPIS_METADATA_KEY) is not None]


def is_partitioned_table(schema: TableSchema) -> bool:
    return schema.time_column is not None


def asset_window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The [start, end) month window of the run (one month or a single-run range)."""
    tw = context.partition_time_window
    return tw.start.date(), tw.end.date()


def window_months(window: tuple[dt.date, dt.date]) -> list[dt.date]:
    months, m = [], window[0]
    while m < window[1]:
        months.append(m)
        m = dt.date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return months


def warehouse_kind(settings: Settings) -> str:
    return "postgres" if settings.warehouse_url.startswith("postgres") else "sqlite"


def kinds_for(settings: Settings, *extra: str) -> set[str]:
    return {"pandas", warehouse_kind(settings), *extra}


def run_months(context: dg.AssetExecutionContext) -> list[pd.Timestamp]:
    """The run's months as first-of-month Timestamps."""
    return [pd.Timestamp(m) for m in window_months(asset_window(context))]


def lookback(months: int) -> dg.TimeWindowPartitionMapping:
    """Upstream partitions M-``months`` .. M (those before the first partition are skipped)."""
    return dg.TimeWindowPartitionMapping(start_offset=-months, end_offset=0, allow_nonexistent_upstream_partitions=True)


def domain_defs(build: Callable[[Settings, dg.PartitionsDefinition], list], settings: Settings) -> dg.Definitions:
    """A domain's Definitions: the assets ``build`` makes on the monthly partitions, each linked to the
    function that computes it (the asset's page in the UI shows its code)."""
    return dg.Definitions(assets=dg.with_source_code_references(build(settings, monthly_partitions(settings))))
