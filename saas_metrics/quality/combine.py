"""One verdict per table from validations of its batches of months.

A raw step validates a long run window in batches of whole months (``defs/source_reads.py``
``BATCH_ROWS``), so that its memory follows its largest month rather than the history. The UI
still shows one set of asset checks per table and run: :func:`combine_summaries` folds the
batches' summaries into one. A check fails when it fails in any batch; counts add up; a sample
keeps its first values; a rate is the worst batch's. Checks that span batches stay exact because
each batch is validated against what the earlier batches stored (ids already in other
partitions, the previous month's row count), see ``defs/source_assets.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saas_metrics.quality.outcomes import CheckOutcome, ExpectationResult
from saas_metrics.quality.replay import StoredValidation
from saas_metrics.quality.validate import ValidationOutcome

#: Metadata values that are not additive: the first batch's (the month before the run's
#: first month, the policy's band) or a ratio recomputed from the sums.
_FIRST_BATCH_KEYS = frozenset({"previous_month_rows", "band"})
_RATIOS = {"rows_per_month": ("rows", "months")}
_SAMPLE = 5


@dataclass(frozen=True)
class ValidationSummary:
    """What the asset checks of a validation show, without its frames."""

    table: str
    checks: list[CheckOutcome]
    expectations: list[ExpectationResult]
    success_percent: float
    rows: int
    clean_rows: int
    quarantined_rows: int
    replayed_from: StoredValidation | None = None
    data_docs_index: Path | None = None


def summarise(outcome: ValidationOutcome) -> ValidationSummary:
    return ValidationSummary(
        table=outcome.table, checks=outcome.checks, expectations=outcome.expectations,
        success_percent=outcome.success_percent, rows=len(outcome.annotated), clean_rows=len(outcome.clean),
        quarantined_rows=len(outcome.quarantined), replayed_from=outcome.replayed_from,
        data_docs_index=outcome.data_docs_index)


def combine_summaries(summaries: Sequence[ValidationSummary], labels: Sequence[str]) -> ValidationSummary:
    """The batches' ``summaries`` (``labels``: each batch's months, for descriptions) as one.

    The success percent is the worst batch's; the validation is a replay only when every batch
    was replayed (then it names the first batch's run)."""
    if len(summaries) == 1:
        return summaries[0]
    first = summaries[0]
    replays = [s.replayed_from for s in summaries]
    return ValidationSummary(
        table=first.table,
        checks=[_combine_check([s.checks[i] for s in summaries], labels) for i in range(len(first.checks))],
        expectations=_combine_expectations([e for s in summaries for e in s.expectations]),
        success_percent=min(s.success_percent for s in summaries),
        rows=sum(s.rows for s in summaries),
        clean_rows=sum(s.clean_rows for s in summaries),
        quarantined_rows=sum(s.quarantined_rows for s in summaries),
        replayed_from=replays[0] if all(r is not None for r in replays) else None,
        data_docs_index=next((s.data_docs_index for s in reversed(summaries) if s.data_docs_index is not None), None),
    )


def _combine_check(batches: list[CheckOutcome], labels: Sequence[str]) -> CheckOutcome:
    first = batches[0]
    failing = [f"[{label}] {c.description}" for c, label in zip(batches, labels, strict=True) if not c.passed]
    description = ("; ".join(failing) if failing else
                   f"{first.description} ([{labels[0]}]; the run's {len(batches) - 1} other month batches pass too)")
    return CheckOutcome(name=first.name, passed=not failing, blocking=first.blocking, severity=first.severity,
                        description=description, metadata=combine_metadata([c.metadata for c in batches]))


def combine_metadata(batches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts summed, dicts of counts summed per key, lists joined (samples cut to their first
    values), rates the worst batch's; see the module docstring for the exceptions."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for m in batches for k in m):
        values = [m[key] for m in batches if key in m]
        out[key] = values[0] if key in _FIRST_BATCH_KEYS else _combine_values(values, key)
    for key, (numerator, denominator) in _RATIOS.items():
        if key in out and out.get(denominator):
            out[key] = out[numerator] / out[denominator]
    return out


def _combine_values(values: list[Any], key: str) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, bool) for v in present):
        return all(present)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return sum(present)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return max(present)
    if all(isinstance(v, dict) for v in present):
        return combine_metadata(present)
    if all(isinstance(v, list) for v in present):
        joined = [x for v in present for x in v]
        if key.startswith("sample"):
            return joined[:_SAMPLE]
        return list(dict.fromkeys(joined)) if all(isinstance(x, str) for x in joined) else joined
    return present[0]


def _combine_expectations(results: list[ExpectationResult]) -> list[ExpectationResult]:
    """One result per expectation (type, column, rule): fails when it fails in any batch."""
    merged: dict[tuple[str, str, str], ExpectationResult] = {}
    for r in results:
        key = (r.expectation_type, r.column, r.rule)
        seen = merged.get(key)
        merged[key] = r if seen is None else ExpectationResult(
            expectation_type=r.expectation_type, column=r.column, rule=r.rule,
            success=seen.success and r.success, unexpected_count=seen.unexpected_count + r.unexpected_count,
            sample=(seen.sample + r.sample)[:_SAMPLE], error=seen.error or r.error)
    return list(merged.values())
