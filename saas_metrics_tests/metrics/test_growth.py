"""growth_kpis: MRR growth rate, compound monthly growth over 3/6/12 months, ARR per customer."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.metrics.growth import GROWTH_UNITS, growth_kpis
from saas_metrics.metrics.kpi import kpi_frame

MONTHS = list(pd.date_range("2023-01-01", "2024-01-01", freq="MS"))  # 13 months


def revenue(mrr: list[float], customers: list[float] | None = None) -> pd.DataFrame:
    rows = []
    for i, value in enumerate(mrr):
        rows += [{"month": MONTHS[i], "metric": "mrr", "value": value, "unit": "currency"},
                 {"month": MONTHS[i], "metric": "arr", "value": 12 * value, "unit": "currency"},
                 {"month": MONTHS[i], "metric": "customers", "value": (customers or [10.0] * len(mrr))[i], "unit": "count"}]
    return kpi_frame(rows)


def values(kpis: pd.DataFrame, month: pd.Timestamp) -> dict[str, float]:
    return kpis[kpis["month"] == month].set_index("metric")["value"].to_dict()


def test_month_over_month_and_compound_growth_by_hand():
    # 10,000 -> 11,000 -> 12,100 -> 13,310: 10 % a month
    mrr = [10_000.0, 11_000.0, 12_100.0, 13_310.0]
    v = values(growth_kpis(revenue(mrr), [MONTHS[3]]), MONTHS[3])
    assert v["mrr_growth_rate"] == pytest.approx(0.10)  # (13,310 - 12,100) / 12,100
    assert v["cmgr_3m"] == pytest.approx(0.10)  # 1.331^(1/3) - 1, not 0.331 / 3
    assert math.isnan(v["cmgr_6m"]) and math.isnan(v["cmgr_12m"]) and math.isnan(v["arr_growth_rate_yoy"])
    assert v["arr_per_customer"] == pytest.approx(12 * 13_310.0 / 10)


def test_twelve_month_growth_and_yoy_arr():
    # 1,000 in Jan 2023, 2,000 in Jan 2024: (2)^(1/12) - 1 = 5.946 % a month, ARR +100 % a year
    mrr = [1000.0] + [1500.0] * 11 + [2000.0]
    v = values(growth_kpis(revenue(mrr), [MONTHS[12]]), MONTHS[12])
    assert v["cmgr_12m"] == pytest.approx(2 ** (1 / 12) - 1)
    assert round(v["cmgr_12m"], 5) == 0.05946
    assert v["cmgr_6m"] == pytest.approx((2000 / 1500) ** (1 / 6) - 1)
    assert v["arr_growth_rate_yoy"] == pytest.approx(1.0)
    assert v["mrr_growth_rate"] == pytest.approx(500 / 1500)


def test_null_without_history_or_with_zero_base_and_shrinking_to_zero():
    v = values(growth_kpis(revenue([0.0, 500.0]), [MONTHS[1]]), MONTHS[1])
    assert math.isnan(v["mrr_growth_rate"])  # base 0
    assert v["arr_per_customer"] == pytest.approx(600.0)  # 12 x 500 / 10
    v = values(growth_kpis(revenue([500.0, 0.0], customers=[1.0, 0.0]), [MONTHS[1]]), MONTHS[1])
    assert v["mrr_growth_rate"] == pytest.approx(-1.0)
    assert math.isnan(v["arr_per_customer"])  # no customer
    empty = growth_kpis(kpi_frame([]).astype({"month": "datetime64[ns]"}), [MONTHS[0]])
    assert set(empty["metric"]) == set(GROWTH_UNITS) and empty["value"].isna().all()
