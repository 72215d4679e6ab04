"""Dagster resources: the warehouse, the source systems and Great Expectations."""

import os
from collections.abc import Iterable
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from saas_metrics.compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from saas_metrics.config import Settings
from saas_metrics.connectors.resource import SourceSystemsResource
from saas_metrics.quality.companion import GXCompanion, shared_companion
from saas_metrics.redaction import (
    SQL_REPLICA_PASSWORD_ENV,
    WAREHOUSE_PASSWORD_ENV,
    redact,
    url_password,
    with_password,
    without_password,
)
from saas_metrics.warehouse import Warehouse
from saas_metrics.warehouse.io_manager import EMPTY_REGISTRY, TableRegistry, WarehouseIOManager
from saas_metrics.warehouse.read_cache import READ_CACHE_MB
from saas_metrics.warehouse.store import prepare_run_memory

#: How the run's log line on its memory settings begins (:meth:`WarehouseResource.setup_for_execution`).
MEMORY_LOG_PREFIX = "memory: "


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse (SQLite by default, PostgreSQL or any SQLAlchemy database). A URL with a
    password is set from ``dg.EnvVar`` (or ``password`` is), so the UI shows no password."""

    url: str
    password: str | None = None
    #: Per table, the only columns the code location reads of it (from :class:`TableRegistry`): plain
    #: config, so a sensor or test builds this resource without a registry.
    read_columns: dict[str, list[str]] = Field(default_factory=dict)
    #: The run's read cache budget in MiB (the setting ``read_cache_mb``).
    read_cache_mb: int = READ_CACHE_MB

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(with_password(self.url, self.password), read_columns=self.read_columns)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        memory = prepare_run_memory(self.read_cache_mb)
        # In the run's log (the UI's run page): what the process that executes the steps uses,
        # whichever road started it (the CLI, a launched run worker, a step process).
        if context.log is not None:
            context.log.info(f"{MEMORY_LOG_PREFIX}{memory}")


#: How far (MiB) a companion may have grown since it imported GX and still be kept after a backfill's
#: last validation. What it keeps after handing freed memory back grows with the batches it
#: validated: the bench's tiny and medium scales stay well under the bound (a restart would cost
#: more than the memory), its large scale well over it (docs/quality.md has the figures).
COMPANION_KEEP_MB = 128


class GreatExpectationsResource(dg.ConfigurableResource):
    """Great Expectations for the steps that validate source tables. With ``companion`` (the setting
    ``quality.gx_companion``, on by default) GX validates and renders Data Docs in a companion
    process on the machine's other core (:mod:`saas_metrics.quality.companion`), started with the
    run's resources; the run waits for its Data Docs pages before it ends. Off, GX runs in the
    run's process."""

    companion: bool = True
    _companion: GXCompanion | None = PrivateAttr(default=None)
    _finished_steps: set[str] = PrivateAttr(default_factory=set)

    @property
    def run_companion(self) -> GXCompanion | None:
        """The run's companion process (None: GX runs in the run's process)."""
        return self._companion

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._finished_steps = set()
        if not self.companion:
            return
        try:
            self._companion = shared_companion()
        except OSError as exc:  # no process to spare (a sandbox's limit): the run validates itself
            if context.log is not None:
                context.log.warning(f"Great Expectations: no companion process ({exc}); GX runs in the run's process")
            return
        if context.log is not None:
            context.log.info(f"Great Expectations: validated and Data Docs rendered by companion process {self._companion.pid}")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._finish(context.log)

    def _finish(self, log: Any) -> None:
        """Wait for the companion's Data Docs pages (logging those that failed) and let the run go of it."""
        companion, self._companion = self._companion, None
        if companion is None:
            return
        for failure in companion.drain():  # the run's Data Docs pages are rendered once this returns
            if log is not None:
                log.warning(f"Data Docs: {failure}")

    def step_finished(self, context: dg.AssetExecutionContext, validating_steps: Iterable[str]) -> None:
        """Called by each step that validates, at its end, with the run's steps that validate. Once
        the last of them has finished in a run of several months (a backfill), the companion's
        pages are waited for and, if it holds memory worth giving back (more than
        ``COMPANION_KEEP_MB`` above what it held once GX was imported), its process is ended: the
        metric steps that follow, over the whole window, are the run's heaviest, and it would hold
        that memory beside them (a large backfill's peak). A companion that grew less, and the
        companion of a run of one month, are kept for the process's next run, which would otherwise
        import GX again (tests and notebooks run many small backfills in one process)."""
        self._finished_steps.add(context.op_def.name)
        tags = context.run.tags
        several_months = tags.get(ASSET_PARTITION_RANGE_START_TAG) != tags.get(ASSET_PARTITION_RANGE_END_TAG)
        companion = self._companion
        if companion is None or not several_months or not set(validating_steps) <= self._finished_steps:
            return
        self._finish(context.log)
        now, started = companion.resident_mb, companion.started_mb
        grown = None if now is None or started is None else now - started
        if grown is not None and grown <= COMPANION_KEEP_MB:
            context.log.info(f"Great Expectations: companion process {companion.pid} kept after the run's last "
                             f"validation ({now:,.0f} MiB, {grown:,.0f} MiB above its start)")
            return
        held = "" if now is None else f", holding {now:,.0f} MiB"
        context.log.info(f"Great Expectations: companion process {companion.pid} ended after the run's last validation{held}")
        companion.close()


