"""Every use of an API that Dagster or Great Expectations do not publish, in one place.

Each name below says what it replaces and why no public API serves. Dagster is pinned to one
version in pyproject.toml and Great Expectations held to 1.x; on an upgrade, this is the one
module to check (the tests that cover each use are named beside it), with
:mod:`saas_metrics.gx_compat`, which holds GX's: the GX companion process
(:mod:`saas_metrics.quality.companion`) imports that one and not Dagster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

# What a check evaluation says about the materialization it checked (its partition), so that one
# check step can emit a verdict per month: ``dg.AssetCheckEvaluation(target_materialization_data=...)``
# is public, but the type of that argument is not exported at the top level in 1.13. (defs/check_partitions.py;
# saas_metrics_tests/integration/test_ui_partitions.py)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

# The run machinery under ``JobDefinition.execute_in_process``: :func:`execute_without_output_capture`
# calls it with output capture off, which ``execute_in_process`` does not let a caller choose.
# (saas_metrics_tests/integration/test_runner_memory.py)
from dagster._core.definitions.job_base import InMemoryJob

# The type ``dg.define_asset_job`` returns (a job not yet resolved against the Definitions), for
# the type hints of functions that take either kind of job; 1.13 exports only the function.
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

# With InMemoryJob above: the function ``execute_in_process`` calls, and the run tags it adds.
from dagster._core.execution.execute_in_process import core_execute_in_process, merge_run_tags

# Dagster's in-memory event log (that of ``DagsterInstance.ephemeral()``), which our
# ``KeptConnectionEventLogStorage`` subclasses, and the parts ``DagsterInstance.ephemeral()`` builds
# its instance from (here and with the storage imports below), to build the same instance with that
# event log: 1.13 exports neither the storage classes nor a way to give ``ephemeral()`` another event log. (dagster_storage.py;
# saas_metrics_tests/test_dagster_storage.py)
from dagster._core.instance.types import InstanceType
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.run_coordinator import DefaultRunCoordinator

# The status filter of ``DagsterInstance.get_asset_check_execution_history`` (a public method whose
# ``status`` argument takes this enum, which 1.13 does not export). (defs/alerting.py)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.in_memory import InMemoryEventLogStorage
from dagster._core.storage.event_log.schema import AssetKeyTable

# Dagster's SQLite event log (the default of a local DAGSTER_HOME), its shard name, busy timeout and
# engine factory, its asset key table (whose columns the kept-connection storages answer from what
# they read once), and the config data every ConfigurableClass takes: what a storage class named in
# dagster.yaml subclasses and is built with; 1.13 exports none of them. (dagster_storage.py;
# saas_metrics_tests/test_dagster_storage.py)
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.root import TemporaryLocalArtifactStorage
from dagster._core.storage.runs import InMemoryRunStorage
from dagster._core.storage.sql import create_engine as create_dagster_engine

# The run tags of a single-run backfill's partition range and of a one-partition run. Dagster
# documents the tag names ("dagster/asset_partition_range_start", ...) but exports no constant;
# these keep our runs and our readers of run tags on Dagster's own spelling. (runner.py,
# defs/source_assets.py)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from dagster._serdes.config_class import ConfigurableClassData

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "INDEX_SHARD_NAME",
    "PARTITION_NAME_TAG",
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "AssetCheckEvaluationTargetMaterializationData",
    "AssetCheckExecutionRecordStatus",
    "AssetKeyTable",
    "ConfigurableClassData",
    "InMemoryEventLogStorage",
    "SqliteEventLogStorage",
    "UnresolvedAssetJobDefinition",
    "create_dagster_engine",
    "ephemeral_instance_with",
    "execute_without_output_capture",
    "run_step_keys",
]


def execute_without_output_capture(
    job: dg.JobDefinition,
    *,
    run_config: Mapping[str, Any],
    instance: dg.DagsterInstance,
    tags: dict[str, str],
    raise_on_error: bool,
) -> dg.ExecuteInProcessResult:
    """``job.execute_in_process(...)`` without its output capture.

    ``execute_in_process`` keeps every step's output value in memory until the run ends, so that
    ``result.output_for_node`` can return it. Our outputs are tables the IO manager has already
    written to the warehouse, so a single-run backfill held every raw frame it had stored (about
    1 GB at the benchmark's medium scale) for nothing. A run launched by the daemon or the UI
    never captures outputs; this makes the CLI's run behave the same. It calls the function
    ``execute_in_process`` itself calls, with capture off (dagster is pinned, and a test checks
    that an output is freed as soon as it is stored)."""
    ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={})
    return core_execute_in_process(
        job=InMemoryJob(job_def=ephemeral),
        run_config=run_config,
        instance=instance,
        output_capturing_enabled=False,
        raise_on_error=raise_on_error,
        run_tags=merge_run_tags(job_def=job, partition_key=None, tags=tags, asset_selection=None,
                                instance=instance, run_config=run_config),
    )


def run_step_keys(step_context: Any) -> frozenset[str]:
    """The keys of every step the run executes, from the step's context (an IO manager's
    ``context.step_context``). Replaces: ``StepExecutionContext.execution_plan`` (not a public
    property; no public context says which steps a run selected). (warehouse/io_manager.py;
    saas_metrics_tests/warehouse/test_io_manager.py)"""
    return frozenset(step_context.execution_plan.step_keys_to_execute)


def ephemeral_instance_with(event_storage: InMemoryEventLogStorage) -> dg.DagsterInstance:
    """The instance ``dg.DagsterInstance.ephemeral()`` returns (in-memory runs, no compute logs,
    runs launched in process), with ``event_storage`` as its event log. Replaces: Dagster's
    ``create_ephemeral_instance`` (dagster._core.instance.factory), whose event log is fixed."""
    return dg.DagsterInstance(
        instance_type=InstanceType.EPHEMERAL,
        local_artifact_storage=TemporaryLocalArtifactStorage(),
        run_storage=InMemoryRunStorage(),
        event_storage=event_storage,
        compute_log_manager=NoOpComputeLogManager(),
        run_coordinator=DefaultRunCoordinator(),
        run_launcher=SyncInMemoryRunLauncher(),
    )
