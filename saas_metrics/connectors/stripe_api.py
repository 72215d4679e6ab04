"""Stripe REST API -> the native billing records of docs/sources.md (then the billing mapper).

Objects: customers, prices (product expanded), subscriptions (``status=all``), invoices (with
their lines), charges, refunds (charge expanded for its customer) and events. Lists use cursor
pagination (``limit``, ``starting_after``, ``has_more``, ``data``); fact tables (invoices,
charges, refunds) are requested for the partition window only with ``created[gte]`` /
``created[lt]`` (the month's unix bounds); snapshots are extracted whole.

What the API does not hold, and how it is reconstructed:

- Item versions (price/quantity over time) and status history are not objects of the API.
  They are rebuilt from ``customer.subscription.created/updated/deleted/paused/resumed``
  events: each event's ``data.object`` is the subscription after the change at ``created``;
  a version (or status run) starts when an item appears or its price/quantity changes and
  ends at the next change, the item's removal or the cancellation. Stripe keeps events for
  30 days only, so a subscription whose events are gone gets a BASELINE history from its
  current state: each current item from its ``created`` to ``ended_at``; status trialing
  over the trial, then active (or its current status) until ``ended_at``, then canceled.
  Past-due spells, pauses and past price/quantity changes older than the event retention
  are lost: use the SQL replica (history mode) for full history.
- Discounts: current ``subscription.discount(s)`` plus ``customer.discount.*`` events
  (ended discounts older than the retention are lost).
- Invoice lines (``billing_invoice_lines``): every invoice of the account's WHOLE history (paged, no
  window: the revenue engine needs all of it) with all its lines (``/v1/invoices/{id}/lines`` when
  the embedded list ``has_more``), prorations included. Invoices never expire, so the invoice
  engine rebuilds the revenue history the 30-day event retention loses; subscriptions created
  before that retention get ``history_since`` (now - 30 days) so ``revenue.source=auto`` runs them
  on invoices.
- Invoice service period: the min/max ``period`` of its lines (Stripe's invoice-level
  ``period_start``/``period_end`` are the PREVIOUS usage period for subscription invoices);
  invoice-level fields only when it has no lines.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from saas_metrics.connectors.config import ConnectorsConfig, Credentials
from saas_metrics.connectors.http import ApiClient, SourceApiError, require_secret
from saas_metrics.connectors.native import NativeExtract, native_text

SYSTEM = "stripe"
AUTH_HINT = ("check STRIPE_API_KEY is a secret or restricted key (of the right account and mode) with read access to "
             "customers, products/prices, subscriptions, invoices, charges, refunds and events")

CUSTOMER_COLUMNS = ("id", "email", "name", "created", "currency", "address_country", "metadata_crm_company_id", "metadata_referred_by")
PRICE_COLUMNS = ("id", "product", "product_name", "nickname", "metadata_tier", "unit_amount", "currency", "type",
                 "recurring_interval", "recurring_interval_count", "recurring_usage_type", "billing_scheme", "active", "created")
SUBSCRIPTION_COLUMNS = ("id", "customer", "status", "created", "start_date", "trial_start", "trial_end", "cancel_at_period_end",
                        "cancel_at", "canceled_at", "ended_at", "current_period_start", "current_period_end", "collection_method",
                        "cancellation_details_reason", "cancellation_details_feedback", "cancellation_details_comment")
ITEM_COLUMNS = ("id", "subscription", "price", "quantity", "valid_from", "valid_to")
STATUS_COLUMNS = ("subscription", "status", "valid_from", "valid_to")
DISCOUNT_COLUMNS = ("id", "subscription", "coupon_id", "coupon_percent_off", "coupon_duration", "coupon_duration_in_months", "start", "end")
INVOICE_COLUMNS = ("id", "customer", "subscription", "status", "billing_reason", "created", "due_date", "status_transitions_paid_at",
                   "period_start", "period_end", "currency", "subtotal", "tax", "total", "amount_paid", "amount_due")
CHARGE_COLUMNS = ("id", "customer", "invoice", "amount", "currency", "status", "created", "failure_code", "refunded", "amount_refunded")
REFUND_COLUMNS = ("id", "charge", "customer", "amount", "currency", "status", "created", "reason")
INVOICE_LINE_COLUMNS = ("id", "invoice", "subscription", "subscription_item", "type", "proration", "price",
                        "price_recurring_interval", "price_recurring_interval_count", "price_recurring_usage_type",
                        "quantity", "amount", "discount_amounts", "discounts", "tax_amounts", "currency",
                        "period_start", "period_end")
#: Stripe keeps events for 30 days: older item and status history is rebuilt from the current state.
EVENT_RETENTION = dt.timedelta(days=30)

SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
                       "customer.subscription.paused", "customer.subscription.resumed")
DISCOUNT_EVENTS = ("customer.discount.created", "customer.discount.updated", "customer.discount.deleted")
TERMINAL_STATUSES = frozenset({"canceled", "incomplete_expired"})

#: Tables this connector serves.
TABLES = ("billing_customers", "billing_prices", "billing_subscriptions", "billing_subscription_items",
          "billing_subscription_status_history", "billing_discounts", "billing_invoices", "billing_payments", "billing_refunds",
          "billing_invoice_lines")


def stripe_client(config: ConnectorsConfig, credentials: Credentials, *, sleep: Callable[[float], None] = time.sleep) -> ApiClient:
    key = require_secret(SYSTEM, credentials.stripe_api_key, "STRIPE_API_KEY", "a Stripe secret or restricted key")
    return ApiClient(SYSTEM, config.stripe_base_url, headers={"Authorization": f"Bearer {key}"}, auth_hint=AUTH_HINT,
                     retry=config.retry, sleep=sleep)


def unix_bounds(start: dt.date | None, end: dt.date | None) -> dict[str, int]:
    """``created[gte]``/``created[lt]`` of a [start, end) window of first-of-month dates (UTC)."""
    params: dict[str, int] = {}
    if start is not None:
        params["created[gte]"] = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC).timestamp())
    if end is not None:
        params["created[lt]"] = int(dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC).timestamp())
    return params


def list_all(client: ApiClient, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100) -> list[dict[str, Any]]:
    """Every object of a Stripe list endpoint, following ``starting_after`` until ``has_more`` is false."""
    records: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = {**(params or {}), "limit": page_size, **({"starting_after": after} if after else {})}
        page = client.get(path, query)
        data = page.get("data") if isinstance(page, dict) else None
        if not isinstance(data, list):
            raise SourceApiError(SYSTEM, f"GET {path}: unexpected response (no 'data' list)")
        records.extend(data)
        if not page.get("has_more"):
            return records
        if not data:
            raise SourceApiError(SYSTEM, f"GET {path}: has_more without data; cannot continue the cursor")
        after = data[-1]["id"]


def _id(value: Any) -> Any:
    """The id of an expandable field (an id string or an expanded object)."""
    return value.get("id") if isinstance(value, dict) else value


def _iso(seconds: int | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


# --- plain objects -----------------------------------------------------------
def customer_row(c: Mapping[str, Any]) -> dict[str, Any]:
    metadata = c.get("metadata") or {}
    return {"id": c.get("id"), "email": c.get("email"), "name": c.get("name"), "created": c.get("created"),
            "currency": c.get("currency"), "address_country": (c.get("address") or {}).get("country"),
            "metadata_crm_company_id": metadata.get("crm_company_id"), "metadata_referred_by": metadata.get("referred_by")}


def price_row(p: Mapping[str, Any]) -> dict[str, Any]:
    product = p.get("product")
    recurring = p.get("recurring") or {}
    return {"id": p.get("id"), "product": _id(product), "product_name": product.get("name") if isinstance(product, dict) else None,
            "nickname": p.get("nickname"), "metadata_tier": (p.get("metadata") or {}).get("tier"),
            "unit_amount": p.get("unit_amount"), "currency": p.get("currency"), "type": p.get("type"),
            "recurring_interval": recurring.get("interval"), "recurring_interval_count": recurring.get("interval_count"),
            "recurring_usage_type": recurring.get("usage_type"), "billing_scheme": p.get("billing_scheme"),
            "active": p.get("active"), "created": p.get("created")}


def subscription_row(s: Mapping[str, Any], history_since: int | None = None) -> dict[str, Any]:
    """``history_since`` (unix): when the item and status history starts being known (the event
    retention start); set on subscriptions created before it."""
    row = {c: s.get(c) for c in SUBSCRIPTION_COLUMNS}
    row["customer"] = _id(s.get("customer"))
    created = s.get("created")
    if isinstance(created, dt.datetime):  # a replica's TIMESTAMP (naive UTC)
        created = created.replace(tzinfo=created.tzinfo or dt.UTC).timestamp()
    if history_since is not None and isinstance(created, int | float) and created < history_since:
        row["history_since"] = history_since
    details = s.get("cancellation_details") or {}  # the API nests it; a replica has the flat columns
    for part in ("reason", "feedback", "comment"):
        row[f"cancellation_details_{part}"] = details.get(part, row[f"cancellation_details_{part}"])
    return row


def _as_dict(value: Any) -> dict[str, Any]:
    """``value`` when the API expanded it into an object, else an empty one (an id string or null)."""
    return value if isinstance(value, dict) else {}


def invoice_line_row(line: Mapping[str, Any], invoice_id: str | None) -> dict[str, Any]:
    """A line item flattened (classic fields, or the ``parent``/``pricing`` layout of API versions >= 2025-03)."""
    parent = line.get("parent") or {}
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    price = _as_dict(line.get("price"))
    price_id = _id(line.get("price")) or ((line.get("pricing") or {}).get("price_details") or {}).get("price")
    recurring = price.get("recurring") or {}
    line_type = line.get("type") or {"subscription_item_details": "subscription",
                                      "invoice_item_details": "invoiceitem"}.get(parent.get("type") or "")
    taxes = line.get("tax_amounts") or line.get("taxes") or []
    period = line.get("period") or {}
    return {
        "id": line.get("id"), "invoice": _id(line.get("invoice")) or invoice_id,
        "subscription": _id(line.get("subscription")) or _id(details.get("subscription")),
        "subscription_item": _id(line.get("subscription_item")) or details.get("subscription_item"),
        "type": line_type, "proration": line.get("proration", details.get("proration")), "price": price_id,
        "price_recurring_interval": recurring.get("interval"), "price_recurring_interval_count": recurring.get("interval_count"),
        "price_recurring_usage_type": recurring.get("usage_type"), "quantity": line.get("quantity"),
        "amount": line.get("amount"), "discount_amounts": sum(d.get("amount", 0) for d in line.get("discount_amounts") or []),
        "discounts": ",".join(_id(d) or "" for d in line.get("discounts") or []) or None,
        "tax_amounts": sum(t.get("amount", 0) for t in taxes), "currency": line.get("currency"),
        "period_start": period.get("start"), "period_end": period.get("end"),
    }


def _bills_service(line: Mapping[str, Any]) -> bool:
    """A licensed subscription line: its period is the service period (a metered line bills the last one)."""
    price = _as_dict(line.get("price"))
    metered = (price.get("recurring") or {}).get("usage_type") == "metered"
    return line.get("type", "subscription") == "subscription" and not metered


def invoice_row(i: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    lines = [line for line in lines if _bills_service(line)] or lines
    periods = [line.get("period") or {} for line in lines]
    starts = [p["start"] for p in periods if p.get("start") is not None]
    ends = [p["end"] for p in periods if p.get("end") is not None]
    subscription = i.get("subscription")
    if subscription is None:  # API versions >= 2025-03: parent.subscription_details.subscription
        subscription = ((i.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    tax = i.get("tax")
    if tax is None and i.get("total_taxes") is not None:
        tax = sum(t.get("amount", 0) for t in i["total_taxes"])
    return {"id": i.get("id"), "customer": _id(i.get("customer")), "subscription": _id(subscription), "status": i.get("status"),
            "billing_reason": i.get("billing_reason"), "created": i.get("created"), "due_date": i.get("due_date"),
            "status_transitions_paid_at": (i.get("status_transitions") or {}).get("paid_at"),
            "period_start": min(starts) if starts else i.get("period_start"),
            "period_end": max(ends) if ends else i.get("period_end"),
            "currency": i.get("currency"), "subtotal": i.get("subtotal"), "tax": tax, "total": i.get("total"),
            "amount_paid": i.get("amount_paid"), "amount_due": i.get("amount_due")}


def plan_as_price(plan: Mapping[str, Any]) -> dict[str, Any]:
    """A legacy Plan object (``amount``, ``interval``, ``interval_count``, ``usage_type``; always recurring)
    in the Price object's shape, so items and lines that point at a plan have their price."""
    return {**plan, "unit_amount": plan.get("amount"), "type": "recurring",
            "recurring": {"interval": plan.get("interval"), "interval_count": plan.get("interval_count"),
                          "usage_type": plan.get("usage_type")}}


