"""Headline revenue KPIs per month (docs/metric-definitions.md#revenue).

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

from saas_metrics.calendar import (
    month_index,
    month_of,
    months_from_index,
    normalise_months,
    shift_months,
)
from saas_metrics.metrics.frames import conform
from saas_metrics.metrics.fx import month_last_day, rate_on
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
from saas_metrics.metrics.mrr import CUSTOMER_MRR
from saas_metrics.metrics.retention import RETENTION_UNITS, retention_rates
from saas_metrics.metrics.revenue_intervals import REVENUE_INTERVALS
from saas_metrics.sources.schemas import (
    BILLING_PAYMENTS,
    BILLING_REFUNDS,
    BILLING_SUBSCRIPTIONS,
    CRM_DEALS,
)
from saas_metrics.tables import TableSchema

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
    codes, kinds = pd.factorize(mv["movement"])  # compare small ints, not strings, per movement type
    amount = mv["amount"].to_numpy(dtype="float64")
    columns: dict[str, np.ndarray] = {
        "customers_start": (mv["mrr_start"].to_numpy(dtype="float64") > 0).astype("int64"),
        "fx_impact_mrr": mv["fx_impact"].to_numpy(dtype="float64"),
    }
    for kind, (amount_col, count_col) in _MOVEMENT_COLUMNS.items():
        is_kind = codes == (list(kinds).index(kind) if kind in list(kinds) else -2)
        columns[amount_col] = np.where(is_kind, amount, 0.0)
        columns[count_col] = is_kind.astype("int64")
    grouped = mv.assign(**columns)
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
    movements = conform(movements, MRR_MOVEMENTS)
    snapshots = conform(snapshots, CUSTOMER_MRR)
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
    prev_month = shift_months(months, -1)
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
    mv = conform(movements, MRR_MOVEMENTS)
    sign = mv["movement"].map({"new": 1.0, "expansion": 1.0, "reactivation": 1.0, "contraction": -1.0, "churn": -1.0}).fillna(0.0)
    parts = mv.assign(signed=mv["amount"] * sign)
    g = parts.groupby("month")[["mrr_end", "mrr_start", "signed", "fx_impact"]].sum()
    residual = g["mrr_end"] - (g["mrr_start"] + g["signed"] + g["fx_impact"])
    return pd.DataFrame({"month": g.index.to_numpy(), "residual": residual.to_numpy()})


# --- committed MRR, cash and ACV ---------------------------------------------------------

#: months of one billing period per billing_interval label (for scheduled downgrades)
_PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12, "multi_year": 24, "week": 1, "other": 1}


def cmrr_kpis(
    intervals: pd.DataFrame,
    subscriptions: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    fx_rates: pd.DataFrame,
    reporting_currency: str,
) -> pd.DataFrame:
    """kpi rows of cmrr and carr (docs/metric-definitions.md#cmrr), at M's end E = first(M+1), M's rate.

    cmrr = MRR + signed-not-started - scheduled cancellations - scheduled downgrades, where
    * signed-not-started: subscriptions created before E whose first interval starts at or
      after E and that are not in a trial at E; their MRR at their first interval start;
    * scheduled cancellations: MRR at E of subscriptions whose cancellation was requested
      before E but ends at/after E (canceled_at < E <= ended_at), or, with no canceled_at and
      no ended_at yet, that are flagged cancel_at_period_end or have cancel_at >= E;
    * scheduled downgrades: for lines active at E whose interval ends within one billing
      period after E and is followed directly by a lower-MRR interval of the same item
      (a lower item version or a discount starting), the difference;
      subscriptions scheduled to cancel are not counted twice.
    carr = 12 x cmrr.
    """
    months = normalise_months(months)
    iv = conform(intervals, REVENUE_INTERVALS)
    iv = iv[iv["mrr"] > 0].reset_index(drop=True)
    subs = conform(subscriptions, BILLING_SUBSCRIPTIONS).drop_duplicates("subscription_id").set_index("subscription_id")
    ids = iv["subscription_id"].to_numpy()

    def per_interval(column: pd.Series) -> np.ndarray:
        return column.reindex(ids).to_numpy()

    created, trial_end = per_interval(subs["created_at"]), per_interval(subs["trial_end"])
    canceled_at, ended_at, cancel_at = per_interval(subs["canceled_at"]), per_interval(subs["ended_at"]), per_interval(subs["cancel_at"])
    flag = subs["cancel_at_period_end"].astype("boolean").fillna(False).astype(bool)
    cancel_flag = flag.reindex(ids).fillna(False).to_numpy(dtype=bool)
    sub_first = per_interval(iv.groupby("subscription_id")["start_at"].min())
    start, end = iv["start_at"].to_numpy(), iv["end_at"].to_numpy()
    mrr = iv["mrr"].to_numpy()
    # the next interval of the same item starting where this one ends (a scheduled change)
    follow = iv[["subscription_id", "item_id", "start_at", "mrr"]].drop_duplicates(["subscription_id", "item_id", "start_at"])
    following = iv[["subscription_id", "item_id", "end_at"]].merge(
        follow.rename(columns={"start_at": "end_at", "mrr": "mrr_next"}), on=["subscription_id", "item_id", "end_at"], how="left"
    )["mrr_next"].to_numpy()
    drop = np.where(np.isnan(following), 0.0, np.clip(mrr - following, 0.0, None))
    period = iv["billing_interval"].map(_PERIOD_MONTHS).fillna(1).to_numpy(dtype="int64")

    currency_code, currencies = pd.factorize(iv["currency"].fillna(reporting_currency))
    rows = []
    for month in months:  # vectorised over intervals; one pass per reported month
        e = np.datetime64(month + pd.DateOffset(months=1), "ns")
        active = (start < e) & (pd.isna(end) | (end >= e))
        signed = (sub_first >= e) & (start == sub_first) & (created < e) & ~(trial_end >= e)
        requested = ~pd.isna(canceled_at) & (canceled_at < e) & (pd.isna(ended_at) | (ended_at >= e))
        flagged = pd.isna(canceled_at) & pd.isna(ended_at) & (cancel_flag | (cancel_at >= e))
        cancelling = active & (requested | flagged)
        limit = months_from_index(month_index(pd.Series([month])) [0] + 1 + period).to_numpy()
        downgrade = active & ~cancelling & ~pd.isna(end) & (end <= limit)
        rate = rate_on(fx_rates, currencies, month_last_day(pd.Series([month] * len(currencies))), reporting_currency)[currency_code]
        cmrr = float((rate * (mrr * (active.astype(float) + signed - cancelling) - drop * downgrade)).sum())
        rows.append({"month": month, "cmrr": cmrr, "carr": 12.0 * cmrr})
    return wide_to_kpi(pd.DataFrame(rows, columns=["month", "cmrr", "carr"]), {"cmrr": CURRENCY, "carr": CURRENCY})


def cash_kpis(
    payments: pd.DataFrame,
    refunds: pd.DataFrame,
    fx_rates: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    reporting_currency: str,
) -> pd.DataFrame:
    """kpi rows of cash_collected = succeeded payments - succeeded refunds created in M.

    Each payment converts at its own date's rate, each refund at the refund's date's rate.
    Refunds never change MRR.
    """
    months = normalise_months(months)
    index = pd.DatetimeIndex(months).astype("datetime64[ns]")

    def converted(frame: pd.DataFrame | None, schema: TableSchema) -> pd.Series:
        f = conform(frame, schema)
        f = f[(f["status"].str.lower() == "succeeded").fillna(False) & f["created_at"].notna()]
        f = f.assign(month=month_of(f["created_at"]))
        f = f[f["month"].isin(index)]
        if f.empty:
            return pd.Series(0.0, index=index)
        amount = f["amount"].fillna(0.0).to_numpy() * rate_on(fx_rates, f["currency"].fillna(reporting_currency), f["created_at"].dt.normalize(), reporting_currency)
        return pd.Series(amount, index=f["month"].to_numpy()).groupby(level=0).sum().reindex(index, fill_value=0.0)

    cash = converted(payments, BILLING_PAYMENTS) - converted(refunds, BILLING_REFUNDS)
    return wide_to_kpi(pd.DataFrame({"month": index, "cash_collected": cash.to_numpy()}), {"cash_collected": CURRENCY})


def acv_kpis(
    deals: pd.DataFrame,
    new_mrr: pd.Series,
    new_customers: pd.Series,
    fx_rates: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    reporting_currency: str,
) -> pd.DataFrame:
    """kpi rows of acv (docs/metric-definitions.md#acv).

    acv(M) = mean amount (first-year contract value, converted at the close date's rate) of
    closed-won deals closed in M. When the CRM has no amount on any closed-won deal, the
    fallback is 12 x new_mrr(M) / new_customers(M) for every month (never mixed per month);
    NULL when the month has no deal / no new customer.
    """
    months = normalise_months(months)
    index = pd.DatetimeIndex(months).astype("datetime64[ns]")
    d = conform(deals, CRM_DEALS)
    won = d[d["is_closed_won"].fillna(False).astype(bool) & d["closed_at"].notna()]
    with_amount = won[won["amount"].notna()]
    if with_amount.empty:
        nm = pd.Series(new_mrr, dtype="float64")
        nm.index = pd.to_datetime(nm.index).astype("datetime64[ns]")
        nc = pd.Series(new_customers, dtype="float64")
        nc.index = pd.to_datetime(nc.index).astype("datetime64[ns]")
        acv = safe_divide(12.0 * nm.reindex(index), nc.reindex(index))
    else:
        month = month_of(with_amount["closed_at"])
        amounts = with_amount[month.isin(index).to_numpy()]
        month = month[month.isin(index)]
        if amounts.empty:
            acv = np.full(len(index), np.nan)
        else:
            rates = rate_on(fx_rates, amounts["currency"].fillna(reporting_currency), amounts["closed_at"].dt.normalize(), reporting_currency)
            acv = pd.Series(amounts["amount"].to_numpy() * rates, index=month.to_numpy()).groupby(level=0).mean().reindex(index).to_numpy()
    return wide_to_kpi(pd.DataFrame({"month": index, "acv": np.asarray(acv, dtype="float64")}), {"acv": CURRENCY})
