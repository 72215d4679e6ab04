"""The invoice revenue engine: revenue intervals from invoice line items and the subscriptions' current state.

Billing systems keep invoices and their lines for ever (ChartMogul, Baremetrics and ProfitWell build
MRR from them); item-version and status histories are rarely exported and Stripe's API keeps events
for 30 days only. This engine rebuilds, from the recurring lines, what the subscription engine
(:mod:`saas_metrics.metrics.revenue_intervals`) reads from those histories, and then runs the very
same interval arithmetic, so both give the same ``revenue_intervals`` frame wherever the invoices
agree with the histories.

Which lines count: ``line_type`` subscription (one-off ``invoiceitem`` and ``metered`` lines stay out
of MRR), of an invoice that is not void or draft, that is not a credit (``amount`` < 0: the unused time
of a proration, or a credit note's line). Per subscription item, each such line is an item version over
its service period ``[period_start, period_end)`` with the line's price and quantity; a later line of
the same item (a proration's "remaining time" line, a renewal) ends it where that line starts, so a
mid-period change takes effect at its proration's date.

A proration credit (the unused time of an item, amount < 0) ends that item's version at its start, which
places a change even when the export has no subscription item ids (the item is then subscription:price).

Line MRR = quantity x unit_amount x (1 - percent_off / 100) / interval_months, as in the subscription
engine: the price (``billing_prices``, or the line's own price columns; the unit amount then is
amount / quantity of a full-period line) gives the rate, so a prorated amount never distorts it.
Discounts: a discount the line names (``discount_ids``) that ``billing_discounts`` knows applies over
that discount's [start, end) as today (a repeating coupon ending inside an annual term ends there); a
discount amount without a known discount scales the line alone by (1 - discount_amount / amount).
When no line itemises any discount (Fivetran's ``invoice_line_item`` has no discount amounts), every
``billing_discounts`` row applies, as in the subscription engine.
Tax never enters MRR.

Paying: a paid line pays over its service period. An unpaid line (invoice open or uncollectible, never
paid) is past_due from its invoice's due date (the invoice date when it has none) and pays until
``delinquency_days`` after the first due date of its run of consecutive unpaid invoices, also past its
period end (the delinquency policy of the subscription engine). Time no line covers pays nothing: a
pause, a lapse, a trial (trials bill nothing) or a subscription that was not renewed, which therefore
churns at the end of its last paid service period.

Current state (``billing_subscriptions``): ``ended_at`` (or ``canceled_at`` under churn recognition
``cancellation``) ends every line, ``trial_end`` keeps a trial at 0, ``incomplete`` subscriptions never
pay, and an ``active`` subscription that is neither ended nor scheduled to cancel keeps its last
paid line open (its next invoice is not issued yet).

Refunds and credit notes move cash, not MRR (credit lines are skipped; refunds are not read here).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics.frames import canonical, conform, empty_frame, to_schema
from saas_metrics.metrics.revenue_intervals import (
    FAR_FUTURE,
    NEVER_PAID_STATUSES,
    REVENUE_INTERVALS,
    UNPAID_INVOICE_STATUSES,
    _billing_intervals,
    build_revenue_intervals,
)
from saas_metrics.sources import schemas as src
from saas_metrics.tables import isin

ENGINES = ("subscriptions", "invoices")
SKIPPED_INVOICE_STATUSES = ("void", "draft")


def recurring_charge_lines(invoice_lines: pd.DataFrame, *, credits: bool = False) -> pd.DataFrame:
    """The lines that bill a subscription's recurring rate: subscription lines of live invoices, no credits
    (``credits=True``: only the credits, i.e. the unused time of prorations)."""
    lines = conform(invoice_lines, src.BILLING_INVOICE_LINES)
    status = lines["invoice_status"].str.lower()
    amount = lines["amount"].fillna(0.0)
    keep = (
        lines["line_type"].str.lower().eq("subscription").fillna(False).astype(bool)
        & ~status.isin(SKIPPED_INVOICE_STATUSES).fillna(False).astype(bool)
        & lines["subscription_id"].notna()
        & lines["period_start"].notna()
        & ((amount < 0) if credits else (amount >= 0))
    )
    return lines[keep.to_numpy()].reset_index(drop=True)


def _item_key(lines: pd.DataFrame) -> pd.Series:
    """The subscription item a line bills; subscription:price when the export has no item id."""
    return lines["item_id"].fillna(lines["subscription_id"] + ":" + lines["price_id"].fillna(""))


def choose_engines(subscriptions: pd.DataFrame, items: pd.DataFrame, invoice_lines: pd.DataFrame, source: str) -> pd.Series:
    """The engine of each subscription (index subscription_id): ``source`` itself, or under ``auto``
    ``invoices`` for a subscription with recurring invoice lines whose item history is missing (no
    item versions) or incomplete (``history_since`` after its start), ``subscriptions`` otherwise."""
    if source not in (*ENGINES, "auto"):
        raise ValueError(f"revenue source must be subscriptions, invoices or auto, got {source!r}")
    subs = conform(subscriptions, src.BILLING_SUBSCRIPTIONS).drop_duplicates("subscription_id")
    ids = pd.Index(subs["subscription_id"], name="subscription_id")
    if source != "auto":
        return pd.Series(source, index=ids, name="engine", dtype=object)
    billed = recurring_charge_lines(invoice_lines)["subscription_id"]
    versioned = conform(items, src.BILLING_SUBSCRIPTION_ITEMS)["subscription_id"]
    begin = subs["start_at"].fillna(subs["created_at"])
    incomplete = (subs["history_since"].notna() & (begin.isna() | (subs["history_since"] > begin))).to_numpy()
    use_invoices = isin(subs["subscription_id"], billed).to_numpy() & (~isin(subs["subscription_id"], versioned).to_numpy() | incomplete)
    return pd.Series(np.where(use_invoices, "invoices", "subscriptions"), index=ids, name="engine", dtype=object)


def build_intervals_by_engine(
    customers: pd.DataFrame,
    prices: pd.DataFrame,
    subscriptions: pd.DataFrame,
    items: pd.DataFrame,
    status_history: pd.DataFrame,
    discounts: pd.DataFrame,
    invoices: pd.DataFrame | None,
    periods: pd.DataFrame,
    invoice_lines: pd.DataFrame | None,
    policy: RevenuePolicy,
    reporting_currency: str,
) -> tuple[pd.DataFrame, pd.Series]:
    """Revenue intervals with each subscription on the engine ``policy.source`` picks for it
    (:func:`choose_engines`), and that choice (index subscription_id, values subscriptions/invoices)."""
    engines = choose_engines(subscriptions, items, invoice_lines, policy.source)
    on_invoices = set(engines.index[engines.to_numpy() == "invoices"])
    if on_invoices:
        items = conform(items, src.BILLING_SUBSCRIPTION_ITEMS)
        items = items[~items["subscription_id"].isin(on_invoices)]
    by_subscription = build_revenue_intervals(customers, prices, subscriptions, items, status_history, discounts,
                                              invoices, periods, policy, reporting_currency)
    if not on_invoices:
        return by_subscription, engines
    subs = conform(subscriptions, src.BILLING_SUBSCRIPTIONS)
    by_invoice = invoice_intervals(customers, prices, subs[subs["subscription_id"].isin(on_invoices)], invoice_lines,
                                   discounts, policy, reporting_currency)
    frames = [f for f in (by_subscription, by_invoice) if len(f)]
    if not frames:
        return empty_frame(REVENUE_INTERVALS), engines
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["customer_id", "subscription_id", "item_id", "start_at"], kind="stable")
    return to_schema(out, REVENUE_INTERVALS), engines


def invoice_intervals(
    customers: pd.DataFrame,
    prices: pd.DataFrame,
    subscriptions: pd.DataFrame,
    invoice_lines: pd.DataFrame | None,
    discounts: pd.DataFrame,
    policy: RevenuePolicy,
    reporting_currency: str,
) -> pd.DataFrame:
    """Revenue intervals (mrr > 0) of ``subscriptions`` from their invoice lines (see the module docstring)."""
    reporting_currency = reporting_currency.upper()
    subs = canonical(subscriptions, src.BILLING_SUBSCRIPTIONS).drop_duplicates("subscription_id")
    lines = recurring_charge_lines(invoice_lines)
    never_paid = subs["status"].str.lower().isin(NEVER_PAID_STATUSES).fillna(False).astype(bool).to_numpy()
    lines = lines[isin(lines["subscription_id"], subs.loc[~never_paid, "subscription_id"]).to_numpy()]
    if lines.empty or subs.empty:
        return empty_frame(REVENUE_INTERVALS)
    prices = _with_line_prices(canonical(prices, src.BILLING_PRICES), lines)
    lines = _priced_lines(lines, prices)
    if lines.empty:
        return empty_frame(REVENUE_INTERVALS)
    discounts = canonical(discounts, src.BILLING_DISCOUNTS)
    lines = _coverage(lines, subs, policy)
    # An export that itemises no discount on any line (Fivetran's invoice_line_item) leaves them to the table.
    itemised = lines["discount_ids"].notna().any() or (lines["discount_amount"].fillna(0.0) > 0).any()
    known = _known_discounts(lines, discounts) if itemised else set(discounts["discount_id"])
    items = _item_versions(lines, known, recurring_charge_lines(invoice_lines, credits=True))
    paying = _paying_runs_from_lines(lines)
    return _billing_intervals(
        canonical(customers, src.BILLING_CUSTOMERS), prices, subs, items, src.BILLING_SUBSCRIPTION_STATUS_HISTORY.empty_frame(),
        discounts[discounts["discount_id"].isin(known)], src.BILLING_INVOICES.empty_frame(), policy, reporting_currency,
        paying=paying, source="invoices",
    )


def _coverage(lines: pd.DataFrame, subs: pd.DataFrame, policy: RevenuePolicy) -> pd.DataFrame:
    """Each line with ``pay_to`` (end of paying) and ``cover_to`` (end of its item version before the next line)."""
    lines = lines.assign(period_end=lines["period_end"].fillna(FAR_FUTURE))
    lines = lines.sort_values(["subscription_id", "period_start", "invoice_created_at", "line_id"], kind="stable").reset_index(drop=True)
    status = lines["invoice_status"].str.lower()
    unpaid = (status.isin(UNPAID_INVOICE_STATUSES).fillna(False).astype(bool) & lines["invoice_paid_at"].isna()).to_numpy()
    due = lines["invoice_due_at"].fillna(lines["invoice_created_at"]).fillna(lines["period_start"])
    # The past_due clock starts at the first due date of a run of consecutive unpaid invoices.
    run = pd.Series(~unpaid, index=lines.index).groupby(lines["subscription_id"]).cumsum()
    first_due = due.where(unpaid).groupby([lines["subscription_id"], run]).transform("min")
    cutoff = first_due + pd.Timedelta(days=policy.delinquency_days)
    lines["pay_to"] = lines["period_end"].where(~unpaid, cutoff)
    # A line that bills nothing (a trial's $0 line) pays nothing; a 100 % discount still bills its amount.
    free = (lines["amount"].fillna(0.0).eq(0.0) & lines["discount_amount"].fillna(0.0).eq(0.0)
            & ~lines["proration"].astype("boolean").fillna(False).astype(bool)).to_numpy()
    lines.loc[free, "pay_to"] = lines.loc[free, "period_start"]
    lines["cover_to"] = lines["period_end"].where(~unpaid, np.maximum(lines["period_end"], cutoff))

    # An active subscription, not ended nor scheduled to cancel, renews: its last paid line stays open.
    state = subs.set_index("subscription_id")
    renews = (
        state["status"].str.lower().eq("active").fillna(False).astype(bool)
        & state["ended_at"].isna() & state["cancel_at"].isna()
        & ~state["cancel_at_period_end"].astype("boolean").fillna(False).astype(bool)
    )
    last = lines.groupby("subscription_id")["period_end"].transform("max") == lines["period_end"]
    open_end = (last & lines["subscription_id"].map(renews).fillna(False).astype(bool)).to_numpy() & ~unpaid
    lines.loc[open_end, ["pay_to", "cover_to"]] = FAR_FUTURE
    return lines


def _known_discounts(lines: pd.DataFrame, discounts: pd.DataFrame) -> set[str]:
    """Ids of billing_discounts rows some line names."""
    texts = pd.unique(lines["discount_ids"].dropna())  # a few hundred distinct lists among 100,000s of lines
    named = {name.strip() for text in texts for name in text.split(",")}
    return named & set(discounts["discount_id"])


def _explained_by_known(discount_ids: pd.Series, known_discounts: set[str]) -> np.ndarray:
    """Per line: it names at least one discount (comma-separated ``discount_ids``) and every one it names
    is known. Decided once per distinct ``discount_ids`` text (a few hundred among 100,000s of lines)."""
    codes, texts = pd.factorize(discount_ids)
    per_text = np.array([_all_known(text, known_discounts) for text in texts], dtype=bool)
    return np.append(per_text, False)[codes]  # code -1 (no ids) -> the appended False


def _all_known(text: str, known_discounts: set[str]) -> bool:
    names = [n.strip() for n in text.split(",") if n.strip()]
    return bool(names) and all(n in known_discounts for n in names)


def _item_versions(lines: pd.DataFrame, known_discounts: set[str], credits: pd.DataFrame) -> pd.DataFrame:
    """Item versions (the billing_subscription_items shape) from the lines: each line from its period
    start to the next line of the same item, or to a proration credit of that item (its unused time
    starts there), or its own coverage end; equal neighbours joined."""
    item_key = _item_key(lines)
    # A discount amount the discounts table does not explain stays with the line: it scales the quantity.
    amount = lines["amount"].fillna(0.0)
    discount = lines["discount_amount"].fillna(0.0).clip(lower=0.0)
    explained = _explained_by_known(lines["discount_ids"], known_discounts)
    factor = np.where(~explained & (amount.to_numpy() > 0), 1.0 - np.minimum(discount, amount) / amount.where(amount > 0, 1.0), 1.0)
    v = pd.DataFrame({
        "item_version_id": lines["line_id"], "item_id": item_key, "subscription_id": lines["subscription_id"],
        "price_id": lines["price_id"], "quantity": lines["quantity"].fillna(1.0) * factor,
        "valid_from": lines["period_start"], "cover_to": lines["cover_to"],
    }).sort_values(["subscription_id", "item_id", "valid_from"], kind="stable")
    next_start = v.groupby(["subscription_id", "item_id"], sort=False)["valid_from"].shift(-1)
    v["valid_to"] = v["cover_to"].where(next_start.isna() | (next_start > v["cover_to"]), next_start)
    if len(credits):
        cuts = pd.DataFrame({"subscription_id": credits["subscription_id"], "item_id": _item_key(credits),
                             "cut": credits["period_start"]})
        hits = v.reset_index()[["index", "subscription_id", "item_id", "valid_from", "valid_to"]].merge(cuts, on=["subscription_id", "item_id"])
        hits = hits[(hits["cut"] > hits["valid_from"]) & (hits["cut"] < hits["valid_to"])]
        first_cut = hits.groupby("index")["cut"].min()
        v.loc[first_cut.index, "valid_to"] = first_cut.to_numpy()
    v = v[v["valid_to"] > v["valid_from"]]
    # Join a version to the previous one of its item when price and quantity match and they touch.
    key = ["subscription_id", "item_id"]
    prev = v.groupby(key, sort=False)[["price_id", "quantity", "valid_to"]].shift()
    same = (prev["price_id"] == v["price_id"]) & np.isclose(prev["quantity"].fillna(-1.0), v["quantity"]) & (prev["valid_to"] == v["valid_from"])
    v = v.assign(run=(~same).cumsum())
    out = v.groupby("run", sort=False).agg(
        item_version_id=("item_version_id", "first"), item_id=("item_id", "first"), subscription_id=("subscription_id", "first"),
        price_id=("price_id", "first"), quantity=("quantity", "first"), valid_from=("valid_from", "first"),
        valid_to=("valid_to", "last"),
    ).reset_index(drop=True)
    out["valid_to"] = out["valid_to"].where(out["valid_to"] < FAR_FUTURE)
    return conform(out, src.BILLING_SUBSCRIPTION_ITEMS)


def _paying_runs_from_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Per subscription, the union of the lines' paying spans [period_start, pay_to) as disjoint runs."""
    spans = lines.loc[lines["pay_to"] > lines["period_start"], ["subscription_id", "period_start", "pay_to"]]
    spans = spans.sort_values(["subscription_id", "period_start"], kind="stable")
    reach = spans.groupby("subscription_id", sort=False)["pay_to"].cummax()
    prev_reach = reach.groupby(spans["subscription_id"], sort=False).shift()
    new_run = prev_reach.isna() | (spans["period_start"] > prev_reach)
    runs = spans.assign(reach=reach, run=new_run.cumsum()).groupby("run", sort=False).agg(
        subscription_id=("subscription_id", "first"), run_from=("period_start", "first"), run_to=("reach", "max"),
    )
    return runs.reset_index(drop=True)


