"""Open sales pipeline at each month's end: its value and its stage-weighted value.

For month M, E = first day of M+1 (the end of M). A CRM deal is open at E when it was
created before E and not closed by E (closed_at null or >= E). Deals whose stage is
closed (closedwon / closedlost, or is_closed_won) but that carry no closed_at cannot be
placed in time and are left out.

* ``open_deals`` (M) = count of deals open at E.
* ``pipeline_value`` (M) = sum of their amount (first-year contract value), converted at
  the rate in force on M's last day; deals without an amount add 0.
* ``weighted_pipeline_value`` (M) = sum of amount x win probability (the "25 SaaS KPIs"
  list's pipeline value, HubSpot's weighted amount). The probability of a deal still open
  today is the one exported with it (HubSpot ``hs_deal_stage_probability``), else
  ``policy.deal_stage_probabilities[stage]`` (HubSpot's default pipeline: appointment
  scheduled 0.2, qualified to buy 0.4, presentation scheduled 0.6, decision maker bought
  in 0.8, contract sent 0.9), else ``policy.deal_stage_probability_default`` (0.5). A deal
  open at a past E that has closed since also takes the default: the CRM snapshot keeps
  only its current stage, not the stage it had at E.

Example: deals of 10,000 (presentation scheduled) and 20,000 (contract sent) open at E:
pipeline 30,000, weighted 0.6 x 10,000 + 0.9 x 20,000 = 24,000.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.calendar import normalise_months
from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics.frames import conform
from saas_metrics.metrics.fx import month_last_day, rate_on
from saas_metrics.metrics.kpi import COUNT, CURRENCY, wide_to_kpi
from saas_metrics.sources.schemas import CRM_DEALS

PIPELINE_UNITS: dict[str, str] = {"open_deals": COUNT, "pipeline_value": CURRENCY, "weighted_pipeline_value": CURRENCY}
CLOSED_STAGES = ("closedwon", "closedlost")


def deal_probability(deals: pd.DataFrame, policy: AcquisitionPolicy) -> pd.Series:
    """Win probability of each deal as of today (module docstring); closed deals: 1 won, 0 lost."""
    stage = deals["stage"].astype("object").where(deals["stage"].notna(), "").astype(str).str.lower()
    mapped = pd.to_numeric(stage.map(policy.deal_stage_probabilities), errors="coerce")
    exported = pd.to_numeric(deals["stage_probability"], errors="coerce") if "stage_probability" in deals else mapped * np.nan
    return exported.where(exported.notna(), mapped).fillna(policy.deal_stage_probability_default).astype("float64")


def pipeline_kpis(
    deals: pd.DataFrame | None,
    fx_rates: pd.DataFrame | None,
    months: Sequence[pd.Timestamp],
    policy: AcquisitionPolicy,
    reporting_currency: str,
) -> pd.DataFrame:
    """kpi rows of PIPELINE_UNITS for ``months`` (module docstring)."""
    months = normalise_months(months)
    d = conform(deals, CRM_DEALS)
    closed_now = d["stage"].astype("object").fillna("").astype(str).str.lower().isin(CLOSED_STAGES) | d["is_closed_won"].fillna(False).astype(bool)
    d = d[d["created_at"].notna() & ~(closed_now & d["closed_at"].isna())]
    closed_now = closed_now.reindex(d.index)
    probability_now = deal_probability(d, policy).to_numpy()
    amount = d["amount"].fillna(0.0).to_numpy(dtype="float64")
    currency = d["currency"].astype("object").where(d["currency"].notna(), reporting_currency)
    created, closed = d["created_at"].to_numpy(), d["closed_at"].to_numpy()
    rows = []
    for month in months:
        end = np.datetime64(month + pd.DateOffset(months=1), "ns")
        is_open = (created < end) & (pd.isna(closed) | (closed >= end))
        rate = rate_on(fx_rates, currency[is_open], month_last_day(pd.Series([month] * int(is_open.sum()))), reporting_currency) \
            if is_open.any() else np.zeros(0)
        value = amount[is_open] * rate
        probability = np.where(closed_now.to_numpy()[is_open], policy.deal_stage_probability_default, probability_now[is_open])
        rows.append({"month": month, "open_deals": float(is_open.sum()), "pipeline_value": float(value.sum()),
                     "weighted_pipeline_value": float((value * probability).sum())})
    return wide_to_kpi(pd.DataFrame(rows, columns=["month", *PIPELINE_UNITS]), PIPELINE_UNITS)
