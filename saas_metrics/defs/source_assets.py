"""What the raw and staging assets of every canonical source table do (wired in defs/ingest.py).

``raw_<table>``: reads the source system (files, API or SQL replica) for the
partition window, maps it to the canonical schema, validates it with the
table's Great Expectations suite (results as asset checks) and stores EVERY row,
annotated with the reason it is quarantined (null when clean). Its quarantined
rows also go to ``quarantined_rows`` for that table and window.

``stg_<table>``: the clean rows only; a reconciliation check asserts
raw = clean + quarantined for the window.
"""


import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from saas_metrics.compat import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from saas_metrics.config import Settings
from saas_metrics.connectors.resource import SourceSystemsResource
from saas_metrics.defs.batch_ids import EarlierBatchIds
from saas_metrics.defs.common import (
    asset_window,
    is_partitioned_table,
    window_months,
)
from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.defs.source_reads import read_placed
from saas_metrics.metrics.requirements import metrics_fed_by
from saas_metrics.quality.accounting import (
    SOURCE_ROW_ACCOUNTING,
    RowAccount,
    accounting_frame,
)
from saas_metrics.quality.combine import combine_summaries, summarise
from saas_metrics.quality.companion import GXCompanion
from saas_metrics.quality.dagster_checks import to_asset_check_results
from saas_metrics.quality.gaps import SOURCE_GAPS, file_state, gap_frame
from saas_metrics.quality.quarantine import QUARANTINE_REASON, QUARANTINED_ROWS, for_run
from saas_metrics.quality.replay import ValidationStore, window_label
from saas_metrics.quality.validate import ValidationContext, validate_table
from saas_metrics.sources.registry import NATIVE_FILES_OF, SOURCE_SYSTEM_OF
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.tables import MONTH_COLUMN, Column, TableSchema
from saas_metrics.warehouse.io_manager import month_row_counts, partition_row_count_metadata

#: The raw rows a staging view shows (the SQL of its WHERE): the ones not quarantined.
CLEAN_ROWS = f'"{QUARANTINE_REASON}" IS NULL'

QUARANTINE_COLUMNS = (
    Column("_quarantine_rule", "str", "rule the row failed (null when clean)"),
    Column("_quarantine_column", "str", "column the rule applies to"),
    Column("_quarantine_reason", "str", "why the row is quarantined, naming file, line, column and rule"),
)

#: Referential integrity: table -> {column: referenced canonical table}.
REFERENCES: dict[str, dict[str, str]] = {
    "billing_subscriptions": {"customer_id": "billing_customers"},
    "billing_subscription_items": {"subscription_id": "billing_subscriptions", "price_id": "billing_prices"},
    "billing_subscription_status_history": {"subscription_id": "billing_subscriptions"},
    "billing_discounts": {"subscription_id": "billing_subscriptions"},
    "billing_invoices": {"customer_id": "billing_customers", "subscription_id": "billing_subscriptions"},
    "billing_payments": {"customer_id": "billing_customers"},
    "billing_invoice_lines": {"customer_id": "billing_customers", "subscription_id": "billing_subscriptions"},
    "crm_form_submissions": {"contact_id": "crm_contacts"},
    "crm_touchpoints": {"contact_id": "crm_contacts"},
    "crm_meetings": {"contact_id": "crm_contacts"},
    "product_usage": {"account_id": "product_accounts"},
}

ROW_ACCOUNTING_CHECK = "row_accounting"
SOURCE_COMPLETE_CHECK = "source_complete"

_KEY_COLUMN_OF = {name: schema.key[0] for name, schema in SCHEMAS.items() if len(schema.key) == 1}


def raw_storage_schema(table: str) -> TableSchema:
    schema = SCHEMAS[table]
    cols: tuple[Column, ...] = schema.columns + QUARANTINE_COLUMNS
    if schema.time_column:
        cols = (Column(MONTH_COLUMN, "date", "partition month"), *cols)
    return TableSchema(name=f"raw_{table}", columns=cols, description=schema.description,
                       time_column=MONTH_COLUMN if schema.time_column else None, key=schema.key)


