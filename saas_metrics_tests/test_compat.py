"""Private Dagster and Great Expectations APIs are used only through saas_metrics/compat.py and
saas_metrics/gx_compat.py (GX's apart, so that the GX companion process imports no Dagster)."""

from __future__ import annotations

import ast
from pathlib import Path

import saas_metrics
from saas_metrics import compat, gx_compat

PACKAGE_DIR = Path(saas_metrics.__file__).parent
#: Modules that the libraries do not publish: Dagster's underscore modules, GX's rendering internals.
PRIVATE_PREFIXES = ("dagster._", "great_expectations.render")


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found += [name for name in names if name.startswith(PRIVATE_PREFIXES)]
    return found


def test_private_apis_are_imported_only_in_the_compat_modules() -> None:
    outside = {str(p.relative_to(PACKAGE_DIR)): _private_imports(p) for p in sorted(PACKAGE_DIR.rglob("*.py"))
               if p not in (Path(compat.__file__), Path(gx_compat.__file__))}
    assert {path: names for path, names in outside.items() if names} == {}
    assert sorted(set(_private_imports(Path(compat.__file__)))) == [
        "dagster._core.definitions.asset_checks.asset_check_evaluation",
        "dagster._core.definitions.job_base",
        "dagster._core.definitions.unresolved_asset_job_definition",
        "dagster._core.execution.execute_in_process",
        "dagster._core.instance.types",
        "dagster._core.launcher.sync_in_memory_run_launcher",
        "dagster._core.run_coordinator",
        "dagster._core.storage.asset_check_execution_record",
        "dagster._core.storage.event_log.in_memory",
        "dagster._core.storage.event_log.schema",
        "dagster._core.storage.event_log.sqlite.sqlite_event_log",
        "dagster._core.storage.noop_compute_log_manager",
        "dagster._core.storage.root",
        "dagster._core.storage.runs",
        "dagster._core.storage.sql",
        "dagster._core.storage.tags",
        "dagster._serdes.config_class",
    ]
    assert sorted(set(_private_imports(Path(gx_compat.__file__)))) == ["great_expectations.render.view.view"]


def test_the_tag_names_are_dagsters_documented_ones() -> None:
    assert compat.ASSET_PARTITION_RANGE_START_TAG == "dagster/asset_partition_range_start"
    assert compat.ASSET_PARTITION_RANGE_END_TAG == "dagster/asset_partition_range_end"
    assert compat.PARTITION_NAME_TAG == "dagster/partition"
