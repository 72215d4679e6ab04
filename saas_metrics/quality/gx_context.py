"""The process-wide Great Expectations 1.x context, suites and batch validation.

GX is imported lazily (it takes seconds to import) so loading the Dagster
definitions stays fast. The ephemeral context, the pandas datasource, one
dataframe asset per table and every expectation suite are created once per
process and reused; the per-run values (window, ``now``, known currencies) are
passed as suite parameters (``$PARAMETER``), so a validation call only builds a
batch and validates it.

Reference ids and ids of other partitions are NOT GX parameters: GX 1.x copies
an expectation's kwargs (through pydantic) hundreds of times per validation, so a
value set of 100k ids made one validation take over a minute. Those two rules
are plain pandas ``isin`` in :mod:`saas_metrics.quality.validate`.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from saas_metrics.quality.suites import TableRules, rules_for

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult
    from great_expectations.data_context import AbstractDataContext

DATASOURCE_NAME = "saas_metrics"
BATCH_DEFINITION_NAME = "whole_frame"
PARSE_ERRORS_COLUMN = "_parse_errors"
#: Batches above this size (shallow bytes) get no GX data fingerprint (see get_gx_context).
FINGERPRINT_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SuiteVariant:
    """Which optional rules are active for one validation (they need run inputs)."""

    table: str
    window: bool
    currency: bool

    @property
    def suite_name(self) -> str:
        parts = [self.table]
        if self.window:
            parts.append("window")
        if self.currency:
            parts.append("currency")
        return "+".join(parts)


@lru_cache(maxsize=1)
def get_gx_context() -> AbstractDataContext:
    """The one ephemeral GX context of this process (analytics and progress bars off)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every pandas batch (an md5 over a row hash of the whole frame) twice per
    # validation, only to show it among the batch markers; it skips that itself above 1 GB. A
    # lower bound keeps the fingerprint for ordinary tables and spares the hashing of large ones.
    pandas_execution_engine.HASH_THRESHOLD = min(pandas_execution_engine.HASH_THRESHOLD, FINGERPRINT_MAX_BYTES)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.data_sources.add_pandas(DATASOURCE_NAME)
    return context


@cache
def _batch_definition(table: str) -> Any:
    # The fluent pandas datasource; GX's registry hands it out as the base Datasource type.
    datasource: Any = get_gx_context().data_sources.get(DATASOURCE_NAME)
    asset = datasource.add_dataframe_asset(table)
    return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)


def _expectations(rules: TableRules, variant: SuiteVariant) -> list[Any]:
    """The GX expectations of one table, each tagged with meta rule/column."""
    import great_expectations.expectations as gxe

    def meta(rule: str, column: str) -> dict[str, str]:
        return {"rule": rule, "column": column}

    out: list[Any] = [
        gxe.ExpectColumnValuesToBeNull(column=PARSE_ERRORS_COLUMN, meta=meta("unparseable", PARSE_ERRORS_COLUMN))
    ]
    out += [gxe.ExpectColumnValuesToNotBeNull(column=c, meta=meta("not_null", c)) for c in rules.not_null]
    if len(rules.key) == 1:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=rules.key[0], meta=meta("duplicate", rules.key[0])))
    elif rules.key:
        out.append(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(rules.key), meta=meta("duplicate", ",".join(rules.key)))
        )
    for column, values in rules.allowed_values.items():
        out.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values), meta=meta("allowed_values", column)))
    if variant.currency:
        out += [
            gxe.ExpectColumnValuesToBeInSet(
                column=c, value_set={"$PARAMETER": "known_currencies"}, meta={**meta("allowed_values", c), "currency": "true"}
            )
            for c in rules.currency_columns
        ]
    for column, pattern in rules.patterns.items():
        out.append(gxe.ExpectColumnValuesToMatchRegex(column=column, regex=pattern, meta=meta("allowed_values", column)))
    out += [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, meta=meta("non_negative", c)) for c in rules.non_negative]
    out += [
        gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=True, meta=meta("positive", c))
        for c in rules.positive
    ]
    for column, (low, high) in rules.ranges.items():
        out.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high, meta=meta("range", column)))
    if variant.window and rules.time_column:
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=rules.time_column,
                min_value={"$PARAMETER": "window_start"},
                max_value={"$PARAMETER": "window_end"},
                strict_max=True,
                meta=meta("in_window", rules.time_column),
            )
        )
    out += [
        gxe.ExpectColumnValuesToBeBetween(column=c, max_value={"$PARAMETER": "now"}, meta=meta("not_future", c))
        for c in rules.not_future
    ]
    return out


