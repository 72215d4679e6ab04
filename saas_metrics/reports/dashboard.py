"""The KPI dashboard: one self-contained static HTML page.

:func:`build_dashboard` lays out KPI header cards for the latest month, the charts of
:mod:`saas_metrics.reports.charts` and the at-risk accounts table. plotly.js is inlined
once in the page head, so the file works offline (no CDN) and can be mailed or
attached to a run. Every chart sits in a ``<section>`` with a heading and a stable DOM
id (:data:`CHART_IDS`); a chart without data shows a 'no data' note instead.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from saas_metrics.atomic import write_text_atomically
from saas_metrics.reports import charts, guide_charts
from saas_metrics.reports.data import (
    DashboardData,
    headline_wide,
    latest_month,
    provisional_cells,
    provisional_months,
)

#: DOM id of each chart's plotly div, by chart key (stable: tests and links rely on them).
CHART_IDS: dict[str, str] = {
    "mrr_bridge": "chart-mrr-bridge",
    "mrr_trend": "chart-mrr-trend",
    "churn_retention": "chart-churn-retention",
    "unit_economics": "chart-unit-economics",
    "funnel": "chart-funnel",
    "cohort_retention": "chart-cohort-retention",
    "attribution": "chart-attribution",
    "forecast": "chart-forecast",
}
CHART_IDS.update({"churn_reasons": "chart-churn-reasons", "cash_runway": "chart-cash-runway"})
AT_RISK_TABLE_ID = "table-at-risk"
KPI_CARDS_ID = "kpi-cards"

#: Trailing months summed by the funnel and attribution charts.
TRAILING_MONTHS = 3
#: What a provisional mark means (card tooltip and page footer).
PROVISIONAL_TITLE = "the month, or the metric's conversion window, has not closed: the value will change"
#: Rows shown in the at-risk table (the rest are counted).
AT_RISK_MAX_ROWS = 25

# No mode bar: it would cover the legends of a static report; zoom and hover still work.
_PLOTLY_CONFIG = {"displaylogo": False, "displayModeBar": False, "responsive": True}


@dataclass(frozen=True)
class KpiCard:
    """One header card: ``kind`` is 'currency', 'count', 'ratio' (a fraction) or 'multiple'."""

    metric: str
    label: str
    kind: str
    higher_is_better: bool = True


KPI_CARDS: tuple[KpiCard, ...] = (
    KpiCard("mrr", "MRR", "currency"),
    KpiCard("arr", "ARR", "currency"),
    KpiCard("customers", "Customers", "count"),
    KpiCard("nrr", "NRR", "ratio"),
    KpiCard("customer_churn_rate", "Customer churn", "ratio", higher_is_better=False),
    KpiCard("cac", "CAC", "currency", higher_is_better=False),
    KpiCard("ltv_to_cac", "LTV:CAC", "multiple"),
)


def format_value(value: float, kind: str, currency: str = "USD") -> str:
    """A card value: $1.25M / $12.3k / 1,234 / 4.2% / 3.1×; an em dash when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind == "currency":
        prefix = charts.currency_prefix(currency)
        sign = "-" if value < 0 else ""
        size = abs(value)
        for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if size >= threshold:
                return f"{sign}{prefix}{size / threshold:,.{2 if size < 10 * threshold else 1}f}{suffix}"
        return f"{sign}{prefix}{size:,.0f}"
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "ratio":
        return f"{value:.1%}"
    if kind == "multiple":
        return f"{value:.1f}×"
    raise ValueError(f"unknown card kind {kind!r}")


def format_change(current: float, previous: float, kind: str) -> tuple[str, float] | None:
    """Month-over-month change: for rates the difference in percentage points, for the
    rest the relative change (current - previous) / |previous|. Returns (text, signed
    change) or None when either month is missing or the previous is 0."""
    if any(v is None or math.isnan(v) for v in (current, previous)):
        return None
    if kind == "ratio":
        delta = current - previous
        return f"{'▲' if delta > 0 else '▼' if delta < 0 else '■'} {abs(delta) * 100:.1f} pp", delta
    if previous == 0:
        return None
    delta = (current - previous) / abs(previous)
    return f"{'▲' if delta > 0 else '▼' if delta < 0 else '■'} {abs(delta):.1%}", delta


