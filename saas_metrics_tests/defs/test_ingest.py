"""The source tables' raw and staging assets: one subsettable step per source system, every table
still its own asset with its own checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from saas_metrics.config import Settings
from saas_metrics.connectors.resource import SourceSystemsResource
from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.definitions import build_definitions
from saas_metrics.defs import ingest
from saas_metrics.defs.freshness import FRESHNESS_STEP
from saas_metrics.defs.ingest import RECONCILIATION_CHECK, build_source_assets, source_steps
from saas_metrics.defs.partitions import monthly_partitions, partition_key
from saas_metrics.defs.resources import GreatExpectationsResource, WarehouseResource
from saas_metrics.runner import JOB_NAME
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings


def test_one_step_per_system_and_kind_with_every_table_in_dependency_order() -> None:
    steps = {name: [m.table for m in members] for name, members in source_steps(SCHEMAS).items()}
    assert sorted(steps) == sorted([
        "ingest_ads", "ingest_billing", "ingest_billing_snapshot", "ingest_crm", "ingest_crm_snapshot",
        "ingest_finance", "ingest_fx", "ingest_product", "ingest_product_snapshot", "ingest_support", "ingest_web"])
    assert sorted(t for tables in steps.values() for t in tables) == sorted(SCHEMAS)
    snapshot = steps["ingest_billing_snapshot"]
    # A child after the parents its integrity check reads.
    assert snapshot.index("billing_customers") < snapshot.index("billing_subscriptions")
    assert snapshot.index("billing_subscriptions") < snapshot.index("billing_subscription_items")
    assert snapshot.index("billing_prices") < snapshot.index("billing_subscription_items")
    assert steps["ingest_billing"] == ["billing_invoices", "billing_payments", "billing_refunds"]


def test_every_table_keeps_its_own_assets_checks_and_lineage() -> None:
    settings = Settings()
    steps = build_source_assets(settings, monthly_partitions(settings))
    graph = dg.Definitions(assets=steps, resources=_resources(Path("."))).resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys >= {f"{layer}_{t}" for t in SCHEMAS for layer in ("raw", "stg")}
    support = next(s for s in steps if s.node_def.name == "ingest_support")
    assert {(c.asset_key.to_user_string(), c.name) for c in support.check_keys} >= {
        ("raw_support_tickets", "support_tickets_schema"), ("raw_support_tickets", "row_accounting"),
        ("raw_support_tickets", "source_complete"), ("stg_support_tickets", RECONCILIATION_CHECK)}
    assert len(support.check_keys) == 2 * 7  # four suite checks, source_complete, row_accounting, reconciliation
    assert graph.get(dg.AssetKey("stg_billing_invoices")).parent_keys == {dg.AssetKey("raw_billing_invoices")}
    assert graph.get(dg.AssetKey("raw_billing_invoices")).parent_keys == {
        dg.AssetKey("raw_billing_customers"), dg.AssetKey("raw_billing_subscriptions"), dg.AssetKey("raw_fx_rates")}
    assert graph.get(dg.AssetKey("raw_billing_customers")).group_name == "raw_billing"
    assert graph.get(dg.AssetKey("stg_billing_customers")).group_name == "staging"


def test_one_table_alone_materialises_only_that_table(small_sources: Path, tmp_path: Path) -> None:
    """What the UI's Materialize on one table does: the other table of its step is left alone."""
    settings = make_settings(small_sources, f"sqlite:///{tmp_path / 'w.db'}", start=END_MONTH, end=END_MONTH,
                             quality={"data_docs": False})
    month = partition_key(END_MONTH)
    selection = [dg.AssetKey("raw_support_tickets"), dg.AssetKey("stg_support_tickets")]
    result = build_definitions(settings).resolve_job_def(JOB_NAME).execute_in_process(
        instance=ephemeral_instance(), asset_selection=selection,
        tags={ASSET_PARTITION_RANGE_START_TAG: month, ASSET_PARTITION_RANGE_END_TAG: month})
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"raw_support_tickets", "stg_support_tickets"}
    checked = {(e.asset_check_evaluation_data.asset_key.to_user_string(), e.asset_check_evaluation_data.check_name)
               for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION}
    suite = {("raw_support_tickets", f"support_tickets_{s}") for s in ("schema", "integrity", "row_rules", "volume")}
    assert checked == suite | {("raw_support_tickets", "row_accounting"), ("raw_support_tickets", "source_complete"),
                               ("raw_support_tickets", "source_freshness"), ("stg_support_tickets", RECONCILIATION_CHECK)}
    steps = [e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS]
    assert steps == ["ingest_support", FRESHNESS_STEP]


def _resources(sources: Path) -> dict[str, object]:
    return {"io_manager": dg.mem_io_manager, "warehouse": WarehouseResource(url="sqlite://"),
            "sources": SourceSystemsResource(sources_dir=str(sources)), "gx": GreatExpectationsResource()}


