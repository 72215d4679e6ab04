"""HubSpot-like CRM exports -> canonical CRM tables.

Native files (docs/sources.md): crm/contacts.csv, companies.csv, deals.csv,
form_submissions.csv, touchpoints.csv, meetings.csv. Lifecycle-stage dates come
from ``hs_lifecyclestage_<stage>_date``; the original source channel from
``hs_analytics_source`` + ``hs_analytics_source_data_1``; a form submission's UTM
tags from the query string of its ``page_url``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from saas_metrics.sources import schemas as s
from saas_metrics.sources.channels import channel_from_hubspot, channels_from_utm
from saas_metrics.sources.files import lower, open_native, upper

SYSTEM = "crm"
TOUCH_TYPES = {"AD_CLICK": "ad_click", "FORM_SUBMISSION": "form_submission", "EMAIL_CLICK": "email_click",
               "PAGE_VIEW": "page_visit", "PAGE_VISIT": "page_visit"}
DEMO_TYPES = {"LIVE_DEMO": "live", "VIDEO_DEMO": "video"}
MEETING_OUTCOMES = {"SCHEDULED": "scheduled", "RESCHEDULED": "scheduled", "COMPLETED": "completed", "NO_SHOW": "no_show",
                    "CANCELED": "canceled", "CANCELLED": "canceled"}
#: Form title keywords -> form type, first match wins.
FORM_KEYWORDS = (("trial", "free_trial"), ("sign up", "free_trial"), ("live demo", "live_demo"), ("book a demo", "live_demo"),
                 ("video", "video_demo"), ("tour", "video_demo"), ("watch", "video_demo"), ("newsletter", "newsletter"),
                 ("subscribe", "newsletter"), ("contact", "contact"), ("demo", "live_demo"))


def form_type_of(title: object) -> str | None:
    """Form type of a HubSpot form title (e.g. 'Start your free trial' -> free_trial); None if unknown."""
    if not isinstance(title, str):
        return None
    text = title.lower()
    return next((kind for keyword, kind in FORM_KEYWORDS if keyword in text), None)


def utm_from_url(url: object) -> tuple[str | None, str | None, str | None]:
    """(utm_source, utm_medium, utm_campaign) from a URL's query string; empty values are None."""
    if not isinstance(url, str):
        return None, None, None
    query = parse_qs(urlsplit(url).query)
    source, medium, campaign = ((query.get(k, [""])[0] or None) for k in ("utm_source", "utm_medium", "utm_campaign"))
    return source, medium, campaign


def _domain(series: pd.Series) -> pd.Series:
    return lower(series).map(lambda v: v.removeprefix("www.") if isinstance(v, str) else None)


def read_contacts(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "crm/contacts.csv", SYSTEM)
    if t is None:
        return s.CRM_CONTACTS.empty_frame()
    source, drill = t.text("hs_analytics_source"), t.text("hs_analytics_source_data_1")
    stage_date = {stage: t.timestamp(f"hs_lifecyclestage_{native}_date", stage) for stage, native in (
        ("lead_at", "lead"), ("mql_at", "marketingqualifiedlead"), ("sql_at", "salesqualifiedlead"),
        ("opportunity_at", "opportunity"), ("customer_at", "customer"))}
    return t.finish({
        "contact_id": t.text("hs_object_id"), "email": lower(t.text("email", "email")), "first_name": t.text("firstname"),
        "last_name": t.text("lastname"), "company_id": t.text("associatedcompanyid"),
        "created_at": t.timestamp("createdate", "created_at"), "lifecycle_stage": lower(t.text("lifecyclestage", "lifecycle_stage")),
        "original_source": pd.Series([channel_from_hubspot(a, b) for a, b in zip(source, drill, strict=True)], dtype=object),
        "original_campaign": t.text("hs_analytics_source_data_2"), **stage_date,
        "billing_customer_id": t.text("stripe_customer_id"), "owner_id": t.text("hubspot_owner_id"),
        "visitor_id": t.text("ga_client_id"), "referred_by_customer_id": t.text("referred_by_customer_id"),
    }, s.CRM_CONTACTS)


