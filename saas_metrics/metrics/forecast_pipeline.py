"""New MRR from the open pipeline and the deal funnel, and from trials in flight (docs/forecast.md).

Deals come from ``crm_deals`` as they stand in the CRM snapshot; from an as-of month T only what
was known at T's end is used: a deal exists when it was created by T's end, it is won or lost
only when it closed by T's end (a deal that closed later was open at T), and only deals won by
T's end tie a deal to its customer's new MRR. The stage a deal had at a past T is not in the
snapshot, so the win chances come from the history, not from stage probabilities. With W the
estimation window (the ``estimation_window_months`` months ending with T), ACV in constant currency:

* open_acv(b) = sum of the ACV of the deals open at T's end whose age (months since the month the
  deal was created) is in band b of DEAL_AGE_BANDS (0, 1, 2, 3+: a deal still open after months
  rarely closes);
* conversion by lag p(h, b) = sum over origins S of W with S + h <= T of the ACV of the deals open
  at S's end, of age band b at S, and won in month S + h / sum over the same S of the ACV open at
  S's end in band b (the ACV-weighted chance that an open deal of that age is won h months later:
  the win rate and the sales cycle in one number);
* fresh(h) = mean over the months M of W of the ACV won in M by deals created in the h months up
  to M (M-h+1 .. M): what the deals not yet created at T add by month T + h;
* typical = the window's monthly mean of the ACV won;
* mrr_per_acv f = new MRR of the customers of the deals won in W / their ACV (the deals linked to a
  billing customer: ``identity_links`` via the deal's company; a won deal whose customer has no new
  movement, an upsell say, adds ACV and no new MRR).

The expected ACV won in forecast month h is won(h) = sum over b of p(h, b) x open_acv(b) +
fresh(h) x g(h), with g(h) = new_customers(h) / the window's mean of new customers (deal volume
grows like new customers do). The pipeline corrects the trend of new business, trend(h) =
new_customers(h) x ASP, by how far the deals expected to be won differ from a typical month's:

    new_mrr(h) = max(0, trend(h) + w x f x (won(h) - typical x g(h))),  w = min(1, won deals in W / min_won_deals)

Beyond the sales cycle p(h, b) = 0 and fresh(h) = typical, so new_mrr(h) = trend(h); within it the
deals already open (and their age) decide. Without deals, or without a won deal linked to a customer
to price them (f), w = 0: the trend alone.

Trials in flight are a second stream of the same form (:func:`trial_facts`): a trial is an item
of value 1 created in the month it started and "won" in the month its customer first paid, so
open_acv counts the trials not converted by T by age, p(h, b) is the trial-to-paid conversion by
lag and age, and f is new MRR per converted trial (the trial ASP). Each stream adds its own
w x f x (won(h) - typical x g(h)) to the trend.

Example: open_acv 100,000 at age 0 and 20,000 at 3+, p(1, 0) = 0.3, p(1, 3+) = 0, fresh(1) = 12,000,
typical 30,000, f = 0.05 (ACV / 12 at a 40 % discount), g(1) = 1, trend(1) = 4,000, w = 1:
won(1) = 30,000 + 0 + 12,000 = 42,000; new_mrr(1) = 4,000 + 0.05 x (42,000 - 30,000) = 4,600.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_index, month_of
from saas_metrics.metrics.frames import conform
from saas_metrics.metrics.funnel import first_paid_lookup
from saas_metrics.metrics.fx import rate_on
from saas_metrics.metrics.kpi import safe_divide
from saas_metrics.metrics.pipeline import CLOSED_STAGES
from saas_metrics.metrics.trials import account_customers
from saas_metrics.sources.schemas import CRM_DEALS, PRODUCT_ACCOUNTS

#: Lower bounds of the deal-age bands (months since the deal's creation month); the last is open.
DEAL_AGE_BANDS = (0, 1, 2, 3)
#: Columns of :func:`deal_facts`.
DEAL_COLUMNS = ("deal_id", "created_month", "closed_month", "won", "acv", "customer_id")


@dataclass(frozen=True)
class FunnelAssumptions:
    """The pipeline part of new business from one as-of month (module docstring)."""

    #: open ACV per deal-age band (DEAL_AGE_BANDS)
    open_acv: np.ndarray
    open_deals: int
    #: p(h, b) (rows h = 1 .. horizon, columns the bands) and fresh(h)
    conversion: np.ndarray
    fresh_acv: np.ndarray
    typical_acv: float
    mrr_per_acv: float
    won_deals: int
    weight: float
    window_start: pd.Timestamp
    window_end: pd.Timestamp

    def won_acv(self, h: int, growth: float) -> float:
        """won(h) = sum over b of p(h, b) x open_acv(b) + fresh(h) x g(h) (beyond the estimated lags: typical x g(h))."""
        if h > len(self.conversion):
            return self.typical_acv * growth
        return float(self.conversion[h - 1] @ self.open_acv) + float(self.fresh_acv[h - 1]) * growth

    def correction(self, h: int, growth: float) -> float:
        """w x f x (won(h) - typical x g(h)): what the items in flight add to the trend's new MRR."""
        if self.weight <= 0:
            return 0.0
        return self.weight * self.mrr_per_acv * (self.won_acv(h, growth) - self.typical_acv * growth)

    def new_mrr(self, h: int, trend: float, growth: float) -> float:
        """max(0, trend + w x f x (won(h) - typical x g(h)))."""
        return max(0.0, trend + self.correction(h, growth)) if self.weight > 0 else trend