@cache
def get_suite(variant: SuiteVariant) -> ExpectationSuite:
    """The expectation suite of one table variant, created and registered once."""
    import great_expectations as gx

    context = get_gx_context()
    suite = gx.ExpectationSuite(name=variant.suite_name, meta={"table": variant.table})
    for expectation in _expectations(rules_for(variant.table), variant):
        suite.add_expectation(expectation)
    return context.suites.add(suite)


@cache
def suite_columns(variant: SuiteVariant) -> tuple[str, ...]:
    """The frame columns the variant's expectations read, in first-use order."""
    columns: dict[str, None] = {}
    for expectation in get_suite(variant).expectations:
        kwargs = expectation.configuration.kwargs
        for name in ([kwargs["column"]] if "column" in kwargs else []) + list(kwargs.get("column_list", [])):
            columns[name] = None
    return tuple(columns)


def run_suite(
    frame: pd.DataFrame, variant: SuiteVariant, parameters: dict[str, Any], *, detail_passing: bool = False
) -> ExpectationSuiteValidationResult:
    """Validate ``frame`` (RangeIndex) against the variant's suite.

    Every failing expectation carries GX's COMPLETE result (``unexpected_index_list`` maps its
    failures back to row positions; samples and counts). Passing expectations are checked with
    BOOLEAN_ONLY unless ``detail_passing``: GX then skips the per-expectation metrics nobody reads
    for them (index lists, missing and unexpected percentages), a large share of a validation. The
    failing ones are validated again in COMPLETE format on the same batch (:func:`_complete_results`);
    their verdicts do not change (no expectation uses ``mostly``, so a pass means no unexpected value)."""
    # Only the columns the suite reads: GX fingerprints (hashes) the whole batch frame.
    batch_frame = frame[list(suite_columns(variant))]
    # GX compares nullable-integer (Int64) columns value by value in Python; as float64 (nulls NaN)
    # it takes its vectorised path, which matters for the bound checks over millions of usage rows.
    nullable_ints = [c for c in batch_frame.columns if isinstance(batch_frame[c].dtype, pd.Int64Dtype)]
    if nullable_ints:
        batch_frame = batch_frame.astype(dict.fromkeys(nullable_ints, "float64"))
    batch = _batch_definition(variant.table).get_batch(batch_parameters={"dataframe": batch_frame})
    suite = get_suite(variant)
    complete = {"result_format": "COMPLETE"}
    try:
        if detail_passing:
            return batch.validate(suite, result_format=complete, expectation_parameters=parameters)
        result = batch.validate(suite, result_format={"result_format": "BOOLEAN_ONLY"}, expectation_parameters=parameters)
        failed = {r.expectation_config.id for r in result.results if not r.success}
        if failed:
            detailed = _complete_results(batch, suite, failed, parameters)
            result.results = [detailed.get(r.expectation_config.id, r) for r in result.results]
        return result
    finally:
        # The datasource's execution engine outlives the validation and would keep this batch's
        # frame (each table's last one, the whole month's rows) until the process ends.
        release_batches(batch.data.execution_engine)


def _complete_results(batch: Any, suite: ExpectationSuite, ids: set[str], parameters: dict[str, Any]) -> dict[str, Any]:
    """The COMPLETE results of the expectations ``ids`` of ``suite`` on ``batch``, by expectation id.

    One validation of a suite of their copies, not one per expectation: each validation call pays
    GX's set-up again, so re-validating a broken export's many failing expectations one by one
    costs more than a single COMPLETE pass of the whole suite, and one call for all of them costs
    less than either. The copies take the originals' ids back, so the results
    are the ones the suite's own expectations would give."""
    import great_expectations as gx

    originals = [e for e in suite.expectations if e.id in ids]
    copies = [copy.copy(e) for e in originals]  # GX refuses expectations that belong to another suite
    failing = gx.ExpectationSuite(name=suite.name, meta=suite.meta, expectations=copies)
    for original, twin in zip(originals, failing.expectations, strict=True):
        twin.id = original.id
    result = batch.validate(failing, result_format={"result_format": "COMPLETE"}, expectation_parameters=parameters)
    return {r.expectation_config.id: r for r in result.results}


def release_batches(engine: Any) -> None:
    """Drop the batches and batch data a GX execution engine keeps after a validation."""
    manager = engine.batch_manager
    manager.reset_batch_cache()
    manager.batch_data_cache.clear()
