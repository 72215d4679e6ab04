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

Each HTTP send has a timeout; within a tick a channel gets at most
``retries`` attempts, with exponential backoff between them. What an attempt
tells decides what happens next:

* accepted (2xx): recorded for that channel at once, never sent to it again;
* not sent (connection refused or timed out, no free connection): safe to
  send again, the receiver never saw it;
* rejected (429 and 5xx: retried; other 4xx: left to the next tick): the
  receiver said it did not take it;
* **unknown** (the request went out and no answer came in time: a read
  timeout, a dropped connection): the receiver may have accepted it. Such
  sends are counted per alert and channel in the outbox, across ticks; after
  ``max_unknown_sends`` of them (default 3) the alert is never sent to that
  channel again, and it ends with ``status='unknown'`` instead of
  ``delivered``.

So a receiver that drops repeats of an ``Idempotency-Key`` (the JSON
webhook's header, also ``dedupe_key`` in its body) takes each alert exactly
once, and any receiver is sent an alert it may already have at most
``max_unknown_sends`` times (see docs/alerts.md). An alert a channel did not
accept stays pending for the next tick (see :mod:`saas_metrics.alerts.outbox`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from saas_metrics.alerts.outbox import FAILED, UNKNOWN, Outbox
from saas_metrics.alerts.rules import DeliveryPolicy

SLACK_WEBHOOK_ENV = "SAAS_METRICS_SLACK_WEBHOOK_URL"
ALERT_WEBHOOK_ENV = "SAAS_METRICS_ALERT_WEBHOOK_URL"
LOG_CHANNEL = "dagster_log"


class DeliveryError(Exception):
    """A channel did not accept an alert. The message never contains the URL."""


class DeliveryUnknown(DeliveryError):
    """``sends`` requests reached a channel but got no answer: it may hold the alert (that many times)."""

    def __init__(self, message: str, sends: int) -> None:
        super().__init__(message)
        self.sends = sends


class Channel(Protocol):
    name: str

    def send(self, alert: Mapping[str, Any], unknown_left: int = 1) -> int:
        """Deliver ``alert``, making at most ``unknown_left`` sends that get no answer; returns how
        many it made before the one accepted (raises :class:`DeliveryError` when none was)."""
        ...


@dataclass
class LogChannel:
    """Writes the alert message to a logger (the sensor's Dagster log)."""

    log: Any
    name: str = LOG_CHANNEL

    def send(self, alert: Mapping[str, Any], unknown_left: int = 1) -> int:
        level = {"critical": logging.ERROR, "warning": logging.WARNING}.get(str(alert.get("severity")), logging.INFO)
        method = {logging.ERROR: "error", logging.WARNING: "warning"}.get(level, "info")
        getattr(self.log, method)(str(alert["message"]))
        return 0


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


#: Errors raised before the request left this machine: the receiver cannot have it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol,
             httpx.LocalProtocolError, httpx.InvalidURL)


def backoff_seconds(policy: DeliveryPolicy, retry: int) -> float:
    """The wait before the ``retry``-th repeat of a send (1, 2, ...): ``backoff_seconds`` doubled
    each time, at most ``backoff_max_seconds`` (1 s, 2 s, 4 s, 8 s, 10 s, ... with the defaults)."""
    return min(policy.backoff_max_seconds, policy.backoff_seconds * 2 ** (retry - 1))


@dataclass
class WebhookChannel:
    """POSTs JSON to a webhook with a timeout, and repeats a send only when that is safe or allowed:
    at most ``policy.retries`` attempts, of which at most ``unknown_left`` may end without an answer."""

    name: str
    url: str = field(repr=False)
    payload: Callable[[Mapping[str, Any]], dict[str, Any]]
    policy: DeliveryPolicy
    idempotency_header: bool = False
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def send(self, alert: Mapping[str, Any], unknown_left: int = 1) -> int:
        headers = {"Content-Type": "application/json"}
        if self.idempotency_header:
            headers["Idempotency-Key"] = str(alert["dedupe_key"])
        body = json.dumps(self.payload(alert), default=str)
        unknown, error = 0, "not sent"
        with httpx.Client(timeout=self.policy.timeout_seconds) as client:
            for attempt in range(self.policy.retries):
                if unknown >= unknown_left:
                    break
                if attempt:
                    self.sleep(backoff_seconds(self.policy, attempt))
                try:
                    response = client.post(self.url, content=body, headers=headers)
                except _NOT_SENT as exc:
                    error = type(exc).__name__
                    continue
                except httpx.HTTPError as exc:  # sent, and no (whole) answer: the receiver may have it
                    unknown, error = unknown + 1, type(exc).__name__
                    continue
                if response.is_success:
                    return unknown
                error = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    break  # the receiver refuses this request: the same again now would change nothing
        if unknown:
            raise DeliveryUnknown(f"{self.name}: {error} ({unknown} send(s) without an answer)", unknown)
        raise DeliveryError(f"{self.name}: {error}")


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
    unknown: list[str] = field(default_factory=list)
    skipped_claimed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.delivered)} delivered, {len(self.still_pending)} still pending, "
                f"{len(self.failed)} failed, {len(self.unknown)} unknown"
                + (f"; errors: {'; '.join(self.errors[:5])}" if self.errors else ""))


def deliver_pending(outbox: Outbox, channels: list[Channel], policy: DeliveryPolicy, limit: int = 200) -> DeliveryReport:
    """Send every pending alert to each channel that has not accepted it yet and may still be sent
    it (fewer than ``policy.max_unknown_sends`` sends without an answer so far)."""
    report = DeliveryReport()
    for alert in outbox.pending(limit):
        alert_id = int(alert["id"])
        key = str(alert["dedupe_key"])
        if not outbox.claim(alert_id, policy.claim_seconds):
            report.skipped_claimed += 1
            continue
        done = outbox.delivered_channels(alert_id)
        unknown = outbox.unknown_sends(alert_id)
        errors: list[str] = []
        for channel in channels:
            left = policy.max_unknown_sends - unknown.get(channel.name, 0)
            if channel.name in done or left <= 0:
                continue
            try:
                unanswered = channel.send(alert, unknown_left=left)
            except DeliveryUnknown as exc:
                unknown[channel.name] = outbox.add_unknown_sends(alert_id, channel.name, exc.sends)
                errors.append(str(exc))
                continue
            except DeliveryError as exc:
                errors.append(str(exc))
                continue
            if unanswered:
                outbox.add_unknown_sends(alert_id, channel.name, unanswered)
            outbox.mark_channel_delivered(alert_id, channel.name)
            done.add(channel.name)
        report.errors.extend(f"{key}: {e}" for e in errors)
        open_channels = [c for c in channels if c.name not in done and unknown.get(c.name, 0) < policy.max_unknown_sends]
        if open_channels:
            status = outbox.mark_attempt_failed(alert_id, "; ".join(errors), policy.max_attempts)
            (report.failed if status == FAILED else report.still_pending).append(key)
        elif any(c.name not in done for c in channels):
            outbox.mark_finished(alert_id, UNKNOWN, "; ".join(errors) or None)
            report.unknown.append(key)
        else:
            outbox.mark_delivered(alert_id)
            report.delivered.append(key)
    return report
