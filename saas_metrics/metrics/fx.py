"""Currency conversion with the canonical ``fx_rates`` table (docs/metric-definitions.md#reporting-currency).

``fx_rates`` holds ``rate_to_usd`` (1 unit of ``currency`` = ``rate_to_usd`` USD) per date.
Any reporting currency R is reached by the cross rate
``rate(c -> R, d) = rate_to_usd(c, d') / rate_to_usd(R, d'')`` where d', d'' are the latest
dates <= d with a rate for c and R. USD needs no row (its rate_to_usd is 1) and a currency
converted to itself is 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

BASE_CURRENCY = "USD"


def month_last_day(months: pd.Series | pd.DatetimeIndex | Sequence[pd.Timestamp]) -> pd.Series:
    """The last calendar day (midnight) of each month start in ``months``."""
    series = pd.Series(pd.to_datetime(pd.Series(list(months) if not isinstance(months, pd.Series) else months)))
    return (series + pd.offsets.MonthEnd(0)).dt.normalize().astype("datetime64[ns]")


def _rate_to_usd(fx_rates: pd.DataFrame, currencies: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Latest rate_to_usd dated <= date for each (currency, date); NaN when none."""
    out = np.full(len(currencies), np.nan)
    is_usd = currencies == BASE_CURRENCY
    out[is_usd] = 1.0
    need = ~is_usd
    if not need.any():
        return out
    left = pd.DataFrame({
        "currency": pd.Series(currencies[need], dtype="str"),
        "date": pd.to_datetime(dates[need]).astype("datetime64[ns]"),
        "pos": np.flatnonzero(need),
    }).sort_values("date", kind="stable")
    rates = fx_rates.loc[fx_rates["rate_to_usd"].notna(), ["currency", "date", "rate_to_usd"]].copy()
    rates["currency"] = rates["currency"].astype("str").str.upper()
    rates["date"] = pd.to_datetime(rates["date"]).astype("datetime64[ns]")
    rates = rates.sort_values("date", kind="stable")
    matched = pd.merge_asof(left, rates, on="date", by="currency", direction="backward")
    out[matched["pos"].to_numpy()] = matched["rate_to_usd"].to_numpy(dtype="float64")
    return out


def rate_on(
    fx_rates: pd.DataFrame,
    currencies: pd.Series | Sequence[str] | np.ndarray,
    dates: pd.Series | Sequence[pd.Timestamp] | np.ndarray,
    reporting_currency: str,
) -> np.ndarray:
    """Rate converting 1 unit of ``currencies[i]`` into ``reporting_currency`` on ``dates[i]``.

    Uses the latest rate dated on or before the date (the rate in force), by cross rate
    through USD. Raises ValueError naming the currency and date when no rate exists.
    """
    codes, uniques = pd.factorize(pd.Series(currencies, dtype=object))
    if (codes < 0).any():
        raise ValueError("rate_on: a currency is missing (null)")
    cur = np.asarray([str(u).upper() for u in uniques], dtype=object)[codes]
    when = pd.to_datetime(pd.Series(dates)).astype("datetime64[ns]").to_numpy()
    if len(cur) != len(when):
        raise ValueError(f"rate_on: {len(cur)} currencies but {len(when)} dates")
    reporting = reporting_currency.upper()
    result = np.ones(len(cur))
    todo = cur != reporting
    if not todo.any():
        return result
    if fx_rates is None or len(fx_rates) == 0:
        fx_rates = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "currency": pd.Series(dtype=object), "rate_to_usd": pd.Series(dtype="float64")})
    src = _rate_to_usd(fx_rates, cur[todo], when[todo])
    dst = _rate_to_usd(fx_rates, np.full(int(todo.sum()), reporting, dtype=object), when[todo])
    _raise_missing(src, cur[todo], when[todo])
    _raise_missing(dst, np.full(int(todo.sum()), reporting, dtype=object), when[todo])
    result[todo] = src / dst
    return result


def _raise_missing(rates: np.ndarray, currencies: np.ndarray, dates: np.ndarray) -> None:
    missing = np.isnan(rates) | (rates <= 0)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        n = int(missing.sum())
        raise ValueError(
            f"no FX rate for {currencies[i]} on or before {pd.Timestamp(dates[i]).date()}"
            f" ({n} currency-date pair(s) without a usable rate_to_usd)"
        )


def with_opening_rates(fx_rates: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """``fx_rates`` plus, for every currency whose history starts after ``as_of``, its
    earliest known rate dated ``as_of``.

    Used only for the opening snapshot before the first partition (the month-end before
    the pipeline's first month), where the FX history may not reach back: the opening
    MRR is then valued at the first known rate, which makes the first month's
    fx_impact_mrr 0 for those currencies rather than failing the run.
    """
    if fx_rates.empty:
        return fx_rates
    rates = fx_rates.dropna(subset=["date", "currency", "rate_to_usd"]).sort_values("date", kind="stable")
    earliest = rates.groupby("currency", sort=False).first().reset_index()
    late = earliest[earliest["date"] > as_of].assign(date=pd.Timestamp(as_of))
    return pd.concat([fx_rates, late[fx_rates.columns.intersection(late.columns)]], ignore_index=True)
