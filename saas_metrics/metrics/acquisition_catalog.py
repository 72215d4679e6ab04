"""Reference entries of every acquisition, funnel and attribution metric in kpi_monthly.

The formulas match the functions that emit them: ad_spend.ad_platform_kpis,
cac.cac_kpis, funnel.funnel_kpis, trials.trial_kpis and demos.demo_kpis
(docs/metric-definitions.md#lifetime-value-and-acquisition-cost, #funnel, #attribution).
Attribution credits themselves are a detail table (attribution.ATTRIBUTION_CREDITS).
"""

from __future__ import annotations

import pandas as pd

from saas_metrics.metrics.attribution import MODELS
from saas_metrics.metrics.kpi import (
    ALL,
    COUNT,
    CURRENCY,
    DAYS,
    MONTHS,
    RATIO,
    MetricDef,
    defined_in,
)

_MODEL_SEGMENTS = tuple(f"channel:{m}" for m in MODELS)
_CHANNEL_SEGMENTS = ("channel", *_MODEL_SEGMENTS)
_LAG = ("acquisition.cac_lag_months",)
_ATTR_POLICIES = ("acquisition.time_decay_half_life_days", "acquisition.attribution_lookback_days")
_CHANNEL_NOTE = (
    "segment 'channel': the customer's acquisition channel (primary CRM contact's original_source); "
    "segment 'channel:<model>': credits of that attribution model (first_touch, last_touch, linear, "
    "u_shaped, w_shaped, time_decay). Channel rows exist for paid channels and channels with ad spend."
)
_NEW = "new customers = mrr_movements 'new' in M (reactivations excluded)"
_GUIDE = "the HubSpot/PMG guide 'Key SaaS metrics and how to track them in HubSpot' (2020)"
_KPIS25 = "the '25 SaaS KPIs' list (2022)"
_SCOPE = ("acquisition.cac_scope", "acquisition.cac_fully_loaded_extra")
_SCOPE_NOTE = ("a ledger line matched by both scopes counts once, at the larger share; "
               "default extra scope: all of g_and_a (narrow it with category and share)")
_PIPELINE_NOTE = "a lost or won deal without closed_at cannot be placed in time and is left out"
_STAGE_NOTE = ("cohort form: N = lead_to_customer_days (90); provisional while as_of < first day of M+1 + N days; "
               "a contact that skipped the stage is not in its denominator")


