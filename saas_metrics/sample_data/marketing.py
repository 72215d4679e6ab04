"""Marketing vocabulary of the simulated company: UTM tags per channel, ad
campaigns per platform, HubSpot original-source values, and the planted cost of
acquiring a customer per paid channel (LinkedIn clearly the most expensive)."""

from __future__ import annotations

import re

#: channel -> list of (utm_source, utm_medium) it uses.
UTM_OF_CHANNEL: dict[str, tuple[tuple[str, str], ...]] = {
    "google_ads": (("google", "cpc"),),
    "meta_ads": (("facebook", "paid_social"), ("instagram", "paid_social")),
    "linkedin_ads": (("linkedin", "paid_social"),),
    "organic_search": (("google", "organic"), ("bing", "organic")),
    "organic_social": (("linkedin", "social"), ("twitter", "social")),
    "email": (("hubspot", "email"),),
    "referral": (("g2.com", "referral"), ("partner-blog.com", "referral")),
    "direct": (("", ""),),
}
#: platform -> [(campaign id, campaign name, share of the platform's spend)]
CAMPAIGNS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "google_ads": (("1001001", "Search | Brand | Global", 0.2), ("1001002", "Search | Generic | US", 0.45),
                   ("1001003", "Search | Competitors | EU", 0.25), ("1001004", "Display | Retargeting", 0.1)),
    "meta_ads": (("23851000001", "FB_Prospecting_Lookalike", 0.5), ("23851000002", "IG_Retargeting_Trial", 0.3),
                 ("23851000003", "FB_LeadGen_Ebook", 0.2)),
    "linkedin_ads": (("5010001", "LI - ABM - Enterprise", 0.6), ("5010002", "LI - Sponsored Content - Growth", 0.4)),
}
ACCOUNTS = {"google_ads": ("123-456-7890", "USD"), "meta_ads": ("act_4455667788", "EUR"), "linkedin_ads": ("508812345", "GBP")}
#: Planted acquisition cost per new customer (USD) by paid channel.
COST_PER_CUSTOMER_USD = {"google_ads": 900.0, "meta_ads": 650.0, "linkedin_ads": 2800.0}
#: Cost per click (USD) and click-through rate, to derive clicks and impressions from spend.
CPC_USD = {"google_ads": 4.0, "meta_ads": 1.5, "linkedin_ads": 9.0}
CTR = {"google_ads": 0.05, "meta_ads": 0.012, "linkedin_ads": 0.006}
#: HubSpot hs_analytics_source / hs_analytics_source_data_1 of a contact's original source.
HUBSPOT_SOURCE: dict[str, tuple[str, str]] = {
    "google_ads": ("PAID_SEARCH", "google"),
    "meta_ads": ("PAID_SOCIAL", "Facebook"),
    "linkedin_ads": ("PAID_SOCIAL", "LinkedIn"),
    "organic_search": ("ORGANIC_SEARCH", "google"),
    "organic_social": ("SOCIAL_MEDIA", "LinkedIn"),
    "email": ("EMAIL_MARKETING", "newsletter"),
    "referral": ("REFERRALS", "g2.com"),
    "direct": ("DIRECT_TRAFFIC", ""),
}
EMAIL_CAMPAIGNS = ("monthly-newsletter", "product-update", "trial-nurture", "webinar-invite")


def slug(name: str) -> str:
    """utm_campaign of an ad campaign: its name in lower case, runs of other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
