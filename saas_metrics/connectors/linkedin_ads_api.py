"""LinkedIn Marketing API ad analytics -> native rows of ads/linkedin_ads.csv (then the ads mapper).

``GET {base}/adAnalytics?q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY&dateRange=(start:(...),end:(...))
&accounts=List(urn%3Ali%3AsponsoredAccount%3A{id})&fields=...`` (Rest.li 2.0 syntax; the end day is
inclusive). Analytics rows carry no campaign name or currency: the account's ``currency`` comes from
``GET {base}/adAccounts/{id}`` and names from ``GET {base}/adAccounts/{id}/adCampaigns?q=search``
(paged by ``pageToken``/``metadata.nextPageToken``). Headers: ``Authorization: Bearer`` (a token
with ``r_ads_reporting`` and ``r_ads``), ``LinkedIn-Version`` and ``X-Restli-Protocol-Version: 2.0.0``.
adAnalytics is not paged and answers at most 15,000 elements: a window that hits it fails loudly.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from saas_metrics.connectors.config import ConnectorsConfig, Credentials
from saas_metrics.connectors.http import ApiClient, SourceApiError, require_secret
from saas_metrics.connectors.native import NativeExtract

SYSTEM = "linkedin_ads"
AUTH_HINT = ("check LINKEDIN_ACCESS_TOKEN is a current token with r_ads_reporting and r_ads of a member with access "
             "to the ad account")
COLUMNS = ("dateRange.start", "account", "currency", "campaign", "campaignName", "costInLocalCurrency", "impressions",
           "clicks", "externalWebsiteConversions")
FIELDS = "dateRange,pivotValues,costInLocalCurrency,impressions,clicks,externalWebsiteConversions"
RELATIVE = "ads/linkedin_ads.csv"
MAX_ELEMENTS = 15_000


def linkedin_client(config: ConnectorsConfig, credentials: Credentials, *,
                    sleep: Callable[[float], None] = time.sleep) -> ApiClient:
    token = require_secret(SYSTEM, credentials.linkedin_access_token, "LINKEDIN_ACCESS_TOKEN", "a token with r_ads_reporting")
    headers = {"Authorization": f"Bearer {token}", "LinkedIn-Version": config.linkedin_version,
               "X-Restli-Protocol-Version": "2.0.0"}
    return ApiClient(SYSTEM, config.linkedin_base_url, headers=headers, auth_hint=AUTH_HINT, retry=config.retry, sleep=sleep)


def _restli_date(day: dt.date) -> str:
    return f"(year:{day.year},month:{day.month},day:{day.day})"


def analytics_query(account_id: str, first_day: dt.date, last_day: dt.date) -> str:
    urn = quote(f"urn:li:sponsoredAccount:{account_id}", safe="")
    return (f"q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY"
            f"&dateRange=(start:{_restli_date(first_day)},end:{_restli_date(last_day)})"
            f"&accounts=List({urn})&fields={FIELDS}")


def _date(parts: Mapping[str, Any] | None) -> str | None:
    if not parts:
        return None
    return dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"])).isoformat()


def campaign_names(client: ApiClient, account_id: str, *, page_size: int = 100) -> dict[str, str]:
    """campaign URN -> name of every campaign of the account."""
    names: dict[str, str] = {}
    token: str | None = None
    while True:
        params: dict[str, Any] = {"q": "search", "pageSize": page_size}
        if token:
            params["pageToken"] = token
        page = client.get(f"/adAccounts/{account_id}/adCampaigns", params)
        for campaign in page.get("elements") or []:
            names[f"urn:li:sponsoredCampaign:{campaign['id']}"] = campaign.get("name")
        token = (page.get("metadata") or {}).get("nextPageToken")
        if not token:
            return names


def extract(client: ApiClient, account_ids: list[str], first_day: dt.date, last_day: dt.date, *, page_size: int = 100) -> NativeExtract:
    """Daily campaign analytics of every account over [first_day, last_day] (both inclusive)."""
    rows: list[dict[str, Any]] = []
    for account_id in account_ids:
        currency = client.get(f"/adAccounts/{account_id}").get("currency")
        names = campaign_names(client, account_id, page_size=page_size)
        page = client.get(f"/adAnalytics?{analytics_query(account_id, first_day, last_day)}")
        elements = page.get("elements") or []
        if len(elements) >= MAX_ELEMENTS:
            raise SourceApiError(SYSTEM, f"adAnalytics returned {len(elements)} elements (its maximum): the answer may be "
                                 "truncated; extract shorter windows")
        for element in elements:
            campaign = (element.get("pivotValues") or [None])[0]
            rows.append({"dateRange.start": _date((element.get("dateRange") or {}).get("start")),
                         "account": f"urn:li:sponsoredAccount:{account_id}", "currency": currency, "campaign": campaign,
                         "campaignName": names.get(campaign), "costInLocalCurrency": element.get("costInLocalCurrency"),
                         "impressions": element.get("impressions"), "clicks": element.get("clicks"),
                         "externalWebsiteConversions": element.get("externalWebsiteConversions")})
    return NativeExtract(RELATIVE, COLUMNS, rows, "linkedin-ads-api:/adAnalytics")
