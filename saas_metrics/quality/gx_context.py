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
are plain pandas ``isin`` in :mod:`saas_metrics.quality.pandas_rules`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from saas_metrics.quality.expectations import SuiteVariant, suite_columns, suite_spec
from saas_metrics.quality.gx_import import import_great_expectations
from saas_metrics.quality.suites import SUITES

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult
    from great_expectations.data_context import AbstractDataContext

DATASOURCE_NAME = "saas_metrics"
BATCH_DEFINITION_NAME = "whole_frame"
#: Batches above this size (shallow bytes) get no GX data fingerprint (see _limit_batch_fingerprint).
FINGERPRINT_MAX_BYTES = 16 * 1024 * 1024


def _limit_batch_fingerprint() -> None:
    """GX fingerprints every pandas batch (an md5 over a row hash of the whole frame) twice per
    validation, only to show it among the batch markers; it skips that itself above 1 GB. A lower
    bound keeps the fingerprint for ordinary tables and spares hashing the big ones."""
    # Deferred: GX takes seconds to import.
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = min(pandas_execution_engine.HASH_THRESHOLD, FINGERPRINT_MAX_BYTES)


@lru_cache(maxsize=1)
def get_gx_context() -> AbstractDataContext:
    """The one ephemeral GX context of this process (analytics and progress bars off)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # Deferred: GX takes seconds to import; only a step that validates (no replay) pays it, and
    # without the modules of expectations we never use (quality/gx_import.py).
    import_great_expectations()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _limit_batch_fingerprint()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.data_sources.add_pandas(_pandas_datasource(SUITES))
    return context


def _pandas_datasource(tables: Iterable[str]) -> Any:
    """The pandas datasource with one dataframe asset, and its whole-frame batch definition, per table.

    Declared together, before the datasource joins the context: GX saves the context's whole
    configuration (a YAML dump of every asset so far) after each asset or batch definition added
    one by one, even in an ephemeral context where nothing is kept, so adding the tables as they
    were first validated cost a dump per table that grew with the tables before it."""
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.datasource.fluent import PandasDatasource
    from great_expectations.datasource.fluent.pandas_datasource import DataFrameAsset

    assets = [DataFrameAsset(name=table, type="dataframe", batch_definitions=[BatchDefinition(name=BATCH_DEFINITION_NAME, partitioner=None)])
              for table in tables]
    return PandasDatasource(name=DATASOURCE_NAME, assets=assets)


@cache
def _batch_definition(table: str) -> Any:
    # The fluent pandas datasource; GX's registry hands it out as the base Datasource type.
    datasource: Any = get_gx_context().data_sources.get(DATASOURCE_NAME)
    if table not in datasource.get_asset_names():  # a table without a suite of ours (tests)
        return datasource.add_dataframe_asset(table).add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)
    return datasource.get_asset(table).get_batch_definition(BATCH_DEFINITION_NAME)


@cache
def get_suite(variant: SuiteVariant) -> ExpectationSuite:
    """The expectation suite of one table variant (:func:`suite_spec`), created and registered once."""
    context = get_gx_context()  # imports GX first (import_great_expectations)
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=variant.suite_name, meta={"table": variant.table})
    for spec in suite_spec(variant):
        suite.add_expectation(getattr(gxe, spec.gx_class)(**copy.deepcopy(spec.kwargs), meta=dict(spec.meta)))
    return context.suites.add(suite)


def batch_frame(frame: pd.DataFrame, variant: SuiteVariant) -> pd.DataFrame:
    """What GX validates of ``frame``: only the columns the suite reads (GX fingerprints, hashes, the
    whole batch frame), nullable integers as float64. GX compares nullable-integer (Int64) columns
    value by value in Python; as float64 (nulls NaN) it takes its vectorised path, which matters for
    the bound checks over millions of usage rows. Idempotent."""
    batch = frame[list(suite_columns(variant))]
    nullable_ints = [c for c in batch.columns if isinstance(batch[c].dtype, pd.Int64Dtype)]
    return batch.astype(dict.fromkeys(nullable_ints, "float64")) if nullable_ints else batch


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
    batch = _batch_definition(variant.table).get_batch(batch_parameters={"dataframe": batch_frame(frame, variant)})
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
    import great_expectations as gx  # deferred: GX takes seconds to import

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
