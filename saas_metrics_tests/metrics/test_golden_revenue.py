"""Golden revenue tests: tiny hand-built canonical frames through the whole pure pipeline
(build_revenue_intervals -> customer_mrr_snapshots -> mrr_movements -> revenue_kpis), every
expected number computed by hand in the comments."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics.cohorts import cohort_retention
from saas_metrics.metrics.ltv import ltv_kpis
from saas_metrics.metrics.movements import mrr_movements
from saas_metrics.metrics.mrr import customer_mrr_snapshots, first_paid_months
from saas_metrics.metrics.revenue_intervals import build_revenue_intervals
from saas_metrics.metrics.revenue_kpis import bridge_residuals, cash_kpis, revenue_kpis

T = pd.Timestamp
M = {name: T(f"2024-{i:02d}-01") for i, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
NO_FX = pd.DataFrame({"date": [T("2020-01-01")], "currency": ["EUR"], "rate_to_usd": [1.0]})


def price(price_id, amount, interval="month", count=1, currency="USD", price_type="recurring", usage_type="licensed", tier="pro"):
    return {"price_id": price_id, "plan_tier": tier, "unit_amount": amount, "currency": currency, "price_type": price_type,
            "interval": interval, "interval_count": count, "usage_type": usage_type}


PRICES = [
    price("m150", 150.0, tier="starter"), price("m300", 300.0, tier="growth"), price("m500", 500.0, tier="enterprise"),
    price("m100", 100.0), price("eur100", 100.0, currency="EUR"),
    price("annual", 12_000.0, "year"), price("two_year", 48_000.0, "year", 2), price("quarterly", 900.0, "month", 3),
    price("setup", 1_000.0, interval=None, price_type="one_time"), price("api_calls", 0.01, usage_type="metered"),
]


def sub(sid, cid, start, **kw):
    return {"subscription_id": sid, "customer_id": cid, "status": kw.get("status", "active"), "created_at": T(start), "start_at": T(start),
            "trial_end": kw.get("trial_end"), "canceled_at": kw.get("canceled_at"), "ended_at": kw.get("ended_at")}


def item(sid, price_id, start, end=None, qty=1.0, item_id=None, version=None):
    item_id = item_id or f"{sid}_{price_id}"
    return {"item_version_id": version or f"{item_id}@{start}", "item_id": item_id, "subscription_id": sid, "price_id": price_id,
            "quantity": qty, "valid_from": T(start), "valid_to": T(end) if end else None}


@dataclass
class Run:
    intervals: pd.DataFrame
    snapshots: pd.DataFrame
    movements: pd.DataFrame
    kpis: pd.DataFrame

    def mrr(self, month: str, customer: str | None = None) -> float:
        s = self.snapshots[self.snapshots["month"] == M[month]]
        if customer is not None:
            s = s[s["customer_id"] == customer]
        return float(s["mrr"].sum())

    def movement(self, month: str, customer: str) -> tuple[str, float] | None:
        m = self.movements[(self.movements["month"] == M[month]) & (self.movements["customer_id"] == customer)]
        return None if m.empty else (m["movement"].iloc[0], round(float(m["amount"].iloc[0]), 2))

    def kpi(self, month: str, metric: str) -> float:
        k = self.kpis[(self.kpis["month"] == M[month]) & (self.kpis["metric"] == metric)]
        return float(k["value"].iloc[0])


def run(subs, items, *, history=None, discounts=None, invoices=None, periods=None, fx=NO_FX, policy=None, last="jun") -> Run:
    policy = policy or RevenuePolicy()
    frame = lambda rows: pd.DataFrame(rows) if rows else None  # noqa: E731
    intervals = build_revenue_intervals(
        None, pd.DataFrame(PRICES), frame(subs), frame(items), frame(history), frame(discounts), frame(invoices),
        frame(periods), policy, "USD",
    )
    months = list(pd.date_range(M["jan"], M[last], freq="MS"))
    snapshots = customer_mrr_snapshots(intervals, [T("2023-12-01"), *months], fx, "USD")
    movements = mrr_movements(snapshots, months, fx, "USD", first_paid_months(intervals), policy)
    kpis = revenue_kpis(movements, snapshots, months)
    residual = bridge_residuals(kpis, previous_mrr=pd.Series({T("2023-12-01"): snapshots.loc[snapshots["month"] == T("2023-12-01"), "mrr"].sum()}))
    assert residual["residual"].abs().max() < 0.005  # the bridge holds to the cent in every scenario
    return Run(intervals, snapshots, movements, kpis)


# --- one company holding every default-policy scenario (one pipeline run for all of them) ---
PAUSE_HISTORY = [
    {"subscription_id": "pause", "status": "active", "valid_from": T("2024-01-01"), "valid_to": T("2024-02-10")},
    {"subscription_id": "pause", "status": "paused", "valid_from": T("2024-02-10"), "valid_to": T("2024-04-05")},
    {"subscription_id": "pause", "status": "active", "valid_from": T("2024-04-05"), "valid_to": None},
]
PAST_DUE_HISTORY = [
    {"subscription_id": "late", "status": "active", "valid_from": T("2024-01-01"), "valid_to": T("2024-01-20")},
    {"subscription_id": "late", "status": "past_due", "valid_from": T("2024-01-20"), "valid_to": T("2024-04-01")},
    {"subscription_id": "late", "status": "canceled", "valid_from": T("2024-04-01"), "valid_to": None},
]
PAST_DUE = dict(subs=[sub("late", "late", "2024-01-01", status="canceled", ended_at=T("2024-04-01"))],
                items=[item("late", "m100", "2024-01-01")], history=PAST_DUE_HISTORY)
CANCELLED = dict(subs=[sub("cancel", "cancel", "2024-01-01", status="canceled", canceled_at=T("2024-02-10"), ended_at=T("2024-03-31"))],
                 items=[item("cancel", "m100", "2024-01-01")])
RETURNING = dict(subs=[sub("ret1", "ret", "2024-01-01", status="canceled", ended_at=T("2024-02-10")), sub("ret2", "ret", "2024-04-05")],
                 items=[item("ret1", "m100", "2024-01-01"), item("ret2", "m300", "2024-04-05")])
COMPANY_SUBS = [
    sub("annual", "annual", "2024-01-15"), sub("quarterly", "quarterly", "2024-01-01"),
    sub("two_year", "two_year", "2024-01-01", ended_at=T("2026-01-01")),
    sub("upgrade", "upgrade", "2024-01-01"),
    sub("blip", "blip", "2024-03-03", status="canceled", canceled_at=T("2024-03-10"), ended_at=T("2024-03-20")),
    sub("pause", "pause", "2024-01-01"),
    sub("promo", "promo", "2024-01-01"),
    sub("two1", "two_subs", "2024-01-01"), sub("two2", "two_subs", "2024-01-01", status="canceled", ended_at=T("2024-03-15")),
    sub("trial", "trial", "2024-01-01", trial_end=T("2024-02-14")),
    sub("first", "first", "2024-01-01", status="canceled", ended_at=T("2024-03-01")),
    *PAST_DUE["subs"], *CANCELLED["subs"], *RETURNING["subs"],
]
COMPANY_ITEMS = [
    item("annual", "annual", "2024-01-15"), item("quarterly", "quarterly", "2024-01-01"), item("two_year", "two_year", "2024-01-01"),
    item("upgrade", "m100", "2024-01-01", "2024-02-15", qty=1, item_id="up"), item("upgrade", "m100", "2024-02-15", qty=3, item_id="up"),
    item("blip", "m100", "2024-03-03"), item("pause", "m100", "2024-01-01"), item("promo", "m100", "2024-01-01", qty=2),
    item("two1", "m300", "2024-01-01"), item("two2", "m100", "2024-01-01"),
    item("trial", "m100", "2024-01-01"), item("trial", "setup", "2024-01-01"), item("trial", "api_calls", "2024-01-01", qty=50_000),
    item("first", "m100", "2024-01-01"),
    *PAST_DUE["items"], *CANCELLED["items"], *RETURNING["items"],
]
COMPANY_DISCOUNTS = [{"discount_id": "d", "subscription_id": "promo", "percent_off": 25.0, "start_at": T("2024-01-01"), "end_at": T("2024-03-01")}]
COMPANY_INVOICES = [{"invoice_id": "in1", "customer_id": "trial", "subscription_id": "trial", "status": "paid", "created_at": T("2024-02-14"),
                     "paid_at": T("2024-02-14"), "currency": "USD", "subtotal": 1100.0, "tax": 220.0, "total": 1320.0, "amount_paid": 1320.0}]


@pytest.fixture(scope="module")
def company() -> Run:
    return run(COMPANY_SUBS, COMPANY_ITEMS, history=PAUSE_HISTORY + PAST_DUE_HISTORY, discounts=COMPANY_DISCOUNTS,
               invoices=COMPANY_INVOICES, last="dec")


def test_seed_example_five_accounts():
    plans = ["m150", "m300", "m300", "m500", "m500"]
    r = run([sub(f"s{i}", f"c{i}", "2024-01-01") for i in range(5)],
            [item(f"s{i}", p, "2024-01-01") for i, p in enumerate(plans)], last="jan")
    # 150 + 2 x 300 + 2 x 500 = 1,750; ARPA 1,750 / 5 = 350; ARR 12 x 1,750 = 21,000
    assert r.kpi("jan", "mrr") == 1750.0
    assert r.kpi("jan", "arpa") == 350.0
    assert r.kpi("jan", "arr") == 21_000.0
    assert r.kpi("jan", "mrr") == r.kpi("jan", "arpa") * r.kpi("jan", "customers")
    assert r.kpi("jan", "new_mrr") == 1750.0 and r.kpi("jan", "new_customers") == 5


def test_clv_survey_example_churn_5_percent_arpa_500():
    subs = [sub(f"s{i}", f"c{i}", "2024-01-01", ended_at=T("2024-02-10") if i == 0 else None) for i in range(20)]
    r = run(subs, [item(f"s{i}", "m500", "2024-01-01") for i in range(20)], last="feb")
    # Feb: 1 of 20 churns -> 5 %; ARPA 19 x 500 / 19 = 500; CLV 500 / 0.05 = 10,000
    assert r.kpi("feb", "customer_churn_rate") == pytest.approx(0.05)
    assert r.kpi("feb", "arpa") == 500.0
    wide = r.kpis[r.kpis["metric"].isin(["arpa", "customer_churn_rate"])].pivot(index="month", columns="metric", values="value")
    ltv = ltv_kpis(wide["arpa"], wide["customer_churn_rate"], [M["feb"]], RevenuePolicy())
    assert ltv.set_index("metric").loc["clv_simple", "value"] == pytest.approx(10_000.0)
    # the guide's annual spend x lifetime: 6,000 x (1 / (12 x 0.05)) years = 10,000, the same figure
    assert ltv.set_index("metric").loc["clv_annual_spend", "value"] == pytest.approx(10_000.0)


def test_annual_quarterly_and_two_year_plans(company: Run):
    # 12,000 / 12 = 1,000 every month (billed once a year); 900 / 3 = 300; 48,000 / 24 = 2,000
    for month in ("jan", "jun", "dec"):
        assert company.mrr(month, "annual") == 1000.0
        assert company.mrr(month, "quarterly") == 300.0
        assert company.mrr(month, "two_year") == 2000.0
    jan = company.snapshots[company.snapshots["month"] == M["jan"]].set_index("customer_id")["billing_interval"]
    assert (jan["annual"], jan["quarterly"], jan["two_year"]) == ("year", "quarter", "multi_year")
    assert company.movement("feb", "annual") == ("unchanged", 0.0)


def test_mid_month_upgrade_lands_in_the_month_end_snapshot(company: Run):
    assert company.mrr("jan", "upgrade") == 100.0 and company.mrr("feb", "upgrade") == 300.0
    assert company.movement("feb", "upgrade") == ("expansion", 200.0)


def test_same_month_start_and_cancel_has_no_mrr_and_no_movement(company: Run):
    assert "blip" not in set(company.snapshots["customer_id"]) and "blip" not in set(company.movements["customer_id"])


def test_pause_is_churn_then_reactivation(company: Run):
    # ChartMogul: a pause is churn at the first month-end without MRR, then reactivation when it resumes
    assert company.movement("feb", "pause") == ("churn", 100.0)
    assert company.movement("mar", "pause") is None
    assert company.movement("apr", "pause") == ("reactivation", 100.0)


def test_refund_reduces_cash_not_mrr(company: Run):
    payments = pd.DataFrame([{"payment_id": f"p{m}", "customer_id": "upgrade", "amount": 100.0, "currency": "USD", "status": "succeeded",
                              "created_at": M[m] + pd.Timedelta(days=1)} for m in ("jan", "feb")])
    refunds = pd.DataFrame([{"refund_id": "r", "payment_id": "pfeb", "customer_id": "upgrade", "amount": 100.0, "currency": "USD",
                             "status": "succeeded", "created_at": T("2024-02-20")}])
    cash = cash_kpis(payments, refunds, NO_FX, [M["jan"], M["feb"]], "USD").set_index("month")["value"]
    assert cash[M["jan"]] == 100.0 and cash[M["feb"]] == 0.0
    assert company.mrr("mar", "upgrade") == 300.0 and company.movement("mar", "upgrade") == ("unchanged", 0.0)


def test_discount_ending_is_expansion(company: Run):
    # 2 x 100 x 0.75 = 150 in Jan and Feb; the discount ends on Mar 1 -> 200 at the end of March
    assert company.mrr("feb", "promo") == 150.0 and company.mrr("mar", "promo") == 200.0
    assert company.movement("mar", "promo") == ("expansion", 50.0)


def test_two_subscriptions_one_cancelled_is_contraction(company: Run):
    assert company.movement("mar", "two_subs") == ("contraction", 100.0)
    assert company.mrr("mar", "two_subs") == 300.0


def test_multi_currency_fx_move_constant_currency_and_bridge():
    fx = pd.DataFrame({"date": [T("2023-12-31"), T("2024-01-31"), T("2024-02-29")], "currency": ["EUR"] * 3,
                       "rate_to_usd": [1.0, 1.10, 1.25]})
    subs = [sub("e1", "eur_flat", "2024-01-01"), sub("e2", "eur_up", "2024-01-01"), sub("u", "usd", "2024-01-01")]
    items = [item("e1", "eur100", "2024-01-01"), item("e2", "eur100", "2024-01-01", "2024-02-10", item_id="e2i"),
             item("e2", "eur100", "2024-02-10", qty=2, item_id="e2i"), item("u", "m100", "2024-01-01")]
    r = run(subs, items, fx=fx, last="feb")
    # Jan: 110 + 110 + 100 = 320. Feb: 125 + 250 + 100 = 475.
    assert r.kpi("jan", "mrr") == pytest.approx(320.0) and r.kpi("feb", "mrr") == pytest.approx(475.0)
    # eur_flat: 100 EUR both months -> unchanged, fx 100 x 0.15 = 15
    assert r.movement("feb", "eur_flat") == ("unchanged", 0.0)
    # eur_up: 100 -> 200 EUR at Feb's rate: expansion 250 - 125 = 125 (not 140), fx 15
    assert r.movement("feb", "eur_up") == ("expansion", 125.0)
    assert r.kpi("feb", "fx_impact_mrr") == pytest.approx(30.0)
    # 320 + 125 + 30 = 475
    assert r.kpi("jan", "mrr") + r.kpi("feb", "net_new_mrr") + r.kpi("feb", "fx_impact_mrr") == pytest.approx(r.kpi("feb", "mrr"), abs=0.005)


def test_churn_and_reactivation_and_never_policy(company: Run):
    assert company.movement("feb", "ret") == ("churn", 100.0)
    assert company.movement("apr", "ret") == ("reactivation", 300.0)
    never = run(RETURNING["subs"], RETURNING["items"], policy=RevenuePolicy(reactivation="never"), last="apr")
    assert never.movement("apr", "ret") == ("new", 300.0)


def test_past_due_beyond_the_cutoff(company: Run):
    # 30 days from Jan 20 -> counts until Feb 19: paying at the end of Jan, churns in Feb
    assert company.mrr("jan", "late") == 100.0 and company.movement("feb", "late") == ("churn", 100.0)
    late = run(PAST_DUE["subs"], PAST_DUE["items"], history=PAST_DUE["history"], policy=RevenuePolicy(delinquency_days=45), last="mar")
    # 45 days -> until Mar 5: still paying at the end of Feb, churns in March
    assert late.mrr("feb", "late") == 100.0 and late.movement("mar", "late") == ("churn", 100.0)


def test_trial_one_time_metered_and_tax_excluded(company: Run):
    # trial until Feb 14 -> 0 in Jan; then only the licensed 100 (no setup fee, no usage, no tax)
    assert company.mrr("jan", "trial") == 0.0 and company.mrr("feb", "trial") == 100.0
    assert company.movement("feb", "trial") == ("new", 100.0)


def test_end_on_the_first_of_next_month_churns_next_month(company: Run):
    assert company.mrr("feb", "first") == 100.0
    assert company.movement("feb", "first") == ("unchanged", 0.0) and company.movement("mar", "first") == ("churn", 100.0)


def test_cancellation_churn_policy(company: Run):
    assert company.movement("mar", "cancel") == ("churn", 100.0)  # ended Mar 31: no MRR at March's last instant
    by_request = run(CANCELLED["subs"], CANCELLED["items"], policy=RevenuePolicy(churn_recognition="cancellation"), last="mar")
    assert by_request.movement("feb", "cancel") == ("churn", 100.0)


def test_company_headline_numbers(company: Run):
    # March, by hand: annual 1000, quarterly 300, two_year 2000, upgrade 300, promo 200, two_subs 300, trial 100
    # (pause 0, late 0, first 0 since Mar 1, cancel 0 since Mar 31, ret 0) = 4,200 over 7 customers
    assert company.kpi("mar", "mrr") == pytest.approx(4200.0)
    assert company.kpi("mar", "customers") == 7
    # March movements: promo +50, two_subs -100, first -100, cancel -100
    assert company.kpi("mar", "expansion_mrr") == 50.0 and company.kpi("mar", "contraction_mrr") == 100.0
    assert company.kpi("mar", "churned_mrr") == 200.0 and company.kpi("mar", "churned_customers") == 2
    assert company.kpi("mar", "net_new_mrr") == -250.0


def test_periods_only_path_matches_billing():
    periods = [
        {"subscription_id": "p1", "customer_id": "c", "start_date": T("2024-01-01"), "end_date": T("2024-02-15"), "monthly_amount": 100.0},
        {"subscription_id": "p1", "customer_id": "c", "start_date": T("2024-02-15"), "end_date": T("2024-04-01"), "monthly_amount": 300.0},
        {"subscription_id": "p2", "customer_id": "d", "start_date": T("2024-01-10"), "end_date": None, "monthly_amount": 50.0},
    ]
    r = run([], [], periods=periods, last="apr")
    assert (r.mrr("jan"), r.mrr("feb"), r.mrr("mar"), r.mrr("apr")) == (150.0, 350.0, 350.0, 50.0)
    assert r.movement("feb", "c") == ("expansion", 200.0) and r.movement("apr", "c") == ("churn", 300.0)
    assert set(r.intervals["source"]) == {"periods"}


def test_cohorts_from_the_pipeline():
    subs = [sub("a", "a", "2024-01-01"), sub("b", "b", "2024-01-01", status="canceled", ended_at=T("2024-02-10")),
            sub("c", "c", "2024-02-01")]
    r = run(subs, [item("a", "m100", "2024-01-01"), item("b", "m300", "2024-01-01"), item("c", "m500", "2024-02-01")], last="mar")
    out = cohort_retention(r.snapshots, first_paid_months(r.intervals), [M["mar"]], max_age=36).set_index("cohort_month")
    # Jan cohort: a (100) + b (300) = 400 at k=0; at March only a -> logo 1/2, net MRR 100/400
    assert out.loc[M["jan"], "logo_retention"] == 0.5 and out.loc[M["jan"], "net_mrr_retention"] == 0.25
    assert out.loc[M["feb"], "logo_retention"] == 1.0 and out.loc[M["feb"], "age_months"] == 1
