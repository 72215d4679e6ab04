"""Alerts: rules in YAML, pure evaluation, a warehouse outbox and delivery with an
idempotency key and a bounded number of unconfirmed sends (Dagster log,
Slack-compatible and generic JSON webhooks).

The Dagster sensors that drive them live in :mod:`saas_metrics.defs.alerting`.
"""

from saas_metrics.alerts.rules import AlertConfig, RulesFileError, load_rules

__all__ = ["AlertConfig", "RulesFileError", "load_rules"]
