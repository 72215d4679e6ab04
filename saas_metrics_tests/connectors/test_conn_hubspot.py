"""HubSpot API connector against a fake HubSpot on 127.0.0.1 serving the sample data."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from saas_metrics.connectors.config import Credentials
from saas_metrics.connectors.http import SourceAuthError
from saas_metrics.connectors.resource import ConnectorError, read_table
from saas_metrics.sources.registry import read_source_table
from saas_metrics_tests.connectors.conn_fake_hubspot import GOOD_TOKEN, HubSpotData, hubspot_route
from saas_metrics_tests.connectors.conn_fake_server import FakeServer, Response
from saas_metrics_tests.connectors.conn_helpers import (
    assert_same_canonical,
    fast_config,
)

MAY = (dt.date(2025, 5, 1), dt.date(2025, 6, 1))


@pytest.fixture(scope="module")
def server(sources: Path):
    with FakeServer(hubspot_route(HubSpotData(sources))) as server:
        yield server


def _read(server: FakeServer, table: str, start=None, end=None, *, token: str = GOOD_TOKEN, page_size: int = 100, sleep=None):
    config = fast_config(hubspot_base_url=server.url, page_size=page_size)
    return read_table(table, "api", Path("unused"), start, end, config=config,
                      credentials=Credentials(hubspot_access_token=token), **({"sleep": sleep} if sleep else {}))


@pytest.mark.parametrize("table", ["crm_contacts", "crm_companies", "crm_deals"])
def test_snapshots_via_api_equal_files(sources: Path, server: FakeServer, table: str) -> None:
    api = _read(server, table)
    assert_same_canonical(api, read_source_table(table, sources), table)
    assert api["_source_file"].str.startswith("hubspot-api:/crm/v3/objects/").all()


@pytest.mark.parametrize("table", ["crm_meetings", "crm_form_submissions"])
def test_month_of_facts_via_api_equals_files(sources: Path, server: FakeServer, table: str) -> None:
    assert_same_canonical(_read(server, table, *MAY), read_source_table(table, sources, *MAY), table)


def test_meetings_search_pages_through_the_window_once(sources: Path, server: FakeServer) -> None:
    expected = set(read_source_table("crm_meetings", sources, *MAY)["meeting_id"])
    assert len(expected) > 3
    server.served.clear()
    before = len(server.requests)
    frame = _read(server, "crm_meetings", *MAY, page_size=3)
    searches = [r for r in server.requests[before:] if r.path.endswith("/search")]
    assert set(frame["meeting_id"]) == expected
    assert server.served == Counter({f"meetings:{m}": 1 for m in expected})
    assert len(searches) == -(-len(expected) // 3)
    assert searches[0].body["filterGroups"][0]["filters"] == [
        {"propertyName": "hs_meeting_start_time", "operator": "GTE", "value": "1746057600000"},
        {"propertyName": "hs_meeting_start_time", "operator": "LT", "value": "1748736000000"}]


def test_contacts_list_pages_without_loss_or_repeat(sources: Path, server: FakeServer) -> None:
    server.served.clear()
    frame = _read(server, "crm_contacts", page_size=17)
    ids = list(read_source_table("crm_contacts", sources)["contact_id"])
    assert sorted(frame["contact_id"]) == sorted(ids)
    assert server.served == Counter({f"contacts:{i}": 1 for i in ids})


def test_bad_token_names_hubspot_and_the_scopes(server: FakeServer) -> None:
    with pytest.raises(SourceAuthError) as error:
        _read(server, "crm_deals", token="pat-na1-revoked")
    assert str(error.value).startswith("hubspot: credentials rejected (401)")
    assert "crm.objects.deals.read" in str(error.value) and "revoked" not in str(error.value)


def test_rate_limited_search_is_retried(sources: Path, server: FakeServer) -> None:
    waits: list[float] = []
    server.failures = [Response(429, {"status": "error", "policyName": "TEN_SECONDLY_ROLLING"}, {"Retry-After": "1"})]
    frame = _read(server, "crm_meetings", *MAY, sleep=waits.append)
    assert waits == [1.0]
    assert_same_canonical(frame, read_source_table("crm_meetings", sources, *MAY), "crm_meetings")


def test_touchpoints_have_no_api_and_say_how_to_read_them() -> None:
    with pytest.raises(ConnectorError, match=r"crm_touchpoints \(crm\) cannot be read with kind 'api'.*ConnectorsConfig.tables"):
        read_table("crm_touchpoints", "api", Path("unused"), *MAY)


def test_a_property_the_portal_lacks_is_reported_like_a_missing_column() -> None:
    """HubSpot omits a property the portal does not have (and returns a known one even when empty)."""
    from saas_metrics.connectors.hubspot_api import absent_properties

    objects = [{"id": "1", "properties": {"email": "a@b.co", "lifecyclestage": None}},
               {"id": "2", "properties": {"email": None}}]
    assert absent_properties(objects, ("hs_object_id", "email", "lifecyclestage", "hs_analytics_source")) == ("hs_analytics_source",)
    assert absent_properties([], ("email",)) == ()
