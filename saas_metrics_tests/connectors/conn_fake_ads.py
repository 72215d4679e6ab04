"""Fake Google Ads (searchStream), Meta (insights with paging.next) and LinkedIn (adAccounts, adCampaigns,
adAnalytics) APIs serving ads/*.csv in their documented response shapes, all on one server."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pandas as pd

from saas_metrics_tests.connectors.conn_fake_server import FakeServer, Request, Response

GOOD_TOKEN = "ads-good"
DEVELOPER_TOKEN = "dev-good"


def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False).to_dict("records")


class AdsData:
    def __init__(self, sources: Path) -> None:
        ads = sources / "ads"
        self.google = _rows(ads, "google_ads.csv")
        self.meta = _rows(ads, "meta_ads.csv")
        self.linkedin = _rows(ads, "linkedin_ads.csv")
        self.google_customers = sorted({r["customer.id"] for r in self.google})
        self.meta_accounts = sorted({r["account_id"] for r in self.meta})
        self.linkedin_accounts = sorted({r["account"].rsplit(":", 1)[-1] for r in self.linkedin})


def _google(request: Request, data: AdsData) -> Response:
    if request.headers.get("developer-token") != DEVELOPER_TOKEN:
        return Response(403, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "developer token not approved"}})
    customer = request.path.split("/")[-2]
    query = request.body["query"]
    since, until = re.search(r"BETWEEN '([\d-]+)' AND '([\d-]+)'", query).groups()
    rows = [r for r in data.google if r["customer.id"].replace("-", "") == customer and since <= r["segments.date"] <= until]
    results = [{"customer": {"resourceName": f"customers/{customer}", "id": customer, "currencyCode": r["customer.currency_code"]},
                "campaign": {"resourceName": f"customers/{customer}/campaigns/{r['campaign.id']}", "id": r["campaign.id"],
                             "name": r["campaign.name"]},
                "metrics": {"costMicros": r["metrics.cost_micros"], "impressions": r["metrics.impressions"],
                            "clicks": r["metrics.clicks"], "conversions": float(r["metrics.conversions"])},
                "segments": {"date": r["segments.date"]}} for r in rows]
    batches = [results[i:i + 50] for i in range(0, len(results), 50)] or [[]]
    return Response(200, [{"results": b, "fieldMask": "segments.date,customer.id", "requestId": f"r{n}"} for n, b in enumerate(batches)])


def _meta(request: Request, data: AdsData, server: FakeServer) -> Response:
    account = request.path.split("/")[-2]
    since_until = json.loads(request.arg("time_range"))
    assert request.arg("level") == "campaign" and request.arg("time_increment") == "1"
    rows = [r for r in data.meta if r["account_id"] == account and since_until["since"] <= r["date_start"] <= since_until["until"]]
    start, limit = int(request.arg("after") or 0), int(request.arg("limit", "25"))
    page = rows[start:start + limit]
    out = []
    for r in page:
        row: dict[str, Any] = {"account_id": account.removeprefix("act_"), "account_currency": r["account_currency"],
                               "campaign_id": r["campaign_id"], "campaign_name": r["campaign_name"], "spend": r["spend"],
                               "impressions": r["impressions"], "clicks": r["clicks"], "date_start": r["date_start"],
                               "date_stop": r["date_stop"]}
        if r["actions_lead"] not in ("", "0"):
            row["actions"] = [{"action_type": "link_click", "value": r["clicks"]}, {"action_type": "lead", "value": r["actions_lead"]}]
        out.append(row)
    server.count([f"meta:{r['date_start']}:{r['campaign_id']}" for r in page])
    paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + limit)}}
    if start + limit < len(rows):
        params = "&".join(f"{k}={v[0]}" for k, v in request.query.items() if k != "after")
        paging["next"] = f"{server.url}{request.path}?{params}&after={start + limit}"
    return Response(200, {"data": out, "paging": paging})


def _restli_date(text: str) -> dt.date:
    parts = dict(re.findall(r"(year|month|day):(\d+)", text))
    return dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))


def _linkedin(request: Request, data: AdsData) -> Response:
    if request.headers.get("x-restli-protocol-version") != "2.0.0" or not request.headers.get("linkedin-version"):
        return Response(400, {"status": 400, "message": "missing LinkedIn-Version / X-Restli-Protocol-Version"})
    parts = request.path.strip("/").split("/")
    if parts[-1] == "adAnalytics":
        range_text = request.arg("dateRange")
        start_text, end_text = range_text.split("end:")
        since, until = _restli_date(start_text).isoformat(), _restli_date(end_text).isoformat()
        account = unquote(request.arg("accounts")).removeprefix("List(").removesuffix(")")
        rows = [r for r in data.linkedin if r["account"] == account and since <= r["dateRange.start"] <= until]
        elements = []
        for r in rows:
            day = dt.date.fromisoformat(r["dateRange.start"])
            ymd = {"year": day.year, "month": day.month, "day": day.day}
            elements.append({"dateRange": {"start": ymd, "end": ymd}, "pivotValues": [r["campaign"]],
                             "costInLocalCurrency": r["costInLocalCurrency"], "impressions": int(r["impressions"]),
                             "clicks": int(r["clicks"]), "externalWebsiteConversions": float(r["externalWebsiteConversions"])})
        return Response(200, {"elements": elements, "paging": {"start": 0, "count": 10, "links": []}})
    account = parts[-2] if parts[-1] == "adCampaigns" else parts[-1]
    rows = [r for r in data.linkedin if r["account"].endswith(f":{account}")]
    if parts[-1] == "adCampaigns":
        campaigns = sorted({(r["campaign"].rsplit(":", 1)[-1], r["campaignName"]) for r in rows})
        start, size = int(request.arg("pageToken") or 0), int(request.arg("pageSize", "100"))
        page = campaigns[start:start + size]
        metadata = {"nextPageToken": str(start + size)} if start + size < len(campaigns) else {}
        return Response(200, {"elements": [{"id": int(c), "name": n, "account": f"urn:li:sponsoredAccount:{account}"} for c, n in page],
                              "metadata": metadata})
    return Response(200, {"id": int(account), "currency": rows[0]["currency"], "name": "Ads account", "status": "ACTIVE"})


def ads_route(data: AdsData, *, token: str = GOOD_TOKEN):
    def route(request: Request, server: FakeServer) -> Response:
        if request.headers.get("authorization") != f"Bearer {token}":
            if request.path.startswith("/meta/"):
                return Response(400, {"error": {"message": "Error validating access token: Session has expired",
                                                "type": "OAuthException", "code": 190, "error_subcode": 463}})
            return Response(401, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "invalid credentials"}})
        if request.path.startswith("/google/"):
            return _google(request, data)
        if request.path.startswith("/meta/"):
            return _meta(request, data, server)
        if request.path.startswith("/linkedin/"):
            return _linkedin(request, data)
        return Response(404, {"error": "no route"})

    return route
