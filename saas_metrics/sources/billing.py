"""Stripe-like billing exports -> canonical billing tables.

Amounts are integer minor units (cents) in Stripe and become major units
(zero-decimal currencies such as JPY are not divided); currencies become upper
case; unix or ISO timestamps become naive UTC. Native files (docs/sources.md):
billing/customers.csv, prices.csv, subscriptions.csv, subscription_items.csv,
subscription_status_history.csv, discounts.csv, invoices.csv, charges.csv,
refunds.csv, the invoice line items invoice_lines.csv (optional) and the optional periods-style
import subscription_periods.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from saas_metrics.sources import schemas as s
from saas_metrics.sources.export_formats import ZERO_DECIMAL_CURRENCIES
from saas_metrics.sources.files import NativeTable, open_native, upper

SYSTEM = "billing"


def _major(t: NativeTable, column: str, target: str, currency: pd.Series) -> pd.Series:
    """Minor units -> major units of each row's currency."""
    minor = t.number(column, target)
    divisor = np.where(currency.isin(ZERO_DECIMAL_CURRENCIES).to_numpy(), 1.0, 100.0)
    return minor / divisor


def read_customers(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "billing/customers.csv", SYSTEM)
    if t is None:
        return s.BILLING_CUSTOMERS.empty_frame()
    return t.finish({
        "customer_id": t.text("id"), "email": t.text("email"), "company_name": t.text("name"),
        "country": upper(t.text("address_country", "country")), "currency": upper(t.text("currency", "currency")),
        "created_at": t.timestamp("created", "created_at"), "crm_company_id": t.text("metadata_crm_company_id"),
        "referred_by_customer_id": t.text("metadata_referred_by"),
    }, s.BILLING_CUSTOMERS)


def read_prices(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "billing/prices.csv", SYSTEM)
    if t is None:
        return s.BILLING_PRICES.empty_frame()
    currency = upper(t.text("currency", "currency"))
    return t.finish({
        "price_id": t.text("id"), "product_id": t.text("product"),
        "plan_name": t.text("product_name") if t.has("product_name") else t.text("nickname"),
        "plan_tier": t.text("metadata_tier"), "unit_amount": _major(t, "unit_amount", "unit_amount", currency),
        "currency": currency, "price_type": t.text("type"), "interval": t.text("recurring_interval"),
        "interval_count": t.integer("recurring_interval_count", "interval_count"),
        "usage_type": t.text("recurring_usage_type"),
    }, s.BILLING_PRICES)


def read_subscriptions(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "billing/subscriptions.csv", SYSTEM)
    if t is None:
        return s.BILLING_SUBSCRIPTIONS.empty_frame()
    return t.finish({
        "subscription_id": t.text("id"), "customer_id": t.text("customer"), "status": t.text("status"),
        "created_at": t.timestamp("created", "created_at"), "start_at": t.timestamp("start_date", "start_at"),
        "trial_start": t.timestamp("trial_start", "trial_start"), "trial_end": t.timestamp("trial_end", "trial_end"),
        "cancel_at_period_end": t.boolean("cancel_at_period_end", "cancel_at_period_end"),
        "cancel_at": t.timestamp("cancel_at", "cancel_at"), "canceled_at": t.timestamp("canceled_at", "canceled_at"),
        "ended_at": t.timestamp("ended_at", "ended_at"),
        "history_since": t.timestamp("history_since", "history_since") if t.has("history_since") else None,
        # Stripe cancellation_details (reason, feedback, comment), read when exported
        **{f"cancellation_{part}": t.text(f"cancellation_details_{part}") if t.has(f"cancellation_details_{part}") else None
           for part in ("reason", "feedback", "comment")},
    }, s.BILLING_SUBSCRIPTIONS)


def read_subscription_items(sources_dir: Path) -> pd.DataFrame:
    """Item version history; ``item_version_id`` = item id + '@' + valid_from as exported."""
    t = open_native(sources_dir, "billing/subscription_items.csv", SYSTEM)
    if t is None:
        return s.BILLING_SUBSCRIPTION_ITEMS.empty_frame()
    item_id, valid_from_text = t.text("id"), t.text("valid_from")
    version = item_id + "@" + valid_from_text.fillna("")
    return t.finish({
        "item_version_id": version.where(item_id.notna(), None), "item_id": item_id,
        "subscription_id": t.text("subscription"), "price_id": t.text("price"),
        "quantity": t.number("quantity", "quantity"), "valid_from": t.timestamp("valid_from", "valid_from"),
        "valid_to": t.timestamp("valid_to", "valid_to"),
    }, s.BILLING_SUBSCRIPTION_ITEMS)


