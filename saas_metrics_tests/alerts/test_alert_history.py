"""Rules on warehouse months: the first-activation month, replaying a range, pending counts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from saas_metrics.alerts.history import latest_complete_month, pending_count, replay_alerts
from saas_metrics.alerts.outbox import Outbox
from saas_metrics.alerts.rules import parse_rules
from saas_metrics.metrics.kpi import KPI_MONTHLY, kpi_frame
from saas_metrics.warehouse import Warehouse

MAR, APR, MAY, JUN = (dt.date(2024, m, 1) for m in (3, 4, 5, 6))
RULES = parse_rules({"rules": [
    {"name": "churn_high", "type": "kpi_threshold", "metric": "customer_churn_rate", "operator": "above", "threshold": 0.05},
    {"name": "ltv_to_cac_low", "type": "kpi_threshold", "metric": "ltv_to_cac", "operator": "below", "threshold": 3},
]})


def seed_kpis(url: str) -> None:
    """March to June 2024: churn 6 % in April and May (4 % otherwise), LTV:CAC 2.5 in May; June is provisional."""
    rows = []
    for month, churn, ltv_to_cac in ((MAR, 0.04, 3.5), (APR, 0.06, 3.5), (MAY, 0.06, 2.5), (JUN, 0.04, 3.5)):
        rows += [{"month": month.isoformat(), "metric": "customer_churn_rate", "value": churn, "unit": "ratio",
                  "is_provisional": month == JUN},
                 {"month": month.isoformat(), "metric": "ltv_to_cac", "value": ltv_to_cac, "unit": "ratio",
                  "is_provisional": month == JUN}]
    Warehouse(url).replace(KPI_MONTHLY, kpi_frame(rows), (MAR, dt.date(2024, 7, 1)))


@pytest.fixture
def warehouse_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    seed_kpis(url)
    return url


def test_latest_complete_month_excludes_the_month_in_progress(warehouse_url: str, tmp_path: Path) -> None:
    warehouse = Warehouse(warehouse_url)
    assert latest_complete_month(warehouse, today=dt.date(2024, 6, 20)) == MAY  # June is in progress
    assert latest_complete_month(warehouse, today=dt.date(2024, 9, 1)) == JUN
    assert latest_complete_month(warehouse, today=dt.date(2024, 3, 31)) is None  # nothing complete yet
    assert latest_complete_month(Warehouse(f"sqlite:///{tmp_path / 'empty.db'}")) is None


def test_replay_evaluates_every_month_of_the_range(warehouse_url: str) -> None:
    alerts = replay_alerts(Warehouse(warehouse_url), RULES, MAR, MAY)
    assert sorted(alerts["dedupe_key"]) == [
        "churn_high|2024-04|all|customer_churn_rate",
        "churn_high|2024-05|all|customer_churn_rate",
        "ltv_to_cac_low|2024-05|all|ltv_to_cac",
    ]
    assert replay_alerts(Warehouse(warehouse_url), RULES, MAY, MAY)["dedupe_key"].str.contains("2024-05").all()
    with pytest.raises(ValueError, match="the end month 2024-03 is before the start month 2024-05"):
        replay_alerts(Warehouse(warehouse_url), RULES, MAY, MAR)


def test_pending_count_reads_the_outbox(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url)
    assert pending_count(warehouse.engine) == 0  # no alerts table yet
    outbox = Outbox(warehouse.engine)
    outbox.add(replay_alerts(warehouse, RULES, MAR, MAY))
    assert pending_count(warehouse.engine) == 3
    outbox.mark_delivered(int(outbox.read()["id"].iloc[0]))
    assert pending_count(warehouse.engine) == 2
