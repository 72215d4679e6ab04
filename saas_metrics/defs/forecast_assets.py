"""The forecast asset: thin wiring around saas_metrics.metrics.forecast and forecast_backtest.

``kpi_forecast`` of month T forecasts the months after T from the bridge history up to T
(``mrr_movements`` of the ``forecast.backtest_history_months`` months ending with T, read from the
warehouse), with its rolling-origin backtests as metadata. New MRR also comes from the open
pipeline and the deal funnel of ``stg_crm_deals`` and the trials in flight of ``stg_product_accounts``
(linked to customers by ``identity_links``). It writes three tables keyed by
as_of_month (replaced for the run's months in one statement each): kpi_forecast,
forecast_backtest and forecast_assumptions.
"""

from typing import Any

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.config import Settings
from saas_metrics.defs.common import (
    SINGLE_RUN,
    asset_window,
    kinds_for,
    table_metadata,
    window_months,
)
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.defs.revenue_assets import PREVIOUS_MONTH
from saas_metrics.metrics.forecast import BASE, bridge_history, tier_shares
from saas_metrics.metrics.forecast_backtest import (
    FORECAST,
    FORECAST_ASSUMPTIONS,
    FORECAST_BACKTEST,
    KPI_FORECAST,
    LAST_VALUE,
    LINEAR_TREND,
    backtest,
    backtest_summary,
    forecast_rows,
)
from saas_metrics.metrics.forecast_pipeline import FunnelData, deal_facts, new_business, trial_facts
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics.metrics.mrr import CUSTOMER_MRR
from saas_metrics.tables import TableSchema
from saas_metrics.warehouse import Warehouse

#: Horizons whose backtest MAPE is numeric metadata (the asset's Plots tab).
METADATA_HORIZONS = (1, 3, 6, 12)


