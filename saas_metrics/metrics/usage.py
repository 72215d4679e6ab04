"""Product usage per account-month, usage change and usage-drop at-risk accounts.

docs/metric-definitions.md#product-usage and #active-users-and-stickiness:

- **usage(A, M)** of product account A in month M, by ``EngagementPolicy.usage_measure``:
  ``active_user_days`` (default) = distinct (user, date) pairs with an event,
  ``event_count`` = sum of event counts, ``active_users`` = distinct users.
  With ``EngagementPolicy.usage_event`` set only that event counts for ``usage``;
  the activity columns (active_users, dau_avg, stickiness) always count any event.
  A usage row is an event when ``event_count > 0`` (a missing count counts as 1 event:
  the row records that the event happened).
- **usage_change** = usage(M) - usage(M-1); **usage_change_pct** = usage_change / usage(M-1),
  NaN when usage(M-1) is 0 or unknown.
- **active_users** (MAU of the account) = distinct users with an event in M;
  **dau_avg** = mean over the calendar days of M of distinct active users
  (= active user-days / days in M); **stickiness** = dau_avg / active_users.
- **At risk** (the HubSpot guide's example): an account paying at the end of M
  (MRR > 0) whose usage fell by at least ``at_risk_drop_fraction`` (default 50 %)
  versus M-1, with usage(M-1) > 0. A drop of exactly the threshold is included.

Usage is per product account; it is reported per billing customer through the
identity ``links`` (``product_account_id`` -> ``customer_id``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_of, normalise_months, previous_month
from saas_metrics.config import EngagementPolicy
from saas_metrics.metrics import kpi
from saas_metrics.tables import Column, TableSchema, coerce_frame

ACCOUNT_ENGAGEMENT = TableSchema(
    name="account_engagement",
    description="Product usage per product account and month, with the change versus the previous month.",
    columns=(
        Column("month", "date", "first day of the month", nullable=False),
        Column("customer_id", "str", "billing customer linked to the product account (null when unlinked)"),
        Column("account_id", "str", "product account", nullable=False),
        Column("usage", "float", "usage measure of M (EngagementPolicy.usage_measure)"),
        Column("usage_previous", "float", "usage measure of M-1; null when M-1 was not read"),
        Column("usage_change", "float", "usage - usage_previous"),
        Column("usage_change_pct", "float", "usage_change / usage_previous; null when usage_previous is 0"),
        Column("active_users", "int", "distinct users with any event in M (account MAU)"),
        Column("dau_avg", "float", "mean daily active users over the calendar days of M"),
        Column("stickiness", "float", "dau_avg / active_users; null when no active user"),
    ),
    time_column="month",
    key=("month", "account_id"),
)

AT_RISK_ACCOUNTS = TableSchema(
    name="at_risk_accounts",
    description="Paying accounts whose usage fell by at least the at-risk fraction versus the previous month.",
    columns=(
        Column("month", "date", "first day of the month", nullable=False),
        Column("customer_id", "str", "billing customer", nullable=False),
        Column("usage_previous", "float"),
        Column("usage", "float"),
        Column("usage_change", "float"),
        Column("usage_change_pct", "float", "negative fraction (-0.5 = halved)"),
        Column("mrr", "float", "MRR at the end of M, reporting currency"),
        Column("plan_tier", "str"),
        Column("health_score", "float", "customer health score of M (0-100), null when not scored"),
        Column("band", "str", "health band: healthy / at_risk / critical"),
        Column("owner_id", "str", "CRM owner of the customer's company"),
        Column("risky_ticket_topics", "str", "a second at-risk reason: risky topics of the customer's recent tickets (customer_health)"),
    ),
    time_column="month",
    key=("month", "customer_id"),
)

USAGE_ACTIVITY = TableSchema(
    name="usage_activity",
    description="Product activity per month over all accounts: distinct active users (MAU) and user-days.",
    columns=(
        Column("month", "date", "first day of the month", nullable=False),
        Column("active_users", "int", "distinct user_id with any event in M, over all accounts", nullable=False),
        Column("user_days", "int", "distinct (user_id, date) pairs with an event in M", nullable=False),
    ),
    time_column="month",
    key=("month",),
)

_USAGE_KEY = ["date", "account_id", "user_id", "event_name"]
#: The usage columns the functions of this module read (a loader need not read more).
USAGE_COLUMNS = (*_USAGE_KEY, "event_count")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise a ValueError naming the input and the columns it lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; it has {list(frame.columns)}")


def account_customer_map(links: pd.DataFrame) -> pd.DataFrame:
    """account_id -> customer_id from identity links, one row per product account.

    Should two billing customers claim one product account, the smallest customer_id
    keeps it (deterministic); identity resolution promises one account per customer.
    """
    require_columns(links, ["customer_id", "product_account_id"], "links")
    pairs = links.loc[links["product_account_id"].notna() & links["customer_id"].notna(), ["product_account_id", "customer_id"]]
    pairs = pairs.astype({"product_account_id": str, "customer_id": str}).rename(columns={"product_account_id": "account_id"})
    return pairs.sort_values(["account_id", "customer_id"]).drop_duplicates("account_id").reset_index(drop=True)


def _event_rows(usage: pd.DataFrame, prev_usage: pd.DataFrame | None) -> pd.DataFrame:
    """Usage rows that are events, with month and count columns (duplicates across inputs dropped)."""
    frames = [f for f in (usage, prev_usage) if f is not None]
    for index, frame in enumerate(frames):
        require_columns(frame, [*_USAGE_KEY, "event_count"], "usage" if index == 0 else "prev_usage")
    # Millions of rows: copy only where something is actually removed (filters are no-ops on clean
    # usage), and concatenate only frames that have rows (a concat copies even beside an empty frame).
    parts = [f[[*_USAGE_KEY, "event_count"]] for f in frames if len(f)] or [frames[0][[*_USAGE_KEY, "event_count"]]]
    rows = parts[0].reset_index(drop=True) if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    duplicated = rows.duplicated(subset=_USAGE_KEY)
    if duplicated.any():
        rows = rows.loc[~duplicated]
    rows = rows.assign(events=pd.to_numeric(rows["event_count"], errors="coerce").fillna(1.0))
    if (rows["events"] < 0).any():
        raise ValueError("usage has negative event_count values")
    if not (rows["events"] > 0).all():
        rows = rows.loc[rows["events"] > 0]
    rows["date"] = pd.to_datetime(rows["date"]).dt.normalize()
    rows["month"] = month_of(rows["date"])
    rows["account_id"] = rows["account_id"].astype(str)
    rows["user_id"] = rows["user_id"].astype(str)
    return rows


def _user_day_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (month, account_id, user_id, date) with an event: about half the usage rows, on
    which the activity measures are counted (a user is active in a month on a day of that month)."""
    return rows[["month", "account_id", "user_id", "date"]].drop_duplicates()