def read_companies(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "crm/companies.csv", SYSTEM)
    if t is None:
        return s.CRM_COMPANIES.empty_frame()
    return t.finish({
        "company_id": t.text("hs_object_id"), "name": t.text("name"), "domain": _domain(t.text("domain", "domain")),
        "country": upper(t.text("country", "country")), "created_at": t.timestamp("createdate", "created_at"),
        "owner_id": t.text("hubspot_owner_id"), "billing_customer_id": t.text("stripe_customer_id"),
        "churn_reason": t.text("churn_reason") if t.has("churn_reason") else None,
    }, s.CRM_COMPANIES)


def read_churn_reasons(sources_dir: Path) -> pd.DataFrame:
    """crm/churn_reasons.csv, kept by hand: customer_id (billing id), churned_at, reason, comment."""
    t = open_native(sources_dir, "crm/churn_reasons.csv", SYSTEM)
    if t is None:
        return s.CRM_CHURN_REASONS.empty_frame()
    return t.finish({
        "customer_id": t.text("customer_id"), "churned_at": t.timestamp("churned_at", "churned_at"),
        "reason": t.text("reason"), "comment": t.text("comment"),
    }, s.CRM_CHURN_REASONS)


def read_deals(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "crm/deals.csv", SYSTEM)
    if t is None:
        return s.CRM_DEALS.empty_frame()
    stage = lower(t.text("dealstage", "stage"))
    won = t.boolean("hs_is_closed_won", "is_closed_won") if t.has("hs_is_closed_won") else (stage == "closedwon").astype("boolean")
    return t.finish({
        "deal_id": t.text("hs_object_id"), "company_id": t.text("associated_company_id"),
        "contact_id": t.text("associated_contact_id"), "created_at": t.timestamp("createdate", "created_at"),
        "closed_at": t.timestamp("closedate", "closed_at"), "stage": stage, "is_closed_won": won,
        "amount": t.number("amount", "amount"), "currency": upper(t.text("deal_currency_code", "currency")),
        # optional HubSpot properties: read only when exported (no missing-column warning otherwise)
        "stage_probability": t.number("hs_deal_stage_probability", "stage_probability") if t.has("hs_deal_stage_probability") else None,
        "closed_lost_reason": t.text("closed_lost_reason") if t.has("closed_lost_reason") else None,
    }, s.CRM_DEALS)


def read_form_submissions(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "crm/form_submissions.csv", SYSTEM)
    if t is None:
        return s.CRM_FORM_SUBMISSIONS.empty_frame()
    utm = pd.DataFrame([utm_from_url(u) for u in t.text("page_url")], columns=["source", "medium", "campaign"], dtype=object)
    return t.finish({
        "submission_id": t.text("conversion_id"), "contact_id": t.text("contact_id"),
        "form_type": t.text("form_title", "form_type").map(form_type_of).astype(object),
        "submitted_at": t.timestamp("submitted_at", "submitted_at"),
        "utm_source": utm["source"], "utm_medium": utm["medium"], "utm_campaign": utm["campaign"],
        "channel": channels_from_utm(utm["source"], utm["medium"]),
    }, s.CRM_FORM_SUBMISSIONS)


def read_touchpoints(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "crm/touchpoints.csv", SYSTEM)
    if t is None:
        return s.CRM_TOUCHPOINTS.empty_frame()
    source, medium = t.text("utm_source"), t.text("utm_medium")
    return t.finish({
        "touchpoint_id": t.text("event_id"), "contact_id": t.text("contact_id"),
        "touched_at": t.timestamp("occurred_at", "touched_at"),
        "touch_type": upper(t.text("event_type", "touch_type")).map(TOUCH_TYPES).astype(object),
        "utm_source": source, "utm_medium": medium, "utm_campaign": t.text("utm_campaign"),
        "channel": channels_from_utm(source, medium),
    }, s.CRM_TOUCHPOINTS)


def read_meetings(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "crm/meetings.csv", SYSTEM)
    if t is None:
        return s.CRM_MEETINGS.empty_frame()
    return t.finish({
        "meeting_id": t.text("hs_object_id"), "contact_id": t.text("contact_id"),
        "demo_type": upper(t.text("hs_activity_type", "demo_type")).map(DEMO_TYPES).astype(object),
        "requested_at": t.timestamp("hs_createdate", "requested_at"),
        "start_at": t.timestamp("hs_meeting_start_time", "start_at"),
        "outcome": upper(t.text("hs_meeting_outcome", "outcome")).map(MEETING_OUTCOMES).astype(object),
    }, s.CRM_MEETINGS)
