"""Product accounts and daily usage counts per user and event.

An account is used while its customer has a trialing, active or past_due
subscription. Planted at-risk accounts (see ``pick_at_risk``) are used by several
people until their collapse month, then by one person on at most 35 % of the
previous month's active user-days, until they churn."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

USED_STATUSES = ("trialing", "active", "past_due")
#: event -> (probability per active user-day, max count); login happens on every active day.
EVENTS = {
    "login": (1.0, 3),
    "dashboard_viewed": (0.55, 8),
    "report_created": (0.3, 4),
    "export_csv": (0.1, 2),
    "invite_sent": (0.03, 1),
}
COLLAPSE_CAP = 0.35


def pick_at_risk(rng: np.random.Generator, mrr: pd.DataFrame, subscriptions: pd.DataFrame,
                 months: list[dt.datetime]) -> pd.DataFrame:
    """Choose ~12 % (at least 3 when possible) of the customers that churn for good inside the window,
    after >= 4 paid months in the window, with one subscription that they canceled at period end.
    Returns customer_id, collapse_month, churn_month (first month-end with MRR 0)."""
    first, last = pd.Timestamp(months[0]), pd.Timestamp(months[-1])
    by_customer = mrr.groupby("customer_id")["month"].agg(["min", "max", "count"])
    span = (by_customer["max"].dt.year - by_customer["min"].dt.year) * 12 + by_customer["max"].dt.month - by_customer["min"].dt.month + 1
    continuous = by_customer[(span == by_customer["count"]) & (by_customer["count"] >= 4) & (by_customer["max"] < last)]
    continuous = continuous[continuous["max"] >= first + pd.DateOffset(months=3)]
    sub_counts = subscriptions.groupby("customer_id").size()
    voluntary = subscriptions[subscriptions["cancel_at_period_end"] & subscriptions["ended_at"].notna()]["customer_id"]
    eligible = sorted(set(continuous.index) & set(sub_counts[sub_counts == 1].index) & set(voluntary))
    if not eligible:
        return pd.DataFrame({"customer_id": pd.Series(dtype=str), "collapse_month": pd.Series(dtype="datetime64[ns]"),
                             "churn_month": pd.Series(dtype="datetime64[ns]")})
    n = min(len(eligible), max(3, round(0.12 * len(eligible))))
    chosen = sorted(rng.choice(np.array(eligible, dtype=object), n, replace=False))
    churn_month = continuous.loc[chosen, "max"] + pd.DateOffset(months=1)
    lead = rng.integers(1, 3, n)
    collapse = [c - pd.DateOffset(months=int(k)) for c, k in zip(churn_month, lead, strict=True)]
    return pd.DataFrame({"customer_id": chosen, "collapse_month": pd.to_datetime(collapse).astype("datetime64[ns]"),
                         "churn_month": churn_month.to_numpy().astype("datetime64[ns]")})


def collapse_month_of(customer_ids: pd.Series, at_risk: pd.DataFrame) -> pd.Series:
    """Each customer's planted collapse month (NaT when not at risk)."""
    lookup = dict(zip(at_risk["customer_id"], at_risk["collapse_month"], strict=True))
    return pd.to_datetime(customer_ids.map(lookup)).astype("datetime64[ns]")


