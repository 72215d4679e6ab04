"""Cash, burn, runway and capital efficiency (the "25 SaaS KPIs" list ranks cash, burn and runway second).

For month M, from the bank balances, the expense ledger and the headline KPIs of M and the
months before (kpi_revenue: mrr, arr, net_new_mrr, cash_collected; kpi_acquisition: ad_spend,
sm_spend):

* ``cash_balance`` (M) = sum over bank accounts of the last balance dated in M, each at the rate
  in force on M's last day. NULL when no account has a balance dated in M.
* ``operating_expenses`` (M) = every ledger line dated in M (all departments, each at its
  date's rate) + ad_spend (M): the cash the company spends to run (ads are paid outside the ledger).
* ``net_burn`` (M) = operating_expenses (M) - cash_collected (M). Positive = burning cash;
  negative = the month generated cash. Financing (equity, loans) is not in it.
* ``runway_months`` (M) = cash_balance (M) / mean net_burn of M-2..M (three months smooth the
  annual prepayments out); NULL while that mean is 0 or negative (no runway limit) or a month is
  missing. Balance 1,200,000, burns 90,000 / 110,000 / 100,000 -> 12 months.
* ``burn_multiple`` (M) = net_burn (M) / net new ARR (M), net new ARR = 12 x net_new_mrr (M)
  (David Sacks: below 1 is excellent, above 2 is suspect). NULL when net new ARR <= 0.
* ``magic_number`` (M) = net new ARR of the quarter ending in M (12 x net_new_mrr of M-2..M) /
  sm_spend of the quarter before (M-5..M-3). 12 x 25,000 / 400,000 = 0.75.
* ``operating_margin`` (M) = (mrr (M) - operating_expenses (M)) / mrr (M). MRR stands for the
  month's recognised subscription revenue, so an annual invoice paid in M does not swing it.
* ``rule_of_40`` (M) = arr_growth_rate_yoy (M) + operating_margin (M), as fractions: 0.40 or
  more passes (growth 0.60 with margin -0.15 -> 0.45).

Every value is NULL (NaN) where an input month is missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_of, normalise_months
from saas_metrics.metrics.ad_spend import to_reporting
from saas_metrics.metrics.fx import month_last_day, rate_on
from saas_metrics.metrics.growth import compound_growth, headline_series, value_months_before
from saas_metrics.metrics.kpi import CURRENCY, MONTHS, RATIO, safe_divide, wide_to_kpi

FINANCE_UNITS: dict[str, str] = {
    "cash_balance": CURRENCY, "operating_expenses": CURRENCY, "net_burn": CURRENCY, "runway_months": MONTHS,
    "burn_multiple": RATIO, "magic_number": RATIO, "operating_margin": RATIO, "rule_of_40": RATIO,
}
#: months before M the function reads: kpi_revenue (ARR a year ago), kpi_acquisition (S&M of the
#: quarter before), the ledger (the runway's three months)
REVENUE_LOOKBACK, SPEND_LOOKBACK, LEDGER_LOOKBACK = 12, 5, 2
RUNWAY_MONTHS = 3



def expenses_by_month(expenses: pd.DataFrame, fx_rates: pd.DataFrame, reporting_currency: str) -> pd.Series:
    """Every ledger line per month in the reporting currency (each at its date's rate)."""
    lines = expenses[expenses["date"].notna() & expenses["amount"].notna()]
    if lines.empty:
        return pd.Series(dtype="float64")
    amount = to_reporting(lines["amount"], lines["currency"], lines["date"], fx_rates, reporting_currency)
    month = month_of(lines["date"])
    return pd.Series(np.asarray(amount, dtype="float64"), index=month.to_numpy()).groupby(level=0).sum()


def cash_balance_by_month(balances: pd.DataFrame, fx_rates: pd.DataFrame, months: Sequence[pd.Timestamp],
                          reporting_currency: str) -> pd.Series:
    """Sum over accounts of the last balance dated in M, at M's last day's rate; NaN for a month without any."""
    index = pd.DatetimeIndex(months).astype("datetime64[ns]")
    rows = balances[balances["date"].notna() & balances["balance"].notna()]
    rows = rows.assign(month=month_of(rows["date"]))
    rows = rows[rows["month"].isin(index)].sort_values("date", kind="stable").drop_duplicates(["month", "account_id"], keep="last")
    if rows.empty:
        return pd.Series(np.nan, index=index)
    rate = rate_on(fx_rates, rows["currency"].fillna(reporting_currency), month_last_day(rows["month"]), reporting_currency)
    return pd.Series(rows["balance"].to_numpy(dtype="float64") * rate, index=rows["month"].to_numpy()).groupby(level=0).sum().reindex(index)


def _window_sum(series: pd.Series, index: pd.DatetimeIndex, first: int, last: int) -> np.ndarray:
    """sum of series(M - k) for k = first..last (NaN when any of those months is missing)."""
    return np.sum([value_months_before(series, index, k) for k in range(first, last + 1)], axis=0)


def finance_kpis(
    balances: pd.DataFrame | None,
    expenses: pd.DataFrame,
    fx_rates: pd.DataFrame,
    kpi_history: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    reporting_currency: str,
) -> pd.DataFrame:
    """kpi rows of FINANCE_UNITS for ``months`` (module docstring).

    ``expenses`` must cover M-2..M; ``kpi_history`` holds the kpi_revenue and kpi_acquisition rows of
    M-12..M; ``balances`` (date, account_id, balance, currency) those of the months (None: no source).
    """
    months = normalise_months(months)
    index = pd.DatetimeIndex(months).astype("datetime64[ns]")
    ledger_months = pd.DatetimeIndex([m - pd.DateOffset(months=k) for m in index for k in range(LEDGER_LOOKBACK + 1)]).unique()
    ledger = expenses_by_month(expenses, fx_rates, reporting_currency).reindex(ledger_months).fillna(0.0)
    opex = ledger + headline_series(kpi_history, "ad_spend").reindex(ledger_months)
    burn = opex - headline_series(kpi_history, "cash_collected").reindex(ledger_months)
    mrr = headline_series(kpi_history, "mrr").reindex(index).to_numpy()
    arr = headline_series(kpi_history, "arr")
    net_new_mrr = headline_series(kpi_history, "net_new_mrr")
    sm_spend = headline_series(kpi_history, "sm_spend")

    wide = pd.DataFrame({"month": index})
    balance = cash_balance_by_month(balances, fx_rates, months, reporting_currency) if balances is not None else pd.Series(np.nan, index=index)
    wide["cash_balance"] = balance.to_numpy()
    wide["operating_expenses"] = opex.reindex(index).to_numpy()
    wide["net_burn"] = burn.reindex(index).to_numpy()
    mean_burn = _window_sum(burn, index, 0, RUNWAY_MONTHS - 1) / RUNWAY_MONTHS
    wide["runway_months"] = np.where(mean_burn > 0, safe_divide(wide["cash_balance"].to_numpy(), mean_burn), np.nan)
    net_new_arr = 12.0 * net_new_mrr.reindex(index).to_numpy()
    wide["burn_multiple"] = np.where(net_new_arr > 0, safe_divide(wide["net_burn"].to_numpy(), net_new_arr), np.nan)
    wide["magic_number"] = safe_divide(12.0 * _window_sum(net_new_mrr, index, 0, 2), _window_sum(sm_spend, index, 3, 5))
    wide["operating_margin"] = safe_divide(mrr - wide["operating_expenses"].to_numpy(), mrr)
    growth = compound_growth(arr.reindex(index).to_numpy(), value_months_before(arr, index, 12), 1)
    wide["rule_of_40"] = growth + wide["operating_margin"].to_numpy()
    return wide_to_kpi(wide, FINANCE_UNITS)
