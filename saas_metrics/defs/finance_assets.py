"""Growth and cash-efficiency KPIs: thin wiring around saas_metrics.metrics.growth."""

from typing import Any

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.config import Settings
from saas_metrics.defs.common import (
    SINGLE_RUN,
    domain_defs,
    kinds_for,
    kpi_metadata,
    lookback,
    run_months,
)
from saas_metrics.defs.revenue_assets import kpi_table
from saas_metrics.metrics.finance import (
    LEDGER_LOOKBACK,
    REVENUE_LOOKBACK,
    SPEND_LOOKBACK,
    finance_kpis,
)
from saas_metrics.metrics.growth import GROWTH_LOOKBACK_MONTHS, growth_kpis


def build_finance_assets(settings: Settings, partitions: dg.PartitionsDefinition) -> list:
    kpi_growth_schema = kpi_table("kpi_growth", "MRR growth (month over month, compounded over 3/6/12 months), "
                                                "ARR growth year over year and ARR per customer per month.")
    common: dict[str, Any] = {"owners": ["team:finance"], "kinds": kinds_for(settings), "partitions_def": partitions,
              "backfill_policy": SINGLE_RUN, "group_name": "finance"}

    @dg.asset(metadata=kpi_metadata(kpi_growth_schema),
              ins={"kpi_revenue": dg.AssetIn(partition_mapping=lookback(GROWTH_LOOKBACK_MONTHS))}, **common)
    def kpi_growth(context: AssetExecutionContext, kpi_revenue: pd.DataFrame) -> pd.DataFrame:
        """mrr_growth_rate, cmgr_3m/6m/12m (compound monthly growth), arr_growth_rate_yoy and
        arr_per_customer. Reads kpi_revenue of M-12 .. M. See docs/metrics.md#domain-growth."""
        return growth_kpis(kpi_revenue, run_months(context))

    kpi_finance_schema = kpi_table("kpi_finance", "Cash balance, operating expenses, net burn, runway, burn multiple, "
                                                  "magic number, operating margin and rule of 40 per month.")

    @dg.asset(metadata=kpi_metadata(kpi_finance_schema),
              ins={"kpi_revenue": dg.AssetIn(partition_mapping=lookback(REVENUE_LOOKBACK)),
                   "kpi_acquisition": dg.AssetIn(partition_mapping=lookback(SPEND_LOOKBACK)),
                   "expenses": dg.AssetIn("stg_finance_expenses", partition_mapping=lookback(LEDGER_LOOKBACK)),
                   "balances": dg.AssetIn("stg_finance_cash_balances"),
                   "fx_rates": dg.AssetIn("stg_fx_rates", partition_mapping=lookback(LEDGER_LOOKBACK + 1))}, **common)
    def kpi_finance(context: AssetExecutionContext, kpi_revenue: pd.DataFrame, kpi_acquisition: pd.DataFrame,
                    expenses: pd.DataFrame, balances: pd.DataFrame, fx_rates: pd.DataFrame) -> pd.DataFrame:
        """cash_balance, operating_expenses, net_burn, runway_months, burn_multiple, magic_number,
        operating_margin and rule_of_40. Reads kpi_revenue of M-12 .. M, kpi_acquisition of M-5 .. M and the
        ledger of M-2 .. M. See docs/metrics.md#domain-finance."""
        history = pd.concat([kpi_revenue, kpi_acquisition], ignore_index=True)
        return finance_kpis(balances, expenses, fx_rates, history, run_months(context), settings.reporting_currency)

    return [kpi_growth, kpi_finance]


def defs(settings: Settings) -> dg.Definitions:
    """Growth and finance KPIs."""
    return domain_defs(build_finance_assets, settings)
