"""One entry point for every source table, whichever way its system is connected.

``read_table(table, kind, sources_dir, start, end, config=..., credentials=...)`` returns the
canonical frame of ``table`` for the window [start, end) (first-of-month dates, end exclusive):

- ``files``: the landing files (``saas_metrics.sources.registry.read_source_table``);
- ``api``: the system's API extractor (facts: created in the window; snapshots: whole);
- ``sql``: the Fivetran or Airbyte replica at ``config.sql_replica_url`` (``config.sql_replica_dialect``).

API and SQL records are mapped by the same native mappers as the files (connectors/native.py), so
switching kinds changes nothing downstream. An extraction either completes or raises; nothing
partial is ever returned. ``SourceSystemsResource`` is the Dagster resource wrapping it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from saas_metrics.calendar import add_months
from saas_metrics.connectors import (
    airbyte_replica,
    google_ads_api,
    hubspot_api,
    linkedin_ads_api,
    meta_ads_api,
    sql_replica,
    stripe_api,
)
from saas_metrics.connectors.config import ConnectorsConfig, Credentials, SourceKind
from saas_metrics.connectors.native import NativeExtract, to_canonical
from saas_metrics.redaction import with_password
from saas_metrics.sources.notices import notify
from saas_metrics.sources.registry import SOURCE_SYSTEM_OF, read_source_table
from saas_metrics.warehouse.store import make_engine

logger = logging.getLogger(__name__)

#: table -> the kinds that can read it (files reads everything).
API_TABLES = frozenset(stripe_api.TABLES) | frozenset(hubspot_api.TABLES) | {"ad_spend"}
SQL_TABLES = frozenset(sql_replica.TABLES)


class ConnectorError(ValueError):
    """A table cannot be read the configured way (unsupported kind or missing configuration)."""


def supported_kinds(table: str) -> tuple[SourceKind, ...]:
    kinds: list[SourceKind] = ["files"]
    if table in API_TABLES:
        kinds.append("api")
    if table in SQL_TABLES:
        kinds.append("sql")
    return tuple(kinds)


def resolve_kind(config: ConnectorsConfig, table: str) -> SourceKind:
    """The kind that reads ``table``: its system's (or its own override's), except that a table the system's
    kind cannot read (e.g. touchpoints and subscription periods, which no API or replica holds) falls back
    to its documented default source, the landing files, with an INFO line. An explicit per-table override
    to a kind that cannot read the table stays an error (:func:`read_table`)."""
    system = SOURCE_SYSTEM_OF[table]
    kind = config.kind_of(table, system)
    if table in config.tables or kind in supported_kinds(table):
        return kind
    logger.info("%s: %s is read with kind %r, which has no %s; reading it from files (its default source)",
                table, system, kind, table)
    return "files"


def _check(table: str, kind: str) -> None:
    if table not in SOURCE_SYSTEM_OF:
        raise KeyError(f"unknown source table {table!r}; known: {sorted(SOURCE_SYSTEM_OF)}")
    if kind not in ("files", "api", "sql"):
        raise ConnectorError(f"{table}: unknown source kind {kind!r}; use files, api or sql")
    if kind not in supported_kinds(table):
        raise ConnectorError(f"{table} ({SOURCE_SYSTEM_OF[table]}) cannot be read with kind {kind!r}; supported: "
                             f"{list(supported_kinds(table))} (override the table in ConnectorsConfig.tables)")


def _ads_extracts(config: ConnectorsConfig, credentials: Credentials, start: dt.date | None, end: dt.date | None,
                  sleep: Callable[[float], None]) -> list[NativeExtract]:
    if start is None or end is None:
        raise ConnectorError("ad_spend via api needs a bounded window (start and end): ad reports are extracted per month")
    first_day, last_day = start, end - dt.timedelta(days=1)
    extracts: list[NativeExtract] = []
    platforms: list[tuple[str, list[str], Any]] = [
        ("google_ads", config.google_ads_customer_ids, google_ads_api),
        ("meta_ads", config.meta_ad_account_ids, meta_ads_api),
        ("linkedin_ads", config.linkedin_ad_account_ids, linkedin_ads_api),
    ]
    for platform, accounts, module in platforms:
        if not accounts:
            notify(f"ads/{platform}: no account configured (ConnectorsConfig); no {platform} rows extracted", stacklevel=3)
            extracts.append(NativeExtract(module.RELATIVE, module.COLUMNS, [], f"{platform}-api:not-configured"))
            continue
        if platform == "google_ads":
            with google_ads_api.google_ads_client(config, credentials, sleep=sleep) as client:
                extracts.append(google_ads_api.extract(client, accounts, first_day, last_day))
        elif platform == "meta_ads":
            with meta_ads_api.meta_client(config, credentials, sleep=sleep) as client:
                extracts.append(meta_ads_api.extract(client, accounts, first_day, last_day, page_size=config.page_size))
        else:
            with linkedin_ads_api.linkedin_client(config, credentials, sleep=sleep) as client:
                extracts.append(linkedin_ads_api.extract(client, accounts, first_day, last_day, page_size=config.page_size))
    return extracts


def api_extracts(table: str, start: dt.date | None, end: dt.date | None, *, config: ConnectorsConfig,
                 credentials: Credentials, sleep: Callable[[float], None] = time.sleep) -> list[NativeExtract]:
    """The native records of ``table`` from its system's API."""
    if table == "ad_spend":
        return _ads_extracts(config, credentials, start, end, sleep)
    if table in stripe_api.TABLES:
        with stripe_api.stripe_client(config, credentials, sleep=sleep) as client:
            return stripe_api.extract(table, client, start, end, page_size=config.page_size)
    with hubspot_api.hubspot_client(config, credentials, sleep=sleep) as client:
        return hubspot_api.extract(table, client, start, end, page_size=config.page_size)


