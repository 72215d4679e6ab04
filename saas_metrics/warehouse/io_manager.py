"""A partition-aware Dagster IO manager over :class:`Warehouse`.

An asset's output (a DataFrame) is written to the table named after the asset, with the schema
its :class:`TableRegistry` holds for it: the registry is built from the definitions (each asset
declares its table in its metadata, :func:`table_metadata`) and handed to the IO manager. A partitioned
output (one month, or a range in a single-run backfill) replaces exactly its
time window in one transaction; an unpartitioned output replaces the table.
Inputs read back exactly the upstream window that the partition mapping asks for,
and only the columns an input declares in its metadata (``{"columns": [...]}``) when it does.
"""

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from dagster import (
    AssetsDefinition,
    ConfigurableIOManager,
    InitResourceContext,
    InputContext,
    MetadataValue,
    OutputContext,
    ResourceDependency,
    TableColumn,
    TimeWindowPartitionsDefinition,
)
from dagster import TableSchema as DagsterTableSchema

from saas_metrics.compat import run_step_keys
from saas_metrics.redaction import with_password
from saas_metrics.tables import MONTH_COLUMN, Column, TableSchema
from saas_metrics.warehouse.read_cache import READ_CACHE_MB
from saas_metrics.warehouse.store import Warehouse, prepare_run_memory, release_finished_reads

STAGING_PREFIX = "stg_"
#: Input metadata key naming the columns an input reads (all columns when absent).
COLUMNS_METADATA_KEY = "columns"

#: Asset metadata key holding the asset's warehouse table schema (JSON, see :func:`table_metadata`).
SCHEMA_METADATA_KEY = "saas_metrics/table_schema"

_DAGSTER_TYPES = {"str": "string", "json": "json", "float": "float", "int": "int", "bool": "bool", "date": "date", "datetime": "timestamp"}


def schema_to_json(schema: TableSchema) -> dict[str, object]:
    return asdict(schema)


def schema_from_json(data: Mapping[str, object]) -> TableSchema:
    columns = tuple(Column(**c) for c in data["columns"])  # type: ignore[attr-defined]  # JSON: a list of column dicts
    return TableSchema(**{**data, "columns": columns, "key": tuple(data.get("key") or ())})  # type: ignore[arg-type]


def table_metadata(schema: TableSchema) -> dict[str, Any]:
    """An asset's metadata for its warehouse table: the column schema and table name the UI shows,
    and the schema itself, from which :meth:`TableRegistry.from_definitions` builds the registry."""
    return {
        "dagster/column_schema": dagster_column_schema(schema),
        "dagster/table_name": schema.name,
        SCHEMA_METADATA_KEY: MetadataValue.json(schema_to_json(schema)),
    }


def reads(columns: Iterable[str]) -> dict[str, list[str]]:
    """An input's metadata declaring the only columns its asset reads of the table:
    ``dg.AssetIn(metadata=reads([...]))``. The IO manager then loads just those."""
    return {COLUMNS_METADATA_KEY: list(columns)}


@dataclass(frozen=True)
class TableRegistry:
    """What the IO manager needs to know of the code location, as data: the warehouse table of
    each asset it stores, and per table the only columns its readers ask for (a run's read cache
    keeps only those)."""

    schemas: Mapping[str, TableSchema] = field(default_factory=dict)
    read_columns: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Per table, the steps that read it (an input or a declared dependency): once every one of them
    #: in a run has finished, the run's read cache lets the table's frames go.
    readers: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def schema_for(self, asset_name: str) -> TableSchema:
        try:
            return self.schemas[asset_name]
        except KeyError as exc:
            raise KeyError(f"asset {asset_name!r} has no warehouse table schema in the IO manager's registry") from exc

    @classmethod
    def from_definitions(cls, definitions: Iterable[Any],
                         extra_read_columns: Mapping[str, Iterable[str]] | None = None) -> "TableRegistry":
        """The tables the ``definitions`` (assets and asset checks) declare in their metadata (named
        after their asset), and the columns their inputs read (:func:`declared_read_columns`)."""
        definitions = list(definitions)
        schemas: dict[str, TableSchema] = {}
        for definition in definitions:
            for key, spec in getattr(definition, "specs_by_key", {}).items():
                declared = spec.metadata.get(SCHEMA_METADATA_KEY)
                if declared is not None:
                    schema = schema_from_json(getattr(declared, "value", declared))
                    schemas[key.path[-1]] = TableSchema(
                        name=key.path[-1], columns=schema.columns, description=schema.description,
                        time_column=schema.time_column, key=schema.key)
        return cls(schemas, declared_read_columns(definitions, extra=extra_read_columns), declared_readers(definitions))


EMPTY_REGISTRY = TableRegistry()


def dagster_column_schema(schema: TableSchema) -> DagsterTableSchema:
    return DagsterTableSchema(columns=[
        TableColumn(name=c.name, type=_DAGSTER_TYPES[c.type], description=c.description or None) for c in schema.columns
    ])


def declared_read_columns(definitions: Iterable[AssetsDefinition],
                          extra: Mapping[str, Iterable[str]] | None = None) -> dict[str, frozenset[str]]:
    """Per upstream table, the union of the columns that its loaded inputs in ``definitions``
    (assets and asset checks) declare, for the tables whose every loaded input declares its columns;
    a table that some input reads whole is left out. ``extra``: columns read outside inputs (direct
    warehouse reads, such as product usage read a month at a time), added to the table's union
    (a table only read that way has just these)."""
    union: dict[str, set[str]] = {}
    read_whole: set[str] = set()
    for definition in definitions:
        for name, key in definition.keys_by_input_name.items():
            input_def = definition.node_def.input_def_named(name)
            if input_def.dagster_type.is_nothing:  # a dependency only: nothing is loaded
                continue
            table = key.path[-1]
            columns = (input_def.metadata or {}).get(COLUMNS_METADATA_KEY)
            if columns is None:
                read_whole.add(table)
            else:
                union.setdefault(table, set()).update(columns)
    for table, columns in (extra or {}).items():
        union.setdefault(table, set()).update(columns)
    return {table: frozenset(columns) for table, columns in union.items() if table not in read_whole}


