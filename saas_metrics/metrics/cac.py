"""Customer acquisition cost, payback, LTV:CAC, ROAS and traffic ROI.

docs/metric-definitions.md#lifetime-value-and-acquisition-cost:

- ``ad_spend`` (M) = ad spend of all platforms in M, reporting currency.
- ``sm_expenses`` (M) = finance ledger lines of departments ``sales`` and
  ``marketing`` dated in M (salaries, tools, agencies, events), converted at each
  line's date rate.
- ``sm_spend`` (M) = ad_spend (M) + sm_expenses (M).
- ``cac`` (M) = sm_spend (M-k) / new_customers (M)      (blended; $100,000 / 200 = $5,000)
- ``paid_cac`` (M) = ad_spend (M-k) / paid_new_customers (M), where
  ``paid_new_customers`` are new customers whose acquisition channel
  (identity.customer_channel) is a paid channel (google_ads, meta_ads, linkedin_ads).
- per channel (segment 'channel', acquisition channel of the customer) and per
  attribution model (segment 'channel:<model>', the model's credited customers
  and new MRR): ``attributed_customers``, ``attributed_new_mrr``, ``ad_spend`` (M,
  'channel' only), ``cac`` = channel spend (M-k) / attributed customers (M),
  ``roas`` = 12 x attributed new MRR (M) / channel spend (M-k) and
  ``traffic_roi`` = (12 x attributed new MRR - spend) / spend. Channel rows are
  emitted for the paid channels and any other channel that carries ad spend
  (channels without spend have no cost to divide).
- ``cac_payback_months`` = cac / (ASP x gross margin); ``ltv_to_cac`` = LTV / cac.
- The ledger lines counted are ``policy.cac_scope`` (default: departments sales and
  marketing, every category, share 1). ``cac_fully_loaded`` adds
  ``policy.cac_fully_loaded_extra`` (the guides' "advanced" CAC: people, tools and overhead
  acquisition uses; default all of g_and_a): ``sm_spend_fully_loaded`` (M) = ad_spend (M) +
  ledger lines of both scopes x their share (a line matched twice counts once, at the larger
  share); ``cac_fully_loaded`` (M) = sm_spend_fully_loaded (M-k) / new_customers (M);
  ``cac_fully_loaded_payback_months`` and ``ltv_to_cac_fully_loaded`` as above.
  Ad 40,000 + S&M ledger 60,000 + G&A 50,000 x 0.2 for 200 new customers: cac 500,
  cac_fully_loaded 550.

k = ``policy.cac_lag_months`` (default 0): the spend that acquired the customers
of M is the spend of M-k. The caller must pass ad spend and expenses covering
months M-k .. M for every M in ``months``; a month without any spend rows counts
as zero spend. ``new_customers`` are mrr_movements rows with movement ``new``;
reactivations are returning customers, not acquisitions, so they are excluded.
Every ratio is NaN where its denominator is 0 or an input is missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_of, normalise_months
from saas_metrics.config import AcquisitionPolicy, CostScopeLine
from saas_metrics.metrics import kpi
from saas_metrics.metrics.ad_spend import to_reporting
from saas_metrics.metrics.frames import fill_label
from saas_metrics.sources.schemas import PAID_CHANNELS

SM_DEPARTMENTS = ("sales", "marketing")
DEFAULT_SCOPE = tuple(CostScopeLine(department=d) for d in SM_DEPARTMENTS)
UNKNOWN = "(unknown)"


def _month_of(values: pd.Series) -> pd.Series:
    return month_of(values)


def month_values(values: pd.Series | pd.DataFrame | None, metric: str) -> pd.Series:
    """A per-month value as a Series indexed by month start.

    Accepts a Series indexed by month, a frame with ``month`` and a ``metric`` (or
    ``value``) column, or kpi_monthly rows (the ``metric`` rows of segment 'all').
    """
    if values is None:
        return pd.Series(dtype="float64")
    if isinstance(values, pd.Series):
        out = values.astype("float64").copy()
        out.index = _month_of(pd.Series(out.index)).to_numpy()
        return out
    frame = values
    if "metric" in frame.columns:
        frame = frame[frame["metric"] == metric]
        if "segment" in frame.columns:
            frame = frame[frame["segment"] == kpi.ALL]
    column = metric if metric in frame.columns else "value"
    if column not in frame.columns or "month" not in frame.columns:
        raise ValueError(f"{metric}_by_month needs columns month and {metric} (or value)")
    return pd.Series(frame[column].astype("float64").to_numpy(), index=_month_of(frame["month"]).to_numpy())


def scope_weights(expenses: pd.DataFrame, scope: Sequence[CostScopeLine]) -> np.ndarray:
    """Per ledger line, the share of its amount in ``scope`` (0 when no scope line matches; the
    largest share when several do, so a line is never counted twice)."""
    department = expenses["department"].astype("str").str.lower().to_numpy()
    category = expenses["category"].astype("str").str.lower().to_numpy() if "category" in expenses else np.full(len(expenses), "")
    weight = np.zeros(len(expenses))
    for line in scope:
        match = department == line.department.lower()
        if line.category is not None:
            match &= category == line.category.lower()
        weight = np.where(match, np.maximum(weight, line.share), weight)
    return weight


def sm_expenses_by_month(expenses: pd.DataFrame, fx_rates: pd.DataFrame, reporting_currency: str,
                         scope: Sequence[CostScopeLine] | None = None) -> pd.Series:
    """Ledger expenses in ``scope`` (default: departments sales and marketing) per month in the
    reporting currency (each line at its date's rate, times its scope share)."""
    weight = scope_weights(expenses, scope if scope is not None else DEFAULT_SCOPE)
    lines = expenses[weight > 0]
    if lines.empty:
        return pd.Series(dtype="float64")
    amount = to_reporting(lines["amount"], lines["currency"], lines["date"], fx_rates, reporting_currency) * weight[weight > 0]
    return amount.groupby(_month_of(lines["date"]).to_numpy()).sum()


def _lagged(series: pd.Series, months: list[pd.Timestamp], lag: int) -> pd.Series:
    source = [m - pd.DateOffset(months=lag) for m in months]
    return pd.Series(series.reindex(source).fillna(0.0).to_numpy(), index=months)


def _channel_rows(
    spend: pd.DataFrame,
    attributed: pd.DataFrame,
    channels: list[str],
    months: list[pd.Timestamp],
    lag: int,
    *,
    with_spend_rows: bool,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Wide per (month, channel): attributed customers/MRR, lagged spend, cac, roas, traffic ROI."""
    grid = pd.MultiIndex.from_product([months, channels], names=["month", "channel"])
    spend_by = spend.groupby(["month", "channel"])["spend_reporting"].sum()
    lag_keys = pd.MultiIndex.from_arrays(
        [[m - pd.DateOffset(months=lag) for m in grid.get_level_values("month")], grid.get_level_values("channel")]
    )
    wide = pd.DataFrame(index=grid).reset_index()
    wide["ad_spend"] = spend_by.reindex(grid).fillna(0.0).to_numpy()
    lagged_spend = spend_by.reindex(lag_keys).fillna(0.0).to_numpy()
    got = attributed.groupby(["month", "channel"])[["customers", "new_mrr"]].sum().reindex(grid).fillna(0.0)
    wide["attributed_customers"] = got["customers"].to_numpy()
    wide["attributed_new_mrr"] = got["new_mrr"].to_numpy()
    wide["cac"] = kpi.safe_divide(lagged_spend, wide["attributed_customers"].to_numpy())
    revenue = 12.0 * wide["attributed_new_mrr"].to_numpy()
    wide["roas"] = kpi.safe_divide(revenue, lagged_spend)
    wide["traffic_roi"] = kpi.safe_divide(revenue - lagged_spend, lagged_spend)
    units = {"attributed_customers": kpi.COUNT, "attributed_new_mrr": kpi.CURRENCY, "cac": kpi.CURRENCY, "roas": kpi.RATIO, "traffic_roi": kpi.RATIO}
    if with_spend_rows:
        units = {"ad_spend": kpi.CURRENCY, **units}
    return wide, units


def cac_kpis(
    ad_spend_staged: pd.DataFrame,
    expenses: pd.DataFrame,
    fx_rates: pd.DataFrame,
    movements: pd.DataFrame,
    customer_channels: pd.DataFrame,
    attribution_credits: pd.DataFrame | None,
    ltv_by_month: pd.Series | pd.DataFrame | None,
    asp_by_month: pd.Series | pd.DataFrame | None,
    months: Sequence[pd.Timestamp],
    policy: AcquisitionPolicy,
    reporting_currency: str,
    *,
    gross_margin: float = 1.0,
) -> pd.DataFrame:
    """kpi_monthly rows of acquisition cost for each month in ``months`` (see the module docstring).

    ``gross_margin`` is ``RevenuePolicy.gross_margin`` (CAC payback only).
    ``ltv_by_month`` / ``asp_by_month``: see :func:`month_values`.
    """
    if not 0 < gross_margin <= 1:
        raise ValueError(f"gross_margin must be in (0, 1], got {gross_margin}")
    month_index = normalise_months(months)
    lag = policy.cac_lag_months

    spend = ad_spend_staged.assign(month=_month_of(ad_spend_staged["date"]))
    spend["channel"] = spend["channel"].fillna(spend["platform"])
    ad_total = spend.groupby("month")["spend_reporting"].sum()
    sm_total = ad_total.add(sm_expenses_by_month(expenses, fx_rates, reporting_currency, policy.cac_scope), fill_value=0.0)
    loaded_scope = [*policy.cac_scope, *policy.cac_fully_loaded_extra]
    loaded_total = ad_total.add(sm_expenses_by_month(expenses, fx_rates, reporting_currency, loaded_scope), fill_value=0.0)

    new = movements[movements["movement"] == "new"].assign(month=lambda f: _month_of(f["month"]))
    channel_of = customer_channels.drop_duplicates("customer_id").set_index("customer_id")["channel"]
    new = new.assign(channel=fill_label(new["customer_id"].map(channel_of), UNKNOWN))
    new_count = new.groupby("month")["customer_id"].nunique().reindex(month_index).fillna(0.0)
    paid_count = new[new["channel"].isin(PAID_CHANNELS)].groupby("month")["customer_id"].nunique().reindex(month_index).fillna(0.0)

    cac = kpi.safe_divide(_lagged(sm_total, month_index, lag), new_count)
    cac_loaded = kpi.safe_divide(_lagged(loaded_total, month_index, lag), new_count)
    asp = month_values(asp_by_month, "asp").reindex(month_index)
    ltv = month_values(ltv_by_month, "ltv").reindex(month_index)
    headline = pd.DataFrame({
        "month": month_index,
        "ad_spend": ad_total.reindex(month_index).fillna(0.0).to_numpy(),
        "sm_expenses": sm_total.reindex(month_index).fillna(0.0).to_numpy() - ad_total.reindex(month_index).fillna(0.0).to_numpy(),
        "sm_spend": sm_total.reindex(month_index).fillna(0.0).to_numpy(),
        "cac": cac.to_numpy(),
        "paid_new_customers": paid_count.to_numpy(),
        "paid_cac": kpi.safe_divide(_lagged(ad_total, month_index, lag), paid_count).to_numpy(),
        "cac_payback_months": kpi.safe_divide(cac.to_numpy(), asp.to_numpy() * gross_margin),
        "ltv_to_cac": kpi.safe_divide(ltv.to_numpy(), cac.to_numpy()),
        "sm_spend_fully_loaded": loaded_total.reindex(month_index).fillna(0.0).to_numpy(),
        "cac_fully_loaded": cac_loaded.to_numpy(),
        "cac_fully_loaded_payback_months": kpi.safe_divide(cac_loaded.to_numpy(), asp.to_numpy() * gross_margin),
        "ltv_to_cac_fully_loaded": kpi.safe_divide(ltv.to_numpy(), cac_loaded.to_numpy()),
    })
    units = {
        "ad_spend": kpi.CURRENCY, "sm_expenses": kpi.CURRENCY, "sm_spend": kpi.CURRENCY, "cac": kpi.CURRENCY,
        "paid_new_customers": kpi.COUNT, "paid_cac": kpi.CURRENCY, "cac_payback_months": kpi.MONTHS, "ltv_to_cac": kpi.RATIO,
        "sm_spend_fully_loaded": kpi.CURRENCY, "cac_fully_loaded": kpi.CURRENCY,
        "cac_fully_loaded_payback_months": kpi.MONTHS, "ltv_to_cac_fully_loaded": kpi.RATIO,
    }
    parts = [kpi.wide_to_kpi(headline, units)]

    channels = sorted(set(PAID_CHANNELS) | set(spend["channel"].dropna()))
    by_channel = new.assign(customers=1.0, new_mrr=new["amount"])
    wide, channel_units = _channel_rows(spend, by_channel, channels, month_index, lag, with_spend_rows=True)
    parts.append(kpi.wide_to_kpi(wide, channel_units, segment="channel", segment_column="channel"))

    if attribution_credits is not None and not attribution_credits.empty:
        credits = attribution_credits.assign(month=_month_of(attribution_credits["month"]))
        for model in sorted(credits["model"].unique()):
            wide, model_units = _channel_rows(spend, credits[credits["model"] == model], channels, month_index, lag, with_spend_rows=False)
            parts.append(kpi.wide_to_kpi(wide, model_units, segment=f"channel:{model}", segment_column="channel"))
    return pd.concat(parts, ignore_index=True)


#: Metrics that are undefined when no spend data exists at all (missing ad and finance sources).
SPEND_METRICS = ("ad_spend", "sm_expenses", "sm_spend", "cac", "paid_cac", "cac_payback_months", "ltv_to_cac",
                 "roas", "traffic_roi", "sm_spend_fully_loaded", "cac_fully_loaded", "cac_fully_loaded_payback_months",
                 "ltv_to_cac_fully_loaded")


def without_spend_data(kpis: pd.DataFrame) -> pd.DataFrame:
    """NULL every spend-based metric: used when neither ad spend nor the S&M ledger has a
    single row for the months (the sources are missing), where 0 spend would be a lie
    and CAC 0 a worse one. A month of a PRESENT source with no rows still counts as 0."""
    out = kpis.copy()
    out.loc[out["metric"].isin(SPEND_METRICS), "value"] = np.nan
    return out
