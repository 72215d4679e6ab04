"""Who the simulated company's customers are: when they arrive, from which channel,
in which currency, on which plan. Vectorised with numpy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from saas_metrics.sample_data.names import company_names, email_local, person_names
from saas_metrics.sample_data.timeutil import add_months

ACQUISITION_CHANNELS = ("google_ads", "meta_ads", "linkedin_ads", "organic_search", "organic_social", "email", "referral", "direct")
CHANNEL_SHARES = (0.22, 0.15, 0.10, 0.20, 0.06, 0.07, 0.08, 0.12)
CURRENCY_SHARES = {"usd": 0.65, "eur": 0.22, "gbp": 0.13}
COUNTRIES = {"usd": (("US", 0.9), ("CA", 0.1)), "eur": (("DE", 0.4), ("FR", 0.3), ("NL", 0.15), ("ES", 0.15)), "gbp": (("GB", 1.0),)}
TLD_OF_COUNTRY = {"US": ".com", "CA": ".ca", "DE": ".de", "FR": ".fr", "NL": ".nl", "ES": ".es", "GB": ".co.uk"}
TIER_SHARES = {"starter": 0.55, "growth": 0.33, "enterprise": 0.12}
#: Share of customers on each term, by tier.
TERM_SHARES = {
    "starter": {"m1": 0.72, "m3": 0.10, "y1": 0.18},
    "growth": {"m1": 0.55, "m3": 0.10, "y1": 0.28, "y2": 0.07},
    "enterprise": {"m1": 0.25, "m3": 0.10, "y1": 0.50, "y2": 0.15},
}
SEATS = {"starter": (1, 5), "growth": (3, 20), "enterprise": (10, 60)}
TRIAL_SHARE = 0.55
TRIAL_CONVERSION = 0.72


@dataclass
class Population:
    """One row per billing customer (``frame``), in creation order."""

    frame: pd.DataFrame


def _choice(rng: np.random.Generator, options: dict[str, float] | tuple, n: int, p: tuple | None = None) -> np.ndarray:
    if isinstance(options, dict):
        keys = list(options)
        probs = np.array(list(options.values()), dtype=float)
    else:
        keys = list(options)
        probs = np.array(p, dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=probs / probs.sum())]


def _times_in_months(rng: np.random.Generator, month_starts: list[dt.datetime], counts: np.ndarray) -> list[dt.datetime]:
    out: list[dt.datetime] = []
    for start, count in zip(month_starts, counts, strict=True):
        seconds = int((add_months(start, 1) - start).total_seconds())
        offsets = np.sort(rng.integers(0, seconds, int(count)))
        out.extend(start + dt.timedelta(seconds=int(s)) for s in offsets)
    return out


def build_population(rng: np.random.Generator, customers: int, first_month: dt.datetime, months: int) -> Population:
    """``customers`` acquired inside the window (growing ~3 % a month) plus 30 % more
    that already exist at its start (created up to 24 months earlier)."""
    n_initial = max(1, round(customers * 0.3))
    pre_months = [add_months(first_month, -24 + i) for i in range(24)]
    initial_created = _times_in_months(rng, pre_months, rng.multinomial(n_initial, np.full(24, 1 / 24)))
    window_months = [add_months(first_month, i) for i in range(months)]
    weights = 1.03 ** np.arange(months)
    new_created = _times_in_months(rng, window_months, rng.multinomial(customers, weights / weights.sum()))
    created = initial_created + new_created
    n = len(created)
    is_initial = np.arange(n) < n_initial

    # A few subscriptions start exactly at midnight on the 1st (half-open boundaries).
    on_first = rng.random(n) < 0.03
    created = [dt.datetime(c.year, c.month, 1) if flag else c for c, flag in zip(created, on_first, strict=True)]

    currency = _choice(rng, CURRENCY_SHARES, n)
    country = np.empty(n, dtype=object)
    for cur, options in COUNTRIES.items():
        mask = currency == cur
        country[mask] = _choice(rng, tuple(o[0] for o in options), int(mask.sum()), tuple(o[1] for o in options))
    channel = _choice(rng, ACQUISITION_CHANNELS, n, CHANNEL_SHARES)
    tier = _choice(rng, TIER_SHARES, n)
    term = np.empty(n, dtype=object)
    for t, shares in TERM_SHARES.items():
        mask = tier == t
        term[mask] = _choice(rng, shares, int(mask.sum()))
    lo = np.array([SEATS[t][0] for t in tier])
    hi = np.array([SEATS[t][1] for t in tier])
    seats = np.floor(lo + (hi - lo + 1) * rng.random(n) ** 2).astype(int)
    trial = (rng.random(n) < TRIAL_SHARE) & (tier != "enterprise") & ~on_first
    converts = ~trial | (rng.random(n) < TRIAL_CONVERSION)
    sales_led = (tier != "starter") & ~trial
    tlds = [TLD_OF_COUNTRY[c] for c in country]
    names, domains = company_names(rng, n, tlds)
    first, last = person_names(rng, n)
    emails = [f"{email_local(f, la)}@{d}" for f, la, d in zip(first, last, domains, strict=True)]
    ids = [f"cus_{i + 1:08d}" for i in range(n)]
    # Referrals: a referred customer names an earlier customer as referrer.
    referred_by: list[str | None] = [None] * n
    ref_pick = rng.random(n)
    for i in np.flatnonzero(channel == "referral"):
        if i > 0:
            referred_by[i] = ids[int(ref_pick[i] * i)]
    frame = pd.DataFrame({
        "customer_id": ids,
        "created": created,
        "is_initial": is_initial,
        "currency": currency,
        "country": country,
        "channel": channel,
        "tier": tier,
        "term": term,
        "seats": seats,
        "trial": trial,
        "converts": converts,
        "sales_led": sales_led,
        "company_name": names,
        "domain": domains,
        "first_name": first,
        "last_name": last,
        "email": emails,
        "referred_by": referred_by,
        "churn_factor": rng.lognormal(0.0, 0.4, n),
        "reactivation_factor": np.where(rng.random(n) < 0.5, 0.0, 2.0),
        "crm_link_in_billing": rng.random(n) >= 0.2,
        "billing_link_in_crm": rng.random(n) >= 0.2,
    })
    frame["created"] = pd.to_datetime(frame["created"]).astype("datetime64[ns]")
    return Population(frame)
