"""customer_mrr_snapshots, first_paid_months and the FX helper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from saas_metrics.metrics.fx import rate_on
from saas_metrics.metrics.mrr import CUSTOMER_MRR, customer_mrr_snapshots, first_paid_months

T = pd.Timestamp
FX = pd.DataFrame({
    "date": [T("2024-01-15"), T("2024-01-31"), T("2024-02-29"), T("2024-01-31"), T("2024-02-10")],
    "currency": ["EUR", "EUR", "EUR", "GBP", "GBP"],
    "rate_to_usd": [1.05, 1.10, 1.20, 1.25, 1.30],
})


def iv(cid, start, end, mrr, currency="USD", sid=None, tier="pro", interval="month"):
    return {"customer_id": cid, "subscription_id": sid or f"s_{cid}", "item_id": "i", "plan_id": "p", "plan_tier": tier,
            "billing_interval": interval, "currency": currency, "start_at": T(start), "end_at": T(end) if end else None,
            "mrr": mrr, "source": "billing"}


def test_rate_on_latest_rate_and_cross_rates():
    dates = [T("2024-01-31"), T("2024-02-28"), T("2024-02-29"), T("2024-02-29")]
    assert rate_on(FX, ["EUR", "EUR", "EUR", "USD"], dates, "USD").tolist() == [1.10, 1.10, 1.20, 1.0]
    # EUR in GBP on 2024-02-29: 1.20 / 1.30; USD in GBP: 1 / 1.30; GBP in GBP: 1
    got = rate_on(FX, ["EUR", "USD", "GBP"], [T("2024-02-29")] * 3, "GBP")
    assert got == pytest.approx([1.20 / 1.30, 1 / 1.30, 1.0])


def test_rate_on_missing_rate_names_currency_and_date():
    with pytest.raises(ValueError, match=r"no FX rate for EUR on or before 2024-01-10"):
        rate_on(FX, ["EUR"], [T("2024-01-10")], "USD")
    with pytest.raises(ValueError, match="JPY"):
        rate_on(FX, ["JPY"], [T("2024-03-31")], "USD")


def test_half_open_month_end_rule():
    intervals = pd.DataFrame([
        iv("a", "2024-01-10", "2024-02-01", 100.0),   # ends exactly on the 1st of Feb: counts in Jan only
        iv("b", "2024-01-05", "2024-01-25", 100.0),   # starts and ends inside Jan: never counts
        iv("c", "2024-01-31", None, 100.0),           # open
        iv("d", "2024-02-01", "2024-02-29", 100.0),   # ends on Feb 29 before the last instant
    ])
    out = customer_mrr_snapshots(intervals, [T("2024-01-01"), T("2024-02-01")], FX, "USD")
    assert out[["month", "customer_id"]].values.tolist() == [[T("2024-01-01"), "a"], [T("2024-01-01"), "c"], [T("2024-02-01"), "c"]]
    assert list(out.columns) == CUSTOMER_MRR.column_names


def test_currency_conversion_at_month_last_day_and_largest_line():
    intervals = pd.DataFrame([
        iv("e", "2024-01-01", None, 100.0, "EUR", sid="s1", tier="starter"),
        iv("e", "2024-01-01", None, 300.0, "EUR", sid="s2", tier="growth", interval="year"),
        iv("u", "2024-01-01", None, 50.0),
    ])
    out = customer_mrr_snapshots(intervals, [T("2024-01-01"), T("2024-02-01")], FX, "USD").set_index(["month", "customer_id"])
    jan, feb = out.loc[(T("2024-01-01"), "e")], out.loc[(T("2024-02-01"), "e")]
    assert (jan["mrr_local"], jan["fx_rate"], jan["mrr"]) == (400.0, 1.10, pytest.approx(440.0))
    assert (feb["fx_rate"], feb["mrr"]) == (1.20, pytest.approx(480.0))
    assert (jan["plan_tier"], jan["billing_interval"], jan["subscriptions"]) == ("growth", "year", 2)
    assert out.loc[(T("2024-02-01"), "u"), "mrr"] == 50.0


def test_multi_currency_customer_one_row_summed():
    intervals = pd.DataFrame([iv("m", "2024-01-01", None, 100.0, "EUR", sid="s1"), iv("m", "2024-01-01", None, 200.0, "USD", sid="s2")])
    row = customer_mrr_snapshots(intervals, [T("2024-01-01")], FX, "USD").iloc[0]
    # 100 EUR x 1.10 + 200 USD = 310; dominant currency USD (200 > 110)
    assert (row["currency"], row["mrr_local"], row["fx_rate"]) == ("USD", 200.0, 1.0)
    assert row["mrr"] == pytest.approx(310.0)


def test_range_equals_single_months():
    rng = np.random.default_rng(7)
    starts = pd.to_datetime("2023-01-01") + pd.to_timedelta(rng.integers(0, 400, 60), unit="D")
    ends = (starts + pd.to_timedelta(rng.integers(1, 300, 60), unit="D")).where(rng.random(60) < 0.7)
    intervals = pd.DataFrame({"customer_id": [f"c{i % 20}" for i in range(60)], "subscription_id": [f"s{i}" for i in range(60)],
                              "currency": "USD", "start_at": starts, "end_at": ends, "mrr": rng.integers(1, 100, 60).astype(float)})
    months = list(pd.date_range("2023-01-01", "2024-06-01", freq="MS"))
    together = customer_mrr_snapshots(intervals, months, FX, "USD")
    single = pd.concat([customer_mrr_snapshots(intervals, [m], FX, "USD") for m in months], ignore_index=True)
    pd.testing.assert_frame_equal(together, single)


def test_non_first_day_month_is_rejected():
    with pytest.raises(ValueError, match="first days of months"):
        customer_mrr_snapshots(pd.DataFrame([iv("a", "2024-01-01", None, 1.0)]), [T("2024-01-15")], FX, "USD")


def test_first_paid_months_skips_intervals_inside_one_month():
    intervals = pd.DataFrame([
        iv("a", "2024-01-05", "2024-01-20", 100.0),  # never at a month-end
        iv("a", "2024-03-10", None, 100.0),
        iv("b", "2024-02-01", "2024-03-01", 10.0),
    ])
    assert first_paid_months(intervals).to_dict() == {"a": T("2024-03-01"), "b": T("2024-02-01")}


def test_first_paid_months_of_no_paid_interval_merges_on_customer_id():
    """No revenue at all (a run without billing): an empty result whose customer_id index merges
    with a frame of string ids instead of raising 'merge on int64 and str'."""
    empty = first_paid_months(pd.DataFrame([iv("a", "2024-01-05", None, 0.0)]))
    assert empty.empty and empty.index.name == "customer_id" and empty.index.dtype == object
    ids = pd.DataFrame({"customer_id": pd.Series([], dtype="str"), "first_paid_at": pd.Series([], dtype="datetime64[ns]")})
    assert empty.rename("first_paid_month").reset_index().merge(ids, on="customer_id", how="left").empty
