"""Delivery against a real HTTP server on 127.0.0.1: retries, exactly once, timeouts, secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.alerts.delivery import (
    ALERT_WEBHOOK_ENV,
    SLACK_WEBHOOK_ENV,
    LogChannel,
    deliver_pending,
    webhook_channels,
)
from saas_metrics.alerts.outbox import DELIVERED, FAILED, PENDING, Outbox
from saas_metrics.alerts.rules import DeliveryPolicy
from saas_metrics.warehouse.store import make_engine

FAST = DeliveryPolicy(timeout_seconds=0.3, retries=3, backoff_seconds=0.01, backoff_max_seconds=0.02, max_attempts=5)
Rows = Callable[..., pd.DataFrame]


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(make_engine(f"sqlite:///{tmp_path / 'wh.db'}"))


def test_retries_then_delivers_exactly_once(outbox: Outbox, webhook, alert_rows: Rows, caplog) -> None:
    webhook.fail_first = 2  # two 503s, the third attempt succeeds within the same tick
    outbox.add(alert_rows("customer_churn_rate"))
    log = logging.getLogger("alerts-test")
    channels = [LogChannel(log), *webhook_channels({ALERT_WEBHOOK_ENV: webhook.url}, FAST)]
    with caplog.at_level(logging.INFO, logger="alerts-test"):
        report = deliver_pending(outbox, channels, FAST)
        again = deliver_pending(outbox, channels, FAST)  # next tick: nothing pending, nothing sent
    assert report.delivered == ["churn_high|2024-05|all|customer_churn_rate"] and again.delivered == []
    assert webhook.count == 3
    assert webhook.requests[-1]["dedupe_key"] == "churn_high|2024-05|all|customer_churn_rate"
    assert webhook.requests[-1]["month"] == "2024-05-01" and webhook.requests[-1]["value"] == pytest.approx(0.062)
    assert webhook.headers[-1]["Idempotency-Key"] == "churn_high|2024-05|all|customer_churn_rate"
    assert [r.getMessage() for r in caplog.records].count(
        "[WARNING] churn_high: customer_churn_rate was 6.20% in 2024-05 (segment all), above the threshold 5.00%. Owner: cs."
    ) == 1
    row = outbox.read().iloc[0]
    assert (row["status"], row["attempts"], row["delivered_channels"]) == (DELIVERED, 0, "dagster_log,json_webhook")


def test_failed_tick_keeps_alert_pending_and_never_resends_accepted_channels(outbox: Outbox, webhook, alert_rows: Rows) -> None:
    webhook.fail_first = 3  # the whole first tick fails (3 attempts), the next tick succeeds
    outbox.add(alert_rows("nrr"))
    sent_to_log: list[str] = []

    class ListLog:
        def warning(self, message: str) -> None:
            sent_to_log.append(message)

    channels = [LogChannel(ListLog()), *webhook_channels({SLACK_WEBHOOK_ENV: webhook.url}, FAST)]
    first = deliver_pending(outbox, channels, FAST)
    assert first.still_pending == ["churn_high|2024-05|all|nrr"]
    row = outbox.read().iloc[0]
    assert (row["status"], row["attempts"], row["last_error"]) == (PENDING, 1, "slack_webhook: HTTP 503")
    assert webhook.url not in first.summary() and "secret-token" not in str(row["last_error"])
    second = deliver_pending(outbox, channels, FAST)
    assert second.delivered == ["churn_high|2024-05|all|nrr"]
    assert webhook.count == 4
    assert webhook.requests[-1] == {"text": row["message"]}  # Slack incoming-webhook payload
    assert len(sent_to_log) == 1  # the log channel accepted it on the first tick and is not repeated


def test_server_that_never_answers_times_out_and_alert_stays_pending(outbox: Outbox, webhook, alert_rows: Rows) -> None:
    webhook.hang = True
    policy = FAST.model_copy(update={"timeout_seconds": 0.2, "retries": 2, "max_attempts": 2})
    outbox.add(alert_rows("nrr"))
    channels = webhook_channels({ALERT_WEBHOOK_ENV: webhook.url}, policy)
    report = deliver_pending(outbox, channels, policy)
    assert report.still_pending == ["churn_high|2024-05|all|nrr"]
    assert report.errors == ["churn_high|2024-05|all|nrr: json_webhook: ReadTimeout"]
    assert webhook.count == 2  # both attempts reached the server, neither was answered
    row = outbox.read().iloc[0]
    assert (row["status"], row["attempts"]) == (PENDING, 1)
    report = deliver_pending(outbox, channels, policy)  # the second failed tick reaches max_attempts
    assert report.failed == ["churn_high|2024-05|all|nrr"]
    assert outbox.read().iloc[0]["status"] == FAILED


def test_unreachable_url_and_no_channels_configured(outbox: Outbox, alert_rows: Rows) -> None:
    assert webhook_channels({SLACK_WEBHOOK_ENV: "", ALERT_WEBHOOK_ENV: None}, FAST) == []
    outbox.add(alert_rows("nrr"))
    channels = webhook_channels({ALERT_WEBHOOK_ENV: "http://127.0.0.1:9/closed-port-token"}, FAST)
    assert "closed-port-token" not in repr(channels[0])
    report = deliver_pending(outbox, channels, FAST)
    assert report.errors == ["churn_high|2024-05|all|nrr: json_webhook: ConnectError"]
    assert outbox.read().iloc[0]["status"] == PENDING


def test_a_claimed_alert_is_left_to_its_owner(outbox: Outbox, webhook, alert_rows: Rows) -> None:
    outbox.add(alert_rows("nrr"))
    assert outbox.claim(int(outbox.pending()[0]["id"]), lease_seconds=60)  # another sensor is delivering it
    report = deliver_pending(outbox, webhook_channels({ALERT_WEBHOOK_ENV: webhook.url}, FAST), FAST)
    assert report.skipped_claimed == 1 and webhook.count == 0