def stg_storage_schema(table: str) -> TableSchema:
    raw = raw_storage_schema(table)
    return TableSchema(name=f"stg_{table}", columns=tuple(c for c in raw.columns if c not in QUARANTINE_COLUMNS),
                       description=raw.description, time_column=raw.time_column, key=raw.key)


def data_docs_dir(settings: Settings) -> Path:
    """Where GX Data Docs go: ``gx_docs`` next to the reports folder (``data/gx_docs`` by default)."""
    return settings.reports_dir.parent / "gx_docs"


def _id_set(ids: pd.Series) -> frozenset[str]:
    """The non-null ids as a set of str (built from a NumPy array: iterating an Arrow-backed Series
    in Python converts every value on its own)."""
    return frozenset(ids.dropna().astype(str).to_numpy(dtype=object))


def _clean_ids(warehouse: WarehouseResource, table: str, column: str) -> frozenset[str]:
    """The ids of ``table``'s clean rows, read from its raw table (what its staging view shows):
    a raw table depends on its parents' raw tables, so the lineage flows raw -> staging -> metrics."""
    wh = warehouse.warehouse
    raw = raw_storage_schema(table)
    # Distinct in the database: the currency of every rate row is read for each table a run validates,
    # and the rate history grows every month.
    return _id_set(wh.distinct(raw, column, where=wh.sa_table(raw).c[QUARANTINE_REASON].is_(None)))


def _quarantined_ids(warehouse: WarehouseResource, table: str, column: str) -> frozenset[str] | None:
    """The ids of ``table``'s quarantined rows (None when the table does not exist yet)."""
    wh = warehouse.warehouse
    raw = raw_storage_schema(table)
    if not wh.has_table(raw.name):
        return None
    return _id_set(wh.read(raw, where=wh.sa_table(raw).c[QUARANTINE_REASON].is_not(None), columns=[column])[column])


class ParentIds:
    """The ids a step's tables are validated against (their parents' clean and quarantined ids, the
    currencies of the FX rates), read once per step rather than once per table: one parent has
    several children in a step (the CRM contacts are the parent of three tables, the billing
    customers of four), and every table of a step is checked against the same currencies.

    What the step writes is seen: :meth:`forget` drops a table's ids once the step has stored it
    (the step's tables are its own; no other step writes them while it runs)."""

    def __init__(self, warehouse: WarehouseResource) -> None:
        self._warehouse = warehouse
        self._ids: dict[tuple[str, str, bool], frozenset[str] | None] = {}

    def clean(self, table: str, column: str) -> frozenset[str]:
        key = (table, column, True)
        if key not in self._ids:
            self._ids[key] = _clean_ids(self._warehouse, table, column)
        return self._ids[key] or frozenset()

    def quarantined(self, table: str, column: str) -> frozenset[str] | None:
        key = (table, column, False)
        if key not in self._ids:
            self._ids[key] = _quarantined_ids(self._warehouse, table, column)
        return self._ids[key]

    def forget(self, table: str) -> None:
        """Drop what was read of ``table``: the step has just stored it."""
        for key in [key for key in self._ids if key[0] == table]:
            del self._ids[key]


def _reference_ids(parents: ParentIds, table: str) -> dict[str, frozenset[str]]:
    return {column: parents.clean(ref_table, _KEY_COLUMN_OF[ref_table])
            for column, ref_table in REFERENCES.get(table, {}).items()}


def _quarantined_reference_ids(parents: ParentIds, table: str) -> dict[str, frozenset[str]]:
    """Ids of parent rows that were quarantined (a child of a bad parent is not a sign of a
    missing parent table)."""
    out: dict[str, frozenset[str]] = {}
    for column, ref_table in REFERENCES.get(table, {}).items():
        ids = parents.quarantined(ref_table, _KEY_COLUMN_OF[ref_table])
        if ids is not None:
            out[column] = ids
    return out


