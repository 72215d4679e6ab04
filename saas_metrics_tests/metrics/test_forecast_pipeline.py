"""New MRR from the open pipeline and the deal funnel: deal facts, the estimate by hand, no look past the cut."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from saas_metrics.config import ForecastPolicy
from saas_metrics.metrics.forecast import (
    assumptions_frame,
    bridge_history,
    estimate_assumptions,
    project,
)
from saas_metrics.metrics.forecast_pipeline import (
    DEAL_COLUMNS,
    FactArrays,
    FunnelData,
    NewArrays,
    deal_facts,
    estimate_funnel,
    new_business,
    trial_facts,
)

T = pd.Timestamp
OCT, JAN, FEB, MAR, APR, MAY = (T(m) for m in ("2023-10-01", "2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01",
                                               "2024-05-01"))
NAT = pd.NaT


def facts() -> pd.DataFrame:
    """Deals as the CRM snapshot of late May has them (ACV already in the reporting currency).

    D1 Jan -> won Feb (customer A), D2 Jan -> lost Mar, D3 Feb -> won Mar (B), D4 Mar open,
    D5 Feb -> won May (C: after the cut, so open at March's end), D6 Apr -> won Apr (created after
    the cut), D7 Oct 2023 open (a stale deal, 5 months old at March's end)."""
    rows = [("D1", JAN, FEB, True, 1200.0, "A"), ("D2", JAN, MAR, False, 600.0, None),
            ("D3", FEB, MAR, True, 2400.0, "B"), ("D4", MAR, NAT, False, 1200.0, None),
            ("D5", FEB, MAY, True, 3600.0, "C"), ("D6", APR, APR, True, 9000.0, "D"),
            ("D7", OCT, NAT, False, 1000.0, None)]
    return pd.DataFrame(rows, columns=list(DEAL_COLUMNS))


def new() -> pd.DataFrame:
    """new movements: A 90 in Feb, B 160 in Mar, D 500 in Apr, C 300 in May."""
    return pd.DataFrame({"month": [FEB, MAR, APR, MAY], "customer_id": ["A", "B", "D", "C"],
                         "amount": [90.0, 160.0, 500.0, 300.0]})


def test_funnel_estimate_by_hand():
    f = estimate_funnel(facts(), new(), MAR, window_months=3, horizon=2, min_won_deals=4)
    # open at March's end by deal age (0, 1, 2, 3+): D4 (0), D5 (1: won only in May), D7 (5)
    assert list(f.open_acv) == [1200.0, 3600.0, 0.0, 1000.0] and f.open_deals == 3
    # h = 1, origins Jan and Feb. Open at Jan's end: D1, D2 (age 0), D7 (3+); D1 won in Feb.
    # Open at Feb's end: D3, D5 (age 0), D2 (age 1), D7 (3+); D3 won in Mar (D5's May win is unknown in March)
    assert list(f.conversion[0]) == pytest.approx([(1200 + 2400) / (1800 + 6000), 0.0, 0.0, 0.0])
    # h = 2, origin Jan only: nothing open at Jan's end was won in March
    assert list(f.conversion[1]) == [0.0, 0.0, 0.0, 0.0]
    # fresh(h): ACV won in a window month by deals created in the h months up to it, per window month
    assert list(f.fresh_acv) == pytest.approx([0.0, (1200 + 2400) / 3])
    assert f.typical_acv == pytest.approx(1200.0)  # (1,200 + 2,400) won over 3 months
    assert f.mrr_per_acv == pytest.approx((90 + 160) / 3600)  # A and B's new MRR over their deals' ACV
    assert f.won_deals == 2 and f.weight == pytest.approx(0.5)
    # new MRR in April with a trend of 100 and g = 1:
    # won(1) = 0.4615 x 1,200 = 553.8; 100 + 0.5 x 0.0694 x (553.8 - 1,200) = 77.56
    won_1 = 3600 / 7800 * 1200
    assert f.won_acv(1, 1.0) == pytest.approx(won_1)
    assert f.new_mrr(1, 100.0, 1.0) == pytest.approx(100 + 0.5 * 250 / 3600 * (won_1 - 1200))
    # h = 2: no open deal converts; fresh 1,200 = typical: the trend alone
    assert f.new_mrr(2, 100.0, 1.0) == pytest.approx(100.0)
    # beyond the estimated lags the typical month, grown like new customers: the trend
    assert f.new_mrr(5, 100.0, 1.5) == pytest.approx(100.0)
    # the correction never makes new MRR negative
    assert f.new_mrr(1, 10.0, 1.0) == 0.0
    # movements read from March on: D1's February win has no new MRR to match and is left out of f
    late = estimate_funnel(facts(), new()[new()["month"] >= MAR], MAR, window_months=3, horizon=2, min_won_deals=4)
    assert late.mrr_per_acv == pytest.approx(160 / 2400)


def test_funnel_uses_only_what_was_known_at_the_cut():
    full = estimate_funnel(facts(), new(), MAR, window_months=3, horizon=2, min_won_deals=4)
    # the same deals as a CRM export taken at March's end: D6 not created yet, D5 still open
    known = facts()
    known = known[known["created_month"] <= MAR].copy()
    known.loc[known["deal_id"] == "D5", ["closed_month", "won"]] = [NAT, False]
    at_cut = estimate_funnel(known, new()[new()["month"] <= MAR], MAR, window_months=3, horizon=2, min_won_deals=4)
    # and a future that turned out differently (D5 lost, C and D paying far more) changes nothing either
    other = facts().assign(won=lambda d: d["won"] & (d["deal_id"] != "D5"))
    other_new = new().assign(amount=lambda d: np.where(d["month"] > MAR, 1e6, d["amount"]))
    other_future = estimate_funnel(other, other_new, MAR, window_months=3, horizon=2, min_won_deals=4)
    for f in (at_cut, other_future):
        assert dataclasses.asdict(f).keys() == dataclasses.asdict(full).keys()
        for key, value in dataclasses.asdict(full).items():
            assert np.array_equal(np.asarray(value), np.asarray(dataclasses.asdict(f)[key])), key


def history() -> pd.DataFrame:
    """One band: A, B paying from Jan; E new in Feb and Mar's F (their new movements are not deals')."""
    rows = [(JAN, "A", 0, 100, "new", 100), (JAN, "B", 0, 100, "new", 100), (FEB, "A", 100, 100, "unchanged", 0),
            (FEB, "B", 100, 100, "unchanged", 0), (FEB, "E", 0, 100, "new", 100), (MAR, "A", 100, 100, "unchanged", 0),
            (MAR, "B", 100, 100, "unchanged", 0), (MAR, "E", 100, 100, "unchanged", 0), (MAR, "F", 0, 100, "new", 100)]
    mv = pd.DataFrame(rows, columns=["month", "customer_id", "mrr_start", "mrr_end", "movement", "amount"])
    return mv.assign(mrr_start_fx=mv["mrr_start"].astype(float), fx_impact=0.0)


def test_projection_with_the_pipeline_and_its_assumptions():
    mv = history()
    bridge = bridge_history(mv, pd.Series({"A": JAN, "B": JAN, "E": FEB, "F": MAR}), 0)
    policy = ForecastPolicy(by_cohort_age=False, estimation_window_months=3, new_customers_method="mean",
                            min_won_deals=4, horizon_months=2, scenarios={})
    a = estimate_assumptions(bridge, MAR, policy, funnel=FunnelData(new_business(mv), deals=facts()))
    # new customers 2, 1, 1 (mean 4/3, g = 1), ASP 100: trend 133.3 a month; no churn
    assert a.new_customers_mean == pytest.approx(4 / 3) and a.asp == pytest.approx(100.0)
    f = a.funnel
    assert f is not None and f.won_deals == 2
    # A's deal is linked to A's new MRR of January here (100), B's to 100: f = 200 / 3,600
    assert f.mrr_per_acv == pytest.approx(200 / 3600)
    out = project(a, 2)
    trend = 4 / 3 * 100
    assert out.iloc[0]["new_mrr"] == pytest.approx(trend + 0.5 * 200 / 3600 * (3600 / 7800 * 1200 - 1200))
    assert out.iloc[1]["new_mrr"] == pytest.approx(trend)
    assert out.iloc[0]["mrr"] == pytest.approx(400 + out.iloc[0]["new_mrr"])
    rows = assumptions_frame(a).set_index(["assumption", "band"])["value"]
    assert rows[("funnel_weight", "all")] == 0.5
    assert rows[("open_pipeline_acv", "age 1")] == 3600.0
    assert rows[("pipeline_conversion", "h1 age 0")] == pytest.approx(3600 / 7800)
    assert rows[("typical_won_acv", "all")] == pytest.approx(1200.0)
    assert rows[("trial_funnel_weight", "all")] == 0.0  # no trials given
    # trials in flight, a second stream: E's trial started in Jan and converted in Feb, F's in Feb -> Mar,
    # one trial started in March is open. p(1, age 0) = 2 / 2, fresh(1) = 0, typical 2 / 3 a month,
    # f = (100 + 100) / 2 converted trials, weight 2 / 4: April gets 0.5 x 100 x (1 - 2/3) more
    trials = pd.DataFrame([("tE", JAN, FEB, True, 1.0, "E"), ("tF", FEB, MAR, True, 1.0, "F"),
                           ("tX", MAR, NAT, False, 1.0, None)], columns=list(DEAL_COLUMNS))
    both = estimate_assumptions(bridge, MAR, policy, funnel=FunnelData(new_business(mv), deals=facts(), trials=trials))
    assert both.trial_funnel is not None and both.trial_funnel.mrr_per_acv == pytest.approx(100.0)
    with_trials = project(both, 2)
    assert with_trials.iloc[0]["new_mrr"] == pytest.approx(out.iloc[0]["new_mrr"] + 0.5 * 100 * (1 - 2 / 3))
    assert with_trials.iloc[1]["new_mrr"] == pytest.approx(trend)
    assert assumptions_frame(both).set_index(["assumption", "band"]).loc[("trial_conversion", "h1 age 0"), "value"] == 1.0
    # the trend alone when asked, or without deals
    for trend_only in (estimate_assumptions(bridge, MAR, policy.model_copy(update={"new_mrr_method": "trend"}),
                                            funnel=FunnelData(new_business(mv), deals=facts())),
                       estimate_assumptions(bridge, MAR, policy)):
        assert trend_only.funnel is None
        assert project(trend_only, 1).iloc[0]["new_mrr"] == pytest.approx(trend)
        assert assumptions_frame(trend_only).set_index("assumption").loc["funnel_weight", "value"] == 0.0


def test_deal_facts_from_crm_deals():
    deals = pd.DataFrame({
        "deal_id": ["1", "2", "3", "4", "5"], "company_id": ["c1", "c2", None, "c4", "c5"],
        "created_at": pd.to_datetime(["2024-01-20", "2024-02-03", "2024-02-10", "2024-03-01", "2024-03-05"]),
        "closed_at": pd.to_datetime(["2024-02-15", "2024-03-20", "2024-04-30", None, None]),
        "stage": ["closedwon", "closedlost", "contractsent", "closedwon", "appointmentscheduled"],
        "is_closed_won": [True, False, False, True, False], "amount": [1200.0, 600.0, 2400.0, 100.0, 500.0],
        "currency": ["EUR", "USD", "USD", "USD", None],
    })
    links = pd.DataFrame({"customer_id": ["cus_1", "cus_4"], "crm_company_id": ["c1", "c4"]})
    fx = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-03-01"]), "currency": ["EUR", "EUR"],
                       "rate_to_usd": [1.05, 1.10]})
    out = deal_facts(deals, links, fx, T("2024-03-31"), "USD").set_index("deal_id")
    assert "4" not in out.index  # won without a close date: cannot be placed in time
    assert out.loc["1", "acv"] == pytest.approx(1320.0)  # EUR at the rate in force on the rate date
    assert out.loc["1", "customer_id"] == "cus_1" and pd.isna(out.loc["2", "customer_id"])
    assert out.loc["1", "won"] and not out.loc["2", "won"]
    assert out.loc["2", "closed_month"] == MAR and out.loc["1", "created_month"] == JAN
    # an open deal's close date is only the expected one: it stays open
    assert pd.isna(out.loc["3", "closed_month"]) and not out.loc["3", "won"]
    assert out.loc["5", "acv"] == 500.0  # no currency: the reporting currency
    assert deal_facts(None, None, None, T("2024-03-31"), "USD").empty


