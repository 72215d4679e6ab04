"""The four checks of a validated table: schema, integrity, row rules and volume.

Each check is a pure function of the validation's result (clean rows, violations) and its
context, returning a :class:`~saas_metrics.quality.outcomes.CheckOutcome`; schema and integrity
block downstream assets. The checks of table T are called f"{T}_{suffix}".
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from saas_metrics.calendar import add_months, first_of_month
from saas_metrics.quality.context import ValidationContext
from saas_metrics.quality.outcomes import CheckOutcome
from saas_metrics.quality.quarantine import QUARANTINE_REASON, QUARANTINE_RULE
from saas_metrics.quality.sanitise import mask_text
from saas_metrics.quality.suites import TableRules
from saas_metrics.quality.violations import Violation
from saas_metrics.tables import isin

#: Check name suffixes: the checks of table T are f"{T}_{suffix}".
CHECK_SUFFIXES: tuple[str, ...] = ("schema", "integrity", "row_rules", "volume")
BLOCKING_SUFFIXES: frozenset[str] = frozenset({"schema", "integrity"})
CHECK_DESCRIPTIONS: dict[str, str] = {
    "schema": "Required canonical columns present; key columns non-null and values parseable in every clean row.",
    "integrity": "Clean rows have unique keys, known currencies and resolving references; "
    "fails when too many rows are quarantined for an unknown currency or reference.",
    "row_rules": "Warns when any row was quarantined (counts per rule and column, sanitised samples).",
    "volume": "The window's rows per month stay within the configured band of the previous month's.",
}


def check_names(table: str) -> list[str]:
    """The stable check names of ``table``."""
    return [f"{table}_{suffix}" for suffix in CHECK_SUFFIXES]


def check_blocking(name: str) -> bool:
    """Whether the check called ``name`` blocks downstream assets."""
    return any(name.endswith(f"_{suffix}") for suffix in BLOCKING_SUFFIXES)


def _months_in_window(ctx: ValidationContext) -> int:
    if not ctx.has_window:
        return 1
    start, end = first_of_month(ctx.window_start), ctx.window_end  # type: ignore[arg-type]
    months = 0
    while start < end:  # type: ignore[operator]
        months += 1
        start = add_months(start, 1)
    return max(months, 1)


def schema_check(
    table: str,
    missing: list[str],
    clean: pd.DataFrame,
    rules: TableRules,
    coerced: list[str],
    errors: list[str],
    source_problems: tuple[str, ...] = (),
) -> CheckOutcome:
    null_keys = {c: int(clean[c].isna().sum()) for c in rules.not_null if c not in missing and clean[c].isna().any()}
    unparsed = int(clean["_parse_errors"].notna().sum())
    problems = list(source_problems)
    if missing:
        problems.append(f"required column(s) missing: {', '.join(missing)}")
    if null_keys:
        problems.append(f"null key values in clean rows: {null_keys}")
    if unparsed:
        problems.append(f"{unparsed} clean rows with unparsed values")
    problems += [f"expectation failed to run: {e}" for e in errors]
    passed = not problems
    description = (
        f"{table}: all canonical columns present; keys non-null and values parseable in {len(clean)} clean rows"
        if passed
        else f"{table}: " + "; ".join(problems)
    )
    return CheckOutcome(
        name=f"{table}_schema",
        passed=passed,
        blocking=True,
        severity="ERROR",
        description=description,
        metadata={"missing_columns": missing, "source_problems": list(source_problems), "coerced_columns": coerced,
                  "clean_rows": len(clean), "errors": errors},
    )


def _points_at_quarantined_parent(v: Violation, typed: pd.DataFrame | None, rules: TableRules, ctx: ValidationContext) -> bool:
    name = rules.references.get(v.column)
    if typed is None or name is None or name not in ctx.quarantined_reference_ids:
        return False
    return typed.at[v.row, v.column] in ctx.quarantined_reference_ids[name]


def _clean_row_problems(clean: pd.DataFrame, rules: TableRules, ctx: ValidationContext, metadata: dict[str, Any]) -> list[str]:
    """Duplicate keys, ids of other partitions, unknown currencies and unresolved references
    left among the clean rows (each a defect of the validation itself)."""
    problems: list[str] = []
    if rules.key and not clean.empty:
        dup = int(clean.duplicated(subset=list(rules.key)).sum())
        metadata["duplicate_keys_in_clean_rows"] = dup
        if dup:
            problems.append(f"{dup} duplicate keys among clean rows")
    if rules.global_id and ctx.existing_ids and not clean.empty:
        clash = int(isin(clean[rules.global_id], ctx.existing_ids).sum())
        metadata["ids_in_other_partitions"] = clash
        if clash:
            problems.append(f"{clash} clean {rules.global_id}s already exist in other partitions")
    if ctx.known_currencies:
        for col in rules.currency_columns:
            unknown = clean[col].notna() & ~isin(clean[col], ctx.known_currencies)
            if unknown.any():
                problems.append(f"{int(unknown.sum())} clean rows with an unknown {col}")
    for col, name in rules.references.items():
        if name in ctx.reference_ids:
            orphan = clean[col].notna() & ~isin(clean[col], ctx.reference_ids[name])
            if orphan.any():
                problems.append(f"{int(orphan.sum())} clean rows whose {col} does not resolve")
    return problems


def _unresolved_problem(
    total_rows: int, violations: list[Violation], rules: TableRules, ctx: ValidationContext,
    typed: pd.DataFrame | None, metadata: dict[str, Any],
) -> str | None:
    """A large share of rows with an unknown currency or an unresolved reference points at the
    pipeline (FX table or parent table incomplete), not at bad rows."""
    unresolved_rows = {
        v.row for v in violations
        if (v.rule == "reference" and not _points_at_quarantined_parent(v, typed, rules, ctx))
        or (v.rule == "allowed_values" and v.column in rules.currency_columns)
    }
    fraction = len(unresolved_rows) / total_rows if total_rows else 0.0
    metadata["unresolved_rows"] = len(unresolved_rows)
    metadata["unresolved_fraction"] = round(fraction, 6)
    if total_rows < ctx.policy.unresolved_min_rows or fraction <= ctx.policy.unresolved_max_fraction:
        return None
    by_column: dict[str, int] = {}
    for v in violations:
        if v.row in unresolved_rows and (v.rule == "reference" or v.column in rules.currency_columns):
            by_column[v.column] = by_column.get(v.column, 0) + 1
    return (
        f"{fraction:.1%} of rows have an unknown currency or unresolved reference ({by_column}), "
        f"above {ctx.policy.unresolved_max_fraction:.1%}: is the FX or parent table incomplete?"
    )


def integrity_check(
    table: str,
    total_rows: int,
    clean: pd.DataFrame,
    violations: list[Violation],
    rules: TableRules,
    ctx: ValidationContext,
    typed: pd.DataFrame | None = None,
) -> CheckOutcome:
    metadata: dict[str, Any] = {}
    problems = _clean_row_problems(clean, rules, ctx, metadata)
    unresolved = _unresolved_problem(total_rows, violations, rules, ctx, typed, metadata)
    if unresolved:
        problems.append(unresolved)
    passed = not problems
    return CheckOutcome(
        name=f"{table}_integrity",
        passed=passed,
        blocking=True,
        severity="ERROR",
        description=f"{table}: clean rows have unique keys, known currencies and resolving references"
        if passed
        else f"{table}: " + "; ".join(problems),
        metadata=metadata,
    )


def row_rules_check(table: str, total: int, annotated: pd.DataFrame, violations: list[Violation]) -> CheckOutcome:
    bad = annotated[annotated[QUARANTINE_REASON].notna()]
    by_rule_column: dict[str, int] = {}
    for v in violations:
        key = f"{v.rule}/{v.column}"
        by_rule_column[key] = by_rule_column.get(key, 0) + 1
    primary = {str(k): int(n) for k, n in bad[QUARANTINE_RULE].value_counts().items()}
    samples = [mask_text(str(r)) for r in bad[QUARANTINE_REASON].head(5)]
    passed = bad.empty
    return CheckOutcome(
        name=f"{table}_row_rules",
        passed=passed,
        blocking=False,
        severity="WARN",
        description=f"{table}: all {total} rows pass the row rules"
        if passed
        else f"{table}: {len(bad)} of {total} rows quarantined ({primary})",
        metadata={
            "rows": total,
            "quarantined_rows": len(bad),
            "quarantined_by_rule": primary,
            "violations_by_rule_column": dict(sorted(by_rule_column.items())),
            "sample_reasons": samples,
        },
    )


def volume_check(table: str, total: int, ctx: ValidationContext) -> CheckOutcome:
    months = _months_in_window(ctx)
    per_month = total / months
    previous = ctx.previous_row_count
    band = ctx.policy.row_count_band
    metadata: dict[str, Any] = {"rows": total, "months": months, "rows_per_month": per_month, "previous_month_rows": previous, "band": band}
    if previous is None or previous < ctx.policy.row_count_min_rows:
        return CheckOutcome(
            f"{table}_volume", True, False, "WARN",
            f"{table}: {total} rows; no baseline (previous month below {ctx.policy.row_count_min_rows} rows or unknown)",
            metadata,
        )
    low, high = previous * (1 - band), previous * (1 + band)
    passed = low <= per_month <= high
    return CheckOutcome(
        f"{table}_volume", passed, False, "WARN",
        f"{table}: {per_month:g} rows/month vs {previous} the month before (allowed {low:g}-{high:g})",
        metadata,
    )
