"""Delivery against a real HTTP server on 127.0.0.1: retries, exactly once, timeouts, secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.alerts.delivery import (
    ALERT_WEBHOOK_ENV,
    SLACK_WEBHOOK_ENV,
    LogChannel,
    backoff_seconds,
    deliver_pending,
    webhook_channels,
)
from saas_metrics.alerts.outbox import DELIVERED, FAILED, PENDING, UNKNOWN, Outbox
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


def test_server_that_never_answers_is_sent_at_most_max_unknown_sends_then_the_alert_is_unknown(
        outbox: Outbox, webhook, alert_rows: Rows) -> None:
    webhook.hang = True
    policy = FAST.model_copy(update={"timeout_seconds": 0.2, "retries": 2, "max_attempts": 5, "max_unknown_sends": 3})
    outbox.add(alert_rows("nrr"))
    channels = webhook_channels({ALERT_WEBHOOK_ENV: webhook.url}, policy)
    report = deliver_pending(outbox, channels, policy)
    assert report.still_pending == ["churn_high|2024-05|all|nrr"]
    assert report.errors == ["churn_high|2024-05|all|nrr: json_webhook: ReadTimeout (2 send(s) without an answer)"]
    assert webhook.count == 2  # both attempts reached the server, neither was answered
    row = outbox.read().iloc[0]
    assert (row["status"], row["attempts"], row["unknown_sends"]) == (PENDING, 1, '{"json_webhook": 2}')
    report = deliver_pending(outbox, channels, policy)  # one send left of the 3 unknown ones allowed
    assert report.unknown == ["churn_high|2024-05|all|nrr"] and webhook.count == 3
    row = outbox.read().iloc[0]
    assert (row["status"], row["unknown_sends"]) == (UNKNOWN, '{"json_webhook": 3}')
    assert deliver_pending(outbox, channels, policy).summary() == "0 delivered, 0 still pending, 0 failed, 0 unknown"
    assert webhook.count == 3


def test_a_receiver_slower_than_the_timeout_gets_each_alert_at_most_the_bound_and_takes_it_once(
        outbox: Outbox, webhook, alert_rows: Rows) -> None:
    """A receiver that answers after the client's timeout. Every send is taken by
    the receiver; a receiver honouring the Idempotency-Key acts on each alert once, and no alert is
    sent more than max_unknown_sends times, however many ticks run."""
    webhook.delay = 0.6
    policy = FAST.model_copy(update={"timeout_seconds": 0.2, "retries": 3, "max_unknown_sends": 2})
    outbox.add(alert_rows("nrr", "mrr"))
    channels = webhook_channels({ALERT_WEBHOOK_ENV: webhook.url}, policy)
    for _ in range(4):  # four sensor ticks
        deliver_pending(outbox, channels, policy)
    keys = [r["dedupe_key"] for r in webhook.requests]
    assert sorted(keys) == ["churn_high|2024-05|all|mrr"] * 2 + ["churn_high|2024-05|all|nrr"] * 2
    assert sorted(webhook.taken) == ["churn_high|2024-05|all|mrr", "churn_high|2024-05|all|nrr"]
    assert [h["Idempotency-Key"] for h in webhook.headers] == keys
    assert outbox.read()["status"].tolist() == [UNKNOWN, UNKNOWN]


def test_an_answer_after_an_unanswered_send_delivers_and_the_repeat_carries_the_same_key(
        outbox: Outbox, webhook, alert_rows: Rows) -> None:
    webhook.delay, webhook.slow_first = 0.6, 1  # only the first request is slow
    policy = FAST.model_copy(update={"timeout_seconds": 0.2})
    outbox.add(alert_rows("nrr"))
    report = deliver_pending(outbox, webhook_channels({ALERT_WEBHOOK_ENV: webhook.url}, policy), policy)
    assert report.delivered == ["churn_high|2024-05|all|nrr"] and webhook.count == 2
    assert webhook.taken == ["churn_high|2024-05|all|nrr"]  # the repeat was dropped by its key
    row = outbox.read().iloc[0]
    assert (row["status"], row["unknown_sends"]) == (DELIVERED, '{"json_webhook": 1}')


def test_a_refusal_is_not_repeated_within_a_tick_and_sends_never_made_are_not_unknown(
        outbox: Outbox, webhook, alert_rows: Rows) -> None:
    webhook.status = 400
    outbox.add(alert_rows("nrr"))
    report = deliver_pending(outbox, webhook_channels({SLACK_WEBHOOK_ENV: webhook.url}, FAST), FAST)
    assert report.errors == ["churn_high|2024-05|all|nrr: slack_webhook: HTTP 400"] and webhook.count == 1
    closed = webhook_channels({ALERT_WEBHOOK_ENV: "http://127.0.0.1:9/closed"}, FAST)
    for _ in range(4):  # connection refused: never sent, so never unknown; failed ticks up to max_attempts (5)
        deliver_pending(outbox, closed, FAST)
    row = outbox.read().iloc[0]
    assert (row["status"], row["attempts"], row["unknown_sends"]) == (FAILED, 5, None)


def test_a_malformed_url_is_an_error_that_does_not_show_it(outbox: Outbox, alert_rows: Rows) -> None:
    outbox.add(alert_rows("nrr"))
    channels = webhook_channels({ALERT_WEBHOOK_ENV: "http://[::1/bad-host-token"}, FAST)
    report = deliver_pending(outbox, channels, FAST)
    assert report.errors == ["churn_high|2024-05|all|nrr: json_webhook: InvalidURL"]
    assert "bad-host-token" not in str(outbox.read().iloc[0]["last_error"])


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = DeliveryPolicy(backoff_seconds=1.0, backoff_max_seconds=10.0)
    assert [backoff_seconds(policy, n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert DeliveryPolicy().max_unknown_sends == 3


def test_an_alerts_table_of_an_older_version_gets_the_new_column(tmp_path: Path, alert_rows: Rows) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # the table as the previous version made it
        conn.execute(sa.text("CREATE TABLE alerts (id INTEGER PRIMARY KEY, dedupe_key TEXT NOT NULL UNIQUE, rule TEXT NOT NULL,"
                             " month DATE, segment TEXT, subject TEXT, value FLOAT, threshold FLOAT, severity TEXT,"
                             " owner TEXT, message TEXT, status TEXT NOT NULL, attempts INTEGER NOT NULL,"
                             " last_error TEXT, created_at DATETIME NOT NULL, delivered_at DATETIME,"
                             " delivered_channels TEXT, claimed_until DATETIME)"))
    outbox = Outbox(engine)
    outbox.add(alert_rows("nrr"))
    alert_id = int(outbox.pending()[0]["id"])
    assert outbox.add_unknown_sends(alert_id, "json_webhook", 2) == 2
    assert outbox.unknown_sends(alert_id) == {"json_webhook": 2}


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
