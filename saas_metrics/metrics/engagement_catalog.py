"""Reference entries of every engagement, health, support and NPS metric in kpi_monthly.

The formulas match the functions that emit them: usage.usage_kpis, health.health_kpis,
support.support_kpis and nps.nps_kpis (docs/metric-definitions.md#engagement-health-and-support).
"""

from __future__ import annotations

from saas_metrics.metrics.kpi import ALL, COUNT, HOURS, RATIO, SCORE, MetricDef, defined_in

_GUIDE = "the HubSpot/PMG guide 'Key SaaS metrics and how to track them in HubSpot' (2020)"
_USAGE_POLICIES = ("engagement.usage_measure", "engagement.usage_event")
_HEALTH_POLICIES = (
    "engagement.health_weights",
    "engagement.health_healthy_min",
    "engagement.health_at_risk_min",
    "engagement.health_tickets_per_seat_max",
    "engagement.health_nps_lookback_months",
    "engagement.health_past_due_grace_days",
)
_TICKETS = "support_tickets created in M"
_PERCENTILE = "numpy.percentile, linear interpolation (1..10 h -> p90 9.1 h)"

ENGAGEMENT_METRICS: list[MetricDef] = [
    # --- product usage (usage.usage_kpis) ---
    MetricDef("active_users", COUNT, "engagement", "distinct user_id with any product event in M (MAU)", "product_usage", defined_in("active-users-and-stickiness")),
    MetricDef(
        "stickiness", RATIO, "engagement",
        "mean over the calendar days of M of distinct daily active users / MAU (DAU/MAU)",
        "product_usage", defined_in("active-users-and-stickiness"),
    ),
    MetricDef(
        "usage_total", COUNT, "engagement",
        "sum over product accounts of usage(M) (active user-days by default)",
        "account_engagement", defined_in("product-usage"), policies=_USAGE_POLICIES,
    ),
    MetricDef(
        "usage_per_account", COUNT, "engagement", "usage_total / product accounts with usage(M) > 0",
        "account_engagement", defined_in("product-usage"), policies=_USAGE_POLICIES,
    ),
    MetricDef(
        "accounts_below_usage_floor", COUNT, "engagement",
        "customers paying at the end of M with a linked product account whose usage(M), summed over their accounts, is below usage_floor",
        "account_engagement, customer_mrr", f"{_GUIDE}: usage below a threshold as an early churn signal", policies=(*_USAGE_POLICIES, "engagement.usage_floor"),
        notes="the absolute counterpart of the usage-drop at-risk list (default floor 4 active user-days); alert rule "
              "accounts_below_usage_floor; not emitted when usage_floor is None",
    ),
    # --- customer health (health.health_kpis) ---
    *[
        MetricDef(
            f"mrr_share_{band}", RATIO, "health",
            f"MRR of paying customers whose health band in M is '{band}' / MRR of all scored customers",
            "customer_health, customer_mrr", defined_in("customer-health-score"), policies=_HEALTH_POLICIES,
            notes="health score = sum of weight x sub-score of usage trend, seat utilisation, support burden, NPS and billing health (docs/health.md)",
        )
        for band in ("healthy", "at_risk", "critical")
    ],
    MetricDef(
        "average_health_score", SCORE, "health", "unweighted mean health score (0-100) of the customers paying at the end of M",
        "customer_health", defined_in("customer-health-score"), policies=_HEALTH_POLICIES,
    ),
    MetricDef(
        "accounts_critical", COUNT, "health", "paying customers whose health score in M is below health_at_risk_min (40)",
        "customer_health", defined_in("customer-health-score"), policies=_HEALTH_POLICIES,
    ),
    MetricDef(
        "accounts_with_risky_ticket_topics", COUNT, "health",
        "paying customers with a ticket about a risky topic (discount, value, competitor) created in the 3 months ending with M",
        "customer_health (support_tickets category and tags)",
        f"{_GUIDE}: flag customers whose tickets ask about discounts, value or competitors",
        policies=("engagement.ticket_topics", "engagement.ticket_topic_lookback_months"),
        notes="their support_burden points are 0 and the topics are their risky_ticket_topics (customer_health, at_risk_accounts)",
    ),
    # --- support (support.support_kpis) ---
    MetricDef(
        "tickets_created", COUNT, "support", "count of support tickets with created_at in M",
        "support_tickets", defined_in("support"), segments=(ALL, "priority"),
    ),
    MetricDef(
        "first_response_hours_median", HOURS, "support", "median of (first_response_at - created_at) in hours",
        _TICKETS, defined_in("support"), notes="tickets without a first response are excluded",
    ),
    MetricDef(
        "first_response_hours_p90", HOURS, "support", f"90th percentile of (first_response_at - created_at) in hours, {_PERCENTILE}",
        _TICKETS, defined_in("support"),
    ),
    MetricDef(
        "resolution_hours_median", HOURS, "support", "median of (solved_at - created_at) in hours",
        _TICKETS, defined_in("support"), notes="unsolved tickets are excluded; the cohort is the creation month",
    ),
    MetricDef(
        "resolution_hours_p90", HOURS, "support", f"90th percentile of (solved_at - created_at) in hours, {_PERCENTILE}",
        _TICKETS, defined_in("support"),
    ),
    MetricDef(
        "first_response_hours_mean", HOURS, "support", "arithmetic mean of (first_response_at - created_at) in hours",
        _TICKETS, f"{_GUIDE}: average first response time",
        notes="tickets without a first response are excluded; one slow ticket moves it, unlike the median",
    ),
    MetricDef(
        "resolution_hours_mean", HOURS, "support", "arithmetic mean of (solved_at - created_at) in hours",
        _TICKETS, f"{_GUIDE}: average resolution time",
        notes="unsolved tickets are excluded; the cohort is the creation month",
    ),
    MetricDef(
        "open_backlog", COUNT, "support", "tickets created before first(M+1) and not solved by first(M+1)",
        "support_tickets of M and every earlier month", defined_in("support", "open backlog at month end"),
    ),
    MetricDef(
        "tickets_per_account", COUNT, "support", "tickets_created / customers paying at the end of M",
        "support_tickets, customer_mrr", defined_in("support"), notes="emitted only when customer_mrr snapshots are passed",
    ),
    # --- NPS (nps.nps_kpis) ---
    MetricDef(
        "nps", SCORE, "nps", "100 x (promoters (9-10) - detractors (0-6)) / responses in M; NULL when no response",
        "nps_responses", defined_in("nps"),
    ),
    MetricDef("nps_responses", COUNT, "nps", "NPS responses with a score submitted in M", "nps_responses", defined_in("nps")),
]
