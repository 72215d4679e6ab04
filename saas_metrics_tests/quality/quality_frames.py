"""Small canonical frames built by hand for the quality tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from saas_metrics.config import QualityPolicy
from saas_metrics.quality.validate import ValidationContext, ValidationOutcome
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.tables import coerce_frame

MARCH = dt.date(2024, 3, 1)
APRIL = dt.date(2024, 4, 1)
NOW = dt.datetime(2024, 5, 2, 12, 0)
CHARGES = "billing/charges.csv"


def canonical(table: str, rows: list[dict[str, Any]], *, source_file: str = CHARGES) -> pd.DataFrame:
    """A canonical frame of ``table`` (lineage filled: file and 1-based line)."""
    filled = [{"_source_file": source_file, "_source_line": i + 1, **row} for i, row in enumerate(rows)]
    return coerce_frame(pd.DataFrame(filled, columns=None if filled else []), SCHEMAS[table])


def payment(payment_id: str | None = "py_1", **overrides: Any) -> dict[str, Any]:
    row = {
        "payment_id": payment_id,
        "customer_id": "cus_1",
        "invoice_id": "in_1",
        "amount": 10.0,
        "currency": "USD",
        "status": "succeeded",
        "created_at": "2024-03-05 10:00:00",
    }
    return {**row, **overrides}


def context(table: str = "billing_payments", **overrides: Any) -> ValidationContext:
    values: dict[str, Any] = {
        "table": table,
        "window_start": MARCH,
        "window_end": APRIL,
        "now": NOW,
        "known_currencies": frozenset({"USD", "EUR"}),
        "reference_ids": {"customer_id": frozenset({"cus_1", "cus_2"})},
        "policy": QualityPolicy(data_docs=False),
    }
    values.update(overrides)
    return ValidationContext(**values)


def assert_same_verdicts(one: ValidationOutcome, other: ValidationOutcome) -> None:
    """Two validations of the same frame reached the same verdicts, quarantine and checks."""
    assert one.checks == other.checks
    assert one.expectations == other.expectations
    assert one.success_percent == other.success_percent
    pd.testing.assert_frame_equal(one.annotated, other.annotated)
    pd.testing.assert_frame_equal(one.clean, other.clean)
    pd.testing.assert_frame_equal(one.quarantined, other.quarantined)