def _known_currencies(parents: ParentIds, settings: Settings) -> frozenset[str]:
    return parents.clean("fx_rates", "currency") | {settings.reporting_currency, "USD"}


def _existing_ids(warehouse: WarehouseResource, table: str, run_window: tuple[dt.date, dt.date] | None,
                  frame: pd.DataFrame, earlier: EarlierBatchIds) -> frozenset[str]:
    """The ids of ``frame`` (a batch of the run's months) that are already clean rows of the same
    table in OTHER partitions (cross-partition uniqueness): the stored months outside the run, and
    the months the run's ``earlier`` batches stored (the later ones are about to be replaced).

    The database is asked about this batch's ids only: reading every id of the other partitions
    made a month's cost grow with history. The earlier batches' ids are the run's own
    (:mod:`saas_metrics.defs.batch_ids`); only the few whose hash matches are asked of their batch."""
    key = _KEY_COLUMN_OF.get(table)
    raw = raw_storage_schema(table)
    if key is None or run_window is None or key not in frame.columns:
        return frozenset()
    ids = frame[key].dropna().astype(str).unique().tolist()
    clean = CLEAN_ROWS
    found = warehouse.warehouse.present_values(raw, key, ids, outside=run_window, where_sql=clean)
    for window, candidates in earlier.candidates(ids).items():
        found |= warehouse.warehouse.present_values(raw, key, candidates, within=window, where_sql=clean)
    return found


def validation_context(context: AssetExecutionContext, table: str, warehouse: WarehouseResource, settings: Settings,
                       frame: pd.DataFrame, source_problems: tuple[str, ...] = (),
                       batch: tuple[dt.date, dt.date] | None = None,
                       earlier: ValidationContext | None = None, parents: ParentIds | None = None,
                       earlier_ids: EarlierBatchIds | None = None, companion: GXCompanion | None = None) -> ValidationContext:
    """What the table's suite checks ``frame`` against: the window (``batch``, a run's batch of
    months, or the run's window), the parents' clean ids, the currencies known, the row count of
    the month before and the ids stored in other partitions. The run's earlier batches are stored
    already, so they count as other partitions; its later months (stored by an earlier run, about
    to be replaced) do not. ``earlier``: the context of the run's previous batch, whose parents'
    ids and currencies are those of this batch too (the step writes no parent table). ``parents``:
    the step's ids read so far (:class:`ParentIds`; a new one when not given). ``earlier_ids``: the
    clean ids the run's earlier batches of this table stored (none when not given: the first batch).
    ``companion``: the run's GX companion process (:mod:`saas_metrics.quality.companion`), if any."""
    run_window = asset_window(context) if is_partitioned_table(SCHEMAS[table]) else None
    window = batch or run_window
    previous = None
    if window is not None and run_window is not None:
        prev_start = (pd.Timestamp(window[0]) - pd.DateOffset(months=1)).date()
        previous = warehouse.warehouse.count(f"raw_{table}", (prev_start, window[0])) or None
    existing_ids = _existing_ids(warehouse, table, run_window, frame, earlier_ids or EarlierBatchIds())
    if earlier is not None:
        return replace(earlier, window_start=window[0] if window else None, window_end=window[1] if window else None,
                       now=dt.datetime.now(dt.UTC).replace(tzinfo=None), previous_row_count=previous,
                       existing_ids=existing_ids)
    parents = parents or ParentIds(warehouse)
    return ValidationContext(
        table=table,
        window_start=window[0] if window else None,
        window_end=window[1] if window else None,
        now=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        known_currencies=_known_currencies(parents, settings),
        reference_ids=_reference_ids(parents, table),
        quarantined_reference_ids=_quarantined_reference_ids(parents, table),
        previous_row_count=previous,
        existing_ids=existing_ids,
        policy=settings.quality,
        data_docs_dir=data_docs_dir(settings),
        source_problems=source_problems,
        stored_validations=ValidationStore(warehouse.warehouse),
        run_id=context.run.run_id,
        companion=companion,
    )


