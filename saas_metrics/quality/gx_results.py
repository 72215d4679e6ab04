"""A GX validation result as plain data, and the violations and results it stands for.

:func:`findings_from_gx` reads a GX ``ExpectationSuiteValidationResult`` once; everything
after it works on :class:`SuiteFindings`, which holds no GX object and round-trips through
JSON exactly (the stored copy a later run replays). :func:`suite_violations` turns findings
into worded violations (row positions of the validated frame) and per-expectation results.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from saas_metrics.quality.context import ValidationContext
from saas_metrics.quality.outcomes import ExpectationResult
from saas_metrics.quality.sanitise import sanitise_sample
from saas_metrics.quality.suites import TableRules
from saas_metrics.quality.violations import Violation, messages


@dataclass(frozen=True)
class ExpectationFinding:
    """One expectation's verdict: its unexpected rows (positions in the validated frame), their
    count, a sanitised sample of their values and the exception it raised, if any."""

    expectation_type: str
    meta: dict[str, str]
    success: bool
    unexpected_count: int
    rows: tuple[int, ...] = ()
    sample: list[Any] = field(default_factory=list)
    error: str | None = None

    @property
    def rule(self) -> str:
        return self.meta.get("rule", "unknown")

    @property
    def column(self) -> str:
        return self.meta.get("column", "")


@dataclass(frozen=True)
class SuiteFindings:
    """Every expectation's finding and the suite's success percent."""

    expectations: tuple[ExpectationFinding, ...]
    success_percent: float

    @property
    def errors(self) -> list[str]:
        """The expectations that failed to run, as '<type> on <column>: <message>'."""
        return [f"{e.expectation_type} on {e.column}: {e.error}" for e in self.expectations if e.error]

    def to_json(self) -> str:
        return json.dumps({"success_percent": self.success_percent, "expectations": [asdict(e) for e in self.expectations]})

    @classmethod
    def from_json(cls, text: str) -> SuiteFindings:
        body = json.loads(text)
        findings = tuple(ExpectationFinding(**{**e, "rows": tuple(e["rows"])}) for e in body["expectations"])
        return cls(findings, float(body["success_percent"]))


def raised(result: Any) -> str | None:
    """The message of the exception a GX expectation result reports, or None."""
    info = getattr(result, "exception_info", None) or {}
    if isinstance(info, dict):
        if info.get("raised_exception"):
            return str(info.get("exception_message"))
        for value in info.values():
            if isinstance(value, dict) and value.get("raised_exception"):
                return str(value.get("exception_message"))
    return None


def findings_from_gx(result: Any, pii_columns: frozenset[str] = frozenset()) -> SuiteFindings:
    """The findings of a GX suite validation result; samples of ``pii_columns`` are masked."""
    out = []
    for res in result.results:
        config = res.expectation_config
        meta = {str(k): str(v) for k, v in (config.meta or {}).items()}
        error = raised(res)
        body = res.result or {}
        rows = () if error else tuple(int(r) for r in body.get("unexpected_index_list") or [])
        out.append(
            ExpectationFinding(
                expectation_type=config.type,
                meta=meta,
                success=bool(res.success),
                unexpected_count=int(body.get("unexpected_count") or 0),
                rows=rows,
                sample=sanitise_sample(body.get("unexpected_list") or [], pii=meta.get("column", "") in pii_columns),
                error=error,
            )
        )
    statistics = result.statistics or {}
    success_percent = statistics.get("success_percent")
    return SuiteFindings(tuple(out), 100.0 if success_percent is None else float(success_percent))


def suite_violations(
    findings: SuiteFindings, typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext
) -> tuple[list[Violation], list[ExpectationResult]]:
    """The violations the findings report on ``typed`` (worded with ``ctx``: window, ``now``) and
    one result per expectation."""
    violations: list[Violation] = []
    expectations: list[ExpectationResult] = []
    for found in findings.expectations:
        if found.rows:
            rows = np.asarray(found.rows, dtype=np.int64)
            violations += messages(found.rule, found.column, rows, typed, rules, ctx, found.meta)
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
