"""Event simulation of every subscription (Stripe-like billing).

One pass per customer in plain Python (a seeded ``random.Random``): subscriptions
with trials, discounts, mid-period seat and plan changes, pauses, unpaid
renewals that go past_due, cancellations at period end and reactivations.
The records use naive UTC datetimes; ``billing_export`` turns them into Stripe's
native columns. Nothing at or after ``horizon`` (the export instant, the 1st of
the month after the last month) is recorded, except scheduled future dates
(``cancel_at``, a discount's ``end``), as Stripe does.

Every invoice carries Stripe-like line items that agree exactly with the item versions:
a period invoice has one ``subscription`` line per item for the service period (the
discount as a discount amount; a metered line for the usage of the period before; the
setup fee as an ``invoiceitem``); a mid-period change is invoiced at once with two
proration lines over [change, period end): the unused time of the old price/quantity
(a credit) and the remaining time of the new one, so a decrease gives an invoice with
a negative total (Stripe credits it to the customer balance; no charge). Trials bill
nothing. The lines consume no randomness, so every other record is unchanged.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from saas_metrics.sample_data.catalog import (
    TERMS,
    TIERS,
    Price,
    metered_price_id,
    recurring_price_id,
    setup_price_id,
)
from saas_metrics.sample_data.timeutil import add_months

MONTHLY_CHURN = {"starter": 0.035, "growth": 0.022, "enterprise": 0.012}
CHANGE_PER_MONTH = 0.06
PAUSE_PER_PERIOD = 0.004
UNPAID_PER_RENEWAL = 0.004
PAST_DUE_UNTIL_CANCEL = dt.timedelta(days=45)
FAILED_FIRST_ATTEMPT = 0.06
REFUND_SHARE = 0.02
DISCOUNT_SHARE = 0.25
REACTIVATION_SHARE = 0.25
SECOND_SUBSCRIPTION_SHARE = 0.06
TAX_RATE = {"usd": 0.0, "eur": 0.19, "gbp": 0.20}


@dataclass
class BillingRecords:
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    discounts: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    invoice_lines: list[dict[str, Any]] = field(default_factory=list)


class _Ids:
    def __init__(self) -> None:
        self.counters: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}_{n:09d}"


@dataclass
class _Item:
    item_id: str
    price_id: str
    quantity: float | None
    valid_from: dt.datetime


@dataclass
class _Line:
    """One invoice line before it gets its invoice: amounts in cents, discount already in cents."""

    item: _Item | None
    price_id: str
    quantity: float | None
    amount: int
    discount: int
    period_start: dt.datetime
    period_end: dt.datetime
    line_type: str = "subscription"
    proration: bool = False


class BillingSimulator:
    """Simulates every customer's subscriptions up to ``horizon``."""

    def __init__(self, r: random.Random, catalog: dict[str, Price], horizon: dt.datetime) -> None:
        self.r = r
        self.catalog = catalog
        self.horizon = horizon
        self.ids = _Ids()
        self.out = BillingRecords()

    # -- helpers -------------------------------------------------------------
    def _rand_time(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        seconds = max(1, int((end - start).total_seconds()))
        return start + dt.timedelta(seconds=self.r.randrange(1, seconds))

    def _close_item(self, sub_id: str, item: _Item, valid_to: dt.datetime | None) -> None:
        if item.valid_from >= self.horizon:
            return
        self.out.items.append({
            "item_id": item.item_id, "subscription_id": sub_id, "price_id": item.price_id,
            "quantity": item.quantity, "valid_from": item.valid_from,
            "valid_to": valid_to if valid_to is not None and valid_to < self.horizon else None,
        })

    def _status(self, sub_id: str, status: str, start: dt.datetime, end: dt.datetime | None) -> None:
        if start >= self.horizon or (end is not None and end <= start):
            return
        self.out.statuses.append({
            "subscription_id": sub_id, "status": status, "valid_from": start,
            "valid_to": end if end is not None and end < self.horizon else None,
        })

    def _licensed_cents(self, items: list[_Item], discount_pct: float) -> int:
        total = 0.0
        for item in items:
            price = self.catalog[item.price_id]
            if price.type == "recurring" and price.usage_type == "licensed":
                total += (item.quantity or 0) * price.unit_amount_cents
        return round(total * (1 - discount_pct / 100))

    def _invoice(self, cust: dict[str, Any], sub_id: str, created: dt.datetime, period_end: dt.datetime,
                 subtotal: int, reason: str, paid: bool, lines: Sequence[_Line] = (), discount_id: str | None = None,
                 ) -> dict[str, Any] | None:
        if created >= self.horizon:
            return None
        cur = cust["currency"]
        tax = round(subtotal * TAX_RATE[cur])
        invoice = {
            "invoice_id": self.ids.next("in"), "customer_id": cust["customer_id"], "subscription_id": sub_id,
            "status": "paid" if paid else "open", "billing_reason": reason, "created": created, "due_date": None,
            "paid_at": None, "period_start": created, "period_end": period_end, "currency": cur,
            "subtotal": subtotal, "tax": tax, "total": subtotal + tax, "amount_paid": 0,
            "amount_due": subtotal + tax,
        }
        self.out.invoices.append(invoice)
        self._record_lines(invoice, sub_id, lines, discount_id)
        if paid and reason == "subscription_credit":  # nothing to charge: the customer balance is credited
            invoice["paid_at"] = created
            invoice["amount_due"] = 0
        elif paid:
            self._pay(invoice)
        return invoice

    def _record_lines(self, invoice: dict[str, Any], sub_id: str, lines: Sequence[_Line], discount_id: str | None) -> None:
        """The invoice's lines; line taxes are each line's share, the first line takes the rounding rest."""
        assert sum(line.amount - line.discount for line in lines) == invoice["subtotal"], "lines must add up to the subtotal"
        rate = TAX_RATE[invoice["currency"]]
        taxes = [round((line.amount - line.discount) * rate) for line in lines]
        if taxes:
            taxes[0] += invoice["tax"] - sum(taxes)
        for line, tax in zip(lines, taxes, strict=True):
            self.out.invoice_lines.append({
                "line_id": self.ids.next("il"), "invoice_id": invoice["invoice_id"],
                "subscription_id": sub_id if line.line_type != "invoiceitem" else None,
                "item_id": line.item.item_id if line.item is not None else None, "price_id": line.price_id,
                "quantity": line.quantity, "amount": line.amount, "discount": line.discount,
                "discount_id": discount_id if line.discount else None, "tax": tax, "currency": invoice["currency"],
                "period_start": line.period_start, "period_end": line.period_end, "proration": line.proration,
                "type": "invoiceitem" if line.line_type == "invoiceitem" else "subscription",
            })

    def _licensed_lines(self, items: list[_Item], pct: float, start: dt.datetime, end: dt.datetime,
                        share: float = 1.0, sign: int = 1, proration: bool = False) -> list[_Line]:
        """One line per recurring licensed item over [start, end); ``share`` of the period (prorations).
        Net amounts are rounded like ``_licensed_cents`` so the lines add up to the invoice."""
        lines = []
        for item in items:
            price = self.catalog[item.price_id]
            if price.type == "recurring" and price.usage_type == "licensed":
                gross = round((item.quantity or 0) * price.unit_amount_cents * share)
                net = round((item.quantity or 0) * price.unit_amount_cents * share * (1 - pct / 100))
                lines.append(_Line(item, item.price_id, item.quantity, sign * gross, sign * (gross - net), start, end,
                                   proration=proration))
        return lines

    def _charge(self, invoice: dict[str, Any], at: dt.datetime, status: str) -> dict[str, Any] | None:
        if at >= self.horizon:
            return None
        charge = {
            "charge_id": self.ids.next("ch"), "customer_id": invoice["customer_id"], "invoice_id": invoice["invoice_id"],
            "amount": invoice["total"], "currency": invoice["currency"], "status": status, "created": at,
            "failure_code": "card_declined" if status == "failed" else None, "amount_refunded": 0,
        }
        self.out.charges.append(charge)
        return charge

    def _pay(self, invoice: dict[str, Any]) -> None:
        at = invoice["created"] + dt.timedelta(minutes=self.r.randrange(30, 120))
        if self.r.random() < FAILED_FIRST_ATTEMPT:
            self._charge(invoice, at, "failed")
            at += dt.timedelta(days=self.r.randrange(1, 6))
        charge = self._charge(invoice, at, "succeeded")
        if charge is None:
            invoice["status"] = "open"
            return
        invoice["paid_at"] = at
        invoice["amount_paid"] = invoice["total"]
        invoice["amount_due"] = 0
        if invoice["total"] > 0 and self.r.random() < REFUND_SHARE:
            refund_at = at + dt.timedelta(days=self.r.randrange(1, 21), seconds=self.r.randrange(86_400))
            if refund_at < self.horizon:
                full = self.r.random() < 0.6
                amount = charge["amount"] if full else round(charge["amount"] * self.r.uniform(0.1, 0.5))
                charge["amount_refunded"] = amount
                self.out.refunds.append({
                    "refund_id": self.ids.next("re"), "charge_id": charge["charge_id"], "customer_id": charge["customer_id"],
                    "amount": amount, "currency": charge["currency"], "status": "succeeded", "created": refund_at,
                    "reason": "requested_by_customer" if full else "duplicate",
                })

    # -- one subscription ----------------------------------------------------
    def subscription(self, cust: dict[str, Any], start: dt.datetime, tier: str, term: str, seats: int, *,
                     trial: bool, converts: bool, discount: bool) -> dt.datetime | None:
        """Simulate one subscription from ``start``; return when it ended (None if still live)."""
        r = self.r
        cur = cust["currency"]
        sub_id = self.ids.next("sub")
        months = TERMS[term][2]
        sub: dict[str, Any] = {
            "subscription_id": sub_id, "customer_id": cust["customer_id"], "status": "active", "created": start,
            "start_date": start, "trial_start": None, "trial_end": None, "cancel_at_period_end": False,
            "cancel_at": None, "canceled_at": None, "ended_at": None, "current_period_start": None,
            "current_period_end": None, "currency": cur, "tier": tier, "term": term,
        }
        self.out.subscriptions.append(sub)
        items = [_Item(self.ids.next("si"), recurring_price_id(tier, term, cur), float(seats), start)]
        if tier == "enterprise":
            items.append(_Item(self.ids.next("si"), metered_price_id(cur), None, start))
            items.append(_Item(self.ids.next("si"), setup_price_id(cur), 1.0, start))
        paid_start = start
        if trial:
            trial_end = start + dt.timedelta(days=14)
            sub["trial_start"], sub["trial_end"] = start, trial_end
            self._status(sub_id, "trialing", start, trial_end)
            if not converts:
                self._status(sub_id, "canceled", trial_end, None)
                for item in items:
                    self._close_item(sub_id, item, trial_end)
                if trial_end < self.horizon:
                    sub.update(status="canceled", canceled_at=trial_end, ended_at=trial_end)
                else:
                    sub.update(status="trialing", cancel_at=trial_end)
                return trial_end
            paid_start = trial_end
        if paid_start >= self.horizon:
            sub["status"] = "trialing"
            for item in items:
                self._close_item(sub_id, item, None)
            return None

        discount_pct = 0.0
        discount_end: dt.datetime | None = None
        discount_id: str | None = None
        if discount:
            discount_pct = float(r.choice((10, 20, 25, 50)))
            duration = r.choice(("forever", "repeating", "repeating"))
            n_months = r.choice((3, 6)) if duration == "repeating" else None
            discount_end = add_months(paid_start, n_months) if n_months else None
            discount_id = self.ids.next("di")
            self.out.discounts.append({
                "discount_id": discount_id, "subscription_id": sub_id, "coupon_id": f"coupon_{int(discount_pct)}_{duration}_{n_months or 0}",
                "percent_off": discount_pct, "duration": duration, "duration_in_months": n_months,
                "start": paid_start, "end": discount_end,
            })

        def pct_at(t: dt.datetime) -> float:
            return discount_pct if discount_pct and (discount_end is None or t < discount_end) else 0.0

        status_from = paid_start
        k = 0
        period_start = paid_start
        first_invoice = True
        paused_before = False
        ended: dt.datetime | None = None
        while period_start < self.horizon:
            period_end = add_months(paid_start, (k + 1) * months)
            sub["current_period_start"], sub["current_period_end"] = period_start, period_end
            if months == 1 and k >= 2 and not paused_before and r.random() < PAUSE_PER_PERIOD:
                paused_before = True
                n = r.choice((1, 2))
                pause_end = add_months(paid_start, k + n)
                self._status(sub_id, "active", status_from, period_start)
                self._status(sub_id, "paused", period_start, pause_end)
                status_from = pause_end
                if pause_end >= self.horizon:
                    sub["status"] = "paused"
                k += n
                period_start = pause_end
                continue
            if k >= 1 and months <= 3 and r.random() < UNPAID_PER_RENEWAL:
                subtotal = self._licensed_cents(items, pct_at(period_start))
                lines = self._licensed_lines(items, pct_at(period_start), period_start, period_end)
                invoice = self._invoice(cust, sub_id, period_start, period_end, subtotal, "subscription_cycle", paid=False,
                                        lines=lines, discount_id=discount_id)
                assert invoice is not None
                invoice["due_date"] = period_start
                for days in (0, 3, 7, 14):
                    self._charge(invoice, period_start + dt.timedelta(days=days, hours=1), "failed")
                self._status(sub_id, "active", status_from, period_start)
                cancel = period_start + PAST_DUE_UNTIL_CANCEL
                self._status(sub_id, "past_due", period_start, cancel)
                if cancel < self.horizon:
                    self._status(sub_id, "canceled", cancel, None)
                    invoice["status"] = "uncollectible"
                    sub.update(status="canceled", canceled_at=cancel, ended_at=cancel)
                    ended = cancel
                else:
                    sub["status"] = "past_due"
                for item in items:
                    self._close_item(sub_id, item, cancel)
                return ended
            # The period's invoice, billed in advance.
            subtotal = self._licensed_cents(items, pct_at(period_start))
            lines = self._licensed_lines(items, pct_at(period_start), period_start, period_end)
            if tier == "enterprise" and not first_invoice:
                usage = r.randrange(0, 20_000)  # metered API calls of the previous period
                subtotal += usage
                lines.append(_Line(items[1] if len(items) > 1 else None, metered_price_id(cur), None, usage, 0,
                                   add_months(period_start, -months), period_start, line_type="metered"))
            if first_invoice and tier == "enterprise":
                setup = self.catalog[setup_price_id(cur)].unit_amount_cents
                subtotal += setup
                lines.append(_Line(None, setup_price_id(cur), 1.0, setup, 0, period_start, period_start, line_type="invoiceitem"))
            self._invoice(cust, sub_id, period_start, period_end, subtotal,
                          "subscription_create" if first_invoice else "subscription_cycle", paid=True,
                          lines=lines, discount_id=discount_id)
            first_invoice = False
            # Cancellation requested during the period takes effect at its end.
            cancel_at: dt.datetime | None = None
            if r.random() < 1 - (1 - min(0.9, MONTHLY_CHURN[tier] * cust["churn_factor"])) ** months:
                cancel_at = self._rand_time(period_start, period_end)
            change_until = cancel_at or period_end
            change_times = sorted(
                self._rand_time(add_months(period_start, m), min(add_months(period_start, m + 1), period_end))
                for m in range(months) if r.random() < CHANGE_PER_MONTH
            )
            for t in change_times:
                if t >= change_until or t >= self.horizon:
                    break
                tier = self._change(cust, sub_id, items, tier, term, t, period_end, pct_at(t), discount_id)
            if cancel_at is not None:
                if cancel_at >= self.horizon:
                    break
                sub.update(cancel_at_period_end=True, canceled_at=cancel_at, cancel_at=period_end)
                self._status(sub_id, "active", status_from, period_end)
                if period_end < self.horizon:
                    self._status(sub_id, "canceled", period_end, None)
                    sub.update(status="canceled", ended_at=period_end, cancel_at=None)
                    ended = period_end
                for item in items:
                    self._close_item(sub_id, item, period_end)
                return ended
            k += 1
            period_start = period_end
        self._status(sub_id, sub["status"] if sub["status"] != "canceled" else "active", status_from, None)
        for item in items:
            self._close_item(sub_id, item, None)
        return None

    def _change(self, cust: dict[str, Any], sub_id: str, items: list[_Item], tier: str, term: str,
                t: dt.datetime, period_end: dt.datetime, pct: float, discount_id: str | None) -> str:
        """A mid-period seat or plan change at ``t``: closes the main item's version, opens a new one,
        and invoices the prorations at once (an increase is charged, a decrease credited)."""
        r = self.r
        main = items[0]
        old_cents = self._licensed_cents([main], pct)
        kind = r.random()
        new_tier, quantity = tier, main.quantity or 1.0
        tier_index = TIERS.index(tier)
        if kind < 0.45:
            quantity += r.randrange(1, 6)
        elif kind < 0.70:
            quantity = max(1.0, quantity - r.randrange(1, 4))
        elif kind < 0.88 and tier_index < len(TIERS) - 1:
            new_tier = TIERS[tier_index + 1]
        elif tier_index > 0 and not (term == "y2" and tier_index == 1):
            new_tier = TIERS[tier_index - 1]
        if new_tier == tier and quantity == main.quantity:
            return tier
        self._close_item(sub_id, main, t)
        items[0] = _Item(main.item_id, recurring_price_id(new_tier, term, cust["currency"]), quantity, t)
        new_cents = self._licensed_cents([items[0]], pct)
        remaining = (period_end - t) / (period_end - self._period_start_of(t, period_end, term))
        unused = self._licensed_lines([main], pct, t, period_end, remaining, sign=-1, proration=True)
        added = self._licensed_lines([items[0]], pct, t, period_end, remaining, proration=True)
        if new_cents > old_cents:
            subtotal = round((new_cents - old_cents) * remaining)
            reason = "subscription_update"
        else:
            subtotal = sum(line.amount - line.discount for line in unused + added)
            reason = "subscription_credit"
        # The existing subtotal rounds the net difference once; the last line absorbs the cent.
        added[-1].amount += subtotal - sum(line.amount - line.discount for line in unused + added)
        self._invoice(cust, sub_id, t, period_end, subtotal, reason, paid=True, lines=unused + added, discount_id=discount_id)
        return new_tier

    @staticmethod
    def _period_start_of(t: dt.datetime, period_end: dt.datetime, term: str) -> dt.datetime:
        return add_months(period_end, -TERMS[term][2])

    # -- one customer --------------------------------------------------------
    def customer(self, cust: dict[str, Any]) -> None:
        """All subscriptions of a customer: the first, maybe a concurrent second one, maybe a reactivation."""
        r = self.r
        ended = self.subscription(
            cust, cust["created"], cust["tier"], cust["term"], int(cust["seats"]),
            trial=bool(cust["trial"]), converts=bool(cust["converts"]), discount=r.random() < DISCOUNT_SHARE,
        )
        if cust["converts"] and r.random() < SECOND_SUBSCRIPTION_SHARE:
            second_start = add_months(cust["created"], r.randrange(1, 10)) + dt.timedelta(hours=r.randrange(0, 72))
            if second_start < self.horizon and (ended is None or second_start < ended):
                self.subscription(cust, second_start, "starter", "m1", r.randrange(1, 4), trial=False, converts=True, discount=False)
        if cust["converts"] and ended is not None and r.random() < REACTIVATION_SHARE * cust["reactivation_factor"]:
            back = add_months(ended, r.randrange(2, 13)) + dt.timedelta(hours=r.randrange(0, 240))
            if back < self.horizon:
                self.subscription(cust, back, cust["tier"], "m1", int(cust["seats"]), trial=False, converts=True, discount=False)


def simulate_billing(r: random.Random, customers: pd.DataFrame, catalog: dict[str, Price], horizon: dt.datetime) -> BillingRecords:
    """Run the event simulation for every customer (rows of the population frame)."""
    sim = BillingSimulator(r, catalog, horizon)
    for cust in customers.to_dict("records"):
        cust["created"] = cust["created"].to_pydatetime()
        sim.customer(cust)
    return sim.out