def store_bookkeeping(context: AssetExecutionContext, table: str, warehouse: WarehouseResource,
                      quarantined: pd.DataFrame, account: RowAccount, now: pd.Timestamp,
                      gone: list[tuple[str, str]]) -> None:
    """Write the run's quarantined rows, source gaps (``gone``: native files gone since an earlier
    run) and row accounting of ``table``."""
    partitioned = is_partitioned_table(SCHEMAS[table])
    system, wh = SOURCE_SYSTEM_OF[table], warehouse.warehouse
    window = asset_window(context) if partitioned else None
    run_months = _run_months(context, partitioned)
    wh.replace(QUARANTINED_ROWS, for_run(quarantined, context.run.run_id, run_months, snapshot=not partitioned),
               window, where={"table_name": table})
    if run_months:
        gap_window = (run_months[0], (pd.Timestamp(run_months[1]) + pd.DateOffset(months=1)).date())
        gaps = gap_frame(window_months(gap_window), source=system, table=table, gone=gone, run_id=context.run.run_id)
        wh.replace(SOURCE_GAPS, gaps, gap_window, where={"table_name": table})
    for file, reason in gone:
        context.log.warning(f"{table}: {file} fed it before and is {reason} now; "
                            f"NULL for {', '.join(metrics_fed_by(table)) or 'no headline metric'}")
    wh.replace(SOURCE_ROW_ACCOUNTING, accounting_frame(
        account, run_id=context.run.run_id, months=run_months, source=system, table=table,
        recorded_at=now.to_pydatetime()), None, where={"run_id": context.run.run_id, "table_name": table})