def charge_row(c: Mapping[str, Any]) -> dict[str, Any]:
    row = {col: c.get(col) for col in CHARGE_COLUMNS}
    row["customer"], row["invoice"] = _id(c.get("customer")), _id(c.get("invoice"))
    return row


def refund_row(r: Mapping[str, Any]) -> dict[str, Any]:
    charge = r.get("charge")
    return {"id": r.get("id"), "charge": _id(charge), "customer": _id(charge.get("customer")) if isinstance(charge, dict) else None,
            "amount": r.get("amount"), "currency": r.get("currency"), "status": r.get("status"), "created": r.get("created"),
            "reason": r.get("reason")}


# --- histories from events -----------------------------------------------------
def _items_of(subscription: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    items = (subscription.get("items") or {}).get("data") or []
    return {item["id"]: (_id(item.get("price") or item.get("plan")), item.get("quantity")) for item in items}


def _ordered(events: Iterable[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """Oldest first (the API lists newest first; same-second events keep the API's relative order)."""
    return sorted(reversed(list(events)), key=lambda e: e.get("created") or 0)


def _history_from_snapshots(sub_id: str, snapshots: list[tuple[int, Mapping[str, Any]]]) -> tuple[list[dict], list[dict]]:
    items: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    open_items: dict[str, dict[str, Any]] = {}
    open_status: dict[str, Any] | None = None
    for at, snap in snapshots:
        when = _iso(at)
        status = snap.get("status")
        if open_status is None or open_status["status"] != status:
            if open_status is not None:
                open_status["valid_to"] = when
            open_status = {"subscription": sub_id, "status": status, "valid_from": when, "valid_to": None}
            statuses.append(open_status)
        current = {} if status in TERMINAL_STATUSES else _items_of(snap)
        for item_id in list(open_items):
            version = open_items[item_id]
            if current.get(item_id) != (version["price"], version["quantity"]):
                version["valid_to"] = when
                del open_items[item_id]
        for item_id, (price, quantity) in current.items():
            if item_id not in open_items:
                version = {"id": item_id, "subscription": sub_id, "price": price, "quantity": quantity, "valid_from": when, "valid_to": None}
                open_items[item_id] = version
                items.append(version)
    return items, statuses


def _baseline_history(sub: Mapping[str, Any]) -> tuple[list[dict], list[dict]]:
    """Item versions and status runs of a subscription without events (see the module docstring)."""
    sub_id, status, ended = sub["id"], sub.get("status"), sub.get("ended_at")
    items = [{"id": item["id"], "subscription": sub_id, "price": _id(item.get("price") or item.get("plan")),
              "quantity": item.get("quantity"), "valid_from": _iso(item.get("created") or sub.get("start_date")), "valid_to": _iso(ended)}
             for item in (sub.get("items") or {}).get("data") or []]
    runs: list[tuple[str | None, int | None, int | None]] = []
    paid_from = sub.get("start_date")
    if sub.get("trial_start") is not None:
        trial_to = None if status == "trialing" else sub.get("trial_end")
        runs.append(("trialing", sub["trial_start"], trial_to))
        paid_from = sub.get("trial_end")
    if status in TERMINAL_STATUSES:
        if ended is None or paid_from is None or paid_from < ended:
            runs.append(("active", paid_from, ended))
        runs.append((status, ended, None))
    elif status != "trialing":
        runs.append((status, paid_from, None))
    statuses = [{"subscription": sub_id, "status": s, "valid_from": _iso(a), "valid_to": _iso(b)} for s, a, b in runs]
    return items, statuses


def subscription_histories(subscriptions: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(item version rows, status history rows) of every subscription: from its subscription events when the
    API still has any, else the baseline from its current state."""
    snapshots: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for event in _ordered(e for e in events if e.get("type") in SUBSCRIPTION_EVENTS):
        obj = (event.get("data") or {}).get("object") or {}
        if obj.get("id"):
            snapshots.setdefault(obj["id"], []).append((event["created"], obj))
    items: list[dict] = []
    statuses: list[dict] = []
    for sub in subscriptions:
        sub_items, sub_statuses = (_history_from_snapshots(sub["id"], snapshots[sub["id"]]) if sub["id"] in snapshots
                                   else _baseline_history(sub))
        items.extend(sub_items)
        statuses.extend(sub_statuses)
    return items, statuses


def discount_rows(subscriptions: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Discounts on subscriptions: current ones and those seen in ``customer.discount.*`` events (latest state wins)."""
    found: dict[str, Mapping[str, Any]] = {}
    for event in _ordered(e for e in events if e.get("type") in DISCOUNT_EVENTS):
        obj = (event.get("data") or {}).get("object") or {}
        if obj.get("id"):
            found[obj["id"]] = obj
    for sub in subscriptions:
        for discount in [sub.get("discount"), *(sub.get("discounts") or [])]:
            if isinstance(discount, dict) and discount.get("id"):
                found[discount["id"]] = {"subscription": sub["id"], **discount}
    rows = []
    for discount in found.values():
        # A customer-level discount has no subscription: passed on, it is quarantined with that reason (not_null).
        coupon = discount.get("coupon") or (discount.get("source") or {}).get("coupon") or {}
        rows.append({"id": discount["id"], "subscription": _id(discount.get("subscription")), "coupon_id": coupon.get("id"),
                     "coupon_percent_off": coupon.get("percent_off"), "coupon_duration": coupon.get("duration"),
                     "coupon_duration_in_months": coupon.get("duration_in_months"), "start": discount.get("start"),
                     "end": discount.get("end")})
    return rows


# --- extraction ------------------------------------------------------------------
#: ``fetch(path, params)`` -> every object of a Stripe list endpoint (``/v1/invoices`` with ``created[gte]`` /
#: ``created[lt]``, ``expand[]``, ``status``, ``types[]`` as the API takes them): the API itself, or a replica
#: holding the same objects (an Airbyte replica, saas_metrics.connectors.airbyte_replica)
Fetch = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]


def _invoices_with_lines(fetch: Fetch, start: dt.date | None, end: dt.date | None) -> list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]:
    out: list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = []
    for invoice in fetch("/v1/invoices", unix_bounds(start, end)):
        lines_list = invoice.get("lines") or {}
        lines: list[Mapping[str, Any]] = list(lines_list.get("data") or [])
        if lines_list.get("has_more"):
            lines = list(fetch(f"/v1/invoices/{invoice['id']}/lines", {}))
        out.append((invoice, lines))
    return out


def extract(table: str, client: ApiClient, start: dt.date | None, end: dt.date | None, *, page_size: int = 100) -> list[NativeExtract]:
    """The native records of ``table`` (facts: created in [start, end); snapshots: whole)."""
    return extract_objects(table, lambda path, params: list_all(client, path, params, page_size=page_size), start, end,
                           label=lambda path: f"stripe-api:{path}")


def extract_objects(table: str, fetch: Fetch, start: dt.date | None, end: dt.date | None, *,
                    label: Callable[[str], str], events_kept_since: int | None = None) -> list[NativeExtract]:
    """The native records of ``table`` from Stripe's API objects as ``fetch`` lists them; ``label(path)`` names
    the source in the lineage. Item and status histories before ``events_kept_since`` (unix seconds; default:
    the API's 30-day event retention) are baselines, so those subscriptions get it as ``history_since``."""
    def one(relative: str, columns: tuple[str, ...], rows: list[dict[str, Any]], path: str) -> list[NativeExtract]:
        return [NativeExtract(relative, columns, rows, label(path))]

    window = unix_bounds(start, end)
    if table == "billing_customers":
        return one("billing/customers.csv", CUSTOMER_COLUMNS, [customer_row(c) for c in fetch("/v1/customers", {})], "/v1/customers")
    if table == "billing_prices":
        prices = fetch("/v1/prices", {"expand[]": ["data.product"]})
        return one("billing/prices.csv", PRICE_COLUMNS, [price_row(p) for p in prices], "/v1/prices")
    if table == "billing_subscriptions":
        subs = fetch("/v1/subscriptions", {"status": "all"})
        since = events_kept_since or int((dt.datetime.now(dt.UTC) - EVENT_RETENTION).timestamp())
        return one("billing/subscriptions.csv", (*SUBSCRIPTION_COLUMNS, "history_since"),
                   [subscription_row(s, since) for s in subs], "/v1/subscriptions")
    if table in ("billing_subscription_items", "billing_subscription_status_history", "billing_discounts"):
        subs = fetch("/v1/subscriptions", {"status": "all"})
        types = DISCOUNT_EVENTS if table == "billing_discounts" else SUBSCRIPTION_EVENTS
        events = fetch("/v1/events", {"types[]": list(types)})
        if table == "billing_discounts":
            return one("billing/discounts.csv", DISCOUNT_COLUMNS, discount_rows(subs, events), "/v1/events+/v1/subscriptions")
        items, statuses = subscription_histories(subs, events)
        if table == "billing_subscription_items":
            return one("billing/subscription_items.csv", ITEM_COLUMNS, items, "/v1/events+/v1/subscriptions")
        return one("billing/subscription_status_history.csv", STATUS_COLUMNS, statuses, "/v1/events+/v1/subscriptions")
    if table == "billing_invoices":
        invoices = [invoice_row(i, ls) for i, ls in _invoices_with_lines(fetch, start, end)]
        return one("billing/invoices.csv", INVOICE_COLUMNS, invoices, "/v1/invoices")
    if table == "billing_invoice_lines":
        with_lines = _invoices_with_lines(fetch, None, None)  # the whole history, every time
        lines = [invoice_line_row(line, invoice.get("id")) for invoice, invoice_lines in with_lines for line in invoice_lines]
        return [*one("billing/invoice_lines.csv", INVOICE_LINE_COLUMNS, lines, "/v1/invoices"),
                *one("billing/invoices.csv", INVOICE_COLUMNS, [invoice_row(i, ls) for i, ls in with_lines], "/v1/invoices")]
    if table == "billing_payments":
        return one("billing/charges.csv", CHARGE_COLUMNS, [charge_row(c) for c in fetch("/v1/charges", window)], "/v1/charges")
    if table == "billing_refunds":
        refunds = fetch("/v1/refunds", {**window, "expand[]": ["data.charge"]})
        return one("billing/refunds.csv", REFUND_COLUMNS, [refund_row(r) for r in refunds], "/v1/refunds")
    raise KeyError(f"{SYSTEM}: no API extractor for table {table!r}; API tables: {list(TABLES)}")


__all__ = ["TABLES", "extract", "list_all", "native_text", "stripe_client", "subscription_histories", "unix_bounds"]