def read_subscription_status_history(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "billing/subscription_status_history.csv", SYSTEM)
    if t is None:
        return s.BILLING_SUBSCRIPTION_STATUS_HISTORY.empty_frame()
    return t.finish({
        "subscription_id": t.text("subscription"), "status": t.text("status"),
        "valid_from": t.timestamp("valid_from", "valid_from"), "valid_to": t.timestamp("valid_to", "valid_to"),
    }, s.BILLING_SUBSCRIPTION_STATUS_HISTORY)


def read_discounts(sources_dir: Path) -> pd.DataFrame:
    """Percent-off discounts (amount-off coupons are not part of this export)."""
    t = open_native(sources_dir, "billing/discounts.csv", SYSTEM)
    if t is None:
        return s.BILLING_DISCOUNTS.empty_frame()
    return t.finish({
        "discount_id": t.text("id"), "subscription_id": t.text("subscription"),
        "percent_off": t.number("coupon_percent_off", "percent_off"),
        "start_at": t.timestamp("start", "start_at"), "end_at": t.timestamp("end", "end_at"),
    }, s.BILLING_DISCOUNTS)


def read_invoices(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "billing/invoices.csv", SYSTEM)
    if t is None:
        return s.BILLING_INVOICES.empty_frame()
    currency = upper(t.text("currency", "currency"))
    return t.finish({
        "invoice_id": t.text("id"), "customer_id": t.text("customer"), "subscription_id": t.text("subscription"),
        "status": t.text("status"), "created_at": t.timestamp("created", "created_at"),
        "due_at": t.timestamp("due_date", "due_at"), "paid_at": t.timestamp("status_transitions_paid_at", "paid_at"),
        "period_start": t.timestamp("period_start", "period_start"), "period_end": t.timestamp("period_end", "period_end"),
        "currency": currency, "subtotal": _major(t, "subtotal", "subtotal", currency), "tax": _major(t, "tax", "tax", currency),
        "total": _major(t, "total", "total", currency), "amount_paid": _major(t, "amount_paid", "amount_paid", currency),
    }, s.BILLING_INVOICES)


#: Canonical columns an invoice line takes from its invoice (invoices.csv).
_FROM_INVOICE = {"customer_id": "customer_id", "invoice_status": "status", "invoice_created_at": "created_at",
                 "invoice_due_at": "due_at", "invoice_paid_at": "paid_at"}


def read_invoice_lines(sources_dir: Path) -> pd.DataFrame:
    """Stripe invoice line items (``billing/invoice_lines.csv``, optional) with their invoice's customer,
    status and dates from invoices.csv. ``type`` subscription / invoiceitem; a subscription line whose
    price is metered (``price_recurring_usage_type``) becomes ``metered``. ``discount_amounts`` and
    ``tax_amounts`` are flattened to their sums, ``discounts`` to comma-separated ids."""
    t = open_native(sources_dir, "billing/invoice_lines.csv", SYSTEM, optional=True)
    if t is None:
        return s.BILLING_INVOICE_LINES.empty_frame()
    currency = upper(t.text("currency"))
    line_type = t.text("type").str.lower()
    if t.has("price_recurring_usage_type"):
        metered = t.text("price_recurring_usage_type").str.lower().eq("metered").fillna(False).astype(bool)
        line_type = line_type.mask(metered & line_type.eq("subscription").fillna(False).astype(bool), "metered")
    optional = {
        "interval": t.text("price_recurring_interval") if t.has("price_recurring_interval") else None,
        "interval_count": t.integer("price_recurring_interval_count", "interval_count")
        if t.has("price_recurring_interval_count") else None,
        "discount_ids": t.text("discounts") if t.has("discounts") else None,
        "tax": _major(t, "tax_amounts", "tax", currency) if t.has("tax_amounts") else None,
    }
    invoice_id = t.text("invoice")
    frame = t.finish({
        "line_id": t.text("id"), "invoice_id": invoice_id, "customer_id": None,
        "subscription_id": t.text("subscription"), "item_id": t.text("subscription_item"), "price_id": t.text("price"),
        "quantity": t.number("quantity", "quantity"), "amount": _major(t, "amount", "amount", currency),
        "discount_amount": _major(t, "discount_amounts", "discount_amount", currency), **optional,
        "currency": currency, "period_start": t.timestamp("period_start", "period_start"),
        "period_end": t.timestamp("period_end", "period_end"), "proration": t.boolean("proration", "proration"),
        "line_type": line_type, "invoice_status": None, "invoice_created_at": None, "invoice_due_at": None,
        "invoice_paid_at": None,
    }, s.BILLING_INVOICE_LINES)
    if (Path(sources_dir) / "billing/invoices.csv").is_file() and len(frame):
        invoices = read_invoices(sources_dir).drop_duplicates("invoice_id").set_index("invoice_id")
        for target, column in _FROM_INVOICE.items():
            frame[target] = frame["invoice_id"].map(invoices[column]).astype(frame[target].dtype)
    return frame


