"""NPS = % promoters - % detractors, with the response count; NULL without responses."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.metrics.nps import nps_kpis

T = pd.Timestamp
JAN, FEB = T("2024-01-01"), T("2024-02-01")


def responses(scores: list[int | None], month: str = "2024-01") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "response_id": [f"r{k}" for k in range(len(scores))],
            "customer_id": [f"c{k}" for k in range(len(scores))],
            "score": pd.array(scores, dtype="Int64"),
            "submitted_at": [T(f"{month}-{k + 1:02d} 12:00") for k in range(len(scores))],
        }
    )


def values(frame: pd.DataFrame) -> pd.Series:
    return frame.set_index(["month", "metric"])["value"]


def test_ten_responses_by_hand() -> None:
    # promoters 10, 10, 9, 9, 9 (5); passives 8, 7 (2); detractors 6, 3, 0 (3): 100 x (5 - 3) / 10 = 20
    kpis = values(nps_kpis(responses([10, 10, 9, 9, 9, 8, 7, 6, 3, 0]), [JAN]))
    assert kpis[(JAN, "nps")] == pytest.approx(20.0)
    assert kpis[(JAN, "nps_responses")] == 10.0


def test_no_responses_is_null() -> None:
    frame = nps_kpis(responses([10, 0]), [JAN, FEB])
    kpis = values(frame)
    assert math.isnan(kpis[(FEB, "nps")])
    assert kpis[(FEB, "nps_responses")] == 0.0
    assert kpis[(JAN, "nps")] == pytest.approx(0.0)  # one promoter, one detractor
    assert set(frame.loc[frame["metric"] == "nps", "unit"]) == {"score"}


def test_bounds_and_unanswered() -> None:
    kpis = values(nps_kpis(pd.concat([responses([10, 9, None]), responses([0, 6], "2024-02")]), [JAN, FEB]))
    assert kpis[(JAN, "nps")] == 100.0
    assert kpis[(JAN, "nps_responses")] == 2.0  # the unanswered row is not a response
    assert kpis[(FEB, "nps")] == -100.0


def test_out_of_range_score_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"integers 0\.\.10"):
        nps_kpis(responses([10, 11]), [JAN])
    with pytest.raises(ValueError, match="missing column"):
        nps_kpis(responses([10]).drop(columns="score"), [JAN])
