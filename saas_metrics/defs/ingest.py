"""The raw and staging assets of the source tables, one step per source system.

Every canonical table keeps its own ``raw_<table>`` and ``stg_<table>`` assets, checks, metadata
and lineage in the UI, but the tables of one source system (split by partitioned / snapshot
tables, which have different partitions) are materialised by ONE subsettable multi-asset step:
a step costs Dagster's step machinery, events and look-ups whatever its size, and a source
table's raw, staging and reconciliation work is small. Selecting one table in the UI still
materialises that table alone (``can_subset``).

Inside the step the tables run in dependency order (a child after the parents its integrity
check reads); a table whose raw asset fails a blocking check is not staged, its in-step children
are not materialised, and the step fails at its end with the named checks, as a raw step did.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from saas_metrics.compat import run_step_keys
from saas_metrics.config import Settings
from saas_metrics.connectors.resource import SourceSystemsResource
from saas_metrics.defs.common import (
    SINGLE_RUN,
    domain_defs,
    is_partitioned_table,
    kinds_for,
    table_metadata,
)
from saas_metrics.defs.resources import GreatExpectationsResource, WarehouseResource
from saas_metrics.defs.source_assets import (
    REFERENCES,
    ROW_ACCOUNTING_CHECK,
    SOURCE_COMPLETE_CHECK,
    ParentIds,
    raw_events,
    raw_storage_schema,
    reconciliation_result,
    stage,
    stg_storage_schema,
)
from saas_metrics.quality.checks import check_blocking
from saas_metrics.quality.dagster_checks import check_specs
from saas_metrics.sources.registry import SOURCE_SYSTEM_OF
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.tables import TableSchema

RECONCILIATION_CHECK = "reconciliation"
#: How the steps that materialise source tables, and validate them, are named.
STEP_PREFIX = "ingest_"
#: Dagster's documented step priority (higher runs first among the steps ready to run): a run's
#: validating steps all run before its metric steps, so that a backfill ends the GX companion
#: (GreatExpectationsResource.step_finished) before the metric steps, its heaviest, start.
FIRST_IN_RUN = {"dagster/priority": "1"}


@dataclass(frozen=True)
class SourceTable:
    """One canonical table's pair of assets: keys, storage schemas, upstream tables and checks."""

    table: str

    @property
    def system(self) -> str:
        return SOURCE_SYSTEM_OF[self.table]

    @property
    def partitioned(self) -> bool:
        return is_partitioned_table(SCHEMAS[self.table])

    @cached_property
    def raw_schema(self) -> TableSchema:
        return raw_storage_schema(self.table)

    @cached_property
    def stg_schema(self) -> TableSchema:
        return stg_storage_schema(self.table)

    @property
    def raw_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.raw_schema.name])

    @property
    def stg_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.stg_schema.name])

    @property
    def upstream(self) -> list[dg.AssetKey]:
        """The raw tables this table's checks read: referenced parents, and FX rates for a currency."""
        tables = sorted(set(REFERENCES.get(self.table, {}).values()))
        if "currency" in SCHEMAS[self.table].column_names and self.table != "fx_rates":
            tables.append("fx_rates")
        return [dg.AssetKey([f"raw_{t}"]) for t in tables]

    def raw_out(self, settings: Settings) -> dg.AssetOut:
        canonical = SCHEMAS[self.table]
        return dg.AssetOut.from_spec(dg.AssetSpec(
            self.raw_key,
            group_name=f"raw_{self.system}",
            description=f"{canonical.description}\n\nRaw rows of `{self.table}` in the canonical schema, read from "
            f"the `{self.system}` source, every row kept and annotated with its quarantine reason (null when "
            "clean). Validated by its Great Expectations suite (asset checks).",
            kinds=kinds_for(settings, "great_expectations"),
            owners=["team:data"],
            metadata=table_metadata(self.raw_schema),
            tags={"layer": "raw", "source_system": self.system},
        ), is_required=False)

    def stg_out(self, settings: Settings) -> dg.AssetOut:
        # Nothing: the staging table is a view the step creates, no value goes through the IO manager.
        return dg.AssetOut.from_spec(dg.AssetSpec(
            self.stg_key,
            group_name="staging",
            description=f"Clean rows of `{self.table}` (canonical schema): raw rows minus the quarantined ones. "
            f"A view of `raw_{self.table}` (no copy of the rows).",
            kinds=kinds_for(settings),
            owners=["team:data"],
            metadata=table_metadata(self.stg_schema),
            tags={"layer": "staging", "source_system": self.system},
        ), dagster_type=dg.Nothing, is_required=False)

    def check_specs(self) -> list[dg.AssetCheckSpec]:
        return [
            *check_specs(self.table, self.raw_key),
            dg.AssetCheckSpec(
                SOURCE_COMPLETE_CHECK, asset=self.raw_key,
                description="No native file that fed this table in other months is absent or empty now (its "
                "metrics would read as zero; they are NULL for the run's months instead)."),
            dg.AssetCheckSpec(
                ROW_ACCOUNTING_CHECK, asset=self.raw_key, blocking=True,
                description="Every row read is loaded, quarantined or excluded by a named rule: read = loaded + "
                "quarantined + excluded for this table and run (table source_row_accounting)."),
            dg.AssetCheckSpec(
                RECONCILIATION_CHECK, asset=self.stg_key, blocking=True,
                description=f"Nothing is lost: raw_{self.table} rows = stg_{self.table} rows + quarantined rows "
                f"of {self.table}, for every partition of the run."),
        ]


