"""Reconciliation of the two revenue engines: customer-months whose MRR differs.

Where a subscription has both an item history and invoice lines, both engines can run. Each gives
customer MRR at every month-end (:func:`saas_metrics.metrics.mrr.customer_mrr_snapshots`); a
customer-month is listed when the two differ by more than half a cent. The reason class says
where to look:

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

from saas_metrics.metrics.mrr import CUSTOMER_MRR
from saas_metrics.metrics.revenue_intervals import conform, to_schema
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
        Column("mrr_subscriptions", "float", "MRR from item and status histories, reporting currency"),
        Column("mrr_invoices", "float", "MRR from invoice lines, reporting currency"),
        Column("difference", "float", "mrr_invoices - mrr_subscriptions"),
        Column("reason", "str", "only_subscriptions / only_invoices / amount"),
    ),
    time_column="month",
    key=("month", "customer_id"),
)


def reconcile_engines(by_subscriptions: pd.DataFrame, by_invoices: pd.DataFrame) -> pd.DataFrame:
    """Customer-months (customer_mrr rows of either engine) whose MRR differs by more than TOLERANCE."""
    left = conform(by_subscriptions, CUSTOMER_MRR)[["month", "customer_id", "mrr"]]
    right = conform(by_invoices, CUSTOMER_MRR)[["month", "customer_id", "mrr"]]
    both = left.merge(right, on=["month", "customer_id"], how="outer", suffixes=("_subscriptions", "_invoices"))
    subs = both["mrr_subscriptions"].fillna(0.0).to_numpy()
    inv = both["mrr_invoices"].fillna(0.0).to_numpy()
    both["mrr_subscriptions"], both["mrr_invoices"] = subs, inv
    both["difference"] = inv - subs
    both = both[np.abs(both["difference"].to_numpy()) > TOLERANCE].copy()
    both["reason"] = np.select(
        [both["mrr_invoices"] <= TOLERANCE, both["mrr_subscriptions"] <= TOLERANCE],
        ["only_subscriptions", "only_invoices"], default="amount",
    )
    both = both.sort_values(["month", "customer_id"], kind="stable")
    return to_schema(both.astype({"reason": object}), REVENUE_RECONCILIATION)
