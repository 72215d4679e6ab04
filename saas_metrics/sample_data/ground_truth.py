"""The MRR the simulator billed: the test oracle of the revenue metrics.

docs/metric-definitions.md#line-mrr: line MRR = quantity x unit_amount x (1 - discount) /
interval_months of every recurring licensed item version active at the last
instant of month M. Periods are half-open [from, to), so a version, status or
discount that ends exactly on the 1st of M+1 still counts at the end of M.
Trials, paused, unpaid and canceled subscriptions contribute 0; past_due counts
until ``delinquency_days`` after it began; one-time and metered prices give 0.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from saas_metrics.sample_data.catalog import Price

DELINQUENCY_DAYS = 30


def _active(valid_from: pd.Series, valid_to: pd.Series, month_ends: np.ndarray) -> np.ndarray:
    """rows x months: active at the last instant before each exclusive month end."""
    start = valid_from.to_numpy("datetime64[ns]")[:, None]
    end = valid_to.to_numpy("datetime64[ns]")[:, None]
    return (start < month_ends[None, :]) & (np.isnat(end) | (end >= month_ends[None, :]))


def customer_mrr(items: pd.DataFrame, statuses: pd.DataFrame, discounts: pd.DataFrame, subscriptions: pd.DataFrame,
                 catalog: dict[str, Price], months: list[dt.datetime]) -> pd.DataFrame:
    """Columns month, customer_id, currency, mrr (major units of the customer's currency, rounded to 1e-6);
    only customer-months with MRR > 0."""
    month_ends = np.array([(pd.Timestamp(m) + pd.DateOffset(months=1)).to_datetime64() for m in months], dtype="datetime64[ns]")
    prices = pd.DataFrame([
        {"price_id": p.price_id, "unit": p.unit_amount_cents / 100, "months": p.months, "currency": p.currency.upper(),
         "recurring_licensed": p.type == "recurring" and p.usage_type == "licensed"}
        for p in catalog.values()
    ])
    lines = items.merge(prices, on="price_id", how="left")
    lines = lines[lines["recurring_licensed"]].reset_index(drop=True)
    sub_index = {s: i for i, s in enumerate(subscriptions["subscription_id"])}
    n_subs, n_months = len(sub_index), len(months)

    status_factor = np.zeros((n_subs, n_months))
    if len(statuses):
        active = _active(statuses["valid_from"], statuses["valid_to"], month_ends)
        factor = np.where(statuses["status"].to_numpy() == "active", 1.0, 0.0)[:, None] * active
        past_due = statuses["status"].to_numpy() == "past_due"
        grace_end = (statuses["valid_from"] + pd.Timedelta(days=DELINQUENCY_DAYS)).to_numpy("datetime64[ns]")[:, None]
        factor = np.where(past_due[:, None] & active & (month_ends[None, :] <= grace_end), 1.0, factor)
        np.add.at(status_factor, statuses["subscription_id"].map(sub_index).to_numpy(), factor)

    discount = np.zeros((n_subs, n_months))
    if len(discounts):
        active = _active(discounts["start"], discounts["end"], month_ends)
        np.add.at(discount, discounts["subscription_id"].map(sub_index).to_numpy(), active * (discounts["percent_off"].to_numpy() / 100)[:, None])

    rows = lines["subscription_id"].map(sub_index).to_numpy()
    line_active = _active(lines["valid_from"], lines["valid_to"], month_ends)
    per_month = (lines["quantity"].to_numpy(float) * lines["unit"].to_numpy() / lines["months"].to_numpy())[:, None]
    mrr = per_month * line_active * (1 - discount[rows]) * status_factor[rows]
    customer_of_sub = subscriptions.set_index("subscription_id")["customer_id"]
    frame = pd.DataFrame(mrr, columns=range(n_months))
    frame["customer_id"] = lines["subscription_id"].map(customer_of_sub).to_numpy()
    frame["currency"] = lines["currency"].to_numpy()
    by_customer = frame.groupby(["customer_id", "currency"], sort=True).sum()
    long = by_customer.stack().rename("mrr").reset_index()
    long.columns = ["customer_id", "currency", "month_index", "mrr"]
    long = long[long["mrr"] > 1e-9]
    long["month"] = pd.to_datetime([months[i] for i in long["month_index"]]).astype("datetime64[ns]")
    long["mrr"] = long["mrr"].round(6)
    return long[["month", "customer_id", "currency", "mrr"]].sort_values(["month", "customer_id"]).reset_index(drop=True)
