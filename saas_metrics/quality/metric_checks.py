"""Checks on computed metrics (pure: frames in, :class:`CheckOutcome` out).

The Dagster wiring turns these into asset checks on the metric assets. Money is
compared to the cent: a difference counts when it exceeds ``CENT_TOLERANCE``
(0.005), so 0.01 fails and 0.001 (float noise) passes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_start, normalise_months
from saas_metrics.quality.outcomes import CheckOutcome

CENT_TOLERANCE = 0.005
MAX_LISTED = 10
BRIDGE_COLUMNS = (
    "mrr",
    "new_mrr",
    "expansion_mrr",
    "reactivation_mrr",
    "contraction_mrr",
    "churned_mrr",
    "fx_impact_mrr",
)
MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation", "unchanged")


def _outcome(name: str, passed: bool, blocking: bool, description: str, metadata: dict[str, Any]) -> CheckOutcome:
    return CheckOutcome(
        name=name,
        passed=passed,
        blocking=blocking,
        severity="ERROR" if blocking else "WARN",
        description=description,
        metadata=metadata,
    )


def _headline_wide(kpis: pd.DataFrame, metrics: Iterable[str]) -> pd.DataFrame:
    """Wide month x metric frame of the segment 'all' rows of a kpi_monthly frame."""
    rows = kpis
    if "segment" in rows.columns:
        rows = rows[(rows["segment"] == "all") & (rows["segment_value"] == "all")]
    rows = rows[rows["metric"].isin(list(metrics))]
    wide = rows.pivot_table(index="month", columns="metric", values="value", aggfunc="first", dropna=False)
    return wide.reset_index()


def check_bridge(kpis_or_frame: pd.DataFrame, *, name: str = "mrr_bridge", blocking: bool = True) -> CheckOutcome:
    """MRR bridge identity (docs/metric-definitions.md#bridge-identity), to the cent:

        mrr(M) = mrr(M-1) + new + expansion + reactivation - contraction - churn + fx_impact

    for every month M whose previous calendar month is present. Takes either a wide
    frame (month + :data:`BRIDGE_COLUMNS`) or kpi_monthly rows (segment all). Missing
    movement amounts count as 0; months without an MRR are skipped.
    """
    frame = kpis_or_frame
    if "metric" in frame.columns:
        frame = _headline_wide(frame, BRIDGE_COLUMNS)
    missing = [c for c in ("month", "mrr") if c not in frame.columns]
    if missing:
        raise ValueError(f"check_bridge needs columns month and mrr; missing {missing}")
    frame = frame.assign(month=frame["month"].map(month_start)).sort_values("month")
    by_month = frame.set_index("month")
    movements = by_month.reindex(columns=list(BRIDGE_COLUMNS[1:])).astype("float64").fillna(0.0)
    failures: list[dict[str, Any]] = []
    checked = 0
    max_diff = 0.0
    for month, row in by_month.iterrows():
        previous = month - pd.DateOffset(months=1)
        if previous not in by_month.index:
            continue
        mrr_prev, mrr_now = by_month.at[previous, "mrr"], row["mrr"]
        if pd.isna(mrr_prev) or pd.isna(mrr_now):
            continue
        m = movements.loc[month]
        expected = (
            float(mrr_prev) + m["new_mrr"] + m["expansion_mrr"] + m["reactivation_mrr"]
            - m["contraction_mrr"] - m["churned_mrr"] + m["fx_impact_mrr"]
        )
        diff = float(mrr_now) - expected
        checked += 1
        max_diff = max(max_diff, abs(diff))
        if abs(diff) > CENT_TOLERANCE:
            failures.append({"month": month.date().isoformat(), "mrr": float(mrr_now), "expected": round(expected, 6), "difference": round(diff, 6)})
    passed = not failures
    description = (
        f"MRR bridge holds to the cent for {checked} month(s)"
        if passed
        else f"MRR bridge broken in {len(failures)} of {checked} month(s), first {failures[0]['month']} "
        f"(off by {failures[0]['difference']:+.4f})"
    )
    return _outcome(name, passed, blocking, description, {"months_checked": checked, "max_abs_difference": round(max_diff, 6), "failures": failures[:MAX_LISTED]})


def check_one_movement_per_customer_month(
    movements: pd.DataFrame, *, name: str = "mrr_movements_one_per_customer_month", blocking: bool = True
) -> CheckOutcome:
    """Every (month, customer_id) of ``mrr_movements`` has exactly one row, and every
    ``movement`` is one of :data:`MOVEMENTS` (docs/metric-definitions.md#customer-mrr-movements)."""
    missing = [c for c in ("month", "customer_id", "movement") if c not in movements.columns]
    if missing:
        raise ValueError(f"mrr_movements lacks column(s) {missing}")
    dup_mask = movements.duplicated(subset=["month", "customer_id"], keep=False)
    duplicates = movements.loc[dup_mask, ["month", "customer_id"]].drop_duplicates()
    unknown = movements.loc[~movements["movement"].isin(MOVEMENTS), "movement"]
    passed = duplicates.empty and unknown.empty
    problems = []
    if not duplicates.empty:
        problems.append(f"{len(duplicates)} customer-months with more than one movement")
    if not unknown.empty:
        problems.append(f"{len(unknown)} rows with an unknown movement ({sorted(set(map(str, unknown)))[:MAX_LISTED]})")
    sample = [
        {"month": month_start(m).date().isoformat(), "customer_id": str(c)}
        for m, c in duplicates.head(MAX_LISTED).itertuples(index=False)
    ]
    return _outcome(
        name,
        passed,
        blocking,
        f"one movement per customer and month in {len(movements)} rows" if passed else "; ".join(problems),
        {"rows": len(movements), "duplicate_customer_months": len(duplicates), "unknown_movements": len(unknown), "sample": sample},
    )


#: Bounds of ratio metrics (inclusive); names not listed fall back to the patterns
#: of :func:`rate_bounds`.
RATE_BOUNDS: dict[str, tuple[float, float]] = {
    "grr": (0.0, 1.0),
    "nrr": (0.0, math.inf),
    "net_mrr_churn_rate": (-math.inf, 1.0),  # expansion can exceed churn + contraction
}


def rate_bounds(metric: str) -> tuple[float, float] | None:
    """The allowed interval of a ratio metric, or None when it is unbounded/unknown:
    explicit :data:`RATE_BOUNDS`; growth/velocity rates >= -1; any other ``*_rate``
    (churn, retention, conversion) in [0, 1]."""
    if metric in RATE_BOUNDS:
        return RATE_BOUNDS[metric]
    if metric.endswith("_rate"):
        if "growth" in metric or "velocity" in metric:
            return (-1.0, math.inf)
        return (0.0, 1.0)
    return None


def check_rate_bounds(kpi_rows: pd.DataFrame, *, name: str = "kpi_rate_bounds", blocking: bool = True) -> CheckOutcome:
    """Rates stay in their bounds (:func:`rate_bounds`): churn, retention and conversion
    rates and GRR in [0, 1], NRR >= 0, net MRR churn rate <= 1 (may be negative).
    NaN (undefined) is allowed; +-inf never is."""
    for column in ("metric", "value"):
        if column not in kpi_rows.columns:
            raise ValueError(f"kpi rows lack column {column!r}")
    violations = []
    checked = 0
    for metric, group in kpi_rows.groupby("metric", sort=True):
        bounds = rate_bounds(str(metric))
        if bounds is None:
            continue
        low, high = bounds
        values = group["value"].astype("float64")
        checked += int(values.notna().sum())
        bad = values.notna() & (np.isinf(values) | (values < low - 1e-9) | (values > high + 1e-9))
        for idx in group.index[bad.to_numpy()]:
            row = kpi_rows.loc[idx]
            violations.append(
                {
                    "metric": str(metric),
                    "month": month_start(row["month"]).date().isoformat() if "month" in row else None,
                    "segment": f"{row.get('segment', 'all')}={row.get('segment_value', 'all')}",
                    "value": float(row["value"]),
                    "bounds": [low, high],
                }
            )
    passed = not violations
    return _outcome(
        name,
        passed,
        blocking,
        f"{checked} rate values within their bounds" if passed else f"{len(violations)} rate values out of bounds, e.g. {violations[0]['metric']}={violations[0]['value']}",
        {"values_checked": checked, "violations": len(violations), "sample": violations[:MAX_LISTED]},
    )


def check_kpi_completeness(
    kpi: pd.DataFrame,
    months: Iterable[Any],
    required_metrics: Iterable[str],
    *,
    name: str = "kpi_completeness",
    blocking: bool = False,
) -> CheckOutcome:
    """Every required metric has a headline row (segment all / all) for every month.
    A row whose value is NaN (undefined ratio) counts as present."""
    months_list = normalise_months(months)
    metrics = list(dict.fromkeys(required_metrics))
    headline = kpi
    if "segment" in kpi.columns:
        headline = kpi[(kpi["segment"] == "all") & (kpi["segment_value"] == "all")]
    present = set(zip(headline["month"].map(month_start), headline["metric"].astype(str), strict=True))
    gaps = [(m, metric) for m in months_list for metric in metrics if (m, metric) not in present]
    passed = not gaps
    sample = [{"month": m.date().isoformat(), "metric": metric} for m, metric in gaps[:MAX_LISTED]]
    return _outcome(
        name,
        passed,
        blocking,
        f"{len(metrics)} metrics present for all {len(months_list)} months"
        if passed
        else f"{len(gaps)} month x metric headline rows missing, e.g. {sample[0]['metric']} in {sample[0]['month']}",
        {"months": len(months_list), "metrics": len(metrics), "missing": len(gaps), "sample": sample},
    )


def check_reconciliation(
    raw_count: int | Mapping[Any, int],
    clean_count: int | Mapping[Any, int],
    quarantined_count: int | Mapping[Any, int],
    *,
    name: str = "row_reconciliation",
    blocking: bool = True,
) -> CheckOutcome:
    """Nothing is silently lost (DESIGN.md principle 5): raw = clean + quarantined,
    for one count or per partition (mappings keyed by partition; a key missing on
    one side counts as 0)."""
    if isinstance(raw_count, Mapping) or isinstance(clean_count, Mapping) or isinstance(quarantined_count, Mapping):
        as_map = [c if isinstance(c, Mapping) else {"all": c} for c in (raw_count, clean_count, quarantined_count)]
        keys = sorted({k for m in as_map for k in m}, key=str)
        per_key = {k: tuple(int(m.get(k, 0)) for m in as_map) for k in keys}
    else:
        per_key = {"all": (int(raw_count), int(clean_count), int(quarantined_count))}
    for key, counts in per_key.items():
        if min(counts) < 0:
            raise ValueError(f"row counts must be >= 0, got {counts} for {key}")
    mismatches = [
        {"partition": str(k), "raw": r, "clean": c, "quarantined": q, "lost": r - c - q}
        for k, (r, c, q) in per_key.items()
        if r != c + q
    ]
    totals = [sum(v[i] for v in per_key.values()) for i in range(3)]
    passed = not mismatches
    return _outcome(
        name,
        passed,
        blocking,
        f"raw {totals[0]} = clean {totals[1]} + quarantined {totals[2]}"
        if passed
        else f"{len(mismatches)} partition(s) do not reconcile, e.g. {mismatches[0]['partition']}: raw {mismatches[0]['raw']} != clean {mismatches[0]['clean']} + quarantined {mismatches[0]['quarantined']}",
        {"raw": totals[0], "clean": totals[1], "quarantined": totals[2], "mismatches": mismatches[:MAX_LISTED]},
    )


def check_sums_to(
    parts: pd.DataFrame,
    totals: pd.DataFrame,
    *,
    keys: list[str],
    value: str,
    total_value: str | None = None,
    tolerance: float = CENT_TOLERANCE,
    name: str = "sums_to_total",
    blocking: bool = True,
) -> CheckOutcome:
    """Parts sum to their total within ``tolerance`` for every key (e.g. attribution
    credits per conversion sum to the conversion's value). A key present on only one
    side counts the other side as 0."""
    total_value = total_value or value
    for frame, column, label in ((parts, value, "parts"), (totals, total_value, "totals")):
        missing = [c for c in [*keys, column] if c not in frame.columns]
        if missing:
            raise ValueError(f"{label} lack column(s) {missing}")
    summed = parts.groupby(keys, dropna=False)[value].sum(min_count=1).rename("parts_sum").reset_index()
    expected = totals.groupby(keys, dropna=False)[total_value].sum(min_count=1).rename("total").reset_index()
    merged = summed.merge(expected, on=keys, how="outer").fillna({"parts_sum": 0.0, "total": 0.0})
    merged["difference"] = merged["parts_sum"] - merged["total"]
    bad = merged[merged["difference"].abs() > tolerance]
    passed = bad.empty
    sample = [
        {**{k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in zip(keys, row[: len(keys)], strict=True)},
         "parts_sum": round(float(row[-3]), 6), "total": round(float(row[-2]), 6), "difference": round(float(row[-1]), 6)}
        for row in bad[[*keys, "parts_sum", "total", "difference"]].head(MAX_LISTED).itertuples(index=False)
    ]
    return _outcome(
        name,
        passed,
        blocking,
        f"parts sum to the total within {tolerance} for {len(merged)} key(s)"
        if passed
        else f"{len(bad)} of {len(merged)} key(s) do not sum to their total (first off by {sample[0]['difference']:+.4f})",
        {"keys_checked": len(merged), "mismatches": len(bad), "max_abs_difference": round(float(merged["difference"].abs().max()) if len(merged) else 0.0, 6), "sample": sample},
    )
