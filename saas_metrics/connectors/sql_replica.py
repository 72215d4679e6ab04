"""Stripe and HubSpot read from a SQL replica in Fivetran's own layout -> native records -> canonical.

The tables and columns are those Fivetran writes (its published sample rows and the staging models of
its dbt_stripe and dbt_hubspot packages); docs/connectors.md lists what is read from where. Schemas
``stripe_schema`` / ``hubspot_schema`` of ``sql_replica_url``; timestamps are TIMESTAMP columns, amounts
integer cents. Rows with ``_fivetran_deleted`` or ``is_deleted`` true are not loaded but counted
(``Replica.excluded``), as are superseded history versions, Stripe's temporary invoice-line ids and the
extra per-object rows of ``discount``.

Where Fivetran's layouts differ, the first present of several columns or tables is read
(:data:`REPLICA_COLUMNS`, :data:`PRIMARY_TABLES`, :data:`INVOICE_TIME_COLUMNS`, ...): ``subscription_history``
with ``_fivetran_start``/``_fivetran_end`` (history mode) or keyed by ``_fivetran_synced`` (the older form),
else ``subscription``; ``price`` and the legacy ``plan``; ``subscription_discount`` or ``discount``; an
invoice's ``created`` or, in Fivetran's own sample, its ``period_end``; deal stages from
``deal_pipeline_stage``; meetings' CRM properties or their engagement columns (``start_time``, ``title``,
``meeting_outcome``); lifecycle-stage dates from ``contact_property_history`` when the date properties are
empty.

History: a version's bounds are the SYNC times at which the replica saw the change, not Stripe's
effective times: they are as precise as the sync frequency. Consecutive versions with the same price and
quantity are merged (a change of another column, e.g. metadata, is not a new item version). Without
history mode, items and statuses get the same baseline as the Stripe API connector (current item from its
creation to the subscription's end). Fact tables (invoices, charges, refunds, form submissions, meetings)
are selected for the window in SQL. Airbyte's layout: saas_metrics.connectors.airbyte_replica.
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
from saas_metrics.sources.notices import notify

TABLES = ("billing_customers", "billing_prices", "billing_subscriptions", "billing_subscription_items",
          "billing_subscription_status_history", "billing_discounts", "billing_invoices", "billing_payments",
          "billing_refunds", "billing_invoice_lines", "crm_contacts", "crm_companies", "crm_deals", "crm_form_submissions", "crm_meetings")
LIFECYCLE_STAGES = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")


class ReplicaError(RuntimeError):
    """The replica lacks a table the mapping needs."""


def _props(names: Sequence[str], id_column: str) -> dict[str, tuple[str, ...]]:
    return {name: (id_column,) if name == "hs_object_id" else (f"property_{name}",) for name in names}


#: canonical table -> the replica tables its rows are read from, the first one the replica has (where
#: REPLICA_COLUMNS does not say it): Fivetran keeps subscription_history in history mode, else subscription;
#: subscription_discount is Fivetran's subscription-level table, discount its older all-levels one.
PRIMARY_TABLES: dict[str, tuple[str, ...]] = {
    "billing_subscriptions": ("subscription_history", "subscription"),
    "billing_subscription_status_history": ("subscription_history", "subscription"),
    "billing_discounts": ("subscription_discount", "discount"),
}
#: the replica column an invoice's creation time is read from, the first one present: Fivetran's own sample
#: invoice table has no ``created``; ``date`` is the older API's name for it, and a subscription invoice is
#: finalised at (and its invoice-level period ends at) its creation.
INVOICE_TIME_COLUMNS = ("created", "date", "status_transitions_finalized_at", "period_end")
#: the start time of a meeting: CRM v3 property, Engagements v1 column, the engagement's activity time
MEETING_TIME_COLUMNS = ("property_hs_meeting_start_time", "start_time", "property_hs_timestamp")
#: the version start of a history row: history mode's bound, else (the older form) the sync that wrote it
VERSION_START_COLUMNS = ("_fivetran_start", "_fivetran_synced")
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
        **{c: (c,) for c in ("id", "status", "due_date", "status_transitions_paid_at", "currency", "subtotal", "tax",
                             "total", "amount_paid")}, "created": INVOICE_TIME_COLUMNS,
        "customer": ("customer_id",), "subscription": ("subscription_id",)}),
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
                           # won / lost and the probability from the stage table when the deal lacks them
                           "dealstage": ("property_dealstage", "deal_pipeline_stage_id"),
                           "hs_is_closed_won": ("property_hs_is_closed_won", "@deal_pipeline_stage"),
                           "hs_deal_stage_probability": ("property_hs_deal_stage_probability", "@deal_pipeline_stage")}),
    "crm_form_submissions": ("contact_form_submission", {"conversion_id": ("conversion_id",), "contact_id": ("contact_id",),
                                                         "form_title": ("title",), "submitted_at": ("timestamp",),
                                                         "page_url": ("page_url",)}),
    # Fivetran writes either the CRM v3 properties or the Engagements v1 columns (start_time, title, ...)
    "crm_meetings": ("engagement_meeting", {**_props(hubspot_api.MEETING_PROPERTIES, "engagement_id"),
                                            "hs_meeting_title": ("property_hs_meeting_title", "title"),
                                            "hs_createdate": ("property_hs_createdate", "created_at"),
                                            "hs_meeting_start_time": MEETING_TIME_COLUMNS,
                                            "hs_meeting_outcome": ("property_hs_meeting_outcome", "meeting_outcome")}),
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
        return {c["name"].lower() for c in self._inspector.get_columns(table, schema=self.schema)} if self.has(table) else set()

    def first_table(self, candidates: Sequence[str]) -> str:
        """The first of ``candidates`` the replica has (else the first, whose read names it as missing)."""
        return next((t for t in candidates if self.has(t)), candidates[0])

    def first_column(self, table: str, candidates: Sequence[str]) -> str | None:
        columns = self.columns(table)
        return next((c for c in candidates if c in columns), None)

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
        # A replica loaded from files may hold flags and times as text: those are applied after reading.
        flags = [t.c[flag] for flag in ("_fivetran_deleted", "is_deleted") if flag in t.c]
        sql_flags = [f for f in flags if isinstance(f.type, sa.Boolean)]
        for flag in sql_flags:
            query = query.where(sa.or_(flag.is_(None), flag.is_(False)))
        windowed = time_column is not None and time_column in t.c  # without it the table fails its schema check
        sql_window = time_column is not None and windowed and isinstance(t.c[time_column].type, sa.DateTime | sa.Date)
        if sql_window and time_column is not None:
            if start is not None:
                query = query.where(t.c[time_column] >= dt.datetime(start.year, start.month, start.day))
                deleted = deleted.where(t.c[time_column] >= dt.datetime(start.year, start.month, start.day))
            if end is not None:
                query = query.where(t.c[time_column] < dt.datetime(end.year, end.month, end.day))
                deleted = deleted.where(t.c[time_column] < dt.datetime(end.year, end.month, end.day))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            gone = conn.execute(deleted.where(sa.or_(*(f.is_(True) for f in sql_flags)))).scalar_one() if sql_flags else 0
        frame = pd.DataFrame([dict(r) for r in rows], columns=list(t.c.keys()), dtype=object)
        if windowed and not sql_window and (start is not None or end is not None):
            times = pd.Series([_timestamp(v) for v in frame[time_column]], index=frame.index, dtype="datetime64[ns]")
            inside = times.notna()
            if start is not None:
                inside &= times >= pd.Timestamp(start)
            if end is not None:
                inside &= times < pd.Timestamp(end)
            frame = frame[inside.to_numpy()]
        text_flags = [f.name for f in flags if f not in sql_flags]
        if text_flags:
            dropped = frame[text_flags].map(_truthy).any(axis=1).to_numpy()
            gone, frame = gone + int(dropped.sum()), frame[~dropped]
        if flags:  # counted, never silently gone (source_row_accounting)
            self.excluded[(table, "soft_deleted")] = gone
        return frame.reset_index(drop=True)


class _Record(dict):
    """A replica row: a column the replica lacks reads as None (reported by the table's reader), never a KeyError."""

    def __missing__(self, key: str) -> None:
        return None


#: columns read as times / booleans also when the replica holds them as text (e.g. loaded from CSV files)
TIME_COLUMNS = frozenset({
    *INVOICE_TIME_COLUMNS, *MEETING_TIME_COLUMNS, *VERSION_START_COLUMNS, "_fivetran_end", "start_date", "trial_start",
    "trial_end", "canceled_at", "cancel_at", "ended_at", "period_start", "due_date", "status_transitions_paid_at", "start",
    "end", "timestamp", "end_time", "property_createdate", "property_closedate", "created_at"})
BOOLEAN_COLUMNS = frozenset({"_fivetran_active", "_fivetran_deleted", "is_deleted", "closed_won", "is_closed",
                             "cancel_at_period_end", "proration", "active", "paid", "livemode"})


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "t", "1", "yes"))