def _account_months(statuses: pd.DataFrame, first_month: dt.datetime, horizon: dt.datetime) -> pd.DataFrame:
    """account (customer) x month with covered days and the covered day range inside the month."""
    used = statuses[statuses["status"].isin(USED_STATUSES)]
    start = used["valid_from"].clip(lower=pd.Timestamp(first_month)).to_numpy("datetime64[s]")
    end = used["valid_to"].fillna(pd.Timestamp(horizon)).clip(upper=pd.Timestamp(horizon)).to_numpy("datetime64[s]")
    keep = start < end
    start, end, customer = start[keep], end[keep], used["customer_id"].to_numpy()[keep]
    m0 = start.astype("datetime64[M]")
    m1 = (end - np.timedelta64(1, "s")).astype("datetime64[M]")
    n_months = (m1 - m0).astype(int) + 1
    idx = np.repeat(np.arange(len(start)), n_months)
    offset = np.arange(len(idx)) - np.repeat(np.cumsum(n_months) - n_months, n_months)
    month = m0[idx] + offset.astype("timedelta64[M]")
    month_start = month.astype("datetime64[s]")
    month_end = (month + np.timedelta64(1, "M")).astype("datetime64[s]")
    lo = np.maximum(start[idx], month_start)
    hi = np.minimum(end[idx], month_end)
    frame = pd.DataFrame({"customer_id": customer[idx], "month": month.astype("datetime64[ns]"),
                          "first_day": ((lo - month_start) // np.timedelta64(1, "D")).astype(int),
                          "last_day": ((hi - month_start - np.timedelta64(1, "s")) // np.timedelta64(1, "D")).astype(int)})
    return frame.groupby(["customer_id", "month"], sort=True).agg(first_day=("first_day", "min"), last_day=("last_day", "max")).reset_index()


def simulate_usage(rng: np.random.Generator, accounts: pd.DataFrame, statuses: pd.DataFrame, at_risk: pd.DataFrame,
                   first_month: dt.datetime, horizon: dt.datetime) -> pd.DataFrame:
    """Native usage_daily rows: date, account_id, user_id, event, count.
    ``accounts``: customer_id, account_id, seats; ``statuses``: customer_id, status, valid_from, valid_to."""
    am = _account_months(statuses, first_month, horizon)
    am = am.merge(accounts[["customer_id", "account_id", "seats", "account_number"]], on="customer_id", how="inner")
    am["collapse"] = am["month"] >= collapse_month_of(am["customer_id"], at_risk)
    am["at_risk_account"] = am["customer_id"].isin(set(at_risk["customer_id"]))
    accounts_users = np.clip(1 + rng.poisson(np.minimum(accounts["seats"].to_numpy(), 10) * 0.25), 1, 6)
    users_of = pd.Series(accounts_users, index=accounts["account_id"].to_numpy())
    am["users"] = am["account_id"].map(users_of).to_numpy()
    am.loc[am["at_risk_account"], "users"] = np.maximum(am.loc[am["at_risk_account"], "users"], 3)
    am.loc[am["collapse"], "users"] = 1
    # user-months
    um_idx = np.repeat(np.arange(len(am)), am["users"].to_numpy())
    user_no = np.arange(len(um_idx)) - np.repeat(np.cumsum(am["users"].to_numpy()) - am["users"].to_numpy(), am["users"].to_numpy())
    span = (am["last_day"] - am["first_day"] + 1).to_numpy()[um_idx]
    activity = rng.beta(2.0, 12.0, len(um_idx))
    activity = np.where(am["at_risk_account"].to_numpy()[um_idx], np.maximum(activity, 0.3), activity)
    days = rng.binomial(span, activity)
    # user-days (sampled with replacement inside the covered range, duplicates dropped)
    ud_idx = np.repeat(np.arange(len(um_idx)), days)
    day_in_month = am["first_day"].to_numpy()[um_idx][ud_idx] + np.floor(rng.random(len(ud_idx)) * span[ud_idx]).astype(int)
    user_days = pd.DataFrame({"um": ud_idx, "day": day_in_month}).drop_duplicates().reset_index(drop=True)
    # At-risk collapse: at most COLLAPSE_CAP of the last healthy month's active user-days.
    user_days["am"] = um_idx[user_days["um"].to_numpy()]
    am["user_days"] = np.bincount(user_days["am"].to_numpy(), minlength=len(am))
    healthy = pd.Series(np.where(am["collapse"].to_numpy(), np.nan, am["user_days"].to_numpy()))
    last_healthy = healthy.groupby(am["account_id"].to_numpy()).ffill().groupby(am["account_id"].to_numpy()).shift(1)
    last_healthy = last_healthy.where(am["collapse"].to_numpy(), np.nan)
    cap = np.where(am["collapse"].to_numpy(), np.floor(COLLAPSE_CAP * last_healthy.fillna(0).to_numpy()), np.inf)
    rank = user_days.groupby("am").cumcount().to_numpy()
    user_days = user_days[rank < cap[user_days["am"].to_numpy()]]
    um = user_days["um"].to_numpy()
    acc_row = um_idx[um]
    day_number = (am["month"].to_numpy().astype("datetime64[D]").astype(np.int64)[acc_row] + user_days["day"].to_numpy())
    account_number = am["account_number"].to_numpy()[acc_row]
    user_number = user_no[um] + 1
    events = sorted(EVENTS)
    day_parts, account_parts, user_parts, event_parts, count_parts = [], [], [], [], []
    for event in EVENTS:  # draw in declaration order (determinism), sort by name below
        prob, max_count = EVENTS[event]
        mask = rng.random(len(um)) < prob
        day_parts.append(day_number[mask])
        account_parts.append(account_number[mask])
        user_parts.append(user_number[mask])
        event_parts.append(np.full(int(mask.sum()), events.index(event)))
        count_parts.append(rng.integers(1, max_count + 1, int(mask.sum())))
    day_all, account_all, user_all, event_all, count_all = (np.concatenate(p) for p in
                                                             (day_parts, account_parts, user_parts, event_parts, count_parts))
    order = np.lexsort((event_all, user_all, account_all, day_all))
    day_all, account_all, user_all, event_all, count_all = (a[order] for a in (day_all, account_all, user_all, event_all, count_all))
    return pd.DataFrame({
        "date": _lookup_text(day_all, lambda d: str(np.datetime64(int(d), "D"))),
        "account_id": _lookup_text(account_all, lambda n: f"acc_{n:07d}"),
        "user_id": _lookup_text(account_all * 1000 + user_all, lambda k: f"u_{k // 1000}_{k % 1000}"),
        "event": np.array(events, dtype=object)[event_all],
        "count": count_all,
    })


def _lookup_text(keys: np.ndarray, render: Callable[[int], str]) -> np.ndarray:
    """Render each distinct integer key once, then index (fast text columns for millions of rows)."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    return np.array([render(int(k)) for k in distinct], dtype=object)[inverse]
