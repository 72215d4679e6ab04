"""Multi-touch attribution of new customers and their new MRR to channels/campaigns.

docs/metric-definitions.md#attribution. For each customer who is ``new`` in month M
(mrr_movements; reactivations are not acquisitions), take the touchpoints of the
customer's CRM contacts (identity.contact_customers) dated at or before the
conversion time (the first paid date; the end of M when unknown), and within
``policy.attribution_lookback_days`` of it when that is set. Touches are ordered
by time (ties: touchpoint_id), positions 1..n. Each model gives every touch a
weight; weights of a customer sum to 1; the customer's new MRR and a count of 1
are credited by weight:

- ``first_touch``: 1 on touch 1.  ``last_touch``: 1 on touch n.
- ``linear``: 1/n each.
- ``u_shaped``: 40 % first touch, 40 % lead-creation touch, 20 % split equally
  over the other touches.
- ``w_shaped``: 30 % first, 30 % lead-creation, 30 % deal-creation touch, 10 %
  split equally over the other touches.
- ``time_decay``: weight 2^(-d / half_life), d = days from the touch to the
  conversion (fractional), half_life = ``policy.time_decay_half_life_days`` (7),
  normalised to sum 1.

Key touches of the position models: the *lead-creation touch* is the last touch
at or before the lead creation time (the earliest ``created_at`` of the
customer's contacts), or touch 1 when every touch is later; the *deal-creation
touch* is the last touch at or before the creation of the customer's earliest
deal (deals of its linked company or contacts, created before conversion), or
touch 1 when every touch is later. When key positions coincide their shares add
up (first = lead-creation touch gets 80 % in U-shaped). When a key touch does not
exist (no deal) or no other touches remain, the remaining weights are
renormalised to sum 1. So with 1 touch every model gives it 100 %; with 2 touches
U-shaped gives 50/50 when touch 2 is the lead-creation touch, else 80/20.

Exactness: per month and model the credited MRR is rounded to cents by the
largest-remainder method so that the cells of customers with touches sum exactly
to their new MRR (rounded to the cent) and all cells, '(none)' included, sum
exactly to the month's new MRR (rounded to the cent); the '(none)' cell takes the
difference, which can differ from its own rounded sum by a cent when amounts
carry fractions of a cent. Customers without touchpoints
are credited to channel '(none)', campaign '(none)' in every model. Touches
without a channel are '(unknown)'; without a campaign '(none)'.

Output grain: month x model x channel x campaign (ATTRIBUTION_CREDITS).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_of
from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics.identity import contact_customers
from saas_metrics.metrics.kpi import lookup
from saas_metrics.tables import Column, TableSchema

MODELS = ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped", "time_decay")
NONE = "(none)"
UNKNOWN = "(unknown)"

ATTRIBUTION_CREDITS = TableSchema(
    name="attribution_credits",
    description="New customers and new MRR credited to channel x campaign per attribution model and month.",
    columns=(
        Column("month", "date", "month the customers became new", nullable=False),
        Column("model", "str", "first_touch / last_touch / linear / u_shaped / w_shaped / time_decay", nullable=False),
        Column("channel", "str", "touch channel; '(none)' for customers without touchpoints", nullable=False),
        Column("campaign", "str", "utm campaign; '(none)' when absent", nullable=False),
        Column("customers", "float", "fractional count of new customers credited"),
        Column("new_mrr", "float", "new MRR credited, reporting currency, exact to the cent per month and model"),
    ),
    time_column="month",
    key=("month", "model", "channel", "campaign"),
)


def _new_customers(new_customers: pd.DataFrame) -> pd.DataFrame:
    frame = new_customers
    if "movement" in frame.columns:
        frame = frame[frame["movement"] == "new"]
    missing = [c for c in ("month", "customer_id", "amount") if c not in frame.columns]
    if missing:
        raise ValueError(f"new_customers lacks column(s) {missing}")
    out = frame[["month", "customer_id", "amount"] + (["first_paid_at"] if "first_paid_at" in frame.columns else [])].copy()
    out["month"] = month_of(out["month"])
    if out["amount"].isna().any() or (out["amount"] < 0).any():
        raise ValueError("new_customers.amount must be a non-negative number for every customer")
    return out


def _key_touch_index(touches: pd.DataFrame, time_col: str) -> pd.Series:
    """Per touch row: the customer's index of the last touch at/before ``time_col``
    (0 when all touches are later; NaN when the customer has no such time)."""
    at_or_before = (touches["touched_at"] <= touches[time_col]).astype(int)
    count = at_or_before.groupby(touches["customer_id"]).transform("sum")
    idx = (count - 1).clip(lower=0).astype("float64")
    return idx.where(touches[time_col].notna())


def _position_weights(touches: pd.DataFrame, keys: list[tuple[pd.Series, float]], rest_share: float) -> pd.Series:
    pos = touches["pos"].astype("float64")
    weight = pd.Series(0.0, index=touches.index)
    is_key = pd.Series(False, index=touches.index)
    for idx, share in keys:
        hit = pos == idx
        weight = weight + np.where(hit, share, 0.0)
        is_key = is_key | hit
    rest_count = (~is_key).groupby(touches["customer_id"]).transform("sum")
    weight = weight + np.where(~is_key & (rest_count > 0), rest_share / rest_count.where(rest_count > 0, 1), 0.0)
    return weight / weight.groupby(touches["customer_id"]).transform("sum")


def _model_weights(touches: pd.DataFrame, half_life_days: float) -> dict[str, pd.Series]:
    n = touches["n"]
    pos = touches["pos"]
    first = pd.Series(0.0, index=touches.index)  # touch 1 is position 0
    days = (touches["conversion_at"] - touches["touched_at"]).dt.total_seconds() / 86400.0
    decay = np.power(2.0, -days / half_life_days)
    return {
        "first_touch": (pos == 0).astype("float64"),
        "last_touch": (pos == n - 1).astype("float64"),
        "linear": 1.0 / n,
        "u_shaped": _position_weights(touches, [(first, 0.4), (touches["lead_idx"], 0.4)], 0.2),
        "w_shaped": _position_weights(touches, [(first, 0.3), (touches["lead_idx"], 0.3), (touches["deal_idx"], 0.3)], 0.1),
        "time_decay": decay / decay.groupby(touches["customer_id"]).transform("sum"),
    }


def _largest_remainder_cents(raw: pd.Series, groups: list[pd.Series], target_cents: pd.Series) -> pd.Series:
    """Round ``raw`` amounts to cents so that each group's cents sum to its
    ``target_cents`` (one value per row, equal within a group): every amount is
    floored to the cent and the missing cents go to the largest remainders."""
    cents = raw * 100.0
    floor = np.floor(cents + 1e-7)
    frame = pd.DataFrame({"floor": floor, "frac": cents - floor, "target": target_cents}, index=raw.index)
    keys = [g.rename(f"_g{i}") for i, g in enumerate(groups)]
    frame = frame.join(pd.concat(keys, axis=1))
    gcols = [k.name for k in keys]
    short = frame["target"] - frame.groupby(gcols)["floor"].transform("sum")
    rank = frame.sort_values("frac", ascending=False, kind="stable").groupby(gcols).cumcount()
    bump = (rank.reindex(frame.index) < short).astype("float64")
    return (frame["floor"] + bump) / 100.0


def _customer_times(
    customers: pd.DataFrame,
    contacts: pd.DataFrame,
    deals: pd.DataFrame,
    links: pd.DataFrame,
    members: pd.DataFrame,
) -> pd.DataFrame:
    """Add lead_at (earliest contact creation) and deal_at (earliest deal created before conversion)."""
    lead = members.merge(contacts[["contact_id", "created_at"]], on="contact_id").groupby("customer_id")["created_at"].min()
    lead_at = lookup(customers["customer_id"], lead)
    customers = customers.assign(lead_at=lead_at)
    deal_parts = []
    if deals is not None and not deals.empty:
        by_company = deals[["company_id", "created_at"]].dropna().merge(
            links[["crm_company_id", "customer_id"]].dropna(), left_on="company_id", right_on="crm_company_id"
        )[["customer_id", "created_at"]]
        by_contact = deals[["contact_id", "created_at"]].dropna().merge(members, on="contact_id")[["customer_id", "created_at"]]
        deal_parts = [by_company, by_contact]
    if deal_parts:
        all_deals = pd.concat(deal_parts, ignore_index=True).merge(customers[["customer_id", "conversion_at"]], on="customer_id")
        all_deals = all_deals[all_deals["created_at"] <= all_deals["conversion_at"]]
        customers = customers.assign(deal_at=lookup(customers["customer_id"], all_deals.groupby("customer_id")["created_at"].min()))
    else:
        customers = customers.assign(deal_at=pd.NaT)
    customers["deal_at"] = pd.to_datetime(customers["deal_at"]).astype("datetime64[ns]")
    customers["lead_at"] = pd.to_datetime(customers["lead_at"]).astype("datetime64[ns]")
    return customers


#: The touchpoint columns :func:`attribute` reads (a loader need not read more).
TOUCHPOINT_COLUMNS = ("touchpoint_id", "contact_id", "touched_at", "channel", "utm_campaign")


def attribute(
    new_customers: pd.DataFrame,
    touchpoints: pd.DataFrame,
    contacts: pd.DataFrame,
    deals: pd.DataFrame,
    links: pd.DataFrame,
    policy: AcquisitionPolicy,
    *,
    first_paid: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Attribution credits (ATTRIBUTION_CREDITS columns) for the customers new in each month.

    ``new_customers``: mrr_movements rows (only movement 'new' is used when a
    ``movement`` column is present) with month, customer_id, amount (new MRR) and
    optionally first_paid_at; or pass ``first_paid`` (customer_id, first_paid_at).
    Conversion time = first_paid_at, else the end of the month. See the module
    docstring for the models and the exact rounding.
    """
    customers = _new_customers(new_customers)
    if customers.empty:  # no new customer (or no billing at all): nothing to credit
        return ATTRIBUTION_CREDITS.empty_frame()
    if "first_paid_at" not in customers.columns:
        fp = first_paid.drop_duplicates("customer_id").set_index("customer_id")["first_paid_at"] if first_paid is not None else pd.Series(dtype="datetime64[ns]")
        customers["first_paid_at"] = customers["customer_id"].map(fp)
    month_end = customers["month"] + pd.offsets.MonthBegin(1)
    customers["conversion_at"] = pd.to_datetime(customers["first_paid_at"]).astype("datetime64[ns]").fillna(month_end)

    members = contact_customers(links, contacts)
    customers = _customer_times(customers, contacts, deals, links, members)

    touches = touchpoints[list(TOUCHPOINT_COLUMNS)].merge(members, on="contact_id")
    touches["touched_at"] = pd.to_datetime(touches["touched_at"]).astype("datetime64[ns]")
    touches = touches.merge(customers[["month", "customer_id", "amount", "conversion_at", "lead_at", "deal_at"]], on="customer_id")
    keep = touches["touched_at"] <= touches["conversion_at"]
    if policy.attribution_lookback_days is not None:
        keep &= touches["touched_at"] >= touches["conversion_at"] - pd.Timedelta(days=policy.attribution_lookback_days)
    touches = touches[keep].drop_duplicates(["customer_id", "touchpoint_id"])
    touches = touches.sort_values(["customer_id", "touched_at", "touchpoint_id"]).reset_index(drop=True)
    touches["pos"] = touches.groupby("customer_id").cumcount()
    touches["n"] = touches.groupby("customer_id")["pos"].transform("size")
    touches["lead_idx"] = _key_touch_index(touches, "lead_at")
    touches["deal_idx"] = _key_touch_index(touches, "deal_at")
    touches["channel"] = touches["channel"].fillna(UNKNOWN)
    touches["campaign"] = touches["utm_campaign"].fillna(NONE)

    parts = []
    if not touches.empty:
        for model, weight in _model_weights(touches, policy.time_decay_half_life_days).items():
            parts.append(pd.DataFrame({
                "month": touches["month"], "model": model, "channel": touches["channel"], "campaign": touches["campaign"],
                "customers": weight.to_numpy(), "new_mrr": (weight * touches["amount"]).to_numpy(), "touched": True,
            })[weight.to_numpy() > 0])
    untouched = customers[~customers["customer_id"].isin(touches["customer_id"])]
    for model in MODELS:
        parts.append(pd.DataFrame({
            "month": untouched["month"], "model": model, "channel": NONE, "campaign": NONE,
            "customers": 1.0, "new_mrr": untouched["amount"], "touched": False,
        }))
    credits = pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(not p.empty for p in parts) else None
    if credits is None:
        return ATTRIBUTION_CREDITS.empty_frame()
    credits = credits.groupby(["month", "model", "channel", "campaign", "touched"], as_index=False)[["customers", "new_mrr"]].sum()
    # targets: the month's total new MRR in cents, and the touched customers' share of it, so that
    # both the touched cells and all cells (with '(none)') sum exactly to the cent
    cents = credits["new_mrr"] * 100.0
    month_model = [credits["month"], credits["model"]]
    total = cents.groupby(month_model).transform("sum").round()
    touched = cents.where(credits["touched"], 0.0).groupby(month_model).transform("sum").round()
    target = touched.where(credits["touched"], total - touched)
    credits["new_mrr"] = _largest_remainder_cents(credits["new_mrr"], [*month_model, credits["touched"]], target)
    credits["customers"] = credits["customers"].round(9)
    credits = credits.drop(columns="touched").groupby(["month", "model", "channel", "campaign"], as_index=False)[["customers", "new_mrr"]].sum()
    credits["new_mrr"] = credits["new_mrr"].round(2)
    credits = credits.sort_values(["month", "model", "channel", "campaign"]).reset_index(drop=True)
    return credits[ATTRIBUTION_CREDITS.column_names]