def _timestamp(value: Any) -> pd.Timestamp | None:
    """A time as naive UTC; text that is no time -> None."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if stamp is pd.NaT:
        return None
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    def clean(k: str, v: Any) -> Any:
        if v is None or v is pd.NaT or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
            return None  # an empty text field is a null (a replica loaded from CSV files)
        if isinstance(v, str) and k in TIME_COLUMNS:
            stamp = _timestamp(v)
            return v if stamp is None else stamp.to_pydatetime()  # not a time: passed on, the reader reports it
        if isinstance(v, str) and k in BOOLEAN_COLUMNS:
            return _truthy(v)
        return v.to_pydatetime() if isinstance(v, pd.Timestamp) else v
    return [_Record({k: clean(k, v) for k, v in row.items()}) for row in frame.to_dict("records")]


def primary_table(table: str, r: Replica) -> str:
    """The replica table the rows of canonical ``table`` come from (:data:`PRIMARY_TABLES`, :data:`REPLICA_COLUMNS`)."""
    if table in PRIMARY_TABLES:
        return r.first_table(PRIMARY_TABLES[table])
    return REPLICA_COLUMNS.get(table, ("",))[0]


def native_values(row: dict[str, Any], sources: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """native column -> the value of the first of its replica columns the row has (:data:`REPLICA_COLUMNS`)."""
    return {native: next((row[o] for o in options if not o.startswith("@") and row[o] is not None), None)
            for native, options in sources.items()}


def absent_columns(table: str, r: Replica) -> tuple[str, ...]:
    """Native columns of ``table`` that none of their replica columns provides (:data:`REPLICA_COLUMNS`)."""
    if table not in REPLICA_COLUMNS:
        return ()
    sources = REPLICA_COLUMNS[table][1]
    replica_table = primary_table(table, r)
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
def _subscription_versions(r: Replica) -> tuple[list[dict[str, Any]], str] | None:
    """``subscription_history`` rows sorted by subscription and version start, and that start's column
    (``_fivetran_start`` in history mode, ``_fivetran_synced`` in the older form without bounds); None
    without the table."""
    if not r.has("subscription_history"):
        return None
    start = r.first_column("subscription_history", VERSION_START_COLUMNS)
    rows = _records(r.read("subscription_history"))
    if start is None:  # no version times at all: one version per row, in table order
        return rows, ""
    far_past = dt.datetime.min
    return sorted(rows, key=lambda x: (x["id"], x[start] or far_past)), start


def _current_subscriptions(r: Replica) -> list[dict[str, Any]]:
    """One row per subscription: its active version, else (all versions inactive, or the older form
    without ``_fivetran_active``) its latest; the other versions are counted as ``inactive_history``."""
    versions = _subscription_versions(r)
    if versions is None:
        return _records(r.read("subscription"))
    current: dict[Any, dict[str, Any]] = {}
    for row in versions[0]:
        kept = current.get(row["id"])
        if kept is None or row.get("_fivetran_active") or not kept.get("_fivetran_active"):
            current[row["id"]] = row
    r.excluded[("subscription_history", "inactive_history")] = len(versions[0]) - len(current)
    return list(current.values())


def _status_history(r: Replica) -> list[dict[str, Any]]:
    versions = _subscription_versions(r)
    if versions is None or not versions[1]:
        return _baselines(r)[1]
    rows, start = versions
    out: list[dict[str, Any]] = []
    for row in rows:
        last = out[-1] if out else None
        if last is not None and last["subscription"] == row["id"] and last["status"] == row["status"]:
            r.exclude("subscription_history", "inactive_history", 1)  # the same status again: one version
            continue
        if last is not None and last["subscription"] == row["id"]:
            last["valid_to"] = row[start]
            valid_from = row[start]
        else:  # the first version seen holds from the subscription's start, not from the first sync
            began = row.get("start_date") or row.get("created")
            valid_from = row[start] if began is None or (row[start] is not None and pd.Timestamp(row[start]) <= pd.Timestamp(began)) else began
        out.append({"subscription": row["id"], "status": row["status"], "valid_from": valid_from, "valid_to": None})
    return out


def _price_of(item: dict[str, Any]) -> Any:
    """An item's price: ``price_id`` where the replica has it, else the legacy ``plan_id`` (Fivetran writes
    plan_id; newer syncs may carry both, with price_id empty on older items)."""
    return item.get("price_id") or item.get("plan_id")


def _item_versions(r: Replica) -> list[dict[str, Any]]:
    columns = r.columns("subscription_item")
    if "_fivetran_start" not in columns:
        return _baselines(r)[0]
    rows = sorted(_records(r.read("subscription_item")), key=lambda x: (x["id"], x["_fivetran_start"]))
    out: list[dict[str, Any]] = []
    for row in rows:
        valid_to = None if row.get("_fivetran_active") else row.get("_fivetran_end")
        last = out[-1] if out else None
        if (last is not None and last["id"] == row["id"] and (last["price"], last["quantity"]) == (_price_of(row), row["quantity"])
                and last["valid_to"] == row["_fivetran_start"]):
            last["valid_to"] = valid_to
            r.exclude("subscription_item", "inactive_history", 1)  # merged into the version before it
            continue
        out.append({"id": row["id"], "subscription": row["subscription_id"], "price": _price_of(row),
                    "quantity": row["quantity"], "valid_from": row["_fivetran_start"], "valid_to": valid_to})
    return out


def _baselines(r: Replica) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Stripe-API-shaped current subscriptions and items -> the API connector's baseline histories."""
    item_frame = r.read("subscription_item")
    items_of: dict[str, list[dict[str, Any]]] = {}
    for item in _records(item_frame):
        items_of.setdefault(item["subscription_id"], []).append(
            {"id": item["id"], "price": _price_of(item), "quantity": item["quantity"], "created": _unix(item.get("created"))})
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


