"""Customer MRR movements (docs/metric-definitions.md#customer-mrr-movements and #bridge-identity).

For month M and customer c: m0 = MRR at the end of M-1 as reported then (M-1's rate),
m0' = the same local amounts at M's rate (constant currency), m1 = MRR at the end of M.

* new: m0 = 0 < m1 and c never paid before M (first_paid_month >= M); amount m1
* reactivation: m0 = 0 < m1 and first_paid_month < M; amount m1 (policy ``reactivation='never'``: new)
* expansion: local MRR grew (m1 > m0' > 0); amount m1 - m0'
* contraction: local MRR shrank (0 < m1 < m0'); amount m0' - m1
* churn: m0 > 0 = m1; amount m0'
* unchanged: same local amount; amount 0
* fx_impact = m0' - m0, never inside a movement.

The classification compares the local-currency amounts, so an FX move alone never creates an
expansion or contraction. Per customer, m1 = m0 + fx_impact + signed amount (exact for the
moving customers, and within 1e-6 of the local amount for unchanged ones), so summed over
customers the bridge mrr(M) = mrr(M-1) + new + expansion + reactivation - contraction - churn
+ fx_impact holds to the cent.

A customer with several currencies (see metrics/mrr.py) is converted at M's rate for its
dominant currency of M-1 only; the rest of its M-1 MRR keeps M-1's rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.calendar import normalise_months, shift_months
from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics.frames import conform, empty_frame, to_schema
from saas_metrics.metrics.fx import month_last_day, rate_on
from saas_metrics.metrics.mrr import CUSTOMER_MRR
from saas_metrics.tables import Column, TableSchema

MOVEMENT_TYPES = ("new", "expansion", "contraction", "churn", "reactivation", "unchanged")

#: Local amounts closer than this are "unchanged" (float noise of summing lines).
LOCAL_TOLERANCE = 1e-6

MRR_MOVEMENTS = TableSchema(
    name="mrr_movements",
    description="Per month and customer: MRR at the start and end and the movement between them (constant currency).",
    columns=(
        Column("month", "date", nullable=False),
        Column("customer_id", "str", nullable=False),
        Column("mrr_start", "float", "MRR at the end of M-1 at M-1's rate (as reported last month)"),
        Column("mrr_start_fx", "float", "MRR at the end of M-1 at M's rate (constant currency)"),
        Column("mrr_end", "float", "MRR at the end of M"),
        Column("movement", "str", "new / expansion / contraction / churn / reactivation / unchanged"),
        Column("amount", "float", ">= 0; the size of the movement in constant currency"),
        Column("fx_impact", "float", "mrr_start_fx - mrr_start"),
    ),
    time_column="month",
    key=("month", "customer_id"),
)


#: Months whose movements are computed together: a month reads its own and the previous month-end
#: only, so a long range goes a year at a time and holds a year's join, not the range's.
MONTHS_PER_CHUNK = 12


def mrr_movements(
    snapshots_prev_and_current: pd.DataFrame,
    months: Sequence[pd.Timestamp],
    fx_rates: pd.DataFrame,
    reporting_currency: str,
    first_paid_month: pd.Series,
    policy: RevenuePolicy,
) -> pd.DataFrame:
    """Movements for every month in ``months``; the snapshots must hold M-1 .. last month.

    A customer missing from a month's snapshot had MRR 0 at that month-end. A month's movements
    read its own and the previous month-end only, so they are computed :data:`MONTHS_PER_CHUNK`
    months at a time.
    """
    months = normalise_months(months)
    if not months:
        return empty_frame(MRR_MOVEMENTS)
    snaps = conform(snapshots_prev_and_current, CUSTOMER_MRR)
    snaps = snaps[snaps["mrr"] > 0]
    fpm_lookup = pd.Series(pd.to_datetime(first_paid_month).to_numpy(), index=first_paid_month.index.astype(str))
    fpm_lookup = fpm_lookup[~fpm_lookup.index.duplicated()]
    parts = [_movements(snaps, months[i:i + MONTHS_PER_CHUNK], fx_rates, reporting_currency, fpm_lookup, policy)
             for i in range(0, len(months), MONTHS_PER_CHUNK)]
    parts = [part for part in parts if len(part)]
    if not parts:
        return empty_frame(MRR_MOVEMENTS)
    return parts[0] if len(parts) == 1 else to_schema(pd.concat(parts, ignore_index=True), MRR_MOVEMENTS)


def _movements(snaps: pd.DataFrame, months: list[pd.Timestamp], fx_rates: pd.DataFrame, reporting_currency: str,
               fpm_lookup: pd.Series, policy: RevenuePolicy) -> pd.DataFrame:
    """The movements of ``months`` from the paying customers' snapshot rows (M-1 .. the last month)."""
    month_set = pd.Series(months, dtype="datetime64[ns]")
    prev_months = shift_months(month_set, -1)
    current = snaps[snaps["month"].isin(month_set)]
    previous = snaps[snaps["month"].isin(prev_months)]
    previous = previous.assign(month=shift_months(previous["month"], 1))
    previous = previous[previous["month"].isin(month_set)]

    both = current[["month", "customer_id", "currency", "mrr_local", "mrr"]].merge(
        previous[["month", "customer_id", "currency", "mrr_local", "fx_rate", "mrr"]],
        on=["month", "customer_id"], how="outer", suffixes=("_1", "_0"),
    )
    if both.empty:
        return empty_frame(MRR_MOVEMENTS)
    m1 = both["mrr_1"].fillna(0.0).to_numpy()
    m0 = both["mrr_0"].fillna(0.0).to_numpy()
    had_prev = both["mrr_0"].notna().to_numpy()

    # m0' : M-1's dominant-currency local amount at M's rate + the rest at M-1's rate.
    rate_now = np.ones(len(both))
    if had_prev.any():
        rate_now[had_prev] = rate_on(
            fx_rates, both.loc[had_prev, "currency_0"], month_last_day(both.loc[had_prev, "month"]), reporting_currency
        )
    local0 = both["mrr_local_0"].fillna(0.0).to_numpy()
    dominant0 = local0 * both["fx_rate"].fillna(0.0).to_numpy()
    m0_fx = np.where(had_prev, local0 * rate_now + (m0 - dominant0), 0.0)
    # float noise only: a single-currency customer has m0 == local0 x rate0
    single = had_prev & np.isclose(m0, dominant0, rtol=0, atol=1e-9)
    m0_fx = np.where(single, local0 * rate_now, m0_fx)

    same_local = (
        had_prev
        & (both["currency_0"].to_numpy() == both["currency_1"].to_numpy())
        & np.isclose(both["mrr_local_1"].fillna(0.0).to_numpy(), local0, rtol=0, atol=LOCAL_TOLERANCE)
        & np.isclose(m1, m0_fx, rtol=0, atol=LOCAL_TOLERANCE)
    )
    fpm = pd.Series(fpm_lookup.reindex(both["customer_id"].astype(str).to_numpy()).to_numpy(), index=both.index)
    paid_before = (fpm < both["month"]).fillna(False).to_numpy(dtype=bool) & (policy.reactivation != "never")

    movement = np.select(
        [
            (m0 <= 0) & (m1 > 0) & paid_before,
            (m0 <= 0) & (m1 > 0),
            (m0 > 0) & (m1 <= 0),
            same_local,
            m1 > m0_fx,
            m1 < m0_fx,
        ],
        ["reactivation", "new", "churn", "unchanged", "expansion", "contraction"],
        default="unchanged",
    )
    amount = np.select(
        [movement == "new", movement == "reactivation", movement == "churn", movement == "expansion", movement == "contraction"],
        [m1, m1, m0_fx, m1 - m0_fx, m0_fx - m1],
        default=0.0,
    )
    out = pd.DataFrame({
        "month": both["month"],
        "customer_id": both["customer_id"],
        "mrr_start": m0,
        "mrr_start_fx": m0_fx,
        "mrr_end": m1,
        "movement": movement,
        "amount": amount,
        "fx_impact": m0_fx - m0,
    }).sort_values(["month", "customer_id"], kind="stable")
    return to_schema(out, MRR_MOVEMENTS)


SIGN = {"new": 1.0, "expansion": 1.0, "reactivation": 1.0, "contraction": -1.0, "churn": -1.0, "unchanged": 0.0}


def signed_amount(movements: pd.DataFrame) -> pd.Series:
    """amount with the movement's sign (+ new/expansion/reactivation, - contraction/churn, 0 unchanged)."""
    return movements["amount"] * movements["movement"].map(SIGN).astype("float64")
