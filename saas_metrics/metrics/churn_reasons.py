"""Why customers left: one reason per churned customer and month, and churned MRR by reason.

The guides' main churn advice is to record why customers leave and act on it. For each
customer with an MRR movement ``churn`` in M (E = first day of M+1), the reason comes from
the first source that has one, in this order (``reason_source``):

1. ``churn_reasons_file``: a row of crm_churn_reasons (the ``churn_reasons.csv`` a team keeps
   by hand) for the customer dated within ``window_days`` of the churn month;
2. ``crm_company``: the churn-reason property of the customer's CRM company (HubSpot
   ``churn_reason``; a snapshot, so it applies to the customer's churns);
3. ``crm_deal``: the closed-lost reason of a lost deal of the customer's company closed within
   ``window_days`` of the churn month (a renewal lost);
4. ``stripe_feedback``: Stripe's ``cancellation_details.feedback`` of the customer's
   subscription that ended (else was canceled) within ``window_days`` of the churn month
   (too_expensive, missing_features, switched_service, unused, customer_service,
   too_complex, low_quality, other);
5. ``stripe_reason``: Stripe's ``cancellation_details.reason`` when it says more than that the
   customer asked (payment_failed, payment_disputed);
6. otherwise ``unknown``, kept as its own bucket so the share without a reason is visible.

"Within the window" means dated in [first(M) - window_days, E + window_days]. Among several
candidates of one source the one dated closest to E wins. Reasons are normalised to
lower-case snake_case ("Too expensive" -> too_expensive); a comment (Stripe's
``cancellation_details.comment`` or the file's) is kept beside it.

kpi rows (segment ``churn_reason``, segment_value = the reason): ``churned_mrr`` = sum of the
churned MRR (the movement amount) and ``churned_customers`` = count, per reason; the reasons
of a month sum to its headline churned_mrr and churned_customers. A month has a row for each
reason of its own churns, and 'unknown' every month (0 when every churn has a reason).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.calendar import normalise_months
from saas_metrics.metrics.kpi import COUNT, CURRENCY, wide_to_kpi
from saas_metrics.tables import Column, TableSchema, coerce_frame

UNKNOWN = "unknown"
SOURCES = ("churn_reasons_file", "crm_company", "crm_deal", "stripe_feedback", "stripe_reason")
#: Stripe cancellation_details.reason values that explain a churn (cancellation_requested does not)
STRIPE_EXPLAINING_REASONS = ("payment_failed", "payment_disputed")
SEGMENT = "churn_reason"

CHURN_REASONS = TableSchema(
    name="churn_reasons",
    description="One reason per customer that churned in the month, with the source it came from.",
    columns=(
        Column("month", "date", "first day of the churn month", nullable=False),
        Column("customer_id", "str", "billing customer", nullable=False),
        Column("churned_mrr", "float", "MRR lost (the churn movement's amount, reporting currency)"),
        Column("reason", "str", "normalised reason; 'unknown' when no source has one", nullable=False),
        Column("reason_source", "str", "churn_reasons_file / crm_company / crm_deal / stripe_feedback / stripe_reason / unknown"),
        Column("comment", "str", "free text recorded with the reason"),
    ),
    time_column="month",
    key=("month", "customer_id"),
)

_CANDIDATE_COLUMNS = ["customer_id", "at", "reason", "comment", "source"]


def normalise_reason(values: pd.Series) -> pd.Series:
    """'Too expensive ' -> 'too_expensive'; empty text -> None."""
    text = values.astype("object").where(values.notna(), "").astype(str).str.strip().str.lower()
    text = text.str.replace(r"[\s\-/]+", "_", regex=True).str.strip("_")
    return text.where(text != "", None)


def _candidates(customer_id: pd.Series, at: pd.Series, reason: pd.Series, comment: pd.Series | None, source: str) -> pd.DataFrame:
    frame = pd.DataFrame({
        "customer_id": customer_id.astype("object").to_numpy(),
        "at": pd.to_datetime(at).astype("datetime64[ns]").to_numpy(),
        "reason": normalise_reason(reason).to_numpy(),
        "comment": (comment if comment is not None else pd.Series(None, index=reason.index, dtype="object")).to_numpy(),
        "source": source,
    })
    return frame[frame["customer_id"].notna() & frame["reason"].notna()]


def company_customers(links: pd.DataFrame | None, companies: pd.DataFrame | None) -> pd.DataFrame:
    """(company_id, customer_id) pairs from the identity links and the companies' own billing link."""
    pairs = []
    if links is not None and len(links) and "crm_company_id" in links:
        pairs.append(links[["crm_company_id", "customer_id"]].rename(columns={"crm_company_id": "company_id"}))
    if companies is not None and len(companies) and "billing_customer_id" in companies:
        pairs.append(companies[["company_id", "billing_customer_id"]].rename(columns={"billing_customer_id": "customer_id"}))
    if not pairs:
        return pd.DataFrame({"company_id": pd.Series(dtype="object"), "customer_id": pd.Series(dtype="object")})
    return pd.concat(pairs, ignore_index=True).dropna().drop_duplicates()


