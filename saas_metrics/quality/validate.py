"""Validate one canonical raw table for one window: annotate, split, check.

``validate_table`` runs the table's GX suite (:mod:`saas_metrics.quality.suites`)
on the frame, maps every unexpected row back to the frame (``unexpected_index_list``)
and files each bad row under its most important rule with a reason naming file,
line, column and rule. It returns the annotated frame, the clean rows, the
``quarantined_rows`` frame, four checks and the per-expectation results.

Only two refinements are done in pandas, because GX 1.x cannot express them on a
frame: *keep the first occurrence* of a duplicated key (GX flags every
occurrence), and naming the columns inside ``_parse_errors`` (GX flags the row).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from saas_metrics.config import DATA_DIR, QualityPolicy, add_months, first_of_month
from saas_metrics.quality import gx_context
from saas_metrics.quality.data_docs import build_data_docs, table_docs_index
from saas_metrics.quality.expectations import SuiteVariant
from saas_metrics.quality.gx_results import SuiteFindings, findings_from_gx
from saas_metrics.quality.outcomes import CheckOutcome, ExpectationResult
from saas_metrics.quality.quarantine import (
    QUARANTINE_COLUMN,
    QUARANTINE_REASON,
    QUARANTINE_RULE,
    QUARANTINED_ROWS,
    build_quarantined_rows,
)
from saas_metrics.quality.replay import StoredValidation, ValidationStore, fingerprint, window_label
from saas_metrics.quality.sanitise import mask_text, pii_columns, sanitise_sample
from saas_metrics.quality.suites import RULE_PRIORITY, TableRules, rules_for, source_system
from saas_metrics.tables import TableSchema, coerce_frame, isin, text_series

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class ValidationContext:
    """Everything a validation needs besides the frame.

    ``window_end`` is exclusive; both window bounds are None for snapshots.
    ``reference_ids`` maps a reference name (``customer_id``, ``subscription_id``,
    ``contact_id``, ...; see ``suites.SUITES[...].references``) to the ids that exist.
    ``existing_ids`` are ids already stored in OTHER partitions of the same table.
    """

    table: str
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    known_currencies: frozenset[str] = frozenset()
    reference_ids: dict[str, frozenset[str]] = field(default_factory=dict)
    previous_row_count: int | None = None
    existing_ids: frozenset[str] = frozenset()
    policy: QualityPolicy = field(default_factory=QualityPolicy)
    data_docs_dir: Path | None = None
    #: Problems the source reader found with the files' columns, e.g. "billing/invoices.csv lacks
    #: required column(s) total (rule required_column)": each fails the blocking schema check.
    source_problems: tuple[str, ...] = ()
    #: Ids of parent rows that exist but were themselves quarantined (reference name -> ids).
    #: A child pointing at one is quarantined too, but it is a consequence of a bad parent,
    #: not a sign of an incomplete parent table, so it does not count towards
    #: ``QualityPolicy.unresolved_max_fraction``.
    quarantined_reference_ids: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Where full validations are kept and replayed from (None: always validate in full), and the
    #: Dagster run that validates (a validation is stored only with it).
    stored_validations: ValidationStore | None = field(default=None, compare=False, repr=False)
    run_id: str | None = None

    @property
    def has_window(self) -> bool:
        return self.window_start is not None and self.window_end is not None


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

    def check(self, suffix: str) -> CheckOutcome:
        name = f"{self.table}_{suffix}"
        for outcome in self.checks:
            if outcome.name == name:
                return outcome
        raise KeyError(name)


@dataclass(frozen=True)
class _Violation:
    row: int
    rule: str
    column: str
    message: str


# --- value formatting --------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is pd.NaT:  # NaT is a datetime too, but has no date to show
        return "null"
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat(sep=" ")
    if isinstance(value, str):
        return repr(value)
    if hasattr(value, "item"):
        value = value.item()
    return repr(value)


def _prefix(source_file: Any, source_line: Any) -> str:
    file = source_file if isinstance(source_file, str) and source_file else "unknown source"
    if source_line is None or source_line is pd.NA or (isinstance(source_line, float) and np.isnan(source_line)):
        return f"{file}: "
    return f"{file} line {int(source_line)}: "


# --- typing ------------------------------------------------------------------


_COMPATIBLE_KINDS = {"float": "f", "int": "iu", "date": "M", "datetime": "M", "bool": "b"}


def _needs_coercion(series: pd.Series, type_: str) -> bool:
    if type_ in ("str", "json"):
        return not (series.dtype == object or pd.api.types.is_string_dtype(series.dtype))
    if type_ == "int":
        return str(series.dtype) != "Int64"
    if type_ == "bool":
        return str(series.dtype) != "boolean"
    if type_ in ("date", "datetime"):
        return str(series.dtype) != "datetime64[ns]"
    return series.dtype.kind not in _COMPATIBLE_KINDS[type_]


def _typed_frame(frame: pd.DataFrame, schema: TableSchema) -> tuple[pd.DataFrame, dict[int, dict[str, str]], list[str]]:
    """The frame coerced to the schema (extra columns kept), the original text of
    values that did not parse ({row: {column: text}}) and the coerced columns."""
    frame = frame.reset_index(drop=True)
    to_coerce = [c for c in schema.columns if c.name in frame.columns and _needs_coercion(frame[c.name], c.type)]
    typed = frame.copy()
    for col in schema.columns:
        if col.name not in frame.columns or col in to_coerce:
            if col.type == "int" and col.name in frame.columns:
                typed[col.name] = _to_int(frame[col.name])
                continue
            source = frame[[col.name]] if col.name in frame.columns else pd.DataFrame(index=frame.index)
            typed[col.name] = coerce_frame(source, TableSchema(schema.name, (col,)))[col.name]
    typed = typed[schema.column_names + [c for c in frame.columns if c not in schema.column_names]]
    errors: dict[int, dict[str, str]] = {}
    for col in to_coerce:
        failed = frame[col.name].notna().to_numpy() & typed[col.name].isna().to_numpy()
        for row in np.flatnonzero(failed):
            errors.setdefault(int(row), {})[col.name] = str(frame[col.name].iat[row])
    if errors:
        merged = typed["_parse_errors"].astype(object).to_numpy(copy=True)
        for row, originals in errors.items():
            existing = _load_parse_errors(merged[row])
            merged[row] = json.dumps({**existing, **originals})
        typed["_parse_errors"] = pd.Series(merged, index=typed.index, dtype=object)
    return typed, errors, [c.name for c in to_coerce]


def _to_int(series: pd.Series) -> pd.Series:
    """Nullable integers; non-integral numbers (3.5) become null, so they are
    reported as unparseable instead of failing the cast."""
    numeric = pd.to_numeric(series, errors="coerce").astype("float64")
    return numeric.where(numeric == numeric.round()).astype("Int64")


def _load_parse_errors(value: Any) -> dict[str, Any]:
    if not isinstance(value, str) or not value.strip():
        return {}
    try:
        loaded = json.loads(value)
    except ValueError:
        return {"_parse_errors": value}
    return loaded if isinstance(loaded, dict) else {"_parse_errors": value}


def _normalise_parse_errors(typed: pd.DataFrame) -> pd.DataFrame:
    """Empty parse-error objects ('', '{}', 'null') count as clean."""
    col = typed["_parse_errors"]
    present = col.notna()
    if present.any():
        values = col[present].astype(str).str.strip()
        empty = values.isin(["", "{}", "null"])
        if empty.any():
            cleaned = col.astype(object).copy()
            cleaned[empty[empty].index] = None
            typed = typed.assign(_parse_errors=cleaned)
    return typed


# --- GX result -> violations --------------------------------------------------


def _messages(
    rule: str, column: str, rows: np.ndarray, typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext, meta: dict[str, Any]
) -> list[_Violation]:
    if rule == "unparseable":
        out = []
        for row in rows:
            originals = _load_parse_errors(typed["_parse_errors"].iat[row]) or {"_parse_errors": typed["_parse_errors"].iat[row]}
            for col, text in originals.items():
                if col == "_line":
                    out.append(_Violation(row, rule, col, f"malformed line {str(text)!r} could not be parsed (rule unparseable)"))
                else:
                    type_ = rules.schema.column(col).type if col in rules.schema.column_names else "value"
                    out.append(_Violation(row, rule, col, f"{col} {str(text)!r} could not be parsed as {type_} (rule unparseable)"))
        return out
    if rule == "not_null":
        return [_Violation(int(r), rule, column, f"{column} is null (rule not_null)") for r in rows]
    if rule == "duplicate" and meta.get("existing_ids"):
        values = typed[column].iloc[rows].tolist()
        return [
            _Violation(int(r), rule, column, f"{column} {_fmt(v)} already exists in another partition (rule duplicate)")
            for r, v in zip(rows, values, strict=True)
        ]
    if rule == "duplicate":
        # GX flags every occurrence; keep the first one, quarantine the later ones.
        key = list(rules.key)
        flagged = typed.iloc[rows]
        first_line = flagged.groupby(key, dropna=True, sort=False)["_source_line"].transform("first")
        later = flagged.duplicated(subset=key, keep="first").to_numpy()
        out = []
        for pos in np.flatnonzero(later):
            r = int(rows[pos])
            label = ", ".join(_fmt(typed[k].iat[r]) for k in key)
            name = key[0] if len(key) == 1 else f"({', '.join(key)})"
            line = first_line.iat[pos]
            where = "" if pd.isna(line) else f" (first seen on line {int(line)})"
            out.append(_Violation(r, rule, column, f"{name} {label} duplicates an earlier row{where} (rule duplicate)"))
        return out
    values = typed[column].iloc[rows].tolist()
    if rule == "allowed_values":
        what = "a known currency" if meta.get("currency") else "an allowed value"
        text = "is not " + what
    elif rule == "non_negative":
        text = "is negative"
    elif rule == "positive":
        text = "is not positive"
    elif rule == "range":
        low, high = rules.ranges[column]
        text = f"is outside [{low:g}, {high:g}]"
    elif rule == "in_window":
        text = f"is outside the window [{ctx.window_start}, {ctx.window_end})"
    elif rule == "not_future":
        text = f"is after now ({_fmt(pd.Timestamp(ctx.now))})"
    elif rule == "reference":
        text = f"does not resolve to a known {rules.references[column]}"
    else:
        text = f"violates {rule}"
    return [_Violation(int(r), rule, column, f"{column} {_fmt(v)} {text} (rule {rule})") for r, v in zip(rows, values, strict=True)]


def _membership_rules(
    typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext
) -> tuple[list[_Violation], list[ExpectationResult]]:
    """Ids already in other partitions and references that do not resolve.

    Plain pandas (vectorised ``isin``): as GX value sets of 10^5 ids these rules
    cost minutes per validation (see gx_context). Reported like GX results, with
    the GX expectation type they stand for and a ``pandas:`` prefix.
    """
    checks: list[tuple[str, str, frozenset[str], dict[str, Any], str]] = []
    if rules.global_id:
        checks.append(("duplicate", rules.global_id, ctx.existing_ids, {"existing_ids": True}, "pandas:expect_column_values_to_not_be_in_set"))
    for column, name in rules.references.items():
        if name in ctx.reference_ids:
            checks.append(("reference", column, ctx.reference_ids[name], {}, "pandas:expect_column_values_to_be_in_set"))
    violations: list[_Violation] = []
    results: list[ExpectationResult] = []
    for rule, column, ids, meta, expectation_type in checks:
        values = typed[column]
        member = isin(values, ids) if ids else pd.Series(False, index=values.index)
        bad = (member if rule == "duplicate" else ~member) & values.notna()
        rows = np.flatnonzero(bad.to_numpy())
        if len(rows):
            violations += _messages(rule, column, rows, typed, rules, ctx, meta)
        results.append(
            ExpectationResult(
                expectation_type=expectation_type,
                column=column,
                rule=rule,
                success=not len(rows),
                unexpected_count=len(rows),
                sample=sanitise_sample(values.iloc[rows[:5]].tolist()),
            )
        )
    return violations, results


# --- checks ---------------------------------------------------------------------


def _months_in_window(ctx: ValidationContext) -> int:
    if not ctx.has_window:
        return 1
    start, end = first_of_month(ctx.window_start), ctx.window_end  # type: ignore[arg-type]
    months = 0
    while start < end:  # type: ignore[operator]
        months += 1
        start = add_months(start, 1)
    return max(months, 1)


def _schema_check(
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


def _points_at_quarantined_parent(v: _Violation, typed: pd.DataFrame | None, rules: TableRules, ctx: ValidationContext) -> bool:
    name = rules.references.get(v.column)
    if typed is None or name is None or name not in ctx.quarantined_reference_ids:
        return False
    return typed.at[v.row, v.column] in ctx.quarantined_reference_ids[name]


def _integrity_check(
    table: str,
    total_rows: int,
    clean: pd.DataFrame,
    violations: list[_Violation],
    rules: TableRules,
    ctx: ValidationContext,
    typed: pd.DataFrame | None = None,
) -> CheckOutcome:
    problems: list[str] = []
    metadata: dict[str, Any] = {}
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
    # A large share of rows with an unknown currency or an unresolved reference points
    # at the pipeline (FX table or parent table incomplete), not at bad rows.
    unresolved_rows = {
        v.row for v in violations
        if (v.rule == "reference" and not _points_at_quarantined_parent(v, typed, rules, ctx))
        or (v.rule == "allowed_values" and v.column in rules.currency_columns)
    }
    fraction = len(unresolved_rows) / total_rows if total_rows else 0.0
    metadata["unresolved_rows"] = len(unresolved_rows)
    metadata["unresolved_fraction"] = round(fraction, 6)
    if total_rows >= ctx.policy.unresolved_min_rows and fraction > ctx.policy.unresolved_max_fraction:
        by_column: dict[str, int] = {}
        for v in violations:
            if v.row in unresolved_rows and (v.rule == "reference" or v.column in rules.currency_columns):
                by_column[v.column] = by_column.get(v.column, 0) + 1
        problems.append(
            f"{fraction:.1%} of rows have an unknown currency or unresolved reference ({by_column}), "
            f"above {ctx.policy.unresolved_max_fraction:.1%}: is the FX or parent table incomplete?"
        )
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


def _row_rules_check(table: str, total: int, annotated: pd.DataFrame, violations: list[_Violation]) -> CheckOutcome:
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


def _volume_check(table: str, total: int, ctx: ValidationContext) -> CheckOutcome:
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


# --- main -----------------------------------------------------------------------


def _row_months(typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext, rows: pd.Index) -> pd.Series:
    """Partition month of each row: its time column's month when inside the window,
    else the window's first month (or the month of ``now`` for snapshots)."""
    fallback = pd.Timestamp(first_of_month(ctx.window_start if ctx.window_start else ctx.now))
    if not rules.time_column or not ctx.has_window:
        return pd.Series(fallback, index=rows)
    times = typed.loc[rows, rules.time_column]
    inside = (times >= pd.Timestamp(ctx.window_start)) & (times < pd.Timestamp(ctx.window_end))
    return times.dt.to_period("M").dt.to_timestamp().where(inside, fallback)


