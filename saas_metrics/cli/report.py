"""``saas-metrics report``: the headline KPIs of a month range, as an aligned
table (percentages and currency formatted, rules that would alert highlighted,
provisional values marked), CSV or JSON."""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
from rich.console import Console, JustifyMethod
from rich.table import Table

from saas_metrics.alerts.evaluate import evaluate_kpi_rules
from saas_metrics.alerts.rules import KpiChangeRule, KpiThresholdRule, load_rules
from saas_metrics.calendar import add_months
from saas_metrics.cli.errors import CliError
from saas_metrics.config import Settings
from saas_metrics.metrics.forecast import new_business_summary
from saas_metrics.metrics.forecast_backtest import FORECAST_ASSUMPTIONS
from saas_metrics.metrics.kpi import KPI_MONTHLY, MULTIPLES
from saas_metrics.metrics.requirements import metrics_fed_by
from saas_metrics.quality.accounting import SOURCE_ROW_ACCOUNTING
from saas_metrics.quality.gaps import SOURCE_GAPS
from saas_metrics.redaction import redact
from saas_metrics.reports.data import latest_forecast
from saas_metrics.reports.write import write_dashboard
from saas_metrics.tables import TableSchema
from saas_metrics.warehouse import Warehouse

#: The console report: one table per section, months as rows (fits a normal terminal).
SECTIONS: dict[str, list[str]] = {
    "Revenue": ["mrr", "arr", "customers", "arpa", "new_mrr", "expansion_mrr", "contraction_mrr",
                "churned_mrr", "reactivation_mrr", "fx_impact_mrr", "net_new_mrr"],
    "Retention and unit economics": ["new_customers", "churned_customers", "customer_churn_rate",
                                     "gross_mrr_churn_rate", "nrr", "grr", "ltv", "cac", "ltv_to_cac",
                                     "cac_payback_months"],
    "Funnel and engagement": ["unique_visitors", "leads", "mqls", "sqls", "trial_to_paid_rate",
                              "lead_to_customer_rate_period", "active_users", "mrr_share_critical", "nps"],
}
#: The guides' growth, cash, acquisition-cost, pipeline and health signals (docs/guide-metrics.md).
SECTIONS.update({
    "Growth and cash": ["mrr_growth_rate", "cmgr_3m", "cmgr_12m", "arr_per_customer", "cash_balance", "net_burn",
                        "runway_months", "burn_multiple", "magic_number", "rule_of_40"],
    "Acquisition cost and pipeline": ["cac_fully_loaded", "cac_fully_loaded_payback_months", "ltv_to_cac_fully_loaded",
                                      "mql_to_sql_rate", "sql_to_customer_rate", "pql_to_paid_rate", "pipeline_value",
                                      "weighted_pipeline_value"],
    "Customer signals": ["customer_lifetime_months", "clv_annual_spend", "accounts_below_usage_floor",
                         "accounts_with_risky_ticket_topics", "first_response_hours_mean", "resolution_hours_mean"],
})
HEADLINE = [metric for metrics in SECTIONS.values() for metric in metrics]

#: Short column headers for the console tables.
SHORT = {
    "customers": "cust", "new_mrr": "new", "expansion_mrr": "expansion", "contraction_mrr": "contraction",
    "churned_mrr": "churned", "reactivation_mrr": "reactivation", "fx_impact_mrr": "fx", "net_new_mrr": "net new",
    "new_customers": "new cust", "churned_customers": "churned cust", "customer_churn_rate": "logo churn",
    "gross_mrr_churn_rate": "MRR churn", "cac_payback_months": "payback mo", "ltv_to_cac": "LTV:CAC",
    "unique_visitors": "visitors", "trial_to_paid_rate": "trial->paid", "lead_to_customer_rate_period": "lead->cust",
    "active_users": "MAU", "mrr_share_critical": "MRR critical",
}
SHORT.update({
    "mrr_growth_rate": "MRR growth", "cmgr_3m": "CMGR 3m", "cmgr_12m": "CMGR 12m", "arr_per_customer": "ARR/cust",
    "cash_balance": "cash", "net_burn": "net burn", "runway_months": "runway mo", "burn_multiple": "burn mult",
    "magic_number": "magic no", "rule_of_40": "rule of 40", "cac_fully_loaded": "CAC loaded",
    "cac_fully_loaded_payback_months": "payback loaded", "ltv_to_cac_fully_loaded": "LTV:CAC loaded",
    "mql_to_sql_rate": "MQL->SQL", "sql_to_customer_rate": "SQL->cust", "pql_to_paid_rate": "PQL->paid",
    "pipeline_value": "pipeline", "weighted_pipeline_value": "weighted pipe", "customer_lifetime_months": "lifetime mo",
    "clv_annual_spend": "CLV", "accounts_below_usage_floor": "below floor", "accounts_with_risky_ticket_topics": "risky topics",
    "first_response_hours_mean": "1st resp h avg", "resolution_hours_mean": "resolve h avg",
})


