"""GA4 sessions and the three ad platforms' reports -> canonical web_sessions / ad_spend."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.sources import ads, web
from saas_metrics.sources.schemas import AD_SPEND

T = pd.Timestamp


def test_sessions(write) -> None:
    d = write("web/sessions.csv", """
event_date,event_timestamp,user_pseudo_id,ga_session_id,session_source,session_medium,session_campaign,device_category
20250101,1735693200123456,111.222,1735693200,google,cpc,search-brand,desktop
20250102,,333.444,1735776000,(direct),(none),(not set),mobile
20250103,1735862400000000,,1735862400,bing,organic,(not set),mobile
""")
    out = web.read_sessions(d)
    assert out["session_id"].iloc[0] == "111.222.1735693200" and pd.isna(out["session_id"].iloc[2])
    assert out["started_at"].iloc[0] == T("2025-01-01 01:00:00.123456")
    assert out["started_at"].iloc[1] == T("2025-01-02")  # event_date when event_timestamp is missing
    assert pd.isna(out["utm_source"].iloc[1]) and pd.isna(out["utm_campaign"].iloc[1])
    assert out["channel"].tolist() == ["google_ads", "direct", "organic_search"]


def test_three_platforms_in_one_table(write) -> None:
    write("ads/google_ads.csv", """
segments.date,customer.id,customer.currency_code,campaign.id,campaign.name,metrics.cost_micros,metrics.impressions,metrics.clicks,metrics.conversions
2025-01-01,123-456-7890,USD,1001,Search | Brand,12345678,1000,50,2.5
""")
    write("ads/meta_ads.csv", """
date_start,date_stop,account_id,account_currency,campaign_id,campaign_name,spend,impressions,clicks,actions_lead
2025-01-01,2025-01-01,act_1,eur,2385,FB_Prospecting,45.60,9000,120,3
""")
    d = write("ads/linkedin_ads.csv", """
dateRange.start,account,currency,campaign,campaignName,costInLocalCurrency,impressions,clicks,externalWebsiteConversions
2025-01-01,urn:li:sponsoredAccount:508,GBP,urn:li:sponsoredCampaign:5010001,LI - ABM,210.00,3000,20,1
""")
    out = ads.read_ad_spend(d)
    assert list(out.columns) == AD_SPEND.column_names
    assert out["platform"].tolist() == ["google_ads", "meta_ads", "linkedin_ads"]
    assert out["channel"].tolist() == out["platform"].tolist()
    assert out["spend"].tolist() == pytest.approx([12.345678, 45.6, 210.0])
    assert out["currency"].tolist() == ["USD", "EUR", "GBP"]
    assert out["campaign_id"].tolist() == ["1001", "2385", "5010001"]
    assert out["account_id"].iloc[2] == "508"
    assert out["platform_conversions"].tolist() == [2.5, 3.0, 1.0]
    assert out["clicks"].tolist() == [50, 120, 20]
    assert out["date"].tolist() == [T("2025-01-01")] * 3
    assert out["_source_file"].tolist() == ["ads/google_ads.csv", "ads/meta_ads.csv", "ads/linkedin_ads.csv"]


def test_one_platform_missing_warns_and_keeps_the_others(write) -> None:
    d = write("ads/meta_ads.csv", """
date_start,account_id,account_currency,campaign_id,campaign_name,spend,impressions,clicks,actions_lead
2025-01-01,act_1,EUR,2385,FB,10,1,1,0
""")
    with pytest.warns(UserWarning) as record:
        out = ads.read_ad_spend(d)
    messages = [str(w.message) for w in record]
    assert any("google_ads" in m for m in messages) and any("linkedin_ads" in m for m in messages)
    assert out["platform"].tolist() == ["meta_ads"]
