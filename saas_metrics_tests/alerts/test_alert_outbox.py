"""The alerts outbox: insert-if-absent on the dedupe key, claims, delivery state (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.alerts.outbox import DELIVERED, FAILED, PENDING, Outbox
from saas_metrics.warehouse.store import make_engine


@pytest.fixture(params=["sqlite", "postgres"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Outbox:
    if request.param == "sqlite":
        return Outbox(make_engine(f"sqlite:///{tmp_path / 'wh.db'}"))
    return Outbox(make_engine(request.getfixturevalue("postgres_url")))


def test_same_alert_is_written_once(outbox: Outbox, alert_rows: Callable[..., pd.DataFrame]) -> None:
    assert outbox.add(alert_rows("customer_churn_rate", "nrr")) == ["churn_high|2024-05|all|customer_churn_rate",
                                                                    "churn_high|2024-05|all|nrr"]
    assert outbox.add(alert_rows("nrr", "ltv_to_cac")) == ["churn_high|2024-05|all|ltv_to_cac"]
    assert outbox.add(alert_rows("nrr")) == []
    table = outbox.read()
    assert len(table) == 3
    assert set(table["status"]) == {PENDING} and set(table["attempts"]) == {0}
    assert table.iloc[0]["month"].isoformat() == "2024-05-01" and table.iloc[0]["value"] == pytest.approx(0.062)
    # The unique index is in the database itself, not only in the code path.
    with pytest.raises(sa.exc.IntegrityError), outbox.engine.begin() as conn:
        conn.execute(outbox.table.insert().values(dedupe_key=table.iloc[0]["dedupe_key"], rule="x", status=PENDING,
                                                  attempts=0, created_at=pd.Timestamp("2024-06-01").to_pydatetime()))


def test_claim_is_exclusive_until_released(outbox: Outbox, alert_rows: Callable[..., pd.DataFrame]) -> None:
    outbox.add(alert_rows("nrr"))
    alert_id = int(outbox.pending()[0]["id"])
    assert outbox.claim(alert_id, lease_seconds=60) is True
    assert outbox.claim(alert_id, lease_seconds=60) is False  # a concurrent tick backs off
    assert outbox.mark_attempt_failed(alert_id, "slack_webhook: HTTP 503", max_attempts=2) == PENDING
    assert outbox.claim(alert_id, lease_seconds=60) is True  # released by the failed attempt
    assert outbox.mark_attempt_failed(alert_id, "slack_webhook: HTTP 503", max_attempts=2) == FAILED
    row = outbox.read().iloc[0]
    assert (row["status"], row["attempts"], row["last_error"]) == (FAILED, 2, "slack_webhook: HTTP 503")
    assert outbox.pending() == []


def test_channels_recorded_then_delivered(outbox: Outbox, alert_rows: Callable[..., pd.DataFrame]) -> None:
    outbox.add(alert_rows("nrr"))
    alert_id = int(outbox.pending()[0]["id"])
    outbox.mark_channel_delivered(alert_id, "dagster_log")
    outbox.mark_channel_delivered(alert_id, "json_webhook")
    assert outbox.delivered_channels(alert_id) == {"dagster_log", "json_webhook"}
    outbox.mark_delivered(alert_id)
    row = outbox.read().iloc[0]
    assert row["status"] == DELIVERED and row["delivered_at"] is not None and not pd.isna(row["delivered_at"])
    assert outbox.claim(alert_id, lease_seconds=60) is False  # delivered alerts are never claimed again


def test_bad_frame_is_refused(outbox: Outbox, alert_rows: Callable[..., pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match=r"missing columns \['message'\]"):
        outbox.add(alert_rows("nrr").drop(columns=["message"]))
