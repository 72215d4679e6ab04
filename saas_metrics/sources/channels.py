"""Acquisition channel of a visit, touchpoint or contact (schemas.CHANNELS).

Rules, first match wins (source and medium compared in lower case, trimmed):

=====================================================  ===============
utm_source / utm_medium                                channel
=====================================================  ===============
both empty, or GA4's (direct) / (none)                 direct
source google/adwords, medium cpc/ppc/paid/paidsearch  google_ads
source facebook/fb/instagram/ig/meta, a paid medium    meta_ads
source linkedin/lnkd, a paid medium                    linkedin_ads
any other source with a paid medium                    other
medium email / e-mail / newsletter                     email
medium organic (google, bing, duckduckgo, ...)         organic_search
medium social / social-network / organic_social        organic_social
social source (facebook, linkedin, ...) without paid   organic_social
medium referral / affiliate / partner                  referral
anything else                                          other
=====================================================  ===============

Paid media: cpc, ppc, paid, paidsearch, paid_search, paid_social, paidsocial,
paid-social, cpm, display, sponsored. HubSpot's ``hs_analytics_source`` maps
with its drill-down ``hs_analytics_source_data_1`` (PAID_SOCIAL splits into Meta
and LinkedIn by it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PAID_MEDIUMS = frozenset({"cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "paid_social", "paidsocial",
                          "paid-social", "cpm", "display", "sponsored"})
GOOGLE_SOURCES = frozenset({"google", "adwords", "google_ads", "googleads"})
META_SOURCES = frozenset({"facebook", "fb", "instagram", "ig", "meta", "facebook.com", "instagram.com"})
LINKEDIN_SOURCES = frozenset({"linkedin", "lnkd", "lnkd.in", "linkedin.com"})
SOCIAL_SOURCES = META_SOURCES | LINKEDIN_SOURCES | frozenset({"twitter", "x", "t.co", "youtube", "reddit", "tiktok"})
SEARCH_ENGINES = frozenset({"google", "bing", "duckduckgo", "yahoo", "ecosia", "baidu", "yandex"})
EMAIL_MEDIUMS = frozenset({"email", "e-mail", "newsletter", "e_mail"})
SOCIAL_MEDIUMS = frozenset({"social", "social-network", "social_network", "organic_social", "sm"})
REFERRAL_MEDIUMS = frozenset({"referral", "affiliate", "partner"})
DIRECT_VALUES = frozenset({"", "(direct)", "(none)", "(not set)", "direct", "none"})

#: HubSpot hs_analytics_source -> channel (PAID_SOCIAL and PAID_SEARCH are refined by the drill-down).
HUBSPOT_SOURCES: dict[str, str] = {
    "ORGANIC_SEARCH": "organic_search",
    "PAID_SEARCH": "google_ads",
    "PAID_SOCIAL": "meta_ads",
    "SOCIAL_MEDIA": "organic_social",
    "EMAIL_MARKETING": "email",
    "REFERRALS": "referral",
    "DIRECT_TRAFFIC": "direct",
    "OTHER_CAMPAIGNS": "other",
    "OFFLINE": "other",
    "AI_REFERRALS": "referral",
}


def _clean(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    return str(value).strip().lower()


def channel_from_utm(source: object, medium: object) -> str:
    """The channel of one (utm_source, utm_medium) pair; see the module table."""
    s, m = _clean(source), _clean(medium)
    if s in DIRECT_VALUES and m in DIRECT_VALUES:
        return "direct"
    if m in PAID_MEDIUMS:
        if s in GOOGLE_SOURCES:
            return "google_ads"
        if s in META_SOURCES:
            return "meta_ads"
        if s in LINKEDIN_SOURCES:
            return "linkedin_ads"
        return "other"
    if m in EMAIL_MEDIUMS:
        return "email"
    if m == "organic" or (s in SEARCH_ENGINES and m in DIRECT_VALUES | {"search"}):
        return "organic_search"
    if m in SOCIAL_MEDIUMS or (s in SOCIAL_SOURCES and m in DIRECT_VALUES):
        return "organic_social"
    if m in REFERRAL_MEDIUMS:
        return "referral"
    return "other"


def channels_from_utm(sources: pd.Series, mediums: pd.Series) -> pd.Series:
    """Vectorised :func:`channel_from_utm` (the rule is applied once per distinct pair)."""
    pairs = pd.DataFrame({"s": sources.to_numpy(dtype=object, na_value=None), "m": mediums.to_numpy(dtype=object, na_value=None)})
    # Group numbers follow the order of first appearance, as drop_duplicates does.
    codes = pairs.groupby(["s", "m"], dropna=False, sort=False).ngroup().to_numpy()
    distinct = pairs.drop_duplicates()
    channels = np.array([channel_from_utm(s, m) for s, m in distinct.itertuples(index=False, name=None)], dtype=object)
    return pd.Series(channels[codes], index=sources.index, dtype=object)


def channel_from_hubspot(source: object, drill_down: object = None) -> str | None:
    """Channel of HubSpot's original source (``hs_analytics_source``) refined by ``hs_analytics_source_data_1``;
    None when the source is empty."""
    s = _clean(source).upper()
    if not s:
        return None
    d = _clean(drill_down)
    if s == "PAID_SOCIAL":
        if d in LINKEDIN_SOURCES:
            return "linkedin_ads"
        return "meta_ads" if d in META_SOURCES or not d else "other"
    if s == "PAID_SEARCH":
        return "google_ads" if d in GOOGLE_SOURCES or not d else "other"
    return HUBSPOT_SOURCES.get(s, "other")