def read_payments(sources_dir: Path) -> pd.DataFrame:
    """Stripe charges -> billing_payments."""
    t = open_native(sources_dir, "billing/charges.csv", SYSTEM)
    if t is None:
        return s.BILLING_PAYMENTS.empty_frame()
    currency = upper(t.text("currency", "currency"))
    return t.finish({
        "payment_id": t.text("id"), "customer_id": t.text("customer"), "invoice_id": t.text("invoice"),
        "amount": _major(t, "amount", "amount", currency), "currency": currency, "status": t.text("status"),
        "created_at": t.timestamp("created", "created_at"),
    }, s.BILLING_PAYMENTS)


def read_refunds(sources_dir: Path) -> pd.DataFrame:
    """Refunds; the customer comes from the refunded charge (charges.csv) when the export lacks it."""
    t = open_native(sources_dir, "billing/refunds.csv", SYSTEM)
    if t is None:
        return s.BILLING_REFUNDS.empty_frame()
    currency = upper(t.text("currency", "currency"))
    charge_id = t.text("charge")
    if t.has("customer"):
        customer = t.text("customer")
    else:
        charges_path = Path(sources_dir) / "billing/charges.csv"
        customer_of_charge: dict[str, str] = {}
        if charges_path.is_file():
            charges = NativeTable(pd.read_csv(charges_path, dtype=str, keep_default_na=False, usecols=lambda c: c in ("id", "customer")),
                                  source_file="billing/charges.csv")
            pairs = pd.DataFrame({"id": charges.text("id"), "customer": charges.text("customer")}).dropna()
            customer_of_charge = dict(zip(pairs["id"], pairs["customer"], strict=True))
        customer = charge_id.map(lambda c: customer_of_charge.get(c) if isinstance(c, str) else None)
    return t.finish({
        "refund_id": t.text("id"), "payment_id": charge_id, "customer_id": customer,
        "amount": _major(t, "amount", "amount", currency), "currency": currency, "status": t.text("status"),
        "created_at": t.timestamp("created", "created_at"),
    }, s.BILLING_REFUNDS)


def read_subscription_periods(sources_dir: Path) -> pd.DataFrame:
    """Optional periods-style import (``billing/subscription_periods.csv``, or ``subscription_periods.csv``
    directly in the sources folder): subscription_id, customer_id, start_date, end_date (exclusive,
    empty = active), monthly_amount (major units), optional currency (missing -> null; the revenue
    code uses the reporting currency), plan_id. Absent file -> empty, no warning."""
    relative = "billing/subscription_periods.csv"
    if not (Path(sources_dir) / relative).is_file() and (Path(sources_dir) / "subscription_periods.csv").is_file():
        relative = "subscription_periods.csv"
    t = open_native(sources_dir, relative, SYSTEM, optional=True)
    if t is None:
        return s.BILLING_SUBSCRIPTION_PERIODS.empty_frame()
    return t.finish({
        "subscription_id": t.text("subscription_id"), "customer_id": t.text("customer_id"),
        "start_date": t.date("start_date", "start_date"), "end_date": t.date("end_date", "end_date"),
        "monthly_amount": t.number("monthly_amount", "monthly_amount"),
        "currency": upper(t.text("currency", "currency")) if t.has("currency") else None,
        "plan_id": t.text("plan_id") if t.has("plan_id") else None,
    }, s.BILLING_SUBSCRIPTION_PERIODS)