class SecretInConfigError(ValueError):
    """A URL holds a password that does not come from the environment."""


def secret_url(url: str, url_env: str, password_env: str) -> tuple[str | dg.EnvVar, dg.EnvVar | None]:
    """``url`` as a resource's (url, password) fields with no password as a plain value: the whole
    URL as ``EnvVar(url_env)`` when it comes from that variable, else the URL without its password
    plus ``EnvVar(password_env)`` when that variable is set. A password from anywhere else (a config
    file, a keyword argument) is refused: the UI and the run's records would show it."""
    password_set = bool(os.environ.get(password_env))
    if url_password(url) is None:
        return url, dg.EnvVar(password_env) if password_set else None
    if os.environ.get(url_env) == url:
        return dg.EnvVar(url_env), None
    if password_set:
        return without_password(url), dg.EnvVar(password_env)
    raise SecretInConfigError(
        f"{redact(url)} holds a password that does not come from the environment: set the whole URL in {url_env}, "
        f"or leave the password out of it and set {password_env}"
    )


def warehouse_resources(settings: Settings, tables: TableRegistry = EMPTY_REGISTRY) -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    """The warehouse resource and the IO manager, both on the configured warehouse, with the
    registry of the definitions' tables."""
    url, password = secret_url(settings.warehouse_url, "SAAS_METRICS_WAREHOUSE_URL", WAREHOUSE_PASSWORD_ENV)
    return {
        "warehouse": WarehouseResource(url=url, password=password,
                                       read_columns={t: sorted(c) for t, c in tables.read_columns.items()},
                                       read_cache_mb=settings.read_cache_mb),
        "io_manager": WarehouseIOManager(warehouse_url=url, password=password, tables=tables,
                                         read_cache_mb=settings.read_cache_mb),
    }


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
    secrets: dict[str, Any] = {field: dg.EnvVar(var) for field, var in SOURCE_SECRETS.items() if os.environ.get(var)}
    connectors = settings.connectors.model_dump(mode="json", exclude_none=True)
    replica = connectors.pop("sql_replica_url", None)
    if replica:
        secrets["sql_replica_url"], secrets["sql_replica_password"] = secret_url(
            replica, "SAAS_METRICS_CONNECTORS__SQL_REPLICA_URL", SQL_REPLICA_PASSWORD_ENV)
    return SourceSystemsResource(
        sources_dir=str(settings.sources_dir),
        landing_cache_dir=str(settings.landing_cache_dir) if settings.landing_cache_dir else None,
        connectors=connectors,
        **secrets,
    )
