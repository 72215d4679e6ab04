"""A fake Stripe API serving the objects of a sample-data billing folder in Stripe's documented shapes
(list objects with ``data``/``has_more``, cursor ``starting_after``, ``created[gte|lt]``, ``expand[]``,
``status=all``, ``types[]``), histories as subscription/discount events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from saas_metrics_tests.connectors.conn_fake_server import FakeServer, Request, Response

GOOD_KEY = "sk_test_good"
EMBEDDED_LINES = 1


def _line_object(row: dict[str, str]) -> dict[str, Any]:
    """An invoice_lines.csv row as Stripe's line item object (price expanded, as Stripe embeds it)."""
    price = None
    if row["price"]:
        recurring = ({"interval": row["price_recurring_interval"], "interval_count": _int(row["price_recurring_interval_count"]),
                      "usage_type": row["price_recurring_usage_type"]} if row["price_recurring_interval"] else None)
        price = {"id": row["price"], "object": "price", "recurring": recurring}
    discount = _int(row["discount_amounts"]) or 0
    return {
        "id": row["id"], "object": "line_item", "invoice": row["invoice"], "amount": _int(row["amount"]),
        "currency": row["currency"], "discount_amounts": [{"amount": discount, "discount": row["discounts"]}] if discount else [],
        "discounts": [row["discounts"]] if row["discounts"] else [], "period": {"start": _int(row["period_start"]), "end": _int(row["period_end"])},
        "price": price, "proration": row["proration"] == "true", "quantity": _int(row["quantity"]),
        "subscription": row["subscription"] or None, "subscription_item": row["subscription_item"] or None,
        "tax_amounts": [{"amount": _int(row["tax_amounts"]) or 0}], "type": row["type"],
    }


def _csv(folder: Path, name: str) -> list[dict[str, str]]:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False).to_dict("records")


def _int(text: str) -> int | None:
    return int(float(text)) if text else None


def _unix(text: str) -> int | None:
    return int(pd.Timestamp(text).timestamp()) if text else None


def _covers(row: dict[str, str], at: int) -> bool:
    start, end = _unix(row["valid_from"]), _unix(row["valid_to"])
    return start is not None and start <= at and (end is None or at < end)


class StripeData:
    """Stripe API objects built from billing/*.csv."""

    def __init__(self, sources: Path) -> None:
        billing = sources / "billing"
        self.customers = [{"id": c["id"], "object": "customer", "email": c["email"] or None, "name": c["name"] or None,
                           "created": _int(c["created"]), "currency": c["currency"] or None, "address": {"country": c["address_country"] or None},
                           "metadata": {k: v for k, v in (("crm_company_id", c["metadata_crm_company_id"]),
                                                          ("referred_by", c["metadata_referred_by"])) if v}}
                          for c in _csv(billing, "customers.csv")]
        self.products = {}
        self.prices = []
        for p in _csv(billing, "prices.csv"):
            self.products[p["product"]] = {"id": p["product"], "object": "product", "name": p["product_name"]}
            self.prices.append({"id": p["id"], "object": "price", "product": p["product"], "nickname": p["nickname"] or None,
                                "metadata": {"tier": p["metadata_tier"]} if p["metadata_tier"] else {},
                                "unit_amount": _int(p["unit_amount"]), "currency": p["currency"], "type": p["type"],
                                "recurring": None if p["type"] != "recurring" else {
                                    "interval": p["recurring_interval"], "interval_count": _int(p["recurring_interval_count"]),
                                    "usage_type": p["recurring_usage_type"]},
                                "billing_scheme": p["billing_scheme"], "active": p["active"] == "true", "created": _int(p["created"])})
        items = _csv(billing, "subscription_items.csv")
        statuses = _csv(billing, "subscription_status_history.csv")
        self.subscriptions = []
        self.events: list[dict[str, Any]] = []
        for s in _csv(billing, "subscriptions.csv"):
            sub_items = [i for i in items if i["subscription"] == s["id"]]
            sub_statuses = [x for x in statuses if x["subscription"] == s["id"]]
            base = {"id": s["id"], "object": "subscription", "customer": s["customer"], "status": s["status"],
                    "cancel_at_period_end": s["cancel_at_period_end"] == "true", "collection_method": s["collection_method"],
                    "cancellation_details": {k: s.get(f"cancellation_details_{k}") or None for k in ("reason", "feedback", "comment")},
                    **{k: _int(s[k]) for k in ("created", "start_date", "trial_start", "trial_end", "cancel_at", "canceled_at",
                                                "ended_at", "current_period_start", "current_period_end")}}
            points = sorted({_unix(r["valid_from"]) for r in sub_items + sub_statuses}
                            | {_unix(r["valid_to"]) for r in sub_items if r["valid_to"]})
            last_items: list[dict[str, Any]] = []
            for n, at in enumerate(points):
                status = next((x["status"] for x in sub_statuses if _covers(x, at)), base["status"])
                covering = [{"id": i["id"], "object": "subscription_item", "price": {"id": i["price"]}, "quantity": _int(i["quantity"]),
                             "created": _unix(i["valid_from"])} for i in sub_items if _covers(i, at)]
                snapshot_items = covering or (last_items if status == "canceled" else [])
                last_items = snapshot_items
                kind = "created" if n == 0 else "deleted" if status == "canceled" else "updated"
                self.events.append({"id": f"evt_{s['id']}_{n}", "object": "event", "type": f"customer.subscription.{kind}",
                                    "created": at, "data": {"object": {**base, "status": status,
                                                                       "items": {"object": "list", "data": snapshot_items}}}})
            base["items"] = {"object": "list", "data": last_items}
            self.subscriptions.append(base)
        for d in _csv(billing, "discounts.csv"):
            discount = {"id": d["id"], "object": "discount", "subscription": d["subscription"], "start": _int(d["start"]),
                        "end": _int(d["end"]), "coupon": {"id": d["coupon_id"], "object": "coupon",
                                                          "percent_off": float(d["coupon_percent_off"]) if d["coupon_percent_off"] else None,
                                                          "duration": d["coupon_duration"],
                                                          "duration_in_months": _int(d["coupon_duration_in_months"])}}
            self.events.append({"id": f"evt_{d['id']}", "object": "event", "type": "customer.discount.created",
                                "created": _int(d["start"]), "data": {"object": discount}})
        self.invoice_lines: dict[str, list[dict[str, Any]]] = {}
        if (billing / "invoice_lines.csv").is_file():
            for line in _csv(billing, "invoice_lines.csv"):
                self.invoice_lines.setdefault(line["invoice"], []).append(_line_object(line))
        self.invoices = []
        for i in _csv(billing, "invoices.csv"):
            created = _int(i["created"])
            self.invoices.append({
                "id": i["id"], "object": "invoice", "customer": i["customer"], "subscription": i["subscription"] or None,
                "status": i["status"] or None, "billing_reason": i["billing_reason"] or None, "created": created,
                "due_date": _int(i["due_date"]), "status_transitions": {"paid_at": _int(i["status_transitions_paid_at"])},
                # Stripe's invoice-level period is the previous usage period; the service period is on the lines.
                "period_start": created, "period_end": created, "currency": i["currency"],
                **{k: _int(i[k]) for k in ("subtotal", "tax", "total", "amount_paid", "amount_due")},
                # Real lines when the folder has them (the first EMBEDDED_LINES embedded, the rest paged
                # from /v1/invoices/{id}/lines), else one line carrying the service period.
                "lines": {"object": "list", "has_more": len(self.invoice_lines.get(i["id"], [])) > EMBEDDED_LINES,
                          "data": self.invoice_lines[i["id"]][:EMBEDDED_LINES] if i["id"] in self.invoice_lines
                          else [] if not i["period_start"] else [
                    {"id": f"il_{i['id']}", "object": "line_item", "period": {"start": _int(i["period_start"]), "end": _int(i["period_end"])}}]},
            })
        self.charges = [{"id": c["id"], "object": "charge", "customer": c["customer"], "invoice": c["invoice"] or None,
                         "amount": _int(c["amount"]), "currency": c["currency"], "status": c["status"], "created": _int(c["created"]),
                         "failure_code": c["failure_code"] or None, "refunded": c["refunded"] == "true",
                         "amount_refunded": _int(c["amount_refunded"])} for c in _csv(billing, "charges.csv")]
        charge_by_id = {c["id"]: c for c in self.charges}
        self.refunds = [{"id": r["id"], "object": "refund", "charge": r["charge"], "amount": _int(r["amount"]),
                         "currency": r["currency"], "status": r["status"], "created": _int(r["created"]), "reason": r["reason"] or None}
                        for r in _csv(billing, "refunds.csv")]
        self.charge_by_id = charge_by_id