def source_step_name(system: str, partitioned: bool) -> str:
    """The step of a system's partitioned tables (``ingest_billing``) or of its snapshot tables
    (``ingest_billing_snapshot``)."""
    return f"{STEP_PREFIX}{system}" if partitioned else f"{STEP_PREFIX}{system}_snapshot"


def source_steps(tables: Iterable[str]) -> dict[str, list[SourceTable]]:
    """The tables of each step, each after the tables of the same step it reads."""
    steps: dict[str, list[SourceTable]] = {}
    for table in tables:
        source = SourceTable(table)
        steps.setdefault(source_step_name(source.system, source.partitioned), []).append(source)
    return {name: _in_dependency_order(members) for name, members in steps.items()}


def _in_dependency_order(members: list[SourceTable]) -> list[SourceTable]:
    pending, ordered = list(members), []
    done: set[dg.AssetKey] = set()
    own = {m.raw_key for m in members}
    while pending:
        ready = [m for m in pending if not (set(m.upstream) & own) - done]
        if not ready:
            raise ValueError(f"cyclic references among {[m.table for m in pending]}")
        for member in ready:
            ordered.append(member)
            done.add(member.raw_key)
            pending.remove(member)
    return ordered


def build_source_assets(settings: Settings, partitions: dg.PartitionsDefinition,
                        tables: Sequence[str] | None = None) -> list[dg.AssetsDefinition]:
    """One subsettable multi-asset per source system step (see :func:`source_steps`)."""
    return [source_step(name, members, settings, partitions)
            for name, members in source_steps(tables or list(SCHEMAS)).items()]


def source_step(name: str, members: list[SourceTable], settings: Settings,
                partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The multi-asset materialising ``members``' raw and staging assets and their checks."""
    outs = {m.raw_key.path[-1]: m.raw_out(settings) for m in members}
    outs |= {m.stg_key.path[-1]: m.stg_out(settings) for m in members}
    internal = {m.raw_key.path[-1]: set(m.upstream) for m in members}
    internal |= {m.stg_key.path[-1]: {m.raw_key} for m in members}
    external = sorted({key for m in members for key in m.upstream} - {m.raw_key for m in members}, key=str)
    partitioned = members[0].partitioned
    part_kwargs: dict[str, Any] = {"partitions_def": partitions, "backfill_policy": SINGLE_RUN} if partitioned else {}

    @dg.multi_asset(
        name=name,
        outs=outs,
        deps=external,
        internal_asset_deps=internal,
        check_specs=[spec for m in members for spec in m.check_specs()],
        can_subset=True,
        op_tags=FIRST_IN_RUN,
        description=f"Raw and staging tables of the `{members[0].system}` source: "
        + ", ".join(m.table for m in members),
        **part_kwargs,
    )
    def ingest(context: AssetExecutionContext, sources: SourceSystemsResource, warehouse: WarehouseResource,
               gx: GreatExpectationsResource):
        yield from ingest_tables(context, members, sources, warehouse, settings, gx)

    return ingest


def ingest_tables(context: AssetExecutionContext, members: list[SourceTable], sources: SourceSystemsResource,
                  warehouse: WarehouseResource, settings: Settings, gx: GreatExpectationsResource) -> Iterator[object]:
    """The selected raw and staging assets of ``members``, in order; a table whose raw asset fails a
    blocking check, or whose in-step parent did, is not staged (nor are its in-step children). GX
    validates in ``gx``'s companion process when the run has one."""
    selected, checks = context.selected_asset_keys, context.selected_asset_check_keys
    blocked: set[dg.AssetKey] = set()
    parents = ParentIds(warehouse)
    for member in members:
        if set(member.upstream) & blocked:
            context.log.warning(f"{member.table}: not materialised, a table it reads failed a blocking check")
            blocked.add(member.raw_key)
            continue
        if member.raw_key in selected:
            for event in raw_events(context, member.table, sources, warehouse, settings, parents,
                                    companion=gx.run_companion):
                if isinstance(event, dg.AssetCheckResult):
                    if _fails_blocking(event):
                        blocked.add(member.raw_key)
                    if dg.AssetCheckKey(member.raw_key, event.check_name or "") not in checks:
                        continue
                yield event
            # Stored by now (Dagster stores an output before the step's generator goes on).
            parents.forget(member.table)
        if member.raw_key in blocked:
            continue
        if member.stg_key in selected:
            yield stage(context, member.table, warehouse)
        # Also alone ("Execute" on the check in the UI): it counts what is stored.
        if dg.AssetCheckKey(member.stg_key, RECONCILIATION_CHECK) in checks:
            yield reconciliation_result(context, member.table, warehouse)
    gx.step_finished(context, [key for key in run_step_keys(context.get_step_execution_context())
                               if key.startswith(STEP_PREFIX)])


def _fails_blocking(result: dg.AssetCheckResult) -> bool:
    name = result.check_name or ""
    failed = not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    return failed and (check_blocking(name) or name == ROW_ACCOUNTING_CHECK)


def defs(settings: Settings) -> dg.Definitions:
    """The raw and staging tables of every source system."""
    return domain_defs(build_source_assets, settings)
