"""Google Ads, Meta Ads and LinkedIn Ads daily campaign reports -> one ad_spend table.

Each platform keeps its own column names and account currency:
Google ``metrics.cost_micros`` / 1e6, Meta ``spend`` (decimal text), LinkedIn
``costInLocalCurrency``; LinkedIn URNs (urn:li:sponsoredCampaign:123) become
plain ids. ``channel`` = ``platform``. Platform conversions are kept as claimed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from saas_metrics.sources import schemas as s
from saas_metrics.sources.files import NativeTable, concat_canonical, open_native, upper

SYSTEM = "ads"
FILES = {"google_ads": "ads/google_ads.csv", "meta_ads": "ads/meta_ads.csv", "linkedin_ads": "ads/linkedin_ads.csv"}


def _urn_id(series: pd.Series) -> pd.Series:
    return series.map(lambda v: v.rsplit(":", 1)[-1] if isinstance(v, str) else None).astype(object)


def _first_present(t: NativeTable, *columns: str) -> str:
    return next((c for c in columns if t.has(c)), columns[0])


def _google(t: NativeTable) -> pd.DataFrame:
    return t.finish({
        "date": t.date("segments.date", "date"), "platform": "google_ads", "account_id": t.text("customer.id"),
        "campaign_id": t.text("campaign.id"), "campaign_name": t.text("campaign.name"), "channel": "google_ads",
        "currency": upper(t.text("customer.currency_code", "currency")), "spend": t.number("metrics.cost_micros", "spend", scale=1e-6),
        "impressions": t.integer("metrics.impressions", "impressions"), "clicks": t.integer("metrics.clicks", "clicks"),
        "platform_conversions": t.number("metrics.conversions", "platform_conversions"),
    }, s.AD_SPEND)


def _meta(t: NativeTable) -> pd.DataFrame:
    return t.finish({
        "date": t.date("date_start", "date"), "platform": "meta_ads", "account_id": t.text("account_id"),
        "campaign_id": t.text("campaign_id"), "campaign_name": t.text("campaign_name"), "channel": "meta_ads",
        "currency": upper(t.text("account_currency", "currency")), "spend": t.number("spend", "spend"),
        "impressions": t.integer("impressions", "impressions"), "clicks": t.integer("clicks", "clicks"),
        "platform_conversions": t.number(_first_present(t, "actions_lead", "conversions"), "platform_conversions"),
    }, s.AD_SPEND)


def _linkedin(t: NativeTable) -> pd.DataFrame:
    return t.finish({
        "date": t.date(_first_present(t, "dateRange.start", "date"), "date"), "platform": "linkedin_ads",
        "account_id": _urn_id(t.text(_first_present(t, "account", "account_id"), "account_id")),
        "campaign_id": _urn_id(t.text(_first_present(t, "campaign", "campaign_id"), "campaign_id")),
        "campaign_name": t.text(_first_present(t, "campaignName", "campaign_name")), "channel": "linkedin_ads",
        "currency": upper(t.text("currency", "currency")), "spend": t.number("costInLocalCurrency", "spend"),
        "impressions": t.integer("impressions", "impressions"), "clicks": t.integer("clicks", "clicks"),
        "platform_conversions": t.number("externalWebsiteConversions", "platform_conversions"),
    }, s.AD_SPEND)


READERS = {"google_ads": _google, "meta_ads": _meta, "linkedin_ads": _linkedin}


def read_platform(sources_dir: Path, platform: str) -> pd.DataFrame:
    """One platform's report as canonical ad_spend rows (empty with a warning when the file is missing)."""
    t = open_native(sources_dir, FILES[platform], f"{SYSTEM}/{platform}")
    return s.AD_SPEND.empty_frame() if t is None else READERS[platform](t)


def read_ad_spend(sources_dir: Path) -> pd.DataFrame:
    """All three platforms in one table."""
    return concat_canonical([read_platform(sources_dir, p) for p in FILES], s.AD_SPEND)
