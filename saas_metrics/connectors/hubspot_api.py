"""HubSpot CRM API -> the native CRM records of docs/sources.md (then the CRM mapper).

- contacts, companies, deals: ``GET /crm/v3/objects/{type}`` (snapshots, extracted whole),
  ``properties`` = the native columns, paging ``paging.next.after``; deals also ask
  ``associations=companies,contacts`` (the first associated company/contact). Lifecycle-stage
  timestamps are the ``hs_lifecyclestage_<stage>_date`` properties (HubSpot keeps them itself).
- meetings (facts by start time): ``POST /crm/v3/objects/meetings/search`` with
  ``hs_meeting_start_time`` GTE/LT the window (epoch ms), sorted by ``hs_object_id``, paging by
  ``after``; contacts by ``POST /crm/v4/associations/meetings/contacts/batch/read``.
  Search answers at most 10,000 results per query: a month with more meetings fails loudly.
- form submissions (facts by submission time): the contact-level form-submission records of
  ``GET /contacts/v1/lists/all/contacts/all?formSubmissionMode=all`` (conversion-id, form-id,
  title, page-url, timestamp), paged by ``vid-offset``; the window is applied to their timestamps.
- touchpoints (AD_CLICK, EMAIL_CLICK, ... per contact) are not a HubSpot API object: read
  ``crm_touchpoints`` from files or the replica (per-table override in ConnectorsConfig.tables).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from saas_metrics.connectors.config import ConnectorsConfig, Credentials
from saas_metrics.connectors.http import ApiClient, SourceApiError, require_secret
from saas_metrics.connectors.native import NativeExtract

SYSTEM = "hubspot"
AUTH_HINT = ("check HUBSPOT_ACCESS_TOKEN is a private-app token of the right portal with the scopes "
             "crm.objects.contacts.read, crm.objects.companies.read, crm.objects.deals.read and forms")
SEARCH_LIMIT = 10_000

CONTACT_COLUMNS = ("hs_object_id", "email", "firstname", "lastname", "associatedcompanyid", "createdate", "lifecyclestage",
                   "hs_analytics_source", "hs_analytics_source_data_1", "hs_analytics_source_data_2",
                   "hs_lifecyclestage_lead_date", "hs_lifecyclestage_marketingqualifiedlead_date",
                   "hs_lifecyclestage_salesqualifiedlead_date", "hs_lifecyclestage_opportunity_date",
                   "hs_lifecyclestage_customer_date", "stripe_customer_id", "hubspot_owner_id", "ga_client_id",
                   "referred_by_customer_id")
# churn_reason is a custom company property; HubSpot leaves out properties a portal does not have
COMPANY_COLUMNS = ("hs_object_id", "name", "domain", "country", "createdate", "hubspot_owner_id", "stripe_customer_id", "churn_reason")
DEAL_PROPERTIES = ("hs_object_id", "dealname", "createdate", "closedate", "dealstage", "amount", "deal_currency_code", "hs_is_closed_won",
                   "hs_deal_stage_probability", "closed_lost_reason")
DEAL_COLUMNS = (*DEAL_PROPERTIES, "associated_company_id", "associated_contact_id")
MEETING_PROPERTIES = ("hs_object_id", "hs_meeting_title", "hs_activity_type", "hs_createdate", "hs_meeting_start_time", "hs_meeting_outcome")
MEETING_COLUMNS = (*MEETING_PROPERTIES, "contact_id")
FORM_COLUMNS = ("conversion_id", "contact_id", "form_id", "form_title", "submitted_at", "page_url")

TABLES = ("crm_contacts", "crm_companies", "crm_deals", "crm_meetings", "crm_form_submissions")


def hubspot_client(config: ConnectorsConfig, credentials: Credentials, *, sleep: Callable[[float], None] = time.sleep) -> ApiClient:
    token = require_secret(SYSTEM, credentials.hubspot_access_token, "HUBSPOT_ACCESS_TOKEN", "a HubSpot private-app access token")
    return ApiClient(SYSTEM, config.hubspot_base_url, headers={"Authorization": f"Bearer {token}"}, auth_hint=AUTH_HINT,
                     retry=config.retry, sleep=sleep)


def epoch_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _after(page: Mapping[str, Any]) -> str | None:
    return ((page.get("paging") or {}).get("next") or {}).get("after")


def list_objects(client: ApiClient, object_type: str, properties: Sequence[str], *, associations: Sequence[str] = (),
                 page_size: int = 100) -> list[dict[str, Any]]:
    """Every (non-archived) object of a CRM v3 type, following ``paging.next.after``."""
    records: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": page_size, "properties": ",".join(properties), "archived": "false"}
        if associations:
            params["associations"] = ",".join(associations)
        if after:
            params["after"] = after
        page = client.get(f"/crm/v3/objects/{object_type}", params)
        records.extend(page.get("results") or [])
        after = _after(page)
        if not after:
            return records


def search_objects(client: ApiClient, object_type: str, properties: Sequence[str], filters: list[dict[str, Any]], *,
                   page_size: int = 100) -> list[dict[str, Any]]:
    """Every object matching ``filters`` (AND) via the CRM search endpoint, sorted by id, following ``after``."""
    records: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        body: dict[str, Any] = {"filterGroups": [{"filters": filters}], "properties": list(properties), "limit": page_size,
                                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}
        if after:
            body["after"] = after
        page = client.post(f"/crm/v3/objects/{object_type}/search", body)
        if (page.get("total") or 0) > SEARCH_LIMIT:
            raise SourceApiError(SYSTEM, f"search of {object_type} matches {page['total']} records, more than the "
                                 f"search API's {SEARCH_LIMIT}; cannot extract this window completely")
        records.extend(page.get("results") or [])
        after = _after(page)
        if not after:
            return records


def _associated(obj: Mapping[str, Any], kind: str) -> str | None:
    results = ((obj.get("associations") or {}).get(kind) or {}).get("results") or []
    return str(results[0]["id"]) if results else None


def property_row(obj: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    props = obj.get("properties") or {}
    row = {c: props.get(c) for c in columns}
    if "hs_object_id" in row and not row["hs_object_id"]:
        row["hs_object_id"] = obj.get("id")
    return row


def absent_properties(objects: Sequence[Mapping[str, Any]], names: Sequence[str]) -> tuple[str, ...]:
    """Requested properties no object returned at all: the portal does not have them (HubSpot omits an
    unknown property, and returns a known one even when empty). Left out of the landed file, the
    table's reader reports them (saas_metrics.sources.drift); unknown when nothing was returned."""
    if not objects:
        return ()
    seen = set().union(*((o.get("properties") or {}).keys() for o in objects))
    return tuple(n for n in names if n != "hs_object_id" and n not in seen)


