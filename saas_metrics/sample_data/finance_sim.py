"""Daily FX rates with a visible trend, and a monthly expense ledger (GL lines)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

#: currency -> (rate to USD at the start, rate at the end) of the simulated span; daily noise on top.
FX_PATH = {"EUR": (1.05, 1.16), "GBP": (1.21, 1.33)}
#: (account code, account name, department, category, monthly USD at the window start, currency)
LEDGER_LINES = (
    ("6100", "Salaries - Sales", "sales", "salaries", 60_000.0, "USD"),
    ("6110", "Commissions - Sales", "sales", "salaries", 12_000.0, "USD"),
    ("6200", "Salaries - Marketing", "marketing", "salaries", 35_000.0, "USD"),
    ("6210", "Marketing agencies", "marketing", "agencies", 9_000.0, "EUR"),
    ("6220", "Events and conferences", "marketing", "events", 6_000.0, "USD"),
    ("6230", "Marketing software", "marketing", "tools", 4_000.0, "USD"),
    ("6130", "Sales tools", "sales", "tools", 2_500.0, "USD"),
    ("6300", "Salaries - Engineering", "engineering", "salaries", 120_000.0, "USD"),
    ("6310", "Cloud hosting", "engineering", "tools", 15_000.0, "USD"),
    ("6400", "Salaries - Support", "support", "salaries", 25_000.0, "GBP"),
    ("6500", "Salaries - G&A", "g_and_a", "salaries", 40_000.0, "USD"),
    ("6510", "Rent and office", "g_and_a", "other", 10_000.0, "USD"),
)


def simulate_fx(rng: np.random.Generator, first_day: dt.datetime, horizon: dt.datetime) -> pd.DataFrame:
    """Columns date, currency, rate_to_usd for every calendar day in [first_day, horizon), USD included at 1."""
    days = pd.date_range(pd.Timestamp(first_day).normalize(), pd.Timestamp(horizon) - pd.Timedelta(days=1), freq="D")
    frames = [pd.DataFrame({"date": days, "currency": "USD", "rate_to_usd": 1.0})]
    for currency, (start, end) in FX_PATH.items():
        trend = np.linspace(start, end, len(days))
        wobble = 0.02 * np.sin(np.linspace(0, 6 * np.pi, len(days)))
        noise = np.cumsum(rng.normal(0, 0.002, len(days)))
        noise -= np.linspace(0, noise[-1], len(days))  # keep the endpoints on the trend
        frames.append(pd.DataFrame({"date": days, "currency": currency, "rate_to_usd": np.round(trend + wobble + noise, 6)}))
    return pd.concat(frames, ignore_index=True).sort_values(["date", "currency"]).reset_index(drop=True)


def simulate_expenses(rng: np.random.Generator, months: list[dt.datetime], fx: pd.DataFrame) -> pd.DataFrame:
    """Native GL export: line_id, posting_date, account_code, account_name, department, category,
    description, amount (decimal text), currency. Costs grow ~2 % a month; salaries post on the 25th,
    other lines on a random business day."""
    rate = fx.set_index(["date", "currency"])["rate_to_usd"]
    rows = []
    n = 0
    for i, m in enumerate(months):
        growth = 1.02 ** i
        for code, name, department, category, usd, currency in LEDGER_LINES:
            day = 25 if category == "salaries" else int(rng.integers(1, 28))
            date = pd.Timestamp(m.year, m.month, day)
            to_usd = 1.0 if currency == "USD" else float(rate[(date, currency)])
            amount = round(usd * growth * rng.uniform(0.92, 1.08) / to_usd, 2)
            n += 1
            rows.append({"line_id": f"JE-{m:%Y%m}-{n:06d}", "posting_date": date.strftime("%Y-%m-%d"),
                         "account_code": code, "account_name": name, "department": department, "category": category,
                         "description": f"{name} {m:%b %Y}", "amount": f"{amount:.2f}", "currency": currency})
    return pd.DataFrame(rows)


#: the operating account's balance the month before the window, and the reserve account's (EUR)
OPENING_USD, RESERVE_EUR = 4_000_000.0, 250_000.0


def simulate_cash_balances(months: list[dt.datetime], fx: pd.DataFrame, charges: pd.DataFrame, refunds: pd.DataFrame,
                           expenses: pd.DataFrame) -> pd.DataFrame:
    """Native bank export: date (each month's last day), account_id, account_name, balance, currency.
    The USD operating account moves by the succeeded charges - refunds - ledger lines of each month
    (at the month's last-day rate); ads are paid by card from elsewhere. The EUR reserve stays flat."""
    month_end = [pd.Timestamp(m) + pd.offsets.MonthEnd(0) for m in months]
    rate = fx.set_index(["date", "currency"])["rate_to_usd"]

    def usd_by_month(amount: pd.Series, currency: pd.Series, when: pd.Series) -> pd.Series:
        month = when.dt.to_period("M").dt.to_timestamp()
        end = month + pd.offsets.MonthEnd(0)
        to_usd = [1.0 if c == "USD" else float(rate.get((e, c), np.nan)) for c, e in zip(currency, end, strict=True)]
        return (amount * np.asarray(to_usd)).groupby(month.to_numpy()).sum()

    def paid(frame: pd.DataFrame, sign: float) -> pd.Series:
        ok = frame[frame["status"].eq("succeeded")]
        return sign * usd_by_month(ok["amount"].astype(float) / 100.0, ok["currency"].str.upper(),
                                   pd.to_datetime(ok["created"].astype("int64"), unit="s"))

    ledger = -usd_by_month(expenses["amount"].astype(float), expenses["currency"], pd.to_datetime(expenses["posting_date"]))
    flows = paid(charges, 1.0).add(paid(refunds, -1.0), fill_value=0.0).add(ledger, fill_value=0.0)
    flows = flows.reindex([pd.Timestamp(m) for m in months]).fillna(0.0)
    operating = OPENING_USD + flows.cumsum().to_numpy()
    rows = [{"date": e.strftime("%Y-%m-%d"), "account_id": "acct_operating_usd", "account_name": "Operating (USD)",
             "balance": f"{b:.2f}", "currency": "USD"} for e, b in zip(month_end, operating, strict=True)]
    rows += [{"date": e.strftime("%Y-%m-%d"), "account_id": "acct_reserve_eur", "account_name": "Reserve (EUR)",
              "balance": f"{RESERVE_EUR:.2f}", "currency": "EUR"} for e in month_end]
    return pd.DataFrame(rows).sort_values(["date", "account_id"]).reset_index(drop=True)
