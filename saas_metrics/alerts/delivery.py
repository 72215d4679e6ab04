"""Delivery of outbox alerts: the Dagster log always, plus optional webhooks.

Channels:

* ``dagster_log``: the sensor's log (always on).
* ``slack_webhook``: a Slack-compatible incoming webhook (``{"text": message}``),
  URL from env ``SAAS_METRICS_SLACK_WEBHOOK_URL``.
* ``json_webhook``: a generic JSON webhook (every alert field, plus an
  ``Idempotency-Key`` header = the dedupe key so a receiver can drop a repeat),
  URL from env ``SAAS_METRICS_ALERT_WEBHOOK_URL``.

Webhook URLs are secrets: they are only read from the environment and never
appear in logs, errors or the outbox (errors name the channel and the HTTP
status or exception type only).

Each HTTP send uses a timeout and tenacity retries with exponential backoff
(transport errors, 429 and 5xx); an alert a channel did not accept stays
pending and is retried on the next tick (see :mod:`saas_metrics.alerts.outbox`
for why it is never sent twice to a channel). The one window left is a crash
after the receiver accepted but before the outbox recorded it; the
Idempotency-Key covers it for the JSON webhook.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from saas_metrics.alerts.outbox import FAILED, Outbox
from saas_metrics.alerts.rules import DeliveryPolicy

SLACK_WEBHOOK_ENV = "SAAS_METRICS_SLACK_WEBHOOK_URL"
ALERT_WEBHOOK_ENV = "SAAS_METRICS_ALERT_WEBHOOK_URL"
LOG_CHANNEL = "dagster_log"


class DeliveryError(Exception):
    """A channel did not accept an alert. The message never contains the URL."""


class Channel(Protocol):
    name: str

    def send(self, alert: Mapping[str, Any]) -> None: ...


@dataclass
class LogChannel:
    """Writes the alert message to a logger (the sensor's Dagster log)."""

    log: Any
    name: str = LOG_CHANNEL

    def send(self, alert: Mapping[str, Any]) -> None:
        level = {"critical": logging.ERROR, "warning": logging.WARNING}.get(str(alert.get("severity")), logging.INFO)
        method = {logging.ERROR: "error", logging.WARNING: "warning"}.get(level, "info")
        getattr(self.log, method)(str(alert["message"]))


def slack_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    return {"text": str(alert["message"])}


def json_payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    fields = ("id", "dedupe_key", "rule", "month", "segment", "subject", "value", "threshold",
              "severity", "owner", "message", "created_at")
    out: dict[str, Any] = {}
    for name in fields:
        value = alert.get(name)
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        out[name] = value
    return out


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return False


@dataclass
class WebhookChannel:
    """POSTs JSON to a webhook with a timeout and retries with exponential backoff."""

    name: str
    url: str = field(repr=False)
    payload: Callable[[Mapping[str, Any]], dict[str, Any]]
    policy: DeliveryPolicy
    idempotency_header: bool = False

    def send(self, alert: Mapping[str, Any]) -> None:
        headers = {"Content-Type": "application/json"}
        if self.idempotency_header:
            headers["Idempotency-Key"] = str(alert["dedupe_key"])
        body = json.dumps(self.payload(alert), default=str)
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.retries),
            wait=wait_exponential(multiplier=self.policy.backoff_seconds, max=self.policy.backoff_max_seconds),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            with httpx.Client(timeout=self.policy.timeout_seconds) as client:
                for attempt in retrying:
                    with attempt:
                        response = client.post(self.url, content=body, headers=headers)
                        response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise DeliveryError(f"{self.name}: HTTP {exc.response.status_code}") from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{self.name}: {type(exc).__name__}") from None


def webhook_channels(env: Mapping[str, str | None], policy: DeliveryPolicy) -> list[WebhookChannel]:
    """The webhook channels whose URL is set in ``env`` (e.g. values of dagster.EnvVar)."""
    channels: list[WebhookChannel] = []
    if env.get(SLACK_WEBHOOK_ENV):
        channels.append(WebhookChannel("slack_webhook", str(env[SLACK_WEBHOOK_ENV]), slack_payload, policy))
    if env.get(ALERT_WEBHOOK_ENV):
        channels.append(WebhookChannel("json_webhook", str(env[ALERT_WEBHOOK_ENV]), json_payload, policy,
                                       idempotency_header=True))
    return channels


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    still_pending: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped_claimed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.delivered)} delivered, {len(self.still_pending)} still pending, "
                f"{len(self.failed)} failed" + (f"; errors: {'; '.join(self.errors[:5])}" if self.errors else ""))


def deliver_pending(outbox: Outbox, channels: list[Channel], policy: DeliveryPolicy, limit: int = 200) -> DeliveryReport:
    """Send every pending alert to each channel that has not accepted it yet."""
    report = DeliveryReport()
    for alert in outbox.pending(limit):
        alert_id = int(alert["id"])
        key = str(alert["dedupe_key"])
        if not outbox.claim(alert_id, policy.claim_seconds):
            report.skipped_claimed += 1
            continue
        done = outbox.delivered_channels(alert_id)
        errors: list[str] = []
        for channel in channels:
            if channel.name in done:
                continue
            try:
                channel.send(alert)
            except DeliveryError as exc:
                errors.append(str(exc))
                continue
            outbox.mark_channel_delivered(alert_id, channel.name)
        if errors:
            status = outbox.mark_attempt_failed(alert_id, "; ".join(errors), policy.max_attempts)
            (report.failed if status == FAILED else report.still_pending).append(key)
            report.errors.extend(f"{key}: {e}" for e in errors)
        else:
            outbox.mark_delivered(alert_id)
            report.delivered.append(key)
    return report
