"""Google Ads API -> native rows of ads/google_ads.csv (then the ads mapper).

``POST {base}/customers/{id}/googleAds:searchStream`` with a GAQL query over ``campaign``
segmented by ``segments.date BETWEEN`` the window's first and last day; the response is a
JSON array of batches, each with ``results``. Headers: ``Authorization: Bearer`` (an OAuth
access token with the ``https://www.googleapis.com/auth/adwords`` scope), ``developer-token``
and, through a manager account, ``login-customer-id``. int64 metrics arrive as strings;
``customer.id`` is written as the UI shows it (123-456-7890), like the CSV export.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

from saas_metrics.connectors.config import ConnectorsConfig, Credentials
from saas_metrics.connectors.http import ApiClient, SourceApiError, require_secret
from saas_metrics.connectors.native import NativeExtract

SYSTEM = "google_ads"
AUTH_HINT = ("check GOOGLE_ADS_ACCESS_TOKEN is a current OAuth access token (scope adwords) of a user with read access "
             "to the customer, and GOOGLE_ADS_DEVELOPER_TOKEN is approved (and login_customer_id set when via a manager)")
COLUMNS = ("segments.date", "customer.id", "customer.currency_code", "campaign.id", "campaign.name", "metrics.cost_micros",
           "metrics.impressions", "metrics.clicks", "metrics.conversions")
RELATIVE = "ads/google_ads.csv"


def google_ads_client(config: ConnectorsConfig, credentials: Credentials, *,
                      sleep: Callable[[float], None] = time.sleep) -> ApiClient:
    token = require_secret(SYSTEM, credentials.google_ads_access_token, "GOOGLE_ADS_ACCESS_TOKEN", "an OAuth access token")
    developer = require_secret(SYSTEM, credentials.google_ads_developer_token, "GOOGLE_ADS_DEVELOPER_TOKEN", "the developer token")
    headers = {"Authorization": f"Bearer {token}", "developer-token": developer}
    if config.google_ads_login_customer_id:
        headers["login-customer-id"] = config.google_ads_login_customer_id.replace("-", "")
    return ApiClient(SYSTEM, config.google_ads_base_url, headers=headers, auth_hint=AUTH_HINT, retry=config.retry, sleep=sleep)


def gaql(first_day: dt.date, last_day: dt.date) -> str:
    return (f"SELECT {', '.join(COLUMNS)} FROM campaign "
            f"WHERE segments.date BETWEEN '{first_day.isoformat()}' AND '{last_day.isoformat()}'")


def dashed(customer_id: object) -> object:
    """1234567890 -> 123-456-7890 (the UI/export form); other values unchanged."""
    text = str(customer_id) if customer_id is not None else None
    return f"{text[:3]}-{text[3:6]}-{text[6:]}" if text and text.isdigit() and len(text) == 10 else customer_id


def result_row(result: Mapping[str, Any]) -> dict[str, Any]:
    customer, campaign = result.get("customer") or {}, result.get("campaign") or {}
    metrics, segments = result.get("metrics") or {}, result.get("segments") or {}
    return {"segments.date": segments.get("date"), "customer.id": dashed(customer.get("id")),
            "customer.currency_code": customer.get("currencyCode"), "campaign.id": campaign.get("id"),
            "campaign.name": campaign.get("name"), "metrics.cost_micros": metrics.get("costMicros"),
            "metrics.impressions": metrics.get("impressions"), "metrics.clicks": metrics.get("clicks"),
            "metrics.conversions": metrics.get("conversions")}


def extract(client: ApiClient, customer_ids: list[str], first_day: dt.date, last_day: dt.date) -> NativeExtract:
    """Daily campaign rows of every customer over [first_day, last_day] (both inclusive)."""
    rows: list[dict[str, Any]] = []
    for customer_id in customer_ids:
        batches = client.post(f"/customers/{customer_id.replace('-', '')}/googleAds:searchStream",
                              {"query": gaql(first_day, last_day)})
        if not isinstance(batches, list):
            raise SourceApiError(SYSTEM, "searchStream: expected a JSON array of result batches")
        for batch in batches:
            rows.extend(result_row(r) for r in batch.get("results") or [])
    return NativeExtract(RELATIVE, COLUMNS, rows, "google-ads-api:googleAds:searchStream")