def _annotate(typed: pd.DataFrame, violations: list[_Violation]) -> pd.DataFrame:
    rule_col = np.full(len(typed), None, dtype=object)
    column_col = np.full(len(typed), None, dtype=object)
    reason_col = np.full(len(typed), None, dtype=object)
    if violations:
        order = {c: i for i, c in enumerate(typed.columns)}
        ordered = sorted(violations, key=lambda v: (v.row, RULE_PRIORITY[v.rule], order.get(v.column, -1)))
        files = typed["_source_file"].to_numpy()
        lines = typed["_source_line"].to_numpy()
        current = -1
        parts: list[str] = []
        for v in [*ordered, None]:
            if v is None or v.row != current:
                if current >= 0:
                    reason_col[current] = _prefix(files[current], lines[current]) + "; ".join(dict.fromkeys(parts))
                if v is None:
                    break
                current, parts = v.row, []
                rule_col[current], column_col[current] = v.rule, v.column
            parts.append(v.message)
    # pandas' string dtype: null (NaN) for clean rows
    return typed.assign(
        **{name: text_series(values, typed.index) for name, values in
           ((QUARANTINE_RULE, rule_col), (QUARANTINE_COLUMN, column_col), (QUARANTINE_REASON, reason_col))}
    )


def _suite_parameters(ctx: ValidationContext, variant: SuiteVariant) -> dict[str, Any]:
    parameters: dict[str, Any] = {"now": pd.Timestamp(ctx.now)}
    if variant.window:
        parameters["window_start"] = pd.Timestamp(ctx.window_start)
        parameters["window_end"] = pd.Timestamp(ctx.window_end)
    if variant.currency:
        parameters["known_currencies"] = sorted(ctx.known_currencies)
    return parameters


