"""Cohort retention (docs/metric-definitions.md#cohorts).

Cohort = the customer's first paid month (first month-end with MRR > 0). For month M and
age k = M - cohort_month (0 <= k <= max_age):

* cohort_customers = customers of the cohort; active_customers = those with MRR > 0 at M's end
* logo_retention = active_customers / cohort_customers
* cohort_mrr_start = the cohort's MRR at the end of its first month (k = 0); mrr = its MRR at M's end
* net_mrr_retention = mrr / cohort_mrr_start (each month at its own month-end rate; includes
  expansion and reactivation of cohort members)

Computed on all customers (before any segment filter); cohorts with nobody left keep their
rows with 0. The grain is (month, cohort_month): a one-month run returns that month's
diagonal. ``cohort_mrr_start`` needs the cohort month's snapshot in the input; when it is
absent the cohort's cohort_mrr_start and net_mrr_retention are NULL.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_index, months_from_index, normalise_months
from saas_metrics.metrics.frames import conform, empty_frame, to_schema
from saas_metrics.metrics.kpi import safe_divide
from saas_metrics.metrics.mrr import CUSTOMER_MRR
from saas_metrics.tables import Column, TableSchema, isin

COHORT_RETENTION = TableSchema(
    name="cohort_retention",
    description="Logo and net MRR retention of each first-paid-month cohort at each month-end.",
    columns=(
        Column("cohort_month", "date", "first paid month of the cohort's customers", nullable=False),
        Column("age_months", "int", "months since the cohort month (0 = the cohort month)", nullable=False),
        Column("month", "date", "the month-end measured (cohort_month + age_months)", nullable=False),
        Column("cohort_customers", "int"),
        Column("active_customers", "int", "cohort customers with MRR > 0 at the month's end"),
        Column("logo_retention", "float", "active_customers / cohort_customers"),
        Column("cohort_mrr_start", "float", "cohort MRR at the end of the cohort month"),
        Column("mrr", "float", "cohort MRR at the month's end"),
        Column("net_mrr_retention", "float", "mrr / cohort_mrr_start"),
    ),
    time_column="month",
    key=("month", "cohort_month"),
)


def cohort_retention(
    snapshots_all_months: pd.DataFrame,
    first_paid_month: pd.Series,
    months: Sequence[pd.Timestamp],
    max_age: int,
) -> pd.DataFrame:
    """Cohort rows whose ``month`` is in ``months`` and age is 0..max_age."""
    if max_age < 0:
        raise ValueError(f"max_age must be >= 0, got {max_age}")
    months = normalise_months(months)
    fpm = pd.Series(pd.to_datetime(first_paid_month).to_numpy(), index=first_paid_month.index.astype(str)).dropna()
    if not months or fpm.empty:
        return empty_frame(COHORT_RETENTION)
    cohort_of = pd.Series(month_index(fpm), index=fpm.index)
    sizes = cohort_of.groupby(cohort_of).size()

    snaps = conform(snapshots_all_months, CUSTOMER_MRR)
    snaps = snaps[snaps["mrr"] > 0]
    snaps = snaps.assign(m=month_index(snaps["month"]), cohort=cohort_of.reindex(snaps["customer_id"].astype(str).to_numpy()).to_numpy())
    snaps = snaps[snaps["cohort"].notna()].astype({"cohort": "int64"})
    by_cell = snaps.groupby(["m", "cohort"]).agg(active_customers=("customer_id", "nunique"), mrr=("mrr", "sum"))
    start = snaps[snaps["m"] == snaps["cohort"]].groupby("cohort")["mrr"].sum()

    wanted = month_index(pd.Series(months))
    grid_m = np.repeat(wanted, len(sizes))
    grid_c = np.tile(sizes.index.to_numpy(dtype="int64"), len(wanted))
    age = grid_m - grid_c
    keep = (age >= 0) & (age <= max_age)
    grid = pd.DataFrame({"m": grid_m[keep], "cohort": grid_c[keep], "age_months": age[keep]})
    if grid.empty:
        return empty_frame(COHORT_RETENTION)
    cells = by_cell.reindex(pd.MultiIndex.from_frame(grid[["m", "cohort"]]))
    grid["active_customers"] = cells["active_customers"].fillna(0).to_numpy(dtype="int64")
    grid["mrr"] = cells["mrr"].fillna(0.0).to_numpy()
    grid["cohort_customers"] = sizes.reindex(grid["cohort"].to_numpy()).to_numpy(dtype="int64")
    grid["cohort_mrr_start"] = start.reindex(grid["cohort"].to_numpy()).to_numpy(dtype="float64")
    grid["logo_retention"] = safe_divide(grid["active_customers"], grid["cohort_customers"])
    grid["net_mrr_retention"] = safe_divide(grid["mrr"], grid["cohort_mrr_start"])
    grid["month"] = months_from_index(grid["m"].to_numpy()).to_numpy()
    grid["cohort_month"] = months_from_index(grid["cohort"].to_numpy()).to_numpy()
    grid = grid.sort_values(["month", "cohort_month"], kind="stable")
    return to_schema(grid, COHORT_RETENTION)


COHORT_RETENTION_SEGMENTS = TableSchema(
    name="cohort_retention_segments",
    description="cohort_retention within each acquisition channel and each plan tier (the tier at the cohort month).",
    columns=(
        Column("segment", "str", "acquisition_channel or plan_tier", nullable=False),
        Column("segment_value", "str", "the channel or tier; '(unknown)' when the customer has none", nullable=False),
        *COHORT_RETENTION.columns,
    ),
    time_column="month",
    key=("month", "segment", "segment_value", "cohort_month"),
)
UNKNOWN_SEGMENT = "(unknown)"


def cohort_plan_tier(snapshots: pd.DataFrame, first_paid_month: pd.Series) -> pd.Series:
    """customer_id -> plan tier of the customer's largest line at the end of its first paid month
    (else, when that month's snapshot is not in ``snapshots``, at the earliest month-end given)."""
    snaps = conform(snapshots, CUSTOMER_MRR)
    snaps = snaps[snaps["mrr"] > 0].assign(customer_id=lambda f: f["customer_id"].astype(str))
    fpm = pd.Series(pd.to_datetime(first_paid_month).to_numpy(dtype="datetime64[ns]"), index=first_paid_month.index.astype(str))
    at_cohort_month = snaps["month"].to_numpy() == fpm.reindex(snaps["customer_id"].to_numpy()).to_numpy()
    ordered = snaps.assign(_first=~at_cohort_month).sort_values(["_first", "month"], kind="stable")
    return ordered.drop_duplicates("customer_id").set_index("customer_id")["plan_tier"]

def segmented_cohort_retention(
    snapshots_all_months: pd.DataFrame,
    first_paid_month: pd.Series,
    segment_of: dict[str, pd.Series],
    months: Sequence[pd.Timestamp],
    max_age: int,
) -> pd.DataFrame:
    """:func:`cohort_retention` of the customers of each segment value (COHORT_RETENTION_SEGMENTS).

    ``segment_of`` maps a segment name (acquisition_channel, plan_tier) to a Series
    customer_id -> value; a cohort customer without a value is in '(unknown)'. Within a segment
    value the formulas are cohort_retention's: a channel's January cohort of 4 customers with 3
    paying in April has logo_retention 0.75 at age 3.
    """
    fpm = pd.Series(pd.to_datetime(first_paid_month).to_numpy(), index=first_paid_month.index.astype(str)).dropna()
    snaps = conform(snapshots_all_months, CUSTOMER_MRR)
    customer = snaps["customer_id"].astype(str)
    parts = []
    for segment, values in segment_of.items():
        value_of = pd.Series(values.to_numpy(), index=values.index.astype(str))
        value_of = value_of[~value_of.index.duplicated()].reindex(fpm.index).astype("object")
        value_of = value_of.where(value_of.notna(), UNKNOWN_SEGMENT).astype(str)
        for value in sorted(value_of.unique()):
            members = value_of.index[value_of == value]
            rows = cohort_retention(snaps[isin(customer, members).to_numpy()], fpm.reindex(members), months, max_age)
            if len(rows):
                parts.append(rows.assign(segment=segment, segment_value=value))
    if not parts:
        return empty_frame(COHORT_RETENTION_SEGMENTS)
    out = pd.concat(parts, ignore_index=True).sort_values(["month", "segment", "segment_value", "cohort_month"], kind="stable")
    return to_schema(out, COHORT_RETENTION_SEGMENTS)