_SUMS_CHECK_COLUMNS = ("month", "model", "new_mrr", "credited_new_mrr", "mrr_residual", "new_customers", "credited_customers",
                       "customers_residual", "ok")


def attribution_sums_check(credits: pd.DataFrame, movements: pd.DataFrame) -> pd.DataFrame:
    """Per month and model: new MRR / new customers of the movements vs the credits.

    Columns month, model, new_mrr, credited_new_mrr, mrr_residual, new_customers,
    credited_customers, customers_residual, ok (|mrr_residual| < 0.005 and
    |customers_residual| < 1e-6). Every model of MODELS is checked for every month
    that has new customers or credits.
    """
    new = movements[movements["movement"] == "new"].copy()
    new["month"] = pd.to_datetime(new["month"]).astype("datetime64[ns]")
    expected = new.groupby("month").agg(new_mrr=("amount", "sum"), new_customers=("customer_id", "nunique"))
    credited = credits.assign(month=pd.to_datetime(credits["month"]).astype("datetime64[ns]")).groupby(["month", "model"]).agg(
        credited_new_mrr=("new_mrr", "sum"), credited_customers=("customers", "sum")
    )
    months = sorted(set(expected.index) | set(credited.index.get_level_values("month")))
    if not months:  # nothing new and nothing credited: nothing to check (an empty grid has untyped months)
        return pd.DataFrame(columns=_SUMS_CHECK_COLUMNS)
    grid = pd.MultiIndex.from_product([months, list(MODELS)], names=["month", "model"])
    out = pd.DataFrame(index=grid).join(credited).reset_index()
    out = out.merge(expected.reset_index(), on="month", how="left")
    out[["new_mrr", "new_customers", "credited_new_mrr", "credited_customers"]] = out[
        ["new_mrr", "new_customers", "credited_new_mrr", "credited_customers"]
    ].fillna(0.0).astype("float64")
    out["new_mrr"] = out["new_mrr"].round(2)
    out["mrr_residual"] = (out["credited_new_mrr"] - out["new_mrr"]).round(6)
    out["customers_residual"] = (out["credited_customers"] - out["new_customers"]).round(9)
    out["ok"] = (out["mrr_residual"].abs() < 0.005) & (out["customers_residual"].abs() < 1e-6)
    return out[list(_SUMS_CHECK_COLUMNS)]