def _active_user_days(user_day_rows: pd.DataFrame) -> pd.Series:
    """Distinct (user, date) pairs with an event per (month, account_id)."""
    return user_day_rows.groupby(["month", "account_id"]).size()


def _usage_measure(rows: pd.DataFrame, policy: EngagementPolicy, user_days: pd.Series) -> pd.Series:
    """The policy's usage measure per (month, account_id); ``user_days`` = :func:`_active_user_days`
    of all ``rows`` (the default measure when every event counts: not computed twice)."""
    if policy.usage_event is not None:
        rows = rows.loc[rows["event_name"] == policy.usage_event]
    elif policy.usage_measure == "active_user_days":
        return user_days.astype("float64")
    grouped = rows.groupby(["month", "account_id"])
    if policy.usage_measure == "event_count":
        return grouped["events"].sum().astype("float64")
    if policy.usage_measure == "active_users":
        return grouped["user_id"].nunique().astype("float64")
    return _active_user_days(_user_day_rows(rows)).astype("float64")


@dataclass(frozen=True)
class _Activity:
    """Per (month, account_id): the policy's usage measure, MAU and active user-days, and the
    (month, account_id) pairs with an event. Each month's figures come from that month's rows only."""

    measure: pd.Series
    mau: pd.Series
    user_days: pd.Series
    active: pd.DataFrame

    @staticmethod
    def of(rows: pd.DataFrame, policy: EngagementPolicy) -> _Activity:
        """The activity of event ``rows`` (:func:`_event_rows`)."""
        user_day_rows = _user_day_rows(rows)
        user_days = _active_user_days(user_day_rows)
        return _Activity(measure=_usage_measure(rows, policy, user_days),
                         mau=user_day_rows.groupby(["month", "account_id"])["user_id"].nunique(),
                         user_days=user_days, active=user_day_rows[["month", "account_id"]].drop_duplicates())

    def and_(self, other: _Activity) -> _Activity:
        """Both activities (of different months) as one."""
        return _Activity(*(pd.concat([a, b]) for a, b in ((self.measure, other.measure), (self.mau, other.mau),
                                                             (self.user_days, other.user_days), (self.active, other.active))))


