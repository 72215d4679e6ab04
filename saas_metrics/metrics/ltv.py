"""Lifetime value (docs/metric-definitions.md#ltv).

* ltv(M) = ARPA(M) x gross_margin / mean(customer_churn_rate over the
  ``policy.ltv_churn_window_months`` (default 6) months BEFORE M) (ChartMogul). Months of the
  window that are missing or NULL are skipped; NULL when no month of the window is available
  or the mean is 0.
* clv_simple(M) = ARPA(M) / customer_churn_rate(M): the survey's example, churn 5 % ->
  lifetime 20 months, ARPA $500 -> CLV $10,000. NULL when the churn of M is 0 or NULL.
* customer_lifetime_months(M) = the one lifetime every CLV form uses, from the customer
  churn rate of M. Policy ``revenue.clv_lifetime``:
  - ``churn_rate`` (default) = 1 / customer_churn_rate(M) months (churn 5 % -> 20 months);
  - ``compounded`` = 12 / annualised churn = 12 / (1 - (1 - churn)^12) months
    (churn 5 % -> 26.11 months): churn compounds over the year, so fewer customers
    leave in a year than 12 x the monthly rate.
* clv_annual_spend(M) = average annual spend x average lifetime in years (the HubSpot
  guide) = 12 x ARPA(M) x customer_lifetime_months(M) / 12. With the default lifetime the
  years are 1 / (12 x churn) and the form agrees with clv_simple: churn 5 %, ARPA $500 ->
  6,000 x 1.6667 = 10,000. With ``compounded``: 6,000 / 0.459640 = 13,053.70.
  No gross margin (a revenue value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.calendar import normalise_months
from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics.kpi import CURRENCY, MONTHS, safe_divide, wide_to_kpi
from saas_metrics.metrics.retention import annualise

LTV_UNITS: dict[str, str] = {
    "ltv": CURRENCY, "clv_simple": CURRENCY, "clv_annual_spend": CURRENCY, "customer_lifetime_months": MONTHS,
}


def _by_month(series: pd.Series) -> pd.Series:
    out = pd.Series(pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64"), index=pd.to_datetime(series.index))
    out.index = out.index.astype("datetime64[ns]")
    return out[~out.index.duplicated(keep="last")]


def trailing_churn(churn_by_month: pd.Series, months: Sequence[pd.Timestamp], window: int) -> pd.Series:
    """Mean of the available (non-NULL) churn rates of the ``window`` months before each month."""
    churn = _by_month(churn_by_month)
    out = {}
    for month in months:  # one lookup per reported month, not per customer
        before = [month - pd.DateOffset(months=k) for k in range(1, window + 1)]
        values = churn.reindex(pd.DatetimeIndex(before).astype("datetime64[ns]")).dropna()
        out[month] = values.mean() if len(values) else np.nan
    return pd.Series(out, dtype="float64")


def lifetime_months(churn: pd.Series, policy: RevenuePolicy) -> pd.Series:
    """Customer lifetime in months from a monthly churn rate (module docstring); NaN where churn is 0 or NULL."""
    if policy.clv_lifetime == "compounded":
        return safe_divide(12.0, annualise(churn))
    return safe_divide(pd.Series(1.0, index=churn.index), churn)


def ltv_kpis(
    arpa_by_month: pd.Series,
    churn_by_month: pd.Series,
    months: Sequence[pd.Timestamp],
    policy: RevenuePolicy,
) -> pd.DataFrame:
    """kpi_monthly rows of ltv, clv_simple, clv_annual_spend and customer_lifetime_months for ``months``.

    ``arpa_by_month`` and ``churn_by_month`` (customer_churn_rate) are Series indexed by month
    start; churn must include the trailing window before the first month (read from kpi_monthly).
    """
    months = normalise_months(months)
    index = pd.DatetimeIndex(months).astype("datetime64[ns]")
    arpa = _by_month(arpa_by_month).reindex(index)
    churn_now = _by_month(churn_by_month).reindex(index)
    trailing = trailing_churn(churn_by_month, months, policy.ltv_churn_window_months).reindex(index)
    lifetime = lifetime_months(churn_now, policy)
    wide = pd.DataFrame({
        "month": index,
        "ltv": safe_divide(arpa * policy.gross_margin, trailing),
        "clv_simple": safe_divide(arpa, churn_now),
        "clv_annual_spend": 12.0 * arpa * lifetime / 12.0,
        "customer_lifetime_months": lifetime,
    })
    return wide_to_kpi(wide, LTV_UNITS)
