"""revenue_kpis, bridge_residuals, cmrr_kpis, cash_kpis and acv_kpis against hand-computed numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.revenue_kpis import (
    REVENUE_UNITS,
    acv_kpis,
    bridge_residuals,
    cash_kpis,
    cmrr_kpis,
    revenue_kpis,
)

T = pd.Timestamp
JAN, FEB, MAR = T("2024-01-01"), T("2024-02-01"), T("2024-03-01")
FX = pd.DataFrame({"date": [T("2024-01-01"), T("2024-02-10")], "currency": ["EUR", "EUR"], "rate_to_usd": [1.10, 1.20]})


def mv(month, cid, start, end, movement, amount, start_fx=None):
    start_fx = start if start_fx is None else start_fx
    return {"month": month, "customer_id": cid, "mrr_start": start, "mrr_start_fx": start_fx, "mrr_end": end,
            "movement": movement, "amount": amount, "fx_impact": start_fx - start}


def snap(month, cid, mrr):
    return {"month": month, "customer_id": cid, "currency": "USD", "mrr_local": mrr, "fx_rate": 1.0, "mrr": mrr}


# Feb: start 4 customers, MRR 1000 (at Feb's rate 1010: +10 fx on d)
MOVEMENTS = pd.DataFrame([
    mv(FEB, "a", 400.0, 500.0, "expansion", 100.0),
    mv(FEB, "b", 300.0, 250.0, "contraction", 50.0),
    mv(FEB, "c", 200.0, 0.0, "churn", 200.0),
    mv(FEB, "d", 100.0, 110.0, "unchanged", 0.0, start_fx=110.0),
    mv(FEB, "e", 0.0, 150.0, "new", 150.0),
    mv(FEB, "f", 0.0, 90.0, "reactivation", 90.0),
])
SNAPSHOTS = pd.DataFrame([snap(FEB, c, m) for c, m in [("a", 500.0), ("b", 250.0), ("d", 110.0), ("e", 150.0), ("f", 90.0)]]
                         + [snap(JAN, c, m) for c, m in [("a", 400.0), ("b", 300.0), ("c", 200.0), ("d", 100.0)]])


def values(kpis: pd.DataFrame, month=FEB) -> dict[str, float]:
    return kpis[kpis["month"] == month].set_index("metric")["value"].to_dict()


def test_headline_revenue_and_retention_numbers():
    kpis = revenue_kpis(MOVEMENTS, SNAPSHOTS, [FEB])
    assert list(kpis.columns) == KPI_MONTHLY.column_names
    v = values(kpis)
    assert v["mrr"] == pytest.approx(1100.0) and v["arr"] == pytest.approx(13200.0)
    assert v["customers"] == 5 and v["arpa"] == pytest.approx(220.0)
    assert (v["new_mrr"], v["expansion_mrr"], v["contraction_mrr"], v["churned_mrr"], v["reactivation_mrr"]) == (150.0, 100.0, 50.0, 200.0, 90.0)
    assert v["fx_impact_mrr"] == pytest.approx(10.0)
    assert v["net_new_mrr"] == pytest.approx(90.0)  # 150 + 100 + 90 - 50 - 200
    assert (v["new_customers"], v["churned_customers"], v["reactivated_customers"]) == (1, 1, 1)
    assert v["expansion_share"] == pytest.approx(100 / 340)
    assert v["asp"] == pytest.approx(150.0)
    assert v["quick_ratio"] == pytest.approx(340 / 250)
    # retention: start 4 customers, start MRR at Feb's rate 1010
    assert v["customer_churn_rate"] == pytest.approx(0.25)
    assert v["customer_churn_rate_stripe"] == pytest.approx(1 / 5)
    assert v["customer_retention_rate"] == pytest.approx(0.75)
    assert v["gross_mrr_churn_rate"] == pytest.approx(250 / 1010)
    assert v["net_mrr_churn_rate"] == pytest.approx((250 - 100 - 90) / 1010)
    assert v["grr"] == pytest.approx(760 / 1010)
    assert v["nrr"] == pytest.approx(860 / 1010)
    assert v["annualised_customer_churn_rate"] == pytest.approx(1 - 0.75**12)
    assert v["annualised_gross_mrr_churn_rate"] == pytest.approx(1 - (1 - 250 / 1010) ** 12)
    assert set(REVENUE_UNITS) <= set(v)
    assert set(kpis["segment"]) == {"all"} and not kpis["is_provisional"].any()


def test_bridge_identity_from_kpis():
    kpis = revenue_kpis(MOVEMENTS, SNAPSHOTS, [FEB])
    res = bridge_residuals(kpis, previous_mrr=pd.Series({JAN: 1000.0}))
    # 1100 = 1000 + 90 + 10
    assert res["residual"].abs().max() < 0.005
    assert math.isnan(bridge_residuals(kpis)["residual"].iloc[0])  # M-1 unknown
    broken = bridge_residuals(kpis, previous_mrr=pd.Series({JAN: 990.0}))
    assert broken["residual"].iloc[0] == pytest.approx(10.0)


def test_month_without_data_has_zero_counts_and_null_ratios():
    v = values(revenue_kpis(MOVEMENTS.iloc[:0], SNAPSHOTS.iloc[:0], [MAR]), MAR)
    assert v["mrr"] == 0.0 and v["customers"] == 0.0
    for ratio in ("arpa", "customer_churn_rate", "nrr", "grr", "quick_ratio", "asp", "expansion_share"):
        assert math.isnan(v[ratio]), ratio


def iv(sid, item, start, end, mrr, interval="month", currency="USD"):
    return {"customer_id": f"c_{sid}", "subscription_id": sid, "item_id": item, "plan_id": "p", "plan_tier": "pro",
            "billing_interval": interval, "currency": currency, "start_at": T(start), "end_at": T(end) if end else None, "mrr": mrr,
            "source": "billing"}


def test_cmrr_components():
    intervals = pd.DataFrame([
        iv("live", "i1", "2023-10-01", None, 1000.0),
        iv("future", "i2", "2024-03-15", None, 300.0),                    # signed in Jan, starts in March
        iv("leaving", "i3", "2023-05-01", "2024-03-01", 200.0),           # cancellation requested on Jan 20
        iv("down", "i4", "2023-05-01", "2024-02-10", 500.0),              # downgrade scheduled for Feb 10
        iv("down", "i4", "2024-02-10", None, 350.0),
        iv("eur", "i5", "2023-05-01", None, 100.0, currency="EUR"),
    ])
    subscriptions = pd.DataFrame([
        {"subscription_id": "live", "customer_id": "c_live", "created_at": T("2023-10-01")},
        {"subscription_id": "future", "customer_id": "c_future", "created_at": T("2024-01-05")},
        {"subscription_id": "leaving", "customer_id": "c_leaving", "created_at": T("2023-05-01"), "canceled_at": T("2024-01-20"),
         "ended_at": T("2024-03-01")},
        {"subscription_id": "down", "customer_id": "c_down", "created_at": T("2023-05-01")},
        {"subscription_id": "eur", "customer_id": "c_eur", "created_at": T("2023-05-01")},
    ])
    v = values(cmrr_kpis(intervals, subscriptions, [JAN, FEB], FX, "USD"), JAN)
    # MRR 1000 + 200 + 500 + 110 = 1810; + 300 signed - 200 cancelling - 150 downgrade = 1760
    assert v["cmrr"] == pytest.approx(1760.0)
    assert v["carr"] == pytest.approx(12 * 1760.0)
    feb = values(cmrr_kpis(intervals, subscriptions, [JAN, FEB], FX, "USD"), FEB)
    # Feb: 1000 + 200 + 350 + 120, + 300 signed, - 200 still cancelling (ends 2024-03-01 >= E)
    assert feb["cmrr"] == pytest.approx(1000 + 350 + 120 + 300)


def test_cash_collected_nets_refunds_at_their_dates_rates():
    payments = pd.DataFrame([
        {"payment_id": "p1", "customer_id": "a", "amount": 100.0, "currency": "USD", "status": "succeeded", "created_at": T("2024-02-03")},
        {"payment_id": "p2", "customer_id": "b", "amount": 100.0, "currency": "EUR", "status": "succeeded", "created_at": T("2024-02-05")},
        {"payment_id": "p3", "customer_id": "b", "amount": 100.0, "currency": "EUR", "status": "succeeded", "created_at": T("2024-02-20")},
        {"payment_id": "p4", "customer_id": "c", "amount": 999.0, "currency": "USD", "status": "failed", "created_at": T("2024-02-20")},
        {"payment_id": "p5", "customer_id": "c", "amount": 50.0, "currency": "USD", "status": "succeeded", "created_at": T("2024-03-01")},
    ])
    refunds = pd.DataFrame([
        {"refund_id": "r1", "payment_id": "p1", "customer_id": "a", "amount": 40.0, "currency": "USD", "status": "succeeded", "created_at": T("2024-02-25")},
        {"refund_id": "r2", "payment_id": "p1", "customer_id": "a", "amount": 60.0, "currency": "USD", "status": "failed", "created_at": T("2024-02-25")},
    ])
    v = values(cash_kpis(payments, refunds, FX, [FEB, MAR], "USD"), FEB)
    assert v["cash_collected"] == pytest.approx(100 + 110 + 120 - 40)
    assert values(cash_kpis(payments, refunds, FX, [FEB, MAR], "USD"), MAR)["cash_collected"] == pytest.approx(50.0)


def test_acv_from_deals_and_fallback():
    deals = pd.DataFrame([
        {"deal_id": "d1", "closed_at": T("2024-02-03"), "is_closed_won": True, "amount": 12000.0, "currency": "USD"},
        {"deal_id": "d2", "closed_at": T("2024-02-13"), "is_closed_won": True, "amount": 10000.0, "currency": "EUR"},
        {"deal_id": "d3", "closed_at": T("2024-02-13"), "is_closed_won": False, "amount": 99999.0, "currency": "USD"},
    ])
    new_mrr, new_customers = pd.Series({FEB: 3000.0, MAR: 0.0}), pd.Series({FEB: 3.0, MAR: 0.0})
    got = values(acv_kpis(deals, new_mrr, new_customers, FX, [FEB], "USD"))
    assert got["acv"] == pytest.approx((12000 + 12000) / 2)
    fallback = acv_kpis(deals.assign(amount=None), new_mrr, new_customers, FX, [FEB, MAR], "USD")
    assert values(fallback)["acv"] == pytest.approx(12 * 3000 / 3)
    assert math.isnan(values(fallback, MAR)["acv"])
