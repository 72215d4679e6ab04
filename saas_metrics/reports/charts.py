"""Plotly figures of the dashboard, one builder per chart.

Every builder takes plain frames (the headline KPIs as a month x metric frame from
:func:`saas_metrics.reports.data.headline_wide`, or a detail table) and returns a
``plotly.graph_objects.Figure``, or ``None`` when its data is missing, so the page
can show a 'no data' note instead. Metric names are those of kpi_monthly
(docs/metric-definitions.md); nothing here computes a metric, it only lays numbers out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# A calm palette: one hue per meaning, used the same way in every chart.
BLUE = "#2563eb"
SKY = "#0ea5e9"
GREEN = "#16a34a"
RED = "#dc2626"
AMBER = "#d97706"
PURPLE = "#7c3aed"
SLATE = "#64748b"
INK = "#0f172a"
COLORWAY = [BLUE, AMBER, GREEN, PURPLE, RED, SKY, SLATE, "#db2777"]

#: Bridge steps of docs/metric-definitions.md#bridge-identity, in order, with their sign.
BRIDGE_STEPS: tuple[tuple[str, str, int], ...] = (
    ("new_mrr", "New", +1),
    ("expansion_mrr", "Expansion", +1),
    ("reactivation_mrr", "Reactivation", +1),
    ("contraction_mrr", "Contraction", -1),
    ("churned_mrr", "Churn", -1),
    ("fx_impact_mrr", "FX impact", +1),
)

#: Funnel stages: (kpi_monthly metric, label).
FUNNEL_STAGES: tuple[tuple[str, str], ...] = (
    ("unique_visitors", "Visitors"),
    ("leads", "Leads"),
    ("mqls", "MQLs"),
    ("sqls", "SQLs"),
    ("new_customers", "New customers"),
)
#: Stage -> the stage it is a subset of (its share of that stage is a conversion). New
#: customers have none: self-serve sign-ups become customers without being SQLs.
FUNNEL_SUBSET_OF: dict[str, str] = {"leads": "unique_visitors", "mqls": "leads", "sqls": "mqls"}

#: Attribution models in the order docs/metric-definitions.md#attribution lists them.
MODEL_ORDER = ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped", "time_decay")

_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}

#: Bridge residue (in currency units) below which the bridge counts as reconciled.
RECONCILE_TOLERANCE = 0.005

#: (month, metric) cells still provisional; drawn with open markers and named in the hover.
Provisional = frozenset[tuple[pd.Timestamp, str]] | set[tuple[pd.Timestamp, str]]
PROVISIONAL_NOTE = " (provisional)"


def provisional_style(headline: pd.DataFrame, metric: str, provisional: Provisional,
                      size: int = 5) -> tuple[dict[str, object], list[str]]:
    """Marker settings (open circles on provisional months) and per-point hover notes of a series."""
    flags = [(pd.Timestamp(month), metric) in provisional for month in headline.index]
    marker = {"size": [size + 3 if f else size for f in flags],
              "symbol": ["circle-open" if f else "circle" for f in flags]}
    return marker, [PROVISIONAL_NOTE if f else "" for f in flags]


def currency_prefix(currency: str) -> str:
    """'$' for USD, '€' for EUR, ...; otherwise the ISO code and a space."""
    return _CURRENCY_SYMBOLS.get(currency.upper(), f"{currency.upper()} ")


def month_label(month: pd.Timestamp) -> str:
    return pd.Timestamp(month).strftime("%b %Y")


def headline_value(headline: pd.DataFrame, month: pd.Timestamp, metric: str) -> float:
    """Headline value of ``metric`` in ``month``; NaN when either is missing."""
    if metric not in headline.columns or month not in headline.index:
        return math.nan
    return float(headline.at[month, metric])


#: The plotly template of every chart. Applied when a figure is written out
#: (:func:`saas_metrics.reports.dashboard.figure_html`), not on the figure: assigning a named
#: template validates and copies the whole template into each figure, most of a chart's cost.
TEMPLATE = "plotly_white"


def _base_layout(fig: go.Figure, *, height: int = 360) -> go.Figure:
    fig.update_layout(
        colorway=COLORWAY,
        height=height,
        margin={"l": 60, "r": 24, "t": 36, "b": 48},
        font={"family": "Inter, 'Segoe UI', system-ui, -apple-system, sans-serif", "size": 12, "color": INK},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        hoverlabel={"font": {"family": "Inter, system-ui, sans-serif"}},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    fig.update_xaxes(showgrid=False, linecolor="#cbd5e1")
    fig.update_yaxes(gridcolor="#e2e8f0", zerolinecolor="#cbd5e1")
    return fig


def _month_axis(fig: go.Figure, months: pd.Index) -> go.Figure:
    """Month ticks ('Jan 2025') spaced so that a short history does not get day ticks."""
    count = len(months)
    step = 1 if count <= 7 else 2 if count <= 14 else 3 if count <= 36 else 6
    fig.update_xaxes(tickformat="%b %Y", dtick=f"M{step}", ticklabelmode="instant")
    return fig


def bridge_values(headline: pd.DataFrame, month: pd.Timestamp) -> pd.DataFrame | None:
    """The MRR bridge of ``month`` as rows (label, measure, value).

    start = MRR at the end of M-1, then + new + expansion + reactivation
    - contraction - churn +/- FX (docs/metric-definitions.md#bridge-identity), end = MRR of M.
    Contraction and churn are positive amounts in kpi_monthly and enter with a minus
    sign. Missing movements count as 0; if the steps do not reach the end MRR (to the
    cent) an 'Unreconciled' step shows the residue rather than hiding it. When M-1 has
    no MRR, start = end - net movements. None when M has no MRR or no movement at all.
    """
    end = headline_value(headline, month, "mrr")
    moves = {metric: headline_value(headline, month, metric) for metric, _, _ in BRIDGE_STEPS}
    if math.isnan(end) or all(math.isnan(v) for v in moves.values()):
        return None
    steps = [(label, sign * abs(moves[metric]) if metric != "fx_impact_mrr" else moves[metric])
             for metric, label, sign in BRIDGE_STEPS]
    steps = [(label, 0.0 if math.isnan(v) else v) for label, v in steps]
    net = sum(v for _, v in steps)
    start = headline_value(headline, month - pd.DateOffset(months=1), "mrr")
    if math.isnan(start):
        start = end - net
    residue = end - (start + net)
    rows = [("Start MRR", "absolute", start), *((label, "relative", v) for label, v in steps)]
    if abs(residue) >= RECONCILE_TOLERANCE:
        rows.append(("Unreconciled", "relative", residue))
    rows.append(("End MRR", "total", end))
    return pd.DataFrame(rows, columns=["label", "measure", "value"])


def mrr_bridge_figure(headline: pd.DataFrame, month: pd.Timestamp, currency: str = "USD") -> go.Figure | None:
    """Waterfall from the start MRR of ``month`` through its movements to its end MRR."""
    bridge = bridge_values(headline, month)
    if bridge is None:
        return None
    prefix = currency_prefix(currency)
    text = [
        f"{prefix}{v:,.0f}" if m != "relative" else f"{'+' if v >= 0 else '-'}{prefix}{abs(v):,.0f}"
        for m, v in zip(bridge["measure"], bridge["value"], strict=True)
    ]
    y = [v if m != "total" else 0.0 for m, v in zip(bridge["measure"], bridge["value"], strict=True)]
    fig = go.Figure(go.Waterfall(
        x=bridge["label"].tolist(),
        measure=bridge["measure"].tolist(),
        y=y,
        text=text,
        textposition="outside",
        cliponaxis=False,
        connector={"line": {"color": "#cbd5e1", "width": 1}},
        increasing={"marker": {"color": GREEN}},
        decreasing={"marker": {"color": RED}},
        totals={"marker": {"color": BLUE}},
        hovertemplate="%{x}: %{text}<extra></extra>",
        name="MRR bridge",
    ))
    _base_layout(fig)
    fig.update_layout(showlegend=False, yaxis={"tickprefix": prefix, "tickformat": ".3~s"})
    # Zoom the axis onto the movements (they are small next to MRR) but keep 0 in view
    # when the movements are large, so bars are never cut in a misleading way.
    levels = [*bridge["value"].where(bridge["measure"] != "total").cumsum().dropna().tolist(), bridge["value"].iloc[-1]]
    low, high = min(levels), max(levels)
    span = max(high - low, abs(high) * 0.01)
    floor = max(0.0, low - 2 * span) if low > 0 else low - 0.1 * span
    fig.update_yaxes(range=[floor, high + 0.25 * span + 0.02 * abs(high)])
    return fig


def mrr_trend_figure(headline: pd.DataFrame, currency: str = "USD", provisional: Provisional = frozenset()) -> go.Figure | None:
    """MRR (area, left axis) and ARR (line, right axis) by month; provisional months as open markers."""
    if "mrr" not in headline.columns or headline["mrr"].isna().all():
        return None
    prefix = currency_prefix(currency)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    marker, notes = provisional_style(headline, "mrr", provisional)
    fig.add_trace(go.Scatter(
        x=headline.index, y=headline["mrr"], name="MRR", mode="lines+markers",
        line={"color": BLUE, "width": 2.5}, marker=marker, fill="tozeroy", fillcolor="rgba(37,99,235,0.10)",
        customdata=notes, hovertemplate=f"%{{x|%b %Y}}: {prefix}%{{y:,.0f}}%{{customdata}}<extra>MRR</extra>",
    ), secondary_y=False)
    if "arr" in headline.columns and headline["arr"].notna().any():
        fig.add_trace(go.Scatter(
            x=headline.index, y=headline["arr"], name="ARR (right axis)", mode="lines",
            line={"color": PURPLE, "width": 2, "dash": "dot"},
            hovertemplate=f"%{{x|%b %Y}}: {prefix}%{{y:,.0f}}<extra>ARR</extra>",
        ), secondary_y=True)
    _base_layout(fig)
    # ARR = 12 x MRR: scaling the right axis by 12 lays the two lines on one curve.
    top = float(np.nanmax(headline[["mrr"]].to_numpy())) * 1.08 or 1.0
    fig.update_yaxes(tickprefix=prefix, tickformat=".3~s", range=[0, top], secondary_y=False)
    fig.update_yaxes(tickprefix=prefix, tickformat=".3~s", range=[0, 12 * top], tickmode="auto",
                     showgrid=False, secondary_y=True)
    _month_axis(fig, headline.index)
    return fig


def _series_traces(headline: pd.DataFrame, specs: list[tuple[str, str, str, str]],
                   provisional: Provisional = frozenset()) -> list[go.Scatter]:
    traces = []
    for metric, name, color, dash in specs:
        if metric in headline.columns and headline[metric].notna().any():
            marker, notes = provisional_style(headline, metric, provisional, size=4)
            traces.append(go.Scatter(
                x=headline.index, y=headline[metric], name=name, mode="lines+markers",
                line={"color": color, "width": 2, "dash": dash}, marker=marker, customdata=notes,
                hovertemplate=f"%{{x|%b %Y}}: %{{y:.1%}}%{{customdata}}<extra>{name}</extra>",
            ))
    return traces


def churn_retention_figure(headline: pd.DataFrame, provisional: Provisional = frozenset()) -> go.Figure | None:
    """Customer churn rate and gross MRR churn rate (left axis) with NRR and GRR (right axis)."""
    churn = _series_traces(headline, [
        ("customer_churn_rate", "Customer churn", RED, "solid"),
        ("gross_mrr_churn_rate", "Gross MRR churn", AMBER, "solid"),
    ], provisional)
    retention = _series_traces(headline, [
        ("nrr", "NRR (right)", GREEN, "dot"),
        ("grr", "GRR (right)", SKY, "dot"),
    ], provisional)
    if not churn and not retention:
        return None
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for trace in churn:
        fig.add_trace(trace, secondary_y=False)
    for trace in retention:
        fig.add_trace(trace, secondary_y=True)
    _base_layout(fig)
    fig.update_yaxes(tickformat=".1%", rangemode="tozero", secondary_y=False, title_text="churn / month")
    fig.update_yaxes(tickformat=".1%", tickmode="auto", showgrid=False, secondary_y=True, title_text="retention")
    _month_axis(fig, headline.index)
    return fig


def unit_economics_figure(headline: pd.DataFrame, currency: str = "USD", provisional: Provisional = frozenset()) -> go.Figure | None:
    """CAC and LTV (bars, left axis) and LTV:CAC (line, right axis) with the 3x rule of thumb."""
    prefix = currency_prefix(currency)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    drawn = 0
    for metric, name, color in (("cac", "CAC", AMBER), ("ltv", "LTV", BLUE)):
        if metric in headline.columns and headline[metric].notna().any():
            _, notes = provisional_style(headline, metric, provisional)
            # Provisional bars hatched, like the open markers of the lines.
            fig.add_trace(go.Bar(
                x=headline.index, y=headline[metric], name=name, opacity=0.85, customdata=notes,
                marker={"color": color, "pattern": {"shape": ["/" if note else "" for note in notes]}},
                hovertemplate=f"%{{x|%b %Y}}: {prefix}%{{y:,.0f}}%{{customdata}}<extra>{name}</extra>",
            ), secondary_y=False)
            drawn += 1
    if "ltv_to_cac" in headline.columns and headline["ltv_to_cac"].notna().any():
        marker, notes = provisional_style(headline, "ltv_to_cac", provisional)
        fig.add_trace(go.Scatter(
            x=headline.index, y=headline["ltv_to_cac"], name="LTV:CAC (right)", mode="lines+markers",
            line={"color": GREEN, "width": 2.5}, marker=marker, customdata=notes,
            hovertemplate="%{x|%b %Y}: %{y:.2f}×%{customdata}<extra>LTV:CAC</extra>",
        ), secondary_y=True)
        # The 3x rule of thumb (docs/metric-definitions.md#ltv-to-cac), drawn on the ratio axis.
        fig.add_trace(go.Scatter(
            x=[headline.index.min(), headline.index.max()], y=[3, 3], name="3× target", mode="lines",
            line={"color": GREEN, "width": 1, "dash": "dash"}, hoverinfo="skip", showlegend=True,
        ), secondary_y=True)
        drawn += 1
    if not drawn:
        return None
    _base_layout(fig)
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(tickprefix=prefix, tickformat=".3~s", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(ticksuffix="×", tickformat=".1f", tickmode="auto", rangemode="tozero", showgrid=False, secondary_y=True)
    _month_axis(fig, headline.index)
    return fig


def trailing_months(month: pd.Timestamp, count: int) -> pd.DatetimeIndex:
    """The ``count`` months ending with ``month``."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return pd.date_range(end=pd.Timestamp(month), periods=count, freq="MS", name="month")


def funnel_values(headline: pd.DataFrame, month: pd.Timestamp, months: int = 3) -> pd.DataFrame | None:
    """Funnel stage totals (label, value) summed over the ``months`` months ending with
    ``month``; a stage with no value in that window is left out. None when none has one."""
    window = headline.reindex(trailing_months(month, months))
    rows = []
    for metric, label in FUNNEL_STAGES:
        if metric in window.columns and window[metric].notna().any():
            rows.append((label, float(window[metric].sum(min_count=1))))
    if not rows:
        return None
    return pd.DataFrame(rows, columns=["label", "value"])


def _lower_first(label: str) -> str:
    """'Visitors' -> 'visitors', but 'MQLs' stays 'MQLs'."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def funnel_figure(headline: pd.DataFrame, month: pd.Timestamp, months: int = 3) -> go.Figure | None:
    """Visitors -> leads -> MQLs -> SQLs -> new customers over the trailing ``months`` months.

    Horizontal bars on a log axis: visitors outnumber customers by orders of
    magnitude, so a linear funnel would shrink every later stage to a sliver. Each
    bar is labelled with its count and, where the stage is a subset of another
    (:data:`FUNNEL_SUBSET_OF`) present in the window and not outnumbered by it, its
    share of that stage; only decades are ticked on the log axis."""
    stages = funnel_values(headline, month, months)
    if stages is None:
        return None
    values = stages["value"].tolist()
    metric_of = {label: metric for metric, label in FUNNEL_STAGES}
    by_metric = {metric_of[label]: (label, value) for label, value in zip(stages["label"], values, strict=True)}
    text = []
    for label, value in zip(stages["label"], values, strict=True):
        parent = by_metric.get(FUNNEL_SUBSET_OF.get(metric_of[label], ""))
        share = ""
        if parent is not None and parent[1] > 0 and value <= parent[1]:
            share = f" · {value / parent[1]:.1%} of {_lower_first(parent[0])}"
        text.append(f"{value:,.0f}{share}")
    positive = [v for v in values if v > 0]
    fig = go.Figure(go.Bar(
        y=stages["label"].tolist(), x=[v if v > 0 else None for v in values], orientation="h",
        text=text, textposition="outside", cliponaxis=False,
        marker={"color": [BLUE, SKY, PURPLE, AMBER, GREEN][: len(stages)]},
        hovertemplate="%{y}: %{x:,.0f}<extra></extra>",
    ))
    _base_layout(fig)
    fig.update_layout(showlegend=False, margin={"l": 110, "r": 24, "t": 16, "b": 40}, bargap=0.35)
    if positive:
        # Headroom on the right for the labels: two decades past the largest bar.
        # Ticks at powers of ten only (1, 10, 100, 1k ...): no minor '2' and '5' labels between them.
        fig.update_xaxes(type="log", range=[max(0.0, math.floor(math.log10(min(positive)))) - 0.3,
                                            math.log10(max(positive)) + 1.3],
                         tick0=0, dtick=1, tickformat="~s", minor={"showgrid": False, "ticks": ""},
                         title_text="count (log scale)", showgrid=True, gridcolor="#e2e8f0")
    fig.update_yaxes(autorange="reversed", showgrid=False)
    return fig


def cohort_matrix(cohort_retention: pd.DataFrame, max_cohorts: int = 18) -> pd.DataFrame | None:
    """Logo retention as a cohort_month x age_months matrix (the newest ``max_cohorts``
    cohorts, oldest first). None when no row has a logo retention."""
    rows = cohort_retention.dropna(subset=["cohort_month", "age_months", "logo_retention"])
    if rows.empty:
        return None
    rows = rows.drop_duplicates(["cohort_month", "age_months"], keep="last")
    matrix = rows.pivot(index="cohort_month", columns="age_months", values="logo_retention").sort_index()
    matrix = matrix.iloc[-max_cohorts:]
    matrix.columns = [int(c) for c in matrix.columns]
    return matrix.reindex(columns=range(0, max(matrix.columns) + 1))


def cohort_heatmap_figure(cohort_retention: pd.DataFrame, max_cohorts: int = 18) -> go.Figure | None:
    """Heatmap of logo retention (docs/metric-definitions.md#cohorts) by cohort and age in months."""
    matrix = cohort_matrix(cohort_retention, max_cohorts)
    if matrix is None:
        return None
    sizes = (cohort_retention.dropna(subset=["cohort_month"]).groupby("cohort_month")["cohort_customers"].max())
    labels = [
        f"{month_label(c)} ({int(sizes[c])})" if c in sizes.index and pd.notna(sizes[c]) else month_label(c)
        for c in matrix.index
    ]
    z = matrix.to_numpy(dtype="float64")
    text = np.where(np.isnan(z), "", np.char.mod("%.0f%%", np.nan_to_num(z) * 100))
    fig = go.Figure(go.Heatmap(
        z=z, x=list(matrix.columns), y=labels, text=text,
        texttemplate="%{text}" if z.size <= 600 else None, textfont={"size": 10},
        colorscale=[[0.0, "#fef2f2"], [0.5, "#93c5fd"], [1.0, "#1e3a8a"]], zmin=0, zmax=1,
        colorbar={"title": {"text": "logo<br>retention"}, "tickformat": ".0%", "thickness": 12},
        hovertemplate="cohort %{y}, age %{x} months: %{z:.1%}<extra></extra>",
        xgap=1, ygap=1,
    ))
    _base_layout(fig, height=max(320, 28 * len(matrix) + 90))
    fig.update_layout(margin={"l": 110, "r": 24, "t": 16, "b": 48})
    fig.update_xaxes(title_text="age (months since first payment)", dtick=1 if matrix.shape[1] <= 24 else 3)
    fig.update_yaxes(autorange="reversed", showgrid=False, title_text="cohort (size)")
    return fig


def model_label(model: str) -> str:
    """'u_shaped' -> 'U-shaped', 'first_touch' -> 'First touch'."""
    label = str(model).replace("_shaped", "-shaped").replace("_", " ")
    return label[:1].upper() + label[1:]


def attribution_totals(
    attribution_credits: pd.DataFrame, month: pd.Timestamp, months: int = 3
) -> pd.DataFrame | None:
    """New MRR credited per model and channel over the ``months`` months ending with
    ``month``: a channel x model frame, channels by credited new MRR (descending),
    models in the order of docs/metric-definitions.md#attribution. None when there is no credit in the window."""
    window = trailing_months(month, months)
    rows = attribution_credits[attribution_credits["month"].isin(window)].dropna(subset=["model", "channel"])
    if rows.empty or rows["new_mrr"].isna().all():
        return None
    totals = rows.pivot_table(index="channel", columns="model", values="new_mrr", aggfunc="sum", fill_value=0.0)
    totals = totals.loc[totals.mean(axis=1).sort_values(ascending=False).index]
    known = [m for m in MODEL_ORDER if m in totals.columns]
    return totals[known + sorted(c for c in totals.columns if c not in MODEL_ORDER)]


def attribution_figure(
    attribution_credits: pd.DataFrame, month: pd.Timestamp, currency: str = "USD", months: int = 3
) -> go.Figure | None:
    """Grouped bars: new MRR credited to each channel, one bar per attribution model."""
    totals = attribution_totals(attribution_credits, month, months)
    if totals is None:
        return None
    prefix = currency_prefix(currency)
    fig = go.Figure()
    for model in totals.columns:
        fig.add_trace(go.Bar(
            x=totals.index.tolist(), y=totals[model].tolist(), name=model_label(model),
            hovertemplate=f"%{{x}}: {prefix}%{{y:,.0f}}<extra>{model_label(model)}</extra>",
        ))
    _base_layout(fig)
    fig.update_layout(barmode="group", bargap=0.2, bargroupgap=0.05)
    fig.update_yaxes(tickprefix=prefix, tickformat=".3~s", title_text="new MRR credited")
    return fig


def forecast_figure(headline: pd.DataFrame, forecast: pd.DataFrame, currency: str = "USD",
                    metric: str = "mrr", history_months: int = 12) -> go.Figure | None:
    """Actual ``metric`` (last ``history_months``), the base-case forecast with its prediction-interval
    fan (kpi_forecast lower/upper) and each scenario as a dotted line; None without a base forecast."""
    rows = forecast[forecast["metric"] == metric]
    base = rows[rows["scenario"] == "base"].sort_values("month")
    if base.empty:
        return None
    prefix = currency_prefix(currency)
    fig = go.Figure()
    actual = headline[metric].dropna().iloc[-history_months:] if metric in headline.columns else pd.Series(dtype=float)
    if len(actual):
        fig.add_trace(go.Scatter(x=actual.index, y=actual, name="Actual", mode="lines+markers",
                                 line={"color": BLUE, "width": 2.5}, marker={"size": 4},
                                 hovertemplate=f"%{{x|%b %Y}}: {prefix}%{{y:,.0f}}<extra>actual</extra>"))
    # Each forecast line starts at the last actual value so that it visibly continues the history.
    anchor_x = [actual.index[-1]] if len(actual) else []
    anchor_y = [float(actual.iloc[-1])] if len(actual) else []
    fan = base.dropna(subset=["lower", "upper"])
    if len(fan):
        fig.add_trace(go.Scatter(x=anchor_x + list(fan["month"]), y=anchor_y + list(fan["upper"]), mode="lines",
                                 line={"width": 0}, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=anchor_x + list(fan["month"]), y=anchor_y + list(fan["lower"]), mode="lines",
                                 line={"width": 0}, fill="tonexty", fillcolor="rgba(37,99,235,0.15)",
                                 name="Prediction interval", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=anchor_x + list(base["month"]), y=anchor_y + list(base["value"]), name="Forecast (base)",
                             mode="lines+markers", line={"color": BLUE, "width": 2, "dash": "dash"}, marker={"size": 4},
                             hovertemplate=f"%{{x|%b %Y}}: {prefix}%{{y:,.0f}}<extra>base</extra>"))
    scenario_colors = [GREEN, AMBER, PURPLE, RED, SKY, SLATE]
    for i, (name, scenario) in enumerate(rows[rows["scenario"] != "base"].groupby("scenario", sort=True)):
        scenario = scenario.sort_values("month")
        fig.add_trace(go.Scatter(x=anchor_x + list(scenario["month"]), y=anchor_y + list(scenario["value"]),
                                 name=str(name), mode="lines", line={"color": scenario_colors[i % 6], "width": 1.5, "dash": "dot"},
                                 hovertemplate=f"%{{x|%b %Y}}: {prefix}%{{y:,.0f}}<extra>{name}</extra>"))
    _base_layout(fig)
    fig.update_yaxes(tickprefix=prefix, tickformat=".3~s", rangemode="tozero")
    _month_axis(fig, pd.Index(list(actual.index) + list(base["month"])))
    return fig
