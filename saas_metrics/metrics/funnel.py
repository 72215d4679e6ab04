"""Marketing and sales funnel KPIs: visitors, leads, MQL/SQL/PQL, conversion rates, virality.

docs/metric-definitions.md#funnel. For each month M (calendar month, UTC):

- ``unique_visitors`` = distinct visitor_id with a web session started in M
  (not sessions); by session channel too (segment 'channel').
- ``leads`` = contacts created in M; by channel = the contact's original_source
  (else the channel of its earliest form submission, else '(unknown)').
- ``mqls`` / ``sqls`` = contacts whose mql_at / sql_at falls in M (the CRM keeps
  the first time a stage was reached).
- ``pqls`` = product accounts that reached ``policy.pql_event_count`` events
  ``policy.pql_event`` (cumulative since the account began) for the first time in
  M while not yet paying (their billing customer had no first paid date before
  that day). The caller passes product_usage from the accounts' start (only
  pql_event rows are needed, or just each account's :func:`first_reached` row);
  with less history the count starts later.
- ``signups`` = self-serve product accounts created in M.
- ``lead_velocity_rate`` = (QL(M) - QL(M-1)) / QL(M-1), QL = mqls (or sqls with
  ``policy.qualified_lead_stage='sql'``). QL(M-1) is computed from the contacts
  snapshot, which holds the stage timestamps of every month.
- ``lead_to_customer_rate`` (cohort form) = leads created in M whose billing
  customer (identity.contact_customers) first paid within
  ``policy.lead_to_customer_days`` (90) days after the lead was created (0 <=
  first_paid_at - created_at <= N days) / leads created in M; provisional while
  as_of < first day of M+1 + N days. Also by channel.
- ``lead_to_customer_rate_period`` = new customers in M (mrr_movements 'new') /
  leads in M (the survey: 10 / 200 = 5 %).
- ``visit_to_lead_rate`` = leads / unique_visitors, also by channel.
- stage conversion (cohort forms, window N = ``policy.lead_to_customer_days``, provisional
  while as_of < first day of M+1 + N days, like lead_to_customer_rate):
  ``mql_to_sql_rate`` = contacts whose mql_at is in M and whose sql_at follows within N days
  (0 <= sql_at - mql_at <= N days) / contacts whose mql_at is in M;
  ``sql_to_customer_rate`` = contacts whose sql_at is in M whose customer first paid within N
  days after sql_at / contacts whose sql_at is in M;
  ``pql_to_paid_rate`` = PQLs of M whose customer first paid within N days after the day the
  account became a PQL / pqls(M). A contact that skipped a stage (no mql_at) is not in that
  stage's denominator.
- ``viral_coefficient`` = ``referred_new_customers`` / paying customers at the end
  of M-1 (movements of M with mrr_start > 0). A new customer of M is referred when
  its referred_by_customer_id (billing customer, or its CRM contacts) names a
  customer whose first paid date is earlier than its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from saas_metrics.calendar import month_of, month_start, normalise_months
from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics import kpi
from saas_metrics.metrics.identity import contact_customers
from saas_metrics.metrics.kpi import lookup

UNKNOWN = "(unknown)"


def provisional_by_month(months: Sequence[pd.Timestamp], as_of: pd.Timestamp, window_days: int) -> pd.Series:
    """True for month M while as_of < first day of M+1 + window_days (the window is still open)."""
    index = pd.DatetimeIndex([month_start(m) for m in months])
    closes = index + pd.offsets.MonthBegin(1) + pd.Timedelta(days=window_days)
    return pd.Series(pd.Timestamp(as_of) < closes, index=index)


def first_paid_lookup(first_paid: pd.DataFrame) -> pd.Series:
    """customer_id -> first_paid_at (naive datetime)."""
    fp = first_paid.drop_duplicates("customer_id")
    return pd.Series(pd.to_datetime(fp["first_paid_at"]).astype("datetime64[ns]").to_numpy(), index=fp["customer_id"].to_numpy())


def converted_within(start: pd.Series, paid_at: pd.Series, days: int) -> pd.Series:
    """True where the customer first paid at or after ``start`` and within ``days`` days of it."""
    delay = paid_at - start
    return delay.notna() & (delay >= pd.Timedelta(0)) & (delay <= pd.Timedelta(days=days))


def _counts(months: list[pd.Timestamp], event_month: pd.Series, ids: pd.Series) -> pd.Series:
    frame = pd.DataFrame({"month": event_month.to_numpy(), "id": ids.to_numpy()}).dropna()
    return frame.groupby("month")["id"].nunique().reindex(months).fillna(0.0).astype("float64")


def _counts_by(months: list[pd.Timestamp], event_month: pd.Series, key: pd.Series, ids: pd.Series, keys: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"month": event_month.to_numpy(), "key": key.to_numpy(), "id": ids.to_numpy()}).dropna(subset=["month", "id"])
    grid = pd.MultiIndex.from_product([months, keys], names=["month", "channel"])
    return frame.groupby(["month", "key"])["id"].nunique().rename_axis(["month", "channel"]).reindex(grid).fillna(0.0).astype("float64")


def _lead_channel(contacts: pd.DataFrame, form_submissions: pd.DataFrame | None) -> pd.Series:
    channel = contacts["original_source"].copy()
    if form_submissions is not None and not form_submissions.empty:
        first_form = form_submissions.sort_values("submitted_at").dropna(subset=["channel"]).drop_duplicates("contact_id")
        channel = channel.fillna(contacts["contact_id"].map(first_form.set_index("contact_id")["channel"]))
    return channel.fillna(UNKNOWN)


def first_reached(product_usage: pd.DataFrame, event: str, threshold: int,
                  prior_counts: pd.Series | None = None) -> pd.DataFrame:
    """The day each account's cumulative count of ``event`` first reached ``threshold``: one row per
    such account (account_id, date, event_name, event_count), event_count being the cumulative
    count at the end of that day (>= threshold). Accounts that never reached it have no row.

    ``prior_counts`` (account_id -> count of ``event`` before the rows given) carries the history
    in: an account already at the threshold reached it earlier and has no row. Without it the rows
    are taken as the whole history. The result passed in again gives itself back."""
    usage = product_usage[product_usage["event_name"] == event]
    daily = usage.groupby(["account_id", "date"], as_index=False)["event_count"].sum().sort_values(["account_id", "date"])
    daily["event_count"] = daily.groupby("account_id")["event_count"].cumsum()
    if prior_counts is not None:
        prior = daily["account_id"].map(prior_counts).fillna(0).astype(daily["event_count"].dtype)
        daily = daily.assign(event_count=daily["event_count"] + prior)[(prior < threshold).to_numpy()]
    reached = daily[daily["event_count"] >= threshold].drop_duplicates("account_id")
    return reached.assign(event_name=pd.Series(event, index=reached.index, dtype="str"))[
        ["account_id", "date", "event_name", "event_count"]].reset_index(drop=True)


def _pqls(product_accounts: pd.DataFrame, product_usage: pd.DataFrame, links: pd.DataFrame, paid_at: pd.Series,
          policy: AcquisitionPolicy) -> pd.DataFrame:
    """One row per PQL (account not yet paying when it reached the milestone), indexed by
    account_id: reached_at (day it became a PQL) and paid_at (its customer's first paid date)."""
    reached = first_reached(product_usage, policy.pql_event, policy.pql_event_count)
    if reached.empty:
        return pd.DataFrame({"reached_at": pd.Series(dtype="datetime64[ns]"), "paid_at": pd.Series(dtype="datetime64[ns]")})
    reached_at = pd.Series(pd.to_datetime(reached["date"]).astype("datetime64[ns]").to_numpy(), index=reached["account_id"].to_numpy())
    customer = product_accounts.drop_duplicates("account_id").set_index("account_id")["billing_customer_id"]
    by_link = links.dropna(subset=["product_account_id"]).drop_duplicates("product_account_id").set_index("product_account_id")["customer_id"]
    account_customer = pd.Series(reached_at.index.map(customer), index=reached_at.index)
    # Both as text: an all-null side maps to float, which pandas will no longer fill with (or into) text.
    by_account = pd.Series(reached_at.index.map(by_link), index=reached_at.index)
    account_customer = account_customer.astype("str").fillna(by_account.astype("str"))
    account_paid = pd.Series(pd.to_datetime(lookup(account_customer, paid_at)).to_numpy(), index=reached_at.index)
    not_paying = account_paid.isna() | (account_paid > reached_at)
    return pd.DataFrame({"reached_at": reached_at[not_paying], "paid_at": account_paid[not_paying].astype("datetime64[ns]")})


def _referred_new_customers(
    new: pd.DataFrame, contacts: pd.DataFrame, members: pd.DataFrame, paid_at: pd.Series, billing_customers: pd.DataFrame | None
) -> pd.Series:
    """month -> count of new customers referred by a customer who paid before them."""
    refs = [members.merge(contacts[["contact_id", "referred_by_customer_id"]].dropna(), on="contact_id")[["customer_id", "referred_by_customer_id"]]]
    if billing_customers is not None and "referred_by_customer_id" in billing_customers:
        refs.insert(0, billing_customers[["customer_id", "referred_by_customer_id"]].dropna())
    referrer = pd.concat(refs, ignore_index=True).drop_duplicates("customer_id").set_index("customer_id")["referred_by_customer_id"]
    new = new.assign(referrer=new["customer_id"].map(referrer))
    own_paid = pd.to_datetime(lookup(new["customer_id"], paid_at)).fillna(new["month"] + pd.offsets.MonthBegin(1))
    referrer_paid = pd.to_datetime(lookup(new["referrer"], paid_at))
    referred = new[new["referrer"].notna() & (referrer_paid < own_paid)]
    return referred.groupby("month")["customer_id"].nunique()


def _stage_conversion(contacts: pd.DataFrame, customer_of: pd.Series, paid_at: pd.Series, pqls: pd.DataFrame,
                      months: list[pd.Timestamp], window: int) -> dict[str, object]:
    """mql_to_sql_rate, sql_to_customer_rate and pql_to_paid_rate per month (module docstring)."""
    mql_at = pd.to_datetime(contacts["mql_at"]).astype("datetime64[ns]")
    sql_at = pd.to_datetime(contacts["sql_at"]).astype("datetime64[ns]")
    contact_paid = pd.to_datetime(lookup(lookup(contacts["contact_id"], customer_of), paid_at)).astype("datetime64[ns]")
    rates: dict[str, object] = {}
    for name, start, done, ids in (
        ("mql_to_sql_rate", mql_at, sql_at, contacts["contact_id"]),
        ("sql_to_customer_rate", sql_at, contact_paid, contacts["contact_id"]),
        ("pql_to_paid_rate", pqls["reached_at"], pqls["paid_at"], pd.Series(pqls.index, index=pqls.index)),
    ):
        entered = _counts(months, month_of(start), ids)
        converted = _counts(months, month_of(start), ids.where(converted_within(start, done, window)))
        rates[name] = kpi.safe_divide(converted.to_numpy(), entered.to_numpy())
    return rates


#: The web session columns :func:`funnel_kpis` reads (a loader need not read more).
SESSION_COLUMNS = ("session_id", "visitor_id", "started_at", "channel")


@dataclass(frozen=True)
class VisitorCounts:
    """Unique visitors per month (``by_month``) and per month and session channel (``by_channel``,
    indexed by month and channel), and every channel a session carried (``channels``): all the
    funnel reads of web sessions. A month's distinct visitors depend on that month's sessions only,
    so a range's counts are its months' counts put together (:meth:`concat`), and a caller can read
    sessions a month at a time."""

    by_month: pd.Series
    by_channel: pd.Series
    channels: frozenset[str]

    @classmethod
    def of(cls, sessions: pd.DataFrame) -> VisitorCounts:
        """The counts of ``sessions`` (a session without a start time or visitor is not counted,
        its channel is still a channel)."""
        month = month_of(sessions["started_at"])
        channel = sessions["channel"].fillna(UNKNOWN)
        frame = pd.DataFrame({"month": month.to_numpy(), "channel": channel.to_numpy(),
                              "id": sessions["visitor_id"].to_numpy()}).dropna(subset=["month", "id"])
        return cls(frame.groupby("month")["id"].nunique().astype("float64"),
                   frame.groupby(["month", "channel"])["id"].nunique().astype("float64"),
                   frozenset(channel.dropna()))

    @classmethod
    def concat(cls, parts: Sequence[VisitorCounts]) -> VisitorCounts:
        """The counts of disjoint months put together."""
        if not parts:
            return cls.of(pd.DataFrame({"started_at": pd.Series(dtype="datetime64[ns]"),
                                        "channel": pd.Series(dtype="str"), "visitor_id": pd.Series(dtype="str")}))
        return cls(pd.concat([p.by_month for p in parts]), pd.concat([p.by_channel for p in parts]),
                   frozenset().union(*(p.channels for p in parts)))

    def in_months(self, months: list[pd.Timestamp]) -> pd.Series:
        return self.by_month.groupby(level=0).sum().reindex(months).fillna(0.0).astype("float64")

    def by_months_and_channels(self, months: list[pd.Timestamp], channels: list[str]) -> pd.Series:
        grid = pd.MultiIndex.from_product([months, channels], names=["month", "channel"])
        counts = self.by_channel.groupby(level=[0, 1]).sum().rename_axis(["month", "channel"])
        return counts.reindex(grid).fillna(0.0).astype("float64")


def funnel_kpis(
    sessions: pd.DataFrame | VisitorCounts,
    contacts: pd.DataFrame,
    form_submissions: pd.DataFrame,
    product_accounts: pd.DataFrame,
    product_usage: pd.DataFrame,
    movements: pd.DataFrame,
    first_paid: pd.DataFrame,
    links: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    as_of: pd.Timestamp,
    policy: AcquisitionPolicy,
    *,
    billing_customers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """kpi_monthly rows of the funnel for each month in ``months`` (module docstring).

    ``sessions``: the web sessions of the months, or their :class:`VisitorCounts` (what a caller
    reading the sessions a month at a time passes). ``billing_customers`` (optional) adds the
    billing referral field to the CRM's.
    """
    month_index = normalise_months(months)
    paid_at = first_paid_lookup(first_paid)
    window = policy.lead_to_customer_days

    visitors = sessions if isinstance(sessions, VisitorCounts) else VisitorCounts.of(sessions)
    umv = visitors.in_months(month_index)

    lead_month = month_of(contacts["created_at"])
    lead_channel = _lead_channel(contacts, form_submissions)
    leads = _counts(month_index, lead_month, contacts["contact_id"])
    stage_col = "mql_at" if policy.qualified_lead_stage == "mql" else "sql_at"
    previous = [m - pd.DateOffset(months=1) for m in month_index]
    ql_prev = _counts(previous, month_of(contacts[stage_col]), contacts["contact_id"]).to_numpy()
    ql = _counts(month_index, month_of(contacts[stage_col]), contacts["contact_id"]).to_numpy()

    members = contact_customers(links, contacts)
    customer_of = members.set_index("contact_id")["customer_id"]
    lead_paid = pd.to_datetime(lookup(lookup(contacts["contact_id"], customer_of), paid_at)).astype("datetime64[ns]")
    converted = converted_within(pd.to_datetime(contacts["created_at"]).astype("datetime64[ns]"), lead_paid, window)
    converted_ids = contacts["contact_id"].where(converted)
    lead_customers = _counts(month_index, lead_month, converted_ids)

    new = movements[movements["movement"] == "new"].assign(month=lambda f: month_of(f["month"]))
    new_customers = new.groupby("month")["customer_id"].nunique().reindex(month_index).fillna(0.0)
    paying_prev = movements[movements["mrr_start"].fillna(0) > 0].assign(month=lambda f: month_of(f["month"]))
    paying_prev = paying_prev.groupby("month")["customer_id"].nunique().reindex(month_index).fillna(0.0)
    referred = _referred_new_customers(new, contacts, members, paid_at, billing_customers).reindex(month_index).fillna(0.0)

    pqls = _pqls(product_accounts, product_usage, links, paid_at, policy)
    pql_months = month_of(pqls["reached_at"])
    stage_rates = _stage_conversion(contacts, customer_of, paid_at, pqls, month_index, window)
    self_serve = product_accounts[product_accounts["signup_source"] == "self_serve"]

    headline = pd.DataFrame({
        "month": month_index,
        "unique_visitors": umv.to_numpy(),
        "leads": leads.to_numpy(),
        "mqls": _counts(month_index, month_of(contacts["mql_at"]), contacts["contact_id"]).to_numpy(),
        "sqls": _counts(month_index, month_of(contacts["sql_at"]), contacts["contact_id"]).to_numpy(),
        "pqls": pql_months.value_counts().reindex(month_index).fillna(0.0).to_numpy(dtype="float64"),
        "signups": _counts(month_index, month_of(self_serve["created_at"]), self_serve["account_id"]).to_numpy(),
        "lead_velocity_rate": kpi.safe_divide(ql - ql_prev, ql_prev),
        "lead_to_customer_rate_period": kpi.safe_divide(new_customers.to_numpy(), leads.to_numpy()),
        "visit_to_lead_rate": kpi.safe_divide(leads.to_numpy(), umv.to_numpy()),
        "referred_new_customers": referred.to_numpy(),
        "viral_coefficient": kpi.safe_divide(referred.to_numpy(), paying_prev.to_numpy()),
    })
    units = {
        "unique_visitors": kpi.COUNT, "leads": kpi.COUNT, "mqls": kpi.COUNT, "sqls": kpi.COUNT, "pqls": kpi.COUNT,
        "signups": kpi.COUNT, "lead_velocity_rate": kpi.RATIO, "lead_to_customer_rate_period": kpi.RATIO,
        "visit_to_lead_rate": kpi.RATIO, "referred_new_customers": kpi.COUNT, "viral_coefficient": kpi.RATIO,
    }
    provisional = provisional_by_month(month_index, as_of, window)
    cohort = pd.DataFrame({"month": month_index, "lead_to_customer_rate": kpi.safe_divide(lead_customers.to_numpy(), leads.to_numpy()),
                           **stage_rates})
    cohort_units = {"lead_to_customer_rate": kpi.RATIO, **dict.fromkeys(stage_rates, kpi.RATIO)}
    parts = [kpi.wide_to_kpi(headline, units), kpi.wide_to_kpi(cohort, cohort_units, provisional=provisional)]

    channels = sorted(visitors.channels | set(lead_channel.dropna()))
    if channels:
        umv_c = visitors.by_months_and_channels(month_index, channels)
        leads_c = _counts_by(month_index, lead_month, lead_channel, contacts["contact_id"], channels)
        conv_c = _counts_by(month_index, lead_month, lead_channel, converted_ids, channels)
        by_channel = pd.DataFrame({
            "month": umv_c.index.get_level_values("month"),
            "channel": umv_c.index.get_level_values("channel"),
            "unique_visitors": umv_c.to_numpy(),
            "leads": leads_c.to_numpy(),
            "visit_to_lead_rate": kpi.safe_divide(leads_c.to_numpy(), umv_c.to_numpy()),
        })
        parts.append(kpi.wide_to_kpi(by_channel, {"unique_visitors": kpi.COUNT, "leads": kpi.COUNT, "visit_to_lead_rate": kpi.RATIO}, segment="channel", segment_column="channel"))
        rate_c = by_channel[["month", "channel"]].assign(lead_to_customer_rate=kpi.safe_divide(conv_c.to_numpy(), leads_c.to_numpy()))
        parts.append(kpi.wide_to_kpi(rate_c, {"lead_to_customer_rate": kpi.RATIO}, segment="channel", segment_column="channel", provisional=provisional))
    return pd.concat(parts, ignore_index=True)
