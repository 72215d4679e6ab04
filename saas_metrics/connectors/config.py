"""Connector configuration: which source system is read how, and where its API or replica lives.

A new section of settings owned by the connectors package (the lead exposes it on
``Settings``, e.g. as ``Settings.connectors``). Secrets are never fields here: API
keys and tokens come only from environment variables (see :class:`Credentials`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

SourceKind = Literal["files", "api", "sql"]
ReplicaDialect = Literal["fivetran", "airbyte"]

#: Environment variable of each secret (read only where used, never logged).
SECRET_ENV_VARS: dict[str, str] = {
    "stripe_api_key": "STRIPE_API_KEY",
    "hubspot_access_token": "HUBSPOT_ACCESS_TOKEN",
    "google_ads_developer_token": "GOOGLE_ADS_DEVELOPER_TOKEN",
    "google_ads_access_token": "GOOGLE_ADS_ACCESS_TOKEN",
    "meta_access_token": "META_ACCESS_TOKEN",
    "linkedin_access_token": "LINKEDIN_ACCESS_TOKEN",
}


class RetryConfig(BaseModel):
    """Retries of one HTTP request (429, 5xx, timeouts, connection errors)."""

    max_attempts: int = Field(6, ge=1, description="attempts per request, the first included")
    backoff_initial_seconds: float = Field(1.0, ge=0, description="wait before the 2nd attempt; doubles each time")
    backoff_max_seconds: float = Field(60.0, ge=0, description="cap of the exponential wait")
    max_retry_after_seconds: float = Field(300.0, ge=0, description="longest Retry-After honoured (longer waits fail the request)")
    timeout_seconds: float = Field(60.0, gt=0, description="connect/read timeout of one request")


class ConnectorsConfig(BaseModel):
    """How each source system is read: ``files`` (landing files, the default), ``api`` or ``sql``."""

    systems: dict[str, SourceKind] = Field(
        default_factory=dict,
        description="source system (billing, crm, ads, ...) -> files / api / sql; systems not listed read files",
    )
    tables: dict[str, SourceKind] = Field(
        default_factory=dict,
        description="per-table override of the system's kind (e.g. crm_touchpoints: files while crm is api)",
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)
    page_size: int = Field(100, ge=1, le=100, description="records per page requested from the APIs")

    stripe_base_url: str = "https://api.stripe.com"
    hubspot_base_url: str = "https://api.hubapi.com"
    google_ads_base_url: str = "https://googleads.googleapis.com/v18"
    google_ads_customer_ids: list[str] = Field(default_factory=list, description="Google Ads customer ids (digits, dashes allowed)")
    google_ads_login_customer_id: str | None = Field(None, description="manager (MCC) account id, when accessing through one")
    meta_base_url: str = "https://graph.facebook.com/v21.0"
    meta_ad_account_ids: list[str] = Field(default_factory=list, description="Meta ad account ids (with or without act_)")
    linkedin_base_url: str = "https://api.linkedin.com/rest"
    linkedin_version: str = Field("202406", description="LinkedIn-Version header (YYYYMM)")
    linkedin_ad_account_ids: list[str] = Field(default_factory=list, description="LinkedIn sponsored account ids (numeric)")

    sql_replica_url: str | None = Field(None, description="SQLAlchemy URL of the Fivetran or Airbyte replica")
    sql_replica_dialect: ReplicaDialect = Field(
        "fivetran", description="whose layout the replica has: fivetran (tables as Fivetran writes them) or airbyte (streams)")
    stripe_schema: str | None = Field("stripe", description="schema of the Stripe replica tables (None: default schema)")
    hubspot_schema: str | None = Field("hubspot", description="schema of the HubSpot replica tables (None: default schema)")

    def kind_of(self, table: str, system: str) -> SourceKind:
        """The kind that reads ``table`` of ``system``: the table override, else the system's, else files."""
        return self.tables.get(table) or self.systems.get(system) or "files"


@dataclass(frozen=True)
class Credentials:
    """API secrets (hidden from repr). Build with :meth:`from_env` or from ``dagster.EnvVar`` values."""

    stripe_api_key: str | None = field(default=None, repr=False)
    hubspot_access_token: str | None = field(default=None, repr=False)
    google_ads_developer_token: str | None = field(default=None, repr=False)
    google_ads_access_token: str | None = field(default=None, repr=False)
    meta_access_token: str | None = field(default=None, repr=False)
    linkedin_access_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        env = os.environ if environ is None else environ
        return cls(**{name: (env.get(var) or None) for name, var in SECRET_ENV_VARS.items()})
