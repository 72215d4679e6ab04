"""Demo KPIs: demos attended, demo-to-paid rate, days from demo request to customer.

docs/metric-definitions.md#demo-to-paid. For each month M, overall and by
demo type (segment 'demo_type': live = a live meeting, video = an on-demand demo video):

- ``demos_attended`` = meetings with outcome ``completed`` starting in M.
- ``demos_converted`` / ``demo_to_paid_rate`` = attended demos of M whose
  contact's billing customer (identity.contact_customers) first paid within
  ``policy.demo_to_paid_days`` (90) days after the demo (0 <= first_paid_at -
  start_at <= N days) / demos attended in M. Demos, not contacts, are counted.
- ``median_days_demo_request_to_customer`` = median over the converted demos of M
  of first_paid_at - request time (fractional days); request time = the
  meeting's ``requested_at``, else the contact's latest live_demo / video_demo form
  (matching the demo type) submitted at or before the demo.
The conversion metrics are provisional while as_of < first day of M+1 + N days.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from saas_metrics.calendar import month_of, normalise_months
from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics import kpi
from saas_metrics.metrics.funnel import converted_within, first_paid_lookup, provisional_by_month
from saas_metrics.metrics.identity import contact_customers
from saas_metrics.metrics.kpi import lookup

DEMO_FORMS = {"live": "live_demo", "video": "video_demo"}


def _request_times(demos: pd.DataFrame, form_submissions: pd.DataFrame) -> pd.Series:
    requested = pd.to_datetime(demos["requested_at"]).astype("datetime64[ns]") if "requested_at" in demos else pd.Series(pd.NaT, index=demos.index)
    if form_submissions is None or form_submissions.empty or not requested.isna().any():
        return requested
    forms = form_submissions[form_submissions["form_type"].isin(DEMO_FORMS.values())][["contact_id", "form_type", "submitted_at"]].copy()
    forms["submitted_at"] = pd.to_datetime(forms["submitted_at"]).astype("datetime64[ns]")
    left = demos.assign(form_type=demos["demo_type"].map(DEMO_FORMS), _row=demos.index)
    pairs = left.merge(forms, on=["contact_id", "form_type"])
    pairs = pairs[pairs["submitted_at"] <= pairs["start_at"]]
    latest = pairs.groupby("_row")["submitted_at"].max()
    # not Index.map: with no matching form at all it fails to cast an empty datetime mapper (pandas 3)
    return requested.fillna(pd.Series([latest.get(i, pd.NaT) for i in demos.index], index=demos.index, dtype="datetime64[ns]"))


def demo_kpis(
    meetings: pd.DataFrame,
    form_submissions: pd.DataFrame,
    first_paid: pd.DataFrame,
    links: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    as_of: pd.Timestamp,
    policy: AcquisitionPolicy,
    *,
    contacts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """kpi_monthly rows of demos for each month in ``months`` (module docstring).

    ``contacts`` (optional) lets every contact of a customer's company count, not
    only the customer's primary contact (identity.contact_customers).
    """
    month_index = normalise_months(months)
    window = policy.demo_to_paid_days
    demos = meetings[meetings["outcome"] == "completed"].copy()
    demos["start_at"] = pd.to_datetime(demos["start_at"]).astype("datetime64[ns]")
    demos["month"] = month_of(demos["start_at"])
    demos = demos[demos["month"].isin(month_index)].reset_index(drop=True)
    customer_of = contact_customers(links, contacts).set_index("contact_id")["customer_id"]
    demos["first_paid_at"] = pd.to_datetime(lookup(lookup(demos["contact_id"], customer_of), first_paid_lookup(first_paid))).astype("datetime64[ns]")
    demos["converted"] = converted_within(demos["start_at"], demos["first_paid_at"], window)
    demos["days_request_to_customer"] = (demos["first_paid_at"] - _request_times(demos, form_submissions)).dt.total_seconds() / 86400.0
    demos["days_request_to_customer"] = demos["days_request_to_customer"].where(demos["converted"])

    provisional_conversion = provisional_by_month(month_index, as_of, window)
    parts = []
    for segment, key in ((kpi.ALL, None), ("demo_type", "demo_type")):
        keys = [kpi.ALL] if key is None else sorted(set(demos["demo_type"].dropna()) | set(DEMO_FORMS))
        grid = pd.MultiIndex.from_product([month_index, keys], names=["month", "key"])
        frame = demos.assign(key=kpi.ALL if key is None else demos[key])
        grouped = frame.groupby(["month", "key"])
        attended = grouped["meeting_id"].count().reindex(grid).fillna(0.0)
        converted = grouped["converted"].sum().reindex(grid).fillna(0.0).astype("float64")
        wide = pd.DataFrame({
            "month": grid.get_level_values("month"),
            "key": grid.get_level_values("key"),
            "demos_attended": attended.to_numpy(),
            "demos_converted": converted.to_numpy(),
            "demo_to_paid_rate": kpi.safe_divide(converted.to_numpy(), attended.to_numpy()),
            "median_days_demo_request_to_customer": grouped["days_request_to_customer"].median().reindex(grid).to_numpy(dtype="float64"),
        })
        column = None if key is None else "key"
        parts.append(kpi.wide_to_kpi(wide, {"demos_attended": kpi.COUNT}, segment=segment, segment_column=column))
        parts.append(kpi.wide_to_kpi(
            wide,
            {"demos_converted": kpi.COUNT, "demo_to_paid_rate": kpi.RATIO, "median_days_demo_request_to_customer": kpi.DAYS},
            segment=segment, segment_column=column, provisional=provisional_conversion,
        ))
    return pd.concat(parts, ignore_index=True)