ACQUISITION_METRICS: list[MetricDef] = [
    # --- spend (ad_spend.ad_platform_kpis, cac.cac_kpis) ---
    MetricDef("ad_spend", CURRENCY, "acquisition", "sum of ad spend of all platforms in M, each row converted at its date's FX rate",
       "ad_spend, fx_rates", defined_in("sm-spend"), segments=(ALL, "channel", "platform")),
    MetricDef("ad_impressions", COUNT, "acquisition", "sum of impressions in M", "ad_spend", defined_in("sm-spend"), segments=("platform",)),
    MetricDef("ad_clicks", COUNT, "acquisition", "sum of clicks in M", "ad_spend", defined_in("sm-spend"), segments=("platform",)),
    MetricDef("platform_conversions", COUNT, "acquisition", "conversions claimed by the platform in M (as reported)",
       "ad_spend", defined_in("paid-cac"), segments=("platform",),
       notes="never summed across platforms: platforms claim overlapping conversions, so there is no 'all' row"),
    MetricDef("cost_per_platform_conversion", CURRENCY, "acquisition", "ad_spend / platform_conversions per platform",
       "ad_spend", defined_in("paid-cac"), segments=("platform",)),
    MetricDef("sm_expenses", CURRENCY, "acquisition", "finance expenses of departments sales and marketing dated in M, converted at the line's date rate",
       "finance_expenses, fx_rates", defined_in("sm-spend"), policies=("acquisition.cac_scope",),
       notes="the ledger lines of acquisition.cac_scope (default: sales and marketing, every category, share 1)"),
    MetricDef("sm_spend", CURRENCY, "acquisition", "ad_spend(M) + sm_expenses(M)", "ad_spend, finance_expenses, fx_rates", defined_in("sm-spend")),
    # --- CAC (cac.cac_kpis) ---
    MetricDef("cac", CURRENCY, "acquisition",
       "all: sm_spend(M-k) / new customers(M); channel: channel ad spend(M-k) / attributed_customers(M)",
       "ad_spend, finance_expenses, mrr_movements, attribution_credits", defined_in("cac", "blended; by channel: channel CAC"),
       policies=_LAG, segments=(ALL, *_CHANNEL_SEGMENTS), notes=f"{_NEW}; k = cac_lag_months (default 0). {_CHANNEL_NOTE}"),
    MetricDef("paid_new_customers", COUNT, "acquisition", "new customers(M) whose acquisition channel is google_ads, meta_ads or linkedin_ads",
       "mrr_movements, identity links, crm_contacts", defined_in("paid-cac"), notes=_NEW),
    MetricDef("paid_cac", CURRENCY, "acquisition", "ad_spend(M-k) / paid_new_customers(M)", "ad_spend, mrr_movements, crm_contacts",
       defined_in("paid-cac"), policies=_LAG),
    MetricDef("cac_payback_months", MONTHS, "acquisition", "cac / (asp x gross_margin)", "cac, asp", defined_in("cac-payback"),
       policies=(*_LAG, "revenue.gross_margin")),
    MetricDef("ltv_to_cac", RATIO, "acquisition", "ltv / cac", "ltv, cac", defined_in("ltv-to-cac"), policies=_LAG, notes="alert below 3"),
    MetricDef("sm_spend_fully_loaded", CURRENCY, "acquisition",
       "ad_spend(M) + ledger lines of cac_scope and cac_fully_loaded_extra dated in M, each x its scope share",
       "ad_spend, finance_expenses, fx_rates", f"{_GUIDE}: advanced CAC (people, tools, overhead)", policies=_SCOPE,
       notes=_SCOPE_NOTE),
    MetricDef("cac_fully_loaded", CURRENCY, "acquisition", "sm_spend_fully_loaded(M-k) / new customers(M)",
       "ad_spend, finance_expenses, mrr_movements", f"{_GUIDE}: advanced CAC (people, tools, overhead)",
       policies=(*_LAG, *_SCOPE), notes=f"{_NEW}; ad 40,000 + S&M 60,000 + G&A 50,000 x 0.2 for 200 new customers -> 550 (cac 500)"),
    MetricDef("cac_fully_loaded_payback_months", MONTHS, "acquisition", "cac_fully_loaded / (asp x gross_margin)",
       "cac_fully_loaded, asp", f"{_GUIDE}: CAC payback on the advanced CAC", policies=(*_LAG, *_SCOPE, "revenue.gross_margin")),
    MetricDef("ltv_to_cac_fully_loaded", RATIO, "acquisition", "ltv / cac_fully_loaded", "ltv, cac_fully_loaded",
       f"{_GUIDE}: LTV:CAC on the advanced CAC", policies=(*_LAG, *_SCOPE)),
    MetricDef("attributed_customers", COUNT, "acquisition",
       "channel: new customers(M) whose acquisition channel is the channel; channel:<model>: sum of the model's customer credits",
       "mrr_movements, attribution_credits", defined_in("attribution"), policies=_ATTR_POLICIES, segments=_CHANNEL_SEGMENTS, notes=_CHANNEL_NOTE),
    MetricDef("attributed_new_mrr", CURRENCY, "acquisition",
       "channel: new MRR(M) of customers acquired through the channel; channel:<model>: sum of the model's MRR credits",
       "mrr_movements, attribution_credits", defined_in("attribution"), policies=_ATTR_POLICIES, segments=_CHANNEL_SEGMENTS, notes=_CHANNEL_NOTE),
    MetricDef("roas", RATIO, "acquisition", "12 x attributed_new_mrr(M) / channel ad spend(M-k)", "attribution_credits, ad_spend",
       defined_in("roas-and-traffic-roi"), policies=_LAG, segments=_CHANNEL_SEGMENTS, notes=_CHANNEL_NOTE),
    MetricDef("traffic_roi", RATIO, "acquisition", "(12 x attributed_new_mrr(M) - channel ad spend(M-k)) / channel ad spend(M-k)",
       "attribution_credits, ad_spend", defined_in("roas-and-traffic-roi"), policies=_LAG, segments=_CHANNEL_SEGMENTS, notes=_CHANNEL_NOTE),
    # --- funnel (funnel.funnel_kpis) ---
    MetricDef("unique_visitors", COUNT, "funnel", "distinct visitor_id with a web session started in M", "web_sessions",
       defined_in("unique-monthly-visitors"), segments=(ALL, "channel"), notes="channel = the session's channel; a visitor counts once per channel"),
    MetricDef("leads", COUNT, "funnel", "CRM contacts created in M", "crm_contacts", defined_in("leads"), segments=(ALL, "channel"),
       notes="channel = original_source, else the channel of the contact's earliest form submission, else '(unknown)'"),
    MetricDef("mqls", COUNT, "funnel", "contacts whose mql_at is in M", "crm_contacts", defined_in("mqls-and-sqls")),
    MetricDef("sqls", COUNT, "funnel", "contacts whose sql_at is in M", "crm_contacts", defined_in("mqls-and-sqls")),
    MetricDef("pqls", COUNT, "funnel", "product accounts whose cumulative count of pql_event first reached pql_event_count in M, not paying then",
       "product_usage, product_accounts, first paid dates", defined_in("pqls"), policies=("acquisition.pql_event", "acquisition.pql_event_count")),
    MetricDef("signups", COUNT, "funnel", "product accounts with signup_source self_serve created in M", "product_accounts", defined_in("signups")),
    MetricDef("lead_velocity_rate", RATIO, "funnel", "(QL(M) - QL(M-1)) / QL(M-1), QL = mqls (or sqls)", "crm_contacts",
       defined_in("lead-velocity-rate"), policies=("acquisition.qualified_lead_stage",)),
    MetricDef("lead_to_customer_rate", RATIO, "funnel",
       "leads created in M whose customer first paid within N days after creation / leads created in M",
       "crm_contacts, identity links, first paid dates", defined_in("lead-to-customer-rate", "cohort form"),
       policies=("acquisition.lead_to_customer_days",), segments=(ALL, "channel"),
       notes="provisional while as_of < first day of M+1 + N days"),
    MetricDef("lead_to_customer_rate_period", RATIO, "funnel", "new customers(M) / leads(M)", "mrr_movements, crm_contacts",
       defined_in("lead-to-customer-rate", "period form; 10 / 200 = 5 %"), notes=_NEW),
    MetricDef("visit_to_lead_rate", RATIO, "funnel", "leads / unique_visitors", "crm_contacts, web_sessions", defined_in("visit-to-lead"),
       segments=(ALL, "channel")),
    MetricDef("referred_new_customers", COUNT, "funnel", "new customers(M) whose referrer is a customer who first paid before them",
       "mrr_movements, crm_contacts (billing_customers optional), first paid dates", defined_in("viral-coefficient")),
    MetricDef("viral_coefficient", RATIO, "funnel", "referred_new_customers(M) / paying customers at the end of M-1", "mrr_movements",
       defined_in("viral-coefficient")),
    MetricDef("mql_to_sql_rate", RATIO, "funnel",
       "contacts whose mql_at is in M and whose sql_at follows within N days / contacts whose mql_at is in M",
       "crm_contacts", f"{_GUIDE}: MQL -> SQL conversion", policies=("acquisition.lead_to_customer_days",),
       notes=_STAGE_NOTE),
    MetricDef("sql_to_customer_rate", RATIO, "funnel",
       "contacts whose sql_at is in M whose customer first paid within N days after sql_at / contacts whose sql_at is in M",
       "crm_contacts, identity links, first paid dates", f"{_GUIDE}: SQL -> customer conversion",
       policies=("acquisition.lead_to_customer_days",), notes=_STAGE_NOTE),
    MetricDef("pql_to_paid_rate", RATIO, "funnel",
       "PQLs of M whose customer first paid within N days after the day they became a PQL / pqls(M)",
       "product_usage, product_accounts, identity links, first paid dates", f"{_GUIDE}: PQL -> paid conversion",
       policies=("acquisition.lead_to_customer_days", "acquisition.pql_event", "acquisition.pql_event_count"),
       notes=_STAGE_NOTE),
    # --- pipeline (pipeline.pipeline_kpis) ---
    MetricDef("open_deals", COUNT, "pipeline", "CRM deals created before first(M+1) and not closed by then", "crm_deals",
       f"{_KPIS25}: Pipeline", notes=_PIPELINE_NOTE),
    MetricDef("pipeline_value", CURRENCY, "pipeline", "sum of the amount of the open_deals at M's end, at M's last day's rate",
       "crm_deals, fx_rates", f"{_KPIS25}: Pipeline value", notes=_PIPELINE_NOTE),
    MetricDef("weighted_pipeline_value", CURRENCY, "pipeline",
       "sum over open_deals of amount x win probability of the deal's stage",
       "crm_deals, fx_rates", f"{_KPIS25}: Pipeline value (stage-weighted, HubSpot's weighted amount)",
       policies=("acquisition.deal_stage_probabilities", "acquisition.deal_stage_probability_default"),
       notes="probability: exported with the deal (hs_deal_stage_probability), else the stage's in the settings "
             "(appointmentscheduled 0.2 .. contractsent 0.9), else the default 0.5, also for a deal closed since M's end; "
             "10,000 at 0.6 + 20,000 at 0.9 -> 24,000"),
    # --- trials (trials.trial_kpis) ---
    MetricDef("trials_requested", COUNT, "funnel", "distinct contacts with a free_trial form submission in M", "crm_form_submissions",
       defined_in("trial-to-paid", "requested")),
    MetricDef("trials_started", COUNT, "funnel", "product accounts with trial_started_at in M", "product_accounts",
       defined_in("trial-to-paid", "engaged")),
    MetricDef("trials_abandoned", COUNT, "funnel", "trials requested in M whose contact's product account did not start a trial within D days of the request",
       "crm_form_submissions, product_accounts", defined_in("trial-to-paid", "abandoned"), policies=("acquisition.trial_abandon_days",),
       notes="provisional while as_of < first day of M+1 + D days"),
    MetricDef("trials_converted", COUNT, "funnel", "trials started in M whose customer first paid within N days after the start",
       "product_accounts, identity links, first paid dates", defined_in("trial-to-paid"), policies=("acquisition.trial_to_paid_days",),
       notes="provisional while as_of < first day of M+1 + N days"),
    MetricDef("trial_to_paid_rate", RATIO, "funnel", "trials_converted / trials_started", "product_accounts, first paid dates",
       defined_in("trial-to-paid"), policies=("acquisition.trial_to_paid_days",), notes="provisional while as_of < first day of M+1 + N days"),
    MetricDef("median_days_to_paid", DAYS, "funnel", "median of first_paid_at - trial_started_at over the converted trials of M",
       "product_accounts, first paid dates", defined_in("trial-to-paid", "median days to paid"), policies=("acquisition.trial_to_paid_days",)),
    # --- demos (demos.demo_kpis) ---
    MetricDef("demos_attended", COUNT, "funnel", "meetings with outcome completed starting in M", "crm_meetings",
       defined_in("demo-to-paid"), segments=(ALL, "demo_type")),
    MetricDef("demos_converted", COUNT, "funnel", "attended demos of M whose contact's customer first paid within N days after the demo",
       "crm_meetings, identity links, first paid dates", defined_in("demo-to-paid"), policies=("acquisition.demo_to_paid_days",),
       segments=(ALL, "demo_type")),
    MetricDef("demo_to_paid_rate", RATIO, "funnel", "demos_converted / demos_attended", "crm_meetings, first paid dates",
       defined_in("demo-to-paid"), policies=("acquisition.demo_to_paid_days",), segments=(ALL, "demo_type"),
       notes="provisional while as_of < first day of M+1 + N days"),
    MetricDef("median_days_demo_request_to_customer", DAYS, "funnel",
       "median of first_paid_at - demo request time over the converted demos of M (request: requested_at, else the latest matching demo form)",
       "crm_meetings, crm_form_submissions, first paid dates", defined_in("demo-to-paid", "days from request to customer"),
       policies=("acquisition.demo_to_paid_days",), segments=(ALL, "demo_type")),
]


def catalog_mismatches(kpis: pd.DataFrame, defs: list[MetricDef] | None = None) -> list[str]:
    """Problems between emitted kpi rows and the catalog: metrics missing from it,
    units that differ, segments it does not list. Empty when consistent."""
    by_name = {d.name: d for d in (defs if defs is not None else ACQUISITION_METRICS)}
    problems = []
    for (metric, segment, unit), _ in kpis.groupby(["metric", "segment", "unit"]):
        entry = by_name.get(metric)
        if entry is None:
            problems.append(f"{metric}: not in the catalog")
        elif entry.unit != unit:
            problems.append(f"{metric}: unit {unit} != catalog {entry.unit}")
        elif segment not in entry.segments:
            problems.append(f"{metric}: segment {segment} not in catalog {entry.segments}")
    return problems
