"""A fake HubSpot API serving crm/*.csv in HubSpot's documented shapes: CRM v3 object lists
(``results``, ``paging.next.after``), search (POST, filterGroups, ``total``), v4 batch association
reads, and the contacts v1 list with form submissions (``has-more``, ``vid-offset``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from saas_metrics_tests.connectors.conn_fake_server import FakeServer, Request, Response

GOOD_TOKEN = "pat-na1-good"


def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False).to_dict("records")


def _ms(text: str) -> int | None:
    return int(pd.Timestamp(text).timestamp() * 1000) if text else None


def _hubspot_time(text: str) -> str | None:
    """ISO with milliseconds, as the v3 API writes datetime properties."""
    return pd.Timestamp(text).strftime("%Y-%m-%dT%H:%M:%S.000Z") if text else None


DATETIME_PROPERTIES = {"createdate", "closedate", "hs_createdate", "hs_meeting_start_time", "hs_lifecyclestage_lead_date",
                       "hs_lifecyclestage_marketingqualifiedlead_date", "hs_lifecyclestage_salesqualifiedlead_date",
                       "hs_lifecyclestage_opportunity_date", "hs_lifecyclestage_customer_date"}


def _object(row: dict[str, str], id_column: str = "hs_object_id", skip: tuple[str, ...] = ()) -> dict[str, Any]:
    props = {k: (_hubspot_time(v) if k in DATETIME_PROPERTIES else (v or None)) for k, v in row.items() if k not in skip}
    return {"id": row[id_column], "properties": props, "createdAt": props.get("createdate"), "archived": False}


class HubSpotData:
    def __init__(self, sources: Path) -> None:
        crm = sources / "crm"
        self.objects: dict[str, list[dict[str, Any]]] = {
            "contacts": [_object(r) for r in _rows(crm, "contacts.csv")],
            "companies": [_object(r) for r in _rows(crm, "companies.csv")],
        }
        deals = []
        for r in _rows(crm, "deals.csv"):
            deal = _object(r, skip=("associated_company_id", "associated_contact_id"))
            deal["associations"] = {kind: {"results": [{"id": value, "type": f"deal_to_{kind[:-1]}"}]}
                                    for kind, value in (("companies", r["associated_company_id"]), ("contacts", r["associated_contact_id"])) if value}
            deals.append(deal)
        self.objects["deals"] = deals
        meetings = _rows(crm, "meetings.csv")
        self.objects["meetings"] = [_object(r, skip=("contact_id",)) for r in meetings]
        self.meeting_contact = {r["hs_object_id"]: r["contact_id"] for r in meetings if r["contact_id"]}
        submissions: dict[str, list[dict[str, Any]]] = {}
        for f in _rows(crm, "form_submissions.csv"):
            submissions.setdefault(f["contact_id"], []).append({
                "conversion-id": f["conversion_id"], "timestamp": int(f["submitted_at"]), "form-id": f["form_id"],
                "portal-id": 62515, "page-url": f["page_url"], "title": f["form_title"], "form-type": "HUBSPOT", "meta-data": []})
        self.v1_contacts = [{"vid": int(c["id"]), "canonical-vid": int(c["id"]), "form-submissions": submissions.get(c["id"], []),
                             "properties": {}} for c in self.objects["contacts"]]
        # form submissions whose contact is not in contacts.csv (orphans) still come with a contact record
        known = {c["id"] for c in self.objects["contacts"]}
        self.v1_contacts += [{"vid": int(cid), "form-submissions": subs, "properties": {}} for cid, subs in submissions.items()
                             if cid not in known and cid.isdigit()]


def _page(items: list[Any], after: str | None, limit: int) -> tuple[list[Any], str | None]:
    start = int(after or 0)
    page = items[start:start + limit]
    return page, (str(start + limit) if start + limit < len(items) else None)


def _matches(obj: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    for f in filters:
        value = obj["properties"].get(f["propertyName"])
        if value is None:
            return False
        number = _ms(value)
        bound = int(f["value"])
        if (f["operator"] == "GTE" and not number >= bound) or (f["operator"] == "LT" and not number < bound):
            return False
    return True


def hubspot_route(data: HubSpotData, *, token: str = GOOD_TOKEN):
    def route(request: Request, server: FakeServer) -> Response:
        if request.headers.get("authorization") != f"Bearer {token}":
            return Response(401, {"status": "error", "message": "Authentication credentials not found.",
                                  "category": "INVALID_AUTHENTICATION"})
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and parts[:3] == ["crm", "v3", "objects"] and len(parts) == 4:
            wanted = (request.arg("properties") or "").split(",")
            associations = (request.arg("associations") or "").split(",")
            page, after = _page(data.objects[parts[3]], request.arg("after"), int(request.arg("limit", "10")))
            results = []
            for obj in page:
                out = {**obj, "properties": {k: obj["properties"].get(k) for k in wanted if k}}
                out["associations"] = {k: v for k, v in obj.get("associations", {}).items() if k in associations}
                if not out["associations"]:
                    del out["associations"]
                results.append(out)
            server.count([f"{parts[3]}:{o['id']}" for o in page])
            return Response(200, {"results": results, **({"paging": {"next": {"after": after, "link": "..."}}} if after else {})})
        if request.method == "POST" and parts[:3] == ["crm", "v3", "objects"] and parts[4:] == ["search"]:
            body = request.body
            matching = [o for o in data.objects[parts[3]] if _matches(o, body["filterGroups"][0]["filters"])]
            matching.sort(key=lambda o: int(o["id"]))
            page, after = _page(matching, body.get("after"), body.get("limit", 10))
            server.count([f"{parts[3]}:{o['id']}" for o in page])
            results = [{**o, "properties": {k: o["properties"].get(k) for k in body["properties"]}} for o in page]
            return Response(200, {"total": len(matching), "results": results,
                                  **({"paging": {"next": {"after": after}}} if after else {})})
        if request.method == "POST" and request.path == "/crm/v4/associations/meetings/contacts/batch/read":
            results = [{"from": {"id": i["id"]}, "to": [{"toObjectId": int(data.meeting_contact[i["id"]]),
                                                         "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 200}]}]}
                       for i in request.body["inputs"] if i["id"] in data.meeting_contact]
            return Response(200, {"status": "COMPLETE", "results": results})
        if request.path == "/contacts/v1/lists/all/contacts/all":
            offset = int(request.arg("vidOffset") or 0)
            count = int(request.arg("count", "20"))
            ordered = sorted(data.v1_contacts, key=lambda c: c["vid"])
            page = [c for c in ordered if c["vid"] > offset][:count]
            more = bool(page) and page[-1]["vid"] < ordered[-1]["vid"]
            server.count([f"v1:{c['vid']}" for c in page])
            return Response(200, {"contacts": page, "has-more": more, "vid-offset": page[-1]["vid"] if page else offset})
        return Response(404, {"status": "error", "message": f"no route {request.method} {request.path}"})

    return route