def reason_candidates(
    subscriptions: pd.DataFrame | None,
    companies: pd.DataFrame | None,
    deals: pd.DataFrame | None,
    reason_rows: pd.DataFrame | None,
    links: pd.DataFrame | None,
) -> pd.DataFrame:
    """Every recorded reason as (customer_id, at, reason, comment, source), ``at`` NaT when undated."""
    parts = []
    if reason_rows is not None and len(reason_rows):
        parts.append(_candidates(reason_rows["customer_id"], reason_rows["churned_at"], reason_rows["reason"],
                                 reason_rows.get("comment"), "churn_reasons_file"))
    pairs = company_customers(links, companies)
    if companies is not None and len(companies) and "churn_reason" in companies:
        with_reason = companies[["company_id", "churn_reason"]].merge(pairs, on="company_id")
        parts.append(_candidates(with_reason["customer_id"], pd.Series(pd.NaT, index=with_reason.index),
                                 with_reason["churn_reason"], None, "crm_company"))
    if deals is not None and len(deals) and "closed_lost_reason" in deals:
        lost = deals[~deals["is_closed_won"].astype("boolean").fillna(False).astype(bool)]
        lost = lost[["company_id", "closed_at", "closed_lost_reason"]].merge(pairs, on="company_id")
        parts.append(_candidates(lost["customer_id"], lost["closed_at"], lost["closed_lost_reason"], None, "crm_deal"))
    if subscriptions is not None and len(subscriptions) and "cancellation_feedback" in subscriptions:
        subs = subscriptions
        at = pd.to_datetime(subs["ended_at"]).fillna(pd.to_datetime(subs["canceled_at"]))
        comment = subs.get("cancellation_comment")
        parts.append(_candidates(subs["customer_id"], at, subs["cancellation_feedback"], comment, "stripe_feedback"))
        explaining = subs["cancellation_reason"].where(normalise_reason(subs["cancellation_reason"]).isin(STRIPE_EXPLAINING_REASONS))
        parts.append(_candidates(subs["customer_id"], at, explaining, comment, "stripe_reason"))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "at" else "object") for c in _CANDIDATE_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def churn_reasons(
    movements: pd.DataFrame,
    candidates: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    window_days: int = 92,
) -> pd.DataFrame:
    """CHURN_REASONS rows for the churn movements of ``months`` (module docstring)."""
    months = normalise_months(months)
    churned = movements[(movements["movement"] == "churn")]
    churned = churned.assign(month=pd.to_datetime(churned["month"]).astype("datetime64[ns]"), customer_id=churned["customer_id"].astype(str))
    churned = churned[churned["month"].isin(months)][["month", "customer_id", "amount"]].rename(columns={"amount": "churned_mrr"})
    if churned.empty:
        return CHURN_REASONS.empty_frame()
    cand = candidates.assign(customer_id=candidates["customer_id"].astype(str),
                             priority=candidates["source"].map({s: i for i, s in enumerate(SOURCES)}))
    pairs = churned[["month", "customer_id"]].merge(cand, on="customer_id")
    end = pairs["month"] + pd.offsets.MonthBegin(1)
    window = pd.Timedelta(days=window_days)
    in_window = pairs["at"].isna() | ((pairs["at"] >= pairs["month"] - window) & (pairs["at"] <= end + window))
    pairs = pairs[in_window.to_numpy()].assign(distance=(pairs["at"] - end).abs().fillna(pd.Timedelta(0)))
    best = pairs.sort_values(["month", "customer_id", "priority", "distance"], kind="stable").drop_duplicates(["month", "customer_id"])
    out = churned.merge(best[["month", "customer_id", "reason", "source", "comment"]], on=["month", "customer_id"], how="left")
    out["reason_source"] = out["source"].fillna(UNKNOWN)
    out["reason"] = out["reason"].fillna(UNKNOWN)
    out = out.sort_values(["month", "churned_mrr", "customer_id"], ascending=[True, False, True], kind="stable")
    return coerce_frame(out, CHURN_REASONS)


def churn_reason_kpis(reasons: pd.DataFrame, months: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """kpi rows of churned_mrr and churned_customers per reason (segment 'churn_reason'): per month the
    reasons of that month's churns and 'unknown' (0 when every churn has a reason), so re-running one
    month gives exactly the rows a range run gave it."""
    months = normalise_months(months)
    frame = reasons.assign(month=pd.to_datetime(reasons["month"]).astype("datetime64[ns]"))
    present = pd.MultiIndex.from_frame(frame[["month", "reason"]].drop_duplicates())
    unknown = pd.MultiIndex.from_product([pd.DatetimeIndex(months), [UNKNOWN]], names=["month", "reason"])
    grid = present.union(unknown) if len(present) else unknown
    grouped = frame.groupby(["month", "reason"]).agg(churned_mrr=("churned_mrr", "sum"), churned_customers=("customer_id", "nunique"))
    wide = grouped.reindex(grid).fillna(0.0).reset_index()
    wide = wide[wide["month"].isin(months)]
    wide["churned_customers"] = wide["churned_customers"].astype(np.float64)
    return wide_to_kpi(wide, {"churned_mrr": CURRENCY, "churned_customers": COUNT}, segment=SEGMENT, segment_column="reason")
