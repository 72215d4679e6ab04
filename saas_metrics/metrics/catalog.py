"""The metric catalog: one :class:`MetricDef` per kpi_monthly metric; docs/metrics.md is rendered from it.

``REVENUE_METRICS`` covers everything the revenue functions emit (revenue_kpis, retention,
ltv_kpis, cmrr_kpis, cash_kpis, acv_kpis, segment_revenue_kpis). Other domains contribute
their own lists without touching this file: a module ``saas_metrics/metrics/<domain>_catalog.py``
that defines one or more ``<NAME>_METRICS: list[MetricDef]`` is found and appended to
``ALL_METRICS`` at import time (modules in alphabetical order).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from saas_metrics.metrics import kpi
from saas_metrics.metrics.kpi import ALL, COUNT, CURRENCY, MONTHS, RATIO, MetricDef, defined_in
from saas_metrics.metrics.segments import SEGMENT_METRICS, SEGMENTS

_MRR_POLICIES = ("reporting_currency", "revenue.churn_recognition", "revenue.delinquency_days")
_MOVE_POLICIES = (*_MRR_POLICIES, "revenue.reactivation")
_SEGMENTED = (ALL, *SEGMENTS)
_MOVEMENTS = "mrr_movements (customer_mrr at the end of M-1 and M, fx_rates)"
_SNAPSHOT = "customer_mrr (revenue_intervals at the last instant of M, fx_rates)"
_CHURN_REASON = "churn_reason"
_BY_REASON = ("by churn_reason: the reason of each churned customer (churn_reasons table: churn_reasons.csv, the CRM "
              "company's churn_reason, a lost deal's closed_lost_reason, Stripe cancellation_details; 'unknown' when none); "
              "the reasons of a month sum to the headline")
_CONSTANT = "start MRR = sum of mrr_start_fx (end of M-1 at M's rate), so numerator and denominator share one currency basis"

_LINE_MRR = (
    "Line MRR = quantity x unit_amount x (1 - percent_off/100) / interval_months (month 1 x n, year 12 x n, "
    "week 12/52 x n, day 12/365 x n); tax excluded. One-time and metered prices, trials, paused/unpaid/incomplete/"
    "canceled subscriptions contribute 0; past_due contributes for delinquency_days (30) from its start, then 0 until "
    "active again. Interval active at M's end iff start_at < first(M+1) <= end_at (half-open: an end on the 1st of "
    "M+1 churns in M+1). Time outside a subscription's status history contributes 0; a subscription without history "
    "is active from trial_end (or start) and past_due from its earliest unpaid invoice's due date. Several discounts "
    "apply multiplicatively. Periods imports (monthly_amount over [start_date, end_date)) are used as they are; when "
    "both sources exist, billing wins per subscription. Amounts at the rate in force on M's last day."
)
#: How revenue history is built (the ``mrr`` entry; every revenue metric rests on it).
_ENGINES = {
    "Engines (revenue.source)": (
        "revenue_intervals comes from one of two engines per subscription, chosen by revenue.source "
        "(SAAS_METRICS_REVENUE__SOURCE): subscriptions = the item-version history (price and quantity over time) and "
        "the status history; invoices = the invoice line items (billing_invoice_lines) and the subscription's current "
        "state (canceled_at, ended_at, cancel_at_period_end, trial_end, status), no history needed: with it, "
        "subscription_items.csv and subscription_status_history.csv may be absent and every revenue number stays the "
        "same where the invoices agree with the histories; auto (default) = invoices for a subscription that has "
        "recurring invoice lines and no item versions, or an item history that starts after the subscription did "
        "(history_since, e.g. Stripe API subscriptions older than its 30-day event retention), subscriptions "
        "otherwise. The run log and the revenue_intervals metadata give how many subscriptions each engine built; "
        "revenue_intervals.source says it per interval (billing = subscription engine, invoices, periods)."
    ),
    "Invoice engine": (
        "Same Line MRR and the same month-end snapshot as the subscription engine; the rate comes from the line's "
        "price x quantity, never from a prorated amount. Counted lines: type subscription of invoices not void or draft, "
        "amount >= 0; one-off invoice items, metered lines and credits (negative lines) stay out. Each line is an item "
        "version over its service period [period_start, period_end) until the next line of the same subscription item "
        "starts. Paid lines pay; unpaid ones (open/uncollectible) pay until delinquency_days after the first due date of "
        "the run of unpaid invoices, as past_due does. Time no line covers pays nothing, so a subscription that is not "
        "renewed churns at the end of its last paid service period; ended_at (canceled_at under cancellation) ends "
        "every line; an active subscription not ended nor scheduled to cancel keeps its last paid line open."
    ),
    "Invoice engine cases": (
        "mid-period upgrade / seat change: the proration's remaining-time line starts the new rate at its date (the "
        "unused-time credit is ignored); downgrade at renewal: the renewal line's price; annual and quarterly: one "
        "line per term, spread over it (1,200 a year = 100 a month); discount ending: a discount the line names that "
        "billing_discounts knows applies over its [start, end), even inside an annual term; a discount amount without "
        "a known discount scales its line by (1 - discount/amount); when no line itemises discounts (Fivetran), every "
        "discount row applies; 100 % discount: 0; void and reissue: the void invoice's lines are skipped; credit notes "
        "and refunds: cash, not MRR; unpaid past the cut-off: 0 from the cut-off; cancellation at period end: paid "
        "through the period end; immediate cancellation with a prorated credit: ends at ended_at; trial: bills "
        "nothing and trial_end keeps it at 0; several items: one version per item; currencies: each line in its "
        "currency at the month-end rate, as for the subscription engine."
    ),
    "Reconciliation": (
        "revenue_reconciliation (built with revenue_intervals from the same inputs) lists, for the subscriptions both "
        "engines can run, the customer-months up to the last partition month whose MRR differs by more than half a "
        "cent in the billing currency, with both values and the reason class only_subscriptions / only_invoices / "
        "amount; its asset check engines_agree warns when any differ. None on the simulator's data."
    ),
}
_MOVEMENT_RULE = (
    "Classified per customer on local-currency amounts (an FX move alone is never an expansion): m0 = MRR at the end "
    "of M-1, m0' = the same at M's rate, m1 = MRR at the end of M. A pause is churn at the first month-end without "
    "MRR and reactivation when it resumes (ChartMogul). Removing one of two subscriptions is contraction, not churn."
)


def _def(name: str, unit: str, formula: str, inputs: str, source: str, domain: str = "revenue", **kw: Any) -> MetricDef:
    return MetricDef(name, unit, domain, formula, inputs, source, **kw)


def _ret(name: str, unit: str, formula: str, inputs: str, source: str, **kw: Any) -> MetricDef:
    return _def(name, unit, formula, inputs, source, domain="retention", **kw)


def _ltv(name: str, unit: str, formula: str, inputs: str, source: str, **kw: Any) -> MetricDef:
    return _def(name, unit, formula, inputs, source, domain="lifetime_value", **kw)


def _segments(name: str) -> tuple[str, ...]:
    return _SEGMENTED if name in SEGMENT_METRICS else (ALL,)


REVENUE_METRICS: list[MetricDef] = [
    _def("mrr", CURRENCY, "sum over paying customers of customer MRR at the last instant of M (= arpa x customers)",
         _SNAPSHOT, defined_in("mrr", "the HubSpot guide's MRR, from line MRR"), policies=(*_MRR_POLICIES, "revenue.source"),
         segments=_segments("mrr"), notes=_LINE_MRR, extra=_ENGINES),
    _def("arr", CURRENCY, "12 x mrr", _SNAPSHOT, defined_in("arr"), policies=_MRR_POLICIES, segments=_segments("arr")),
    _def("arpa", CURRENCY, "mrr / customers (NULL when no customer)", _SNAPSHOT, defined_in("arpa"),
         policies=_MRR_POLICIES, segments=_segments("arpa")),
    _def("customers", COUNT, "customers with MRR > 0 at the last instant of M", _SNAPSHOT, defined_in("mrr", "paying customers"),
         policies=_MRR_POLICIES, segments=_segments("customers")),
    _def("new_mrr", CURRENCY, "sum of m1 over customers with m0 = 0 < m1 that never paid before M", _MOVEMENTS,
         defined_in("customer-mrr-movements"), policies=_MOVE_POLICIES, segments=_segments("new_mrr"), notes=_MOVEMENT_RULE),
    _def("expansion_mrr", CURRENCY, "sum of m1 - m0' over customers with m1 > m0' > 0 (local amount grew)", _MOVEMENTS,
         defined_in("customer-mrr-movements"), policies=_MOVE_POLICIES, segments=_segments("expansion_mrr")),
    _def("contraction_mrr", CURRENCY, "sum of m0' - m1 over customers with 0 < m1 < m0' (local amount shrank)", _MOVEMENTS,
         defined_in("customer-mrr-movements"), policies=_MOVE_POLICIES, segments=_segments("contraction_mrr")),
    _def("churned_mrr", CURRENCY, "sum of m0' over customers with m0 > 0 = m1", _MOVEMENTS,
         defined_in("customer-mrr-movements"), policies=_MOVE_POLICIES, segments=(*_segments("churned_mrr"), _CHURN_REASON),
         notes=_BY_REASON),
    _def("reactivation_mrr", CURRENCY, "sum of m1 over customers with m0 = 0 < m1 whose first paid month is before M",
         _MOVEMENTS, defined_in("customer-mrr-movements"), policies=_MOVE_POLICIES,
         notes="revenue.reactivation = never counts every return as new"),
    _def("fx_impact_mrr", CURRENCY, "sum of m0' - m0 (end of M-1 MRR revalued at M's rate minus as reported)", _MOVEMENTS,
         defined_in("reporting-currency"), policies=("reporting_currency",)),
    _def("net_new_mrr", CURRENCY, "new + expansion + reactivation - contraction - churn (fx_impact excluded)", _MOVEMENTS,
         defined_in("net-new-mrr"), policies=_MOVE_POLICIES, segments=_segments("net_new_mrr"),
         notes="bridge: mrr(M) = mrr(M-1) + net_new_mrr + fx_impact_mrr, checked to the cent"),
    _def("new_customers", COUNT, "customers with movement new in M", _MOVEMENTS, defined_in("customer-mrr-movements"),
         policies=_MOVE_POLICIES),
    _def("churned_customers", COUNT, "customers with movement churn in M", _MOVEMENTS, defined_in("customer-mrr-movements"),
         policies=_MOVE_POLICIES, segments=(ALL, _CHURN_REASON), notes=_BY_REASON),
    _def("reactivated_customers", COUNT, "customers with movement reactivation in M", _MOVEMENTS,
         defined_in("customer-mrr-movements"), policies=_MOVE_POLICIES),
    _def("expansion_share", RATIO, "expansion_mrr / (new_mrr + expansion_mrr + reactivation_mrr)", _MOVEMENTS,
         defined_in("expansion-share", "the survey: 36 % of new ARR bookings"), policies=_MOVE_POLICIES),
    _def("asp", CURRENCY, "new_mrr / new_customers", _MOVEMENTS, defined_in("asp"), policies=_MOVE_POLICIES),
    _def("quick_ratio", RATIO, "(new_mrr + expansion_mrr + reactivation_mrr) / (churned_mrr + contraction_mrr)", _MOVEMENTS,
         defined_in("quick-ratio"), policies=_MOVE_POLICIES),
    _def("cmrr", CURRENCY,
         "mrr + MRR of subscriptions signed before M's end that start after it - MRR of subscriptions scheduled to cancel "
         "(canceled_at < end of M <= ended_at, or cancel_at_period_end / future cancel_at while not ended) - scheduled "
         "downgrades (a line active at M's end followed within one billing period by a lower-MRR interval of the same item)",
         "revenue_intervals, billing_subscriptions, fx_rates", defined_in("cmrr"), policies=_MRR_POLICIES,
         notes="subscriptions still in a trial at M's end are not 'signed'; a cancelling subscription is not also a downgrade"),
    _def("carr", CURRENCY, "12 x cmrr", "revenue_intervals, billing_subscriptions, fx_rates", defined_in("carr"),
         policies=_MRR_POLICIES),
    _def("cash_collected", CURRENCY,
         "succeeded payments created in M - succeeded refunds created in M, each at its own date's rate",
         "billing_payments, billing_refunds, fx_rates", defined_in("cash-collected"), policies=("reporting_currency",),
         notes="refunds never change MRR"),
    _def("acv", CURRENCY,
         "mean amount (first-year contract value, at the close date's rate) of closed-won deals closed in M; when no "
         "closed-won deal has an amount, 12 x new_mrr / new_customers for every month",
         "crm_deals, fx_rates (fallback: mrr_movements)", defined_in("acv"), policies=("reporting_currency",),
         notes="the value of NEW business (deals won in M); the annual revenue of an average CURRENT customer, which "
               "some guides call ACV, is arr_per_customer (arr / customers)"),
    # --- retention ---
    _ret("customer_churn_rate", RATIO, "churned_customers / customers at the end of M-1", _MOVEMENTS,
         defined_in("customer-churn-rate", "HubSpot guide; ChartMogul B2B"), policies=_MOVE_POLICIES,
         segments=_segments("customer_churn_rate"),
         notes="per segment, a customer belongs to its segment at M's end (churned: at M-1's end)"),
    _ret("customer_churn_rate_stripe", RATIO, "churned_customers / (customers at the end of M-1 + new_customers)", _MOVEMENTS,
         defined_in("customer-churn-rate-stripe"), policies=_MOVE_POLICIES),
    _ret("customer_retention_rate", RATIO, "1 - customer_churn_rate", _MOVEMENTS, defined_in("customer-retention-rate"), policies=_MOVE_POLICIES),
    _ret("gross_mrr_churn_rate", RATIO, "(churned_mrr + contraction_mrr) / start MRR", _MOVEMENTS,
         defined_in("gross-mrr-churn-rate", "the guide's revenue churn; by plan_tier = revenue churn by tier"),
         policies=_MOVE_POLICIES, segments=_segments("gross_mrr_churn_rate"), notes=_CONSTANT),
    _ret("net_mrr_churn_rate", RATIO, "(churned_mrr + contraction_mrr - expansion_mrr - reactivation_mrr) / start MRR",
         _MOVEMENTS, defined_in("net-mrr-churn-rate", "may be negative"), policies=_MOVE_POLICIES, notes=_CONSTANT),
    _ret("grr", RATIO, "(start MRR - contraction_mrr - churned_mrr) / start MRR", _MOVEMENTS, defined_in("grr"),
         policies=_MOVE_POLICIES, segments=_segments("grr"), notes=_CONSTANT),
    _ret("nrr", RATIO, "(start MRR + expansion_mrr - contraction_mrr - churned_mrr) / start MRR (new and reactivation excluded)",
         _MOVEMENTS, defined_in("nrr"), policies=_MOVE_POLICIES, segments=_segments("nrr"), notes=_CONSTANT),
    _ret("annualised_customer_churn_rate", RATIO, "1 - (1 - customer_churn_rate)^12", _MOVEMENTS,
         defined_in("annualised-churn", "not 12 x monthly"), policies=_MOVE_POLICIES),
    _ret("annualised_gross_mrr_churn_rate", RATIO, "1 - (1 - gross_mrr_churn_rate)^12", _MOVEMENTS,
         defined_in("annualised-churn", "not 12 x monthly"), policies=_MOVE_POLICIES),
    # --- lifetime value ---
    _ltv("ltv", CURRENCY,
         "arpa(M) x gross_margin / mean of the available customer_churn_rate of the 6 months before M",
         "kpi_monthly (arpa, customer_churn_rate)", defined_in("ltv", "ChartMogul"),
         policies=("revenue.gross_margin", "revenue.ltv_churn_window_months"),
         notes="NULL when no month of the window has a churn rate or their mean is 0"),
    _ltv("clv_simple", CURRENCY, "arpa(M) / customer_churn_rate(M)", "kpi_monthly (arpa, customer_churn_rate)",
         defined_in("simple-clv", "the survey: churn 5 %, ARPA 500 -> 10,000"), notes="NULL when the churn of M is 0"),
    _ltv("clv_annual_spend", CURRENCY,
         "average annual spend x average lifetime in years = 12 x arpa(M) x customer_lifetime_months(M) / 12",
         "kpi_monthly (arpa, customer_churn_rate)", defined_in("annual-spend-x-lifetime"),
         policies=("revenue.clv_lifetime",),
         notes="default lifetime 1 / churn: agrees with clv_simple (churn 5 %, ARPA 500 -> 6,000 x 1.6667 = 10,000); "
               "clv_lifetime = compounded takes the years from the annualised churn (-> 13,053.70); no gross margin"),
    _ltv("customer_lifetime_months", MONTHS,
         "churn_rate (default): 1 / customer_churn_rate(M); compounded: 12 / (1 - (1 - customer_churn_rate(M))^12)",
         "kpi_monthly (customer_churn_rate)", "the Wordable survey of SaaS marketers (2021): lifetime = 1 / churn (churn 5 % -> 20 months)",
         policies=("revenue.clv_lifetime",), notes="NULL when the churn of M is 0 or NULL; compounded: churn 5 % -> 26.11 months"),
]


def _domain_lists() -> list[MetricDef]:
    """MetricDefs of every ``saas_metrics.metrics.<domain>_catalog`` module (alphabetical)."""
    found: list[MetricDef] = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if not info.name.endswith("_catalog"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        for attr in sorted(vars(module)):
            value = getattr(module, attr)
            if attr.endswith("_METRICS") and isinstance(value, list) and all(isinstance(d, kpi.MetricDef) for d in value):
                found.extend(value)
    return found


#: Every metric of every domain: revenue first, then the ``*_catalog`` modules.
ALL_METRICS: list[MetricDef] = [*REVENUE_METRICS, *_domain_lists()]


def metric_names(defs: list[MetricDef] | None = None) -> set[str]:
    return {d.name for d in (ALL_METRICS if defs is None else defs)}