#: Marks a provisional value in the console table.
PROVISIONAL_MARK = "*"


def load_headline(settings: Settings, start: dt.date | None, end: dt.date | None) -> pd.DataFrame:
    """Headline (segment 'all') KPIs of [start, end] from the warehouse, wide: one row per metric.

    ``wide.attrs["provisional"]`` holds the (metric, month) cells whose row is
    provisional (the month, or the metric's conversion window, has not closed)."""
    wh = Warehouse(settings.warehouse_url)
    if not wh.has_table(KPI_MONTHLY.name):
        raise CliError(f"no kpi_monthly table in {redact(settings.warehouse_url)}", "run `saas-metrics run` (or make run) first")
    kpi = wh.read(KPI_MONTHLY)
    kpi = kpi[(kpi["segment"] == "all") & (kpi["segment_value"] == "all")]
    if kpi.empty:
        return pd.DataFrame()
    last = kpi["month"].max().date()
    end = end or last
    start = start or add_months(end, -11)
    kpi = kpi[(kpi["month"] >= pd.Timestamp(start)) & (kpi["month"] <= pd.Timestamp(end))]
    wide = kpi.pivot_table(index="metric", columns="month", values="value", aggfunc="first", dropna=False)
    units = kpi.drop_duplicates("metric").set_index("metric")["unit"]
    order = [m for m in HEADLINE if m in wide.index]
    wide = wide.loc[order]
    wide.insert(0, "unit", units.reindex(order).to_numpy())
    flagged = kpi[kpi["is_provisional"].fillna(False).astype(bool)]
    wide.attrs["provisional"] = {(row.metric, pd.Timestamp(row.month)) for row in flagged.itertuples(index=False)}
    return wide


