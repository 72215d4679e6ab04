"""Violations: one row breaking one rule, and the readable reasons they become.

Every rule, whether GX or pandas found it, ends here: :func:`messages` words the violations
of one rule on the given rows (values, window, ``now``), and :func:`annotate` files each row
under its most important rule with a reason naming file, line, column and every rule it breaks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from saas_metrics.quality.coercion import load_parse_errors
from saas_metrics.quality.context import ValidationContext
from saas_metrics.quality.quarantine import QUARANTINE_COLUMN, QUARANTINE_REASON, QUARANTINE_RULE
from saas_metrics.quality.suites import RULE_PRIORITY, TableRules
from saas_metrics.tables import text_series


@dataclass(frozen=True)
class Violation:
    row: int
    rule: str
    column: str
    message: str


def fmt(value: Any) -> str:
    """A value as a reason shows it: dates without a midnight time, strings quoted, null as 'null'."""
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


def _unparseable(rows: np.ndarray, typed: pd.DataFrame, rules: TableRules) -> list[Violation]:
    rule = "unparseable"
    out = []
    for row in rows:
        originals = load_parse_errors(typed["_parse_errors"].iat[row]) or {"_parse_errors": typed["_parse_errors"].iat[row]}
        for col, text in originals.items():
            if col == "_line":
                out.append(Violation(row, rule, col, f"malformed line {str(text)!r} could not be parsed (rule unparseable)"))
            else:
                type_ = rules.schema.column(col).type if col in rules.schema.column_names else "value"
                out.append(Violation(row, rule, col, f"{col} {str(text)!r} could not be parsed as {type_} (rule unparseable)"))
    return out


def _later_duplicates(column: str, rows: np.ndarray, typed: pd.DataFrame, rules: TableRules) -> list[Violation]:
    """GX flags every occurrence of a duplicated key; the first one is kept, the later ones quarantined."""
    key = list(rules.key)
    flagged = typed.iloc[rows]
    first_line = flagged.groupby(key, dropna=True, sort=False)["_source_line"].transform("first")
    later = flagged.duplicated(subset=key, keep="first").to_numpy()
    out = []
    for pos in np.flatnonzero(later):
        r = int(rows[pos])
        label = ", ".join(fmt(typed[k].iat[r]) for k in key)
        name = key[0] if len(key) == 1 else f"({', '.join(key)})"
        line = first_line.iat[pos]
        where = "" if pd.isna(line) else f" (first seen on line {int(line)})"
        out.append(Violation(r, "duplicate", column, f"{name} {label} duplicates an earlier row{where} (rule duplicate)"))
    return out


def _value_text(rule: str, column: str, rules: TableRules, ctx: ValidationContext, meta: dict[str, Any]) -> str:
    """What is wrong with a value that breaks ``rule``, e.g. 'is negative'."""
    if rule == "duplicate":  # an id of another partition (a duplicate within the frame: _later_duplicates)
        return "already exists in another partition"
    if rule == "allowed_values":
        return "is not " + ("a known currency" if meta.get("currency") else "an allowed value")
    if rule == "range":
        low, high = rules.ranges[column]
        return f"is outside [{low:g}, {high:g}]"
    if rule == "in_window":
        return f"is outside the window [{ctx.window_start}, {ctx.window_end})"
    if rule == "not_future":
        return f"is after now ({fmt(pd.Timestamp(ctx.now))})"
    if rule == "reference":
        return f"does not resolve to a known {rules.references[column]}"
    return {"non_negative": "is negative", "positive": "is not positive"}.get(rule, f"violates {rule}")


def messages(
    rule: str, column: str, rows: np.ndarray, typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext, meta: dict[str, Any]
) -> list[Violation]:
    """The violations of ``rule`` on ``column`` at the positions ``rows`` of ``typed``, worded."""
    if rule == "unparseable":
        return _unparseable(rows, typed, rules)
    if rule == "not_null":
        return [Violation(int(r), rule, column, f"{column} is null (rule not_null)") for r in rows]
    if rule == "duplicate" and not meta.get("existing_ids"):
        return _later_duplicates(column, rows, typed, rules)
    text = _value_text(rule, column, rules, ctx, meta)
    values = typed[column].iloc[rows].tolist()
    return [Violation(int(r), rule, column, f"{column} {fmt(v)} {text} (rule {rule})") for r, v in zip(rows, values, strict=True)]


def annotate(typed: pd.DataFrame, violations: Iterable[Violation]) -> pd.DataFrame:
    """``typed`` with the quarantine columns: each violating row's most important rule (by
    ``RULE_PRIORITY``), its column, and a reason listing every violation once; null when clean."""
    violations = list(violations)
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
