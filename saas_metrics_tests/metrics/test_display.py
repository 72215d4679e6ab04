"""KPI values as a person reads them (the UI's metadata, alert messages)."""

from __future__ import annotations

import math

from saas_metrics.metrics.display import format_kpi, format_money


def test_each_unit_reads_in_its_own_terms() -> None:
    assert format_kpi("mrr", 794398.99, "currency") == "$794,399"
    assert format_kpi("mrr", 794398.99, "currency", "EUR") == "€794,399"
    assert format_kpi("mrr", 1200.5, "currency", "CHF") == "1,200 CHF"
    assert format_kpi("customer_churn_rate", 0.028747433264887063, "ratio") == "2.87%"
    assert format_kpi("nrr", 1.0425, "ratio") == "104.25%"
    assert format_kpi("ltv_to_cac", 2.5151, "ratio") == "2.52x"  # a multiple, not 251.51%
    assert format_kpi("customers", 1496.0, "count") == "1,496"
    assert format_kpi("cac_payback_months", 7.694, "months") == "7.7 months"
    assert format_kpi("nps", 42.0, "score") == "42.0"
    assert format_kpi("mrr", None, "currency") == "n/a" and format_kpi("mrr", math.nan, "currency") == "n/a"


def test_money_to_the_cent_with_the_code_and_negative_amounts() -> None:
    assert format_money(179950.5, "USD", 2, symbol=False) == "179,950.50 USD"
    assert format_money(-1200, "USD") == "-$1,200"
    assert format_kpi("mrr", 179950.5, "currency", money_decimals=2, currency_symbol=False) == "179,950.50 USD"
