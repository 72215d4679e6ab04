"""Secrets out of everything shown: URL passwords, token parameters and known secret values.

Secrets enter only through environment variables (DESIGN.md, principle 6). The warehouse and SQL
replica URLs may carry a password, so every place that shows text a URL or an exception may hold
(CLI output, log lines, metadata, error messages) passes it through :func:`redact` first, and the
Dagster resources get the password as a ``dagster.EnvVar`` (saas_metrics/defs/resources.py), which
the UI shows by name only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MASK = "***"

#: The warehouse password, for a warehouse URL written without one (e.g. in saas_metrics.yaml).
WAREHOUSE_PASSWORD_ENV = "SAAS_METRICS_WAREHOUSE_PASSWORD"
#: The SQL replica password, for a ``connectors.sql_replica_url`` written without one.
SQL_REPLICA_PASSWORD_ENV = "SAAS_METRICS_SQL_REPLICA_PASSWORD"
#: Environment variables whose whole value is a secret (API tokens, webhook URLs, passwords).
SECRET_ENV_VARS = (
    WAREHOUSE_PASSWORD_ENV,
    SQL_REPLICA_PASSWORD_ENV,
    "SAAS_METRICS_SLACK_WEBHOOK_URL",
    "SAAS_METRICS_ALERT_WEBHOOK_URL",
    "STRIPE_API_KEY",
    "HUBSPOT_ACCESS_TOKEN",
    "GOOGLE_ADS_DEVELOPER_TOKEN",
    "GOOGLE_ADS_ACCESS_TOKEN",
    "META_ACCESS_TOKEN",
    "LINKEDIN_ACCESS_TOKEN",
    "DAGSTER_PG_PASSWORD",
)
#: Environment variables holding URLs whose password part is a secret.
URL_ENV_VARS = ("SAAS_METRICS_WAREHOUSE_URL", "SAAS_METRICS_CONNECTORS__SQL_REPLICA_URL")
#: Shorter values are not searched for in free text: a weak password such as "dagster" would
#: mask every path and word that contains it. URL passwords are masked whatever their length.
MIN_SECRET_LENGTH = 8

# scheme://user:password@  (the user is kept, the password masked)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*:)(?P<password>[^@\s]+)(?=@)")
# ?password=... &token=... in URLs and connection strings
_SECRET_PARAMETER = re.compile(
    r"(?P<head>[?&;\s](?:password|passwd|pwd|sslpassword|token|access_token|api_key|apikey|secret|key)=)(?P<value>[^&;\s'\"]+)",
    re.IGNORECASE,
)


def url_password(url: str) -> str | None:
    """The password of ``url`` (None when it has none or is not a URL)."""
    match = _URL_PASSWORD.search(url)
    return match.group("password") if match else None


def known_secrets(env: dict[str, str] | None = None) -> list[str]:
    """The secret values set in the environment: whole secret variables and the passwords of URL variables."""
    env = dict(os.environ) if env is None else env
    values = [env.get(name, "") for name in SECRET_ENV_VARS]
    values += [url_password(env.get(name, "")) or "" for name in URL_ENV_VARS]
    return sorted({v for v in values if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with URL passwords, secret URL parameters and every known secret value (``secrets``,
    default :func:`known_secrets`) replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, str(text))
    text = _SECRET_PARAMETER.sub(lambda m: m.group("head") + MASK, text)
    for secret in known_secrets() if secrets is None else secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return text


def without_password(url: str) -> str:
    """``url`` with its password removed (``user:pw@host`` -> ``user@host``)."""
    return _URL_PASSWORD.sub(lambda m: m.group("head")[:-1], url)


def with_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` set (the URL unchanged when ``password`` is empty)."""
    if not password:
        return url
    import sqlalchemy as sa

    return sa.make_url(url).set(password=password).render_as_string(hide_password=False)