def declared_readers(definitions: Iterable[Any]) -> dict[str, frozenset[str]]:
    """Per upstream table, the steps (op names) of ``definitions`` that depend on it, through a
    loaded input or a dependency only (a step that reads a table from the warehouse itself declares
    it as a dependency, for the lineage); a step's own outputs are not counted."""
    readers: dict[str, set[str]] = {}
    for definition in definitions:
        node = getattr(definition, "node_def", None)
        if node is None:
            continue
        own = {key.path[-1] for key in getattr(definition, "keys", ())}
        for key in definition.keys_by_input_name.values():
            if key.path[-1] not in own:
                readers.setdefault(key.path[-1], set()).add(node.name)
    return {table: frozenset(steps) for table, steps in readers.items()}


def _window(context: InputContext | OutputContext) -> tuple[dt.date, dt.date] | None:
    if not context.has_asset_partitions:
        return None
    tw = context.asset_partitions_time_window
    return tw.start.date(), tw.end.date()


def _run_id(context: InputContext | OutputContext) -> str | None:
    """The run of the step (None outside a run, e.g. a hand-built context)."""
    try:
        return context.step_context.run_id
    except Exception:  # no step context: no run-scoped cache
        return None


def month_row_counts(frame: pd.DataFrame) -> pd.Series:
    """Rows per ``month`` of ``frame`` (indexed by the month's Timestamp)."""
    if MONTH_COLUMN not in frame.columns:
        return pd.Series(dtype="int64")
    return pd.to_datetime(frame[MONTH_COLUMN]).value_counts()


def partition_row_count_metadata(partitions_def: object, partition_keys: Iterable[str],
                                 counts: Mapping[pd.Timestamp, int]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each partition's own row count and window, to stamp on its materialization: the output
    metadata of a single-run backfill is stamped on every partition, so without this each month
    showed the whole range's row count. Used by :meth:`WarehouseIOManager.handle_output` and by a
    step that stores its rows month by month itself (the raw steps, ``defs/source_assets.py``)."""
    assert isinstance(partitions_def, TimeWindowPartitionsDefinition), "partitioned tables are monthly"
    for key in partition_keys:
        window = partitions_def.time_window_for_partition_key(key)
        yield key, {
            "dagster/row_count": int(counts.get(pd.Timestamp(window.start.date()), 0)),
            "window": MetadataValue.text(f"[{window.start.date()}, {window.end.date()})"),
        }


class WarehouseIOManager(ConfigurableIOManager):
    """Stores DataFrames in the SQL warehouse at ``warehouse_url`` (SQLite or PostgreSQL); ``password``,
    when set (from ``dg.EnvVar``), goes into that URL; ``tables``: the registry of the assets' tables."""

    warehouse_url: str
    password: str | None = None
    # Dagster resolves a ResourceDependency field to its value; the default is that value already.
    tables: ResourceDependency[TableRegistry] = EMPTY_REGISTRY  # type: ignore[assignment]
    #: The run's read cache budget in MiB (the setting ``read_cache_mb``).
    read_cache_mb: int = READ_CACHE_MB

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(with_password(self.warehouse_url, self.password), read_columns=self.tables.read_columns)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        prepare_run_memory(self.read_cache_mb)

    def handle_output(self, context: OutputContext, obj: pd.DataFrame | None) -> None:
        # None: the step stored its rows itself, month by month (the raw steps of long event
        # tables, see docs/architecture.md "Memory bounded by the month").
        if obj is None:
            return
        schema = self.tables.schema_for(context.asset_key.path[-1])
        window = _window(context)
        # A snapshot table unchanged since its last write (most of them, most months) is not written again.
        rows = self.warehouse.replace(schema, obj, window, cache_scope=_run_id(context), skip_unchanged=True)
        context.add_output_metadata({
            "dagster/row_count": rows,
            "table": MetadataValue.text(schema.name),
            "window": MetadataValue.text("all rows" if window is None else f"[{window[0]}, {window[1]})"),
        })
        if window is not None:
            for key, metadata in partition_row_count_metadata(context.asset_partitions_def, context.asset_partition_keys,
                                                              month_row_counts(obj)):
                context.step_context.add_asset_metadata(metadata, asset_key=context.asset_key, partition_key=key)

    def load_input(self, context: InputContext) -> pd.DataFrame:
        upstream = context.upstream_output
        if upstream is None or upstream.asset_key is None:
            raise ValueError("WarehouseIOManager loads asset inputs only")
        schema = self.tables.schema_for(upstream.asset_key.path[-1])
        # An input may declare the columns it needs (AssetIn(metadata={"columns": [...]})): a consumer
        # of a table of millions of rows then does not read its lineage columns back.
        columns = (context.definition_metadata or {}).get(COLUMNS_METADATA_KEY)
        scope = _run_id(context)
        if scope is not None:
            steps = run_step_keys(context.step_context)
            release_finished_reads(scope, context.step_context.step.key,
                                   {table: readers & steps for table, readers in self.tables.readers.items()})
        frame = self.warehouse.read(schema, _window(context), columns=columns, cache_scope=scope)
        if schema.name.startswith(STAGING_PREFIX) and MONTH_COLUMN in frame.columns:
            # Staging tables are read in their canonical schema: `month` is only how they are stored.
            frame = frame.drop(columns=MONTH_COLUMN)
        return frame
