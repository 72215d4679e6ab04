"""Customer health score per paying account-month (docs/metric-definitions.md#customer-health-score).

Scored: every customer paying at the end of M (customer_mrr row with mrr > 0).
score = sum over components of weight x sub-score, weights from
``EngagementPolicy.health_weights`` (sum 100; defaults usage_trend 35,
seat_utilisation 20, support_burden 15, nps 15, billing_health 15), so 0 <= score <= 100.
Each component's contribution is reported in points (``<component>_points``).

Sub-scores (0..1); "neutral" = 0.5, used when the input is unknown:

- **usage_trend**: with p = usage_change_pct of the account (account_engagement),
  clip(1 + p, 0, 1) when usage(M-1) > 0 (flat or growing = 1, -50 % = 0.5, -100 % = 0);
  1 when usage(M-1) = 0 and usage(M) > 0 (usage started); 0 when both are 0 (a paying
  account that does not use the product); neutral when the customer has no linked
  product account or usage(M-1) was not read.
- **seat_utilisation** = clip(active_users / seats, 0, 1) with active_users the account's
  MAU in M and seats the product account's licensed seats; neutral when seats are
  unknown or 0, or no product account is linked.
- **support_burden** = 1 - clip(tickets_per_seat / ``health_tickets_per_seat_max``, 0, 1),
  tickets_per_seat = tickets created in M by the customer / seats (seats unknown or < 1
  count as 1); 0 when an urgent ticket of the customer is open at the end of M, or when a
  ticket it created in the ``ticket_topic_lookback_months`` (3) months ending with M is
  about a risky topic (``ticket_topics``: keywords of discount, value/ROI, competitor
  matched in the ticket's category and tags; the guides' "flag customers whose tickets ask
  about discounts, value or competitors"); those topics are kept in ``risky_ticket_topics``.
- **nps** = latest NPS score (0-10) of the customer submitted in the
  ``health_nps_lookback_months`` months ending with M, / 10; neutral when none.
- **billing_health** = 0 when past due at the end of M, else 0.5 when a payment failed
  in M, else 1. Past due at the end of M: a subscription of the customer has status
  past_due or unpaid at the last instant of M (status history, [valid_from, valid_to)),
  or days_past_due > ``health_past_due_grace_days``. days_past_due = days from the due
  date of the customer's oldest invoice still unpaid at M's end (status open or
  uncollectible and never paid, or paid on/after first(M+1); draft and void excluded)
  to M's last day, 0 when none.

Bands: healthy when score >= ``health_healthy_min`` (70), at_risk when >=
``health_at_risk_min`` (40), else critical. score_change = score(M) - score(M-1) (NaN
when the customer was not scored in M-1); entered_critical = band critical in M and
not critical (or not scored) in M-1. To get them the inputs must cover M-1 as well
(engagement and snapshots of M-1, tickets/payments of M-1, NPS of the lookback window
before M-1), and tickets must include every earlier ticket that may still be open.
Scores are rounded to 1e-6 points before banding, so float noise cannot move a band.
See docs/health.md.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_of, next_month, normalise_months, previous_month
from saas_metrics.config import EngagementPolicy
from saas_metrics.metrics import kpi
from saas_metrics.metrics.support import open_at_month_end, prepare_tickets, ticket_topics
from saas_metrics.metrics.usage import require_columns
from saas_metrics.tables import Column, TableSchema, coerce_frame

COMPONENTS = ("usage_trend", "seat_utilisation", "support_burden", "nps", "billing_health")
NEUTRAL = 0.5
HEALTHY, AT_RISK, CRITICAL = "healthy", "at_risk", "critical"
BANDS = (HEALTHY, AT_RISK, CRITICAL)
PAST_DUE_STATUSES = ("past_due", "unpaid")
OUTSTANDING_INVOICE_STATUSES = ("open", "uncollectible")
URGENT = "urgent"

CUSTOMER_HEALTH = TableSchema(
    name="customer_health",
    description="Customer health score (0-100) per paying customer and month, with each component's points and raw inputs.",
    columns=(
        Column("month", "date", "first day of the month", nullable=False),
        Column("customer_id", "str", "billing customer", nullable=False),
        Column("score", "float", "0-100, sum of the component points", nullable=False),
        Column("band", "str", "healthy (>= 70) / at_risk (>= 40) / critical", nullable=False),
        Column("usage_trend_points", "float"),
        Column("seat_utilisation_points", "float"),
        Column("support_burden_points", "float"),
        Column("nps_points", "float"),
        Column("billing_health_points", "float"),
        Column("usage_change_pct", "float", "usage change versus M-1 (fraction)"),
        Column("seat_utilisation", "float", "active users / seats"),
        Column("tickets_per_seat", "float", "tickets created in M / seats (unknown seats count as 1)"),
        Column("open_urgent_tickets", "int", "urgent tickets open at the end of M"),
        Column("risky_ticket_topics", "str", "risky topics (discount, value, competitor, ...) of the customer's tickets "
               "created in the topic lookback ending with M; an at-risk reason"),
        Column("nps_score", "int", "latest NPS score in the lookback window"),
        Column("days_past_due", "int", "days the oldest unpaid invoice is past due at the end of M"),
        Column("failed_payments", "int", "failed payments created in M"),
        Column("mrr", "float", "MRR at the end of M, reporting currency"),
        Column("score_change", "float", "score(M) - score(M-1); null when not scored in M-1"),
        Column("entered_critical", "bool", "critical in M and not critical in M-1"),
    ),
    time_column="month",
    key=("month", "customer_id"),
)


def _check_policy(policy: EngagementPolicy) -> None:
    if set(policy.health_weights) != set(COMPONENTS):
        raise ValueError(f"health_weights must have exactly the components {list(COMPONENTS)}, got {sorted(policy.health_weights)}")
    if policy.health_at_risk_min > policy.health_healthy_min:
        raise ValueError("health_at_risk_min must not exceed health_healthy_min")


def _month_frame(months: list[pd.Timestamp]) -> pd.DataFrame:
    return pd.DataFrame({"score_month": months, "cutoff": [next_month(m) for m in months]})


def _paying(snapshots: pd.DataFrame, months: list[pd.Timestamp]) -> pd.DataFrame:
    require_columns(snapshots, ["month", "customer_id", "mrr"], "snapshots")
    base = snapshots[["month", "customer_id", "mrr"]].copy()
    base["month"] = month_of(base["month"])
    base["customer_id"] = base["customer_id"].astype(str)
    base["mrr"] = pd.to_numeric(base["mrr"], errors="coerce")
    base = base.loc[base["month"].isin(months) & (base["mrr"] > 0)]
    if base.duplicated(["month", "customer_id"]).any():
        raise ValueError("snapshots has more than one row per (month, customer_id)")
    return base.reset_index(drop=True)


def _engagement(engagement: pd.DataFrame, seats: pd.DataFrame | None) -> pd.DataFrame:
    require_columns(engagement, ["month", "customer_id", "account_id", "usage", "usage_previous", "usage_change_pct", "active_users"], "engagement")
    eng = engagement.loc[engagement["customer_id"].notna()].copy()
    eng["month"] = month_of(eng["month"])
    eng["customer_id"] = eng["customer_id"].astype(str)
    eng["account_id"] = eng["account_id"].astype(str)
    if eng.duplicated(["month", "customer_id"]).any():
        raise ValueError("engagement has more than one product account per (month, customer_id)")
    eng = eng[["month", "customer_id", "account_id", "usage", "usage_previous", "usage_change_pct", "active_users"]]
    if seats is not None and len(seats):
        require_columns(seats, ["account_id", "seats"], "seats")
        seat_map = seats[["account_id", "seats"]].astype({"account_id": str}).drop_duplicates("account_id")
        eng = eng.merge(seat_map, on="account_id", how="left")
    else:
        eng["seats"] = np.nan
    for column in ("usage", "usage_previous", "usage_change_pct", "active_users", "seats"):
        eng[column] = pd.to_numeric(eng[column], errors="coerce").astype("float64")
    return eng


def _per_customer_month(counts: pd.DataFrame, name: str) -> pd.DataFrame:
    return counts.groupby(["month", "customer_id"]).size().rename(name).reset_index()


def _ticket_inputs(tickets: pd.DataFrame | None, months: list[pd.Timestamp], policy: EngagementPolicy) -> pd.DataFrame:
    """tickets created in M, urgent tickets open at M's end and the risky topics of the tickets created
    in the topic lookback ending with M, per (month, customer_id)."""
    empty = pd.DataFrame({"month": pd.Series(dtype="datetime64[ns]"), "customer_id": pd.Series(dtype=str)})
    if tickets is None or tickets.empty:
        return empty.assign(tickets=pd.Series(dtype=float), open_urgent_tickets=pd.Series(dtype=float),
                            risky_ticket_topics=pd.Series(dtype=object))
    prepared = prepare_tickets(tickets)
    prepared = prepared.loc[prepared["customer_id"].notna()].assign(customer_id=lambda f: f["customer_id"].astype(str))
    created = _per_customer_month(prepared.loc[prepared["month"].isin(months)], "tickets")
    urgent = prepared.loc[prepared["priority"].str.lower() == URGENT]
    open_urgent = _per_customer_month(open_at_month_end(urgent, months), "open_urgent_tickets")
    risky = prepared.assign(topics=ticket_topics(prepared, policy.ticket_topics)).dropna(subset=["topics"])
    windows = _month_frame(months).assign(window_start=[m - pd.offsets.MonthBegin(policy.ticket_topic_lookback_months - 1) for m in months])
    pairs = risky[["customer_id", "month", "topics"]].merge(windows, how="cross")
    pairs = pairs.loc[(pairs["month"] >= pairs["window_start"]) & (pairs["month"] <= pairs["score_month"])]
    topics = (pairs.groupby(["score_month", "customer_id"])["topics"]
              .agg(lambda values: ",".join(sorted({t for v in values for t in v.split(",")})))
              .rename("risky_ticket_topics").reset_index().rename(columns={"score_month": "month"}))
    return created.merge(open_urgent, on=["month", "customer_id"], how="outer").merge(topics, on=["month", "customer_id"], how="outer")


def _nps_inputs(nps: pd.DataFrame | None, months: list[pd.Timestamp], lookback: int) -> pd.DataFrame:
    """Latest NPS score per (month, customer_id) within the lookback window ending with M."""
    if nps is None or nps.empty:
        return pd.DataFrame({"month": pd.Series(dtype="datetime64[ns]"), "customer_id": pd.Series(dtype=str), "nps_score": pd.Series(dtype=float)})
    require_columns(nps, ["customer_id", "score", "submitted_at"], "nps")
    responses = nps.loc[nps["customer_id"].notna() & nps["score"].notna() & nps["submitted_at"].notna()].copy()
    responses["customer_id"] = responses["customer_id"].astype(str)
    responses["submitted_at"] = pd.to_datetime(responses["submitted_at"]).astype("datetime64[ns]")
    responses["nps_score"] = pd.to_numeric(responses["score"], errors="coerce")
    if ((responses["nps_score"] < 0) | (responses["nps_score"] > 10)).any():
        raise ValueError("nps scores must be within 0..10")
    windows = _month_frame(months)
    windows["window_start"] = [m - pd.offsets.MonthBegin(lookback - 1) for m in months]
    pairs = responses.merge(windows, how="cross")
    pairs = pairs.loc[(pairs["submitted_at"] >= pairs["window_start"]) & (pairs["submitted_at"] < pairs["cutoff"])]
    order = ["score_month", "customer_id", "submitted_at"] + (["response_id"] if "response_id" in pairs.columns else [])
    latest = pairs.sort_values(order).drop_duplicates(["score_month", "customer_id"], keep="last")
    return latest.rename(columns={"score_month": "month"})[["month", "customer_id", "nps_score"]]


def _subscription_customers(status_history: pd.DataFrame, invoices: pd.DataFrame | None) -> pd.DataFrame:
    if "customer_id" in status_history.columns:
        return status_history
    if invoices is None or invoices.empty:
        raise ValueError("status_history has no customer_id and no invoices were given to map subscription_id -> customer_id")
    require_columns(invoices, ["subscription_id", "customer_id"], "invoices")
    mapping = invoices.loc[invoices["subscription_id"].notna(), ["subscription_id", "customer_id"]].drop_duplicates("subscription_id")
    # A past_due status always stems from an unpaid invoice, so every such subscription has one.
    return status_history.merge(mapping, on="subscription_id", how="inner")


def _billing_inputs(
    status_history: pd.DataFrame | None,
    invoices: pd.DataFrame | None,
    payments: pd.DataFrame | None,
    months: list[pd.Timestamp],
) -> pd.DataFrame:
    """failed_payments, days_past_due and status_past_due per (month, customer_id)."""
    key = ["month", "customer_id"]
    frames: list[pd.DataFrame] = []
    windows = _month_frame(months)
    if payments is not None and len(payments):
        require_columns(payments, ["customer_id", "status", "created_at"], "payments")
        failed = payments.loc[payments["status"].astype(str).str.lower() == "failed"]
        failed = failed.assign(month=month_of(failed["created_at"]), customer_id=failed["customer_id"].astype(str))
        frames.append(_per_customer_month(failed.loc[failed["month"].isin(months)], "failed_payments"))
    if invoices is not None and len(invoices):
        require_columns(invoices, ["customer_id", "status", "created_at", "due_at", "paid_at"], "invoices")
        inv = invoices.loc[invoices["due_at"].notna() & ~invoices["status"].astype(str).str.lower().isin(("draft", "void"))].copy()
        for column in ("created_at", "due_at", "paid_at"):
            inv[column] = pd.to_datetime(inv[column]).astype("datetime64[ns]")
        pairs = inv.merge(windows, how="cross")
        never_paid = pairs["paid_at"].isna() & pairs["status"].astype(str).str.lower().isin(OUTSTANDING_INVOICE_STATUSES)
        outstanding = (pairs["created_at"] < pairs["cutoff"]) & (never_paid | (pairs["paid_at"] >= pairs["cutoff"]))
        pairs = pairs.loc[outstanding]
        last_day = pairs["cutoff"] - pd.Timedelta(days=1)
        pairs = pairs.assign(days=(last_day - pairs["due_at"].dt.normalize()).dt.days.clip(lower=0))
        days = pairs.groupby(["score_month", "customer_id"])["days"].max().rename("days_past_due").reset_index()
        frames.append(days.rename(columns={"score_month": "month"}).astype({"customer_id": str}))
    if status_history is not None and len(status_history):
        require_columns(status_history, ["subscription_id", "status", "valid_from", "valid_to"], "status_history")
        history = _subscription_customers(status_history, invoices)
        history = history.loc[history["status"].astype(str).str.lower().isin(PAST_DUE_STATUSES)]
        history = history.assign(
            valid_from=pd.to_datetime(history["valid_from"]).astype("datetime64[ns]"),
            valid_to=pd.to_datetime(history["valid_to"]).astype("datetime64[ns]"),
        )
        pairs = history.merge(windows, how="cross")
        at_end = (pairs["valid_from"] < pairs["cutoff"]) & (pairs["valid_to"].isna() | (pairs["valid_to"] >= pairs["cutoff"]))
        past_due = pairs.loc[at_end, ["score_month", "customer_id"]].drop_duplicates()
        past_due = past_due.rename(columns={"score_month": "month"}).astype({"customer_id": str}).assign(status_past_due=True)
        frames.append(past_due)
    out = pd.DataFrame({"month": pd.Series(dtype="datetime64[ns]"), "customer_id": pd.Series(dtype=str)})
    for frame in frames:
        out = out.merge(frame, on=key, how="outer")
    for column in ("failed_payments", "days_past_due", "status_past_due"):
        if column not in out.columns:
            out[column] = pd.Series(dtype="float64")
    return out


def health_band(score: pd.Series | np.ndarray, policy: EngagementPolicy) -> np.ndarray:
    """healthy when score >= health_healthy_min, at_risk when >= health_at_risk_min, else critical."""
    score = np.asarray(score, dtype="float64")
    return np.select(
        [score >= policy.health_healthy_min, score >= policy.health_at_risk_min], [HEALTHY, AT_RISK], default=CRITICAL
    )


#: The columns :func:`customer_health` reads of each input (the asset's inputs declare them, so a
#: backfill does not load the lineage and other columns of whole-range billing tables).
HEALTH_INPUT_COLUMNS: dict[str, list[str]] = {
    "engagement": ["month", "customer_id", "account_id", "usage", "usage_previous", "usage_change_pct", "active_users"],
    "snapshots": ["month", "customer_id", "mrr"],
    "status_history": ["subscription_id", "status", "valid_from", "valid_to"],
    "invoices": ["subscription_id", "customer_id", "status", "created_at", "due_at", "paid_at"],
    "payments": ["customer_id", "status", "created_at"],
    "nps": ["customer_id", "score", "submitted_at"],
    "seats": ["account_id", "seats"],
}


def customer_health(
    engagement: pd.DataFrame,
    snapshots: pd.DataFrame,
    tickets: pd.DataFrame | None,
    nps: pd.DataFrame | None,
    status_history: pd.DataFrame | None,
    invoices: pd.DataFrame | None,
    payments: pd.DataFrame | None,
    seats: pd.DataFrame | None,
    months: Iterable[object],
    policy: EngagementPolicy | None = None,
) -> pd.DataFrame:
    """Health score of every customer paying at the end of each month in ``months`` (CUSTOMER_HEALTH).

    Inputs: ``engagement`` (account_engagement), ``snapshots`` (customer_mrr), canonical
    support_tickets, nps_responses, billing_subscription_status_history (with customer_id,
    or mapped through invoices' subscription_id), billing_invoices, billing_payments, and
    ``seats`` = product_accounts (account_id, seats). Formulas: module docstring.
    """
    policy = policy or EngagementPolicy()
    _check_policy(policy)
    month_list = normalise_months(months)
    if not month_list:
        return CUSTOMER_HEALTH.empty_frame()
    score_months = sorted(set(month_list) | {previous_month(m) for m in month_list})
    key = ["month", "customer_id"]
    frame = _paying(snapshots, score_months)
    frame = frame.merge(_engagement(engagement, seats), on=key, how="left")
    frame = frame.merge(_ticket_inputs(tickets, score_months, policy), on=key, how="left")
    frame = frame.merge(_nps_inputs(nps, score_months, policy.health_nps_lookback_months), on=key, how="left")
    frame = frame.merge(_billing_inputs(status_history, invoices, payments, score_months), on=key, how="left")
    for column in ("tickets", "open_urgent_tickets", "failed_payments", "days_past_due"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0.0)
    status_past_due = frame["status_past_due"].astype("boolean").fillna(False).astype(bool)

    previous, current = frame["usage_previous"], frame["usage"]
    usage_sub = np.select(
        [previous > 0, (previous == 0) & (current > 0), (previous == 0) & (current == 0)],
        [np.clip(1.0 + frame["usage_change_pct"].to_numpy(), 0.0, 1.0), 1.0, 0.0],
        default=NEUTRAL,
    )
    frame["seat_utilisation"] = kpi.safe_divide(frame["active_users"], frame["seats"])
    seat_sub = np.where(frame["seat_utilisation"].notna(), np.clip(frame["seat_utilisation"], 0.0, 1.0), NEUTRAL)
    seats_for_tickets = frame["seats"].where(frame["seats"] >= 1, 1.0)
    frame["tickets_per_seat"] = frame["tickets"] / seats_for_tickets
    burden = np.clip(frame["tickets_per_seat"] / policy.health_tickets_per_seat_max, 0.0, 1.0)
    support_sub = np.where((frame["open_urgent_tickets"] > 0) | frame["risky_ticket_topics"].notna(), 0.0, 1.0 - burden)
    nps_sub = np.where(frame["nps_score"].notna(), frame["nps_score"] / 10.0, NEUTRAL)
    past_due = status_past_due | (frame["days_past_due"] > policy.health_past_due_grace_days)
    billing_sub = np.where(past_due, 0.0, np.where(frame["failed_payments"] > 0, 0.5, 1.0))

    subs = {"usage_trend": usage_sub, "seat_utilisation": seat_sub, "support_burden": support_sub, "nps": nps_sub, "billing_health": billing_sub}
    for component, sub in subs.items():
        frame[f"{component}_points"] = policy.health_weights[component] * np.asarray(sub, dtype="float64")
    frame["score"] = frame[[f"{c}_points" for c in COMPONENTS]].sum(axis=1).round(6)
    frame["band"] = health_band(frame["score"], policy)

    prior = frame[[*key, "score", "band"]].rename(columns={"score": "score_previous", "band": "band_previous"})
    prior["month"] = next_month(prior["month"])
    frame = frame.merge(prior, on=key, how="left")
    frame["score_change"] = frame["score"] - frame["score_previous"]
    frame["entered_critical"] = (frame["band"] == CRITICAL) & (frame["band_previous"] != CRITICAL)
    frame = frame.loc[frame["month"].isin(month_list)].sort_values(key)
    return coerce_frame(frame, CUSTOMER_HEALTH)


def health_kpis(health: pd.DataFrame) -> pd.DataFrame:
    """Health KPIs per month present in ``health`` (customer_health rows) as kpi_monthly rows.

    mrr_share_<band> = MRR of customers in the band / MRR of scored customers (NaN when 0);
    average_health_score = unweighted mean score; accounts_critical = customers in 'critical';
    accounts_with_risky_ticket_topics = scored customers with a risky ticket topic (when the column is there).
    """
    require_columns(health, ["month", "customer_id", "score", "band", "mrr"], "health")
    if health.empty:
        return kpi.kpi_frame([])
    frame = health.assign(month=month_of(health["month"]), mrr=pd.to_numeric(health["mrr"], errors="coerce").fillna(0.0))
    index = pd.DatetimeIndex(sorted(frame["month"].unique()), name="month")
    total = frame.groupby("month")["mrr"].sum().reindex(index)
    wide = pd.DataFrame({"month": index})
    for band in BANDS:
        band_mrr = frame.loc[frame["band"] == band].groupby("month")["mrr"].sum().reindex(index).fillna(0.0)
        wide[f"mrr_share_{band}"] = kpi.safe_divide(band_mrr.to_numpy(), total.to_numpy())
    wide["average_health_score"] = frame.groupby("month")["score"].mean().reindex(index).to_numpy()
    wide["accounts_critical"] = (frame["band"] == CRITICAL).groupby(frame["month"]).sum().reindex(index).fillna(0).to_numpy()
    units = {"accounts_with_risky_ticket_topics": kpi.COUNT} if "risky_ticket_topics" in frame.columns else {}
    if units:
        risky = frame["risky_ticket_topics"].notna()
        wide["accounts_with_risky_ticket_topics"] = risky.groupby(frame["month"]).sum().reindex(index).fillna(0).to_numpy()
    units |= {
        "mrr_share_healthy": kpi.RATIO,
        "mrr_share_at_risk": kpi.RATIO,
        "mrr_share_critical": kpi.RATIO,
        "average_health_score": kpi.SCORE,
        "accounts_critical": kpi.COUNT,
    }
    return kpi.wide_to_kpi(wide, units)
