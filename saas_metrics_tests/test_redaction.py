"""Passwords, token parameters and known secret values are masked in any text shown."""

from __future__ import annotations

import pytest

from saas_metrics.redaction import (
    known_secrets,
    redact,
    url_password,
    with_password,
    without_password,
)


def test_url_passwords_and_token_parameters_are_masked_users_and_hosts_kept() -> None:
    text = "could not reach postgresql+psycopg://metrics:s3cr%40t@db.internal:5432/warehouse (timeout)"
    assert redact(text, secrets=[]) == "could not reach postgresql+psycopg://metrics:***@db.internal:5432/warehouse (timeout)"
    assert redact("https://hooks.example.com/h?token=abc123&channel=ops", secrets=[]) == "https://hooks.example.com/h?token=***&channel=ops"
    assert redact("mysql://root:pw@h/db?password=other", secrets=[]) == "mysql://root:***@h/db?password=***"
    assert redact("sqlite:////srv/data/warehouse.db", secrets=[]) == "sqlite:////srv/data/warehouse.db"
    assert redact("postgresql://metrics@db/warehouse", secrets=[]) == "postgresql://metrics@db/warehouse"


def test_known_secret_values_are_masked_wherever_they_appear() -> None:
    env = {"STRIPE_API_KEY": "sk_live_123456", "SAAS_METRICS_WAREHOUSE_URL": "postgresql://u:hunter22@h/db",
           "SAAS_METRICS_ALERT_WEBHOOK_URL": "https://ops.example.com/hooks/T0K3N", "HUBSPOT_ACCESS_TOKEN": "ab"}
    secrets = known_secrets(env)
    assert secrets == ["https://ops.example.com/hooks/T0K3N", "sk_live_123456", "hunter22"]  # "ab" is too short to mask
    assert redact("key sk_live_123456 posted to https://ops.example.com/hooks/T0K3N, pw hunter22", secrets) == (
        "key *** posted to ***, pw ***")


def test_known_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("META_ACCESS_TOKEN", "EAAB-planted")
    assert redact("token EAAB-planted rejected") == "token *** rejected"


def test_passwords_are_taken_out_of_and_put_into_urls() -> None:
    assert url_password("postgresql://u:p%40ss@h:5432/db") == "p%40ss"
    assert url_password("postgresql://u@h/db") is None and url_password("not a url") is None
    assert without_password("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u@h/db"
    assert with_password("postgresql://u@h/db", "p@ss") == "postgresql://u:p%40ss@h/db"
    assert with_password("sqlite:////tmp/w.db", None) == "sqlite:////tmp/w.db"
