"""Reconciliation of the two revenue engines: customer-months whose MRR differs.

Where a subscription has both an item history and invoice lines, both engines can run. Each gives
each customer's MRR at every month-end (an interval counts at M's end iff start_at < first(M+1) <=
end_at, as in customer_mrr), compared per currency in that currency, so an FX rate never makes a
difference. A customer-month is listed when the two differ by more than half a cent. The reason class
says where to look:

* ``only_subscriptions``: the histories say the customer paid at the month-end, no paid (or
  still-in-grace) invoice line covers it (a missing invoice, a lapse, a longer grace);
* ``only_invoices``: an invoice line covers the month-end, the histories say trialing, paused,
  unpaid or ended (or have no version there);
* ``amount``: both paid, different MRR (price, quantity or discount differ between the item
  history and the lines).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_start, months_from_index
from saas_metrics.metrics.frames import conform, to_schema
from saas_metrics.metrics.mrr import active_line_months
from saas_metrics.metrics.revenue_intervals import REVENUE_INTERVALS
from saas_metrics.tables import Column, TableSchema

#: Differences below this (reporting currency) are rounding, not disagreement.
TOLERANCE = 0.005
REASONS = ("only_subscriptions", "only_invoices", "amount")

REVENUE_RECONCILIATION = TableSchema(
    name="revenue_reconciliation",
    description="Customer-months whose MRR differs between the subscription and the invoice engine (both values, reason class).",
    columns=(
        Column("month", "date", nullable=False),
        Column("customer_id", "str", nullable=False),
        Column("currency", "str", "currency of both values", nullable=False),
        Column("mrr_subscriptions", "float", "MRR at the month-end from item and status histories"),
        Column("mrr_invoices", "float", "MRR at the month-end from invoice lines"),
        Column("difference", "float", "mrr_invoices - mrr_subscriptions"),
        Column("reason", "str", "only_subscriptions / only_invoices / amount"),
    ),
    key=("month", "customer_id", "currency"),
)


def month_ends(by_subscriptions: pd.DataFrame, by_invoices: pd.DataFrame, last_month: pd.Timestamp) -> list[pd.Timestamp]:
    """Every month from the first interval's start to ``last_month`` (the data's last month)."""
    starts = pd.concat([conform(f, REVENUE_INTERVALS)["start_at"] for f in (by_subscriptions, by_invoices)])
    if starts.dropna().empty:
        return []
    first = month_start(starts.min())
    return list(pd.date_range(first, last_month, freq="MS"))


#: Month-ends compared at a time: a customer-month depends on its own month only, so the expansion
#: of both engines' intervals over the months is held a year at a time, not for the whole history.
MONTHS_PER_CHUNK = 12


def reconcile_engines(by_subscriptions: pd.DataFrame, by_invoices: pd.DataFrame, months: list[pd.Timestamp]) -> pd.DataFrame:
    """Customer-months (and currency) of ``months`` whose MRR differs between the two engines' intervals."""
    columns = ["customer_id", "currency", "mrr", "start_at", "end_at"]
    subscriptions = conform(by_subscriptions, REVENUE_INTERVALS)[columns]
    invoices = conform(by_invoices, REVENUE_INTERVALS)[columns]
    chunks = [_differences(subscriptions, invoices, months[i:i + MONTHS_PER_CHUNK])
              for i in range(0, len(months), MONTHS_PER_CHUNK)]
    both = pd.concat(chunks, ignore_index=True) if chunks else _differences(subscriptions, invoices, [])
    both["month"] = months_from_index(both["m"].to_numpy()).to_numpy()
    both = both.sort_values(["month", "customer_id", "currency"], kind="stable")
    return to_schema(both.astype({"reason": object}), REVENUE_RECONCILIATION)


def _differences(by_subscriptions: pd.DataFrame, by_invoices: pd.DataFrame, months: list[pd.Timestamp]) -> pd.DataFrame:
    """The differing customer-months of ``months`` (month as its index ``m``), with the reason."""
    key = ["m", "customer_id", "currency"]
    sides = []
    for frame, name in ((by_subscriptions, "mrr_subscriptions"), (by_invoices, "mrr_invoices")):
        active = active_line_months(frame, months, columns=("customer_id", "currency", "mrr"))
        sides.append(active.groupby(key, as_index=False)["mrr"].sum().rename(columns={"mrr": name}))
    both = sides[0].merge(sides[1], on=key, how="outer")
    subs = both["mrr_subscriptions"].astype("float64").fillna(0.0).to_numpy()
    inv = both["mrr_invoices"].astype("float64").fillna(0.0).to_numpy()
    both["mrr_subscriptions"], both["mrr_invoices"] = subs, inv
    both["difference"] = inv - subs
    both = both[np.abs(both["difference"].to_numpy()) > TOLERANCE].copy()
    both["reason"] = np.select(
        [both["mrr_invoices"] <= TOLERANCE, both["mrr_subscriptions"] <= TOLERANCE],
        ["only_subscriptions", "only_invoices"], default="amount",
    )
    return both