def raw_events(context: AssetExecutionContext, table: str, sources: SourceSystemsResource,
               warehouse: WarehouseResource, settings: Settings,
               parents: ParentIds | None = None, *,
               companion: GXCompanion | None = None) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """``raw_<table>``: read, place, validate and store every row annotated, the quarantined rows,
    gaps and accounting, then the suite's checks, source_complete and row_accounting.

    A run's window is validated and stored in batches of months (``source_reads.BATCH_ROWS``),
    each batch against what the earlier ones stored; the checks are the batches' combined
    (:mod:`saas_metrics.quality.combine`). A partitioned table's rows are stored here, batch by
    batch, and its output carries no value; a snapshot's go through the IO manager."""
    raw_key = dg.AssetKey([f"raw_{table}"])
    raw_schema = raw_storage_schema(table)
    partitioned = is_partitioned_table(SCHEMAS[table])
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    placed = read_placed(context, table, sources, now)
    # Before any write: a file that fed the stored rows of the run's months is seen in them.
    gone = (gone_sources(table, sources, warehouse, settings.quality.expected_sources)
            if _run_months(context, partitioned) else [])
    summaries, quarantined_parts, labels = [], [], []
    snapshot: pd.DataFrame | None = None
    month_counts = pd.Series(dtype="int64")
    ctx: ValidationContext | None = None
    several = partitioned and len(placed.batches) > 1
    # Several batches: their rows are gathered for the run's read cache while they fit its budget.
    fill = warehouse.warehouse.batch_fill(raw_schema, context.run.run_id, placed.rows) if several else None
    key = _KEY_COLUMN_OF.get(table)
    earlier_ids = EarlierBatchIds()
    for batch, frame in placed.frames():
        ctx = validation_context(context, table, warehouse, settings, frame, placed.source_problems, batch, ctx, parents,
                                 earlier_ids, companion)
        outcome = validate_table(frame.reset_index(drop=True), ctx)
        del frame
        quarantined = outcome.quarantined
        if partitioned and not quarantined.empty:
            quarantined = file_under_row_months(quarantined, outcome.annotated)
        quarantined_parts.append(quarantined)
        summaries.append(summarise(outcome))
        labels.append(window_label(*batch) if batch else "all rows")
        if batch is None:
            snapshot = outcome.annotated
        else:
            # One batch (a month run, a small table): the run's read cache keeps the rows, as before.
            scope = context.run.run_id if len(placed.batches) == 1 else None
            warehouse.warehouse.replace(raw_schema, outcome.annotated, batch, cache_scope=scope)
            if fill is not None:
                fill.add(outcome.annotated)
            month_counts = month_counts.add(month_row_counts(outcome.annotated), fill_value=0)
            if several and key is not None and batch != placed.batches[-1]:
                annotated = outcome.annotated
                earlier_ids.add(batch, annotated.loc[annotated[QUARANTINE_REASON].isna(), key].dropna().astype(str).tolist())
        del outcome
    if fill is not None and (written := fill.frame()) is not None:
        warehouse.warehouse.keep_written(raw_schema, written, asset_window(context), context.run.run_id)
    del fill
    if several and key is not None:
        # The batches were checked against each other without the id's index; the next month's
        # run asks the stored months through it, so it is built here, once, over the loaded rows.
        warehouse.warehouse.ensure_index(raw_schema.name, key)
    summary = combine_summaries(summaries, labels)
    quarantined = pd.concat(quarantined_parts, ignore_index=True) if len(quarantined_parts) > 1 else quarantined_parts[0]
    account = replace(placed.account, loaded=summary.clean_rows, quarantined=len(quarantined))
    store_bookkeeping(context, table, warehouse, quarantined, account, now, gone)
    context.log.info(f"{table}: {summary.rows} rows, {summary.clean_rows} clean, {len(quarantined)} quarantined"
                     + (f" (validated in {len(labels)} batches of months)" if len(labels) > 1 else "")
                     + (f", {placed.outside} dated outside the partitions (not in any partition)" if placed.outside else ""))
    metadata: dict[str, Any] = {
        "dagster/row_count": summary.rows,
        "clean_rows": summary.clean_rows,
        "quarantined_rows": len(quarantined),
        "rows_outside_partitions": placed.outside,
        "source_notices": dg.MetadataValue.json(list(placed.notices)),
    }
    if partitioned:
        window = asset_window(context)
        metadata |= {"table": dg.MetadataValue.text(raw_schema.name),
                     "window": dg.MetadataValue.text(f"[{window[0]}, {window[1]})")}
        for key, per_partition in partition_row_count_metadata(
                context.assets_def.partitions_def, context.partition_keys, month_counts.astype("int64")):
            context.add_asset_metadata(per_partition, asset_key=raw_key, partition_key=key)
    yield dg.Output(snapshot, output_name=raw_key.path[-1], metadata=metadata)
    yield from to_asset_check_results(summary, raw_key)
    yield source_complete_result(table, raw_key, gone)
    yield row_accounting_result(table, raw_key, account)


def source_complete_result(table: str, raw_key: dg.AssetKey, gone: list[tuple[str, str]]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=raw_key, check_name=SOURCE_COMPLETE_CHECK, passed=not gone, severity=dg.AssetCheckSeverity.WARN,
        description=f"{table}: " + ("; ".join(f"{f} is {r} (it fed the table before)" for f, r in gone) or "every source present"),
        metadata={"gone": dg.MetadataValue.json([{"file": f, "reason": r} for f, r in gone]),
                  "metrics_nulled": dg.MetadataValue.json(list(metrics_fed_by(table)) if gone else [])},
    )


def row_accounting_result(table: str, raw_key: dg.AssetKey, account: RowAccount) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=raw_key, check_name=ROW_ACCOUNTING_CHECK, passed=account.balanced, severity=dg.AssetCheckSeverity.ERROR,
        description=f"{table}: {account.describe()}",
        metadata={"rows_read": account.read, "rows_loaded": account.loaded, "rows_quarantined": account.quarantined,
                  "rows_excluded": account.excluded_total, "excluded_by_rule": dg.MetadataValue.json(dict(account.excluded))},
    )


