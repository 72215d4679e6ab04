"""Result types of the quality layer (no Dagster, no GX)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["ERROR", "WARN"]


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict. ``severity`` is the severity the check carries when it
    fails ('ERROR' for blocking checks); ``metadata`` holds plain JSON-able values."""

    name: str
    passed: bool
    blocking: bool
    severity: Severity
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExpectationResult:
    """One GX expectation's result, with a sanitised sample (<= 5 values) of the
    unexpected values: emails and personal names are masked."""

    expectation_type: str
    column: str
    rule: str
    success: bool
    unexpected_count: int
    sample: list[Any] = field(default_factory=list)
    error: str | None = None
