"""Validate one canonical raw table for one window: annotate, split, check (the orchestration).

``validate_table`` types the frame (:mod:`~saas_metrics.quality.coercion`), runs the table's GX
suite (:mod:`~saas_metrics.quality.expectations`, :mod:`~saas_metrics.quality.gx_context`) or
replays its stored findings (:mod:`~saas_metrics.quality.replay`), maps every unexpected row back
to the frame (:mod:`~saas_metrics.quality.gx_results`), adds the rules checked in pandas
(:mod:`~saas_metrics.quality.pandas_rules`) and files each bad row under its most important rule
with a reason naming file, line, column and rule (:mod:`~saas_metrics.quality.violations`). It
returns the annotated frame, the clean rows, the ``quarantined_rows`` frame, the four checks
(:mod:`~saas_metrics.quality.checks`) and the per-expectation results.

Only two refinements are done in pandas, because GX 1.x cannot express them on a
frame: *keep the first occurrence* of a duplicated key (GX flags every
occurrence), and naming the columns inside ``_parse_errors`` (GX flags the row).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from saas_metrics.calendar import first_of_month, month_of
from saas_metrics.config import DATA_DIR
from saas_metrics.quality import gx_context
from saas_metrics.quality.checks import integrity_check, row_rules_check, schema_check, volume_check
from saas_metrics.quality.coercion import normalise_parse_errors, typed_frame
from saas_metrics.quality.companion import CompanionGone
from saas_metrics.quality.context import ValidationContext
from saas_metrics.quality.data_docs import build_data_docs, page_fingerprint, table_docs_index
from saas_metrics.quality.expectations import SuiteVariant
from saas_metrics.quality.gx_results import SuiteFindings, findings_from_gx, suite_violations
from saas_metrics.quality.outcomes import CheckOutcome, ExpectationResult
from saas_metrics.quality.pandas_rules import membership_rules
from saas_metrics.quality.quarantine import (
    QUARANTINE_REASON,
    QUARANTINED_ROWS,
    build_quarantined_rows,
)
from saas_metrics.quality.replay import StoredValidation, fingerprint, window_label
from saas_metrics.quality.sanitise import pii_columns
from saas_metrics.quality.suites import TableRules, rules_for, source_system
from saas_metrics.quality.violations import annotate

__all__ = ["ValidationContext", "ValidationOutcome", "validate_table"]

logger = logging.getLogger(__name__)


@dataclass
class ValidationOutcome:
    table: str
    annotated: pd.DataFrame
    clean: pd.DataFrame
    quarantined: pd.DataFrame
    checks: list[CheckOutcome]
    expectations: list[ExpectationResult]
    success_percent: float
    data_docs_index: Path | None = None
    gx_result: Any = field(default=None, repr=False)
    #: The stored validation whose findings were replayed (None: validated in full now).
    replayed_from: StoredValidation | None = None
    #: Where the run's GX companion keeps the GX result for the Data Docs page (``gx_result`` is
    #: then None: the result never enters this process).
    companion_handle: int | None = field(default=None, repr=False)

    def check(self, suffix: str) -> CheckOutcome:
        name = f"{self.table}_{suffix}"
        for outcome in self.checks:
            if outcome.name == name:
                return outcome
        raise KeyError(name)


def _row_months(typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext, rows: pd.Index) -> pd.Series:
    """Partition month of each row: its time column's month when inside the window,
    else the window's first month (or the month of ``now`` for snapshots)."""
    fallback = pd.Timestamp(first_of_month(ctx.window_start if ctx.window_start else ctx.now))
    if not rules.time_column or not ctx.has_window:
        return pd.Series(fallback, index=rows)
    times = typed.loc[rows, rules.time_column]
    inside = (times >= pd.Timestamp(ctx.window_start)) & (times < pd.Timestamp(ctx.window_end))
    return month_of(times).where(inside, fallback)


def _suite_parameters(ctx: ValidationContext, variant: SuiteVariant) -> dict[str, Any]:
    parameters: dict[str, Any] = {"now": pd.Timestamp(ctx.now)}
    if variant.window:
        parameters["window_start"] = pd.Timestamp(ctx.window_start)
        parameters["window_end"] = pd.Timestamp(ctx.window_end)
    if variant.currency:
        parameters["known_currencies"] = sorted(ctx.known_currencies)
    return parameters


def _gx_findings(typed: pd.DataFrame, rules: TableRules, variant: SuiteVariant, parameters: dict[str, Any],
                 ctx: ValidationContext) -> tuple[SuiteFindings, Any, int | None]:
    """A full GX validation's findings, and its GX result (validated here) or the handle under
    which the run's companion process keeps it (validated there, :mod:`~saas_metrics.quality.companion`).
    A companion that has ended leaves the validation to this process."""
    detail = ctx.policy.gx_detail_passing
    pii = pii_columns(rules.schema.columns)
    if ctx.companion is not None and ctx.companion.alive:
        try:
            findings, handle = ctx.companion.validate(gx_context.batch_frame(typed, variant), variant, parameters,
                                                      detail_passing=detail, pii_columns=pii, keep=ctx.policy.data_docs)
            return findings, None, handle
        except CompanionGone as exc:
            logger.warning("%s: Great Expectations runs in this process from now on", exc)
    result = gx_context.run_suite(typed, variant, parameters, detail_passing=detail)
    return findings_from_gx(result, pii), result, None


