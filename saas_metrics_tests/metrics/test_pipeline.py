"""pipeline_kpis: open deals at month end, pipeline value and stage-weighted pipeline."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics.pipeline import PIPELINE_UNITS, pipeline_kpis

T = pd.Timestamp
JAN, FEB = T("2024-01-01"), T("2024-02-01")
FX = pd.DataFrame({"date": [T("2024-01-01"), T("2024-02-01")], "currency": ["EUR", "EUR"], "rate_to_usd": [1.10, 1.20]})


def deals(**extra: list) -> pd.DataFrame:
    frame = pd.DataFrame({
        "deal_id": ["d1", "d2", "d3", "d4", "d5", "d6"],
        "created_at": [T("2024-01-05"), T("2024-01-10"), T("2024-01-20"), T("2024-02-03"), T("2023-12-01"), T("2024-01-02")],
        "closed_at": [pd.NaT, pd.NaT, T("2024-02-10"), pd.NaT, T("2024-01-15"), pd.NaT],
        "stage": ["presentationscheduled", "contractsent", "closedwon", "mystage", "closedlost", "closedlost"],
        "is_closed_won": [False, False, True, False, False, False],
        "amount": [10_000.0, 20_000.0, 5_000.0, 1_000.0, 7_000.0, 9_000.0],
        "currency": ["USD", "USD", "USD", "EUR", "USD", "USD"],
        **extra,
    })
    return frame


def values(kpis: pd.DataFrame, month: pd.Timestamp) -> dict[str, float]:
    return kpis[kpis["month"] == month].set_index("metric")["value"].to_dict()


def test_open_pipeline_and_weighted_pipeline_by_hand():
    kpis = pipeline_kpis(deals(), FX, [JAN, FEB], AcquisitionPolicy(), "USD")
    jan = values(kpis, JAN)
    # open at Feb 1: d1, d2, d3 (closed 02-10 since); d5 closed 01-15; d4 created in Feb; d6 lost without date: out
    assert jan["open_deals"] == 3
    assert jan["pipeline_value"] == pytest.approx(35_000.0)
    # 0.6 x 10,000 + 0.9 x 20,000 + default 0.5 x 5,000 (d3 closed since: its January stage is unknown)
    assert jan["weighted_pipeline_value"] == pytest.approx(6_000 + 18_000 + 2_500)
    feb = values(kpis, FEB)
    # open at Mar 1: d1, d2 and d4 (EUR 1,000 at Feb's last rate 1.20, unknown stage -> 0.5)
    assert feb["open_deals"] == 3
    assert feb["pipeline_value"] == pytest.approx(30_000 + 1_200)
    assert feb["weighted_pipeline_value"] == pytest.approx(6_000 + 18_000 + 600)


def test_exported_stage_probability_and_settings_win_over_defaults():
    frame = deals(stage_probability=[0.3, None, None, None, None, None])
    policy = AcquisitionPolicy(deal_stage_probabilities={"contractsent": 1.0}, deal_stage_probability_default=0.0)
    feb = values(pipeline_kpis(frame, FX, [FEB], policy, "USD"), FEB)
    assert feb["weighted_pipeline_value"] == pytest.approx(0.3 * 10_000 + 1.0 * 20_000 + 0.0)


def test_no_deals_gives_zero_rows_for_every_month():
    kpis = pipeline_kpis(None, None, [JAN], AcquisitionPolicy(), "USD")
    assert set(kpis["metric"]) == set(PIPELINE_UNITS) and (kpis["value"] == 0).all()


def test_every_emitted_metric_is_in_the_catalog():
    from saas_metrics.metrics.acquisition_catalog import catalog_mismatches

    assert catalog_mismatches(pipeline_kpis(deals(), FX, [JAN], AcquisitionPolicy(), "USD")) == []