def build_forecast_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list:
    policy = settings.forecast
    history = dg.TimeWindowPartitionMapping(start_offset=-(policy.backtest_history_months - 1), end_offset=0,
                                            allow_nonexistent_upstream_partitions=True)

    @dg.asset(
        group_name="forecast",
        ins={"customer_first_paid": dg.AssetIn(), "deals": dg.AssetIn("stg_crm_deals"),
             "accounts": dg.AssetIn("stg_product_accounts"), "identity_links": dg.AssetIn(),
             "fx_rates": dg.AssetIn("stg_fx_rates", partition_mapping=PREVIOUS_MONTH)},
        deps=[dg.AssetDep("mrr_movements", partition_mapping=history),
              dg.AssetDep("customer_mrr", partition_mapping=history)],
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        owners=["team:revops"],
        kinds=kinds_for(settings),
        metadata=table_metadata(KPI_FORECAST),
    )
    def kpi_forecast(context: AssetExecutionContext, customer_first_paid: pd.DataFrame, deals: pd.DataFrame,
                     accounts: pd.DataFrame, identity_links: pd.DataFrame, fx_rates: pd.DataFrame,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
        """MRR, ARR, customers, NRR and the bridge components for the next forecast.horizon_months
        (12) after the month, base case and scenarios, with prediction intervals from rolling-origin
        backtests (MAPE per horizon beside the last-value and 6-month linear-trend baselines).
        Method and limits: docs/forecast.md."""
        months = [pd.Timestamp(m) for m in window_months(asset_window(context))]
        wh = warehouse.warehouse
        start = (months[0] - pd.DateOffset(months=policy.backtest_history_months - 1)).date()
        window = (start, asset_window(context)[1])
        movements = wh.read(MRR_MOVEMENTS, window, cache_scope=context.run.run_id)
        # plan tiers only for the price-change shares: the estimation window is enough
        tiers_start = (months[0] - pd.DateOffset(months=policy.estimation_window_months - 1)).date()
        snapshots = wh.read(CUSTOMER_MRR, (max(start, tiers_start), window[1]),
                            columns=["month", "customer_id", "mrr", "plan_tier"], cache_scope=context.run.run_id)
        first_paid = customer_first_paid.set_index("customer_id")["first_paid_month"]
        bridge = bridge_history(movements, first_paid, policy.age_bands[-1] if policy.by_cohort_age else 0)
        # deals in constant currency at the rate of the run's last month's end, like the bridge at T
        funnel = FunnelData(
            new=new_business(movements), trials=trial_facts(accounts, identity_links, customer_first_paid),
            deals=deal_facts(deals, identity_links, fx_rates, months[-1] + pd.offsets.MonthEnd(0), settings.reporting_currency))
        errors = backtest(bridge, policy, funnel)
        forecasts, summaries, assumptions = [], [], []
        for month in months:
            if not (bridge["month"] == month).any():
                context.log.warning(f"no mrr_movements for {month:%Y-%m}: no forecast from it")
                continue
            summary = backtest_summary(errors, month, policy)
            shares = tier_shares(snapshots, movements, month, policy.estimation_window_months)
            rows, assumed = forecast_rows(bridge, month, policy, summary, funnel, **shares)
            forecasts.append(rows)
            summaries.append(summary)
            assumptions.append(assumed)
        written = _store(wh, months, [(KPI_FORECAST, forecasts), (FORECAST_BACKTEST, summaries),
                                      (FORECAST_ASSUMPTIONS, assumptions)])
        last = summaries[-1] if summaries else FORECAST_BACKTEST.empty_frame()
        return dg.MaterializeResult(metadata={
            "dagster/row_count": written[KPI_FORECAST.name],
            "rows_written": dg.MetadataValue.json(written),
            **forecast_metadata(forecasts[-1] if forecasts else KPI_FORECAST.empty_frame(), last),
            **assumptions_metadata(assumptions[-1] if assumptions else FORECAST_ASSUMPTIONS.empty_frame()),
        })

    return [kpi_forecast]


def _store(wh: Warehouse, months: list[pd.Timestamp],
           frames_of: list[tuple[TableSchema, list[pd.DataFrame]]]) -> dict[str, int]:
    """Replace each table's rows of the run's as-of months with its frames; rows written per table."""
    as_of = [m.date() for m in months]
    written = {}
    for schema, frames in frames_of:
        frame = pd.concat(frames, ignore_index=True) if frames else schema.empty_frame()
        written[schema.name] = wh.replace(schema, frame, where={"as_of_month": as_of})
    return written


def forecast_metadata(forecast: pd.DataFrame, summary: pd.DataFrame) -> dict[str, Any]:
    """The last as-of month's backtest MAPE of MRR per method at a few horizons (numeric, stable
    keys), a markdown table of every horizon, and the base-case MRR at the end of the horizon."""
    meta: dict[str, Any] = {}
    mrr = summary[summary["metric"] == "mrr"].pivot_table(index="horizon", columns="method", values="mape")
    for method in (FORECAST, LAST_VALUE, LINEAR_TREND):
        for h in METADATA_HORIZONS:
            if method in mrr.columns and h in mrr.index and pd.notna(mrr.at[h, method]):
                meta[f"mape_mrr_{method}_h{h}"] = float(mrr.at[h, method])
    if len(mrr):
        lines = ["| horizon | forecast | last value | linear trend |", "|---:|---:|---:|---:|"]
        for h, row in mrr.iterrows():
            cells = [f"{row[m]:.1%}" if m in row and pd.notna(row[m]) else "–" for m in (FORECAST, LAST_VALUE, LINEAR_TREND)]
            lines.append(f"| {h} | " + " | ".join(cells) + " |")
        meta["backtest_mape_mrr"] = dg.MetadataValue.md("\n".join(lines))
    base = forecast[(forecast["scenario"] == BASE) & (forecast["metric"] == "mrr")].sort_values("month")
    if len(base):
        meta["forecast_mrr_last_month"] = float(base["value"].iloc[-1])
    return meta


#: Funnel assumptions that are also numeric metadata (plotted over partitions).
FUNNEL_METADATA = ("funnel_weight", "open_pipeline_acv", "mrr_per_acv", "typical_won_acv", "asp")


def assumptions_metadata(assumptions: pd.DataFrame) -> dict[str, Any]:
    """The last as-of month's assumptions as a markdown table (scenario, assumption, band, value, window;
    pipeline and trial conversions of 0 left out: forecast_assumptions has them all) and the new-business ones as
    numbers (open_pipeline_acv summed over deal ages)."""
    if assumptions.empty:
        return {}
    base = assumptions[assumptions["scenario"] == BASE]
    meta: dict[str, object] = {}
    for name in FUNNEL_METADATA:
        values = base.loc[base["assumption"] == name, "value"]
        if len(values):
            meta[f"assumption_{name}"] = float(values.sum())
    shown = assumptions[~(assumptions["assumption"].isin(["pipeline_conversion", "trial_conversion"])
                          & (assumptions["value"] == 0))]
    lines = ["| scenario | assumption | band | value | window |", "|---|---|---|---:|---|"]
    for row in shown.itertuples(index=False):
        value = "–" if pd.isna(row.value) else f"{row.value:,.4g}"
        lines.append(f"| {row.scenario} | {row.assumption} | {row.band} | {value} | "
                     f"{pd.Timestamp(row.window_start):%Y-%m} .. {pd.Timestamp(row.window_end):%Y-%m} |")
    return {**meta, "assumptions": dg.MetadataValue.md("\n".join(lines))}