@dataclass(frozen=True)
class FactArrays:
    """The columns of :func:`deal_facts` (or :func:`trial_facts`) as arrays, converted once: the backtest
    estimates the funnel from every origin on the same facts, and the conversions (to datetimes, month
    indices, the text column to an object array) cost more than the estimate itself."""

    created: np.ndarray  # datetime64[ns] creation month
    created_index: np.ndarray  # its month_index
    closed: np.ndarray  # datetime64[ns] close month, NaT while open
    closed_index: np.ndarray  # its month_index (-1 while open)
    won: np.ndarray
    acv: np.ndarray
    customers: np.ndarray  # object: the billing customer, None / NaN when not linked

    @staticmethod
    def of(facts: pd.DataFrame) -> FactArrays:
        created = pd.to_datetime(facts["created_month"]).to_numpy()
        closed = pd.to_datetime(facts["closed_month"]).to_numpy()
        return FactArrays(created=created, created_index=month_index(created), closed=closed,
                          closed_index=month_index(closed), won=facts["won"].astype(bool).to_numpy(),
                          acv=facts["acv"].to_numpy(dtype="float64"), customers=facts["customer_id"].to_numpy())


@dataclass(frozen=True)
class NewArrays:
    """:func:`new_business` as arrays, its customers as codes of ``customers`` (converted once, as FactArrays)."""

    month: np.ndarray  # datetime64[ns]
    month_index: np.ndarray
    codes: np.ndarray  # index into customers
    customers: pd.Index
    amount: np.ndarray

    @staticmethod
    def of(new: pd.DataFrame) -> NewArrays:
        month = pd.to_datetime(new["month"]).to_numpy()
        codes, customers = pd.factorize(new["customer_id"].to_numpy())
        return NewArrays(month=month, month_index=month_index(month), codes=codes, customers=pd.Index(customers),
                         amount=new["amount"].to_numpy(dtype="float64"))


@dataclass(frozen=True)
class FunnelData:
    """What the funnel streams are estimated from: :func:`new_business`, :func:`deal_facts`, :func:`trial_facts`
    (and the same as arrays, made on first use and kept for every later origin of a backtest)."""

    new: pd.DataFrame
    deals: pd.DataFrame | None = None
    trials: pd.DataFrame | None = None

    @cached_property
    def new_arrays(self) -> NewArrays:
        return NewArrays.of(self.new)

    @cached_property
    def deal_arrays(self) -> FactArrays | None:
        return None if self.deals is None else FactArrays.of(self.deals)

    @cached_property
    def trial_arrays(self) -> FactArrays | None:
        return None if self.trials is None else FactArrays.of(self.trials)


