"""Partitioned asset checks that record one result per month, also in a single-run backfill.

Dagster evaluates a partitioned check once per step and files an ``AssetCheckResult`` under the
step's partition key, which a ranged run does not have: the result was recorded against no
partition and the UI showed every month of the range as "Skipped". Here the check is evaluated for
each month of the run and each verdict is emitted as an ``AssetCheckEvaluation`` for that
partition, targeting that partition's latest materialization (so the UI knows it is current).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import dagster as dg

from saas_metrics.compat import AssetCheckEvaluationTargetMaterializationData


def check_partition_windows(context: dg.AssetCheckExecutionContext) -> dict[str, tuple[dt.date, dt.date]]:
    """Each partition key of the run and its [start, end) month window."""
    op_context = context.op_execution_context
    partitions_def = op_context.assets_def.partitions_def
    assert isinstance(partitions_def, dg.TimeWindowPartitionsDefinition), "metric checks are monthly"
    windows = {}
    for key in op_context.partition_keys:
        window = partitions_def.time_window_for_partition_key(key)
        windows[key] = (window.start.date(), window.end.date())
    return windows


def latest_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition_keys: list[str],
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The newest materialization of each partition (what a check evaluation targets)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partition_keys),
        limit=max(1, 3 * len(partition_keys)), ascending=False,
    ).records
    latest: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:
        partition = record.partition_key
        if partition is not None and partition not in latest:
            latest[partition] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
    return latest


def per_partition_evaluations(
    context: dg.AssetCheckExecutionContext,
    asset: str,
    check_name: str,
    blocking: bool,
    evaluate: Callable[[tuple[dt.date, dt.date]], dg.AssetCheckResult],
) -> Iterator[object]:
    """Evaluate the check for every month of the run; one evaluation per partition, then the
    check's (empty) output, which downstream steps of a blocking check wait for."""
    asset_key = dg.AssetKey(asset)
    windows = check_partition_windows(context)
    targets = latest_materializations(context.instance, asset_key, list(windows))
    for key, window in windows.items():
        result = evaluate(window)
        yield dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=check_name,
            passed=result.passed,
            metadata=result.metadata,
            target_materialization_data=targets.get(key),
            severity=result.severity,
            description=result.description,
            blocking=blocking,
            partition=key,
        )
    output_name = next(iter(context.op_execution_context.op_def.output_dict))
    yield dg.Output(None, output_name=output_name)
