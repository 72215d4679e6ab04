"""Dagster resources: the warehouse and the source systems."""

from __future__ import annotations

import os

import dagster as dg

from saas_metrics.config import Settings
from saas_metrics.connectors.resource import SourceSystemsResource
from saas_metrics.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse (SQLite by default, PostgreSQL or any SQLAlchemy database)."""

    url: str

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.url)


#: Secret resource fields and the environment variables they come from (never settings, never logged).
SOURCE_SECRETS = {
    "stripe_api_key": "STRIPE_API_KEY",
    "hubspot_access_token": "HUBSPOT_ACCESS_TOKEN",
    "google_ads_developer_token": "GOOGLE_ADS_DEVELOPER_TOKEN",
    "google_ads_access_token": "GOOGLE_ADS_ACCESS_TOKEN",
    "meta_access_token": "META_ACCESS_TOKEN",
    "linkedin_access_token": "LINKEDIN_ACCESS_TOKEN",
}


def sources_resource(settings: Settings) -> SourceSystemsResource:
    """The source systems as configured: files by default; api or sql per system
    (settings.connectors); secrets as dagster.EnvVar for the variables that are set."""
    secrets = {field: dg.EnvVar(var) for field, var in SOURCE_SECRETS.items() if os.environ.get(var)}
    return SourceSystemsResource(
        sources_dir=str(settings.sources_dir),
        landing_cache_dir=str(settings.landing_cache_dir) if settings.landing_cache_dir else None,
        connectors=settings.connectors.model_dump(mode="json", exclude_none=True),
        **secrets,
    )
