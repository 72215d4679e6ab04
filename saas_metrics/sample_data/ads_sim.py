"""Daily campaign reports of Google Ads, Meta Ads and LinkedIn Ads, each with its
own column names and account currency. Spend is planted: each month a platform
spends COST_PER_CUSTOMER_USD x the customers it acquired that month (+/- 10 %)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from saas_metrics.sample_data.marketing import (
    ACCOUNTS,
    CAMPAIGNS,
    COST_PER_CUSTOMER_USD,
    CPC_USD,
    CTR,
)

MIN_MONTHLY_SPEND_USD = 500.0


def simulate_ads(rng: np.random.Generator, new_customers: pd.DataFrame, months: list[dt.datetime],
                 fx: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """``new_customers``: columns channel, month (first paid month). ``fx``: columns date, currency, rate_to_usd.
    Returns the three native frames and the ground truth (channel, customers, spend_usd, ...)."""
    rate = fx.set_index(["date", "currency"])["rate_to_usd"]
    platform_rows: dict[str, list[pd.DataFrame]] = {p: [] for p in CAMPAIGNS}
    for m in months:
        month = pd.Timestamp(m)
        days = pd.date_range(month, month + pd.offsets.MonthEnd(0), freq="D")
        for platform, campaigns in CAMPAIGNS.items():
            customers = int(((new_customers["channel"] == platform) & (new_customers["month"] == month)).sum())
            budget_usd = max(MIN_MONTHLY_SPEND_USD, COST_PER_CUSTOMER_USD[platform] * customers * rng.uniform(0.9, 1.1))
            currency = ACCOUNTS[platform][1]
            day_rates = np.array([1.0 if currency == "USD" else rate[(d, currency)] for d in days])
            for campaign_id, name, share in campaigns:
                weights = rng.gamma(8.0, 1.0, len(days))
                usd = budget_usd * share * weights / weights.sum()
                local = np.round(usd / day_rates, 2)
                clicks = np.maximum(0, np.round(usd / CPC_USD[platform] * rng.uniform(0.8, 1.2, len(days)))).astype(int)
                impressions = np.round(clicks / CTR[platform] * rng.uniform(0.8, 1.2, len(days))).astype(int)
                conversions = rng.poisson(np.maximum(clicks * 0.03, 0.0))
                platform_rows[platform].append(pd.DataFrame({
                    "date": days, "campaign_id": campaign_id, "campaign_name": name, "spend": local,
                    "spend_usd": local * day_rates, "impressions": impressions, "clicks": clicks, "conversions": conversions,
                }))
    frames = {p: pd.concat(rows, ignore_index=True) for p, rows in platform_rows.items()}
    g, fb, li = frames["google_ads"], frames["meta_ads"], frames["linkedin_ads"]
    google = pd.DataFrame({
        "segments.date": g["date"].dt.strftime("%Y-%m-%d"), "customer.id": ACCOUNTS["google_ads"][0],
        "customer.currency_code": ACCOUNTS["google_ads"][1], "campaign.id": g["campaign_id"], "campaign.name": g["campaign_name"],
        "metrics.cost_micros": np.round(g["spend"] * 1_000_000).astype(np.int64), "metrics.impressions": g["impressions"],
        "metrics.clicks": g["clicks"], "metrics.conversions": g["conversions"].astype(float),
    })
    meta = pd.DataFrame({
        "date_start": fb["date"].dt.strftime("%Y-%m-%d"), "date_stop": fb["date"].dt.strftime("%Y-%m-%d"),
        "account_id": ACCOUNTS["meta_ads"][0], "account_currency": ACCOUNTS["meta_ads"][1], "campaign_id": fb["campaign_id"],
        "campaign_name": fb["campaign_name"], "spend": fb["spend"].map(lambda v: f"{v:.2f}"), "impressions": fb["impressions"],
        "clicks": fb["clicks"], "actions_lead": fb["conversions"],
    })
    linkedin = pd.DataFrame({
        "dateRange.start": li["date"].dt.strftime("%Y-%m-%d"), "account": f"urn:li:sponsoredAccount:{ACCOUNTS['linkedin_ads'][0]}",
        "currency": ACCOUNTS["linkedin_ads"][1], "campaign": li["campaign_id"].map(lambda v: f"urn:li:sponsoredCampaign:{v}"),
        "campaignName": li["campaign_name"], "costInLocalCurrency": li["spend"].map(lambda v: f"{v:.2f}"),
        "impressions": li["impressions"], "clicks": li["clicks"], "externalWebsiteConversions": li["conversions"],
    })
    truth = []
    for platform, frame in frames.items():
        customers = int((new_customers["channel"] == platform).sum())
        spend = float(frame["spend_usd"].sum())
        truth.append({"channel": platform, "planted_cost_per_customer_usd": COST_PER_CUSTOMER_USD[platform],
                      "new_customers": customers, "spend_usd": round(spend, 2),
                      "realised_cost_per_customer_usd": round(spend / customers, 2) if customers else None})
    return {"google_ads": google, "meta_ads": meta, "linkedin_ads": linkedin}, pd.DataFrame(truth)
