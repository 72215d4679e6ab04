"""Ad spend in the reporting currency, and per-platform ad KPIs.

docs/metric-definitions.md#sm-spend: S&M spend includes the ad
spend of all platforms, converted to the reporting currency. Each spend row is
converted at the rate in force on its own date (latest FX rate dated <= the
spend date).

``platform_conversions`` are the conversions each platform *claims*. Platforms
double count (a customer who clicked a Google ad and a LinkedIn ad is claimed by
both), so they are only ever reported per platform, never summed into a count
of customers (there is deliberately no ``segment='all'`` row for them).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from saas_metrics.calendar import month_of, month_start
from saas_metrics.metrics import kpi
from saas_metrics.metrics.fx import rate_on
from saas_metrics.sources.schemas import AD_SPEND
from saas_metrics.tables import Column, TableSchema

AD_SPEND_STAGED = TableSchema(
    name="stg_ad_spend",
    description="Canonical ad spend plus spend_reporting (spend converted at the spend date's FX rate).",
    columns=(*AD_SPEND.columns, Column("spend_reporting", "float", "spend in the reporting currency")),
    time_column="date",
    key=AD_SPEND.key,
)

def to_reporting(
    amounts: pd.Series,
    currencies: pd.Series,
    dates: pd.Series,
    fx_rates: pd.DataFrame,
    reporting_currency: str,
) -> pd.Series:
    """Convert ``amounts`` to ``reporting_currency`` at the rate in force on each date
    (``fx.rate_on``: latest rate dated <= date, cross rate through USD).

    amount_reporting = amount x rate(currency -> reporting, date). Raises ValueError
    naming the currency and date when no rate exists.
    """
    amounts = pd.Series(amounts)
    if len(amounts) == 0:
        return pd.Series(dtype="float64", index=amounts.index)
    rate = rate_on(fx_rates, pd.Series(currencies).to_numpy(), pd.Series(dates).to_numpy(), reporting_currency)
    values = pd.to_numeric(amounts, errors="coerce").to_numpy(dtype="float64") * rate
    return pd.Series(values, index=amounts.index)


def stage_ad_spend(ad_spend: pd.DataFrame, fx_rates: pd.DataFrame, reporting_currency: str) -> pd.DataFrame:
    """Canonical ad_spend rows plus ``spend_reporting`` (spend converted at the spend
    date's rate, see :func:`to_reporting`). A row without a channel gets its platform
    as channel (each ad platform is its own paid channel). platform_conversions stay
    as reported."""
    missing = [c for c in ("date", "platform", "currency", "spend") if c not in ad_spend.columns]
    if missing:
        raise ValueError(f"ad_spend lacks canonical column(s) {missing}")
    staged = ad_spend.copy()
    staged["channel"] = staged["channel"].fillna(staged["platform"]) if "channel" in staged else staged["platform"]
    staged["spend_reporting"] = to_reporting(staged["spend"], staged["currency"], staged["date"], fx_rates, reporting_currency)
    columns = [c for c in AD_SPEND_STAGED.column_names if c in staged.columns]
    return staged[columns + [c for c in staged.columns if c not in columns]].reset_index(drop=True)


def _month(frame: pd.DataFrame, column: str) -> pd.Series:
    return month_of(frame[column])


def ad_platform_kpis(ad_spend_staged: pd.DataFrame, months: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Per-platform ad KPIs (segment 'platform'): ad_spend (reporting currency),
    ad_impressions, ad_clicks, platform_conversions (as claimed by each platform)
    and cost_per_platform_conversion = spend / claimed conversions.

    Only per platform: platform_conversions are never summed across platforms.
    """
    month_index = [month_start(m) for m in months]
    frame = ad_spend_staged.assign(month=_month(ad_spend_staged, "date"))
    frame = frame[frame["month"].isin(month_index)]
    grid = pd.MultiIndex.from_product([month_index, sorted(frame["platform"].dropna().unique())], names=["month", "platform"])
    sums = (
        frame.groupby(["month", "platform"])[["spend_reporting", "impressions", "clicks", "platform_conversions"]]
        .sum(min_count=1)
        .reindex(grid)
        .reset_index()
    )
    sums["spend_reporting"] = sums["spend_reporting"].fillna(0.0)
    wide = pd.DataFrame(
        {
            "month": sums["month"],
            "platform": sums["platform"],
            "ad_spend": sums["spend_reporting"],
            "ad_impressions": sums["impressions"].astype("float64"),
            "ad_clicks": sums["clicks"].astype("float64"),
            "platform_conversions": sums["platform_conversions"].astype("float64"),
            "cost_per_platform_conversion": kpi.safe_divide(sums["spend_reporting"], sums["platform_conversions"]),
        }
    )
    units = {
        "ad_spend": kpi.CURRENCY,
        "ad_impressions": kpi.COUNT,
        "ad_clicks": kpi.COUNT,
        "platform_conversions": kpi.COUNT,
        "cost_per_platform_conversion": kpi.CURRENCY,
    }
    return kpi.wide_to_kpi(wide, units, segment="platform", segment_column="platform")
