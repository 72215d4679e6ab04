"""The MRR oracle on hand-built billing records (docs/metric-definitions.md#line-mrr)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from saas_metrics.sample_data.catalog import build_catalog
from saas_metrics.sample_data.ground_truth import customer_mrr

T = pd.Timestamp
MONTHS = [dt.datetime(2025, m, 1) for m in (1, 2, 3, 4)]


def _frames(items: list[tuple], statuses: list[tuple], discounts: list[tuple] = ()) -> pd.DataFrame:
    subs = sorted({i[0] for i in items} | {s[0] for s in statuses})
    return customer_mrr(
        pd.DataFrame([{"subscription_id": s, "price_id": p, "quantity": q, "valid_from": T(a), "valid_to": T(b) if b else pd.NaT}
                      for s, p, q, a, b in items]),
        pd.DataFrame([{"subscription_id": s, "status": st, "valid_from": T(a), "valid_to": T(b) if b else pd.NaT}
                      for s, st, a, b in statuses]),
        pd.DataFrame([{"subscription_id": s, "percent_off": p, "start": T(a), "end": T(b) if b else pd.NaT}
                      for s, p, a, b in discounts], columns=["subscription_id", "percent_off", "start", "end"]),
        pd.DataFrame({"subscription_id": subs, "customer_id": [f"cus_{s}" for s in subs]}),
        build_catalog(),
        MONTHS,
    )


def _mrr(frame: pd.DataFrame, customer: str) -> dict[str, float]:
    rows = frame[frame["customer_id"] == customer]
    return {m.strftime("%Y-%m"): v for m, v in zip(rows["month"], rows["mrr"], strict=True)}


def test_monthly_seats_annual_plan_and_half_open_end() -> None:
    # 3 seats x $25 monthly; ends exactly on 1 March -> still counted at the end of February.
    # Growth yearly EUR: 2 seats x 420 / 12 = 70.
    out = _frames(
        [("a", "price_starter_m1_usd", 3, "2025-01-15", "2025-03-01"), ("b", "price_growth_y1_eur", 2, "2025-01-10", None)],
        [("a", "active", "2025-01-15", "2025-03-01"), ("a", "canceled", "2025-03-01", None), ("b", "active", "2025-01-10", None)],
    )
    assert _mrr(out, "cus_a") == {"2025-01": 75.0, "2025-02": 75.0}
    assert _mrr(out, "cus_b") == pytest.approx({"2025-01": 70.0, "2025-02": 70.0, "2025-03": 70.0, "2025-04": 70.0})
    assert set(out.loc[out["customer_id"] == "cus_b", "currency"]) == {"EUR"}


def test_trial_pause_discount_metered_and_setup_fee() -> None:
    out = _frames(
        [("c", "price_enterprise_m3_usd", 10, "2025-01-01", None),  # 10 seats x $270 a quarter / 3 = $900 a month
         ("c", "price_api_calls_usd", None, "2025-01-01", None),  # metered: 0
         ("c", "price_setup_usd", 1, "2025-01-01", None)],  # one-time: 0
        [("c", "trialing", "2025-01-01", "2025-02-10"), ("c", "active", "2025-02-10", "2025-03-05"),
         ("c", "paused", "2025-03-05", "2025-04-05"), ("c", "active", "2025-04-05", None)],
        [("c", 20.0, "2025-02-10", "2025-04-01")],  # 20 % off until 1 April (exclusive) -> applies at end of March only if active
    )
    # Jan trialing 0; Feb active with 20 % off: 720; Mar paused: 0; Apr active, discount ended: 900.
    assert _mrr(out, "cus_c") == pytest.approx({"2025-02": 720.0, "2025-04": 900.0})


def test_past_due_counts_for_thirty_days_then_stops() -> None:
    out = _frames(
        [("d", "price_growth_m1_gbp", 1, "2024-12-01", None), ("e", "price_growth_m1_gbp", 1, "2024-12-01", None)],
        [("d", "active", "2024-12-01", "2025-01-20"), ("d", "past_due", "2025-01-20", None),
         ("e", "active", "2024-12-01", "2025-02-01"), ("e", "past_due", "2025-02-01", "2025-03-18"), ("e", "canceled", "2025-03-18", None)],
    )
    # d: past_due from 20 Jan; end of Jan within 30 days -> 36; end of Feb (39 days later) -> 0.
    assert _mrr(out, "cus_d") == {"2025-01": 36.0}
    # e: past_due from 1 Feb; end of Feb = 1 Mar = 28 days -> counts; end of March -> canceled.
    assert _mrr(out, "cus_e") == {"2025-01": 36.0, "2025-02": 36.0}
