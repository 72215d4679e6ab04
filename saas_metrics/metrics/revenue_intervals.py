"""Revenue intervals: every stretch of time over which one subscription line earns a constant MRR.

docs/metric-definitions.md#line-mrr. The billing tables (Stripe-like subscriptions,
item versions, prices, status history, discounts) and the periods-style import are both
reduced to one table of half-open intervals ``[start_at, end_at)`` with a per-month amount
``mrr`` in the line's own currency. Everything downstream (snapshots, movements, cohorts,
CMRR) reads only these intervals.

Line MRR = quantity x unit_amount x (1 - percent_off / 100) / interval_months, where
interval_months is month: 1 x count, year: 12 x count, week: 12/52 x count, day: 12/365 x count.
Tax never enters MRR (it exists only on invoices).

A line contributes 0 while the price is one-time or metered, the subscription is trialing
(before ``trial_end``), or its status is trialing, paused, unpaid, incomplete,
incomplete_expired or canceled. ``past_due`` keeps contributing for
``policy.delinquency_days`` days from the start of the past_due run, then 0 until the status
changes (back to active: contributes again).

Choices (documented in docs/metrics.md through the catalog):

* Time not covered by a subscription's status history contributes 0; a subscription with no
  history at all gets a synthetic one from its own columns: trialing until ``trial_end``,
  then active; ``incomplete``/``incomplete_expired`` subscriptions never pay; a subscription
  whose current status is past_due/unpaid becomes past_due at the due date of its earliest
  unpaid (open/uncollectible, never paid) invoice.
* Churn recognition ``period_end`` (default): a line ends at ``ended_at``;
  ``cancellation``: at ``canceled_at`` when that is earlier.
* Several discounts active at once apply one after the other: factor = prod(1 - p_i/100).
* When both sources are present, billing wins: periods rows whose subscription_id appears in
  the billing subscriptions are ignored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics.frames import canonical, empty_frame, to_schema
from saas_metrics.sources import schemas as src
from saas_metrics.tables import Column, TableSchema, isin

REVENUE_INTERVALS = TableSchema(
    name="revenue_intervals",
    description="Half-open intervals [start_at, end_at) over which one subscription line earns a constant MRR (line currency).",
    columns=(
        Column("customer_id", "str", nullable=False),
        Column("subscription_id", "str", nullable=False),
        Column("item_id", "str", "subscription item id (periods: the subscription id)"),
        Column("plan_id", "str", "price id (periods: plan_id)"),
        Column("plan_tier", "str", "plan tier, 'unknown' when absent"),
        Column("billing_interval", "str", "month / quarter / year / multi_year / week / other"),
        Column("currency", "str", "ISO 4217 currency of mrr"),
        Column("start_at", "datetime", "inclusive", nullable=False),
        Column("end_at", "datetime", "exclusive; NULL = open"),
        Column("mrr", "float", "monthly recurring revenue of the line over the interval, major units of currency"),
        Column("source", "str", "billing or periods"),
    ),
)

#: Stand-in for an open end while computing (pandas' ns timestamps end in 2262).
FAR_FUTURE = pd.Timestamp("2200-01-01")
PAYING_STATUSES = ("active", "past_due")
NEVER_PAID_STATUSES = ("incomplete", "incomplete_expired")
UNPAID_INVOICE_STATUSES = ("open", "uncollectible")


def interval_months(interval: pd.Series, interval_count: pd.Series) -> pd.Series:
    """Months per billing period: month 1 x n, year 12 x n, week 12/52 x n, day 12/365 x n (NaN otherwise)."""
    per_unit = interval.str.lower().map({"month": 1.0, "year": 12.0, "week": 12.0 / 52.0, "day": 12.0 / 365.0})
    count = pd.to_numeric(interval_count, errors="coerce").fillna(1.0).astype("float64")
    return per_unit.astype("float64") * count


def billing_interval_label(interval: pd.Series, interval_count: pd.Series) -> pd.Series:
    """month x1 -> month, month x3 -> quarter, month x12 / year x1 -> year, year xn -> multi_year, week x1 -> week."""
    unit = interval.fillna("").str.lower()
    count = pd.to_numeric(interval_count, errors="coerce").fillna(1).astype("int64")
    label = np.select(
        [
            (unit == "month") & (count == 1),
            (unit == "month") & (count == 3),
            ((unit == "month") & (count == 12)) | ((unit == "year") & (count == 1)),
            (unit == "year") & (count > 1),
            (unit == "week") & (count == 1),
        ],
        ["month", "quarter", "year", "multi_year", "week"],
        default="other",
    )
    return pd.Series(label, index=interval.index, dtype=object)


def build_revenue_intervals(
    customers: pd.DataFrame,
    prices: pd.DataFrame,
    subscriptions: pd.DataFrame,
    items: pd.DataFrame,
    status_history: pd.DataFrame,
    discounts: pd.DataFrame,
    invoices: pd.DataFrame,
    periods: pd.DataFrame,
    policy: RevenuePolicy,
    reporting_currency: str,
) -> pd.DataFrame:
    """All revenue intervals with mrr > 0 from the billing tables and/or the periods import."""
    reporting_currency = reporting_currency.upper()
    customers = canonical(customers, src.BILLING_CUSTOMERS)
    subscriptions = canonical(subscriptions, src.BILLING_SUBSCRIPTIONS)
    billing = _billing_intervals(
        customers,
        canonical(prices, src.BILLING_PRICES),
        subscriptions,
        canonical(items, src.BILLING_SUBSCRIPTION_ITEMS),
        canonical(status_history, src.BILLING_SUBSCRIPTION_STATUS_HISTORY),
        canonical(discounts, src.BILLING_DISCOUNTS),
        canonical(invoices, src.BILLING_INVOICES),
        policy,
        reporting_currency,
    )
    periods = canonical(periods, src.BILLING_SUBSCRIPTION_PERIODS)
    periods = periods[~isin(periods["subscription_id"], subscriptions["subscription_id"]).to_numpy()]
    from_periods = _period_intervals(periods, reporting_currency)
    frames = [f for f in (billing, from_periods) if len(f)]
    if not frames:
        return empty_frame(REVENUE_INTERVALS)
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["customer_id", "subscription_id", "item_id", "start_at"], kind="stable")
    return to_schema(out, REVENUE_INTERVALS)


def _period_intervals(periods: pd.DataFrame, reporting_currency: str) -> pd.DataFrame:
    """Periods import: monthly_amount over [start_date, end_date), already normalised."""
    if periods.empty:
        return empty_frame(REVENUE_INTERVALS)
    if periods["start_date"].isna().any():
        raise ValueError("billing_subscription_periods: start_date must not be null")
    p = periods[periods["monthly_amount"].fillna(0.0) > 0]
    out = pd.DataFrame({
        "customer_id": p["customer_id"],
        "subscription_id": p["subscription_id"],
        "item_id": p["subscription_id"],
        "plan_id": p["plan_id"],
        "plan_tier": p["plan_id"].fillna("unknown"),
        "billing_interval": "month",
        "currency": p["currency"].fillna(reporting_currency).str.upper(),
        "start_at": p["start_date"],
        "end_at": p["end_date"],
        "mrr": p["monthly_amount"],
        "source": "periods",
    })
    return out[out["end_at"].isna() | (out["end_at"] > out["start_at"])]


def _billing_intervals(
    customers: pd.DataFrame,
    prices: pd.DataFrame,
    subscriptions: pd.DataFrame,
    items: pd.DataFrame,
    status_history: pd.DataFrame,
    discounts: pd.DataFrame,
    invoices: pd.DataFrame,
    policy: RevenuePolicy,
    reporting_currency: str,
    paying: pd.DataFrame | None = None,
    source: str = "billing",
) -> pd.DataFrame:
    """Intervals of the item versions; ``paying`` (subscription_id, run_from, run_to) replaces the
    runs derived from the status history when given (the invoice engine derives them from invoices)."""
    if items.empty or subscriptions.empty:
        return empty_frame(REVENUE_INTERVALS)
    lines = _recurring_lines(customers, prices, subscriptions, items, policy, reporting_currency)
    if lines.empty:
        return empty_frame(REVENUE_INTERVALS)
    if paying is None:
        paying = _paying_runs(subscriptions, status_history, invoices, policy)
    disc = discounts[discounts["percent_off"].fillna(0) > 0].assign(
        start_at=lambda d: d["start_at"].fillna(pd.Timestamp("1900-01-01")),
        end_at=lambda d: d["end_at"].fillna(FAR_FUTURE),
    )
    trial_end = subscriptions.loc[subscriptions["trial_end"].notna(), ["subscription_id", "trial_end"]]

    breakpoints = pd.concat(
        [
            paying[["subscription_id", "run_from"]].rename(columns={"run_from": "t"}),
            paying[["subscription_id", "run_to"]].rename(columns={"run_to": "t"}),
            disc[["subscription_id", "start_at"]].rename(columns={"start_at": "t"}),
            disc[["subscription_id", "end_at"]].rename(columns={"end_at": "t"}),
            trial_end.rename(columns={"trial_end": "t"}),
        ],
        ignore_index=True,
    ).drop_duplicates()
    segments = _segment(lines, breakpoints)

    # Paying at the segment start: inside a paying run and past the trial.
    seg_sorted = segments.sort_values("seg_start", kind="stable").astype({"subscription_id": "str"})
    runs_sorted = paying.sort_values("run_from", kind="stable").astype({"subscription_id": "str"})
    matched = pd.merge_asof(
        seg_sorted, runs_sorted[["subscription_id", "run_from", "run_to"]],
        left_on="seg_start", right_on="run_from", by="subscription_id", direction="backward",
    ).set_index("seg_id").reindex(segments["seg_id"])
    is_paying = (matched["run_to"] > segments["seg_start"].to_numpy()).fillna(False).to_numpy(dtype=bool)
    in_trial = (segments["trial_end"].notna() & (segments["seg_start"] < segments["trial_end"])).to_numpy()
    factor = _discount_factor(segments, disc)
    segments["mrr"] = np.where(is_paying & ~in_trial, segments["base_mrr"].to_numpy() * factor, 0.0)

    merged = _merge_equal_neighbours(segments)
    merged = merged[merged["mrr"] > 0]
    merged["end_at"] = merged["seg_end"].where(merged["seg_end"] < FAR_FUTURE)
    merged["start_at"] = merged["seg_start"]
    merged["source"] = source
    return merged[REVENUE_INTERVALS.column_names]


def _recurring_lines(
    customers: pd.DataFrame,
    prices: pd.DataFrame,
    subscriptions: pd.DataFrame,
    items: pd.DataFrame,
    policy: RevenuePolicy,
    reporting_currency: str,
) -> pd.DataFrame:
    """Item versions of recurring licensed prices with their base MRR and [lo, hi) window."""
    unknown_prices = items.loc[~isin(items["price_id"], prices["price_id"]).to_numpy(), "price_id"]
    if len(unknown_prices):
        raise ValueError(f"subscription items reference unknown price_id(s): {sorted(set(unknown_prices))[:5]}")
    unknown_subs = items.loc[~isin(items["subscription_id"], subscriptions["subscription_id"]).to_numpy(), "subscription_id"]
    if len(unknown_subs):
        raise ValueError(f"subscription items reference unknown subscription_id(s): {sorted(set(unknown_subs))[:5]}")
    subs = subscriptions[["subscription_id", "customer_id", "start_at", "created_at", "trial_end", "canceled_at", "ended_at"]]
    lines = items.merge(prices.drop(columns=[c.name for c in src.LINEAGE_COLUMNS]), on="price_id", how="left")
    lines = lines.merge(subs, on="subscription_id", how="left")
    lines = lines.merge(
        customers[["customer_id", "currency"]].rename(columns={"currency": "customer_currency"}),
        on="customer_id", how="left",
    )
    price_type = lines["price_type"].fillna("recurring").str.lower()
    usage_type = lines["usage_type"].fillna("licensed").str.lower()
    months_per_period = interval_months(lines["interval"].fillna(""), lines["interval_count"])
    recurring = (price_type != "one_time") & (usage_type != "metered") & months_per_period.notna()
    lines = lines[recurring].copy()
    months_per_period = months_per_period[recurring]

    lines["base_mrr"] = lines["quantity"].fillna(1.0) * lines["unit_amount"].fillna(0.0) / months_per_period
    lines["billing_interval"] = billing_interval_label(lines["interval"], lines["interval_count"])
    lines["plan_id"] = lines["price_id"]
    lines["plan_tier"] = lines["plan_tier"].fillna(lines["plan_name"]).fillna("unknown")
    lines["currency"] = lines["currency"].fillna(lines["customer_currency"]).fillna(reporting_currency).str.upper()

    lo = lines["valid_from"].fillna(lines["start_at"]).fillna(lines["created_at"])
    if lo.isna().any():
        raise ValueError("subscription item versions need valid_from (or a subscription start_at/created_at)")
    end = lines["ended_at"].fillna(FAR_FUTURE)
    if policy.churn_recognition == "cancellation":
        end = end.where(lines["canceled_at"].isna() | (lines["canceled_at"] >= end), lines["canceled_at"])
    hi = lines["valid_to"].fillna(FAR_FUTURE).where(lambda s: s < end, end)
    lines["lo"], lines["hi"] = lo, hi
    lines = lines[(lines["lo"] < lines["hi"]) & (lines["base_mrr"] > 0)]
    return lines[[
        "item_version_id", "item_id", "subscription_id", "customer_id", "plan_id", "plan_tier",
        "billing_interval", "currency", "base_mrr", "lo", "hi", "trial_end",
    ]].reset_index(drop=True)


def _paying_runs(
    subscriptions: pd.DataFrame,
    status_history: pd.DataFrame,
    invoices: pd.DataFrame,
    policy: RevenuePolicy,
) -> pd.DataFrame:
    """Per subscription, the non-overlapping runs [run_from, run_to) during which it pays.

    active runs pay; past_due runs pay for their first ``delinquency_days`` days.
    """
    hist = status_history[["subscription_id", "status", "valid_from", "valid_to"]].dropna(subset=["valid_from"])
    synthetic = _synthetic_history(subscriptions[~isin(subscriptions["subscription_id"], hist["subscription_id"]).to_numpy()], invoices)
    hist = pd.concat([h for h in (hist, synthetic) if len(h)], ignore_index=True) if len(synthetic) else hist
    if hist.empty:
        return pd.DataFrame({"subscription_id": pd.Series(dtype=object), "run_from": pd.Series(dtype="datetime64[ns]"), "run_to": pd.Series(dtype="datetime64[ns]")})
    hist = hist.assign(
        status=hist["status"].str.lower(),
        valid_to=hist["valid_to"].fillna(FAR_FUTURE),
    ).sort_values(["subscription_id", "valid_from"], kind="stable")
    # Merge consecutive rows with the same status, so a past_due clock starts once.
    new_run = (hist["subscription_id"] != hist["subscription_id"].shift()) | (hist["status"] != hist["status"].shift())
    hist = hist.assign(run=new_run.cumsum()).groupby("run", sort=False).agg(
        subscription_id=("subscription_id", "first"), status=("status", "first"),
        run_from=("valid_from", "min"), run_to=("valid_to", "max"),
    )
    hist = hist[hist["status"].isin(PAYING_STATUSES)].copy()
    cutoff = hist["run_from"] + pd.Timedelta(days=policy.delinquency_days)
    is_past_due = hist["status"] == "past_due"
    hist.loc[is_past_due, "run_to"] = hist.loc[is_past_due, "run_to"].where(hist.loc[is_past_due, "run_to"] < cutoff[is_past_due], cutoff[is_past_due])
    hist = hist[hist["run_to"] > hist["run_from"]]
    return hist[["subscription_id", "run_from", "run_to"]].reset_index(drop=True)


def _synthetic_history(subscriptions: pd.DataFrame, invoices: pd.DataFrame) -> pd.DataFrame:
    """Status history for subscriptions that have none (see the module docstring)."""
    if subscriptions.empty:
        return pd.DataFrame(columns=["subscription_id", "status", "valid_from", "valid_to"])
    subs = subscriptions.copy()
    subs["begin"] = subs["start_at"].fillna(subs["created_at"]).fillna(subs["trial_start"])
    subs["paid_from"] = subs["begin"].where(subs["trial_end"].isna() | (subs["trial_end"] < subs["begin"]), subs["trial_end"])
    status = subs["status"].fillna("active").str.lower()
    unpaid = invoices[
        invoices["status"].str.lower().isin(UNPAID_INVOICE_STATUSES).fillna(False)
        & invoices["paid_at"].isna()
        & invoices["subscription_id"].notna()
    ]
    first_unpaid = (unpaid["due_at"].fillna(unpaid["created_at"])).groupby(unpaid["subscription_id"]).min()
    past_due_from = pd.Series(first_unpaid.reindex(subs["subscription_id"].to_numpy()).to_numpy(), index=subs.index)
    subs["past_due_from"] = pd.to_datetime(past_due_from).where(status.isin(("past_due", "unpaid")))
    subs["past_due_from"] = subs["past_due_from"].where(subs["past_due_from"] > subs["paid_from"])
    never = status.isin(NEVER_PAID_STATUSES)
    active_to = subs["past_due_from"].fillna(subs["ended_at"])
    rows = [
        pd.DataFrame({"subscription_id": subs["subscription_id"], "status": "trialing", "valid_from": subs["begin"], "valid_to": subs["paid_from"]}),
        pd.DataFrame({"subscription_id": subs["subscription_id"], "status": np.where(never, status, "active"), "valid_from": subs["paid_from"], "valid_to": active_to}),
        pd.DataFrame({"subscription_id": subs["subscription_id"], "status": "past_due", "valid_from": subs["past_due_from"], "valid_to": subs["ended_at"]}),
    ]
    out = pd.concat(rows, ignore_index=True).dropna(subset=["valid_from"])
    return out[out["valid_to"].isna() | (out["valid_to"] > out["valid_from"])]


def _segment(lines: pd.DataFrame, breakpoints: pd.DataFrame) -> pd.DataFrame:
    """Cut each line's [lo, hi) at the breakpoints of its subscription that fall inside."""
    lines = lines.reset_index(drop=True).assign(line_id=lambda d: np.arange(len(d)))
    inner = lines[["line_id", "subscription_id", "lo", "hi"]].merge(breakpoints, on="subscription_id")
    inner = inner[(inner["t"] > inner["lo"]) & (inner["t"] < inner["hi"])][["line_id", "t"]]
    starts = pd.concat([lines[["line_id"]].assign(t=lines["lo"]), inner], ignore_index=True)
    starts = starts.drop_duplicates().sort_values(["line_id", "t"], kind="stable")
    nxt = starts.groupby("line_id", sort=False)["t"].shift(-1)
    seg = starts.assign(seg_end=nxt).merge(lines, on="line_id", how="left")
    seg["seg_end"] = seg["seg_end"].fillna(seg["hi"])
    seg = seg.rename(columns={"t": "seg_start"}).reset_index(drop=True)
    seg["seg_id"] = np.arange(len(seg))
    return seg


