"""Figure builders of the dashboard, pinned to hand-computed numbers on tiny frames."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.reports import charts
from saas_metrics.reports.data import ATTRIBUTION_CREDITS, COHORT_RETENTION, conform, headline_wide

JAN, FEB, MAR = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01"), pd.Timestamp("2025-03-01")


def headline(rows: dict[pd.Timestamp, dict[str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index").astype("float64")
    frame.index.name = "month"
    return frame


FEB_MOVES = {"new_mrr": 200.0, "expansion_mrr": 50.0, "reactivation_mrr": 10.0,
             "contraction_mrr": 30.0, "churned_mrr": 80.0, "fx_impact_mrr": -5.0}


def test_bridge_steps_from_start_to_end_mrr() -> None:
    # 1000 + 200 + 50 + 10 - 30 - 80 - 5 = 1145
    head = headline({JAN: {"mrr": 1000.0}, FEB: {"mrr": 1145.0, **FEB_MOVES}})
    bridge = charts.bridge_values(head, FEB)
    assert bridge["label"].tolist() == ["Start MRR", "New", "Expansion", "Reactivation", "Contraction",
                                        "Churn", "FX impact", "End MRR"]
    assert bridge["value"].tolist() == [1000.0, 200.0, 50.0, 10.0, -30.0, -80.0, -5.0, 1145.0]
    assert bridge["measure"].tolist() == ["absolute"] + ["relative"] * 6 + ["total"]


def test_waterfall_values_sum_to_end_mrr() -> None:
    head = headline({JAN: {"mrr": 1000.0}, FEB: {"mrr": 1145.0, **FEB_MOVES}})
    trace = charts.mrr_bridge_figure(head, FEB).data[0]
    assert trace.type == "waterfall"
    assert list(trace.measure) == ["absolute"] + ["relative"] * 6 + ["total"]
    assert sum(trace.y[:-1]) == pytest.approx(1145.0, abs=0.005)
    assert trace.text[-1] == "$1,145" and trace.text[4] == "-$30"


def test_bridge_shows_a_residue_instead_of_hiding_it() -> None:
    # the movements explain 1145 but MRR is 1160: 15 unreconciled
    head = headline({JAN: {"mrr": 1000.0}, FEB: {"mrr": 1160.0, **FEB_MOVES}})
    bridge = charts.bridge_values(head, FEB)
    assert bridge["label"].iloc[-2] == "Unreconciled"
    assert bridge["value"].iloc[-2] == pytest.approx(15.0)
    assert bridge["value"].iloc[:-1].sum() == pytest.approx(1160.0)


def test_bridge_takes_churn_as_an_outflow_whatever_its_sign_and_missing_moves_as_zero() -> None:
    head = headline({JAN: {"mrr": 500.0}, FEB: {"mrr": 420.0, "churned_mrr": -100.0, "new_mrr": 20.0}})
    bridge = charts.bridge_values(head, FEB).set_index("label")["value"]
    assert bridge["Churn"] == -100.0
    assert bridge["Expansion"] == 0.0
    assert "Unreconciled" not in bridge.index  # 500 + 20 - 100 = 420


def test_bridge_without_previous_month_starts_at_end_minus_net_movements() -> None:
    head = headline({FEB: {"mrr": 1145.0, **FEB_MOVES}})
    bridge = charts.bridge_values(head, FEB)
    assert bridge["value"].iloc[0] == pytest.approx(1000.0)


def test_bridge_is_none_without_mrr_or_movements() -> None:
    assert charts.bridge_values(headline({FEB: {"new_mrr": 5.0}}), FEB) is None
    assert charts.bridge_values(headline({JAN: {"mrr": 1.0}, FEB: {"mrr": 2.0}}), FEB) is None
    assert charts.mrr_bridge_figure(headline({FEB: {"mrr": 2.0}}), FEB) is None


def test_headline_wide_keeps_only_all_segment_and_fills_month_gaps() -> None:
    kpi = conform(pd.DataFrame({
        "month": [JAN, MAR, JAN],
        "metric": ["mrr", "mrr", "mrr"],
        "segment": ["all", "all", "plan_tier"],
        "segment_value": ["all", "all", "pro"],
        "value": [100.0, 130.0, 60.0],
    }), KPI_MONTHLY)
    wide = headline_wide(kpi)
    assert wide.index.tolist() == [JAN, FEB, MAR]
    assert wide["mrr"].iloc[0] == 100.0 and math.isnan(wide["mrr"].iloc[1]) and wide["mrr"].iloc[2] == 130.0


def test_trend_has_mrr_and_arr_on_two_axes() -> None:
    head = headline({JAN: {"mrr": 100.0, "arr": 1200.0}, FEB: {"mrr": 110.0, "arr": 1320.0}})
    fig = charts.mrr_trend_figure(head)
    assert [t.name for t in fig.data] == ["MRR", "ARR (right axis)"]
    assert list(fig.data[1].y) == [1200.0, 1320.0]
    assert fig.layout.yaxis2.range[1] == pytest.approx(12 * fig.layout.yaxis.range[1])
    assert charts.mrr_trend_figure(headline({JAN: {"arr": 1.0}})) is None


def test_churn_and_unit_economics_draw_only_what_exists() -> None:
    head = headline({JAN: {"customer_churn_rate": 0.05, "nrr": 1.02, "cac": 5000.0},
                     FEB: {"customer_churn_rate": 0.04, "nrr": 1.01, "cac": 4000.0}})
    churn = charts.churn_retention_figure(head)
    assert [t.name for t in churn.data] == ["Customer churn", "NRR (right)"]
    economics = charts.unit_economics_figure(head)
    assert [t.name for t in economics.data] == ["CAC"]
    assert charts.churn_retention_figure(headline({JAN: {"mrr": 1.0}})) is None
    assert charts.unit_economics_figure(headline({JAN: {"mrr": 1.0}})) is None


def test_unit_economics_marks_the_3x_target() -> None:
    head = headline({JAN: {"ltv": 15000.0, "cac": 5000.0, "ltv_to_cac": 3.0}})
    fig = charts.unit_economics_figure(head)
    target = next(t for t in fig.data if t.name == "3× target")
    assert list(target.y) == [3, 3] and target.yaxis == "y2"


def test_funnel_sums_the_trailing_months_and_skips_missing_stages() -> None:
    head = headline({
        JAN: {"unique_visitors": 9999.0, "leads": 999.0},  # outside the 2-month window
        FEB: {"unique_visitors": 1000.0, "leads": 100.0, "new_customers": 4.0},
        MAR: {"unique_visitors": 3000.0, "leads": 100.0, "mqls": 50.0, "new_customers": 6.0},
    })
    stages = charts.funnel_values(head, MAR, months=2)
    assert stages.to_dict("records") == [
        {"label": "Visitors", "value": 4000.0}, {"label": "Leads", "value": 200.0},
        {"label": "MQLs", "value": 50.0}, {"label": "New customers", "value": 10.0},
    ]
    fig = charts.funnel_figure(head, MAR, months=2)
    assert fig.layout.xaxis.type == "log"
    # New customers are not a subset of MQLs (self-serve sign-ups): their count only.
    assert list(fig.data[0].text) == ["4,000", "200 · 5.0% of visitors", "50 · 25.0% of leads", "10"]
    # Ticks at powers of ten only: no minor 2 / 5 labels on the log axis.
    assert (fig.layout.xaxis.tick0, fig.layout.xaxis.dtick) == (0, 1)


def test_funnel_shows_only_true_subset_shares() -> None:
    # 160 SQLs and 227 new customers: '141.9 % of SQLs' would be no conversion at all.
    head = headline({MAR: {"unique_visitors": 50_000.0, "leads": 900.0, "mqls": 400.0, "sqls": 160.0,
                           "new_customers": 227.0}})
    assert list(charts.funnel_figure(head, MAR, months=1).data[0].text) == [
        "50,000", "900 · 1.8% of visitors", "400 · 44.4% of leads", "160 · 40.0% of MQLs", "227"]
    # A stage whose parent is missing, or that outnumbers it (contacts created before the window), shows no share.
    gaps = headline({MAR: {"leads": 100.0, "sqls": 30.0, "mqls": 120.0}})
    assert list(charts.funnel_figure(gaps, MAR, months=1).data[0].text) == ["100", "120", "30 · 25.0% of MQLs"]


def test_funnel_is_none_without_counts_and_rejects_an_empty_window() -> None:
    assert charts.funnel_values(headline({MAR: {"mrr": 1.0}}), MAR) is None
    with pytest.raises(ValueError, match="count must be >= 1"):
        charts.funnel_values(headline({MAR: {"leads": 1.0}}), MAR, months=0)


def cohorts(rows: list[tuple[pd.Timestamp, int, int, int]]) -> pd.DataFrame:
    return conform(pd.DataFrame(
        [{"cohort_month": c, "age_months": a, "cohort_customers": n, "active_customers": k, "logo_retention": k / n}
         for c, a, n, k in rows]), COHORT_RETENTION)


def test_cohort_matrix_is_cohort_by_age_oldest_first() -> None:
    frame = cohorts([(FEB, 0, 4, 4), (JAN, 0, 10, 10), (JAN, 1, 10, 8), (JAN, 2, 10, 5), (FEB, 1, 4, 1)])
    matrix = charts.cohort_matrix(frame)
    assert matrix.index.tolist() == [JAN, FEB]
    assert matrix.columns.tolist() == [0, 1, 2]
    assert matrix.loc[JAN].tolist() == [1.0, 0.8, 0.5]
    assert matrix.loc[FEB, 1] == 0.25 and math.isnan(matrix.loc[FEB, 2])
    assert charts.cohort_matrix(frame, max_cohorts=1).index.tolist() == [FEB]


def test_cohort_heatmap_labels_cohorts_with_their_size() -> None:
    fig = charts.cohort_heatmap_figure(cohorts([(JAN, 0, 10, 10), (JAN, 1, 10, 7)]))
    heat = fig.data[0]
    assert list(heat.y) == ["Jan 2025 (10)"]
    assert heat.text[0].tolist() == ["100%", "70%"]
    assert charts.cohort_heatmap_figure(COHORT_RETENTION.empty_frame()) is None


def test_attribution_totals_per_channel_and_model_in_the_window() -> None:
    frame = conform(pd.DataFrame({
        "month": [JAN, FEB, FEB, FEB, MAR, MAR],
        "model": ["linear", "linear", "first_touch", "first_touch", "linear", "first_touch"],
        "channel": ["organic", "paid_search", "paid_search", "organic", "organic", "organic"],
        "new_mrr": [999.0, 60.0, 100.0, 0.0, 40.0, 40.0],
    }), ATTRIBUTION_CREDITS)
    totals = charts.attribution_totals(frame, MAR, months=2)
    assert totals.columns.tolist() == ["first_touch", "linear"]  # the order of docs/metric-definitions.md#attribution
    assert totals.index.tolist() == ["paid_search", "organic"]  # by credited new MRR
    assert totals.loc["paid_search"].tolist() == [100.0, 60.0]
    assert totals.loc["organic"].tolist() == [40.0, 40.0]
    fig = charts.attribution_figure(frame, MAR, months=2)
    assert [t.name for t in fig.data] == ["First touch", "Linear"] and fig.layout.barmode == "group"
    assert charts.attribution_totals(frame, pd.Timestamp("2026-01-01")) is None


@pytest.mark.parametrize(("model", "label"), [("u_shaped", "U-shaped"), ("first_touch", "First touch"),
                                              ("time_decay", "Time decay")])
def test_model_label(model: str, label: str) -> None:
    assert charts.model_label(model) == label


def test_currency_prefix() -> None:
    assert charts.currency_prefix("usd") == "$"
    assert charts.currency_prefix("EUR") == "€"
    assert charts.currency_prefix("CHF") == "CHF "



def test_churned_mrr_by_reason_orders_reasons_and_keeps_unknown_last() -> None:
    from saas_metrics.reports.guide_charts import (
        cash_runway_figure,
        churn_reason_values,
        churn_reasons_figure,
    )

    rows = [(JAN, "too_expensive", 100.0), (JAN, "unknown", 500.0), (FEB, "unused", 300.0), (FEB, "too_expensive", 50.0),
            (FEB, "unknown", 0.0), (MAR, "unknown", 10.0)]
    kpi = conform(pd.DataFrame([{"month": m, "metric": "churned_mrr", "segment": "churn_reason", "segment_value": r,
                                 "value": v, "unit": "currency"} for m, r, v in rows]), KPI_MONTHLY)
    wide = churn_reason_values(kpi, MAR)
    # unused 300 > too_expensive 150; unknown (510) last however large
    assert list(wide.columns) == ["unused", "too_expensive", "unknown"]
    assert wide.loc[JAN].tolist() == [0.0, 100.0, 500.0] and wide.loc[FEB].sum() == 350.0
    fig = churn_reasons_figure(kpi, MAR)
    assert fig.layout.barmode == "stack" and fig.data[-1].marker.color == "#94a3b8"
    assert churn_reason_values(kpi, MAR - pd.DateOffset(months=24)) is None  # nothing in that window
    head = headline({JAN: {"cash_balance": 1_000.0, "runway_months": 10.0}, FEB: {"cash_balance": 900.0, "net_burn": 100.0}})
    assert [t.name for t in cash_runway_figure(head).data] == ["Cash balance", "Net burn", "Runway, months (right)"]
    assert cash_runway_figure(headline({JAN: {"mrr": 1.0}})) is None
