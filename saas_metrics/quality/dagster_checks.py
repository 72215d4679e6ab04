"""Validation outcome -> Dagster asset checks (specs declared up front, results at run time).

The only module of the quality package that imports Dagster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import dagster as dg

from saas_metrics.links import data_docs_page_url
from saas_metrics.quality.checks import (
    CHECK_DESCRIPTIONS,
    CHECK_SUFFIXES,
    check_blocking,
    check_names,
)
from saas_metrics.quality.combine import ValidationSummary, summarise
from saas_metrics.quality.outcomes import CheckOutcome
from saas_metrics.quality.validate import ValidationOutcome


def check_specs(
    table: str,
    asset_key: dg.AssetKey | str | Sequence[str],
    *,
    partitions_def: dg.PartitionsDefinition | None = None,
) -> list[dg.AssetCheckSpec]:
    """The four checks of ``table`` on ``asset_key`` (schema and integrity blocking)."""
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset_key,
            description=CHECK_DESCRIPTIONS[suffix],
            blocking=check_blocking(name),
            partitions_def=partitions_def,
        )
        for name, suffix in zip(check_names(table), CHECK_SUFFIXES, strict=True)
    ]


def _plain(value: Any) -> Any:
    """Nested values with numpy scalars as Python ones (Dagster serialises only those)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


def _metadata_value(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value if value is not None else dg.MetadataValue.null()
    return dg.MetadataValue.json(value)


def _provenance(outcome: ValidationSummary) -> dict[str, Any]:
    """Whether GX validated in this run or its stored findings were replayed, and from which run."""
    replayed = outcome.replayed_from
    if replayed is None:
        return {"validation": "full"}
    return {
        "validation": "replayed",
        "validated_by_run": dg.MetadataValue.dagster_run(replayed.run_id),
        "validated_at": dg.MetadataValue.timestamp(replayed.validated_at.replace(tzinfo=dt.UTC)),
    }


def to_asset_check_results(
    outcome: ValidationOutcome | ValidationSummary, asset_key: dg.AssetKey | str | Sequence[str]
) -> list[dg.AssetCheckResult]:
    """One AssetCheckResult per check of ``outcome`` (a validation, or the summary of a run's
    batches of months): severity, verdict, the check's own metadata, the suite's success percent,
    the failing expectations (with unexpected counts and sanitised samples) and a link to the
    Data Docs page."""
    if isinstance(outcome, ValidationOutcome):
        outcome = summarise(outcome)
    failing = [
        {k: v for k, v in asdict(e).items() if v is not None}
        for e in outcome.expectations
        if not e.success
    ]
    shared: dict[str, Any] = {
        "success_percent": dg.MetadataValue.float(float(outcome.success_percent)),
        "failing_expectations": dg.MetadataValue.json(failing),
        "rows": outcome.rows,
        "clean_rows": outcome.clean_rows,
        "quarantined_rows": outcome.quarantined_rows,
    }
    shared.update(_provenance(outcome))
    if outcome.data_docs_index is not None:
        shared["data_docs"] = dg.MetadataValue.path(str(outcome.data_docs_index))
        # An http link on the docs server (`make ui`): the UI is an http page, browsers refuse file:// from it.
        shared["data_docs_url"] = dg.MetadataValue.url(data_docs_page_url(outcome.data_docs_index))
    results = []
    for check in outcome.checks:
        metadata = {**{k: _metadata_value(v) for k, v in check.metadata.items()}, **shared}
        results.append(
            dg.AssetCheckResult(
                asset_key=asset_key,
                check_name=check.name,
                passed=check.passed,
                severity=dg.AssetCheckSeverity.ERROR if check.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
                description=check.description,
                metadata=metadata,
            )
        )
    return results


def metric_check_result(
    outcome: CheckOutcome,
    asset_key: dg.AssetKey | str | Sequence[str],
    *,
    window: tuple[dt.date, dt.date] | None = None,
) -> dg.AssetCheckResult:
    """A metric check's :class:`CheckOutcome` as an AssetCheckResult (ERROR when blocking,
    else WARN), with its metadata and the [start, end) month window it covered."""
    metadata = {k: _metadata_value(v) for k, v in outcome.metadata.items()}
    if window is not None:
        metadata["window"] = f"[{window[0].isoformat()}, {window[1].isoformat()})"
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata=metadata,
    )
