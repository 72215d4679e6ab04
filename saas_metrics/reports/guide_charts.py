"""Dashboard charts of the guides' metrics: churned MRR by reason, and cash with runway."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from saas_metrics.reports.charts import AMBER, BLUE, _base_layout, _month_axis, currency_prefix

#: reasons' bar colours in order of total churned MRR; 'unknown' is always grey
REASON_COLOURS = ("#dc2626", "#d97706", "#2563eb", "#7c3aed", "#059669", "#0891b2", "#db2777", "#65a30d")
UNKNOWN_COLOUR = "#94a3b8"
#: months shown by the churn-reason chart (ending with the latest month)
REASON_MONTHS = 12


def churn_reason_values(kpi_monthly: pd.DataFrame, month: pd.Timestamp, months: int = REASON_MONTHS) -> pd.DataFrame | None:
    """Churned MRR per month (rows, the ``months`` ending with ``month``) and reason (columns, largest
    total first, 'unknown' last); None when kpi_monthly has no churn-reason rows in that window."""
    start = month - pd.DateOffset(months=months - 1)
    rows = kpi_monthly[(kpi_monthly["segment"] == "churn_reason") & (kpi_monthly["metric"] == "churned_mrr")
                       & (kpi_monthly["month"] >= start) & (kpi_monthly["month"] <= month)]
    if rows.empty or rows["value"].fillna(0).eq(0).all():
        return None
    wide = rows.pivot_table(index="month", columns="segment_value", values="value", aggfunc="first").fillna(0.0)
    order = [r for r in wide.sum().sort_values(ascending=False).index if r != "unknown"]
    return wide[order + (["unknown"] if "unknown" in wide.columns else [])]


def churn_reasons_figure(kpi_monthly: pd.DataFrame, month: pd.Timestamp, currency: str = "USD") -> go.Figure | None:
    """Stacked bars: churned MRR of each month split by churn reason."""
    wide = churn_reason_values(kpi_monthly, month)
    if wide is None:
        return None
    prefix = currency_prefix(currency)
    fig = go.Figure()
    for i, reason in enumerate(wide.columns):
        colour = UNKNOWN_COLOUR if reason == "unknown" else REASON_COLOURS[i % len(REASON_COLOURS)]
        fig.add_trace(go.Bar(x=wide.index, y=wide[reason], name=str(reason).replace("_", " "), marker_color=colour,
                             hovertemplate=f"%{{x|%b %Y}}: {prefix}%{{y:,.0f}}<extra>{reason}</extra>"))
    _base_layout(fig)
    fig.update_layout(barmode="stack", bargap=0.25)
    fig.update_yaxes(tickprefix=prefix, tickformat=".3~s", rangemode="tozero")
    _month_axis(fig, wide.index)
    return fig


def cash_runway_figure(headline: pd.DataFrame, currency: str = "USD") -> go.Figure | None:
    """Cash balance (bars, left axis) and net burn (line, left) with runway in months (line, right axis)."""
    if "cash_balance" not in headline.columns or headline["cash_balance"].isna().all():
        return None
    prefix = currency_prefix(currency)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=headline.index, y=headline["cash_balance"], name="Cash balance", marker_color=BLUE, opacity=0.8,
                         hovertemplate=f"%{{x|%b %Y}}: {prefix}%{{y:,.0f}}<extra>cash</extra>"), secondary_y=False)
    if "net_burn" in headline.columns and headline["net_burn"].notna().any():
        fig.add_trace(go.Scatter(x=headline.index, y=headline["net_burn"], name="Net burn", mode="lines+markers",
                                 line={"color": AMBER, "width": 2}, marker={"size": 4},
                                 hovertemplate=f"%{{x|%b %Y}}: {prefix}%{{y:,.0f}}<extra>net burn</extra>"), secondary_y=False)
    if "runway_months" in headline.columns and headline["runway_months"].notna().any():
        fig.add_trace(go.Scatter(x=headline.index, y=headline["runway_months"], name="Runway, months (right)",
                                 mode="lines+markers", line={"color": "#dc2626", "width": 2.5, "dash": "dot"},
                                 hovertemplate="%{x|%b %Y}: %{y:.1f} months<extra>runway</extra>"), secondary_y=True)
    _base_layout(fig)
    fig.update_yaxes(tickprefix=prefix, tickformat=".3~s", secondary_y=False)
    fig.update_yaxes(ticksuffix=" mo", rangemode="tozero", showgrid=False, tickmode="auto", secondary_y=True)
    _month_axis(fig, headline.index)
    return fig