def _run_suite(typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext
               ) -> tuple[SuiteFindings, Any, StoredValidation | None, int | None]:
    """The suite's findings on ``typed``: replayed from the stored validation when its fingerprint
    matches (no GX result then), else from a full GX validation (:func:`_gx_findings`), which is
    stored for the next run."""
    variant = SuiteVariant(
        table=ctx.table,
        window=ctx.has_window and rules.time_column is not None,
        currency=bool(ctx.known_currencies) and bool(rules.currency_columns),
    )
    parameters = _suite_parameters(ctx, variant)
    store = ctx.stored_validations if ctx.run_id else None  # a validation is stored with the run that made it
    window = window_label(ctx.window_start, ctx.window_end)
    key = (fingerprint(typed, rules.schema, variant, parameters, detail_passing=ctx.policy.gx_detail_passing)
           if store is not None else None)
    if store is not None and key is not None:
        stored = store.load(ctx.table, window, key)
        if stored is not None:
            return stored.findings, None, stored, None
    findings, result, handle = _gx_findings(typed, rules, variant, parameters, ctx)
    # An expectation that raised may not raise next time: such a validation is never replayed.
    if store is not None and key is not None and not findings.errors:
        store.save(ctx.table, window, key, StoredValidation(findings, str(ctx.run_id), ctx.now))
    return findings, result, None, handle


def _attach_data_docs(outcome: ValidationOutcome, ctx: ValidationContext) -> None:
    """Render the table's Data Docs page for a full validation (in the run's companion process,
    which renders it while the step goes on, when it validated); a replay links the page of the
    run that validated (it shows the same verdicts)."""
    docs_dir = ctx.data_docs_dir or DATA_DIR / "gx_docs"
    index = table_docs_index(docs_dir, ctx.table)
    if outcome.replayed_from is not None:
        outcome.data_docs_index = index if index.is_file() else None
        return
    if outcome.companion_handle is not None and ctx.companion is not None:
        try:
            ctx.companion.render(outcome.companion_handle, ctx.table, page_fingerprint(outcome), docs_dir)
            outcome.data_docs_index = index  # rendered before the run ends (the gx resource's teardown)
        except CompanionGone:
            logger.warning("the GX companion process ended before rendering the Data Docs page of %s", ctx.table)
            outcome.data_docs_index = index if index.is_file() else None
        return
    try:
        build_data_docs([outcome], docs_dir)
        outcome.data_docs_index = index
    except Exception:  # docs are a convenience: never fail a data step over them
        logger.warning("building GX Data Docs for %s failed", ctx.table, exc_info=True)


def validate_table(frame: pd.DataFrame, ctx: ValidationContext) -> ValidationOutcome:
    """Validate one canonical raw table for ``ctx``'s window (see the module docstring)."""
    rules = rules_for(ctx.table)
    missing = [c for c in rules.required_columns if c not in frame.columns]
    typed, _, coerced = typed_frame(frame, rules.schema)
    typed = normalise_parse_errors(typed)

    findings, result, replayed_from, handle = _run_suite(typed, rules, ctx)
    violations, expectations = suite_violations(findings, typed, rules, ctx)
    pandas_violations, pandas_expectations = membership_rules(typed, rules, ctx)
    violations += pandas_violations
    expectations += pandas_expectations

    annotated = annotate(typed, violations)
    is_bad = annotated[QUARANTINE_REASON].notna()
    # No copy of a big frame when nothing is quarantined (the usual case; copy-on-write keeps it safe).
    clean = annotated[~is_bad].reset_index(drop=True) if is_bad.any() else annotated
    bad = annotated[is_bad]
    quarantined = build_quarantined_rows(
        bad,
        canonical_columns=rules.required_columns,
        table=ctx.table,
        source=source_system(ctx.table),
        months=_row_months(typed, rules, ctx, bad.index),
        quarantined_at=ctx.now,
    )
    total = len(annotated)
    checks = [
        schema_check(ctx.table, missing, clean, rules, coerced, findings.errors, ctx.source_problems),
        integrity_check(ctx.table, total, clean, violations, rules, ctx, typed),
        row_rules_check(ctx.table, total, annotated, violations),
        volume_check(ctx.table, total, ctx),
    ]
    outcome = ValidationOutcome(
        table=ctx.table,
        annotated=annotated,
        clean=clean,
        quarantined=quarantined if not quarantined.empty else QUARANTINED_ROWS.empty_frame(),
        checks=checks,
        expectations=expectations,
        success_percent=findings.success_percent,
        gx_result=result,
        replayed_from=replayed_from,
        companion_handle=handle,
    )
    if ctx.policy.data_docs:
        _attach_data_docs(outcome, ctx)
    return outcome
