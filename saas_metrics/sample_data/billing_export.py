"""Billing records -> Stripe-like native CSV frames (API field names flattened with
``_``, amounts in integer cents, unix-second timestamps, lower-case currency;
the item and status history tables use ISO timestamps like a history-mode sync)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from saas_metrics.sample_data.billing_sim import BillingRecords
from saas_metrics.sample_data.catalog import Price
from saas_metrics.sample_data.timeutil import unix


def _unix_col(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values).astype("datetime64[ns]")
    seconds = (stamps - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    return seconds.astype("Int64")


def _iso_col(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values).astype("datetime64[ns]")
    return stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(stamps.notna(), None)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def customers_csv(population: pd.DataFrame) -> pd.DataFrame:
    p = population
    return pd.DataFrame({
        "id": p["customer_id"],
        "email": p["billing_email"],
        "name": p["company_name"],
        "created": _unix_col(p["created"].astype(object)),
        "currency": p["currency"],
        "address_country": p["country"],
        "metadata_crm_company_id": p["crm_company_id"].where(p["crm_link_in_billing"], None),
        "metadata_referred_by": p["referred_by"],
    })


def prices_csv(catalog: dict[str, Price], created: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame([{
        "id": p.price_id, "product": p.product_id, "product_name": p.product_name, "nickname": p.nickname,
        "metadata_tier": p.tier, "unit_amount": p.unit_amount_cents, "currency": p.currency, "type": p.type,
        "recurring_interval": p.interval, "recurring_interval_count": p.interval_count,
        "recurring_usage_type": p.usage_type, "billing_scheme": "per_unit", "active": "true",
        "created": unix(created.to_pydatetime()),
    } for p in catalog.values()]).astype({"recurring_interval_count": "Int64"})


SUBSCRIPTION_COLUMNS = ["id", "customer", "status", "created", "start_date", "trial_start", "trial_end",
                        "cancel_at_period_end", "cancel_at", "canceled_at", "ended_at",
                        "current_period_start", "current_period_end", "collection_method"]


def subscriptions_csv(rec: BillingRecords) -> pd.DataFrame:
    s = pd.DataFrame(rec.subscriptions)
    out = pd.DataFrame({"id": s["subscription_id"], "customer": s["customer_id"], "status": s["status"]})
    for native in ("created", "start_date", "trial_start", "trial_end"):
        out[native] = _unix_col(s[native])
    out["cancel_at_period_end"] = s["cancel_at_period_end"].map({True: "true", False: "false"})
    for native in ("cancel_at", "canceled_at", "ended_at", "current_period_start", "current_period_end"):
        out[native] = _unix_col(s[native])
    ended = s["status"].eq("canceled")
    out["current_period_start"] = out["current_period_start"].where(~ended)
    out["current_period_end"] = out["current_period_end"].where(~ended)
    out["collection_method"] = "charge_automatically"
    return out[SUBSCRIPTION_COLUMNS]


def subscription_items_csv(items: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "id": items["item_id"], "subscription": items["subscription_id"], "price": items["price_id"],
        "quantity": items["quantity"].astype("Int64"),
        "valid_from": _iso_col(items["valid_from"].astype(object)),
        "valid_to": _iso_col(items["valid_to"].astype(object)),
    })


def status_history_csv(statuses: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "subscription": statuses["subscription_id"], "status": statuses["status"],
        "valid_from": _iso_col(statuses["valid_from"].astype(object)),
        "valid_to": _iso_col(statuses["valid_to"].astype(object)),
    })


def discounts_csv(discounts: pd.DataFrame) -> pd.DataFrame:
    columns = ["id", "subscription", "coupon_id", "coupon_percent_off", "coupon_duration", "coupon_duration_in_months", "start", "end"]
    if discounts.empty:
        return _frame([], columns)
    return pd.DataFrame({
        "id": discounts["discount_id"], "subscription": discounts["subscription_id"], "coupon_id": discounts["coupon_id"],
        "coupon_percent_off": discounts["percent_off"].round(2), "coupon_duration": discounts["duration"],
        "coupon_duration_in_months": discounts["duration_in_months"].astype("Int64"),
        "start": _unix_col(discounts["start"].astype(object)), "end": _unix_col(discounts["end"].astype(object)),
    })


def invoices_csv(rec: BillingRecords) -> pd.DataFrame:
    columns = ["id", "customer", "subscription", "status", "billing_reason", "created", "due_date",
               "status_transitions_paid_at", "period_start", "period_end", "currency", "subtotal", "tax", "total",
               "amount_paid", "amount_due"]
    if not rec.invoices:
        return _frame([], columns)
    i = pd.DataFrame(rec.invoices)
    return pd.DataFrame({
        "id": i["invoice_id"], "customer": i["customer_id"], "subscription": i["subscription_id"], "status": i["status"],
        "billing_reason": i["billing_reason"].replace("subscription_credit", "subscription_update"), "created": _unix_col(i["created"]), "due_date": _unix_col(i["due_date"]),
        "status_transitions_paid_at": _unix_col(i["paid_at"]), "period_start": _unix_col(i["period_start"]),
        "period_end": _unix_col(i["period_end"]), "currency": i["currency"], "subtotal": i["subtotal"], "tax": i["tax"],
        "total": i["total"], "amount_paid": i["amount_paid"], "amount_due": i["amount_due"],
    })


INVOICE_LINE_COLUMNS = ["id", "invoice", "subscription", "subscription_item", "type", "proration", "price",
                        "price_recurring_interval", "price_recurring_interval_count", "price_recurring_usage_type",
                        "quantity", "amount", "discount_amounts", "discounts", "tax_amounts", "currency",
                        "period_start", "period_end"]


def invoice_lines_csv(rec: BillingRecords, catalog: dict[str, Price]) -> pd.DataFrame:
    """Stripe invoice line items flattened: ``price_*`` from the expanded price, ``discount_amounts`` /
    ``tax_amounts`` as the sums of their amounts, ``discounts`` as comma-separated ids."""
    if not rec.invoice_lines:
        return _frame([], INVOICE_LINE_COLUMNS)
    lines = pd.DataFrame(rec.invoice_lines)
    price = lines["price_id"].map(catalog)
    return pd.DataFrame({
        "id": lines["line_id"], "invoice": lines["invoice_id"], "subscription": lines["subscription_id"],
        "subscription_item": lines["item_id"], "type": lines["type"],
        "proration": lines["proration"].map({True: "true", False: "false"}), "price": lines["price_id"],
        "price_recurring_interval": price.map(lambda p: p.interval),
        "price_recurring_interval_count": price.map(lambda p: p.interval_count).astype("Int64"),
        "price_recurring_usage_type": price.map(lambda p: p.usage_type),
        "quantity": lines["quantity"].astype("Int64"), "amount": lines["amount"], "discount_amounts": lines["discount"],
        "discounts": lines["discount_id"], "tax_amounts": lines["tax"], "currency": lines["currency"],
        "period_start": _unix_col(lines["period_start"]), "period_end": _unix_col(lines["period_end"]),
    })[INVOICE_LINE_COLUMNS]


def charges_csv(rec: BillingRecords) -> pd.DataFrame:
    columns = ["id", "customer", "invoice", "amount", "currency", "status", "created", "failure_code", "refunded", "amount_refunded"]
    if not rec.charges:
        return _frame([], columns)
    c = pd.DataFrame(rec.charges)
    return pd.DataFrame({
        "id": c["charge_id"], "customer": c["customer_id"], "invoice": c["invoice_id"], "amount": c["amount"],
        "currency": c["currency"], "status": c["status"], "created": _unix_col(c["created"]),
        "failure_code": c["failure_code"], "refunded": (c["amount_refunded"] >= c["amount"]) & (c["amount"] > 0),
        "amount_refunded": c["amount_refunded"],
    }).assign(refunded=lambda f: f["refunded"].map({True: "true", False: "false"}))


def refunds_csv(rec: BillingRecords) -> pd.DataFrame:
    columns = ["id", "charge", "amount", "currency", "status", "created", "reason"]
    if not rec.refunds:
        return _frame([], columns)
    r = pd.DataFrame(rec.refunds)
    return pd.DataFrame({
        "id": r["refund_id"], "charge": r["charge_id"], "amount": r["amount"], "currency": r["currency"],
        "status": r["status"], "created": _unix_col(r["created"]), "reason": r["reason"],
    })
