"""finance_kpis: cash balance, net burn, runway, burn multiple, magic number, rule of 40 by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.metrics.finance import FINANCE_UNITS, finance_kpis
from saas_metrics.metrics.kpi import kpi_frame

T = pd.Timestamp
MONTHS = list(pd.date_range("2023-06-01", "2024-06-01", freq="MS"))  # 13 months: Jun 2023 .. Jun 2024
APR, MAY, JUN = T("2024-04-01"), T("2024-05-01"), T("2024-06-01")
FX = pd.DataFrame({"date": [T("2023-01-01"), T("2024-06-15")], "currency": ["EUR", "EUR"], "rate_to_usd": [1.10, 1.20]})


def history() -> pd.DataFrame:
    """mrr 100,000 in Jun 2023 .. 160,000 in Jun 2024 (+5,000 a month); cash collected 150,000 in April,
    140,000 in May, 160,000 in June; ad spend 10,000 a month; S&M spend 100,000 a month."""
    rows = []
    for i, month in enumerate(MONTHS):
        mrr = 100_000.0 + 5_000.0 * i
        for metric, value in (("mrr", mrr), ("arr", 12 * mrr), ("net_new_mrr", 5_000.0), ("ad_spend", 10_000.0),
                              ("sm_spend", 100_000.0)):
            rows.append({"month": month, "metric": metric, "value": value, "unit": "currency"})
    cash = {APR: 150_000.0, MAY: 140_000.0, JUN: 160_000.0}
    rows += [{"month": m, "metric": "cash_collected", "value": v, "unit": "currency"} for m, v in cash.items()]
    return kpi_frame(rows)


def expenses() -> pd.DataFrame:
    """April 230,000, May 240,000, June 230,000 + EUR 10,000 (at 1.20 = 12,000), every department."""
    return pd.DataFrame({
        "date": [T("2024-04-25"), T("2024-05-25"), T("2024-06-25"), T("2024-06-26")],
        "department": ["engineering", "sales", "g_and_a", "marketing"],
        "amount": [230_000.0, 240_000.0, 230_000.0, 10_000.0],
        "currency": ["USD", "USD", "USD", "EUR"],
    })


def balances() -> pd.DataFrame:
    # two June rows of the USD account: the last one (06-30) is the month's; EUR 100,000 at 1.20
    return pd.DataFrame({"date": [T("2024-06-15"), T("2024-06-30"), T("2024-06-30")], "account_id": ["usd", "usd", "eur"],
                         "balance": [5_000_000.0, 1_080_000.0, 100_000.0], "currency": ["USD", "USD", "EUR"]})


def values(kpis: pd.DataFrame, month: pd.Timestamp) -> dict[str, float]:
    return kpis[kpis["month"] == month].set_index("metric")["value"].to_dict()


def test_cash_burn_runway_and_efficiency_by_hand():
    v = values(finance_kpis(balances(), expenses(), FX, history(), [JUN], "USD"), JUN)
    assert v["cash_balance"] == pytest.approx(1_080_000 + 120_000)
    # opex: 230,000 + 12,000 ledger + 10,000 ads = 252,000; burn 252,000 - 160,000 = 92,000
    assert v["operating_expenses"] == pytest.approx(252_000.0)
    assert v["net_burn"] == pytest.approx(92_000.0)
    # burns: April 240,000 - 150,000 = 90,000; May 250,000 - 140,000 = 110,000; June 92,000 -> mean 97,333.33
    assert v["runway_months"] == pytest.approx(1_200_000 / ((90_000 + 110_000 + 92_000) / 3))
    # net new ARR 12 x 5,000 = 60,000
    assert v["burn_multiple"] == pytest.approx(92_000 / 60_000)
    # 12 x 15,000 of Apr..Jun over S&M of Jan..Mar 300,000
    assert v["magic_number"] == pytest.approx(180_000 / 300_000)
    # June MRR 160,000: margin (160,000 - 252,000) / 160,000 = -0.575; ARR growth 160 / 100 - 1 = 0.60
    assert v["operating_margin"] == pytest.approx(-0.575)
    assert v["rule_of_40"] == pytest.approx(0.60 - 0.575)


def test_null_where_inputs_are_missing():
    short = history()
    short = short[short["month"] >= MAY]  # no April, no year-ago ARR, no S&M quarter before
    v = values(finance_kpis(None, expenses(), FX, short, [JUN], "USD"), JUN)
    assert math.isnan(v["cash_balance"]) and math.isnan(v["runway_months"])  # no balance source
    assert math.isnan(v["magic_number"]) and math.isnan(v["rule_of_40"])
    assert v["net_burn"] == pytest.approx(92_000.0)  # June's own inputs exist
    # a month generating cash: no runway limit, and a shrinking company has no burn multiple
    growing_cash = history()
    growing_cash.loc[growing_cash["metric"] == "cash_collected", "value"] = 1_000_000.0
    growing_cash.loc[growing_cash["metric"] == "net_new_mrr", "value"] = -1_000.0
    v = values(finance_kpis(balances(), expenses(), FX, growing_cash, [JUN], "USD"), JUN)
    assert v["net_burn"] < 0 and math.isnan(v["runway_months"]) and math.isnan(v["burn_multiple"])
    assert set(finance_kpis(None, expenses().iloc[0:0], FX, kpi_frame([]), [JUN], "USD")["metric"]) == set(FINANCE_UNITS)


def test_growth_and_finance_metrics_are_in_the_catalog_with_their_units():
    from saas_metrics.metrics.finance_catalog import FINANCE_METRICS, GROWTH_METRICS
    from saas_metrics.metrics.growth import growth_kpis

    emitted = pd.concat([finance_kpis(balances(), expenses(), FX, history(), [JUN], "USD"), growth_kpis(history(), [JUN])])
    catalog = {d.name: d for d in [*GROWTH_METRICS, *FINANCE_METRICS]}
    assert dict(zip(emitted["metric"], emitted["unit"], strict=True)) == {n: d.unit for n, d in catalog.items()}
    assert all(d.formula and d.inputs and d.source for d in catalog.values())