def _discount_factor(segments: pd.DataFrame, discounts: pd.DataFrame) -> np.ndarray:
    """prod(1 - percent_off/100) of the discounts active at each segment start (1.0 when none)."""
    factor = np.ones(len(segments))
    if discounts.empty:
        return factor
    hits = segments[["seg_id", "subscription_id", "seg_start"]].merge(
        discounts[["subscription_id", "percent_off", "start_at", "end_at"]], on="subscription_id"
    )
    hits = hits[(hits["start_at"] <= hits["seg_start"]) & (hits["seg_start"] < hits["end_at"])]
    if hits.empty:
        return factor
    keep = (1.0 - hits["percent_off"].clip(0, 100) / 100.0).groupby(hits["seg_id"]).prod()
    factor[keep.index.to_numpy()] = keep.to_numpy()
    return factor


def _merge_equal_neighbours(segments: pd.DataFrame) -> pd.DataFrame:
    """Join adjacent segments of one line that earn the same MRR."""
    seg = segments.sort_values(["line_id", "seg_start"], kind="stable")
    prev_mrr = seg.groupby("line_id", sort=False)["mrr"].shift()
    prev_end = seg.groupby("line_id", sort=False)["seg_end"].shift()
    new_run = prev_mrr.isna() | ~np.isclose(seg["mrr"], prev_mrr.fillna(-1.0), rtol=0, atol=1e-9) | (prev_end != seg["seg_start"])
    seg = seg.assign(run=new_run.cumsum())
    first = seg.groupby("run", sort=False).first()
    first["seg_end"] = seg.groupby("run", sort=False)["seg_end"].last()
    return first.reset_index(drop=True)
