"""Free-trial KPIs: requested, started ("engaged"), abandoned, trial-to-paid.

docs/metric-definitions.md#trial-to-paid. For each month M:

- ``trials_requested`` = distinct contacts who submitted a ``free_trial`` form in M.
- ``trials_started`` = product accounts whose ``trial_started_at`` is in M (the
  trial was actually used: "engaged").
- ``trials_abandoned`` = contacts of ``trials_requested`` whose product account
  (product_accounts.crm_contact_id) did not start a trial between the day of
  their first free_trial request in M (from 00:00) and ``policy.trial_abandon_days``
  (14) days after it; provisional while as_of < first day of M+1 + 14 days.
- ``trials_converted`` / ``trial_to_paid_rate`` = trials started in M whose billing
  customer (product_accounts.billing_customer_id, else identity links) first paid
  within ``policy.trial_to_paid_days`` (30) days after the trial start (0 <=
  first_paid_at - trial_started_at <= N days) / trials started in M.
- ``median_days_to_paid`` = median of first_paid_at - trial_started_at (fractional
  days) over the converted trials of M.
The last three are provisional while as_of < first day of M+1 + N days.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from saas_metrics.calendar import month_of, normalise_months
from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics import kpi
from saas_metrics.metrics.funnel import converted_within, first_paid_lookup, provisional_by_month
from saas_metrics.metrics.kpi import lookup


def account_customers(product_accounts: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    """account_id -> billing customer_id: the account's explicit billing_customer_id, else identity links."""
    accounts = product_accounts.drop_duplicates("account_id").set_index("account_id")
    by_link = links.dropna(subset=["product_account_id"]).drop_duplicates("product_account_id").set_index("product_account_id")["customer_id"]
    explicit = accounts["billing_customer_id"] if "billing_customer_id" in accounts else pd.Series(index=accounts.index, dtype="str")
    # Cast to the explicit column's type: with no links the mapped values are all-NaN floats.
    linked = pd.Series(accounts.index.map(by_link), index=accounts.index).astype(explicit.dtype)
    return explicit.fillna(linked)


def trial_kpis(
    form_submissions: pd.DataFrame,
    product_accounts: pd.DataFrame,
    first_paid: pd.DataFrame,
    links: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    as_of: pd.Timestamp,
    policy: AcquisitionPolicy,
) -> pd.DataFrame:
    """kpi_monthly rows of the trial funnel for each month in ``months`` (module docstring)."""
    month_index = normalise_months(months)
    window = policy.trial_to_paid_days

    requests = form_submissions[form_submissions["form_type"] == "free_trial"].copy()
    requests["submitted_at"] = pd.to_datetime(requests["submitted_at"]).astype("datetime64[ns]")
    requests["month"] = month_of(requests["submitted_at"])
    requests = requests.sort_values("submitted_at").drop_duplicates(["month", "contact_id"])
    starts = product_accounts[["account_id", "crm_contact_id", "trial_started_at"]].dropna(subset=["trial_started_at"]).copy()
    starts["trial_started_at"] = pd.to_datetime(starts["trial_started_at"]).astype("datetime64[ns]")
    pairs = requests.merge(starts, left_on="contact_id", right_on="crm_contact_id", how="left")
    day = pairs["submitted_at"].dt.normalize()
    pairs["started"] = (pairs["trial_started_at"] >= day) & (pairs["trial_started_at"] <= pairs["submitted_at"] + pd.Timedelta(days=policy.trial_abandon_days))
    started_any = pairs.groupby(["month", "contact_id"])["started"].any().reset_index()
    abandoned = started_any[~started_any["started"]].groupby("month")["contact_id"].nunique()

    started = starts.assign(month=month_of(starts["trial_started_at"]))
    started = started[started["month"].isin(month_index)].copy()
    paid_at = first_paid_lookup(first_paid)
    customer = account_customers(product_accounts, links)
    started["first_paid_at"] = pd.to_datetime(lookup(lookup(started["account_id"], customer), paid_at)).astype("datetime64[ns]")
    started["converted"] = converted_within(started["trial_started_at"], started["first_paid_at"], window)
    converted = started[started["converted"]]
    days_to_paid = (converted["first_paid_at"] - converted["trial_started_at"]).dt.total_seconds() / 86400.0

    def per_month(series: pd.Series) -> pd.Series:
        return series.reindex(month_index).fillna(0.0).astype("float64")

    n_started = per_month(started.groupby("month")["account_id"].nunique())
    n_converted = per_month(converted.groupby("month")["account_id"].nunique())
    counts = pd.DataFrame({
        "month": month_index,
        "trials_requested": per_month(requests.groupby("month")["contact_id"].nunique()).to_numpy(),
        "trials_started": n_started.to_numpy(),
    })
    abandoned_frame = pd.DataFrame({"month": month_index, "trials_abandoned": per_month(abandoned).to_numpy()})
    conversion = pd.DataFrame({
        "month": month_index,
        "trials_converted": n_converted.to_numpy(),
        "trial_to_paid_rate": kpi.safe_divide(n_converted.to_numpy(), n_started.to_numpy()),
        "median_days_to_paid": days_to_paid.groupby(converted["month"]).median().reindex(month_index).to_numpy(dtype="float64"),
    })
    return pd.concat([
        kpi.wide_to_kpi(counts, {"trials_requested": kpi.COUNT, "trials_started": kpi.COUNT}),
        kpi.wide_to_kpi(abandoned_frame, {"trials_abandoned": kpi.COUNT}, provisional=provisional_by_month(month_index, as_of, policy.trial_abandon_days)),
        kpi.wide_to_kpi(
            conversion,
            {"trials_converted": kpi.COUNT, "trial_to_paid_rate": kpi.RATIO, "median_days_to_paid": kpi.DAYS},
            provisional=provisional_by_month(month_index, as_of, window),
        ),
    ], ignore_index=True)