def _price_rows(r: Replica) -> list[dict[str, Any]]:
    """Prices in the API's shape (``recurring`` nested, ``product`` expanded) and flat (``recurring_*``):
    the ``price`` table's, then Fivetran's legacy ``plan`` table's (Stripe's Plans API: ``amount``,
    ``interval``, ``interval_count``, ``usage_type``) for the plans ``price`` does not hold, so the
    subscription items and invoice lines that point at a plan (``plan_id``) have their price."""
    product_frame = r.read("product", required=False)
    products = {} if product_frame is None else {p["id"]: p for p in _records(product_frame)}
    rows: list[dict[str, Any]] = []
    for p in _records(r.read("price", required=False) if r.has("price") else pd.DataFrame()):
        rows.append({**p, "metadata": _metadata(p.get("metadata"))})
    known = {p["id"] for p in rows}
    for p in _records(r.read("plan", required=False) if r.has("plan") else pd.DataFrame()):
        if p.get("id") not in known:
            p = stripe_api.plan_as_price({**p, "metadata": _metadata(p.get("metadata"))})
            rows.append({**p, **{f"recurring_{k}": v for k, v in p["recurring"].items()}})
    for p in rows:
        p["product"] = products.get(p.get("product_id")) or {"id": p.get("product_id")}
        p["recurring"] = {"interval": p.get("recurring_interval"), "interval_count": p.get("recurring_interval_count"),
                          "usage_type": p.get("recurring_usage_type")}
    return rows


