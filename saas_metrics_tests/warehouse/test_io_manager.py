"""The IO manager on its own registry of tables, and which columns of a table the inputs of a code
location read (what the run's read cache keeps)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from saas_metrics.config import Settings
from saas_metrics.defs.acquisition_assets import ACTIVATION_COLUMNS
from saas_metrics.defs.resources import MEMORY_LOG_PREFIX, WarehouseResource
from saas_metrics.metrics.attribution import TOUCHPOINT_COLUMNS
from saas_metrics.metrics.funnel import SESSION_COLUMNS
from saas_metrics.metrics.usage import USAGE_COLUMNS
from saas_metrics.tables import Column, TableSchema
from saas_metrics.warehouse import Warehouse
from saas_metrics.warehouse.io_manager import (
    COLUMNS_METADATA_KEY,
    TableRegistry,
    WarehouseIOManager,
    declared_read_columns,
    table_metadata,
)

ORDERS = TableSchema("orders", (Column("id", "str"), Column("amount", "float")), key=("id",))


def _columns(*names: str) -> dict[str, list[str]]:
    return {COLUMNS_METADATA_KEY: list(names)}


def test_declared_columns_are_unioned_per_table_and_a_whole_read_or_a_dependency_is_told_apart() -> None:
    @dg.asset
    def events() -> None: ...

    @dg.asset
    def people() -> None: ...

    @dg.asset
    def plans() -> None: ...

    @dg.asset(ins={"events": dg.AssetIn(metadata=_columns("day", "user")), "people": dg.AssetIn(metadata=_columns("id"))})
    def daily(events: object, people: object) -> None: ...

    @dg.asset(ins={"events": dg.AssetIn(metadata=_columns("user", "kind")), "people": dg.AssetIn()})
    def by_kind(events: object, people: object) -> None: ...

    @dg.asset(deps=[plans])  # a dependency: nothing of plans is loaded
    def after_plans() -> None: ...

    @dg.asset_check(asset=events, additional_ins={"plans": dg.AssetIn(metadata=_columns("plan_id"))})
    def events_have_plans(plans: object) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    columns = declared_read_columns([events, people, plans, daily, by_kind, after_plans, events_have_plans],
                                    extra={"events": ["amount"], "unread": ["x"]})
    # events: both readers' columns plus the extra direct read; people: by_kind reads it whole;
    # plans: only the check loads it; unread: no input loads it, only a direct read of those columns.
    assert columns == {"events": {"day", "user", "kind", "amount"}, "plans": {"plan_id"}, "unread": {"x"}}


def test_the_code_location_keeps_the_metric_columns_of_its_big_staging_tables_not_their_lineage(tmp_path: Path) -> None:
    from saas_metrics.definitions import build_definitions

    defs = build_definitions(Settings(warehouse_url=f"sqlite:///{tmp_path / 'w.db'}", sources_dir=tmp_path))
    tables: TableRegistry = defs.resources["io_manager"].tables
    # The warehouse resource (the staging step's cache of clean rows) gets the same read columns.
    assert {t: set(c) for t, c in defs.resources["warehouse"].read_columns.items()} == tables.read_columns
    usage, sessions = tables.read_columns["stg_product_usage"], tables.read_columns["stg_web_sessions"]
    assert usage == {*USAGE_COLUMNS, *ACTIVATION_COLUMNS}
    assert sessions == set(SESSION_COLUMNS)
    assert tables.read_columns["stg_crm_touchpoints"] == set(TOUCHPOINT_COLUMNS)
    assert not any(c.startswith("_") for c in usage | sessions)
    # Tables some asset reads whole stay whole.
    assert "customer_mrr" not in tables.read_columns
    # Every table the IO manager stores comes from the definitions' own metadata.
    assert {"raw_billing_invoices", "stg_billing_invoices", "customer_mrr", "kpi_monthly"} <= set(tables.schemas)
    assert tables.schemas["raw_billing_invoices"].time_column == "month"


def test_the_registry_is_read_from_the_assets_metadata_and_named_after_the_asset() -> None:
    @dg.asset(name="orders_copy", metadata=table_metadata(ORDERS))
    def orders_copy() -> None: ...

    @dg.asset
    def untracked() -> None: ...

    registry = TableRegistry.from_definitions([orders_copy, untracked])
    assert registry.schemas == {"orders_copy": TableSchema("orders_copy", ORDERS.columns, key=("id",))}
    with pytest.raises(KeyError, match="'untracked' has no warehouse table schema"):
        registry.schema_for("untracked")


def test_an_io_manager_with_its_own_registry_stores_and_loads_without_the_code_location(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"

    @dg.asset(metadata=table_metadata(ORDERS))
    def orders() -> pd.DataFrame:
        return pd.DataFrame({"id": ["a", "b"], "amount": [1.5, 2.0]})

    @dg.asset
    def total(orders: pd.DataFrame) -> None:
        assert orders["amount"].sum() == 3.5

    io_manager = WarehouseIOManager(warehouse_url=url, tables=TableRegistry.from_definitions([orders, total]))
    assert dg.materialize([orders, total], resources={"io_manager": io_manager}).success
    assert Warehouse(url).read(ORDERS)["id"].tolist() == ["a", "b"]
    # Without a registry that knows the table, the IO manager says so.
    failed = dg.materialize([orders], resources={"io_manager": WarehouseIOManager(warehouse_url=url)}, raise_on_error=False)
    assert not failed.success


@pytest.fixture
def _restored_run_memory() -> Iterator[None]:
    """The process's read cache budget and Arrow pool as they were before the test's runs set them."""
    import pyarrow as pa

    from saas_metrics.warehouse import store

    budget, pool = store._READ_CACHE.max_bytes, pa.default_memory_pool()
    yield
    store._READ_CACHE.resize(budget)
    pa.set_memory_pool(pool)


@pytest.mark.usefixtures("_restored_run_memory")
def test_a_run_sets_its_read_cache_budget_and_a_returning_arrow_pool(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    from saas_metrics.arrow_pool import POOL_ENV, use_returning_arrow_pool
    from saas_metrics.defs.resources import warehouse_resources
    from saas_metrics.warehouse import store

    monkeypatch.delenv(POOL_ENV, raising=False)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    rows = 12_000  # above the cache's minimum rows
    big = TableSchema("big", (Column("id", "str"), Column("n", "int")))
    kept: dict[int, set[str]] = {}

    @dg.asset(name="big", metadata=table_metadata(big))
    def big_asset() -> pd.DataFrame:
        return pd.DataFrame({"id": [f"c{i}" for i in range(rows)], "n": range(rows)})

    @dg.asset
    def reader(big: pd.DataFrame) -> None:
        kept[store._READ_CACHE.max_bytes] = {key[2] for key in store._READ_CACHE._entries}

    registry = TableRegistry.from_definitions([big_asset, reader])
    pa.set_memory_pool(pa.system_memory_pool())
    for mib in (0, 64):
        io_manager = WarehouseIOManager(warehouse_url=url, tables=registry, read_cache_mb=mib)
        assert dg.materialize([big_asset, reader], resources={"io_manager": io_manager}).success
    # Nothing kept without a budget; the written table kept for its reader with one.
    assert kept == {0: set(), 64 * 2**20: {"big"}}
    # The run's Arrow pool gives freed pages back (jemalloc where this pyarrow has it).
    assert pa.default_memory_pool().backend_name == use_returning_arrow_pool() != "system"
    # The setting reaches both of the code location's warehouse resources.
    monkeypatch.setenv("SAAS_METRICS_READ_CACHE_MB", "512")
    resources = warehouse_resources(Settings(warehouse_url=url))
    assert resources["io_manager"].read_cache_mb == 512 and resources["warehouse"].read_cache_mb == 512
    # ... and the run's log says what the process uses (once, from the warehouse resource).
    @dg.asset
    def uses_warehouse(warehouse: WarehouseResource) -> None:
        assert warehouse.url == url

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([uses_warehouse], resources=resources, instance=instance)
    said = [r.user_message for r in instance.all_logs(result.run_id) if r.dagster_event is None]
    expected = f"{MEMORY_LOG_PREFIX}read cache 512 MiB (read_cache_mb), Arrow memory pool {use_returning_arrow_pool()}"
    assert said.count(expected) == 1, said


def test_the_default_budget_is_the_setting_s_default() -> None:
    from saas_metrics.warehouse.read_cache import READ_CACHE_BYTES

    assert Settings().read_cache_mb * 2**20 == READ_CACHE_BYTES


def test_a_run_s_read_cache_lets_a_table_go_once_every_step_reading_it_has_finished(tmp_path: Path) -> None:
    from saas_metrics.warehouse import store

    url = f"sqlite:///{tmp_path / 'w.db'}"
    rows = 12_000  # above the cache's minimum, so the tables are kept at all
    first = TableSchema("first", (Column("id", "str"), Column("n", "int")))
    second = TableSchema("second", (Column("id", "str"), Column("n", "int")))
    cached: dict[str, set[str]] = {}

    def tables_in_cache() -> set[str]:
        return {key[2] for key in store._READ_CACHE._entries}

    @dg.asset(name="first", metadata=table_metadata(first))
    def first_asset() -> pd.DataFrame:
        return pd.DataFrame({"id": [f"c{i}" for i in range(rows)], "n": range(rows)})

    @dg.asset(name="second", metadata=table_metadata(second))
    def second_asset(first: pd.DataFrame) -> pd.DataFrame:
        return first.assign(n=first["n"] * 2)

    @dg.asset(deps=["first"])  # reads `first` itself: a dependency counts as a reader
    def last_of_first(second: pd.DataFrame) -> None:
        cached["last_of_first"] = tables_in_cache()

    @dg.asset(deps=["last_of_first"])  # runs last
    def only_second(second: pd.DataFrame) -> None:
        cached["only_second"] = tables_in_cache()

    assets = [first_asset, second_asset, last_of_first, only_second]
    registry = TableRegistry.from_definitions(assets)
    assert registry.readers["first"] == {"second", "last_of_first"}
    assert registry.readers["second"] == {"last_of_first", "only_second"}
    assert registry.readers["last_of_first"] == {"only_second"}
    io_manager = WarehouseIOManager(warehouse_url=url, tables=registry)
    result = dg.materialize(assets, resources={"io_manager": io_manager})
    assert result.success
    steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert steps == ["first", "second", "last_of_first", "only_second"]
    # While the last reader of `first` runs, both tables are kept; once it has finished, `first` goes
    # and `second` stays for its last reader.
    assert cached["last_of_first"] == {"first", "second"}
    assert cached["only_second"] == {"second"}
    # A run without `last_of_first`: `first`'s readers in that run are done once `second` is.
    cached.clear()
    assert dg.materialize(assets, resources={"io_manager": io_manager}, selection=["first", "second", "only_second"]).success
    assert cached["only_second"] == {"second"}
