"""Stripe and HubSpot read from an Airbyte replica (``sql_replica_dialect: airbyte``) -> the API connectors' mapping.

Airbyte's Stripe and HubSpot sources copy the APIs' objects: one table per stream (``customers``,
``prices``, ``plans``, ``products``, ``subscriptions``, ``subscription_items``, ``invoices``,
``invoice_line_items``, ``charges``, ``refunds``, ``events``; ``contacts``, ``companies``, ``deals``,
``engagements_meetings``, ``contacts_form_submissions``), a column per top-level field, nested objects
as JSON columns (``recurring``, ``items``, ``period``, ``price``, ``properties``, ``status_transitions``)
and times as unix seconds (HubSpot: ISO text or epoch ms). Older destinations keep only the raw
stream, ``_airbyte_raw_<stream>`` with the whole object in ``_airbyte_data``; both are read.

So the rows are handed to the API connectors' own mapping (``stripe_api.extract_objects``,
``hubspot_api.extract_objects``) as the API would list them: one mapping for the API and its replica.
Rows with ``is_deleted`` (Stripe) or ``archived`` (HubSpot) true are not loaded; they are counted under
``soft_deleted``. Airbyte's ``events`` stream is Stripe's, kept since the first sync: item and status
histories are rebuilt from it where it reaches, and ``history_since`` is its first event (the
extraction time without events), so under ``revenue.source: auto`` older revenue comes from the
invoice lines.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from saas_metrics.connectors import hubspot_api, stripe_api
from saas_metrics.connectors.native import NativeExtract
from saas_metrics.connectors.sql_replica import Replica, ReplicaError

TABLES = (*stripe_api.TABLES, *hubspot_api.TABLES)
#: canonical table -> the stream its rows come from (for the row accounting)
PRIMARY_STREAMS = {
    "billing_customers": "customers", "billing_prices": "prices", "billing_subscriptions": "subscriptions",
    "billing_subscription_items": "subscriptions", "billing_subscription_status_history": "subscriptions",
    "billing_discounts": "subscriptions", "billing_invoices": "invoices", "billing_invoice_lines": "invoice_line_items",
    "billing_payments": "charges", "billing_refunds": "refunds", "crm_contacts": "contacts", "crm_companies": "companies",
    "crm_deals": "deals", "crm_meetings": "engagements_meetings", "crm_form_submissions": "contacts_form_submissions",
}
DELETED_FLAGS = ("is_deleted", "archived")


def _value(v: Any) -> Any:
    """A column value as the API gave it: JSON text of nested objects parsed, timestamps as they are."""
    if isinstance(v, str) and v[:1] in ("{", "["):
        try:
            return json.loads(v)
        except ValueError:
            return v
    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return None
    return v


def _unix(value: Any) -> int | None:
    """Unix seconds of a time Airbyte wrote as seconds, epoch ms, ISO text or a timestamp."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value / 1000) if value > 10**11 else int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return _unix(int(value))
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
    return int(stamp.value // 1_000_000_000)


class Streams:
    """The streams of one schema of an Airbyte replica, as lists of API objects."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    def has(self, stream: str) -> bool:
        return self.replica.has(stream) or self.replica.has(f"_airbyte_raw_{stream}")

    def rows(self, stream: str, *, required: bool = True, time_field: str | None = None,
             start: dt.date | None = None, end: dt.date | None = None) -> list[dict[str, Any]]:
        """The stream's objects not deleted, with ``time_field`` in [start, end) when given."""
        r = self.replica
        if r.has(stream):
            frame = r.read(stream, required=required)
            objects = [{k: _value(v) for k, v in row.items() if not k.startswith("_airbyte_")}
                       for row in (frame.to_dict("records") if frame is not None else [])]
        elif r.has(f"_airbyte_raw_{stream}"):
            raw = r.read(f"_airbyte_raw_{stream}")
            assert raw is not None  # has() said the table is there
            objects = [_value(d) if isinstance(d, str) else d for d in raw["_airbyte_data"]]
        elif required:
            where = f"schema {r.schema!r}" if r.schema else "the default schema"
            raise ReplicaError(f"{r.system} replica: stream {stream!r} not found in {where} (Airbyte layout)")
        else:
            return []
        # flags in the raw JSON (Replica.read drops typed-column deletions in SQL and counts them)
        kept = [o for o in objects if not any(o.get(f) is True or str(o.get(f)).lower() == "true" for f in DELETED_FLAGS)]
        if len(kept) < len(objects):
            r.exclude(stream, "soft_deleted", len(objects) - len(kept))
        if time_field is not None and (start is not None or end is not None):
            low = None if start is None else _unix(dt.datetime(start.year, start.month, start.day))
            high = None if end is None else _unix(dt.datetime(end.year, end.month, end.day))

            def inside(o: Mapping[str, Any]) -> bool:
                at = _unix(_field(o, time_field))
                return at is not None and (low is None or at >= low) and (high is None or at < high)
            kept = [o for o in kept if inside(o)]
        return kept


def _field(obj: Mapping[str, Any], path: str) -> Any:
    """``a.b`` of a nested object; also Airbyte's flattened ``a_b`` column."""
    head, _, rest = path.partition(".")
    if not rest:
        return obj.get(path)
    inner = obj.get(head)
    if isinstance(inner, Mapping) and rest in inner:
        return inner[rest]
    return obj.get(f"{head}_{rest}")


def _seconds(obj: dict[str, Any], *fields: str) -> dict[str, Any]:
    """The object with its time ``fields`` as unix seconds (Airbyte may type them as timestamps)."""
    return {**obj, **{f: _unix(obj.get(f)) for f in fields if f in obj}}


# --- Stripe -----------------------------------------------------------------------
STRIPE_TIMES = ("created", "start_date", "trial_start", "trial_end", "cancel_at", "canceled_at", "ended_at", "due_date",
                "current_period_start", "current_period_end", "start", "end")


class StripeStreams(Streams):
    """``fetch(path, params)`` of Stripe's list endpoints (stripe_api.Fetch) over the streams."""

    def first_event(self) -> int | None:
        times = [_unix(e.get("created")) for e in self.rows("events", required=False)]
        return min((t for t in times if t is not None), default=None)

    def _window(self, params: Mapping[str, Any]) -> tuple[dt.date | None, dt.date | None]:
        def day(key: str) -> dt.date | None:
            return dt.datetime.fromtimestamp(params[key], dt.UTC).date() if key in params else None
        return day("created[gte]"), day("created[lt]")

    def fetch(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        start, end = self._window(params)
        if path == "/v1/customers":
            return [_seconds(c, *STRIPE_TIMES) for c in self.rows("customers")]
        if path == "/v1/prices":
            products = {p["id"]: p for p in self.rows("products", required=False)}
            prices = self.rows("prices", required=not self.has("plans"))
            known = {p["id"] for p in prices}
            prices += [stripe_api.plan_as_price(p) for p in self.rows("plans", required=False) if p["id"] not in known]
            return [{**_seconds(p, *STRIPE_TIMES), "product": products.get(p.get("product")) or p.get("product")} for p in prices]
        if path == "/v1/subscriptions":
            items_of: dict[Any, list[dict[str, Any]]] = {}
            for item in self.rows("subscription_items", required=False):
                items_of.setdefault(item.get("subscription"), []).append(_seconds(item, *STRIPE_TIMES))
            subs = []
            for s in self.rows("subscriptions"):
                s = _seconds(s, *STRIPE_TIMES)
                if not (s.get("items") or {}).get("data") and s["id"] in items_of:
                    s["items"] = {"data": items_of[s["id"]]}
                subs.append(s)
            return subs
        if path == "/v1/events":
            types = set(params.get("types[]") or ())
            return [_seconds(e, "created") for e in self.rows("events", required=False) if not types or e.get("type") in types]
        if path == "/v1/invoices":
            invoices = [_seconds(i, *STRIPE_TIMES) for i in self.rows("invoices", time_field="created", start=start, end=end)]
            if self.has("invoice_line_items"):
                lines_of: dict[Any, list[dict[str, Any]]] = {}
                for line in self.rows("invoice_line_items"):
                    line = {**line, "period": {k: _unix(v) for k, v in (line.get("period") or {}).items()}}
                    lines_of.setdefault(line.get("invoice_id") or line.get("invoice"), []).append(line)
                for invoice in invoices:
                    invoice["lines"] = {"data": lines_of.get(invoice["id"], []), "has_more": False}
            for invoice in invoices:  # lines embedded by the invoices stream are all the replica has
                invoice["lines"] = {**(invoice.get("lines") or {}), "has_more": False}
                invoice["status_transitions"] = {k: _unix(v) for k, v in (invoice.get("status_transitions") or {}).items()}
            return invoices
        if path == "/v1/charges":
            return [_seconds(c, "created") for c in self.rows("charges", time_field="created", start=start, end=end)]
        if path == "/v1/refunds":
            customer_of = {c["id"]: c.get("customer") for c in self.rows("charges", required=False)}
            refunds = self.rows("refunds", time_field="created", start=start, end=end)
            return [{**_seconds(x, "created"), "charge": {"id": x.get("charge"), "customer": customer_of.get(x.get("charge"))}}
                    for x in refunds]
        raise KeyError(f"airbyte replica: no Stripe stream for {path}")


# --- HubSpot ----------------------------------------------------------------------
class HubSpotStreams(Streams, hubspot_api.ApiObjects):
    """The CRM objects hubspot_api.extract_objects needs, from Airbyte's HubSpot streams."""

    def __init__(self, replica: Replica) -> None:
        Streams.__init__(self, replica)

    @staticmethod
    def _object(row: dict[str, Any]) -> dict[str, Any]:
        """A stream row as a CRM v3 object: ``properties`` (or the flattened ``properties_<name>`` columns),
        associations from the ``companies`` / ``contacts`` id arrays."""
        props = dict(row.get("properties") or {})
        props.update({k[len("properties_"):]: v for k, v in row.items() if k.startswith("properties_") and v is not None})
        associations = {kind: {"results": [{"id": str(i)} for i in (row.get(kind) or [])]} for kind in ("companies", "contacts")}
        return {"id": str(row.get("id")), "properties": props, "associations": associations}

    def objects(self, object_type: str, properties: Sequence[str], associations: Sequence[str] = ()) -> list[dict[str, Any]]:
        return [self._object(row) for row in self.rows(object_type)]  # the streams are named as the object types

    def meetings(self, start: dt.date | None, end: dt.date | None) -> list[dict[str, Any]]:
        rows = self.rows("engagements_meetings", time_field="properties.hs_meeting_start_time", start=start, end=end)
        return [{**self._object(row), "contacts": row.get("contacts") or []} for row in rows]

    def meeting_contacts(self, meetings: list[dict[str, Any]]) -> dict[str, str]:
        return {m["id"]: str(m["contacts"][0]) for m in meetings if m["contacts"]}

    def form_submissions(self) -> list[dict[str, Any]]:
        def get(row: Mapping[str, Any], name: str) -> Any:  # Airbyte's names use '-', some destinations '_'
            return row.get(name, row.get(name.replace("-", "_")))
        return [{"conversion_id": get(f, "conversion-id"), "contact_id": get(f, "canonical-vid"), "form_id": get(f, "form-id"),
                 "form_title": f.get("title"), "submitted_at": get(f, "timestamp"), "page_url": get(f, "page-url")}
                for f in self.rows("contacts_form_submissions")]

    def deal_stages(self) -> dict[Any, dict[str, Any]]:
        """The ``deal_pipelines`` stream's stages: ``metadata.isClosed`` and ``metadata.probability`` (text);
        a closed stage with probability 1 is won."""
        stages = {}
        for pipeline in self.rows("deal_pipelines", required=False):
            for stage in pipeline.get("stages") or []:
                meta = stage.get("metadata") or {}
                closed, probability = meta.get("isClosed"), meta.get("probability")
                closed = None if closed is None else str(closed).lower() == "true"
                won = None if closed is None or probability is None else closed and float(probability) == 1.0
                stages[stage.get("stageId")] = hubspot_api.deal_stage(closed, won, probability)
        return stages

    def label(self, table: str) -> str:
        schema = self.replica.schema or ""
        return f"hubspot-airbyte:{schema}.{PRIMARY_STREAMS[table]}"


def extract(table: str, engine: sa.Engine, *, stripe_schema: str | None, hubspot_schema: str | None,
            start: dt.date | None = None, end: dt.date | None = None) -> list[NativeExtract]:
    """Native records of ``table`` from an Airbyte replica (facts: [start, end))."""
    if table in stripe_api.TABLES:
        stripe = StripeStreams(Replica(engine, stripe_schema, "stripe"))
        # without events every history is a baseline known from the extraction on
        since = (stripe.first_event() or int(dt.datetime.now(dt.UTC).timestamp())) if table == "billing_subscriptions" else None
        extracts = stripe_api.extract_objects(table, stripe.fetch, start, end, events_kept_since=since,
                                              label=lambda path: f"stripe-airbyte:{stripe_schema or ''}.{PRIMARY_STREAMS[table]}")
        streams: Streams = stripe
    elif table in hubspot_api.TABLES:
        streams = HubSpotStreams(Replica(engine, hubspot_schema, "hubspot"))
        extracts = hubspot_api.extract_objects(table, streams, start, end)
    else:
        raise KeyError(f"airbyte replica: no mapping for table {table!r}; replica tables: {list(TABLES)}")
    primary = PRIMARY_STREAMS[table]
    excluded: dict[str, int] = {}
    for (name, rule), n in streams.replica.excluded.items():
        if n and (name == primary or name == f"_airbyte_raw_{primary}" or (table == "billing_prices" and name == "plans")):
            excluded[rule] = excluded.get(rule, 0) + n
    return [dataclasses.replace(e, excluded=excluded) if i == 0 else e for i, e in enumerate(extracts)]
