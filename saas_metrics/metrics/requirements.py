"""Which source tables each metric needs, so that a missing source system gives NULL
metrics, not zeros.

A metric whose required table has no row at all (its source system is not
connected, or the file is absent) is undefined: 0 leads because there is no CRM,
or 0 cash collected because payments were never exported, would be wrong numbers.
A connected source with no rows in one month still gives 0 for that month,
because the table is non-empty overall.

Revenue comes from either of two billing tables (Stripe-like item histories or a
periods-style import), so it is one requirement with alternatives (:data:`ANY_OF`):
with neither, MRR, churn, LTV and every rate "to paid" are NULL, not 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

_CRM = ("crm_contacts",)
_WEB = ("web_sessions",)
_PRODUCT = ("product_accounts",)
_USAGE = ("product_usage",)
_TICKETS = ("support_tickets",)
#: A requirement met by any one of several tables.
BILLING_REVENUE = "billing_revenue"
ANY_OF: dict[str, tuple[str, ...]] = {BILLING_REVENUE: ("billing_subscription_items", "billing_subscription_periods")}
_REV = (BILLING_REVENUE,)
#: Metrics computed from customer MRR (revenue, retention, LTV, paid conversions, health shares).
_REVENUE_METRICS = (
    "mrr", "arr", "arpa", "customers", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
    "fx_impact_mrr", "net_new_mrr", "new_customers", "churned_customers", "reactivated_customers", "expansion_share",
    "asp", "quick_ratio", "cmrr", "carr", "acv", "customer_churn_rate", "customer_churn_rate_stripe",
    "customer_retention_rate", "gross_mrr_churn_rate", "net_mrr_churn_rate", "grr", "nrr",
    "annualised_customer_churn_rate", "annualised_gross_mrr_churn_rate", "ltv", "clv_simple", "clv_annual_spend",
    "referred_new_customers", "viral_coefficient",
)

#: metric -> canonical tables that must hold at least one row for it to be defined.
METRIC_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "cash_collected": ("billing_payments",),
    "leads": _CRM, "mqls": _CRM, "sqls": _CRM, "lead_velocity_rate": _CRM,
    "lead_to_customer_rate": _CRM, "lead_to_customer_rate_period": _CRM,
    "unique_visitors": _WEB, "visit_to_lead_rate": _WEB + _CRM,
    "pqls": _PRODUCT + _USAGE, "signups": _PRODUCT,
    "trials_requested": ("crm_form_submissions",), "trials_abandoned": ("crm_form_submissions", *_PRODUCT),
    "trials_started": _PRODUCT, "trials_converted": _PRODUCT, "trial_to_paid_rate": _PRODUCT,
    "median_days_to_paid": _PRODUCT,
    "demos_attended": ("crm_meetings",), "demos_converted": ("crm_meetings",), "demo_to_paid_rate": ("crm_meetings",),
    "median_days_demo_request_to_customer": ("crm_meetings",),
    "paid_new_customers": _CRM, "paid_cac": ("ad_spend", *_CRM), "attributed_customers": ("crm_touchpoints",),
    "attributed_new_mrr": ("crm_touchpoints",),
    "ad_spend": ("ad_spend",), "roas": ("ad_spend", "crm_touchpoints"), "traffic_roi": ("ad_spend", "crm_touchpoints"),
    "sm_expenses": ("finance_expenses",),
    # S&M spend is ad spend AND the S&M ledger: with either missing it would be understated.
    "sm_spend": ("ad_spend", "finance_expenses"), "cac": ("ad_spend", "finance_expenses"),
    "cac_payback_months": ("ad_spend", "finance_expenses"), "ltv_to_cac": ("ad_spend", "finance_expenses"),
    "ad_impressions": ("ad_spend",), "ad_clicks": ("ad_spend",), "platform_conversions": ("ad_spend",),
    "cost_per_platform_conversion": ("ad_spend",),
    "active_users": _USAGE, "stickiness": _USAGE, "usage_total": _USAGE, "usage_per_account": _USAGE,
    "mrr_share_healthy": _USAGE, "mrr_share_at_risk": _USAGE, "mrr_share_critical": _USAGE,
    "average_health_score": _USAGE, "accounts_critical": _USAGE,
    "tickets_created": _TICKETS, "tickets_per_account": _TICKETS, "open_backlog": _TICKETS,
    "first_response_hours_median": _TICKETS, "first_response_hours_p90": _TICKETS,
    "resolution_hours_median": _TICKETS, "resolution_hours_p90": _TICKETS,
    "nps": ("nps_responses",), "nps_responses": ("nps_responses",),
}
METRIC_REQUIREMENTS |= {
    "mql_to_sql_rate": _CRM, "sql_to_customer_rate": _CRM, "pql_to_paid_rate": _PRODUCT + _USAGE,
    "accounts_below_usage_floor": _USAGE, "accounts_with_risky_ticket_topics": _USAGE + _TICKETS,
    "first_response_hours_mean": _TICKETS, "resolution_hours_mean": _TICKETS,
    **dict.fromkeys(("sm_spend_fully_loaded", "cac_fully_loaded", "cac_fully_loaded_payback_months",
                     "ltv_to_cac_fully_loaded"), ("ad_spend", "finance_expenses")),
    "cash_balance": ("finance_cash_balances",),
    "operating_expenses": ("finance_expenses", "ad_spend"), "operating_margin": ("finance_expenses", "ad_spend"),
    "rule_of_40": ("finance_expenses", "ad_spend"), "magic_number": ("finance_expenses", "ad_spend"),
    "net_burn": ("finance_expenses", "ad_spend", "billing_payments"),
    "burn_multiple": ("finance_expenses", "ad_spend", "billing_payments"),
    "runway_months": ("finance_cash_balances", "finance_expenses", "ad_spend", "billing_payments"),
    "open_deals": ("crm_deals",), "pipeline_value": ("crm_deals",), "weighted_pipeline_value": ("crm_deals",),
}

for _metric in _REVENUE_METRICS:
    METRIC_REQUIREMENTS[_metric] = _REV
# Conversions to paid and spend per paying customer need revenue as well as their own source.
for _metric in ("lead_to_customer_rate", "lead_to_customer_rate_period", "trials_converted", "trial_to_paid_rate",
                "median_days_to_paid", "demos_converted", "demo_to_paid_rate", "median_days_demo_request_to_customer",
                "paid_new_customers", "paid_cac", "cac", "cac_payback_months", "ltv_to_cac", "attributed_customers",
                "attributed_new_mrr", "roas", "traffic_roi", "mrr_share_healthy", "mrr_share_at_risk",
                "mrr_share_critical", "tickets_per_account", "sql_to_customer_rate", "pql_to_paid_rate",
                "cac_fully_loaded", "cac_fully_loaded_payback_months", "ltv_to_cac_fully_loaded"):
    METRIC_REQUIREMENTS[_metric] = (*METRIC_REQUIREMENTS[_metric], *_REV)


def _with_alternatives(available_tables: set[str]) -> set[str]:
    return set(available_tables) | {name for name, tables in ANY_OF.items() if set(tables) & set(available_tables)}


def unavailable_metrics(available_tables: set[str]) -> set[str]:
    """Metrics whose required tables are not all available."""
    available = _with_alternatives(available_tables)
    return {metric for metric, tables in METRIC_REQUIREMENTS.items() if not set(tables) <= available}


def null_unavailable(kpi: pd.DataFrame, available_tables: set[str]) -> pd.DataFrame:
    """kpi_monthly rows with the value NULL for every metric whose source is missing."""
    missing = unavailable_metrics(available_tables)
    if not missing:
        return kpi
    out = kpi.copy()
    out.loc[out["metric"].isin(missing), "value"] = np.nan
    return out


#: Tables that feed revenue through the revenue intervals (prices, statuses, discounts) or its
#: currency conversion, besides the ones :data:`ANY_OF` names.
_REVENUE_INPUTS = ("billing_prices", "billing_subscriptions", "billing_subscription_status_history", "billing_discounts",
                   "fx_rates")


def metrics_fed_by(table: str) -> tuple[str, ...]:
    """The metrics a canonical table feeds (sorted): those that require it, directly or as one of
    the alternatives of a requirement, and the revenue metrics for the tables revenue is built from."""
    groups = {table} | {name for name, tables in ANY_OF.items() if table in tables}
    if table in _REVENUE_INPUTS:
        groups.add(BILLING_REVENUE)
    return tuple(sorted(metric for metric, tables in METRIC_REQUIREMENTS.items() if groups & set(tables)))


def null_gaps(kpi: pd.DataFrame, available_tables: set[str], gaps: Mapping[pd.Timestamp, set[str]]) -> pd.DataFrame:
    """kpi_monthly rows with NULL in month M for every metric that needs a table with a gap in M
    (``gaps``: month -> tables whose source was there before and is absent or empty now): the
    month is read as if that table had never delivered a row, never as zero."""
    out = kpi
    for month, tables in gaps.items():
        missing = unavailable_metrics(set(available_tables) - set(tables))
        mask = (kpi["month"] == pd.Timestamp(month)) & kpi["metric"].isin(missing)
        if mask.any():
            out = out.copy() if out is kpi else out
            out.loc[mask, "value"] = np.nan
    return out
