"""GA4-like session export (web/sessions.csv) -> web_sessions.

``session_id`` = user_pseudo_id + '.' + ga_session_id (GA4's ga_session_id is only
unique per user); ``started_at`` from event_timestamp (unix microseconds), else
event_date (YYYYMMDD). GA4's placeholders (direct), (none), (not set) become null
UTM values; the channel comes from channels.channel_from_utm.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from saas_metrics.sources import schemas as s
from saas_metrics.sources.channels import channels_from_utm
from saas_metrics.sources.files import open_native

SYSTEM = "web"
GA_PLACEHOLDERS = frozenset({"(direct)", "(none)", "(not set)", "(not provided)"})


def _no_placeholder(series: pd.Series) -> pd.Series:
    return series.where(~series.isin(GA_PLACEHOLDERS), None).astype(object)


def read_sessions(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "web/sessions.csv", SYSTEM)
    if t is None:
        return s.WEB_SESSIONS.empty_frame()
    visitor, ga_session = t.text("user_pseudo_id"), t.text("ga_session_id")
    session_id = (visitor + "." + ga_session).where(visitor.notna() & ga_session.notna(), None)
    started = t.timestamp("event_timestamp", "started_at", unit="us")
    if t.has("event_date"):
        started = started.fillna(t.date("event_date", "started_at", fmt="%Y%m%d").where(t.text("event_timestamp").isna()))
    source, medium = _no_placeholder(t.text("session_source")), _no_placeholder(t.text("session_medium"))
    return t.finish({
        "session_id": session_id, "visitor_id": visitor, "started_at": started, "utm_source": source,
        "utm_medium": medium, "utm_campaign": _no_placeholder(t.text("session_campaign")),
        "channel": channels_from_utm(source, medium),
    }, s.WEB_SESSIONS)
