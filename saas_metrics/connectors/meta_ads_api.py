"""Meta Marketing API insights -> native rows of ads/meta_ads.csv (then the ads mapper).

``GET {base}/act_{id}/insights`` with ``level=campaign``, ``time_increment=1`` (one row per
day) and ``time_range={"since","until"}`` (the window's first and last day), paging by the
``paging.next`` URL (followed only on the API's own host). The access token (``ads_read``)
travels as a Bearer header, never in URLs. ``actions_lead`` = the ``lead`` action's value
(0 when Meta omits actions). An expired or invalid token (HTTP 401/403, or 400 with
OAuthException code 190) is an authentication error.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from saas_metrics.connectors.config import ConnectorsConfig, Credentials
from saas_metrics.connectors.http import ApiClient, default_auth_error, require_secret
from saas_metrics.connectors.native import NativeExtract

SYSTEM = "meta_ads"
AUTH_HINT = "check META_ACCESS_TOKEN is a valid (not expired) token with the ads_read permission on the ad account"
FIELDS = ("account_id", "account_currency", "campaign_id", "campaign_name", "spend", "impressions", "clicks", "actions")
COLUMNS = ("date_start", "date_stop", "account_id", "account_currency", "campaign_id", "campaign_name", "spend",
           "impressions", "clicks", "actions_lead")
RELATIVE = "ads/meta_ads.csv"
LEAD_ACTIONS = frozenset({"lead"})


def is_auth_error(response: httpx.Response) -> bool:
    if default_auth_error(response):
        return True
    if response.status_code != 400:
        return False
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return False
    return error.get("code") == 190 or (error.get("type") == "OAuthException" and error.get("code") in (102, 190))


def meta_client(config: ConnectorsConfig, credentials: Credentials, *, sleep: Callable[[float], None] = time.sleep) -> ApiClient:
    token = require_secret(SYSTEM, credentials.meta_access_token, "META_ACCESS_TOKEN", "a token with ads_read")
    return ApiClient(SYSTEM, config.meta_base_url, headers={"Authorization": f"Bearer {token}"}, auth_hint=AUTH_HINT,
                     retry=config.retry, is_auth_error=is_auth_error, sleep=sleep)


def account_path(account_id: str) -> str:
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def insight_row(row: Mapping[str, Any]) -> dict[str, Any]:
    leads = sum(float(a.get("value") or 0) for a in row.get("actions") or [] if a.get("action_type") in LEAD_ACTIONS)
    account = row.get("account_id")
    return {"date_start": row.get("date_start"), "date_stop": row.get("date_stop"),
            "account_id": account_path(str(account)) if account else None, "account_currency": row.get("account_currency"),
            "campaign_id": row.get("campaign_id"), "campaign_name": row.get("campaign_name"), "spend": row.get("spend"),
            "impressions": row.get("impressions"), "clicks": row.get("clicks"),
            "actions_lead": int(leads) if leads == int(leads) else leads}


def extract(client: ApiClient, account_ids: list[str], first_day: dt.date, last_day: dt.date, *, page_size: int = 100) -> NativeExtract:
    """Daily campaign insights of every account over [first_day, last_day] (both inclusive)."""
    rows: list[dict[str, Any]] = []
    for account_id in account_ids:
        params: dict[str, Any] | None = {
            "level": "campaign", "time_increment": 1, "limit": page_size, "fields": ",".join(FIELDS),
            "time_range": json.dumps({"since": first_day.isoformat(), "until": last_day.isoformat()}, separators=(",", ":")),
        }
        url: str | None = f"/{account_path(account_id)}/insights"
        while url:
            page = client.get(url, params)
            rows.extend(insight_row(r) for r in page.get("data") or [])
            url, params = (page.get("paging") or {}).get("next"), None  # the next URL carries every parameter
    return NativeExtract(RELATIVE, COLUMNS, rows, "meta-ads-api:/insights")
