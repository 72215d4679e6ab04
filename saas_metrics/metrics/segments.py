"""Headline revenue KPIs per segment (docs/metric-definitions.md#segments and #revenue-churn-by-tier).

Segments: plan_tier, billing_interval, currency (from the customer MRR snapshot), country
and channel (from the customer dimension: customer_id, country, currency, channel). A
customer's segment in month M is its attribute at M's end; a customer who churned in M
(no MRR at M's end) keeps its attribute at M-1's end. Missing attributes are '(unknown)'.
Every customer-month therefore sits in exactly one value of each segment, so a segment's
values sum to the headline (for amounts and counts).

Per segment value, with the formulas of metrics/revenue_kpis.py and metrics/retention.py
restricted to its customers: mrr, arr, customers, arpa, new_mrr, expansion_mrr,
contraction_mrr, churned_mrr, net_new_mrr, customer_churn_rate, gross_mrr_churn_rate, nrr, grr.
"gross_mrr_churn_rate by plan_tier" is the guide's revenue churn by tier.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from saas_metrics.calendar import shift_months
from saas_metrics.metrics.frames import conform
from saas_metrics.metrics.kpi import kpi_frame, wide_to_kpi
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics.metrics.mrr import CUSTOMER_MRR
from saas_metrics.metrics.retention import RETENTION_UNITS
from saas_metrics.metrics.revenue_kpis import (
    REVENUE_UNITS,
    movement_totals,
    revenue_wide,
    snapshot_totals,
)

UNKNOWN = "(unknown)"
SEGMENTS = ("plan_tier", "billing_interval", "country", "currency", "channel")
SEGMENT_METRICS = (
    "mrr", "arr", "customers", "arpa", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "net_new_mrr",
    "customer_churn_rate", "gross_mrr_churn_rate", "nrr", "grr",
)
SEGMENT_UNITS = {m: {**REVENUE_UNITS, **RETENTION_UNITS}[m] for m in SEGMENT_METRICS}


def customer_attributes(snapshots: pd.DataFrame, customer_dimension: pd.DataFrame | None) -> pd.DataFrame:
    """(month, customer_id) -> every segment attribute at that month's end."""
    snaps = conform(snapshots, CUSTOMER_MRR)[["month", "customer_id", "plan_tier", "billing_interval", "currency"]]
    dim = customer_dimension if customer_dimension is not None else pd.DataFrame(columns=["customer_id"])
    dim = dim.drop_duplicates("customer_id").set_index("customer_id")
    attrs = snaps.copy()
    ids = attrs["customer_id"].to_numpy()
    for col in ("country", "channel"):
        attrs[col] = dim[col].reindex(ids).to_numpy() if col in dim.columns else None
    if "currency" in dim.columns:
        attrs["currency"] = attrs["currency"].fillna(pd.Series(dim["currency"].reindex(ids).to_numpy(), index=attrs.index))
    for col in SEGMENTS:
        attrs[col] = attrs[col].astype(object).where(attrs[col].notna() & (attrs[col].astype(str) != ""), UNKNOWN).astype(str)
    return attrs


def segment_revenue_kpis(
    movements: pd.DataFrame,
    snapshots: pd.DataFrame,
    customer_dimension: pd.DataFrame | None,
    months: Sequence[pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """kpi_monthly rows per segment (segment = attribute name, segment_value = its value).

    ``snapshots`` must hold M-1 as well as M (churned customers' segment); ``months``
    defaults to the months of ``movements``.
    """
    mv = conform(movements, MRR_MOVEMENTS)
    attrs = customer_attributes(snapshots, customer_dimension)
    if months is None:
        months = sorted(set(mv["month"]))
    month_index = pd.DatetimeIndex(list(months)).astype("datetime64[ns]")
    mv = mv[mv["month"].isin(month_index)]
    if mv.empty and not attrs["month"].isin(month_index).any():
        return kpi_frame([])

    mv = mv.assign(attr_month=mv["month"].where(mv["mrr_end"] > 0, shift_months(mv["month"], -1)))
    mv = mv.merge(attrs.rename(columns={"month": "attr_month"}), on=["attr_month", "customer_id"], how="left")
    snaps = conform(snapshots, CUSTOMER_MRR)
    snaps = snaps[snaps["month"].isin(month_index)].merge(attrs, on=["month", "customer_id"], how="left", suffixes=("_raw", ""))

    frames = []
    for segment in SEGMENTS:
        mv[segment] = mv[segment].fillna(UNKNOWN)
        totals = movement_totals(mv, ["month", segment]).join(snapshot_totals(snaps, ["month", segment]), how="outer")
        totals = totals.fillna(0.0).astype("float64")
        if totals.empty:
            continue
        wide = revenue_wide(totals)[list(SEGMENT_METRICS)].reset_index()
        frames.append(wide_to_kpi(wide, SEGMENT_UNITS, segment=segment, segment_column=segment))
    return pd.concat(frames, ignore_index=True) if frames else kpi_frame([])
