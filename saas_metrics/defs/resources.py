"""Dagster resources: the warehouse and the source systems."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from saas_metrics.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse (SQLite by default, PostgreSQL or any SQLAlchemy database)."""

    url: str

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.url)


class SourcesResource(dg.ConfigurableResource):
    """Where the source systems' data comes from.

    ``kind='files'`` reads the landing files under ``sources_dir`` (the
    default); other kinds are selected per system by configuration.
    """

    sources_dir: str
    reporting_currency: str = "USD"

    @property
    def path(self) -> Path:
        return Path(self.sources_dir)
