"""Channel mapping of UTM pairs and HubSpot original sources."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.sources.channels import channel_from_hubspot, channel_from_utm, channels_from_utm
from saas_metrics.sources.schemas import CHANNELS

UTM_CASES = [
    ("google", "cpc", "google_ads"), ("Google", "PPC", "google_ads"), ("adwords", "paid", "google_ads"),
    ("facebook", "paid_social", "meta_ads"), ("instagram", "paid", "meta_ads"), ("meta", "cpc", "meta_ads"),
    ("linkedin", "paid_social", "linkedin_ads"), ("linkedin", "sponsored", "linkedin_ads"),
    ("tiktok", "paid", "other"),
    ("google", "organic", "organic_search"), ("bing", "organic", "organic_search"), ("duckduckgo", "", "organic_search"),
    ("linkedin", "social", "organic_social"), ("twitter", "social", "organic_social"), ("facebook", "", "organic_social"),
    ("hubspot", "email", "email"), ("mailchimp", "newsletter", "email"),
    ("g2.com", "referral", "referral"), ("partner", "affiliate", "referral"),
    ("", "", "direct"), (None, None, "direct"), ("(direct)", "(none)", "direct"),
    ("podcast", "audio", "other"),
]


@pytest.mark.parametrize(("source", "medium", "channel"), UTM_CASES)
def test_channel_from_utm(source: str | None, medium: str | None, channel: str) -> None:
    assert channel_from_utm(source, medium) == channel


def test_vectorised_matches_scalar_and_vocabulary() -> None:
    sources = pd.Series([c[0] for c in UTM_CASES], dtype=object)
    mediums = pd.Series([c[1] for c in UTM_CASES], dtype=object)
    out = channels_from_utm(sources, mediums)
    assert out.tolist() == [c[2] for c in UTM_CASES]
    assert set(out) <= set(CHANNELS)


@pytest.mark.parametrize(("source", "drill", "channel"), [
    ("PAID_SEARCH", "google", "google_ads"), ("PAID_SOCIAL", "Facebook", "meta_ads"), ("PAID_SOCIAL", "LinkedIn", "linkedin_ads"),
    ("ORGANIC_SEARCH", "bing", "organic_search"), ("SOCIAL_MEDIA", "Twitter", "organic_social"),
    ("EMAIL_MARKETING", "", "email"), ("REFERRALS", "g2.com", "referral"), ("DIRECT_TRAFFIC", None, "direct"),
    ("OFFLINE", "", "other"), ("", "", None),
])
def test_channel_from_hubspot(source: str, drill: str | None, channel: str | None) -> None:
    assert channel_from_hubspot(source, drill) == channel
