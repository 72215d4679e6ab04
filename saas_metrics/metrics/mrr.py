"""Customer MRR at each month-end (docs/metric-definitions.md#mrr).

An interval [start_at, end_at) is active at the last instant of month M iff
``start_at < first(M+1)`` and (``end_at`` is NULL or ``end_at >= first(M+1)``): periods are
half-open, so an interval ending exactly on the 1st of M+1 still counts at the end of M and
churns in M+1; one that starts and ends inside M never counts.

Customer MRR(M) = sum of line MRR of the customer's active intervals, converted to the
reporting currency at the rate in force on M's last day (metrics/fx.py).

A customer billed in several currencies (rare: a Stripe customer bills in one currency)
gets one row: ``mrr`` is the sum over currencies in the reporting currency, while
``currency``, ``mrr_local`` and ``fx_rate`` describe the dominant currency (the one with
the largest converted MRR); then ``mrr != mrr_local x fx_rate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_index, months_from_index, normalise_months
from saas_metrics.metrics.frames import conform, empty_frame, to_schema
from saas_metrics.metrics.fx import month_last_day, rate_on
from saas_metrics.metrics.revenue_intervals import REVENUE_INTERVALS
from saas_metrics.tables import Column, TableSchema

CUSTOMER_MRR = TableSchema(
    name="customer_mrr",
    description="MRR of each paying customer at the last instant of each month.",
    columns=(
        Column("month", "date", nullable=False),
        Column("customer_id", "str", nullable=False),
        Column("currency", "str", "the customer's (dominant) billing currency"),
        Column("mrr_local", "float", "MRR in that currency"),
        Column("fx_rate", "float", "rate currency -> reporting currency in force on the month's last day"),
        Column("mrr", "float", "MRR in the reporting currency (all currencies of the customer)"),
        Column("plan_tier", "str", "plan tier of the customer's largest line"),
        Column("billing_interval", "str", "billing interval of the customer's largest line"),
        Column("subscriptions", "int", "subscriptions contributing MRR"),
    ),
    time_column="month",
    key=("month", "customer_id"),
)


ACTIVE_LINE_COLUMNS = ("customer_id", "subscription_id", "currency", "mrr", "plan_tier", "billing_interval")


def active_line_months(intervals: pd.DataFrame, months: Sequence[pd.Timestamp],
                       columns: Sequence[str] = ACTIVE_LINE_COLUMNS) -> pd.DataFrame:
    """One row per (interval, month M in ``months``) with the interval active at M's end: the
    interval's ``columns`` and the month's index ``m``.

    Active months of [start, end): month(start) .. month(end) - 1 (end NaT: open).
    Vectorised by repeating each interval over its overlap with the requested range.
    """
    wanted = np.array(sorted({int(i) for i in month_index(pd.Series(months))}), dtype="int64")
    cols = list(columns)
    if len(intervals) == 0 or len(wanted) == 0:
        return pd.DataFrame({**{c: pd.Series(dtype=object) for c in cols}, "m": pd.Series(dtype="int64")})
    first = month_index(intervals["start_at"])
    end = intervals["end_at"]
    last = np.where(end.isna().to_numpy(), wanted[-1], month_index(end) - 1)
    lo = np.maximum(first, wanted[0])
    hi = np.minimum(last, wanted[-1])
    counts = np.clip(hi - lo + 1, 0, None)
    rows = np.repeat(np.arange(len(intervals)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    m = np.repeat(lo, counts) + offsets
    expanded = intervals.iloc[rows][cols].reset_index(drop=True)
    expanded["m"] = m
    return expanded[np.isin(m, wanted)].reset_index(drop=True)


def customer_mrr_snapshots(
    intervals: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    fx_rates: pd.DataFrame,
    reporting_currency: str,
) -> pd.DataFrame:
    """One row per (month, customer_id) with MRR > 0 at the last instant of the month."""
    months = normalise_months(months)
    intervals = conform(intervals, REVENUE_INTERVALS)
    lines = active_line_months(intervals[intervals["mrr"] > 0], months)
    if lines.empty:
        return empty_frame(CUSTOMER_MRR)
    reporting_currency = reporting_currency.upper()
    lines["currency"] = lines["currency"].fillna(reporting_currency)

    by_currency = lines.groupby(["m", "customer_id", "currency"], sort=False, as_index=False).agg(
        mrr_local=("mrr", "sum"), subscriptions=("subscription_id", "nunique")
    )
    month_ts = months_from_index(by_currency["m"].to_numpy())
    by_currency["fx_rate"] = rate_on(fx_rates, by_currency["currency"], month_last_day(month_ts), reporting_currency)
    by_currency["mrr"] = by_currency["mrr_local"] * by_currency["fx_rate"]
    by_currency = by_currency.sort_values(["m", "customer_id", "mrr"], ascending=[True, True, False], kind="stable")
    customer = by_currency.groupby(["m", "customer_id"], sort=False).agg(
        currency=("currency", "first"), mrr_local=("mrr_local", "first"), fx_rate=("fx_rate", "first"),
        mrr=("mrr", "sum"),
    )
    subs = lines.groupby(["m", "customer_id"], sort=False)["subscription_id"].nunique().rename("subscriptions")

    # Tier and interval of the largest line (reporting currency), ties broken by plan_tier name.
    rate = by_currency.set_index(["m", "customer_id", "currency"])["fx_rate"]
    lines["mrr_reporting"] = lines["mrr"].to_numpy() * rate.reindex(pd.MultiIndex.from_frame(lines[["m", "customer_id", "currency"]])).to_numpy()
    lines = lines.sort_values(["m", "customer_id", "mrr_reporting", "plan_tier"], ascending=[True, True, False, True], kind="stable")
    largest = lines.groupby(["m", "customer_id"], sort=False)[["plan_tier", "billing_interval"]].first()

    out = customer.join(subs).join(largest).reset_index()
    out = out[out["mrr"] > 0]
    out["month"] = months_from_index(out["m"].to_numpy()).to_numpy()
    out = out.sort_values(["month", "customer_id"], kind="stable")
    return to_schema(out, CUSTOMER_MRR)


def first_paid_months(intervals: pd.DataFrame) -> pd.Series:
    """First month-end at which each customer had MRR > 0 (index customer_id, values month starts).

    An interval counts from month(start_at) if it is still active at that month's end, i.e.
    end_at is NULL or end_at >= first(month(start_at) + 1); intervals that start and end inside
    one month never reach a month-end and are skipped.
    """
    intervals = conform(intervals, REVENUE_INTERVALS)
    paid = intervals[intervals["mrr"] > 0]
    first = month_index(paid["start_at"])
    last = np.where(paid["end_at"].isna().to_numpy(), first, month_index(paid["end_at"]) - 1)
    reaches = last >= first
    per_customer = pd.Series(first[reaches], index=paid["customer_id"].to_numpy()[reaches]).groupby(level=0).min()
    if per_customer.empty:
        # An object index like a filled result's: a default (int64) index would not merge on customer_id.
        return pd.Series(index=pd.Index([], dtype=object, name="customer_id"), dtype="datetime64[ns]", name="first_paid_month")
    return pd.Series(months_from_index(per_customer.to_numpy()).to_numpy(), index=per_customer.index, name="first_paid_month").rename_axis("customer_id")