def stage(context: AssetExecutionContext, table: str, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """``stg_<table>``: a view of the raw table's clean rows. A view, not a copy: for a usage table of
    millions of rows, reading the clean rows into pandas and writing them back cost more than the
    rest of the step; the run's cached raw rows are kept as the view's read."""
    raw_schema, stg_schema = raw_storage_schema(table), stg_storage_schema(table)
    window = asset_window(context) if is_partitioned_table(SCHEMAS[table]) else None
    wh = warehouse.warehouse
    wh.ensure_view(stg_schema, raw_schema, where_sql=CLEAN_ROWS)
    rows = wh.count(stg_schema.name, window)
    wh.cache_subset(stg_schema, raw_schema, window, context.run.run_id, keep=lambda raw: raw[QUARANTINE_REASON].isna())
    return dg.MaterializeResult(asset_key=stg_schema.name, metadata={
        "dagster/row_count": rows,
        "table": dg.MetadataValue.text(stg_schema.name),
        "window": dg.MetadataValue.text("all rows" if window is None else f"[{window[0]}, {window[1]})"),
    })


def reconciliation_result(context: AssetExecutionContext, table: str, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """raw = clean + quarantined rows of ``table`` for every partition of the run. Only this run's
    partitions: in a multi-run backfill another run may be between its raw and staging writes of its
    own month, which is not a loss."""
    partitioned = is_partitioned_table(SCHEMAS[table])
    window = run_partition_range(context.run.tags) if partitioned else None
    counts = reconcile_counts(warehouse.warehouse, table, partitioned, window)
    mismatched = counts[counts["raw"] != counts["clean"] + counts["quarantined"]]
    return dg.AssetCheckResult(
        asset_key=f"stg_{table}",
        check_name="reconciliation",
        passed=mismatched.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "raw_rows": int(counts["raw"].sum()),
            "clean_rows": int(counts["clean"].sum()),
            "quarantined_rows": int(counts["quarantined"].sum()),
            "partitions_checked": len(counts),
            "mismatched_partitions": dg.MetadataValue.md(mismatched.to_markdown(index=False) if not mismatched.empty else "none"),
        },
    )


def gone_sources(table: str, sources: SourceSystemsResource, warehouse: WarehouseResource,
                 expected: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(native file, 'absent' / 'empty') of ``table``'s files that are gone now although an earlier run
    stored rows of them (in any month: the raw table is replaced only after this step), or that
    ``expected`` names (the file, its table or its system). Files only: an API or replica answers for
    the window, where no row is a month without events."""
    if sources.kind_of(table) != "files":
        return []
    import sqlalchemy as sa

    wh = warehouse.warehouse
    raw = raw_storage_schema(table)
    # The periods-style import is an alternative to the Stripe-like files, never expected with its system.
    if table in expected or (SOURCE_SYSTEM_OF[table] in expected and table != "billing_subscription_periods"):
        expected = [*expected, *NATIVE_FILES_OF[table]]
    if not wh.has_table(raw.name):
        return [(f, s) for f in dict.fromkeys(NATIVE_FILES_OF[table]) if f in expected and (s := file_state(sources.path / f))]
    # A gap found before stays a gap while the file is still gone (a run of every month replaces
    # the raw rows that showed the file once fed the table).
    known = set()
    if wh.has_table(SOURCE_GAPS.name):
        gaps = wh.sa_table(SOURCE_GAPS)
        known = set(wh.read(SOURCE_GAPS, where=gaps.c["table_name"] == table, columns=["source_file"])["source_file"])
    gone = []
    for relative in dict.fromkeys(NATIVE_FILES_OF[table]):
        state = file_state(sources.path / relative)
        if state is None:
            continue
        t = wh.sa_table(raw)
        query = sa.select(sa.literal(1)).where(t.c["_source_file"] == relative).limit(1)
        with wh.engine.connect() as conn:
            if relative in known or relative in expected or conn.execute(query).first() is not None:
                gone.append((relative, state))
    return gone


def _run_months(context: AssetExecutionContext, partitioned: bool) -> tuple[dt.date, dt.date] | None:
    """The run's first and last month: the asset's window, or the run's partition range for a snapshot."""
    if partitioned:
        window = asset_window(context)
        return window[0], (pd.Timestamp(window[1]) - pd.DateOffset(months=1)).date()
    keys = run_partition_range(context.run.tags)
    return None if keys is None else (dt.date.fromisoformat(keys[0]), dt.date.fromisoformat(keys[1]))


def run_partition_range(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """First and last partition key of a run from its tags (single partition or range); None when unpartitioned."""
    if ASSET_PARTITION_RANGE_START_TAG in tags and ASSET_PARTITION_RANGE_END_TAG in tags:
        return tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]
    if PARTITION_NAME_TAG in tags:
        return tags[PARTITION_NAME_TAG], tags[PARTITION_NAME_TAG]
    return None


def reconcile_counts(wh, table: str, partitioned: bool, months: tuple[str, str] | None = None) -> pd.DataFrame:
    """Row counts per partition month of raw, clean and quarantined rows of ``table``; with
    ``months`` (first and last partition key) only those months are counted, through the month
    index, so a month's check does not scan the table's whole history."""
    import sqlalchemy as sa

    def grouped(name: str, where: str = "") -> pd.Series:
        if not wh.has_table(name):
            return pd.Series(dtype="int64")
        month = "month" if partitioned else "NULL"
        conditions = [where] if where else []
        params: dict[str, object] = {"t": table}
        if partitioned and months is not None:
            conditions.append("month >= :first AND month <= :last")
            params |= {"first": dt.date.fromisoformat(months[0]), "last": dt.date.fromisoformat(months[1])}
        sql = f'SELECT {month} AS month, COUNT(*) AS n FROM "{name}"' + "".join(
            f" {'WHERE' if i == 0 else 'AND'} {c}" for i, c in enumerate(conditions)) + " GROUP BY 1"
        query = sa.text(sql)
        if "first" in params:
            query = query.bindparams(sa.bindparam("first", type_=sa.Date), sa.bindparam("last", type_=sa.Date))
        with wh.engine.connect() as conn:
            rows = conn.execute(query, params).fetchall()
        return pd.Series({str(r[0])[:10]: int(r[1]) for r in rows}, dtype="int64")

    frame = pd.DataFrame({
        "raw": grouped(f"raw_{table}"),
        "clean": grouped(f"stg_{table}"),
        "quarantined": grouped(QUARANTINED_ROWS.name, "table_name = :t"),
    }).fillna(0).astype("int64")
    frame = frame.rename_axis("month").reset_index()
    frame["month"] = frame["month"].astype("str")  # an empty table gives an integer index
    return frame


def file_under_row_months(quarantined: pd.DataFrame, annotated: pd.DataFrame) -> pd.DataFrame:
    """Give each quarantined row the partition month its raw row is stored under, so that
    raw = clean + quarantined holds per partition."""
    placed = annotated[["_source_file", "_source_line", MONTH_COLUMN]].drop_duplicates(["_source_file", "_source_line"])
    placed = placed.rename(columns={"_source_file": "source_file", "_source_line": "source_line", MONTH_COLUMN: "_placed"})
    placed["source_line"] = placed["source_line"].astype("Int64")
    out = quarantined.assign(source_line=quarantined["source_line"].astype("Int64"))
    out = out.merge(placed, on=["source_file", "source_line"], how="left")
    out[MONTH_COLUMN] = out["_placed"].fillna(out[MONTH_COLUMN])
    return out.drop(columns="_placed")
