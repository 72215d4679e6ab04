"""MRR growth: month over month, compounded over 3/6/12 months, and ARR per customer.

From the headline kpi rows of mrr, arr and customers (kpi_revenue) of M and the months before:

* ``mrr_growth_rate`` (M) = (mrr(M) - mrr(M-1)) / mrr(M-1) (the "25 SaaS KPIs" list's
  MRR growth rate). 10,000 -> 11,000: 0.10.
* ``cmgr_3m`` / ``cmgr_6m`` / ``cmgr_12m`` (M) = (mrr(M) / mrr(M-n))^(1/n) - 1, the compound
  monthly growth rate over the last n months: 10,000 -> 13,310 over 3 months is 10 % a month
  (1.331^(1/3) = 1.1), not 33.1 % / 3 = 11.03 %.
* ``arr_growth_rate_yoy`` (M) = arr(M) / arr(M-12) - 1 (the growth half of the rule of 40).
* ``arr_per_customer`` (M) = arr(M) / customers(M) = 12 x arpa: the annual revenue of an
  average current customer (what the guide calls ACV; the ``acv`` metric is the mean
  first-year value of the deals won in M).

Each is NULL where a month it needs is missing or its base MRR (ARR, customers) is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.calendar import normalise_months
from saas_metrics.metrics.kpi import ALL, CURRENCY, RATIO, safe_divide, wide_to_kpi

#: months n of each compound monthly growth rate cmgr_<n>m
CMGR_MONTHS = (3, 6, 12)
GROWTH_UNITS: dict[str, str] = {
    "mrr_growth_rate": RATIO,
    **{f"cmgr_{n}m": RATIO for n in CMGR_MONTHS},
    "arr_growth_rate_yoy": RATIO,
    "arr_per_customer": CURRENCY,
}
#: the lookback (months before M) growth_kpis needs
GROWTH_LOOKBACK_MONTHS = max(CMGR_MONTHS)


def headline_series(kpis: pd.DataFrame, metric: str) -> pd.Series:
    """The segment-'all' values of ``metric`` as a float Series indexed by month start."""
    rows = kpis[(kpis["metric"] == metric) & (kpis["segment"] == ALL)]
    out = pd.Series(pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype="float64"),
                    index=pd.DatetimeIndex(pd.to_datetime(rows["month"])).astype("datetime64[ns]"))
    return out[~out.index.duplicated(keep="last")]


def value_months_before(series: pd.Series, index: pd.DatetimeIndex, n: int) -> np.ndarray:
    """series(M - n) for each M of ``index`` (NaN where absent)."""
    before = pd.DatetimeIndex([m - pd.DateOffset(months=n) for m in index]).astype("datetime64[ns]")
    return series.reindex(before).to_numpy(dtype="float64")


def compound_growth(now: np.ndarray, base: np.ndarray, n: int) -> np.ndarray:
    """(now / base)^(1/n) - 1, NaN where base is 0 or missing (now 0 gives -1)."""
    ratio = safe_divide(now, base)
    with np.errstate(invalid="ignore"):
        return np.where(np.asarray(ratio) >= 0, np.power(np.abs(ratio), 1.0 / n) - 1.0, np.nan)


def growth_kpis(revenue_kpis: pd.DataFrame, months: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """kpi rows of GROWTH_UNITS for ``months`` (module docstring).

    ``revenue_kpis`` are kpi_revenue rows (mrr, arr, customers) of the months and of up to
    GROWTH_LOOKBACK_MONTHS months before them.
    """
    months = normalise_months(months)
    index = pd.DatetimeIndex(months).astype("datetime64[ns]")
    mrr = headline_series(revenue_kpis, "mrr")
    arr = headline_series(revenue_kpis, "arr")
    now = mrr.reindex(index).to_numpy(dtype="float64")
    wide = pd.DataFrame({"month": index})
    wide["mrr_growth_rate"] = compound_growth(now, value_months_before(mrr, index, 1), 1)
    for n in CMGR_MONTHS:
        wide[f"cmgr_{n}m"] = compound_growth(now, value_months_before(mrr, index, n), n)
    wide["arr_growth_rate_yoy"] = compound_growth(arr.reindex(index).to_numpy(dtype="float64"),
                                                  value_months_before(arr, index, 12), 1)
    wide["arr_per_customer"] = safe_divide(arr.reindex(index).to_numpy(dtype="float64"),
                                           headline_series(revenue_kpis, "customers").reindex(index).to_numpy(dtype="float64"))
    return wide_to_kpi(wide, GROWTH_UNITS)
