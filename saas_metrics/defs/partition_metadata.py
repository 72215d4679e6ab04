"""Each partition's own metadata, also when a single-run backfill materialises a range of months.

``context.add_output_metadata`` in a ranged run stamps the same values on every partition's
materialization, so the Plots tab drew the last month's MRR for all 36 months. Metadata here goes
through ``add_asset_metadata(..., partition_key=...)``, one call per month of the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import dagster as dg
import pandas as pd

from saas_metrics.metrics.display import format_kpi
from saas_metrics.metrics.kpi import ALL


def partition_months(context: dg.AssetExecutionContext) -> dict[str, dt.date]:
    """The run's partition keys of the asset and the first day of each one's month."""
    partitions_def = context.assets_def.partitions_def
    assert partitions_def is not None, "partition metadata needs a partitioned asset"
    time_partitions: dg.TimeWindowPartitionsDefinition = partitions_def
    return {key: time_partitions.time_window_for_partition_key(key).start.date() for key in context.partition_keys}


def add_metadata_per_partition(
    context: dg.AssetExecutionContext,
    metadata_by_month: Mapping[dt.date, Mapping[str, object]],
    asset_key: dg.AssetKey | None = None,
) -> None:
    """Attach each month's metadata to that month's partition of the materialization."""
    for key, month in partition_months(context).items():
        metadata = metadata_by_month.get(month)
        if metadata:
            context.add_asset_metadata(dict(metadata), asset_key=asset_key, partition_key=key)


def segment_headlines(kpis: pd.DataFrame, metrics: Iterable[str]) -> pd.DataFrame:
    """Segment rows of ``metrics`` relabelled as headlines: metric ``mrr``, segment ``plan_tier``,
    value ``pro`` becomes metric ``mrr[plan_tier=pro]`` (so a segment table has plottable keys too)."""
    rows = kpis[kpis["metric"].isin(list(metrics)) & (kpis["segment"] != ALL)].copy()
    rows["metric"] = rows["metric"] + "[" + rows["segment"] + "=" + rows["segment_value"] + "]"
    rows["segment"] = ALL
    rows["segment_value"] = ALL
    return rows


def kpi_headline_metadata(
    kpis: pd.DataFrame, metrics: Iterable[str] | None = None, currency: str = "USD",
) -> dict[dt.date, dict[str, object]]:
    """Per month: the headline (segment all) value of each metric as a float under the metric's
    name (what the Plots tab charts), and a markdown table ``kpis`` with the values formatted in
    their unit and the month-over-month change."""
    if kpis.empty:
        return {}
    head = kpis[(kpis["segment"] == ALL) & kpis["value"].notna()]
    wanted = list(dict.fromkeys(metrics)) if metrics is not None else list(dict.fromkeys(head["metric"]))
    head = head[head["metric"].isin(wanted)]
    values = {(pd.Timestamp(m).date(), metric): (float(v), unit)
              for m, metric, v, unit in head[["month", "metric", "value", "unit"]].itertuples(index=False)}
    months = sorted({month for month, _ in values})
    out: dict[dt.date, dict[str, object]] = {}
    for month in months:
        previous = (pd.Timestamp(month) - pd.DateOffset(months=1)).date()
        meta: dict[str, object] = {}
        lines = ["| metric | value | MoM change |", "|---|---:|---:|"]
        for metric in wanted:
            if (month, metric) not in values:
                continue
            value, unit = values[(month, metric)]
            meta[metric] = value
            before = values.get((previous, metric))
            change = f"{(value / before[0] - 1) * 100:+.1f} %" if before and before[0] else ""
            lines.append(f"| {metric} | {format_kpi(metric, value, unit, currency)} | {change} |")
        meta["kpis"] = dg.MetadataValue.md(f"**{month:%Y-%m}**\n\n" + "\n".join(lines))
        out[month] = meta
    return out


def with_headlines(
    context: dg.AssetExecutionContext, kpis: pd.DataFrame, currency: str, metrics: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Attach each partition's headline KPIs (see :func:`kpi_headline_metadata`) to its own
    materialization; returns ``kpis`` unchanged."""
    add_metadata_per_partition(context, kpi_headline_metadata(kpis, metrics, currency))
    return kpis


def add_monthly_values(context: dg.AssetExecutionContext, values: Mapping[str, pd.Series], units: Mapping[str, str],
                       currency: str = "USD") -> None:
    """Numeric metadata per partition from month-indexed series (``{"mrr": mrr_by_month}``), each
    with a formatted text twin (``mrr_display``) for the partition page."""
    by_month: dict[dt.date, dict[str, object]] = {}
    for key, series in values.items():
        for month, value in series.dropna().items():
            meta = by_month.setdefault(pd.Timestamp(month).date(), {})
            meta[key] = float(value)
            meta[f"{key}_display"] = format_kpi(key, float(value), units.get(key), currency)
    add_metadata_per_partition(context, by_month)