def deal_facts(deals: pd.DataFrame | None, links: pd.DataFrame | None, fx_rates: pd.DataFrame | None,
               rate_date: pd.Timestamp, reporting_currency: str) -> pd.DataFrame:
    """One row per deal with a creation date and an amount: created_month, closed_month (NaT while
    open), won, acv (amount at the rate on ``rate_date``: constant currency) and the billing
    customer of its company (identity_links.crm_company_id), if any. Closed deals without a close
    date cannot be placed in time and are left out."""
    d = conform(deals, CRM_DEALS)
    stage = d["stage"].astype("object").fillna("").astype(str).str.lower()
    won = d["is_closed_won"].fillna(False).astype(bool) | (stage == "closedwon")
    closed = won | stage.isin(CLOSED_STAGES)
    keep = d["created_at"].notna() & d["amount"].notna() & ~(closed & d["closed_at"].isna())
    d, won = d[keep], won[keep]
    if d.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in DEAL_COLUMNS})
    currency = d["currency"].astype("object").where(d["currency"].notna(), reporting_currency)
    rate = rate_on(fx_rates, currency, pd.Series([pd.Timestamp(rate_date)] * len(d)), reporting_currency)
    customer = pd.Series(dtype="object")
    if links is not None and len(links):
        by_company = links.dropna(subset=["crm_company_id"]).drop_duplicates("crm_company_id")
        customer = by_company.set_index(by_company["crm_company_id"].astype(str))["customer_id"]
    company = d["company_id"].astype("object")
    return pd.DataFrame({
        "deal_id": d["deal_id"].astype(str).to_numpy(),
        "created_month": month_of(d["created_at"]).to_numpy(),
        "closed_month": month_of(d["closed_at"].where(closed)).to_numpy(),
        "won": won.to_numpy(),
        "acv": d["amount"].to_numpy(dtype="float64") * rate,
        "customer_id": company.where(company.isna(), company.astype(str)).map(customer).to_numpy(),
    })[list(DEAL_COLUMNS)]


def trial_facts(accounts: pd.DataFrame | None, links: pd.DataFrame | None, first_paid: pd.DataFrame | None) -> pd.DataFrame:
    """One row per product account that started a trial, in :func:`deal_facts`' columns: created in
    its trial's start month, won in its customer's first paid month when that customer first paid
    on or after the trial started (else it stays open: an expired trial ages out of the
    conversions), value 1. The customer: the account's billing_customer_id, else identity_links.
    Accounts whose customer paid before the trial are not trials of a new customer and are left out."""
    a = conform(accounts, PRODUCT_ACCOUNTS)
    a = a[a["trial_started_at"].notna()].drop_duplicates("account_id")
    if a.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in DEAL_COLUMNS})
    lk = links if links is not None and len(links) else pd.DataFrame({"customer_id": [], "product_account_id": []})
    customer = a["account_id"].map(account_customers(a, lk))
    paid_at = customer.map(first_paid_lookup(first_paid)) if first_paid is not None and len(first_paid) else \
        pd.Series(pd.NaT, index=a.index, dtype="datetime64[ns]")
    paid_at = pd.to_datetime(paid_at).astype("datetime64[ns]")
    started = a["trial_started_at"].astype("datetime64[ns]")
    keep = ~(paid_at < started.dt.normalize())
    converted = paid_at.notna() & keep
    return pd.DataFrame({
        "deal_id": a["account_id"].astype(str).to_numpy(),
        "created_month": month_of(started).to_numpy(),
        "closed_month": month_of(paid_at.where(converted)).to_numpy(),
        "won": converted.to_numpy(),
        "acv": 1.0,
        "customer_id": customer.to_numpy(),
    })[keep.to_numpy()].reset_index(drop=True)[list(DEAL_COLUMNS)]


def new_business(movements: pd.DataFrame) -> pd.DataFrame:
    """The ``new`` movements of mrr_movements: (month, customer_id, amount)."""
    new = movements[movements["movement"] == "new"]
    return pd.DataFrame({"month": pd.to_datetime(new["month"]).astype("datetime64[ns]").to_numpy(),
                         "customer_id": new["customer_id"].astype(str).to_numpy(),
                         "amount": new["amount"].to_numpy(dtype="float64")})