def meeting_contacts(client: ApiClient, meeting_ids: list[str], *, batch: int = 100) -> dict[str, str]:
    """meeting id -> first associated contact id (CRM v4 batch association read)."""
    out: dict[str, str] = {}
    for i in range(0, len(meeting_ids), batch):
        page = client.post("/crm/v4/associations/meetings/contacts/batch/read",
                           {"inputs": [{"id": m} for m in meeting_ids[i:i + batch]]})
        for result in page.get("results") or []:
            targets = result.get("to") or []
            if targets:
                out[str(result["from"]["id"])] = str(targets[0]["toObjectId"])
    return out


def form_submission_rows(client: ApiClient, *, page_size: int = 100) -> list[dict[str, Any]]:
    """Every contact's form submissions (contacts v1 list with ``formSubmissionMode=all``)."""
    rows: list[dict[str, Any]] = []
    offset: Any = None
    while True:
        params: dict[str, Any] = {"count": page_size, "formSubmissionMode": "all", "property": "hs_object_id",
                                  "showListMemberships": "false"}
        if offset is not None:
            params["vidOffset"] = offset
        page = client.get("/contacts/v1/lists/all/contacts/all", params)
        for contact in page.get("contacts") or []:
            for sub in contact.get("form-submissions") or []:
                rows.append({"conversion_id": sub.get("conversion-id"), "contact_id": contact.get("vid"),
                             "form_id": sub.get("form-id"), "form_title": sub.get("title"),
                             "submitted_at": sub.get("timestamp"), "page_url": sub.get("page-url")})
        if not page.get("has-more"):
            return rows
        if page.get("vid-offset") == offset:
            raise SourceApiError(SYSTEM, "contacts v1 list: vid-offset did not advance; cannot continue paging")
        offset = page.get("vid-offset")


def deal_stage(closed: bool | None, won: bool | None, probability: Any) -> dict[str, Any]:
    """A pipeline stage as what a deal in it is: closed stages read ``closedwon`` / ``closedlost`` (the names
    of HubSpot's default pipeline, so closed stages of custom pipelines count as closed too), with the
    stage's won flag and probability."""
    closed = bool(won) if closed is None else closed or bool(won)
    return {"dealstage": ("closedwon" if won else "closedlost") if closed else None, "hs_is_closed_won": won,
            "hs_deal_stage_probability": probability}


