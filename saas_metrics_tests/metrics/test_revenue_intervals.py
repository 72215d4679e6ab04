"""build_revenue_intervals: line MRR formula, status/discount/trial/delinquency segmentation."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics.revenue_intervals import (
    REVENUE_INTERVALS,
    billing_interval_label,
    build_revenue_intervals,
    interval_months,
)

T = pd.Timestamp


def price(price_id: str, amount: float, interval: str = "month", count: int = 1, **kw: object) -> dict:
    return {"price_id": price_id, "plan_tier": kw.get("tier", "pro"), "unit_amount": amount, "currency": kw.get("currency", "USD"),
            "price_type": kw.get("price_type", "recurring"), "interval": interval, "interval_count": count,
            "usage_type": kw.get("usage_type", "licensed")}


def build(prices, subs, items, history=None, discounts=None, invoices=None, periods=None, policy=None, customers=None):
    return build_revenue_intervals(
        pd.DataFrame(customers or [{"customer_id": "c1", "currency": "USD"}]),
        pd.DataFrame(prices), pd.DataFrame(subs), pd.DataFrame(items),
        pd.DataFrame(history) if history else None, pd.DataFrame(discounts) if discounts else None,
        pd.DataFrame(invoices) if invoices else None, pd.DataFrame(periods) if periods else None,
        policy or RevenuePolicy(), "USD",
    )


def sub(sid="s1", cid="c1", start="2024-01-01", **kw):
    return {"subscription_id": sid, "customer_id": cid, "status": kw.get("status", "active"), "start_at": T(start),
            "trial_end": kw.get("trial_end"), "canceled_at": kw.get("canceled_at"), "ended_at": kw.get("ended_at")}


def item(vid, price_id, qty=1.0, start="2024-01-01", end=None, sid="s1", item_id="i1"):
    return {"item_version_id": vid, "item_id": item_id, "subscription_id": sid, "price_id": price_id, "quantity": qty,
            "valid_from": T(start), "valid_to": T(end) if end else None}


def test_interval_months_and_labels():
    unit = pd.Series(["month", "month", "year", "year", "week", "day", "month"])
    count = pd.Series([1, 3, 1, 2, 1, 1, 6])
    assert interval_months(unit, count).round(6).tolist() == [1.0, 3.0, 12.0, 24.0, round(12 / 52, 6), round(12 / 365, 6), 6.0]
    assert billing_interval_label(unit, count).tolist() == ["month", "quarter", "year", "multi_year", "week", "other", "other"]


def test_line_mrr_quantity_discount_and_intervals():
    prices = [price("m", 50.0), price("y", 12000.0, "year"), price("y2", 48000.0, "year", 2), price("q", 900.0, "month", 3),
              price("w", 52.0, "week")]
    subs = [sub("s1")]
    items = [item("v1", "m", 3, item_id="a"), item("v2", "y", item_id="b"), item("v3", "y2", item_id="c"),
             item("v4", "q", item_id="d"), item("v5", "w", 2, item_id="e")]
    out = build(prices, subs, items, discounts=[{"discount_id": "d", "subscription_id": "s1", "percent_off": 10.0,
                                                "start_at": T("2024-01-01"), "end_at": None}])
    mrr = out.set_index("item_id")["mrr"]
    # 3 x 50 x 0.9 / 1; 12000 x 0.9 / 12; 48000 x 0.9 / 24; 900 x 0.9 / 3; 2 x 52 x 0.9 / (12/52)
    assert mrr["a"] == pytest.approx(135.0)
    assert mrr["b"] == pytest.approx(900.0)
    assert mrr["c"] == pytest.approx(1800.0)
    assert mrr["d"] == pytest.approx(270.0)
    assert mrr["e"] == pytest.approx(2 * 52 * 0.9 * 52 / 12)
    assert out.set_index("item_id")["billing_interval"].to_dict() == {"a": "month", "b": "year", "c": "multi_year", "d": "quarter", "e": "week"}
    assert list(out.columns) == REVENUE_INTERVALS.column_names
    assert (out["source"] == "billing").all() and out["end_at"].isna().all()


def test_one_time_metered_and_trial_are_zero():
    prices = [price("m", 100.0), price("setup", 500.0, price_type="one_time", interval=None),
              price("meter", 0.5, usage_type="metered")]
    out = build(prices, [sub(trial_end=T("2024-01-15"))],
                [item("v1", "m"), item("v2", "setup", item_id="i2"), item("v3", "meter", 1000, item_id="i3")])
    assert out[["item_id", "start_at", "mrr"]].to_dict("records") == [{"item_id": "i1", "start_at": T("2024-01-15"), "mrr": 100.0}]


def test_status_history_pause_and_past_due_cutoff():
    history = [
        {"subscription_id": "s1", "status": "active", "valid_from": T("2024-01-01"), "valid_to": T("2024-02-10")},
        {"subscription_id": "s1", "status": "paused", "valid_from": T("2024-02-10"), "valid_to": T("2024-03-05")},
        {"subscription_id": "s1", "status": "active", "valid_from": T("2024-03-05"), "valid_to": T("2024-04-20")},
        {"subscription_id": "s1", "status": "past_due", "valid_from": T("2024-04-20"), "valid_to": T("2024-06-10")},
        {"subscription_id": "s1", "status": "active", "valid_from": T("2024-06-10"), "valid_to": None},
    ]
    out = build([price("m", 100.0)], [sub()], [item("v1", "m")], history=history)
    spans = list(zip(out["start_at"], out["end_at"], strict=True))
    # past_due counts for 30 days from 2024-04-20 (until 2024-05-20), then nothing until active again
    assert spans == [(T("2024-01-01"), T("2024-02-10")), (T("2024-03-05"), T("2024-05-20")), (T("2024-06-10"), pd.NaT)]
    out45 = build([price("m", 100.0)], [sub()], [item("v1", "m")], history=history, policy=RevenuePolicy(delinquency_days=45))
    assert out45["end_at"].tolist()[1] == T("2024-06-04")


def test_churn_recognition_policies():
    subs = [sub(ended_at=T("2024-05-01"), canceled_at=T("2024-03-10"), status="canceled")]
    period_end = build([price("m", 100.0)], subs, [item("v1", "m")])
    assert period_end["end_at"].tolist() == [T("2024-05-01")]
    cancellation = build([price("m", 100.0)], subs, [item("v1", "m")], policy=RevenuePolicy(churn_recognition="cancellation"))
    assert cancellation["end_at"].tolist() == [T("2024-03-10")]


def test_discount_window_and_version_change_segments():
    discounts = [{"discount_id": "d", "subscription_id": "s1", "percent_off": 50.0, "start_at": T("2024-01-01"), "end_at": T("2024-03-01")}]
    items = [item("v1", "m", 1, end="2024-04-15"), item("v2", "m", 2, start="2024-04-15")]
    out = build([price("m", 100.0)], [sub()], items, discounts=discounts)
    assert out[["start_at", "end_at", "mrr"]].to_dict("records") == [
        {"start_at": T("2024-01-01"), "end_at": T("2024-03-01"), "mrr": 50.0},
        {"start_at": T("2024-03-01"), "end_at": T("2024-04-15"), "mrr": 100.0},
        {"start_at": T("2024-04-15"), "end_at": pd.NaT, "mrr": 200.0},
    ]


def test_no_history_uses_invoices_for_past_due_start():
    invoices = [{"invoice_id": "in1", "customer_id": "c1", "subscription_id": "s1", "status": "open", "created_at": T("2024-03-01"),
                 "due_at": T("2024-03-08"), "paid_at": None}]
    out = build([price("m", 100.0)], [sub(status="past_due")], [item("v1", "m")], invoices=invoices)
    # active until the due date (2024-03-08), then 30 more days of past_due: one merged interval
    assert out[["start_at", "end_at", "mrr"]].to_dict("records") == [
        {"start_at": T("2024-01-01"), "end_at": T("2024-04-07"), "mrr": 100.0},
    ]


def test_periods_only_path():
    periods = [
        {"subscription_id": "p1", "customer_id": "c9", "start_date": T("2024-01-01"), "end_date": T("2024-06-01"),
         "monthly_amount": 250.0, "currency": None, "plan_id": None},
        {"subscription_id": "p2", "customer_id": "c8", "start_date": T("2024-02-01"), "end_date": None,
         "monthly_amount": 90.0, "currency": "eur", "plan_id": "basic"},
    ]
    out = build_revenue_intervals(None, None, None, None, None, None, None, pd.DataFrame(periods), RevenuePolicy(), "USD")
    assert out[["customer_id", "currency", "plan_tier", "billing_interval", "mrr", "source"]].to_dict("records") == [
        {"customer_id": "c8", "currency": "EUR", "plan_tier": "basic", "billing_interval": "month", "mrr": 90.0, "source": "periods"},
        {"customer_id": "c9", "currency": "USD", "plan_tier": "unknown", "billing_interval": "month", "mrr": 250.0, "source": "periods"},
    ]


def test_empty_inputs_give_empty_schema_frame():
    out = build_revenue_intervals(None, None, None, None, None, None, None, None, RevenuePolicy(), "USD")
    assert out.empty and list(out.columns) == REVENUE_INTERVALS.column_names


def test_unknown_price_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown price_id"):
        build([price("m", 100.0)], [sub()], [item("v1", "nope")])
