"""GA4-like sessions: one per contact ad click / page view / email click (same
visitor id as the CRM's ga_client_id) plus anonymous visitors who never convert."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from saas_metrics.sample_data.marketing import CAMPAIGNS, EMAIL_CAMPAIGNS, UTM_OF_CHANNEL, slug
from saas_metrics.sample_data.population import ACQUISITION_CHANNELS

ANONYMOUS_VISITORS_PER_CONTACT = 6
ANONYMOUS_CHANNEL_SHARES = (0.18, 0.14, 0.06, 0.3, 0.1, 0.04, 0.05, 0.13)


def _utm_table() -> list[tuple[str, str, str, str]]:
    """Every (channel, source, medium, campaign) combination anonymous visitors can arrive with."""
    rows: list[tuple[str, str, str, str]] = []
    for channel in ACQUISITION_CHANNELS:
        campaigns = [slug(c[1]) for c in CAMPAIGNS.get(channel, ())] or (list(EMAIL_CAMPAIGNS) if channel == "email" else [""])
        for source, medium in UTM_OF_CHANNEL[channel]:
            rows.extend((channel, source, medium, campaign) for campaign in campaigns)
    return rows


def _yyyymmdd(stamps: pd.Series) -> np.ndarray:
    """GA4's event_date text, rendered once per distinct day."""
    days = stamps.to_numpy().astype("datetime64[D]")
    distinct, inverse = np.unique(days, return_inverse=True)
    return np.array([str(d).replace("-", "") for d in distinct], dtype=object)[inverse]


def simulate_sessions(rng: np.random.Generator, touches: pd.DataFrame, first_month: dt.datetime, horizon: dt.datetime) -> pd.DataFrame:
    """Native GA4 session rows: event_date (YYYYMMDD), event_timestamp (unix micros of session start),
    user_pseudo_id, ga_session_id (session start in unix seconds, as GA4 does), session_source,
    session_medium, session_campaign, device_category."""
    known = touches[touches["event_type"].isin(["AD_CLICK", "PAGE_VIEW", "EMAIL_CLICK"])]
    known_start = pd.to_datetime(known["occurred_at"]).astype("datetime64[ns]")
    known_frame = pd.DataFrame({"start": known_start.to_numpy(), "visitor": known["visitor_id"].to_numpy(),
                                "source": known["utm_source"].to_numpy(), "medium": known["utm_medium"].to_numpy(),
                                "campaign": known["utm_campaign"].to_numpy()})
    window_contacts = int((known_start >= pd.Timestamp(first_month)).sum())
    n_visitors = ANONYMOUS_VISITORS_PER_CONTACT * max(window_contacts, 1) // 2
    span = (pd.Timestamp(horizon) - pd.Timestamp(first_month)).total_seconds()
    # Traffic grows over time: inverse-CDF of a linearly increasing density.
    u = rng.random(n_visitors)
    first_visit = (np.sqrt(1 + 8 * u) - 1) / 2  # density (1 + 2x) / 2 on [0, 1]
    first_seconds = first_visit * span
    sessions_per_visitor = rng.integers(1, 4, n_visitors)
    visitor_of_session = np.repeat(np.arange(n_visitors), sessions_per_visitor)
    later = rng.random(len(visitor_of_session)) * 20 * 86_400
    is_first = np.r_[True, visitor_of_session[1:] != visitor_of_session[:-1]]
    session_seconds = first_seconds[visitor_of_session] + np.where(is_first, 0.0, later)
    keep = session_seconds < span
    table = _utm_table()
    channel_weights = np.array(ANONYMOUS_CHANNEL_SHARES)
    combo_weights = np.array([channel_weights[ACQUISITION_CHANNELS.index(t[0])] for t in table])
    counts_per_channel = {ch: sum(1 for t in table if t[0] == ch) for ch in ACQUISITION_CHANNELS}
    combo_weights = combo_weights / np.array([counts_per_channel[t[0]] for t in table])
    combo = rng.choice(len(table), len(visitor_of_session), p=combo_weights / combo_weights.sum())
    visitor_ids = np.array([f"{a}.{b}" for a, b in zip(rng.integers(10**9, 10**10, n_visitors),
                                                        (first_seconds + (pd.Timestamp(first_month) - pd.Timestamp(0)).total_seconds()).astype(np.int64), strict=True)], dtype=object)
    anon = pd.DataFrame({
        "start": pd.Timestamp(first_month) + pd.to_timedelta(np.floor(session_seconds[keep]), unit="s"),
        "visitor": visitor_ids[visitor_of_session[keep]],
        "source": [table[i][1] for i in combo[keep]],
        "medium": [table[i][2] for i in combo[keep]],
        "campaign": [table[i][3] for i in combo[keep]],
    })
    sessions = pd.concat([known_frame, anon], ignore_index=True).sort_values(["start", "visitor"], kind="stable").reset_index(drop=True)
    epoch_seconds = (sessions["start"] - pd.Timestamp(0)).dt.total_seconds().astype(np.int64)
    devices = np.array(["desktop", "mobile", "tablet"], dtype=object)[rng.choice(3, len(sessions), p=[0.62, 0.33, 0.05])]
    return pd.DataFrame({
        "event_date": _yyyymmdd(sessions["start"]),
        "event_timestamp": epoch_seconds * 1_000_000 + rng.integers(0, 1_000_000, len(sessions)),
        "user_pseudo_id": sessions["visitor"],
        "ga_session_id": epoch_seconds,
        "session_source": sessions["source"].replace("", "(direct)"),
        "session_medium": sessions["medium"].replace("", "(none)"),
        "session_campaign": sessions["campaign"].replace("", "(not set)"),
        "device_category": devices,
    })
