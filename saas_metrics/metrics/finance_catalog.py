"""Reference entries of the growth and cash-efficiency metrics in kpi_monthly.

The formulas match the functions that emit them: growth.growth_kpis and finance.finance_kpis.
Sources: the "25 SaaS KPIs" list (2022), which ranks cash, burn and runway second, and the
HubSpot/PMG guide "Key SaaS metrics and how to track them in HubSpot" (2020).
"""

from __future__ import annotations

from saas_metrics.metrics.kpi import CURRENCY, RATIO, MetricDef

_KPIS25 = "the '25 SaaS KPIs' list (2022)"
_HUBSPOT = "the HubSpot/PMG guide 'Key SaaS metrics and how to track them in HubSpot' (2020)"
_HEAD = "kpi_monthly (mrr, arr, customers) of M and the months before"

GROWTH_METRICS: list[MetricDef] = [
    MetricDef("mrr_growth_rate", RATIO, "growth", "(mrr(M) - mrr(M-1)) / mrr(M-1)", _HEAD, f"{_KPIS25}: MRR growth rate",
              notes="10,000 -> 11,000: 0.10; NULL when M-1 is missing or its MRR is 0"),
    *[
        MetricDef(f"cmgr_{n}m", RATIO, "growth", f"(mrr(M) / mrr(M-{n}))^(1/{n}) - 1", _HEAD,
                  f"{_KPIS25}: MRR growth rate, compounded monthly (CMGR)",
                  notes=f"the monthly rate that compounds to the growth of the last {n} months (10,000 -> 13,310 over 3 "
                        "months: 10 %, not 33.1 % / 3); NULL when M-" f"{n} is missing or its MRR is 0")
        for n in (3, 6, 12)
    ],
    MetricDef("arr_growth_rate_yoy", RATIO, "growth", "arr(M) / arr(M-12) - 1", _HEAD, f"{_KPIS25}: ARR growth (rule of 40)",
              notes="NULL when M-12 is missing or its ARR is 0"),
    MetricDef("arr_per_customer", CURRENCY, "growth", "arr(M) / customers(M) (= 12 x arpa)", _HEAD,
              f"{_HUBSPOT}: ACV as annual revenue per current customer",
              notes="the guide's 'ACV'; the acv metric is the mean first-year value of the deals won in M (new business)"),
]
