"""The simulated company's price list (Stripe prices).

Per-seat monthly list prices by tier and currency; other intervals are
multiples of the monthly price (quarter x3, year x10, two years x19).
"""

from __future__ import annotations

from dataclasses import dataclass

CURRENCIES = ("usd", "eur", "gbp")
TIERS = ("starter", "growth", "enterprise")
#: Monthly per-seat list price in major units.
MONTHLY_SEAT_PRICE: dict[str, dict[str, int]] = {
    "starter": {"usd": 25, "eur": 23, "gbp": 20},
    "growth": {"usd": 45, "eur": 42, "gbp": 36},
    "enterprise": {"usd": 90, "eur": 83, "gbp": 71},
}
#: Billing terms: code -> (Stripe interval, interval_count, months, price multiple of the monthly price).
TERMS: dict[str, tuple[str, int, int, int]] = {
    "m1": ("month", 1, 1, 1),
    "m3": ("month", 3, 3, 3),
    "y1": ("year", 1, 12, 10),
    "y2": ("year", 2, 24, 19),
}
SETUP_FEE_CENTS = {"usd": 49_900, "eur": 45_900, "gbp": 39_900}
METERED_UNIT_CENTS = 10


@dataclass(frozen=True)
class Price:
    price_id: str
    product_id: str
    product_name: str
    nickname: str
    tier: str | None
    unit_amount_cents: int
    currency: str
    type: str  # recurring / one_time
    interval: str | None
    interval_count: int | None
    usage_type: str | None  # licensed / metered
    months: int  # billing period in months (0 for one-time)


def recurring_price_id(tier: str, term: str, currency: str) -> str:
    return f"price_{tier}_{term}_{currency}"


def setup_price_id(currency: str) -> str:
    return f"price_setup_{currency}"


def metered_price_id(currency: str) -> str:
    return f"price_api_calls_{currency}"


def build_catalog() -> dict[str, Price]:
    """Every price: tier x term x currency (two-year terms only for growth and enterprise),
    plus a one-time setup fee and a metered API-call price per currency."""
    prices: dict[str, Price] = {}
    for tier in TIERS:
        for term, (interval, count, months, multiple) in TERMS.items():
            if term == "y2" and tier == "starter":
                continue
            for cur in CURRENCIES:
                pid = recurring_price_id(tier, term, cur)
                prices[pid] = Price(
                    pid, f"prod_{tier}", f"{tier.capitalize()} plan", f"{tier.capitalize()} {term}",
                    tier, MONTHLY_SEAT_PRICE[tier][cur] * multiple * 100, cur, "recurring", interval, count,
                    "licensed", months,
                )
    for cur in CURRENCIES:
        pid = setup_price_id(cur)
        prices[pid] = Price(pid, "prod_onboarding", "Onboarding", "Setup fee", None, SETUP_FEE_CENTS[cur], cur,
                            "one_time", None, None, None, 0)
        pid = metered_price_id(cur)
        prices[pid] = Price(pid, "prod_api_calls", "API calls", "API calls (metered)", None, METERED_UNIT_CENTS, cur,
                            "recurring", "month", 1, "metered", 1)
    return prices