@pytest.fixture
def fake_tables(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """raw_events / stage / reconciliation replaced by fakes that record what ran; the schema check
    of billing_customers fails."""
    ran: list[str] = []

    def raw_events(context: dg.AssetExecutionContext, table: str, *_: object, **__: object) -> Iterator[object]:
        ran.append(f"raw_{table}")
        key = dg.AssetKey(f"raw_{table}")
        yield dg.Output(pd.DataFrame(), output_name=key.path[-1])
        for check in context.assets_def.check_specs:
            if check.asset_key == key:
                failed = table == "billing_customers" and check.name.endswith("_schema")
                yield dg.AssetCheckResult(asset_key=key, check_name=check.name, passed=not failed,
                                          severity=dg.AssetCheckSeverity.ERROR)

    def stage(context: dg.AssetExecutionContext, table: str, *_: object) -> dg.MaterializeResult:
        ran.append(f"stg_{table}")
        return dg.MaterializeResult(asset_key=f"stg_{table}")

    monkeypatch.setattr(ingest, "raw_events", raw_events)
    monkeypatch.setattr(ingest, "stage", stage)
    monkeypatch.setattr(ingest, "reconciliation_result", lambda context, table, *_: dg.AssetCheckResult(
        asset_key=f"stg_{table}", check_name=RECONCILIATION_CHECK, passed=True))
    return ran


def test_a_failed_blocking_check_stops_its_table_and_the_tables_reading_it(fake_tables: list[str], tmp_path: Path) -> None:
    settings = Settings()
    (step,) = build_source_assets(settings, monthly_partitions(settings),
                                  ["billing_customers", "billing_prices", "billing_subscriptions", "billing_subscription_items"])
    result = dg.materialize([step], raise_on_error=False, resources=_resources(tmp_path))
    assert not result.success
    # customers is stored but not staged; subscriptions (reads customers) and items (reads subscriptions) never run.
    assert fake_tables == ["raw_billing_customers", "raw_billing_prices", "stg_billing_prices"]
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "raw_billing_customers: billing_customers_schema" in str(failure.step_failure_data.error.message)


def test_the_reconciliation_check_runs_alone(fake_tables: list[str], tmp_path: Path) -> None:
    settings = Settings()
    (step,) = build_source_assets(settings, monthly_partitions(settings), ["billing_customers", "billing_prices"])
    check = dg.AssetCheckKey(dg.AssetKey("stg_billing_prices"), RECONCILIATION_CHECK)
    result = dg.materialize([step], selection=dg.AssetSelection.checks(check), resources=_resources(tmp_path))
    assert result.success and fake_tables == []  # nothing read, staged or stored
    assert [(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations()] == [
        ("stg_billing_prices", RECONCILIATION_CHECK)]


def test_a_step_reads_each_parents_ids_once_and_its_tables_see_their_parents(small_sources: Path, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The billing snapshot step validates four tables against the customers' or subscriptions' ids
    and every table against the FX currencies: each is read from the warehouse once in the step,
    after the step stored the parent, so no child row is an orphan of a parent stored in the same step."""
    from saas_metrics.warehouse.store import Warehouse

    asked: list[tuple[str, str]] = []
    distinct = Warehouse.distinct

    def counting(self: Warehouse, schema: object, column: str, *args: object, **kwargs: object) -> pd.Series:
        asked.append((schema.name, column))  # type: ignore[attr-defined]
        return distinct(self, schema, column, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Warehouse, "distinct", counting)
    settings = make_settings(small_sources, f"sqlite:///{tmp_path / 'w.db'}", start=END_MONTH, end=END_MONTH,
                             quality={"data_docs": False})
    month = partition_key(END_MONTH)
    members = source_steps(SCHEMAS)["ingest_fx"] + source_steps(SCHEMAS)["ingest_billing_snapshot"]
    selection = [key for m in members for key in (m.raw_key, m.stg_key)]
    result = build_definitions(settings).resolve_job_def(JOB_NAME).execute_in_process(
        instance=ephemeral_instance(), asset_selection=selection,
        tags={ASSET_PARTITION_RANGE_START_TAG: month, ASSET_PARTITION_RANGE_END_TAG: month})
    assert result.success
    # The currencies once per step (the FX step's own table, then the billing step's), each parent once.
    assert sorted(asked) == sorted([("raw_fx_rates", "currency"), ("raw_fx_rates", "currency"),
                                    ("raw_billing_customers", "customer_id"), ("raw_billing_subscriptions", "subscription_id"),
                                    ("raw_billing_prices", "price_id")])
    from saas_metrics.quality.quarantine import QUARANTINED_ROWS
    from saas_metrics.warehouse import Warehouse as Store

    children = {"billing_subscriptions", "billing_subscription_items", "billing_subscription_status_history", "billing_discounts"}
    stored = Store(settings.warehouse_url).read(QUARANTINED_ROWS)
    assert not stored[stored["table_name"].isin(children) & (stored["rule"] == "reference")].size
    assert Store(settings.warehouse_url).count("stg_billing_subscriptions") > 0


def test_parent_ids_are_kept_until_the_step_stores_the_parent(tmp_path: Path) -> None:
    from saas_metrics.defs.source_assets import ParentIds, raw_storage_schema
    from saas_metrics.quality.quarantine import QUARANTINE_REASON

    warehouse = WarehouseResource(url=f"sqlite:///{tmp_path / 'w.db'}")
    schema = raw_storage_schema("billing_customers")

    def store(ids: list[str], quarantined: str | None = None) -> None:
        frame = schema.empty_frame().reindex(range(len(ids)))
        frame["customer_id"] = ids
        frame[QUARANTINE_REASON] = [("bad" if i == quarantined else None) for i in ids]
        warehouse.warehouse.replace(schema, frame)

    parents = ParentIds(warehouse)
    assert parents.quarantined("billing_customers", "customer_id") is None  # no table yet
    assert parents.clean("billing_customers", "customer_id") == frozenset()
    parents.forget("billing_customers")
    store(["a", "b", "x"], quarantined="x")
    assert parents.clean("billing_customers", "customer_id") == {"a", "b"}
    assert parents.quarantined("billing_customers", "customer_id") == {"x"}
    store(["a", "b", "c", "x"])
    assert parents.clean("billing_customers", "customer_id") == {"a", "b"}  # read once in the step
    parents.forget("billing_customers")
    assert parents.clean("billing_customers", "customer_id") == {"a", "b", "c", "x"}
    assert parents.quarantined("billing_customers", "customer_id") == frozenset()