def _line_items(r: Replica) -> list[dict[str, Any]]:
    """``invoice_line_item`` rows in the API's line item shape (the price's recurring part from ``price``)."""
    lines = r.read("invoice_line_item", required=False)
    if lines is None:
        return []
    prices = {p["id"]: p for p in _price_rows(r)}
    records = _records(lines)
    # Fivetran keeps a line Stripe first wrote under a temporary ``sub_`` id beside its permanent
    # ``sli_`` one: the temporary copy is left out (and counted) where the same charge has a permanent row.
    def charge(line: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(line.get(c) for c in ("invoice_id", "subscription_item_id", "period_start", "period_end", "amount"))
    permanent = {charge(line) for line in records if not str(line.get("id") or "").startswith("sub_")}
    temporary = [line for line in records if str(line.get("id") or "").startswith("sub_") and charge(line) in permanent]
    r.excluded[("invoice_line_item", "temporary_line_id")] = len(temporary)  # set, not added: lines are read twice
    out = []
    for line in records:
        if any(line is t for t in temporary):
            continue
        price_id = _price_of(line)
        price = prices.get(price_id, {})
        recurring = {"interval": price.get("recurring_interval"), "interval_count": price.get("recurring_interval_count"),
                     "usage_type": price.get("recurring_usage_type")} if price.get("recurring_interval") else None
        out.append({**line, "invoice": line.get("invoice_id"), "subscription": line.get("subscription_id"),
                    "subscription_item": line.get("subscription_item_id"), "type": line.get("type") or "subscription",
                    "price": {"id": price_id, "recurring": recurring} if price_id else None,
                    "period": {"start": line.get("period_start"), "end": line.get("period_end")}})
    return out


def _invoices(r: Replica, start: dt.date | None, end: dt.date | None) -> list[dict[str, Any]]:
    created = r.first_column("invoice", INVOICE_TIME_COLUMNS)
    invoices = _records(r.read("invoice", time_column=created, start=start, end=end))
    lines_of: dict[str, list[dict[str, Any]]] = {}
    for line in _line_items(r):
        lines_of.setdefault(line["invoice_id"], []).append(line)
    rows = []
    for inv in invoices:
        row = stripe_api.invoice_row({**inv, "created": inv[created] if created else None,
                                      "customer": inv.get("customer_id"), "subscription": inv.get("subscription_id"),
                                      "status_transitions": {"paid_at": inv.get("status_transitions_paid_at")}},
                                     lines_of.get(inv["id"], []))
        rows.append(row)
    return rows


class NoDiscountTableWarning(UserWarning):
    """The replica has neither discount table: Fivetran writes them only for accounts that use discounts."""


def _discounts(r: Replica) -> list[dict[str, Any]]:
    table = primary_table("billing_discounts", r)
    if not r.has(table):
        notify(NoDiscountTableWarning(
            f"stripe replica: neither subscription_discount nor discount in {r.schema or 'the default schema'}: "
            "no discounts read (every subscription at its full price)"), stacklevel=2)
        return []
    # Fivetran's ``discount`` table holds a discount once per object it applies to (type / type_id: the
    # subscription, the customer, each invoice): one row per discount, its subscription-level row first.
    def rank(d: dict[str, Any]) -> tuple[bool, bool]:
        return (d.get("type") not in (None, "subscription"), d.get("subscription_id") is None)
    discounts: dict[Any, dict[str, Any]] = {}
    for d in sorted(_records(r.read(table)), key=rank):
        if d["id"] in discounts:
            r.exclude(table, "discount_of_another_object", 1)
            continue
        discounts[d["id"]] = d
    coupons = {c["id"]: c for c in _records(r.read("coupon"))} if discounts else {}  # percent and duration
    rows = []
    for d in discounts.values():
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
        if not (r.has("price") or r.has("plan")):
            r.read("price")  # neither table: the named "not found" error
        rows = [stripe_api.price_row(p) for p in _price_rows(r)]
        return one("billing/prices.csv", stripe_api.PRICE_COLUMNS, rows, r.first_table(("price", "plan")))
    if table == "billing_subscriptions":
        # Without history mode on subscription_item the item history is a baseline known from now on only.
        since = None if "_fivetran_start" in r.columns("subscription_item") else int(dt.datetime.now(dt.UTC).timestamp())
        rows = [stripe_api.subscription_row({**s, "customer": s.get("customer_id")}, since) for s in _current_subscriptions(r)]
        return one("billing/subscriptions.csv", (*stripe_api.SUBSCRIPTION_COLUMNS, "history_since"), rows, primary_table(table, r))
    if table == "billing_subscription_items":
        return one("billing/subscription_items.csv", stripe_api.ITEM_COLUMNS, _item_versions(r), "subscription_item")
    if table == "billing_subscription_status_history":
        return one("billing/subscription_status_history.csv", stripe_api.STATUS_COLUMNS, _status_history(r), primary_table(table, r))
    if table == "billing_discounts":
        return one("billing/discounts.csv", stripe_api.DISCOUNT_COLUMNS, _discounts(r), primary_table(table, r))
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


def _deal_stages(r: Replica) -> dict[Any, dict[str, Any]]:
    """``deal_pipeline_stage`` (Fivetran: stage_id, closed_won, is_closed, probability) -> per stage id
    :func:`hubspot_api.deal_stage`."""
    frame = r.read("deal_pipeline_stage", required=False)
    return {s["stage_id"]: hubspot_api.deal_stage(s.get("is_closed"), s.get("closed_won"), s.get("probability"))
            for s in (_records(frame) if frame is not None else [])}


def _hubspot(table: str, r: Replica, start: dt.date | None, end: dt.date | None) -> list[NativeExtract]:
    def one(relative: str, columns: Sequence[str], rows: list[dict[str, Any]], source: str) -> list[NativeExtract]:
        return [NativeExtract(relative, columns, rows, f"hubspot-replica:{r.schema or ''}.{source}")]

    if table == "crm_contacts":
        stage_dates = _stage_dates_from_history(r)
        rows = []
        for c in _records(r.read("contact")):
            row = native_values(c, REPLICA_COLUMNS[table][1])
            for stage in LIFECYCLE_STAGES:
                column = f"hs_lifecyclestage_{stage}_date"
                if row[column] is None:
                    row[column] = stage_dates.get((c["id"], stage))
            rows.append(row)
        return one("crm/contacts.csv", hubspot_api.CONTACT_COLUMNS, rows, "contact")
    if table == "crm_companies":
        rows = [native_values(c, REPLICA_COLUMNS[table][1]) for c in _records(r.read("company"))]
        return one("crm/companies.csv", hubspot_api.COMPANY_COLUMNS, rows, "company")
    if table == "crm_deals":
        company_of = _first(r.read("deal_company", required=False), "deal_id", "company_id")
        contact_of = _first(r.read("deal_contact", required=False), "deal_id", "contact_id")
        stages = _deal_stages(r)
        rows = []
        for d in _records(r.read("deal")):
            row = hubspot_api.with_stage(native_values(d, REPLICA_COLUMNS[table][1]), stages)
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
        start_column = r.first_column("engagement_meeting", MEETING_TIME_COLUMNS)
        meetings = r.read("engagement_meeting", time_column=start_column, start=start, end=end)
        rows = [{**native_values(m, REPLICA_COLUMNS[table][1]), "contact_id": contact_of.get(m["engagement_id"])}
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
    # the rows of billing_prices come from price and plan: both tables' exclusions are the table's
    feeding = {primary_table(table, replica), *(("price", "plan") if table == "billing_prices" else ())}
    excluded: dict[str, int] = {}
    for (name, rule), n in replica.excluded.items():
        if name in feeding and n:
            excluded[rule] = excluded.get(rule, 0) + n
    # the first extract is the table's own; the others (e.g. invoices beside invoice lines) only support it
    return [dataclasses.replace(e, absent=absent, excluded=excluded) if i == 0 else e for i, e in enumerate(extracts)]
