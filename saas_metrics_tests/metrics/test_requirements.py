"""Metrics of a missing source are NULL; a connected source's empty month stays 0."""

import numpy as np

from saas_metrics.metrics.catalog import ALL_METRICS
from saas_metrics.metrics.kpi import kpi_frame
from saas_metrics.metrics.requirements import (
    METRIC_REQUIREMENTS,
    null_unavailable,
    unavailable_metrics,
)
from saas_metrics.sources.schemas import SCHEMAS


def test_every_requirement_names_a_catalogued_metric_and_a_canonical_table() -> None:
    catalogued = {m.name for m in ALL_METRICS}
    assert set(METRIC_REQUIREMENTS) <= catalogued
    assert {t for tables in METRIC_REQUIREMENTS.values() for t in tables} <= set(SCHEMAS)


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


def test_guide_metrics_are_null_without_their_sources() -> None:
    everything = set(SCHEMAS)
    assert not {"cash_balance", "runway_months", "cac_fully_loaded", "open_deals"} & unavailable_metrics(everything)
    no_bank = unavailable_metrics(everything - {"finance_cash_balances"})
    assert {"cash_balance", "runway_months"} <= no_bank and "net_burn" not in no_bank
    assert {"net_burn", "cac_fully_loaded", "operating_margin", "rule_of_40"} <= unavailable_metrics(everything - {"finance_expenses"})
    assert {"open_deals", "weighted_pipeline_value"} <= unavailable_metrics(everything - {"crm_deals"})
    assert {"mql_to_sql_rate", "sql_to_customer_rate"} <= unavailable_metrics(everything - {"crm_contacts"})