def sql_extracts(table: str, start: dt.date | None, end: dt.date | None, *, config: ConnectorsConfig) -> list[NativeExtract]:
    """The native records of ``table`` from the SQL replica."""
    if not config.sql_replica_url:
        raise ConnectorError(f"{table}: kind 'sql' needs ConnectorsConfig.sql_replica_url")
    engine = make_engine(config.sql_replica_url)
    dialect = airbyte_replica if config.sql_replica_dialect == "airbyte" else sql_replica
    return dialect.extract(table, engine, stripe_schema=config.stripe_schema, hubspot_schema=config.hubspot_schema,
                           start=start, end=end)


def read_table(table: str, kind: str, sources_dir: Path, start: dt.date | None = None, end: dt.date | None = None, *,
               config: ConnectorsConfig | None = None, credentials: Credentials | None = None,
               include_unplaced: bool = False, sleep: Callable[[float], None] = time.sleep) -> pd.DataFrame:
    """The canonical ``table`` for [start, end), read the ``kind`` way (see the module docstring).

    ``credentials`` default to the environment (:meth:`Credentials.from_env`); ``include_unplaced`` as in
    ``read_source_table`` (rows without a time, returned for the first month of a run)."""
    _check(table, kind)
    if start is not None and end is not None and end <= start:
        raise ValueError(f"empty window: end {end} is not after start {start}")
    if kind == "files":
        return read_source_table(table, sources_dir, start, end, include_unplaced=include_unplaced)
    config = config or ConnectorsConfig()
    if kind == "api":
        extracts = api_extracts(table, start, end, config=config, credentials=credentials or Credentials.from_env(), sleep=sleep)
    else:
        extracts = sql_extracts(table, start, end, config=config)
    frame = to_canonical(table, extracts, start, end, include_unplaced=include_unplaced)
    logger.info("%s: %d rows via %s (%s)", table, len(frame), kind, ", ".join(sorted({e.source for e in extracts})))
    return frame


def month_window(month: dt.date) -> tuple[dt.date, dt.date]:
    """[first day of ``month``, first day of the next month)."""
    first = month.replace(day=1)
    return first, add_months(first, 1)


class SourceSystemsResource(dg.ConfigurableResource):
    """Source systems chosen by configuration: per system (and optionally per table) files, api or sql.

    Secrets are fields set from ``dg.EnvVar`` (e.g. ``stripe_api_key=dg.EnvVar("STRIPE_API_KEY")``), so they
    never appear in the UI or logs; unset ones fall back to the process environment.
    """

    sources_dir: str
    landing_cache_dir: str | None = None  # files only: see saas_metrics/sources/landing.py
    systems: dict[str, str] = {}  # noqa: RUF012 (pydantic copies defaults)
    tables: dict[str, str] = {}  # noqa: RUF012
    connectors: dict[str, Any] = {}  # noqa: RUF012
    stripe_api_key: str | None = None
    hubspot_access_token: str | None = None
    google_ads_developer_token: str | None = None
    google_ads_access_token: str | None = None
    meta_access_token: str | None = None
    linkedin_access_token: str | None = None
    sql_replica_url: str | None = None  # with a password: from dg.EnvVar, or the password in sql_replica_password
    sql_replica_password: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.sources_dir)

    def connectors_config(self) -> ConnectorsConfig:
        """``connectors`` (ConnectorsConfig fields) with ``systems``/``tables`` and the replica URL on top."""
        replica = self.sql_replica_url or self.connectors.get("sql_replica_url")
        if replica:
            replica = with_password(replica, self.sql_replica_password)
        return ConnectorsConfig.model_validate({**self.connectors, "systems": {**self.connectors.get("systems", {}), **self.systems},
                                                "tables": {**self.connectors.get("tables", {}), **self.tables},
                                                "sql_replica_url": replica})

    def credentials(self) -> Credentials:
        env = Credentials.from_env()
        return Credentials(**{name: getattr(self, name) or getattr(env, name) for name in (
            "stripe_api_key", "hubspot_access_token", "google_ads_developer_token", "google_ads_access_token",
            "meta_access_token", "linkedin_access_token")})

    def kind_of(self, table: str) -> SourceKind:
        return resolve_kind(self.connectors_config(), table)

    def read_table(self, table: str, start: dt.date | None = None, end: dt.date | None = None, *,
                   include_unplaced: bool = False) -> pd.DataFrame:
        """The canonical ``table`` for [start, end) from its configured kind."""
        config = self.connectors_config()
        kind = resolve_kind(config, table)
        return read_table(table, kind, self.path, start, end, config=config,
                          credentials=self.credentials() if kind == "api" else None, include_unplaced=include_unplaced)
