"""Net Promoter Score (docs/metric-definitions.md#nps).

For the responses submitted in M (``submitted_at`` in [first(M), first(M+1))) with a score:

- **nps** = 100 x (promoters - detractors) / responses, promoters scoring 9-10 and
  detractors 0-6 (passives 7-8 count only in the denominator); -100..100, unit 'score';
  NULL (NaN) when there is no response.
- **nps_responses** = the number of those responses (0 when none).

A score outside 0..10 is invalid input (ValueError): validation quarantines such rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from saas_metrics.calendar import month_of, normalise_months
from saas_metrics.metrics import kpi
from saas_metrics.metrics.usage import require_columns

PROMOTER_MIN = 9
DETRACTOR_MAX = 6


def nps_kpis(responses: pd.DataFrame, months: Iterable[object]) -> pd.DataFrame:
    """nps and nps_responses per month as kpi_monthly rows (formulas in the module docstring)."""
    month_list = normalise_months(months)
    if not month_list:
        return kpi.kpi_frame([])
    require_columns(responses, ["score", "submitted_at"], "nps responses")
    scores = pd.to_numeric(responses["score"], errors="coerce")
    answered = responses.loc[scores.notna()].assign(score=scores[scores.notna()])
    invalid = answered.loc[(answered["score"] < 0) | (answered["score"] > 10) | (answered["score"] % 1 != 0), "score"]
    if len(invalid):
        raise ValueError(f"NPS scores must be integers 0..10, got {sorted(invalid.unique().tolist())}")
    answered = answered.loc[answered["submitted_at"].notna()]
    answered = answered.assign(month=month_of(answered["submitted_at"]))
    answered = answered.loc[answered["month"].isin(month_list)]
    index = pd.DatetimeIndex(month_list, name="month")
    grouped = answered.groupby("month")["score"]
    count = grouped.size().reindex(index).fillna(0)
    promoters = grouped.agg(lambda s: (s >= PROMOTER_MIN).sum()).reindex(index).fillna(0)
    detractors = grouped.agg(lambda s: (s <= DETRACTOR_MAX).sum()).reindex(index).fillna(0)
    wide = pd.DataFrame(
        {
            "month": index,
            "nps": 100.0 * kpi.safe_divide((promoters - detractors).to_numpy(), count.to_numpy()),
            "nps_responses": count.to_numpy(),
        }
    )
    return kpi.wide_to_kpi(wide, {"nps": kpi.SCORE, "nps_responses": kpi.COUNT})
