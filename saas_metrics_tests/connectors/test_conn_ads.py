"""Google Ads, Meta and LinkedIn connectors against fake APIs on 127.0.0.1 serving the sample ad reports."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from saas_metrics.connectors.config import Credentials
from saas_metrics.connectors.google_ads_api import dashed, gaql
from saas_metrics.connectors.http import SourceApiError, SourceAuthError
from saas_metrics.connectors.linkedin_ads_api import analytics_query
from saas_metrics.connectors.resource import ConnectorError, read_table
from saas_metrics.sources.registry import read_source_table
from saas_metrics_tests.connectors.conn_fake_ads import (
    DEVELOPER_TOKEN,
    GOOD_TOKEN,
    AdsData,
    ads_route,
)
from saas_metrics_tests.connectors.conn_fake_server import FakeServer
from saas_metrics_tests.connectors.conn_helpers import (
    assert_same_canonical,
    fast_config,
)

MAY = (dt.date(2025, 5, 1), dt.date(2025, 6, 1))


@pytest.fixture(scope="module")
def data(sources: Path) -> AdsData:
    return AdsData(sources)


@pytest.fixture(scope="module")
def server(data: AdsData):
    with FakeServer(ads_route(data)) as server:
        yield server


def _config(server: FakeServer, data: AdsData, **overrides):
    fields = {"google_ads_base_url": f"{server.url}/google/v18", "google_ads_customer_ids": data.google_customers,
              "meta_base_url": f"{server.url}/meta/v21.0", "meta_ad_account_ids": data.meta_accounts,
              "linkedin_base_url": f"{server.url}/linkedin/rest", "linkedin_ad_account_ids": data.linkedin_accounts,
              "page_size": 40, **overrides}
    return fast_config(**fields)


def _credentials(token: str = GOOD_TOKEN) -> Credentials:
    return Credentials(google_ads_access_token=token, google_ads_developer_token=DEVELOPER_TOKEN, meta_access_token=token,
                       linkedin_access_token=token)


def test_query_builders() -> None:
    assert gaql(dt.date(2025, 5, 1), dt.date(2025, 5, 31)).endswith("FROM campaign WHERE segments.date BETWEEN '2025-05-01' AND '2025-05-31'")
    assert analytics_query("508812345", dt.date(2025, 5, 1), dt.date(2025, 5, 31)) == (
        "q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY&dateRange=(start:(year:2025,month:5,day:1),end:(year:2025,month:5,day:31))"
        "&accounts=List(urn%3Ali%3AsponsoredAccount%3A508812345)"
        "&fields=dateRange,pivotValues,costInLocalCurrency,impressions,clicks,externalWebsiteConversions")
    assert dashed("1234567890") == "123-456-7890" and dashed("12345") == "12345"


def test_a_month_of_ad_spend_via_apis_equals_files(sources: Path, data: AdsData, server: FakeServer) -> None:
    for start, end in (MAY, (dt.date(2025, 4, 1), dt.date(2025, 5, 1))):
        api = read_table("ad_spend", "api", Path("unused"), start, end, config=_config(server, data), credentials=_credentials())
        expected = read_source_table("ad_spend", sources, start, end)
        assert set(expected["platform"]) == {"google_ads", "meta_ads", "linkedin_ads"}
        assert_same_canonical(api, expected, "ad_spend")
    assert set(api["_source_file"]) == {"google-ads-api:googleAds:searchStream", "meta-ads-api:/insights", "linkedin-ads-api:/adAnalytics"}


def test_meta_paging_next_serves_each_row_once(data: AdsData, server: FakeServer) -> None:
    server.served.clear()
    frame = read_table("ad_spend", "api", Path("unused"), *MAY, config=_config(server, data, page_size=9), credentials=_credentials())
    meta = frame[frame["platform"] == "meta_ads"]
    expected = {f"meta:{r['date_start']}:{r['campaign_id']}" for r in data.meta if r["date_start"].startswith("2025-05")}
    assert len(expected) > 9
    assert server.served == Counter(dict.fromkeys(expected, 1))
    assert len(meta) == len(expected)


def test_expired_meta_token_is_an_auth_error(data: AdsData, server: FakeServer) -> None:
    config = _config(server, data, google_ads_customer_ids=[], linkedin_ad_account_ids=[])
    with pytest.warns(UserWarning, match="no account configured"), pytest.raises(SourceAuthError) as error:
        read_table("ad_spend", "api", Path("unused"), *MAY, config=config, credentials=_credentials("expired"))
    assert str(error.value).startswith("meta_ads: credentials rejected (400)") and "ads_read" in str(error.value)


def test_unapproved_google_developer_token_is_an_auth_error(data: AdsData, server: FakeServer) -> None:
    config = _config(server, data, meta_ad_account_ids=[], linkedin_ad_account_ids=[])
    credentials = Credentials(google_ads_access_token=GOOD_TOKEN, google_ads_developer_token="dev-pending")
    with pytest.raises(SourceAuthError, match=r"^google_ads: credentials rejected \(403\).*GOOGLE_ADS_DEVELOPER_TOKEN"):
        read_table("ad_spend", "api", Path("unused"), *MAY, config=config, credentials=credentials)


def test_missing_token_says_which_variable_to_set(data: AdsData, server: FakeServer) -> None:
    with pytest.warns(UserWarning), pytest.raises(SourceAuthError, match="LINKEDIN_ACCESS_TOKEN"):
        read_table("ad_spend", "api", Path("unused"), *MAY, config=_config(server, data, google_ads_customer_ids=[], meta_ad_account_ids=[]),
                   credentials=Credentials())


def test_ad_spend_via_api_needs_a_window() -> None:
    with pytest.raises(ConnectorError, match="bounded window"):
        read_table("ad_spend", "api", Path("unused"), None, None, credentials=Credentials())


def test_meta_next_link_to_another_host_is_refused(data: AdsData) -> None:
    def route(request, server):
        from saas_metrics_tests.connectors.conn_fake_server import Response

        return Response(200, {"data": [], "paging": {"next": "https://evil.example.com/steal?x=1"}})

    with FakeServer(route) as evil:
        config = fast_config(meta_base_url=f"{evil.url}/meta/v21.0", meta_ad_account_ids=["act_1"])
        with pytest.warns(UserWarning), pytest.raises(SourceApiError, match="refusing to follow a link to another host"):
            read_table("ad_spend", "api", Path("unused"), *MAY, config=config, credentials=_credentials())