def _with_line_prices(prices: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """billing_prices plus the prices only the lines know: interval from the line's price columns (else
    the whole months of a full-period line), unit amount = amount / quantity of a full-period line."""
    unknown = lines[~isin(lines["price_id"], prices["price_id"]) & lines["price_id"].notna()]
    if unknown.empty:
        return prices
    unknown = unknown[(unknown["quantity"].fillna(1.0) > 0) & (unknown["amount"].fillna(0.0) > 0)]
    proration = unknown["proration"].astype("boolean").fillna(False).astype(bool)
    # Full-period lines first; a proration line whose price states its interval is scaled up to its period.
    full = pd.concat([unknown[~proration], unknown[proration & unknown["interval"].notna()]]).drop_duplicates("price_id")
    months = _whole_months(full["period_start"], full["period_end"])
    interval = full["interval"].fillna(pd.Series(np.where(months % 12 == 0, "year", "month"), index=full.index))
    count = full["interval_count"].astype("Float64").fillna(pd.Series(np.where(months % 12 == 0, months // 12, months), index=full.index))
    share = _period_share(full, interval, count).where(full["proration"].astype("boolean").fillna(False).astype(bool), 1.0)
    derived = pd.DataFrame({
        "price_id": full["price_id"], "unit_amount": full["amount"] / full["quantity"].fillna(1.0) / share,
        "currency": full["currency"], "price_type": "recurring", "interval": interval,
        "interval_count": count.astype("Int64"), "usage_type": "licensed",
    })
    derived = derived[derived["interval_count"].fillna(0) > 0]
    return pd.concat([prices, conform(derived, src.BILLING_PRICES)], ignore_index=True)


def _period_share(lines: pd.DataFrame, interval: pd.Series, count: pd.Series) -> pd.Series:
    """The share of a whole billing period a line's service period covers (a proration's remaining time)."""
    months = interval.str.lower().map({"month": 1, "year": 12}).astype("Float64") * count.astype("Float64")
    shares = []
    for start, end, n in zip(lines["period_start"], lines["period_end"], months, strict=True):
        if pd.isna(n) or pd.isna(end):
            shares.append(1.0)
            continue
        whole = end - (end - pd.DateOffset(months=int(n)))
        shares.append(min(1.0, max((end - start) / whole, 1e-9)))
    return pd.Series(shares, index=lines.index, dtype="float64")


class UnpricedLinesWarning(UserWarning):
    """Invoice lines whose price is neither in billing_prices nor derivable from a full-period line."""


def _priced_lines(lines: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """``lines`` whose price is known; the others (their price row quarantined, or only prorations of it
    billed) are left out of the engine with a warning naming them: their MRR cannot be known exactly,
    and a guess would not be a fact of the source."""
    unpriced = lines["price_id"].notna() & ~isin(lines["price_id"], prices["price_id"])
    if unpriced.any():
        ids = sorted(set(lines.loc[unpriced, "price_id"]))
        warnings.warn(UnpricedLinesWarning(
            f"{int(unpriced.sum())} invoice line(s) of {lines.loc[unpriced, 'subscription_id'].nunique()} subscription(s) "
            f"bill price(s) not in billing_prices and with no full-period line to derive them from, left out of the "
            f"invoice engine's MRR: {ids[:5]}"), stacklevel=2)
    return lines[~unpriced.to_numpy()]


def _whole_months(start: pd.Series, end: pd.Series) -> np.ndarray:
    """Calendar months from start to end, rounded (a service period of 1, 3, 12, 24 months)."""
    s, e = pd.to_datetime(start), pd.to_datetime(end)
    months = (e.dt.year - s.dt.year) * 12 + (e.dt.month - s.dt.month) + (e.dt.day - s.dt.day) / 30.0
    return np.maximum(1, np.round(months.to_numpy(dtype="float64", na_value=1.0))).astype("int64")


def reconcilable_intervals(
    customers: pd.DataFrame,
    prices: pd.DataFrame,
    subscriptions: pd.DataFrame,
    items: pd.DataFrame,
    status_history: pd.DataFrame,
    discounts: pd.DataFrame,
    invoice_lines: pd.DataFrame | None,
    policy: RevenuePolicy,
    reporting_currency: str,
    *,
    built: tuple[pd.DataFrame, pd.Series] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both engines' intervals of the subscriptions both can run (item versions and recurring invoice lines).

    ``built``: what :func:`build_intervals_by_engine` returned for the same inputs (and ``invoices``
    None, as here: the synthetic status histories then agree). The subscription
    engine works one subscription at a time, so the intervals it already built there are taken as
    they are; only the subscriptions it ran on the invoice engine are run on the subscription engine here."""
    items = conform(items, src.BILLING_SUBSCRIPTION_ITEMS)
    billed = recurring_charge_lines(invoice_lines)["subscription_id"]
    items = items[isin(items["subscription_id"], billed).to_numpy()]  # the subscriptions both engines can run
    subs = conform(subscriptions, src.BILLING_SUBSCRIPTIONS)
    subs = subs[isin(subs["subscription_id"], items["subscription_id"]).to_numpy()]
    if subs.empty:
        return empty_frame(REVENUE_INTERVALS), empty_frame(REVENUE_INTERVALS)
    if built is None:
        by_subscriptions = build_revenue_intervals(customers, prices, subs, items, status_history, discounts, None, None,
                                                   policy, reporting_currency)
    else:
        by_subscriptions = _on_subscription_engine(built, customers, prices, subs, items, status_history, discounts,
                                                   policy, reporting_currency)
    by_invoices = invoice_intervals(customers, prices, subs, invoice_lines, discounts, policy, reporting_currency)
    return by_subscriptions, by_invoices


def _on_subscription_engine(
    built: tuple[pd.DataFrame, pd.Series],
    customers: pd.DataFrame,
    prices: pd.DataFrame,
    subs: pd.DataFrame,
    items: pd.DataFrame,
    status_history: pd.DataFrame,
    discounts: pd.DataFrame,
    policy: RevenuePolicy,
    reporting_currency: str,
) -> pd.DataFrame:
    """The subscription engine's intervals of ``subs``: the rows ``built`` has of those it ran on that
    engine, plus a run of the others (sorted as build_revenue_intervals sorts)."""
    intervals, engines = built
    elsewhere = engines.index[engines.to_numpy() != "subscriptions"].to_series()
    rerun = isin(subs["subscription_id"], elsewhere).to_numpy()
    ids = subs.loc[~rerun, "subscription_id"]
    frames = [intervals[isin(intervals["subscription_id"], ids).to_numpy()]]
    if rerun.any():
        frames.append(build_revenue_intervals(customers, prices, subs[rerun], items[isin(items["subscription_id"], elsewhere).to_numpy()],
                                              status_history, discounts, None, None, policy, reporting_currency))
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame(REVENUE_INTERVALS)
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["customer_id", "subscription_id", "item_id", "start_at"], kind="stable")
    return to_schema(out, REVENUE_INTERVALS)