def _run_suite(typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext) -> tuple[SuiteFindings, Any, StoredValidation | None]:
    """The suite's findings on ``typed``: replayed from the stored validation when its fingerprint
    matches (no GX result then), else from a full GX validation, which is stored for the next run."""
    variant = SuiteVariant(
        table=ctx.table,
        window=ctx.has_window and rules.time_column is not None,
        currency=bool(ctx.known_currencies) and bool(rules.currency_columns),
    )
    parameters = _suite_parameters(ctx, variant)
    store, window = ctx.stored_validations, window_label(ctx.window_start, ctx.window_end)
    detail = ctx.policy.gx_detail_passing
    key = fingerprint(typed, rules.schema, variant, parameters, detail_passing=detail) if store is not None and ctx.run_id else None
    if key is not None and store is not None:
        stored = store.load(ctx.table, window, key)
        if stored is not None:
            return stored.findings, None, stored
    result = gx_context.run_suite(typed, variant, parameters, detail_passing=detail)
    findings = findings_from_gx(result, pii_columns(rules.schema.columns))
    # An expectation that raised may not raise next time: such a validation is never replayed.
    if key is not None and store is not None and ctx.run_id and not findings.errors:
        store.save(ctx.table, window, key, StoredValidation(findings, ctx.run_id, ctx.now))
    return findings, result, None


