"""Which columns of a table the inputs of a code location read (what the run's read cache keeps)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from saas_metrics.config import Settings
from saas_metrics.defs.acquisition_assets import ACTIVATION_COLUMNS
from saas_metrics.metrics.attribution import TOUCHPOINT_COLUMNS
from saas_metrics.metrics.funnel import SESSION_COLUMNS
from saas_metrics.metrics.usage import USAGE_COLUMNS
from saas_metrics.warehouse import store
from saas_metrics.warehouse.io_manager import COLUMNS_METADATA_KEY, declared_read_columns


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
    # plans: only the check loads it; an extra read alone does not declare a table.
    assert columns == {"events": {"day", "user", "kind", "amount"}, "plans": {"plan_id"}}


def test_the_code_location_keeps_the_metric_columns_of_its_big_staging_tables_not_their_lineage(tmp_path: Path) -> None:
    from saas_metrics.definitions import build_definitions

    build_definitions(Settings(warehouse_url=f"sqlite:///{tmp_path / 'w.db'}", sources_dir=tmp_path))
    usage = store._READ_CACHE.kept_columns("stg_product_usage")
    sessions = store._READ_CACHE.kept_columns("stg_web_sessions")
    assert usage == {*USAGE_COLUMNS, *ACTIVATION_COLUMNS, "month"}
    assert sessions == {*SESSION_COLUMNS, "month"}
    assert store._READ_CACHE.kept_columns("stg_crm_touchpoints") == {*TOUCHPOINT_COLUMNS, "month"}
    assert not any(c.startswith("_") for c in usage | sessions)
    # Tables some asset reads whole stay whole.
    assert store._READ_CACHE.kept_columns("customer_mrr") is None