def stripe_route(data: StripeData, *, key: str = GOOD_KEY):
    collections = {"/v1/customers": data.customers, "/v1/prices": data.prices, "/v1/subscriptions": data.subscriptions,
                   "/v1/events": data.events, "/v1/invoices": data.invoices, "/v1/charges": data.charges, "/v1/refunds": data.refunds}

    def route(request: Request, server: FakeServer) -> Response:
        if request.headers.get("authorization") != f"Bearer {key}":
            return Response(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****"}})
        if request.path.startswith("/v1/invoices/") and request.path.endswith("/lines"):
            lines = data.invoice_lines.get(request.path.split("/")[3], [])
            after = request.arg("starting_after")
            if after is not None:
                lines = lines[next(n for n, o in enumerate(lines) if o["id"] == after) + 1:]
            limit = int(request.arg("limit", "10"))
            return Response(200, {"object": "list", "url": request.path, "has_more": len(lines) > limit, "data": lines[:limit]})
        if request.path not in collections:
            return Response(404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({request.path})"}})
        objects = list(collections[request.path])
        gte, lt = request.arg("created[gte]"), request.arg("created[lt]")
        if gte is not None:
            objects = [o for o in objects if o["created"] >= int(gte)]
        if lt is not None:
            objects = [o for o in objects if o["created"] < int(lt)]
        if request.path == "/v1/subscriptions" and request.arg("status") != "all":
            objects = [o for o in objects if o["status"] != "canceled"]
        if request.path == "/v1/events" and "types[]" in request.query:
            objects = [o for o in objects if o["type"] in request.query["types[]"]]
        objects.sort(key=lambda o: (o["created"], o["id"]), reverse=True)  # newest first, like Stripe
        after = request.arg("starting_after")
        if after is not None:
            position = next(n for n, o in enumerate(objects) if o["id"] == after)
            objects = objects[position + 1:]
        limit = int(request.arg("limit", "10"))
        page = objects[:limit]
        if "data.product" in request.query.get("expand[]", []):
            page = [{**p, "product": data.products[p["product"]]} for p in page]
        if "data.charge" in request.query.get("expand[]", []):
            page = [{**r, "charge": data.charge_by_id[r["charge"]]} for r in page]
        server.count([f"{request.path}:{o['id']}" for o in page])
        return Response(200, {"object": "list", "url": request.path, "has_more": len(objects) > limit, "data": page})

    return route