def _suite_violations(
    findings: SuiteFindings, typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext
) -> tuple[list[_Violation], list[ExpectationResult]]:
    violations: list[_Violation] = []
    expectations: list[ExpectationResult] = []
    for found in findings.expectations:
        if found.rows:
            rows = np.asarray(found.rows, dtype=np.int64)
            violations += _messages(found.rule, found.column, rows, typed, rules, ctx, found.meta)
        expectations.append(
            ExpectationResult(
                expectation_type=found.expectation_type,
                column=found.column,
                rule=found.rule,
                success=found.success,
                unexpected_count=found.unexpected_count,
                sample=list(found.sample),
                error=found.error,
            )
        )
    return violations, expectations


def _attach_data_docs(outcome: ValidationOutcome, ctx: ValidationContext) -> None:
    """Render the table's Data Docs page for a full validation; a replay links the page of the
    run that validated (it shows the same verdicts)."""
    docs_dir = ctx.data_docs_dir or DATA_DIR / "gx_docs"
    if outcome.replayed_from is not None:
        index = table_docs_index(docs_dir, ctx.table)
        outcome.data_docs_index = index if index.is_file() else None
        return
    try:
        build_data_docs([outcome], docs_dir)
        outcome.data_docs_index = table_docs_index(docs_dir, ctx.table)
    except Exception:  # docs are a convenience: never fail a data step over them
        logger.warning("building GX Data Docs for %s failed", ctx.table, exc_info=True)


def validate_table(frame: pd.DataFrame, ctx: ValidationContext) -> ValidationOutcome:
    """Validate one canonical raw table for ``ctx``'s window (see the module docstring)."""
    rules = rules_for(ctx.table)
    missing = [c for c in rules.required_columns if c not in frame.columns]
    typed, _, coerced = _typed_frame(frame, rules.schema)
    typed = _normalise_parse_errors(typed)

    findings, result, replayed_from = _run_suite(typed, rules, ctx)
    violations, expectations = _suite_violations(findings, typed, rules, ctx)
    pandas_violations, pandas_expectations = _membership_rules(typed, rules, ctx)
    violations += pandas_violations
    expectations += pandas_expectations

    annotated = _annotate(typed, violations)
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
        _schema_check(ctx.table, missing, clean, rules, coerced, findings.errors, ctx.source_problems),
        _integrity_check(ctx.table, total, clean, violations, rules, ctx, typed),
        _row_rules_check(ctx.table, total, annotated, violations),
        _volume_check(ctx.table, total, ctx),
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
    )
    if ctx.policy.data_docs:
        _attach_data_docs(outcome, ctx)
    return outcome