def kpi_cards_html(headline: pd.DataFrame, month: pd.Timestamp | None, currency: str = "USD",
                   provisional: charts.Provisional = frozenset()) -> str:
    """The header cards for ``month`` with their change against the month before; a
    card whose value is provisional (``provisional`` holds (month, metric)) says so."""
    cards = []
    previous = None if month is None else month - pd.DateOffset(months=1)
    for card in KPI_CARDS:
        current = math.nan if month is None else charts.headline_value(headline, month, card.metric)
        before = math.nan if previous is None else charts.headline_value(headline, previous, card.metric)
        change = format_change(current, before, card.kind)
        if change is None:
            change_html = '<span class="delta flat">no prior month</span>'
        else:
            text, delta = change
            tone = "flat" if delta == 0 else ("good" if (delta > 0) == card.higher_is_better else "bad")
            change_html = f'<span class="delta {tone}">{html.escape(text)}</span> <span class="vs">vs prior month</span>'
        is_provisional = month is not None and (month, card.metric) in provisional
        badge = f'<span class="provisional" title="{PROVISIONAL_TITLE}">provisional</span>' if is_provisional else ""
        cards.append(
            f'<div class="card{" is-provisional" if is_provisional else ""}" data-metric="{card.metric}">'
            f'<div class="label">{html.escape(card.label)}{badge}</div>'
            f'<div class="value">{html.escape(format_value(current, card.kind, currency))}</div>'
            f'<div class="change">{change_html}</div></div>'
        )
    return f'<div id="{KPI_CARDS_ID}" class="cards">{"".join(cards)}</div>'


#: Columns of the at-risk table (id, not names or e-mails: the page may travel).
AT_RISK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "Customer"),
    ("plan_tier", "Plan"),
    ("mrr", "MRR at stake"),
    ("usage_previous", "Usage prior month"),
    ("usage", "Usage"),
    ("usage_change_pct", "Usage change"),
    ("health_score", "Health"),
    ("band", "Band"),
    ("owner_id", "Owner"),
)
AT_RISK_COLUMNS += (("risky_ticket_topics", "Ticket topics"),)


def at_risk_rows(at_risk_accounts: pd.DataFrame) -> pd.DataFrame:
    """The at-risk accounts of the table's latest month, largest MRR first."""
    rows = at_risk_accounts.dropna(subset=["month"])
    if rows.empty:
        return rows
    rows = rows[rows["month"] == rows["month"].max()]
    return rows.sort_values(["mrr", "customer_id"], ascending=[False, True], na_position="last")


