"""Reference entries of the growth and cash-efficiency metrics in kpi_monthly.

The formulas match the functions that emit them: growth.growth_kpis and finance.finance_kpis.
Sources: the "25 SaaS KPIs" list (2022), which ranks cash, burn and runway second, and the
HubSpot/PMG guide "Key SaaS metrics and how to track them in HubSpot" (2020).
"""

from __future__ import annotations

from saas_metrics.metrics.kpi import CURRENCY, MONTHS, RATIO, MetricDef

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

_LEDGER = "finance_expenses (every department), kpi_monthly (ad_spend)"
_SACKS = "David Sacks, 'The Burn Multiple' (2020), as the '25 SaaS KPIs' list uses it"

FINANCE_METRICS: list[MetricDef] = [
    MetricDef("cash_balance", CURRENCY, "finance",
              "sum over bank accounts of the last balance dated in M, at the rate in force on M's last day",
              "finance_cash_balances, fx_rates", f"{_KPIS25}: Cash (balance)",
              notes="NULL when no account has a balance dated in M"),
    MetricDef("operating_expenses", CURRENCY, "finance",
              "every ledger line dated in M (all departments, at its date's rate) + ad_spend(M)", _LEDGER,
              f"{_KPIS25}: Burn (cash out)"),
    MetricDef("net_burn", CURRENCY, "finance", "operating_expenses(M) - cash_collected(M)",
              f"{_LEDGER}, kpi_monthly (cash_collected)", f"{_KPIS25}: Net burn",
              notes="positive = burning cash, negative = cash generated; financing (equity, loans) is not in it"),
    MetricDef("runway_months", MONTHS, "finance", "cash_balance(M) / mean net_burn of M-2..M",
              "cash_balance, net_burn of three months", f"{_KPIS25}: Runway",
              notes="three months smooth annual prepayments out; NULL while the mean burn is 0 or negative (no limit) "
                    "or a month is missing; 1,200,000 / mean(90,000, 110,000, 100,000) = 12"),
    MetricDef("burn_multiple", RATIO, "finance", "net_burn(M) / (12 x net_new_mrr(M))", "net_burn, kpi_monthly (net_new_mrr)",
              _SACKS, notes="NULL when net new ARR <= 0; below 1 excellent, above 2 suspect"),
    MetricDef("magic_number", RATIO, "finance",
              "12 x (net_new_mrr of M-2..M) / sm_spend of M-5..M-3 (net new ARR of the quarter ending in M over the S&M "
              "spend of the quarter before)", "kpi_monthly (net_new_mrr, sm_spend) of M-5..M", f"{_KPIS25}: SaaS magic number",
              notes="12 x 25,000 / 400,000 = 0.75; a rolling quarter, one value per month"),
    MetricDef("operating_margin", RATIO, "finance", "(mrr(M) - operating_expenses(M)) / mrr(M)",
              f"kpi_monthly (mrr), {_LEDGER}", f"{_KPIS25}: Rule of 40 (the margin half)",
              notes="MRR stands for the month's recognised subscription revenue, so an annual invoice paid in M does not "
                    "swing it; the ledger has every department (COGS included)"),
    MetricDef("rule_of_40", RATIO, "finance", "arr_growth_rate_yoy(M) + operating_margin(M)",
              "arr of M and M-12, operating_margin", f"{_KPIS25}: Rule of 40",
              notes="fractions: 0.40 or more passes (growth 0.60, margin -0.15 -> 0.45); NULL without ARR a year earlier"),
]