def test_trial_facts_from_product_accounts():
    accounts = pd.DataFrame({
        "account_id": ["acc1", "acc2", "acc3", "acc4", "acc5"],
        "trial_started_at": pd.to_datetime(["2024-01-10", "2024-01-25", "2024-02-01", None, "2024-03-01"]),
        "billing_customer_id": ["cus1", None, None, "cus4", "cus5"],
    })
    links = pd.DataFrame({"customer_id": ["cus2"], "product_account_id": ["acc2"]})
    first_paid = pd.DataFrame({"customer_id": ["cus1", "cus2", "cus5"],
                               "first_paid_at": pd.to_datetime(["2024-01-24", "2024-02-08", "2023-12-01"])})
    out = trial_facts(accounts, links, first_paid).set_index("deal_id")
    # acc4 never started a trial; cus5 paid before its trial: not a new customer's trial
    assert list(out.index) == ["acc1", "acc2", "acc3"]
    assert out.loc["acc1", "closed_month"] == JAN and out.loc["acc1", "won"] and out.loc["acc1", "customer_id"] == "cus1"
    assert out.loc["acc2", "created_month"] == JAN and out.loc["acc2", "closed_month"] == FEB  # linked by identity
    assert pd.isna(out.loc["acc3", "closed_month"]) and not out.loc["acc3", "won"] and pd.isna(out.loc["acc3", "customer_id"])
    assert (out["acv"] == 1.0).all()
    assert trial_facts(None, None, None).empty