def at_risk_table_html(at_risk_accounts: pd.DataFrame, currency: str = "USD", max_rows: int = AT_RISK_MAX_ROWS) -> str | None:
    """An HTML table of the latest month's at-risk accounts (ids only), with the total
    MRR at stake; None when there are none."""
    rows = at_risk_rows(at_risk_accounts)
    if rows.empty:
        return None
    prefix = charts.currency_prefix(currency)
    total_mrr = float(rows["mrr"].sum())

    def cell(column: str, value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            return '<td class="muted">—</td>'
        if column == "mrr":
            return f'<td class="num">{prefix}{float(value):,.2f}</td>'
        if column in ("usage_previous", "usage"):
            return f'<td class="num">{float(value):,.0f}</td>'
        if column == "usage_change_pct":
            return f'<td class="num {"bad" if float(value) < 0 else "good"}">{float(value):+.0%}</td>'
        if column == "health_score":
            return f'<td class="num">{float(value):.0f}</td>'
        if column == "band":
            band = str(value).strip().lower().replace("_", " ")
            return f'<td><span class="badge band-{html.escape(band.replace(" ", "-"))}">{html.escape(band)}</span></td>'
        return f"<td>{html.escape(str(value))}</td>"

    head = "".join(
        f'<th class="{"num" if c in ("mrr", "usage_previous", "usage", "usage_change_pct", "health_score") else ""}">'
        f"{html.escape(label)}</th>"
        for c, label in AT_RISK_COLUMNS
    )
    body = "".join(
        "<tr>" + "".join(cell(c, row[c]) for c, _ in AT_RISK_COLUMNS) + "</tr>"
        for row in rows.head(max_rows).to_dict("records")
    )
    more = len(rows) - max_rows
    caption = (
        f"{len(rows)} account{'s' if len(rows) != 1 else ''} in {charts.month_label(rows['month'].iloc[0])}, "
        f"{prefix}{total_mrr:,.2f} MRR at stake" + (f"; the {more} smallest are not listed" if more > 0 else "")
    )
    return (
        f'<table id="{AT_RISK_TABLE_ID}" class="at-risk"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _no_data(message: str) -> str:
    return f'<div class="no-data" role="note"><strong>No data.</strong> {html.escape(message)}</div>'


@cache
def _template_json() -> dict[str, Any]:
    template: Any = pio.templates[charts.TEMPLATE]
    return template.to_plotly_json()


def figure_html(fig: go.Figure, div_id: str) -> str:
    """The chart's div, drawn with :data:`charts.TEMPLATE`: the template's JSON is set on the
    figure's serialised layout, once validated per process rather than once per figure."""
    spec = fig.to_dict()
    spec["layout"]["template"] = _template_json()
    return pio.to_html(spec, full_html=False, include_plotlyjs=False, div_id=div_id, config=_PLOTLY_CONFIG,
                       validate=False)


def _section(key: str, title: str, subtitle: str, body: str, *, wide: bool = False) -> str:
    return (
        f'<section class="panel{" wide" if wide else ""}" data-chart="{key}">'
        f"<h2>{html.escape(title)}</h2><p class=\"subtitle\">{html.escape(subtitle)}</p>{body}</section>"
    )


def _chart_section(
    key: str, title: str, subtitle: str, build: Callable[[], go.Figure | None], missing: str, *, wide: bool = False
) -> str:
    fig = build()
    body = figure_html(fig, CHART_IDS[key]) if fig is not None else _no_data(missing)
    return _section(key, title, subtitle, body, wide=wide)


def forecast_subtitle(forecast: pd.DataFrame, backtest: pd.DataFrame) -> str:
    """What the fan shows and the forecast's backtest error beside the last-value baseline's, so the
    forecast is never shown without its error."""
    if forecast.empty:
        return ""
    as_of = charts.month_label(forecast["as_of_month"].iloc[0])
    text = f"From {as_of}: base case (dashed) with its prediction interval from backtest errors; scenarios dotted."
    mrr = backtest[backtest["metric"] == "mrr"].pivot_table(index="horizon", columns="method", values="mape")
    for horizon in (6, 12):
        if horizon in mrr.index and "forecast" in mrr.columns and pd.notna(mrr.at[horizon, "forecast"]):
            baseline = mrr.at[horizon, "last_value"] if "last_value" in mrr.columns else math.nan
            text += (f" Backtest MAPE at {horizon} months: {mrr.at[horizon, 'forecast']:.1%}"
                     + (f" (last value: {baseline:.1%})." if pd.notna(baseline) else "."))
    return text


def _forecast_section(tables: DashboardData, headline: pd.DataFrame) -> str:
    return _chart_section(
        "forecast", "MRR forecast", forecast_subtitle(tables.kpi_forecast, tables.forecast_backtest),
        lambda: charts.forecast_figure(headline, tables.kpi_forecast, tables.currency),
        "no forecast in kpi_forecast (materialise the kpi_forecast asset).", wide=True,
    )


def render_dashboard(tables: DashboardData, *, title: str = "SaaS metrics", generated_at: dt.datetime | None = None) -> str:
    """The dashboard page as an HTML string (see :func:`build_dashboard`)."""
    currency = tables.currency
    headline = headline_wide(tables.kpi_monthly)
    provisional = provisional_cells(tables.kpi_monthly)
    month = latest_month(headline)
    if month is None:
        kpi_missing = "kpi_monthly has no headline rows (segment 'all')."
        sections = [
            _section(key, heading, "", _no_data(kpi_missing))
            for key, heading in (("mrr_bridge", "MRR bridge"), ("mrr_trend", "MRR and ARR"),
                                 ("churn_retention", "Churn and retention"), ("unit_economics", "CAC and LTV"),
                                 ("funnel", "Funnel"), ("attribution", "Attribution"))
        ]
        month_text = "no data yet"
    else:
        label = charts.month_label(month)
        window = f"{charts.month_label(month - pd.DateOffset(months=TRAILING_MONTHS - 1))} – {label}"
        sections = [
            _chart_section("mrr_bridge", f"MRR bridge, {label}",
                           "Start MRR, movements of the month and end MRR (fx = currency effect).",
                           lambda: charts.mrr_bridge_figure(headline, month, currency),
                           f"no MRR or MRR movements for {label}."),
            _chart_section("mrr_trend", "MRR and ARR", "Month-end MRR (left) and ARR = 12 × MRR (right).",
                           lambda: charts.mrr_trend_figure(headline, currency, provisional), "no MRR in kpi_monthly."),
            _chart_section("churn_retention", "Churn and retention",
                           "Monthly customer and gross MRR churn (left); NRR and GRR (right).",
                           lambda: charts.churn_retention_figure(headline, provisional),
                           "no churn or retention rates in kpi_monthly."),
            _chart_section("unit_economics", "CAC, LTV and LTV:CAC",
                           "Blended CAC and LTV (left); LTV:CAC against the usual 3× target (right).",
                           lambda: charts.unit_economics_figure(headline, currency, provisional),
                           "no CAC or LTV in kpi_monthly."),
            _chart_section("funnel", "Funnel", f"Visitors to new customers, {window} (sum of {TRAILING_MONTHS} months).",
                           lambda: charts.funnel_figure(headline, month, TRAILING_MONTHS),
                           f"no funnel counts for {window}."),
            _chart_section("attribution", "New MRR by channel and attribution model",
                           f"New MRR credited to each channel, {window}; one bar per model.",
                           lambda: charts.attribution_figure(tables.attribution_credits, month, currency, TRAILING_MONTHS),
                           f"no attribution credits for {window}."),
        ]
        month_text = label + (" (provisional)" if month in provisional_months(tables.kpi_monthly) else "")
    sections.append(_forecast_section(tables, headline))
    sections += _guide_sections(tables, headline, month, currency)
    sections.append(_chart_section(
        "cohort_retention", "Cohort retention", "Share of each cohort's customers still paying, by months since first payment.",
        lambda: charts.cohort_heatmap_figure(tables.cohort_retention), "cohort_retention is empty.", wide=True,
    ))
    table = at_risk_table_html(tables.at_risk_accounts, currency)
    sections.append(_section(
        "at_risk", "Accounts at risk", "Latest month: usage drop or low health; ids only, largest MRR first.",
        table if table is not None else _no_data("no at-risk accounts in at_risk_accounts."), wide=True,
    ))
    generated = (generated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)).strftime("%Y-%m-%d %H:%M UTC")
    return _PAGE.format(
        title=html.escape(title),
        plotly_js=get_plotlyjs(),
        css=_CSS,
        meta=html.escape(f"Latest month: {month_text} · amounts in {currency} · generated {generated}"),
        cards=kpi_cards_html(headline, month, currency, provisional),
        sections="\n".join(sections),
        provisional_note=html.escape(PROVISIONAL_TITLE),
    )


def _guide_sections(tables: DashboardData, headline: pd.DataFrame, month: pd.Timestamp | None, currency: str) -> list[str]:
    """Churned MRR by reason and cash with runway (docs/guide-metrics.md)."""
    if month is None:
        return [_section(key, heading, "", _no_data("kpi_monthly has no headline rows (segment 'all')."))
                for key, heading in (("churn_reasons", "Churned MRR by reason"), ("cash_runway", "Cash and runway"))]
    return [
        _chart_section("churn_reasons", "Churned MRR by reason",
                       f"Churned MRR of each month by the reason recorded for it, {guide_charts.REASON_MONTHS} months; "
                       "grey = no reason recorded.",
                       lambda: guide_charts.churn_reasons_figure(tables.kpi_monthly, month, currency),
                       "no churned MRR by reason in kpi_monthly (segment churn_reason)."),
        _chart_section("cash_runway", "Cash and runway",
                       "Month-end cash balance and net burn (left); runway in months at the last 3 months' burn (right).",
                       lambda: guide_charts.cash_runway_figure(headline, currency),
                       "no cash balance in kpi_monthly (finance/cash_balances.csv)."),
    ]


def build_dashboard(tables: DashboardData, out_path: Path, *, title: str = "SaaS metrics") -> Path:
    """Write the dashboard to ``out_path`` (parent folders created) and return the path.

    One self-contained static HTML file: plotly.js inlined once, no network needed.
    """
    if not isinstance(tables, DashboardData):
        raise TypeError(f"build_dashboard expects DashboardData, got {type(tables).__name__}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    page = render_dashboard(tables, title=title)
    return write_text_atomically(out_path, page)  # a reader never sees a half-written page


_CSS = """
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f1f5f9; --card:#ffffff;
        --good:#15803d; --bad:#b91c1c; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:14px/1.45 Inter, "Segoe UI", system-ui, -apple-system, sans-serif; }
header { background:linear-gradient(120deg,#0f172a,#1e3a8a); color:#fff; padding:22px 32px 64px; }
header h1 { margin:0; font-size:24px; font-weight:650; letter-spacing:-0.01em; }
header .meta { margin-top:4px; color:#cbd5e1; font-size:13px; }
main { max-width:1440px; margin:-48px auto 40px; padding:0 24px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(140px,1fr)); gap:14px; margin-bottom:18px; }
.card { background:var(--card); border-radius:12px; padding:14px 16px; box-shadow:0 1px 3px rgba(15,23,42,.10); }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.05em; font-weight:600; }
.card .value { font-size:26px; font-weight:700; margin:4px 0 2px; font-variant-numeric:tabular-nums; }
.card .change { font-size:12px; }
.delta { font-weight:600; } .delta.good { color:var(--good); } .delta.bad { color:var(--bad); }
.delta.flat, .vs { color:var(--muted); font-weight:400; }
.card .provisional { margin-left:6px; padding:0 6px; border-radius:999px; background:#fef3c7; color:#92400e;
                     font-size:10.5px; text-transform:none; letter-spacing:0; }
.card.is-provisional .value { color:#475569; font-style:italic; }
.grid { display:grid; grid-template-columns:repeat(2,minmax(0,1fr)); gap:18px; }
.panel { background:var(--card); border-radius:12px; padding:16px 18px 10px; box-shadow:0 1px 3px rgba(15,23,42,.10); min-width:0; }
.panel.wide { grid-column:1 / -1; }
.panel h2 { margin:0; font-size:16px; font-weight:650; }
.panel .subtitle { margin:2px 0 6px; color:var(--muted); font-size:12.5px; }
.no-data { margin:12px 0 16px; padding:28px 16px; border:1px dashed #cbd5e1; border-radius:10px;
           color:var(--muted); text-align:center; background:#f8fafc; }
table.at-risk { width:100%; border-collapse:collapse; margin:4px 0 12px; font-variant-numeric:tabular-nums; }
table.at-risk caption { text-align:left; color:var(--muted); font-size:12.5px; padding-bottom:8px; }
table.at-risk th { text-align:left; font-size:11.5px; text-transform:uppercase; letter-spacing:.04em;
                   color:var(--muted); border-bottom:2px solid var(--line); padding:8px 10px; }
table.at-risk td { border-bottom:1px solid var(--line); padding:7px 10px; }
table.at-risk tbody tr:hover { background:#f8fafc; }
.num { text-align:right !important; } td.good { color:var(--good); } td.bad { color:var(--bad); } .muted { color:var(--muted); }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600; background:#e2e8f0; }
.band-critical { background:#fee2e2; color:#991b1b; } .band-at-risk { background:#fef3c7; color:#92400e; }
.band-healthy { background:#dcfce7; color:#166534; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:0 0 28px; }
@media (max-width: 1000px) { .grid { grid-template-columns:1fr; } }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
<script type="text/javascript">{plotly_js}</script>
</head>
<body>
<header><h1>{title}</h1><div class="meta">{meta}</div></header>
<main>
{cards}
<div class="grid">
{sections}
</div>
</main>
<footer>Definitions: docs/metrics.md · rates are monthly fractions · a dash means undefined (no data or a zero denominator) · provisional (open markers, hatched bars): {provisional_note}.</footer>
</body>
</html>
"""