def account_engagement(
    usage: pd.DataFrame,
    links: pd.DataFrame,
    months: Iterable[object],
    prev_usage: pd.DataFrame | None,
    policy: EngagementPolicy | None = None,
    snapshots: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Usage per product account and month (ACCOUNT_ENGAGEMENT) for every month in ``months``.

    ``usage`` holds canonical product_usage rows of ``months``; ``prev_usage`` those of the
    month before each (for a range, usually the month before the first; passing a frame,
    even an empty one, states that those months are complete). When M-1 is neither in
    ``months`` nor covered by ``prev_usage`` (None), usage_previous is NaN.

    Rows: every account with an event in M or in M-1 (so a drop to zero shows as usage 0),
    plus, when ``snapshots`` (customer_mrr) is given, the linked account of every customer
    paying at the end of M, with usage 0 when it had no event. A paying customer without a
    linked product account has no row (its usage is unknown, not 0).
    Formulas: module docstring (docs/metric-definitions.md#product-usage).
    """
    policy = policy or EngagementPolicy()
    month_list = normalise_months(months)
    if not month_list:
        return ACCOUNT_ENGAGEMENT.empty_frame()
    covered = set(month_list) | ({previous_month(m) for m in month_list} if prev_usage is not None else set())
    rows = _event_rows(usage, prev_usage)
    in_covered = rows["month"].isin(covered).to_numpy()
    if not in_covered.all():
        rows = rows.loc[in_covered]
    return _engagement_rows(_Activity.of(rows, policy), month_list, covered, account_customer_map(links), snapshots)


def _engagement_rows(activity: _Activity, month_list: list[pd.Timestamp], covered: set[pd.Timestamp],
                     account_map: pd.DataFrame, snapshots: pd.DataFrame | None) -> pd.DataFrame:
    """ACCOUNT_ENGAGEMENT rows of ``month_list`` from the activity of the ``covered`` months."""
    previous = {m: previous_month(m) for m in month_list}
    # Candidate (month, account) rows: active in M, active in M-1, or paying at the end of M.
    active = activity.active
    current = active.loc[active["month"].isin(month_list)]
    prev_to_month = {p: m for m, p in previous.items()}
    was_active = active.loc[active["month"].isin(prev_to_month)].assign(month=lambda f: f["month"].map(prev_to_month))
    candidates = [current, was_active]
    if snapshots is not None:
        require_columns(snapshots, ["month", "customer_id", "mrr"], "snapshots")
        paying = snapshots.loc[pd.to_numeric(snapshots["mrr"], errors="coerce") > 0, ["month", "customer_id"]].copy()
        paying["month"] = month_of(paying["month"])
        paying["customer_id"] = paying["customer_id"].astype(str)
        paying = paying.loc[paying["month"].isin(month_list)].merge(account_map, on="customer_id")
        candidates.append(paying[["month", "account_id"]])
    out = pd.concat(candidates, ignore_index=True).drop_duplicates().reset_index(drop=True)

    key = pd.MultiIndex.from_frame(out[["month", "account_id"]])
    prev_key = pd.MultiIndex.from_arrays([out["month"].map(previous), out["account_id"]])
    out["usage"] = activity.measure.reindex(key).fillna(0.0).to_numpy()
    prev_known = out["month"].map(previous).isin(covered).to_numpy()
    out["usage_previous"] = np.where(prev_known, activity.measure.reindex(prev_key).fillna(0.0).to_numpy(), np.nan)
    out["usage_change"] = out["usage"] - out["usage_previous"]
    out["usage_change_pct"] = kpi.safe_divide(out["usage_change"], out["usage_previous"])
    out["active_users"] = activity.mau.reindex(key).fillna(0).to_numpy()
    days_in_month = out["month"].dt.days_in_month.to_numpy()
    out["dau_avg"] = activity.user_days.reindex(key).fillna(0).to_numpy() / days_in_month
    out["stickiness"] = kpi.safe_divide(out["dau_avg"], out["active_users"])
    out = out.merge(account_map, on="account_id", how="left")
    out = out.sort_values(["month", "account_id"])
    return coerce_frame(out, ACCOUNT_ENGAGEMENT)


@dataclass(frozen=True)
class MonthlyEngagement:
    """What one pass over a range's usage gives: ACCOUNT_ENGAGEMENT rows and USAGE_ACTIVITY rows
    (one per month of the range, zeros for a month without events)."""

    engagement: pd.DataFrame
    activity: pd.DataFrame


def account_engagement_by_month(
    usage_of: Callable[[pd.Timestamp], pd.DataFrame],
    links: pd.DataFrame,
    months: Iterable[object],
    policy: EngagementPolicy | None = None,
    snapshots: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ACCOUNT_ENGAGEMENT rows of :func:`engagement_by_month`."""
    return engagement_by_month(usage_of, links, months, policy, snapshots).engagement


def engagement_by_month(
    usage_of: Callable[[pd.Timestamp], pd.DataFrame],
    links: pd.DataFrame,
    months: Iterable[object],
    policy: EngagementPolicy | None = None,
    snapshots: pd.DataFrame | None = None,
) -> MonthlyEngagement:
    """:func:`account_engagement` of ``months`` computed one month at a time, with the same rows,
    and the :func:`usage_activity` of each month from the same rows (so the usage KPIs need no
    second read of the usage): a month's rows depend only on the usage of M and M-1 and the
    snapshots of M.

    ``usage_of(M)`` returns the canonical product_usage rows of month M (an empty frame when M has
    none: M-1 of the first month is then known to be empty, as when :func:`account_engagement` is
    given an empty ``prev_usage``). One month of usage is held at a time, and each month's rows are
    counted once (its activity is kept for the next month's change), so a range of any length
    needs the memory of its largest month."""
    policy = policy or EngagementPolicy()
    month_list = normalise_months(months)
    if not month_list:
        return MonthlyEngagement(ACCOUNT_ENGAGEMENT.empty_frame(), USAGE_ACTIVITY.empty_frame())
    account_map = account_customer_map(links)
    snapshot_months = None
    if snapshots is not None:
        require_columns(snapshots, ["month", "customer_id", "mrr"], "snapshots")
        snapshot_months = month_of(snapshots["month"]).to_numpy()
    totals: list[pd.DataFrame] = []

    def activity_of(month: pd.Timestamp, *, counted: bool) -> _Activity:
        rows = _event_rows(usage_of(month), None)
        rows = rows.loc[(rows["month"] == month).to_numpy()]
        if counted:
            totals.append(_activity_counts(rows))
        return _Activity.of(rows, policy)

    parts: list[pd.DataFrame] = []
    held: tuple[pd.Timestamp, _Activity] | None = None
    for month in month_list:
        before = previous_month(month)
        previous = held[1] if held is not None and held[0] == before else activity_of(before, counted=False)
        current = activity_of(month, counted=True)
        month_snapshots = None if snapshots is None else snapshots[snapshot_months == month.to_datetime64()]
        parts.append(_engagement_rows(previous.and_(current), [month], {before, month}, account_map, month_snapshots))
        held = (month, current)
    parts = [p for p in parts if len(p)] or parts[:1]
    engagement = coerce_frame(pd.concat(parts, ignore_index=True), ACCOUNT_ENGAGEMENT)
    return MonthlyEngagement(engagement, activity_table(pd.concat(totals), month_list))


def activity_table(counts: pd.DataFrame, months: list[pd.Timestamp]) -> pd.DataFrame:
    """USAGE_ACTIVITY rows of ``months`` from :func:`usage_activity` counts (indexed by month; a month
    absent from them had no event and gets zeros)."""
    index = pd.DatetimeIndex(months, name="month")
    summed = counts.groupby(level="month").sum() if len(counts) else counts
    table = summed.reindex(index).fillna(0).astype("int64").reset_index()
    return coerce_frame(table, USAGE_ACTIVITY)


def _activity_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """``active_users`` and ``user_days`` per month of event ``rows`` (:func:`_event_rows`; index ``month``,
    months without events absent): distinct users, and distinct (user, date) pairs, over all accounts."""
    user_day_rows = rows[["month", "user_id", "date"]].drop_duplicates()
    grouped = user_day_rows.groupby("month")
    return pd.DataFrame({"active_users": grouped["user_id"].nunique(), "user_days": grouped.size()})


def usage_activity(usage: pd.DataFrame | None, months: list[pd.Timestamp]) -> pd.DataFrame:
    """Per month of ``months`` with events in ``usage``: ``active_users`` = distinct user_id with an
    event in M (over all accounts) and ``user_days`` = distinct (user_id, date) pairs with an event
    in M (index ``month``; months without events are absent). Rows of other months are ignored.

    Example: u1 active on Jan 2 in two accounts and on Jan 3, u2 on Jan 2 -> January:
    active_users 2, user_days 3."""
    empty = pd.DataFrame({"active_users": pd.Series(dtype="int64"), "user_days": pd.Series(dtype="int64")},
                         index=pd.DatetimeIndex([], name="month"))
    if usage is None:
        return empty
    rows = _event_rows(usage, None)
    in_months = rows["month"].isin(months).to_numpy()
    if not in_months.all():
        rows = rows.loc[in_months]
    if rows.empty:
        return empty
    return _activity_counts(rows)


def usage_kpis(engagement: pd.DataFrame, usage: pd.DataFrame | Iterable[pd.DataFrame],
               months: Iterable[object]) -> pd.DataFrame:
    """:func:`usage_kpis_from_activity` with the activity counted from ``usage``: the canonical
    product_usage rows of ``months``, as one frame or as chunks that each hold whole months (a
    month's rows in one chunk), so a range is counted month by month."""
    month_list = normalise_months(months)
    chunks = [usage] if isinstance(usage, pd.DataFrame) else usage
    # Each month's activity depends on that month's rows only, so chunks (a month each) are counted
    # one at a time and only their per-month counts are kept.
    counts = [usage_activity(chunk, month_list) for chunk in chunks]
    activity = activity_table(pd.concat(counts) if counts else usage_activity(None, month_list), month_list)
    return usage_kpis_from_activity(engagement, activity, month_list)


def usage_kpis_from_activity(engagement: pd.DataFrame, activity: pd.DataFrame, months: Iterable[object]) -> pd.DataFrame:
    """Usage KPIs per month (kpi_monthly rows, segment 'all') from USAGE_ACTIVITY rows (a month
    without a row counts as no activity) and ACCOUNT_ENGAGEMENT rows.

    - active_users = distinct user_id with any event in M, over all accounts (MAU);
    - stickiness = mean over the calendar days of M of distinct users active that day / MAU
      = (user_days / days in M) / MAU;
    - usage_total = sum of account usage (policy measure) in ``engagement`` for M;
    - usage_per_account = usage_total / accounts with usage > 0 in M (NaN when none).
    docs/metric-definitions.md#product-usage.
    """
    month_list = normalise_months(months)
    if not month_list:
        return kpi.kpi_frame([])
    require_columns(engagement, ["month", "account_id", "usage"], "engagement")
    require_columns(activity, ["month", "active_users", "user_days"], "activity")
    index = pd.DatetimeIndex(month_list, name="month")
    counts = activity.assign(month=month_of(activity["month"])).set_index("month")
    mau = counts["active_users"].astype("float64").reindex(index).fillna(0.0)
    user_days = counts["user_days"].astype("float64").reindex(index).fillna(0.0)
    dau_avg = user_days / index.days_in_month
    eng = engagement.assign(month=month_of(engagement["month"]))
    eng = eng.loc[eng["month"].isin(month_list)]
    usage_values = pd.to_numeric(eng["usage"], errors="coerce").fillna(0.0)
    usage_total = usage_values.groupby(eng["month"]).sum().reindex(index).fillna(0.0)
    active_accounts = (usage_values > 0).groupby(eng["month"]).sum().reindex(index).fillna(0)
    wide = pd.DataFrame(
        {
            "month": index,
            "active_users": mau.to_numpy(),
            "stickiness": kpi.safe_divide(dau_avg.to_numpy(), mau.to_numpy()),
            "usage_total": usage_total.to_numpy(),
            "usage_per_account": kpi.safe_divide(usage_total.to_numpy(), active_accounts.to_numpy()),
        }
    )
    units = {"active_users": kpi.COUNT, "stickiness": kpi.RATIO, "usage_total": kpi.COUNT, "usage_per_account": kpi.COUNT}
    return kpi.wide_to_kpi(wide, units)


def usage_floor_kpis(engagement: pd.DataFrame, snapshots: pd.DataFrame, months: Iterable[object], floor: float) -> pd.DataFrame:
    """kpi rows of ``accounts_below_usage_floor`` = customers paying at the end of M (customer_mrr,
    mrr > 0) with a linked product account whose usage of M, summed over their accounts, is below
    ``floor`` (usage_measure units). The absolute counterpart of the relative usage drop: an account
    that never used the product never "drops". A paying customer without a linked account has no
    engagement row and is not counted (its usage is unknown, not 0).
    """
    month_list = normalise_months(months)
    require_columns(engagement, ["month", "customer_id", "usage"], "engagement")
    require_columns(snapshots, ["month", "customer_id", "mrr"], "snapshots")
    paying = snapshots.loc[pd.to_numeric(snapshots["mrr"], errors="coerce") > 0, ["month", "customer_id"]]
    paying = paying.assign(month=month_of(paying["month"]), customer_id=paying["customer_id"].astype(str))
    eng = engagement.loc[engagement["customer_id"].notna()]
    eng = eng.assign(month=month_of(eng["month"]), customer_id=eng["customer_id"].astype(str),
                     usage=pd.to_numeric(eng["usage"], errors="coerce").fillna(0.0))
    per_customer = eng.groupby(["month", "customer_id"], as_index=False)["usage"].sum().merge(paying.drop_duplicates(), on=["month", "customer_id"])
    below = per_customer.loc[per_customer["usage"] < floor].groupby("month")["customer_id"].nunique()
    index = pd.DatetimeIndex(month_list, name="month")
    wide = pd.DataFrame({"month": index, "accounts_below_usage_floor": below.reindex(index).fillna(0).to_numpy(dtype="float64")})
    return kpi.wide_to_kpi(wide, {"accounts_below_usage_floor": kpi.COUNT})


def at_risk_accounts(
    engagement: pd.DataFrame,
    snapshots: pd.DataFrame,
    health: pd.DataFrame | None,
    owners: pd.DataFrame | None,
    policy: EngagementPolicy | None = None,
) -> pd.DataFrame:
    """Paying accounts whose usage fell by at least ``policy.at_risk_drop_fraction`` (AT_RISK_ACCOUNTS).

    Flagged when mrr(M) > 0, usage(M-1) > 0 and usage(M) <= (1 - fraction) x usage(M-1)
    (a drop of exactly the fraction is included; a relative tolerance of 1e-9 absorbs
    float rounding). health (customer_health) adds score and band, owners
    (customer_id, owner_id; may be empty or None) the CRM owner. Ordered by month, MRR desc.
    docs/metric-definitions.md#usage-drop-at-risk.
    """
    policy = policy or EngagementPolicy()
    require_columns(engagement, ["month", "customer_id", "usage", "usage_previous", "usage_change", "usage_change_pct"], "engagement")
    require_columns(snapshots, ["month", "customer_id", "mrr", "plan_tier"], "snapshots")
    eng = engagement.loc[engagement["customer_id"].notna()].copy()
    eng["month"] = month_of(eng["month"])
    eng["customer_id"] = eng["customer_id"].astype(str)
    previous = pd.to_numeric(eng["usage_previous"], errors="coerce")
    current = pd.to_numeric(eng["usage"], errors="coerce").fillna(0.0)
    threshold = (1.0 - policy.at_risk_drop_fraction) * previous
    dropped = (previous > 0) & (current <= threshold + 1e-9 * previous)
    flagged = eng.loc[dropped, ["month", "customer_id", "usage_previous", "usage", "usage_change", "usage_change_pct"]]

    snaps = snapshots[["month", "customer_id", "mrr", "plan_tier"]].copy()
    snaps["month"] = month_of(snaps["month"])
    snaps["customer_id"] = snaps["customer_id"].astype(str)
    snaps = snaps.loc[pd.to_numeric(snaps["mrr"], errors="coerce") > 0]
    out = flagged.merge(snaps, on=["month", "customer_id"], how="inner")

    if health is not None and len(health):
        require_columns(health, ["month", "customer_id", "score", "band"], "health")
        extra = [c for c in ("risky_ticket_topics",) if c in health.columns]
        scores = health[["month", "customer_id", "score", "band", *extra]].rename(columns={"score": "health_score"})
        scores = scores.assign(month=month_of(scores["month"]), customer_id=scores["customer_id"].astype(str))
        out = out.merge(scores, on=["month", "customer_id"], how="left")
    if owners is not None and len(owners):
        require_columns(owners, ["customer_id", "owner_id"], "owners")
        owner_map = owners.loc[owners["owner_id"].notna(), ["customer_id", "owner_id"]].astype(str)
        owner_map = owner_map.sort_values(["customer_id", "owner_id"]).drop_duplicates("customer_id")
        out = out.merge(owner_map, on="customer_id", how="left")
    out = out.sort_values(["month", "mrr", "customer_id"], ascending=[True, False, True])
    return coerce_frame(out, AT_RISK_ACCOUNTS)