def estimate_funnel(facts: pd.DataFrame | FactArrays, new: pd.DataFrame | NewArrays, as_of_month: pd.Timestamp,
                    window_months: int, horizon: int, min_won_deals: int) -> FunnelAssumptions:
    """FunnelAssumptions from the deals known at ``as_of_month``'s end (module docstring).

    ``facts``: :func:`deal_facts`; ``new``: :func:`new_business` (only its months up to the as-of
    month are read); either as frames or as the arrays a backtest converts once for all its origins
    (:class:`FunnelData`), with the same result.
    """
    a = facts if isinstance(facts, FactArrays) else FactArrays.of(facts)
    n = new if isinstance(new, NewArrays) else NewArrays.of(new)
    as_of = pd.Timestamp(as_of_month)
    first = as_of - pd.DateOffset(months=window_months - 1)
    up_to = n.month <= as_of.to_datetime64()
    t = int(month_index(pd.Series([as_of]))[0])
    w0 = t - window_months + 1
    known = a.created <= as_of.to_datetime64()
    created = a.created_index[known]
    closed_at = a.closed[known]
    closed_known = ~np.isnat(closed_at) & (closed_at <= as_of.to_datetime64())
    closed = np.where(closed_known, a.closed_index[known], np.iinfo("int64").max)
    won = a.won[known] & closed_known
    acv = a.acv[known]
    customers = a.customers[known]

    n_bands = len(DEAL_AGE_BANDS)

    def open_by_band(s: int) -> tuple[np.ndarray, np.ndarray]:
        """(open at S's end, band of the deal's age at S)"""
        band = np.searchsorted(np.asarray(DEAL_AGE_BANDS), np.maximum(s - created, 0), side="right") - 1
        return (created <= s) & (closed > s), band

    open_now, band_now = open_by_band(t)
    open_acv = np.bincount(band_now[open_now], weights=acv[open_now], minlength=n_bands)
    conversion, fresh = np.zeros((horizon, n_bands)), np.zeros(horizon)
    origins = [open_by_band(s) for s in range(w0, t)]
    # ACV open at each origin S by band, and the wins of each month M (created, acv): the same for every lag h.
    open_at = [np.bincount(band[is_open], weights=acv[is_open], minlength=n_bands) for is_open, band in origins]
    won_in = [(created[sel], acv[sel]) for sel in (won & (closed == m) for m in range(w0, t + 1))]
    for h in range(1, horizon + 1):
        num, den = np.zeros(n_bands), np.zeros(n_bands)
        for s, (is_open, band), open_acv_s in zip(range(w0, t - h + 1), origins, open_at, strict=False):
            den += open_acv_s
            hit = is_open & won & (closed == s + h)
            num += np.bincount(band[hit], weights=acv[hit], minlength=n_bands)
        conversion[h - 1] = np.divide(num, den, out=np.zeros(n_bands), where=den > 0)
        fresh[h - 1] = sum(won_acv[won_created > m - h].sum() for m, (won_created, won_acv) in zip(range(w0, t + 1), won_in, strict=True)) / window_months
    won_window = won & (closed >= w0) & (closed <= t)
    # a win before the first month of movements read has no new MRR to match: left out of f
    priced = closed >= (int(n.month_index[up_to].min()) if up_to.any() else t + 1)
    linked = won_window & priced & pd.notna(customers)
    # Each linked customer's new MRR up to the as-of month: the sums per customer code are those of a
    # groupby by the customer text (same rows, same order), without factorising the text per origin.
    summed = up_to & (n.codes >= 0)  # a customer the text lacks (code -1) is no group, as groupby drops NaN keys
    new_mrr = pd.Series(n.amount[summed]).groupby(n.codes[summed]).sum()
    linked_mrr = pd.Series(n.customers.get_indexer(customers[linked])).map(new_mrr).fillna(0.0).to_numpy()
    mrr_per_acv = safe_divide(linked_mrr.sum(), acv[linked].sum())
    mrr_per_acv = 0.0 if np.isnan(mrr_per_acv) else float(mrr_per_acv)
    won_count = int(won_window.sum())
    weight = min(1.0, won_count / min_won_deals) if mrr_per_acv > 0 and min_won_deals > 0 else 0.0
    return FunnelAssumptions(
        open_acv=open_acv, open_deals=int(open_now.sum()), conversion=conversion, fresh_acv=fresh,
        typical_acv=float(acv[won_window].sum()) / window_months, mrr_per_acv=mrr_per_acv, won_deals=won_count,
        weight=weight,
        window_start=first, window_end=as_of,
    )
