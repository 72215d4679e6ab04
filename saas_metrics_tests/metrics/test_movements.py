"""mrr_movements: classification, constant currency, fx_impact and the per-month bridge."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics import movements
from saas_metrics.metrics.movements import MRR_MOVEMENTS, mrr_movements
from saas_metrics.metrics.revenue_kpis import movement_bridge_residuals

T = pd.Timestamp
JAN, FEB, MAR = T("2024-01-01"), T("2024-02-01"), T("2024-03-01")
FX = pd.DataFrame({"date": [T("2024-01-31"), T("2024-02-29")], "currency": ["EUR", "EUR"], "rate_to_usd": [1.10, 1.20]})


def snap(month, cid, local, currency="USD", rate=1.0):
    return {"month": month, "customer_id": cid, "currency": currency, "mrr_local": local, "fx_rate": rate, "mrr": local * rate,
            "plan_tier": "pro", "billing_interval": "month", "subscriptions": 1}


SNAPSHOTS = pd.DataFrame([
    snap(JAN, "expand", 100.0), snap(FEB, "expand", 150.0),
    snap(JAN, "contract", 100.0), snap(FEB, "contract", 40.0),
    snap(JAN, "churn", 80.0),
    snap(FEB, "new", 70.0),
    snap(FEB, "back", 60.0),
    snap(JAN, "same", 30.0), snap(FEB, "same", 30.0),
    snap(JAN, "eur", 100.0, "EUR", 1.10), snap(FEB, "eur", 100.0, "EUR", 1.20),
    snap(JAN, "eur_up", 100.0, "EUR", 1.10), snap(FEB, "eur_up", 110.0, "EUR", 1.20),
])
FIRST_PAID = pd.Series({"expand": JAN, "contract": JAN, "churn": JAN, "new": FEB, "back": T("2023-06-01"), "same": JAN,
                        "eur": JAN, "eur_up": JAN})


def test_classification_amounts_and_fx():
    raw = mrr_movements(SNAPSHOTS, [FEB], FX, "USD", FIRST_PAID, RevenuePolicy())
    assert list(raw.columns) == MRR_MOVEMENTS.column_names
    out = raw.set_index("customer_id")
    expected = {
        "expand": ("expansion", 50.0), "contract": ("contraction", 60.0), "churn": ("churn", 80.0), "new": ("new", 70.0),
        "back": ("reactivation", 60.0), "same": ("unchanged", 0.0),
        # FX alone: 100 EUR both months -> unchanged, fx_impact 100 x (1.20 - 1.10) = 10
        "eur": ("unchanged", 0.0),
        # 100 -> 110 EUR at Feb's rate: expansion 12 (132 - 120), fx_impact 10
        "eur_up": ("expansion", 12.0),
    }
    for cid, (movement, amount) in expected.items():
        assert out.loc[cid, "movement"] == movement, cid
        assert out.loc[cid, "amount"] == pytest.approx(amount, abs=1e-9), cid
    assert out.loc["eur", "mrr_start"] == pytest.approx(110.0)
    assert out.loc["eur", "mrr_start_fx"] == pytest.approx(120.0)
    assert out.loc["eur", "fx_impact"] == pytest.approx(10.0)
    assert out.loc["eur_up", "fx_impact"] == pytest.approx(10.0)
    assert out.loc["churn", "mrr_end"] == 0.0 and out.loc["new", "mrr_start"] == 0.0


def test_bridge_holds_per_month():
    out = mrr_movements(SNAPSHOTS, [FEB], FX, "USD", FIRST_PAID, RevenuePolicy())
    jan_mrr = SNAPSHOTS.loc[SNAPSHOTS["month"] == JAN, "mrr"].sum()
    feb_mrr = SNAPSHOTS.loc[SNAPSHOTS["month"] == FEB, "mrr"].sum()
    signed = {"new": 70.0, "reactivation": 60.0, "expansion": 50.0 + 12.0, "contraction": -60.0, "churn": -80.0}
    assert feb_mrr == pytest.approx(jan_mrr + sum(signed.values()) + 20.0, abs=1e-9)
    assert movement_bridge_residuals(out)["residual"].abs().max() < 1e-9


def test_reactivation_policy_never_counts_returns_as_new():
    out = mrr_movements(SNAPSHOTS, [FEB], FX, "USD", FIRST_PAID, RevenuePolicy(reactivation="never")).set_index("customer_id")
    assert out.loc["back", "movement"] == "new"


def test_missing_first_paid_month_means_new():
    out = mrr_movements(SNAPSHOTS, [FEB], FX, "USD", pd.Series(dtype="datetime64[ns]"), RevenuePolicy()).set_index("customer_id")
    assert out.loc["back", "movement"] == "new"


def test_range_of_months_equals_month_by_month():
    more = pd.concat([SNAPSHOTS, pd.DataFrame([snap(MAR, "expand", 150.0), snap(MAR, "eur", 90.0, "EUR", 1.20)])], ignore_index=True)
    together = mrr_movements(more, [FEB, MAR], FX, "USD", FIRST_PAID, RevenuePolicy())
    single = pd.concat([mrr_movements(more, [m], FX, "USD", FIRST_PAID, RevenuePolicy()) for m in (FEB, MAR)], ignore_index=True)
    pd.testing.assert_frame_equal(together, single)
    mar = together[together["month"] == MAR].set_index("customer_id")
    assert mar.loc["eur", "movement"] == "contraction" and mar.loc["eur", "amount"] == pytest.approx(12.0)
    assert set(mar.index) == {"expand", "contract", "new", "back", "same", "eur", "eur_up"}
    assert (mar.drop(index=["expand", "eur"])["movement"] == "churn").all()


def test_a_range_computed_a_month_at_a_time_equals_the_range_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    more = pd.concat([SNAPSHOTS, pd.DataFrame([snap(MAR, "expand", 150.0), snap(MAR, "eur", 90.0, "EUR", 1.20)])], ignore_index=True)
    whole = mrr_movements(more, [FEB, MAR], FX, "USD", FIRST_PAID, RevenuePolicy())
    monkeypatch.setattr(movements, "MONTHS_PER_CHUNK", 1)
    pd.testing.assert_frame_equal(mrr_movements(more, [FEB, MAR], FX, "USD", FIRST_PAID, RevenuePolicy()), whole)
    # February: expand, contract, churn, new, back, same, eur, eur_up; March: the seven of the test above
    assert whole["month"].value_counts().to_dict() == {FEB: 8, MAR: 7}


def test_missing_rate_is_a_clear_error():
    snaps = pd.DataFrame([snap(JAN, "x", 10.0, "CHF", 1.0), snap(FEB, "x", 10.0, "CHF", 1.0)])
    with pytest.raises(ValueError, match="CHF"):
        mrr_movements(snaps, [FEB], FX, "USD", FIRST_PAID, RevenuePolicy())
