"""Stripe and HubSpot read from a SQL replica in the Fivetran/Airbyte layout -> native records -> canonical.

Tables (schema ``stripe_schema`` / ``hubspot_schema`` of ``sql_replica_url``; rows with
``_fivetran_deleted`` true are not loaded but counted, see ``Replica.excluded``; timestamps are TIMESTAMP columns, amounts integer cents):

Stripe: ``customer`` (id, email, name, created, currency, address_country, metadata JSON with
crm_company_id / referred_by), ``price`` (+ ``product`` for names; metadata JSON with tier),
``subscription_history`` (history mode: _fivetran_start/_fivetran_end/_fivetran_active) or
``subscription``, ``subscription_item`` (history mode or not; price_id or plan_id), ``discount``
(id, subscription_id, coupon_id, start, end) + ``coupon``, ``invoice`` (+ ``invoice_line_item``
periods), ``charge``, ``refund`` (customer from its charge); ``invoice_line_item`` (id, invoice_id,
subscription_id, subscription_item_id, type, proration, price_id or plan_id, quantity, amount,
currency, period_start, period_end; metered from the price) is also billing_invoice_lines, whole history.

HubSpot: ``contact``, ``company``, ``deal`` (+ ``deal_company``, ``deal_contact``) with
``property_<name>`` columns, ``contact_form_submission``, ``engagement_meeting`` (+
``engagement_contact``) and ``contact_property_history`` (lifecycle-stage dates when the
``hs_lifecyclestage_<stage>_date`` properties are empty: the first time the stage was set).

History: in history mode a version's bounds are the SYNC times at which the replica saw the change
(``_fivetran_start``), not Stripe's effective times: they are as precise as the sync frequency.
Consecutive versions with the same price and quantity are merged (a change of another column, e.g.
metadata, is not a new item version). Without history mode, items and statuses get the same
baseline as the Stripe API connector (current item from its creation to the subscription's end).
Fact tables (invoices, charges, refunds, form submissions, meetings) are selected for the window in SQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from saas_metrics.connectors import hubspot_api, stripe_api
from saas_metrics.connectors.native import NativeExtract

TABLES = ("billing_customers", "billing_prices", "billing_subscriptions", "billing_subscription_items",
          "billing_subscription_status_history", "billing_discounts", "billing_invoices", "billing_payments",
          "billing_refunds", "billing_invoice_lines", "crm_contacts", "crm_companies", "crm_deals", "crm_form_submissions", "crm_meetings")
LIFECYCLE_STAGES = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")


class ReplicaError(RuntimeError):
    """The replica lacks a table the mapping needs."""


def _props(names: Sequence[str], id_column: str) -> dict[str, tuple[str, ...]]:
    return {name: (id_column,) if name == "hs_object_id" else (f"property_{name}",) for name in names}


#: canonical table -> the replica table its rows are read from, where REPLICA_COLUMNS does not say it
PRIMARY_TABLES = {"billing_subscription_status_history": "subscription_history"}
_STAGE_DATES = tuple(f"hs_lifecyclestage_{stage}_date" for stage in LIFECYCLE_STAGES)
#: canonical table -> (replica table, {native column: replica columns any of which provides it}). A native
#: column none of whose replica columns exists is left out of the landed file, so the one reader of the
#: table decides whether it is optional (null + warning) or required (the table stops), as for a file
#: (saas_metrics.sources.drift). Columns computed from other tables (product names, invoice periods,
#: item histories) are not listed.
REPLICA_COLUMNS: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "billing_customers": ("customer", {c: (c,) for c in ("id", "email", "name", "created", "currency", "address_country")}),
    "billing_prices": ("price", {c: (c,) for c in ("id", "unit_amount", "currency", "type", "recurring_interval",
                                                   "recurring_interval_count", "recurring_usage_type")}),
    "billing_subscriptions": ("subscription_history", {
        **{c: (c,) for c in ("id", "status", "created", "start_date", "trial_start", "trial_end", "cancel_at_period_end",
                             "cancel_at", "canceled_at", "ended_at")}, "customer": ("customer_id",)}),
    "billing_subscription_items": ("subscription_item", {"id": ("id",), "subscription": ("subscription_id",),
                                                         "price": ("price_id", "plan_id"), "quantity": ("quantity",)}),
    "billing_discounts": ("discount", {"id": ("id",), "subscription": ("subscription_id",), "start": ("start",), "end": ("end",)}),
    "billing_invoices": ("invoice", {
        **{c: (c,) for c in ("id", "status", "created", "due_date", "status_transitions_paid_at", "currency", "subtotal", "tax",
                             "total", "amount_paid")}, "customer": ("customer_id",), "subscription": ("subscription_id",)}),
    "billing_invoice_lines": ("invoice_line_item", {
        **{c: (c,) for c in ("amount", "currency", "quantity", "period_start", "period_end", "proration")},
        "id": ("id", "unique_id"), "invoice": ("invoice_id",), "subscription": ("subscription_id",),
        "price": ("price_id", "plan_id")}),
    "billing_payments": ("charge", {**{c: (c,) for c in ("id", "amount", "currency", "status", "created")},
                                    "customer": ("customer_id",), "invoice": ("invoice_id",)}),
    "billing_refunds": ("refund", {**{c: (c,) for c in ("id", "amount", "currency", "status", "created")}, "charge": ("charge_id",)}),
    "crm_contacts": ("contact", {**_props(hubspot_api.CONTACT_COLUMNS, "id"),
                                 # stage dates also come from the property history table
                                 **{c: (f"property_{c}", "@contact_property_history") for c in _STAGE_DATES}}),
    "crm_companies": ("company", _props(hubspot_api.COMPANY_COLUMNS, "id")),
    "crm_deals": ("deal", {**_props(hubspot_api.DEAL_PROPERTIES, "deal_id"),
                           "dealstage": ("property_dealstage", "deal_pipeline_stage_id")}),
    "crm_form_submissions": ("contact_form_submission", {"conversion_id": ("conversion_id",), "contact_id": ("contact_id",),
                                                         "form_title": ("title",), "submitted_at": ("timestamp",),
                                                         "page_url": ("page_url",)}),
    "crm_meetings": ("engagement_meeting", _props(hubspot_api.MEETING_PROPERTIES, "engagement_id")),
}


class Replica:
    """Reads of one schema of the replica database."""

    def __init__(self, engine: sa.Engine, schema: str | None, system: str) -> None:
        self.engine, self.schema, self.system = engine, schema, system
        self._inspector = sa.inspect(engine)
        #: (replica table, exclusion rule) -> rows read but not passed on (saas_metrics.quality.accounting)
        self.excluded: dict[tuple[str, str], int] = {}

    def exclude(self, table: str, rule: str, rows: int) -> None:
        self.excluded[(table, rule)] = self.excluded.get((table, rule), 0) + rows

    def has(self, table: str) -> bool:
        return self._inspector.has_table(table, schema=self.schema)

    def columns(self, table: str) -> set[str]:
        return {c["name"].lower() for c in self._inspector.get_columns(table, schema=self.schema)}

    def read(self, table: str, *, time_column: str | None = None, start: dt.date | None = None,
             end: dt.date | None = None, required: bool = True) -> pd.DataFrame | None:
        """Rows of ``table`` not deleted, restricted to [start, end) on ``time_column`` (in SQL)."""
        if not self.has(table):
            if required:
                where = f"schema {self.schema!r}" if self.schema else "the default schema"
                raise ReplicaError(f"{self.system} replica: table {table!r} not found in {where}")
            return None
        t = sa.Table(table, sa.MetaData(), schema=self.schema, autoload_with=self.engine)
        query, deleted = sa.select(t), sa.select(sa.func.count()).select_from(t)
        flags = [t.c[flag] for flag in ("_fivetran_deleted", "is_deleted") if flag in t.c]
        for flag in flags:
            query = query.where(sa.or_(flag.is_(None), flag.is_(False)))
        if time_column is not None and time_column in t.c:  # without it the table fails its schema check
            if start is not None:
                query = query.where(t.c[time_column] >= dt.datetime(start.year, start.month, start.day))
                deleted = deleted.where(t.c[time_column] >= dt.datetime(start.year, start.month, start.day))
            if end is not None:
                query = query.where(t.c[time_column] < dt.datetime(end.year, end.month, end.day))
                deleted = deleted.where(t.c[time_column] < dt.datetime(end.year, end.month, end.day))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            if flags:  # counted, never silently gone (source_row_accounting)
                self.excluded[(table, "soft_deleted")] = conn.execute(deleted.where(sa.or_(*(f.is_(True) for f in flags)))).scalar_one()
        return pd.DataFrame([dict(r) for r in rows], columns=list(t.c.keys()), dtype=object)


class _Record(dict):
    """A replica row: a column the replica lacks reads as None (reported by the table's reader), never a KeyError."""

    def __missing__(self, key: str) -> None:
        return None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    def clean(v: Any) -> Any:
        if v is None or v is pd.NaT or (isinstance(v, float) and v != v):
            return None
        return v.to_pydatetime() if isinstance(v, pd.Timestamp) else v
    return [_Record({k: clean(v) for k, v in row.items()}) for row in frame.to_dict("records")]


def absent_columns(table: str, r: Replica) -> tuple[str, ...]:
    """Native columns of ``table`` that none of their replica columns provides (:data:`REPLICA_COLUMNS`)."""
    if table not in REPLICA_COLUMNS:
        return ()
    replica_table, sources = REPLICA_COLUMNS[table]
    if replica_table == "subscription_history" and not r.has(replica_table):
        replica_table = "subscription"
    if not r.has(replica_table):
        return ()
    columns = r.columns(replica_table)

    def provided(source: str) -> bool:
        return r.has(source[1:]) if source.startswith("@") else source.lower() in columns

    return tuple(native for native, options in sources.items() if not any(provided(o) for o in options))


def _metadata(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _unix(value: Any) -> int | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(stamp.value // 1_000_000_000)


# --- Stripe ------------------------------------------------------------------------
def _current_subscriptions(r: Replica) -> list[dict[str, Any]]:
    if r.has("subscription_history") and "_fivetran_active" in r.columns("subscription_history"):
        history = _records(r.read("subscription_history"))
        active = [row for row in history if row.get("_fivetran_active")]
        r.excluded[("subscription_history", "inactive_history")] = len(history) - len(active)
        return active
    return _records(r.read("subscription"))


def _status_history(r: Replica) -> list[dict[str, Any]]:
    if not (r.has("subscription_history") and "_fivetran_start" in r.columns("subscription_history")):
        return _baselines(r)[1]
    rows = sorted(_records(r.read("subscription_history")), key=lambda x: (x["id"], x["_fivetran_start"]))
    out: list[dict[str, Any]] = []
    for row in rows:
        last = out[-1] if out else None
        if last is not None and last["subscription"] == row["id"] and last["status"] == row["status"]:
            r.exclude("subscription_history", "inactive_history", 1)  # the same status again: one version
            continue
        if last is not None and last["subscription"] == row["id"]:
            last["valid_to"] = row["_fivetran_start"]
        out.append({"subscription": row["id"], "status": row["status"], "valid_from": row["_fivetran_start"], "valid_to": None})
    return out


def _item_versions(r: Replica) -> list[dict[str, Any]]:
    columns = r.columns("subscription_item")
    if "_fivetran_start" not in columns:
        return _baselines(r)[0]
    price_col = "price_id" if "price_id" in columns else "plan_id"
    rows = sorted(_records(r.read("subscription_item")), key=lambda x: (x["id"], x["_fivetran_start"]))
    out: list[dict[str, Any]] = []
    for row in rows:
        valid_to = None if row.get("_fivetran_active") else row.get("_fivetran_end")
        last = out[-1] if out else None
        if (last is not None and last["id"] == row["id"] and (last["price"], last["quantity"]) == (row[price_col], row["quantity"])
                and last["valid_to"] == row["_fivetran_start"]):
            last["valid_to"] = valid_to
            r.exclude("subscription_item", "inactive_history", 1)  # merged into the version before it
            continue
        out.append({"id": row["id"], "subscription": row["subscription_id"], "price": row[price_col],
                    "quantity": row["quantity"], "valid_from": row["_fivetran_start"], "valid_to": valid_to})
    return out


def _baselines(r: Replica) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Stripe-API-shaped current subscriptions and items -> the API connector's baseline histories."""
    item_frame = r.read("subscription_item")
    assert item_frame is not None  # a required table raises when absent
    price_col = "price_id" if "price_id" in item_frame.columns else "plan_id"
    items_of: dict[str, list[dict[str, Any]]] = {}
    for item in _records(item_frame):
        items_of.setdefault(item["subscription_id"], []).append(
            {"id": item["id"], "price": item[price_col], "quantity": item["quantity"], "created": _unix(item.get("created"))})
    subs = []
    for s in _current_subscriptions(r):
        subs.append({"id": s["id"], "status": s["status"], "items": {"data": items_of.pop(s["id"], [])},
                     **{k: _unix(s.get(k)) for k in ("start_date", "trial_start", "trial_end", "ended_at")}})
    items, statuses = stripe_api.subscription_histories(subs, [])
    # Items of a subscription the replica does not have are passed on as they are (the reference
    # rule quarantines them with the reason), never dropped.
    for subscription, orphans in items_of.items():
        items.extend({"id": i["id"], "subscription": subscription, "price": i["price"], "quantity": i["quantity"],
                      "valid_from": i["created"], "valid_to": None} for i in orphans)
    return items, statuses


def _legacy_plans(plans: pd.DataFrame | None, products: dict[str, Any], known: set[str]) -> list[dict[str, Any]]:
    """Fivetran's legacy ``plan`` table (Stripe's Plans API: ``amount``, ``interval``, ``interval_count``,
    ``usage_type``) as price rows, for the plans the ``price`` table does not hold: subscription items
    that point at a plan (``plan_id``) then have their price."""
    rows = []
    for p in _records(plans) if plans is not None else []:
        if p.get("id") in known:
            continue
        product = products.get(p.get("product_id") or "") or {"id": p.get("product_id")}
        rows.append(stripe_api.price_row({
            **p, "unit_amount": p.get("amount"), "type": "recurring", "product": product,
            "metadata": _metadata(p.get("metadata")),
            "recurring": {"interval": p.get("interval"), "interval_count": p.get("interval_count"),
                          "usage_type": p.get("usage_type")}}))
    return rows


def _line_items(r: Replica) -> list[dict[str, Any]]:
    """``invoice_line_item`` rows in the API's line item shape (the price's recurring part from ``price``)."""
    lines = r.read("invoice_line_item", required=False)
    if lines is None:
        return []
    price_frame = r.read("price", required=False)
    prices = {} if price_frame is None else {p["id"]: p for p in _records(price_frame)}
    out = []
    for line in _records(lines):
        price_id = line.get("price_id") or line.get("plan_id")
        price = prices.get(price_id, {})
        recurring = {"interval": price.get("recurring_interval"), "interval_count": price.get("recurring_interval_count"),
                     "usage_type": price.get("recurring_usage_type")} if price.get("recurring_interval") else None
        out.append({**line, "invoice": line.get("invoice_id"), "subscription": line.get("subscription_id"),
                    "subscription_item": line.get("subscription_item_id"), "type": line.get("type") or "subscription",
                    "price": {"id": price_id, "recurring": recurring} if price_id else None,
                    "period": {"start": line.get("period_start"), "end": line.get("period_end")}})
    return out


def _invoices(r: Replica, start: dt.date | None, end: dt.date | None) -> list[dict[str, Any]]:
    invoices = _records(r.read("invoice", time_column="created", start=start, end=end))
    lines_of: dict[str, list[dict[str, Any]]] = {}
    for line in _line_items(r):
        lines_of.setdefault(line["invoice_id"], []).append(line)
    rows = []
    for inv in invoices:
        row = stripe_api.invoice_row({**inv, "customer": inv.get("customer_id"), "subscription": inv.get("subscription_id"),
                                      "status_transitions": {"paid_at": inv.get("status_transitions_paid_at")}},
                                     lines_of.get(inv["id"], []))
        rows.append(row)
    return rows


def _discounts(r: Replica) -> list[dict[str, Any]]:
    coupons = {c["id"]: c for c in _records(r.read("coupon"))}
    rows = []
    for d in _records(r.read("discount")):
        coupon = coupons.get(d.get("coupon_id"), {})
        rows.append({"id": d["id"], "subscription": d.get("subscription_id"), "coupon_id": d.get("coupon_id"),
                     "coupon_percent_off": coupon.get("percent_off"), "coupon_duration": coupon.get("duration"),
                     "coupon_duration_in_months": coupon.get("duration_in_months"), "start": d.get("start"), "end": d.get("end")})
    # A discount on a customer (no subscription) is passed on: the not_null rule quarantines it with the reason.
    return rows


def _stripe(table: str, r: Replica, start: dt.date | None, end: dt.date | None) -> list[NativeExtract]:
    def one(relative: str, columns: Sequence[str], rows: list[dict[str, Any]], source: str) -> list[NativeExtract]:
        return [NativeExtract(relative, columns, rows, f"stripe-replica:{r.schema or ''}.{source}")]

    if table == "billing_customers":
        rows = [stripe_api.customer_row({**c, "address": {"country": c.get("address_country")}, "metadata": _metadata(c.get("metadata"))})
                for c in _records(r.read("customer"))]
        return one("billing/customers.csv", stripe_api.CUSTOMER_COLUMNS, rows, "customer")
    if table == "billing_prices":
        product_frame = r.read("product", required=False)
        products = {} if product_frame is None else {p["id"]: p for p in _records(product_frame)}
        price_frame, plan_frame = r.read("price", required=False), r.read("plan", required=False)
        if price_frame is None and plan_frame is None:
            r.read("price")  # neither table: the named "not found" error
        rows = []
        for p in _records(price_frame) if price_frame is not None else []:
            product = products.get(p.get("product_id") or "") or {"id": p.get("product_id")}
            rows.append(stripe_api.price_row({**p, "product": product, "metadata": _metadata(p.get("metadata")), "recurring": {
                "interval": p.get("recurring_interval"), "interval_count": p.get("recurring_interval_count"),
                "usage_type": p.get("recurring_usage_type")}}))
        rows += _legacy_plans(plan_frame, products, {row["id"] for row in rows})
        return one("billing/prices.csv", stripe_api.PRICE_COLUMNS, rows, "price" if price_frame is not None else "plan")
    if table == "billing_subscriptions":
        # Without history mode on subscription_item the item history is a baseline known from now on only.
        since = None if "_fivetran_start" in r.columns("subscription_item") else int(dt.datetime.now(dt.UTC).timestamp())
        rows = [stripe_api.subscription_row({**s, "customer": s.get("customer_id")}, since) for s in _current_subscriptions(r)]
        return one("billing/subscriptions.csv", (*stripe_api.SUBSCRIPTION_COLUMNS, "history_since"), rows, "subscription_history")
    if table == "billing_subscription_items":
        return one("billing/subscription_items.csv", stripe_api.ITEM_COLUMNS, _item_versions(r), "subscription_item")
    if table == "billing_subscription_status_history":
        return one("billing/subscription_status_history.csv", stripe_api.STATUS_COLUMNS, _status_history(r), "subscription_history")
    if table == "billing_discounts":
        return one("billing/discounts.csv", stripe_api.DISCOUNT_COLUMNS, _discounts(r), "discount")
    if table == "billing_invoices":
        return one("billing/invoices.csv", stripe_api.INVOICE_COLUMNS, _invoices(r, start, end), "invoice")
    if table == "billing_invoice_lines":
        lines = [stripe_api.invoice_line_row(line, line.get("invoice_id")) for line in _line_items(r)]
        return [*one("billing/invoice_lines.csv", stripe_api.INVOICE_LINE_COLUMNS, lines, "invoice_line_item"),
                *one("billing/invoices.csv", stripe_api.INVOICE_COLUMNS, _invoices(r, None, None), "invoice")]
    if table == "billing_payments":
        rows = [stripe_api.charge_row({**c, "customer": c.get("customer_id"), "invoice": c.get("invoice_id")})
                for c in _records(r.read("charge", time_column="created", start=start, end=end))]
        return one("billing/charges.csv", stripe_api.CHARGE_COLUMNS, rows, "charge")
    if table == "billing_refunds":
        customer_of = {c["id"]: c.get("customer_id") for c in _records(r.read("charge"))}
        rows = [stripe_api.refund_row({**x, "charge": {"id": x.get("charge_id"), "customer": customer_of.get(x.get("charge_id"))}})
                for x in _records(r.read("refund", time_column="created", start=start, end=end))]
        return one("billing/refunds.csv", stripe_api.REFUND_COLUMNS, rows, "refund")
    raise KeyError(table)


# --- HubSpot ---------------------------------------------------------------------
def _properties(row: dict[str, Any], names: Sequence[str], id_column: str) -> dict[str, Any]:
    out = {name: row.get(f"property_{name}") for name in names}
    if "hs_object_id" in out:
        out["hs_object_id"] = row.get(id_column)
    return out


def _first(pairs: pd.DataFrame | None, key: str, value: str) -> dict[Any, Any]:
    """key -> the smallest associated value (deterministic 'first' association)."""
    if pairs is None or pairs.empty:
        return {}
    first = pairs.dropna(subset=[key, value]).sort_values([key, value]).drop_duplicates(key)
    return dict(zip(first[key], first[value], strict=True))


def _stage_dates_from_history(r: Replica) -> dict[tuple[Any, str], Any]:
    history = r.read("contact_property_history", required=False)
    if history is None or history.empty:
        return {}
    stages = history[history["name"] == "lifecyclestage"].sort_values("timestamp")
    return {(row["contact_id"], row["value"]): row["timestamp"] for row in _records(stages.drop_duplicates(["contact_id", "value"]))}


def _hubspot(table: str, r: Replica, start: dt.date | None, end: dt.date | None) -> list[NativeExtract]:
    def one(relative: str, columns: Sequence[str], rows: list[dict[str, Any]], source: str) -> list[NativeExtract]:
        return [NativeExtract(relative, columns, rows, f"hubspot-replica:{r.schema or ''}.{source}")]

    if table == "crm_contacts":
        stage_dates = _stage_dates_from_history(r)
        rows = []
        for c in _records(r.read("contact")):
            row = _properties(c, hubspot_api.CONTACT_COLUMNS, "id")
            for stage in LIFECYCLE_STAGES:
                column = f"hs_lifecyclestage_{stage}_date"
                if row[column] is None:
                    row[column] = stage_dates.get((c["id"], stage))
            rows.append(row)
        return one("crm/contacts.csv", hubspot_api.CONTACT_COLUMNS, rows, "contact")
    if table == "crm_companies":
        rows = [_properties(c, hubspot_api.COMPANY_COLUMNS, "id") for c in _records(r.read("company"))]
        return one("crm/companies.csv", hubspot_api.COMPANY_COLUMNS, rows, "company")
    if table == "crm_deals":
        company_of = _first(r.read("deal_company", required=False), "deal_id", "company_id")
        contact_of = _first(r.read("deal_contact", required=False), "deal_id", "contact_id")
        rows = []
        for d in _records(r.read("deal")):
            row = _properties(d, hubspot_api.DEAL_PROPERTIES, "deal_id")
            row["dealstage"] = row["dealstage"] or d.get("deal_pipeline_stage_id")
            rows.append({**row, "associated_company_id": company_of.get(d["deal_id"]),
                         "associated_contact_id": contact_of.get(d["deal_id"])})
        return one("crm/deals.csv", hubspot_api.DEAL_COLUMNS, rows, "deal")
    if table == "crm_form_submissions":
        rows = [{"conversion_id": f["conversion_id"], "contact_id": f["contact_id"], "form_id": f.get("form_id"),
                 "form_title": f.get("title"), "submitted_at": f.get("timestamp"), "page_url": f.get("page_url")}
                for f in _records(r.read("contact_form_submission", time_column="timestamp", start=start, end=end))]
        return one("crm/form_submissions.csv", hubspot_api.FORM_COLUMNS, rows, "contact_form_submission")
    if table == "crm_meetings":
        contact_of = _first(r.read("engagement_contact", required=False), "engagement_id", "contact_id")
        meetings = r.read("engagement_meeting", time_column="property_hs_meeting_start_time", start=start, end=end)
        rows = [{**_properties(m, hubspot_api.MEETING_PROPERTIES, "engagement_id"), "contact_id": contact_of.get(m["engagement_id"])}
                for m in _records(meetings)]
        return one("crm/meetings.csv", hubspot_api.MEETING_COLUMNS, rows, "engagement_meeting")
    raise KeyError(table)


def extract(table: str, engine: sa.Engine, *, stripe_schema: str | None, hubspot_schema: str | None,
            start: dt.date | None = None, end: dt.date | None = None) -> list[NativeExtract]:
    """Native records of ``table`` from the replica (facts: [start, end) selected in SQL)."""
    if table.startswith("billing_") and table in TABLES:
        replica = Replica(engine, stripe_schema, "stripe")
        extracts = _stripe(table, replica, start, end)
    elif table.startswith("crm_") and table in TABLES:
        replica = Replica(engine, hubspot_schema, "hubspot")
        extracts = _hubspot(table, replica, start, end)
    else:
        raise KeyError(f"sql replica: no mapping for table {table!r}; replica tables: {list(TABLES)}")
    absent = absent_columns(table, replica)
    primary = PRIMARY_TABLES.get(table, REPLICA_COLUMNS.get(table, ("",))[0])
    if primary == "subscription_history" and not replica.has(primary):
        primary = "subscription"
    excluded = {rule: n for (name, rule), n in replica.excluded.items() if name == primary and n}
    return [dataclasses.replace(e, absent=absent, excluded=excluded) for e in extracts]
