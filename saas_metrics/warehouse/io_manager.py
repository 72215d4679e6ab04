"""A partition-aware Dagster IO manager over :class:`Warehouse`.

An asset's output (a DataFrame) is written to the table named after the asset,
with the schema registered for it in :data:`TABLE_SCHEMAS`. A partitioned
output (one month, or a range in a single-run backfill) replaces exactly its
time window in one transaction; an unpartitioned output replaces the table.
Inputs read back exactly the upstream window that the partition mapping asks for,
and only the columns an input declares in its metadata (``{"columns": [...]}``) when it does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd
from dagster import (
    AssetsDefinition,
    ConfigurableIOManager,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TimeWindowPartitionsDefinition,
)
from dagster import TableSchema as DagsterTableSchema

from saas_metrics.redaction import with_password
from saas_metrics.tables import MONTH_COLUMN, TableSchema
from saas_metrics.warehouse.store import Warehouse

STAGING_PREFIX = "stg_"
#: Input metadata key naming the columns an input reads (all columns when absent).
COLUMNS_METADATA_KEY = "columns"

#: asset name -> schema of its warehouse table (filled where assets are defined).
TABLE_SCHEMAS: dict[str, TableSchema] = {}

_DAGSTER_TYPES = {"str": "string", "json": "json", "float": "float", "int": "int", "bool": "bool", "date": "date", "datetime": "timestamp"}


def register_table(asset_name: str, schema: TableSchema) -> TableSchema:
    """Declare the warehouse table of an asset (its name becomes the asset name)."""
    stored = TableSchema(
        name=asset_name, columns=schema.columns, description=schema.description,
        time_column=schema.time_column, key=schema.key,
    )
    TABLE_SCHEMAS[asset_name] = stored
    return stored


def dagster_column_schema(schema: TableSchema) -> DagsterTableSchema:
    return DagsterTableSchema(columns=[
        TableColumn(name=c.name, type=_DAGSTER_TYPES[c.type], description=c.description or None) for c in schema.columns
    ])


def declared_read_columns(definitions: Iterable[AssetsDefinition],
                          extra: Mapping[str, Iterable[str]] | None = None) -> dict[str, frozenset[str]]:
    """Per upstream table, the union of the columns that its loaded inputs in ``definitions``
    (assets and asset checks) declare, for the tables whose every loaded input declares its columns;
    a table that some input reads whole is left out. ``extra``: columns read outside inputs (a
    direct warehouse read of the same table), added to a table's union."""
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
        if table in union:
            union[table].update(columns)
    return {table: frozenset(columns) for table, columns in union.items() if table not in read_whole}


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


def _schema_for(context: InputContext | OutputContext) -> TableSchema:
    name = context.asset_key.path[-1]
    try:
        return TABLE_SCHEMAS[name]
    except KeyError as exc:
        raise KeyError(f"asset {name!r} has no registered warehouse table schema") from exc


def _add_partition_row_counts(context: OutputContext, frame: pd.DataFrame) -> None:
    """Each partition's own row count and window on its materialization: the output metadata of a
    single-run backfill is stamped on every partition, so without this each month showed the
    whole range's row count."""
    partitions_def = context.asset_partitions_def
    step = context.step_context
    months = frame[MONTH_COLUMN] if MONTH_COLUMN in frame.columns else None
    counts = pd.to_datetime(months).value_counts() if months is not None else pd.Series(dtype="int64")
    assert isinstance(partitions_def, TimeWindowPartitionsDefinition), "partitioned tables are monthly"
    for key in context.asset_partition_keys:
        window = partitions_def.time_window_for_partition_key(key)
        start = pd.Timestamp(window.start.date())
        step.add_asset_metadata({
            "dagster/row_count": int(counts.get(start, 0)),
            "window": MetadataValue.text(f"[{window.start.date()}, {window.end.date()})"),
        }, asset_key=context.asset_key, partition_key=key)


class WarehouseIOManager(ConfigurableIOManager):
    """Stores DataFrames in the SQL warehouse at ``warehouse_url`` (SQLite or PostgreSQL); ``password``,
    when set (from ``dg.EnvVar``), goes into that URL."""

    warehouse_url: str
    password: str | None = None

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(with_password(self.warehouse_url, self.password))

    def handle_output(self, context: OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return
        schema = _schema_for(context)
        window = _window(context)
        rows = self.warehouse.replace(schema, obj, window, cache_scope=_run_id(context))
        context.add_output_metadata({
            "dagster/row_count": rows,
            "table": MetadataValue.text(schema.name),
            "window": MetadataValue.text("all rows" if window is None else f"[{window[0]}, {window[1]})"),
        })
        if window is not None:
            _add_partition_row_counts(context, obj)

    def load_input(self, context: InputContext) -> pd.DataFrame:
        upstream = context.upstream_output
        if upstream is None or upstream.asset_key is None:
            raise ValueError("WarehouseIOManager loads asset inputs only")
        schema = _schema_for(upstream)
        # An input may declare the columns it needs (AssetIn(metadata={"columns": [...]})): a consumer
        # of a table of millions of rows then does not read its lineage columns back.
        columns = (context.definition_metadata or {}).get(COLUMNS_METADATA_KEY)
        frame = self.warehouse.read(schema, _window(context), columns=columns, cache_scope=_run_id(context))
        if schema.name.startswith(STAGING_PREFIX) and MONTH_COLUMN in frame.columns:
            # Staging tables are read in their canonical schema: `month` is only how they are stored.
            frame = frame.drop(columns=MONTH_COLUMN)
        return frame