def test_funnel_without_linked_wins_has_no_weight():
    unlinked = facts().assign(customer_id=None)
    f = estimate_funnel(unlinked, new(), MAR, window_months=3, horizon=2, min_won_deals=4)
    assert f.mrr_per_acv == 0.0 and f.weight == 0.0
    assert f.new_mrr(1, 100.0, 1.0) == 100.0


def _same_funnel(a, b) -> None:
    assert dataclasses.asdict(a).keys() == dataclasses.asdict(b).keys()
    for key, value in dataclasses.asdict(a).items():
        assert np.array_equal(np.asarray(value), np.asarray(dataclasses.asdict(b)[key])), key


def test_funnel_from_arrays_converted_once_equals_the_frames():
    """The backtest converts the facts and the new movements to arrays once (FunnelData) and estimates every
    origin from them: the same assumptions as from the frames, origin by origin."""
    # C new twice by March (its 300 of May moved to Feb, and 40 more in March): its sum is 340 up to March,
    # 300 up to February; a new movement without a customer belongs to no one.
    extra = pd.DataFrame({"month": [FEB, MAR, MAR], "customer_id": ["C", "C", None], "amount": [300.0, 40.0, 7.0]})
    movements = pd.concat([new()[new()["customer_id"] != "C"], extra], ignore_index=True)
    deals = facts().assign(closed_month=lambda d: d["closed_month"].where(d["deal_id"] != "D5", MAR))
    data = FunnelData(movements, deals=deals)
    assert data.deal_arrays is data.deal_arrays and data.new_arrays is data.new_arrays  # made once
    assert data.trial_arrays is None
    for cut in (JAN, FEB, MAR, APR, MAY):
        from_frames = estimate_funnel(deals, movements, cut, window_months=3, horizon=2, min_won_deals=4)
        from_arrays = estimate_funnel(data.deal_arrays, data.new_arrays, cut, window_months=3, horizon=2, min_won_deals=4)
        _same_funnel(from_frames, from_arrays)
    # by hand at March: D1 (A, 90), D3 (B, 160) and D5 (C, 300 + 40) won in the window, ACV 1,200 + 2,400 + 3,600
    at_mar = estimate_funnel(data.deal_arrays, data.new_arrays, MAR, window_months=3, horizon=2, min_won_deals=4)
    assert at_mar.mrr_per_acv == pytest.approx((90 + 160 + 340) / 7200) and at_mar.won_deals == 3
    # at February D5 is not won yet: only A's deal is (B's closes in March)
    at_feb = estimate_funnel(data.deal_arrays, data.new_arrays, FEB, window_months=3, horizon=2, min_won_deals=4)
    assert at_feb.mrr_per_acv == pytest.approx(90 / 1200) and at_feb.won_deals == 1


def test_arrays_of_the_facts_and_of_new_business():
    a = FactArrays.of(facts())
    assert list(a.created_index[:2]) == [2024 * 12, 2024 * 12]  # January 2024
    assert a.closed_index[3] == -1 and np.isnat(a.closed[3])  # D4 is open
    assert list(a.acv) == [1200.0, 600.0, 2400.0, 1200.0, 3600.0, 9000.0, 1000.0]
    n = NewArrays.of(new())
    assert list(n.customers[n.codes]) == ["A", "B", "D", "C"] and list(n.month_index) == [24289, 24290, 24291, 24292]
    empty = estimate_funnel(FactArrays.of(facts().iloc[0:0]), NewArrays.of(new().iloc[0:0]), MAR, 3, 2, 4)
    assert empty.won_deals == 0 and empty.mrr_per_acv == 0.0 and list(empty.open_acv) == [0.0, 0.0, 0.0, 0.0]