def format_value(value: float, unit: str, metric: str = "") -> str:
    """Human formatting: ratios as percent (multiples like LTV:CAC as 3.2x), currency and
    counts with thousands separators, NULL as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if metric in MULTIPLES:
        return f"{value:,.2f}x"
    if unit == "ratio":
        return f"{value * 100:,.1f} %"
    if unit in ("currency", "count"):
        return f"{value:,.0f}"
    if unit == "score":
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def print_report(settings: Settings, start: dt.date | None, end: dt.date | None, fmt: str, console: Console, *, html: bool = False) -> None:
    wide = load_headline(settings, start, end)
    if wide.empty:
        console.print("kpi_monthly has no rows for that range")
        return
    months = [c for c in wide.columns if c != "unit"]
    provisional: set[tuple[str, pd.Timestamp]] = wide.attrs.get("provisional", set())
    if fmt == "csv":
        out = wide.copy()
        out.columns = ["unit", *[m.strftime("%Y-%m") for m in months]]
        console.print(out.to_csv(), end="", markup=False, highlight=False, soft_wrap=True)
        return
    if fmt == "json":
        records = [
            {"month": m.strftime("%Y-%m"), "metric": metric, "unit": row["unit"],
             "value": None if pd.isna(row[m]) else float(row[m]), "is_provisional": (metric, m) in provisional}
            for metric, row in wide.iterrows() for m in months
        ]
        console.print(json.dumps(records, indent=1), markup=False, highlight=False, soft_wrap=True)
        return
    alerts = _alerting_cells(settings, wide, months)
    console.print(f"[bold]Headline KPIs {months[0]:%Y-%m} .. {months[-1]:%Y-%m}[/bold] "
                  f"(amounts in {settings.reporting_currency}; rates in %)")
    for title, metrics in SECTIONS.items():
        present = [m for m in metrics if m in wide.index]
        if not present:
            continue
        table = Table(title=title, title_justify="left", header_style="bold", row_styles=["", "dim"])
        table.add_column("month", no_wrap=True)
        for metric in present:
            table.add_column(SHORT.get(metric, metric), justify="right", no_wrap=True)
        for month in months:
            cells = []
            for metric in present:
                text = format_value(wide.at[metric, month], wide.at[metric, "unit"], metric)
                if (metric, month) in provisional:
                    text = f"[italic]{text}{PROVISIONAL_MARK}[/italic]"
                cells.append(f"[bold red]{text}[/bold red]" if (metric, month) in alerts else text)
            table.add_row(month.strftime("%Y-%m"), *cells)
        console.print(table)
    _print_churn_reasons(settings, months, console)
    if alerts:
        console.print("[bold red]red[/bold red]: the value breaks an alert rule (see docs/alerts.md)")
    if any(metric in wide.index and month in months for metric, month in provisional):
        console.print(f"{PROVISIONAL_MARK} provisional: the month, or the metric's conversion window "
                      "(e.g. trial -> paid), has not closed yet; the value will change")
    print_forecast(settings, add_months(months[-1].date(), 1), console)
    print_row_accounting(settings, console)
    if html:
        path = write_dashboard(settings)
        console.print(f"dashboard: {path}")


def _alerting_cells(settings: Settings, wide: pd.DataFrame, months: list[pd.Timestamp]) -> set[tuple[str, pd.Timestamp]]:
    """(metric, month) cells that a kpi alert rule (threshold or month-over-month) would flag."""
    rules = [r for r in load_rules(settings.alert_rules_file).rules if isinstance(r, KpiThresholdRule | KpiChangeRule)]
    long = wide.drop(columns="unit").reset_index().melt(id_vars="metric", var_name="month", value_name="value")
    provisional = wide.attrs.get("provisional", set())
    flags = [(metric, pd.Timestamp(month)) in provisional for metric, month in zip(long["metric"], long["month"], strict=True)]
    # Provisional cells alert only under rules that include them, as in the sensor.
    long = long.assign(segment="all", segment_value="all", unit=long["metric"].map(wide["unit"]), is_provisional=flags)
    alerts = evaluate_kpi_rules(long, rules, months)
    return {(row.subject, pd.Timestamp(row.month)) for row in alerts.itertuples(index=False)}


#: Forecast columns of the console report: (metric, header).
FORECAST_COLUMNS = (("mrr", "MRR"), ("arr", "ARR"), ("customers", "cust"), ("nrr", "nrr"))


def print_forecast(settings: Settings, before: dt.date, console: Console) -> None:
    """The latest forecast made before ``before``: base case with its interval, the scenarios' MRR,
    and the backtest MAPE of MRR beside the naive baselines (the forecast is never shown without it)."""
    forecast, backtest = latest_forecast(Warehouse(settings.warehouse_url), before)
    if forecast.empty:
        return
    as_of = forecast["as_of_month"].iloc[0]
    base = forecast[forecast["scenario"] == "base"]
    scenarios = sorted(set(forecast["scenario"]) - {"base"})
    table = Table(title=f"Forecast from {as_of:%Y-%m} (base case; interval from backtest errors)", title_justify="left",
                  header_style="bold", row_styles=["", "dim"])
    table.add_column("month", no_wrap=True)
    for _, header in FORECAST_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("MRR interval", justify="right", no_wrap=True)
    for name in scenarios:
        table.add_column(f"MRR {name}", justify="right", no_wrap=True)
    for month in sorted(base["month"].unique()):
        here = forecast[forecast["month"] == month]
        value = here[here["scenario"] == "base"].set_index("metric")
        unit = {"nrr": "ratio"}
        cells = [format_value(float(value.at[m, "value"]), unit.get(m, "currency"), m) if m in value.index else "–"
                 for m, _ in FORECAST_COLUMNS]
        low, high = (value.at["mrr", b] if "mrr" in value.index else math.nan for b in ("lower", "upper"))
        cells.append("–" if pd.isna(low) else f"{format_value(low, 'currency')} – {format_value(high, 'currency')}")
        for name in scenarios:
            mrr = here[(here["scenario"] == name) & (here["metric"] == "mrr")]["value"]
            cells.append(format_value(float(mrr.iloc[0]), "currency") if len(mrr) else "–")
        table.add_row(f"{pd.Timestamp(month):%Y-%m}", *cells)
    console.print(table)
    mape = backtest[backtest["metric"] == "mrr"].pivot_table(index="horizon", columns="method", values="mape")
    parts = []
    for horizon in (1, 6, 12):
        if horizon in mape.index:
            row = mape.loc[horizon]
            parts.append(f"{horizon} mo: " + ", ".join(
                f"{method.replace('_', ' ')} {row[method]:.1%}" for method in ("forecast", "last_value", "linear_trend")
                if method in row and pd.notna(row[method])))
    if parts:
        console.print("Backtest MAPE of MRR (rolling origins): " + "; ".join(parts) + " (method: docs/forecast.md)")
    wh = Warehouse(settings.warehouse_url)
    assumptions = wh.read(FORECAST_ASSUMPTIONS) if wh.has_table(FORECAST_ASSUMPTIONS.name) else FORECAST_ASSUMPTIONS.empty_frame()
    summary = new_business_summary(assumptions[pd.to_datetime(assumptions["as_of_month"]) == as_of])
    if summary:
        console.print(summary)


def _run_rows(wh: Warehouse, schema: TableSchema, run_id: str | None) -> pd.DataFrame:
    """Rows of ``schema`` written by ``run_id`` (default: the run that wrote the latest accounting)."""
    if not wh.has_table(schema.name):
        return schema.empty_frame()
    frame = wh.read(schema)
    if run_id is None:
        accounts = wh.read(SOURCE_ROW_ACCOUNTING) if wh.has_table(SOURCE_ROW_ACCOUNTING.name) else pd.DataFrame()
        if accounts.empty:
            return schema.empty_frame()
        run_id = str(accounts.sort_values("recorded_at")["run_id"].iloc[-1])
    return frame[frame["run_id"] == run_id]


def run_notes(settings: Settings, run_id: str) -> list[str]:
    """What a run set aside or found missing, one line each: source files gone since an earlier run
    (their metrics are NULL, not 0), rows dated 10+ years before start_month (likely typos) and any
    table whose row accounting does not balance."""
    wh = Warehouse(settings.warehouse_url)
    notes = []
    gaps = _run_rows(wh, SOURCE_GAPS, run_id)
    if not gaps.empty:
        parts = []
        for (file, reason, table), rows in gaps.groupby(["source_file", "reason", "table_name"]):
            metrics = ", ".join(metrics_fed_by(table)) or "no headline metric"
            parts.append(f"{file} {reason} ({table}: {metrics} NULL for {rows['month'].min():%Y-%m}..{rows['month'].max():%Y-%m})")
        notes.append("missing sources, read as NULL not 0: " + "; ".join(parts))
    accounts = _run_rows(wh, SOURCE_ROW_ACCOUNTING, run_id)
    typos = {t: json.loads(r).get("far_before_start_month", 0) for t, r in zip(accounts["table_name"], accounts["excluded_by_rule"], strict=True)}
    typos = {t: n for t, n in typos.items() if n}
    if typos:
        notes.append("rows dated 10+ years before start_month (likely typos), excluded: "
                     + ", ".join(f"{t} {n}" for t, n in sorted(typos.items())))
    unbalanced = sorted(accounts.loc[~accounts["balanced"].astype(bool), "table_name"])
    if unbalanced:
        notes.append(f"row accounting does not balance (read != loaded + quarantined + excluded): {', '.join(unbalanced)}")
    return notes


def print_row_accounting(settings: Settings, console: Console, run_id: str | None = None) -> None:
    """The section of ``saas-metrics report``: per table, the rows the (latest) run quarantined or excluded."""
    accounts = _run_rows(Warehouse(settings.warehouse_url), SOURCE_ROW_ACCOUNTING, run_id)
    accounts = accounts[(accounts["rows_quarantined"] > 0) | (accounts["rows_excluded"] > 0)].sort_values("table_name")
    if accounts.empty:
        return
    table = Table(title=f"Rows set aside by run {accounts['run_id'].iloc[0][:8]} (source_row_accounting)",
                  title_justify="left", header_style="bold")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("table", "left"), ("read", "right"), ("loaded", "right"), ("quarantined", "right"),
        ("excluded", "right"), ("excluded by rule", "left"))
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=name != "excluded by rule")
    for row in accounts.itertuples():
        rules = ", ".join(f"{rule} {n}" for rule, n in json.loads(row.excluded_by_rule).items())
        table.add_row(row.table_name, f"{row.rows_read:,}", f"{row.rows_loaded:,}", f"{row.rows_quarantined:,}",
                      f"{row.rows_excluded:,}", rules)
    console.print(table)
    console.print("quarantined rows and their reasons: SELECT * FROM quarantined_rows WHERE run_id = '<run id>' (docs/quality.md)")


def churned_mrr_by_reason(settings: Settings, months: list[pd.Timestamp]) -> pd.DataFrame:
    """Churned MRR per month (rows) and churn reason (columns, largest total first) from kpi_monthly."""
    kpi = Warehouse(settings.warehouse_url).read(KPI_MONTHLY)
    rows = kpi[(kpi["segment"] == "churn_reason") & (kpi["metric"] == "churned_mrr") & kpi["month"].isin(months)]
    if rows.empty:
        return pd.DataFrame()
    wide = rows.pivot_table(index="month", columns="segment_value", values="value", aggfunc="first")
    return wide[wide.sum().sort_values(ascending=False).index]


def _print_churn_reasons(settings: Settings, months: list[pd.Timestamp], console: Console) -> None:
    wide = churned_mrr_by_reason(settings, months)
    if wide.empty:
        return
    table = Table(title="Churned MRR by reason", title_justify="left", header_style="bold", row_styles=["", "dim"])
    table.add_column("month", no_wrap=True)
    for reason in wide.columns:
        table.add_column(str(reason), justify="right", no_wrap=True)
    for month, row in wide.iterrows():
        table.add_row(month.strftime("%Y-%m"), *[format_value(v, "currency") for v in row])
    console.print(table)
