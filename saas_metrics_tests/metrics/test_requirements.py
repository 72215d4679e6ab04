"""Metrics of a missing source are NULL; a connected source's empty month stays 0."""

import numpy as np
import pandas as pd

from saas_metrics.metrics.catalog import ALL_METRICS
from saas_metrics.metrics.kpi import kpi_frame
from saas_metrics.metrics.requirements import (
    ANY_OF,
    BILLING_REVENUE,
    METRIC_REQUIREMENTS,
    metrics_fed_by,
    null_gaps,
    null_unavailable,
    unavailable_metrics,
)
from saas_metrics.sources.schemas import SCHEMAS


def test_every_requirement_names_a_catalogued_metric_and_a_canonical_table() -> None:
    catalogued = {m.name for m in ALL_METRICS}
    assert set(METRIC_REQUIREMENTS) <= catalogued
    assert {t for tables in METRIC_REQUIREMENTS.values() for t in tables} <= set(SCHEMAS) | set(ANY_OF)
    assert {t for tables in ANY_OF.values() for t in tables} <= set(SCHEMAS)


def test_missing_crm_nulls_leads_but_not_mrr() -> None:
    kpi = kpi_frame([
        {"month": "2024-01-01", "metric": "leads", "value": 0.0, "unit": "count"},
        {"month": "2024-01-01", "metric": "mrr", "value": 1750.0, "unit": "currency"},
        {"month": "2024-01-01", "metric": "nps", "value": 20.0, "unit": "score"},
    ])
    out = null_unavailable(kpi, {"billing_subscription_periods", "nps_responses"}).set_index("metric")["value"]
    assert np.isnan(out["leads"]) and out["mrr"] == 1750.0 and out["nps"] == 20.0
    assert {"leads", "visit_to_lead_rate", "cash_collected"} <= unavailable_metrics({"web_sessions"})
    assert "visit_to_lead_rate" not in unavailable_metrics({"web_sessions", "crm_contacts"})


def test_revenue_needs_either_billing_table() -> None:
    """No billing at all: MRR, churn, LTV and the paid conversions are NULL; either the Stripe-like
    items or the periods import is enough."""
    assert {"mrr", "nrr", "ltv", "customers", "trial_to_paid_rate", "paid_cac"} <= unavailable_metrics({"crm_contacts"})
    for source in ANY_OF[BILLING_REVENUE]:
        assert "mrr" not in unavailable_metrics({source})
    assert "trial_to_paid_rate" in unavailable_metrics({"billing_subscription_items"})  # still needs product
    kpi = kpi_frame([{"month": "2024-01-01", "metric": "mrr", "value": 0.0, "unit": "currency"}])
    assert np.isnan(null_unavailable(kpi, set()).at[0, "value"])


def test_metrics_fed_by_a_table() -> None:
    assert metrics_fed_by("web_sessions") == ("unique_visitors", "visit_to_lead_rate")
    assert {"mrr", "nrr", "ltv"} <= set(metrics_fed_by("billing_subscription_items"))
    assert {"mrr", "nrr"} <= set(metrics_fed_by("billing_prices")) and "leads" not in metrics_fed_by("billing_prices")
    assert metrics_fed_by("billing_customers") == ()


def test_a_gap_nulls_its_metrics_in_its_month_only() -> None:
    kpi = kpi_frame([
        {"month": m, "metric": metric, "value": v, "unit": "currency"}
        for m in ("2024-01-01", "2024-02-01") for metric, v in (("ad_spend", 900.0), ("cac", 450.0), ("mrr", 1750.0))
    ])
    available = {"ad_spend", "finance_expenses", "crm_contacts", "billing_subscription_items"}
    out = null_gaps(kpi, available, {pd.Timestamp("2024-02-01"): {"ad_spend"}}).set_index(["month", "metric"])["value"]
    assert out[(pd.Timestamp("2024-01-01"), "ad_spend")] == 900.0 and out[(pd.Timestamp("2024-01-01"), "cac")] == 450.0
    assert np.isnan(out[(pd.Timestamp("2024-02-01"), "ad_spend")]) and np.isnan(out[(pd.Timestamp("2024-02-01"), "cac")])
    assert out[(pd.Timestamp("2024-02-01"), "mrr")] == 1750.0
    assert null_gaps(kpi, available, {}) is kpi


def test_guide_metrics_are_null_without_their_sources() -> None:
    everything = set(SCHEMAS)
    assert not {"cash_balance", "runway_months", "cac_fully_loaded", "open_deals"} & unavailable_metrics(everything)
    no_bank = unavailable_metrics(everything - {"finance_cash_balances"})
    assert {"cash_balance", "runway_months"} <= no_bank and "net_burn" not in no_bank
    assert {"net_burn", "cac_fully_loaded", "operating_margin", "rule_of_40"} <= unavailable_metrics(everything - {"finance_expenses"})
    assert {"open_deals", "weighted_pipeline_value"} <= unavailable_metrics(everything - {"crm_deals"})
    assert {"mql_to_sql_rate", "sql_to_customer_rate"} <= unavailable_metrics(everything - {"crm_contacts"})
