"""Retention and churn rates from movement totals (docs/metric-definitions.md#retention-and-churn).

All rates are fractions and NaN where the denominator is 0. MRR rates use the start MRR at M's
rate (``mrr_start_fx``, constant currency) so the numerators (movements at M's rate) and the
denominator are in the same currency basis:

* customer_churn_rate = churned_customers / customers_start (HubSpot guide; ChartMogul B2B)
* customer_churn_rate_stripe = churned_customers / (customers_start + new_customers) (Stripe)
* customer_retention_rate = 1 - customer_churn_rate
* gross_mrr_churn_rate = (churned_mrr + contraction_mrr) / mrr_start_fx
* net_mrr_churn_rate = (churned_mrr + contraction_mrr - expansion_mrr - reactivation_mrr) / mrr_start_fx
* grr = (mrr_start_fx - contraction_mrr - churned_mrr) / mrr_start_fx
* nrr = (mrr_start_fx + expansion_mrr - contraction_mrr - churned_mrr) / mrr_start_fx
* annualised_* = 1 - (1 - monthly rate)^12 (not 12 x monthly)
"""

from __future__ import annotations

import pandas as pd

from saas_metrics.metrics.kpi import RATIO, safe_divide

RETENTION_UNITS: dict[str, str] = {
    "customer_churn_rate": RATIO,
    "customer_churn_rate_stripe": RATIO,
    "customer_retention_rate": RATIO,
    "gross_mrr_churn_rate": RATIO,
    "net_mrr_churn_rate": RATIO,
    "grr": RATIO,
    "nrr": RATIO,
    "annualised_customer_churn_rate": RATIO,
    "annualised_gross_mrr_churn_rate": RATIO,
}


def annualise(monthly_rate: pd.Series) -> pd.Series:
    """1 - (1 - r)^12: the share lost over 12 months at a constant monthly rate r."""
    return 1.0 - (1.0 - monthly_rate) ** 12


def retention_rates(totals: pd.DataFrame) -> pd.DataFrame:
    """Retention metrics (columns of RETENTION_UNITS) for each row of movement totals.

    ``totals`` needs customers_start, new_customers, churned_customers, mrr_start_fx,
    new_mrr, expansion_mrr, contraction_mrr, churned_mrr, reactivation_mrr.
    """
    t = totals
    out = pd.DataFrame(index=t.index)
    out["customer_churn_rate"] = safe_divide(t["churned_customers"], t["customers_start"])
    out["customer_churn_rate_stripe"] = safe_divide(t["churned_customers"], t["customers_start"] + t["new_customers"])
    out["customer_retention_rate"] = 1.0 - out["customer_churn_rate"]
    lost = t["churned_mrr"] + t["contraction_mrr"]
    out["gross_mrr_churn_rate"] = safe_divide(lost, t["mrr_start_fx"])
    out["net_mrr_churn_rate"] = safe_divide(lost - t["expansion_mrr"] - t["reactivation_mrr"], t["mrr_start_fx"])
    out["grr"] = safe_divide(t["mrr_start_fx"] - lost, t["mrr_start_fx"])
    out["nrr"] = safe_divide(t["mrr_start_fx"] + t["expansion_mrr"] - lost, t["mrr_start_fx"])
    out["annualised_customer_churn_rate"] = annualise(out["customer_churn_rate"])
    out["annualised_gross_mrr_churn_rate"] = annualise(out["gross_mrr_churn_rate"])
    return out