def with_stage(row: dict[str, Any], stages: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """A native deal row completed from its stage (:func:`deal_stage` by stage id): the closed stage's name,
    and the won flag and probability where the deal has none; without stage information, unchanged."""
    stage = stages.get(row["dealstage"])
    if stage is not None:
        row["dealstage"] = stage["dealstage"] or row["dealstage"]
        for column in ("hs_is_closed_won", "hs_deal_stage_probability"):
            row[column] = stage[column] if row[column] is None else row[column]
    if row["hs_is_closed_won"] is None and stages:
        row["hs_is_closed_won"] = row["dealstage"] == "closedwon"
    return row


class ApiObjects:
    """The CRM objects the extraction needs, read from the HubSpot API (another implementation reads a replica
    holding the same objects: saas_metrics.connectors.airbyte_replica)."""

    label_prefix = "hubspot-api:"

    def __init__(self, client: ApiClient, page_size: int = 100) -> None:
        self.client, self.page_size = client, page_size

    def objects(self, object_type: str, properties: Sequence[str], associations: Sequence[str] = ()) -> list[dict[str, Any]]:
        return list_objects(self.client, object_type, properties, associations=associations, page_size=self.page_size)

    def meetings(self, start: dt.date | None, end: dt.date | None) -> list[dict[str, Any]]:
        filters = []
        if start is not None:
            filters.append({"propertyName": "hs_meeting_start_time", "operator": "GTE", "value": str(epoch_ms(start))})
        if end is not None:
            filters.append({"propertyName": "hs_meeting_start_time", "operator": "LT", "value": str(epoch_ms(end))})
        return search_objects(self.client, "meetings", MEETING_PROPERTIES, filters, page_size=self.page_size)

    def meeting_contacts(self, meetings: list[dict[str, Any]]) -> dict[str, str]:
        return meeting_contacts(self.client, [str(m["id"]) for m in meetings])

    def form_submissions(self) -> list[dict[str, Any]]:
        return form_submission_rows(self.client, page_size=self.page_size)

    def deal_stages(self) -> dict[Any, dict[str, Any]]:
        """Stage id -> :func:`deal_stage`; the API path takes won / lost from the deal's own properties."""
        return {}

    def label(self, table: str) -> str:
        return self.label_prefix + {"crm_contacts": "/crm/v3/objects/contacts", "crm_companies": "/crm/v3/objects/companies",
                                    "crm_deals": "/crm/v3/objects/deals", "crm_meetings": "/crm/v3/objects/meetings/search",
                                    "crm_form_submissions": "/contacts/v1/lists/all/contacts/all"}[table]


def extract(table: str, client: ApiClient, start: dt.date | None, end: dt.date | None, *, page_size: int = 100) -> list[NativeExtract]:
    """The native records of ``table`` from the API (see :func:`extract_objects`)."""
    return extract_objects(table, ApiObjects(client, page_size), start, end)


def extract_objects(table: str, source: ApiObjects, start: dt.date | None, end: dt.date | None) -> list[NativeExtract]:
    """The native records of ``table`` (meetings: started in [start, end); form submissions filtered to the
    window by the mapper's reader; snapshots whole) from the CRM objects ``source`` gives."""
    if table == "crm_contacts":
        contacts = source.objects("contacts", CONTACT_COLUMNS)
        rows = [property_row(o, CONTACT_COLUMNS) for o in contacts]
        return [NativeExtract("crm/contacts.csv", CONTACT_COLUMNS, rows, source.label(table),
                              absent=absent_properties(contacts, CONTACT_COLUMNS))]
    if table == "crm_companies":
        companies = source.objects("companies", COMPANY_COLUMNS)
        rows = [property_row(o, COMPANY_COLUMNS) for o in companies]
        return [NativeExtract("crm/companies.csv", COMPANY_COLUMNS, rows, source.label(table),
                              absent=absent_properties(companies, COMPANY_COLUMNS))]
    if table == "crm_deals":
        deals = source.objects("deals", DEAL_PROPERTIES, ("companies", "contacts"))
        stages = source.deal_stages()
        rows = [{**with_stage(property_row(d, DEAL_PROPERTIES), stages), "associated_company_id": _associated(d, "companies"),
                 "associated_contact_id": _associated(d, "contacts")} for d in deals]
        return [NativeExtract("crm/deals.csv", DEAL_COLUMNS, rows, source.label(table),
                              absent=absent_properties(deals, DEAL_PROPERTIES))]
    if table == "crm_meetings":
        meetings = source.meetings(start, end)
        contact_of = source.meeting_contacts(meetings)
        rows = [{**property_row(m, MEETING_PROPERTIES), "contact_id": contact_of.get(str(m["id"]))} for m in meetings]
        return [NativeExtract("crm/meetings.csv", MEETING_COLUMNS, rows, source.label(table),
                              absent=absent_properties(meetings, MEETING_PROPERTIES))]
    if table == "crm_form_submissions":
        return [NativeExtract("crm/form_submissions.csv", FORM_COLUMNS, source.form_submissions(), source.label(table))]
    raise KeyError(f"{SYSTEM}: no API extractor for table {table!r}; API tables: {list(TABLES)} "
                   "(read the others from files or the SQL replica: ConnectorsConfig.tables)")
