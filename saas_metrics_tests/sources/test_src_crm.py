"""HubSpot-like CRM exports -> canonical CRM tables."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.sources import crm

T = pd.Timestamp


def test_contacts_lifecycle_and_original_source(write) -> None:
    d = write("crm/contacts.csv", """
hs_object_id,email,firstname,lastname,associatedcompanyid,createdate,lifecyclestage,hs_analytics_source,hs_analytics_source_data_1,hs_analytics_source_data_2,hs_lifecyclestage_lead_date,hs_lifecyclestage_marketingqualifiedlead_date,hs_lifecyclestage_salesqualifiedlead_date,hs_lifecyclestage_opportunity_date,hs_lifecyclestage_customer_date,stripe_customer_id,hubspot_owner_id,ga_client_id,referred_by_customer_id
51,Ann@Acme.com,Ann,Lee,91,2025-01-05T10:00:00Z,customer,PAID_SOCIAL,LinkedIn,li-abm,2025-01-05T10:00:00Z,2025-01-06T10:00:00Z,2025-01-10T00:00:00Z,,2025-02-01T00:00:00Z,cus_1,701,123.456,
52,bo@x.io,Bo,Ng,,2025-01-07T00:00:00Z,lead,ORGANIC_SEARCH,google,,2025-01-07T00:00:00Z,,,,,,,,cus_1
""")
    out = crm.read_contacts(d)
    assert out["original_source"].tolist() == ["linkedin_ads", "organic_search"]
    assert out["email"].iloc[0] == "ann@acme.com"
    assert out["mql_at"].iloc[0] == T("2025-01-06 10:00") and out["customer_at"].iloc[0] == T("2025-02-01")
    assert pd.isna(out["opportunity_at"].iloc[0]) and pd.isna(out["mql_at"].iloc[1])
    assert out[["billing_customer_id", "visitor_id", "original_campaign"]].iloc[0].tolist() == ["cus_1", "123.456", "li-abm"]
    assert out["referred_by_customer_id"].iloc[1] == "cus_1"


def test_companies_and_deals(write) -> None:
    write("crm/companies.csv", """
hs_object_id,name,domain,country,createdate,hubspot_owner_id,stripe_customer_id
91,Acme,WWW.Acme.com,de,2024-12-01T00:00:00Z,701,cus_1
""")
    d = write("crm/deals.csv", """
hs_object_id,dealname,createdate,closedate,dealstage,amount,deal_currency_code,associated_company_id,associated_contact_id,hs_is_closed_won
401,acme - new,2025-01-10T00:00:00Z,2025-02-01T00:00:00Z,closedwon,12000.50,eur,91,51,true
402,beta - new,2025-01-11T00:00:00Z,,presentationscheduled,3000,USD,,52,false
""")
    companies = crm.read_companies(d)
    assert companies[["domain", "country", "billing_customer_id"]].iloc[0].tolist() == ["acme.com", "DE", "cus_1"]
    deals = crm.read_deals(d)
    assert deals["is_closed_won"].tolist() == [True, False]
    assert deals["amount"].tolist() == [12000.5, 3000.0]
    assert deals["currency"].tolist() == ["EUR", "USD"]
    assert pd.isna(deals["closed_at"].iloc[1])


def test_form_submissions_utm_from_page_url(write) -> None:
    d = write("crm/form_submissions.csv", """
conversion_id,contact_id,form_id,form_title,submitted_at,page_url
c1,51,f1,Start your free trial,1735689600000,https://x.com/signup?utm_source=google&utm_medium=cpc&utm_campaign=search-generic-us
c2,52,f2,Book a live demo,1735689600000,https://x.com/demo
c3,53,f3,Watch the product tour,1735689600000,https://x.com/tour?utm_source=hubspot&utm_medium=email&utm_campaign=
c4,54,f4,Something else,1735689600000,
""")
    out = crm.read_form_submissions(d)
    assert out["form_type"].tolist()[:3] == ["free_trial", "live_demo", "video_demo"] and pd.isna(out["form_type"].iloc[3])
    assert out["submitted_at"].iloc[0] == T("2025-01-01")
    assert out[["utm_source", "utm_medium", "utm_campaign"]].iloc[0].tolist() == ["google", "cpc", "search-generic-us"]
    assert out["channel"].tolist() == ["google_ads", "direct", "email", "direct"]


def test_touchpoints_and_meetings(write) -> None:
    write("crm/touchpoints.csv", """
event_id,contact_id,occurred_at,event_type,utm_source,utm_medium,utm_campaign
t1,51,2025-01-01T08:00:00Z,AD_CLICK,facebook,paid_social,fb-prospecting
t2,51,2025-01-02T08:00:00Z,PAGE_VIEW,,,
t3,51,2025-01-03T08:00:00Z,EMAIL_CLICK,hubspot,email,newsletter
""")
    d = write("crm/meetings.csv", """
hs_object_id,hs_meeting_title,hs_activity_type,hs_createdate,hs_meeting_start_time,hs_meeting_outcome,contact_id
301,Live demo,LIVE_DEMO,2025-01-01T08:00:00Z,2025-01-03T15:00:00Z,NO_SHOW,51
302,Tour,VIDEO_DEMO,2025-01-02T08:00:00Z,2025-01-02T08:05:00Z,COMPLETED,52
""")
    touches = crm.read_touchpoints(d)
    assert touches["touch_type"].tolist() == ["ad_click", "page_visit", "email_click"]
    assert touches["channel"].tolist() == ["meta_ads", "direct", "email"]
    meetings = crm.read_meetings(d)
    assert meetings["demo_type"].tolist() == ["live", "video"]
    assert meetings["outcome"].tolist() == ["no_show", "completed"]
    assert meetings["start_at"].iloc[0] == T("2025-01-03 15:00")


@pytest.mark.parametrize(("title", "kind"), [
    ("Start your free trial", "free_trial"), ("Book a live demo", "live_demo"), ("Request a demo", "live_demo"),
    ("Watch the product tour", "video_demo"), ("Newsletter signup", "newsletter"), ("Contact sales", "contact"),
])
def test_form_type_of(title: str, kind: str) -> None:
    assert crm.form_type_of(title) == kind
