"""Headline revenue KPIs per month (METRICS_SPEC.md, 'Revenue (billing source)').

From customer snapshots (end of M) and movements (M-1 -> M, constant currency):

* mrr = sum of customer MRR at the end of M; customers = paying customers (MRR > 0)
* arr = 12 x mrr; arpa = mrr / customers (so mrr = arpa x customers)
* new_mrr, expansion_mrr, contraction_mrr, churned_mrr, reactivation_mrr = sums of movement amounts
* fx_impact_mrr = sum of (mrr_start_fx - mrr_start)
* net_new_mrr = new + expansion + reactivation - contraction - churn (fx excluded)
* new_customers, churned_customers, reactivated_customers = movement counts
* expansion_share = expansion / (new + expansion + reactivation)
* asp = new_mrr / new_customers
* quick_ratio = (new + expansion + reactivation) / (churn + contraction)
* plus the retention rates of metrics/retention.py.

Bridge identity (checked by :func:`bridge_residuals`):
mrr(M) = mrr(M-1) + new + expansion + reactivation - contraction - churn + fx_impact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.metrics.kpi import (
    ALL,
    COUNT,
    CURRENCY,
    RATIO,
    kpi_frame,
    safe_divide,
    wide_to_kpi,
)
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics.metrics.mrr import CUSTOMER_MRR, normalise_months
from saas_metrics.metrics.retention import RETENTION_UNITS, retention_rates
from saas_metrics.tables import coerce_frame

REVENUE_UNITS: dict[str, str] = {
    "mrr": CURRENCY,
    "arr": CURRENCY,
    "arpa": CURRENCY,
    "customers": COUNT,
    "new_mrr": CURRENCY,
    "expansion_mrr": CURRENCY,
    "contraction_mrr": CURRENCY,
    "churned_mrr": CURRENCY,
    "reactivation_mrr": CURRENCY,
    "fx_impact_mrr": CURRENCY,
    "net_new_mrr": CURRENCY,
    "new_customers": COUNT,
    "churned_customers": COUNT,
    "reactivated_customers": COUNT,
    "expansion_share": RATIO,
    "asp": CURRENCY,
    "quick_ratio": RATIO,
}

#: movement -> (amount column, count column) of the totals
_MOVEMENT_COLUMNS = {
    "new": ("new_mrr", "new_customers"),
    "expansion": ("expansion_mrr", "expanded_customers"),
    "contraction": ("contraction_mrr", "contracted_customers"),
    "churn": ("churned_mrr", "churned_customers"),
    "reactivation": ("reactivation_mrr", "reactivated_customers"),
}


def movement_totals(movements: pd.DataFrame, by: Sequence[str] = ("month",)) -> pd.DataFrame:
    """Per group: start MRR (reported and at M's rate), customers at start, and per-movement sums/counts."""
    by = list(by)
    mv = movements
    start = mv["mrr_start"] > 0
    grouped = mv.assign(
        customers_start=start.astype("int64"),
        fx_impact_mrr=mv["fx_impact"],
        **{amount: mv["amount"].where(mv["movement"] == kind, 0.0) for kind, (amount, _) in _MOVEMENT_COLUMNS.items()},
        **{count: (mv["movement"] == kind).astype("int64") for kind, (_, count) in _MOVEMENT_COLUMNS.items()},
    )
    value_cols = ["mrr_start", "mrr_start_fx", "customers_start", "fx_impact_mrr"] + [
        c for pair in _MOVEMENT_COLUMNS.values() for c in pair
    ]
    if grouped.empty:
        return pd.DataFrame(columns=by + value_cols).set_index(by)
    return grouped.groupby(by, sort=True)[value_cols].sum()


def snapshot_totals(snapshots: pd.DataFrame, by: Sequence[str] = ("month",)) -> pd.DataFrame:
    """Per group: mrr and paying customers at the end of the month."""
    paying = snapshots[snapshots["mrr"] > 0]
    if paying.empty:
        return pd.DataFrame(columns=[*list(by), "mrr", "customers"]).set_index(list(by))
    return paying.groupby(list(by), sort=True).agg(mrr=("mrr", "sum"), customers=("customer_id", "nunique"))


def revenue_wide(totals: pd.DataFrame) -> pd.DataFrame:
    """Revenue + retention metrics (REVENUE_UNITS and RETENTION_UNITS columns) from joined totals."""
    t = totals
    out = pd.DataFrame(index=t.index)
    out["mrr"] = t["mrr"]
    out["arr"] = 12.0 * t["mrr"]
    out["arpa"] = safe_divide(t["mrr"], t["customers"])
    out["customers"] = t["customers"]
    for col in ("new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr", "fx_impact_mrr"):
        out[col] = t[col]
    gained = t["new_mrr"] + t["expansion_mrr"] + t["reactivation_mrr"]
    lost = t["contraction_mrr"] + t["churned_mrr"]
    out["net_new_mrr"] = gained - lost
    for col in ("new_customers", "churned_customers", "reactivated_customers"):
        out[col] = t[col]
    out["expansion_share"] = safe_divide(t["expansion_mrr"], gained)
    out["asp"] = safe_divide(t["new_mrr"], t["new_customers"])
    out["quick_ratio"] = safe_divide(gained, lost)
    return out.join(retention_rates(t))


def joined_totals(movements: pd.DataFrame, snapshots: pd.DataFrame, index: pd.Index, by: Sequence[str]) -> pd.DataFrame:
    """Movement and snapshot totals on one index, 0 where a group has no rows."""
    totals = movement_totals(movements, by).join(snapshot_totals(snapshots, by), how="outer")
    totals = totals.reindex(index.union(totals.index) if len(by) > 1 else index)
    return totals.fillna(0.0).astype("float64")


def revenue_kpis(
    movements: pd.DataFrame,
    snapshots: pd.DataFrame,
    months: Sequence[pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """kpi_monthly rows (segment all) of REVENUE_UNITS and RETENTION_UNITS for ``months``.

    ``months`` defaults to every month present in the inputs; a month without any data
    still gets rows (mrr 0, customers 0, ratios NULL). Snapshot rows outside ``months`` (e.g.
    the M-1 context) are ignored.
    """
    movements = coerce_frame(movements, MRR_MOVEMENTS)
    snapshots = coerce_frame(snapshots, CUSTOMER_MRR)
    if months is None:
        months = sorted(set(movements["month"]))
        if not months:
            months = sorted(set(snapshots["month"]))
    months = normalise_months(months)
    if not months:
        return kpi_frame([])
    index = pd.Index(pd.Series(months, dtype="datetime64[ns]"), name="month")
    movements = movements[movements["month"].isin(index)]
    snapshots = snapshots[snapshots["month"].isin(index)]
    wide = revenue_wide(joined_totals(movements, snapshots, index, ["month"])).reset_index()
    return wide_to_kpi(wide, {**REVENUE_UNITS, **RETENTION_UNITS})


def bridge_residuals(kpis: pd.DataFrame, previous_mrr: pd.Series | None = None) -> pd.DataFrame:
    """Per month M: mrr(M) - [mrr(M-1) + new + expansion + reactivation - contraction - churn + fx_impact].

    mrr(M-1) comes from ``kpis`` itself or, for months whose M-1 is not in ``kpis``, from
    ``previous_mrr`` (a Series indexed by month start, e.g. read from kpi_monthly); months
    with neither get residual NaN. Only segment 'all' rows are used. A correct bridge gives
    |residual| < 0.005.
    """
    head = kpis[(kpis["segment"] == ALL) & (kpis["segment_value"] == ALL)]
    wide = head.pivot_table(index="month", columns="metric", values="value", aggfunc="first", dropna=False)
    needed = ["mrr", "net_new_mrr", "fx_impact_mrr"]
    missing = [m for m in needed if m not in wide.columns]
    if missing:
        raise ValueError(f"bridge_residuals needs metrics {missing} in kpis")
    months = pd.Series(wide.index, index=wide.index)
    prev_month = months - pd.DateOffset(months=1)
    prev = wide["mrr"].reindex(prev_month.to_numpy()).to_numpy()
    if previous_mrr is not None:
        fallback = previous_mrr.copy()
        fallback.index = pd.to_datetime(fallback.index).astype("datetime64[ns]")
        prev = np.where(np.isnan(prev), fallback.reindex(prev_month.to_numpy()).to_numpy(dtype="float64"), prev)
    residual = wide["mrr"].to_numpy() - (prev + wide["net_new_mrr"].to_numpy() + wide["fx_impact_mrr"].to_numpy())
    return pd.DataFrame({"month": wide.index.to_numpy(), "residual": residual})


def movement_bridge_residuals(movements: pd.DataFrame) -> pd.DataFrame:
    """The bridge checked on the movements alone (needs no other month):
    sum(mrr_end) - [sum(mrr_start) + signed movements + fx_impact] per month."""
    mv = coerce_frame(movements, MRR_MOVEMENTS)
    sign = mv["movement"].map({"new": 1.0, "expansion": 1.0, "reactivation": 1.0, "contraction": -1.0, "churn": -1.0}).fillna(0.0)
    parts = mv.assign(signed=mv["amount"] * sign)
    g = parts.groupby("month")[["mrr_end", "mrr_start", "signed", "fx_impact"]].sum()
    residual = g["mrr_end"] - (g["mrr_start"] + g["signed"] + g["fx_impact"])
    return pd.DataFrame({"month": g.index.to_numpy(), "residual": residual.to_numpy()})
