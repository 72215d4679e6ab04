"""The ``kpi_monthly`` contract: one row per month x metric x segment.

Every metric domain returns its KPIs in this long form; the reports asset
concatenates them. Rates are fractions; ``value`` is NaN (NULL in the warehouse)
where a metric is undefined (denominator 0 or inputs missing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from saas_metrics.tables import Column, TableSchema

ALL = "all"

# Units of kpi_monthly.unit
CURRENCY = "currency"  # amount in the reporting currency
COUNT = "count"
RATIO = "ratio"  # a fraction (0.05 = 5 %), may exceed 1 (NRR) or be negative (net MRR churn)
MONTHS = "months"
DAYS = "days"
HOURS = "hours"
SCORE = "score"
#: Ratio-unit metrics read as multiples (LTV:CAC 3.2x), not as percentages.
MULTIPLES = frozenset({"ltv_to_cac", "ltv_to_cac_fully_loaded", "quick_ratio", "roas", "traffic_roi",
                       "viral_coefficient", "burn_multiple", "magic_number"})

KPI_MONTHLY = TableSchema(
    name="kpi_monthly",
    description="Every KPI per month, metric and segment (segment 'all'/'all' is the headline).",
    columns=(
        Column("month", "date", "first day of the month", nullable=False),
        Column("metric", "str", "metric name as in docs/metrics.md", nullable=False),
        Column("segment", "str", "all, plan_tier, billing_interval, country, currency, channel, model:<attribution model>, ...", nullable=False),
        Column("segment_value", "str", nullable=False),
        Column("value", "float", "NULL where undefined"),
        Column("unit", "str", "currency / count / ratio / months / days / hours / score"),
        Column("is_provisional", "bool", "true while the month, or the metric's conversion window, has not closed"),
    ),
    time_column="month",
    key=("month", "metric", "segment", "segment_value"),
)


def safe_divide(numerator: Any, denominator: Any) -> Any:
    """numerator / denominator, NaN where the denominator is 0 or either side is missing.

    Works on scalars and on aligned Series/arrays.
    """
    num = np.asarray(numerator, dtype="float64")
    den = np.asarray(denominator, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where((den == 0) | np.isnan(den) | np.isnan(num), np.nan, num / np.where(den == 0, 1, den))
    if isinstance(numerator, pd.Series):
        return pd.Series(out, index=numerator.index)
    if isinstance(denominator, pd.Series):
        return pd.Series(out, index=denominator.index)
    return float(out) if out.ndim == 0 else out


def kpi_frame(
    rows: Iterable[dict[str, Any]] | pd.DataFrame,
) -> pd.DataFrame:
    """Normalise KPI rows (dicts or a frame with at least month, metric, value, unit)
    to the kpi_monthly columns, filling segment 'all'/'all' and is_provisional False."""
    frame = pd.DataFrame(list(rows)) if not isinstance(rows, pd.DataFrame) else rows.copy()
    if frame.empty:
        return pd.DataFrame({c.name: pd.Series(dtype="object") for c in KPI_MONTHLY.columns})
    for col, default in (("segment", ALL), ("segment_value", ALL), ("is_provisional", False)):
        if col not in frame.columns:
            frame[col] = default
        frame[col] = frame[col].fillna(default)
    frame["month"] = pd.to_datetime(frame["month"]).astype("datetime64[ns]")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    frame.loc[~np.isfinite(frame["value"].fillna(0.0)), "value"] = np.nan
    frame["segment_value"] = frame["segment_value"].astype(str)
    frame["is_provisional"] = frame["is_provisional"].astype(bool)
    return frame[KPI_MONTHLY.column_names].reset_index(drop=True)


def wide_to_kpi(
    wide: pd.DataFrame,
    units: dict[str, str],
    *,
    segment: str = ALL,
    segment_column: str | None = None,
    provisional: pd.Series | None = None,
) -> pd.DataFrame:
    """Melt a frame with a ``month`` column (and optionally ``segment_column``) and one
    column per metric (the keys of ``units``) into kpi_monthly rows."""
    id_vars = ["month"] + ([segment_column] if segment_column else [])
    long = wide.melt(id_vars=id_vars, value_vars=list(units), var_name="metric", value_name="value")
    long["unit"] = long["metric"].map(units)
    long["segment"] = segment
    long["segment_value"] = long[segment_column].astype(str) if segment_column else ALL
    if segment_column:
        long = long.drop(columns=[segment_column])
    long["is_provisional"] = False
    if provisional is not None:
        long["is_provisional"] = long["month"].map(provisional).fillna(False)
    return kpi_frame(long)


from dataclasses import dataclass, field  # noqa: E402


@dataclass(frozen=True)
class MetricDef:
    """One metric's reference entry: docs/metrics.md is generated from these.

    ``name`` is the kpi_monthly metric name; ``formula`` is the exact formula in
    words or symbols; ``source`` names where the definition comes from (a section of
    docs/metric-definitions.md, see :func:`defined_in`, or a vendor); ``policies`` names config
    fields that change it.
    """

    name: str
    unit: str
    domain: str
    formula: str
    inputs: str
    source: str
    policies: tuple[str, ...] = ()
    segments: tuple[str, ...] = (ALL,)
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)


#: The page that defines every metric; catalogue entries cite its sections by anchor.
DEFINITIONS_DOC = "docs/metric-definitions.md"


def defined_in(anchor: str, note: str = "") -> str:
    """A :class:`MetricDef` ``source``: section ``anchor`` of docs/metric-definitions.md, with an
    optional note, e.g. ``defined_in("nrr")`` -> ``"docs/metric-definitions.md#nrr"``."""
    return f"{DEFINITIONS_DOC}#{anchor}" + (f" ({note})" if note else "")


def lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """``keys.map(table)``, also when ``table`` is empty: pandas 3 cannot map through an
    empty datetime Series ("Cannot cast DatetimeArray to dtype float64"). Missing keys
    give NaN/NaT, with the table's dtype."""
    if table.empty:
        return pd.Series(pd.NA if table.dtype == object else np.nan, index=keys.index).astype(
            table.dtype if table.dtype != object else "object")
    return keys.map(table)
