"""Validation of canonical source tables (GX 1.x suites), quarantine and metric checks.

Importing this package does not import Great Expectations or Dagster: GX loads on
the first validation, Dagster only through :mod:`saas_metrics.quality.dagster_checks`.
"""

from saas_metrics.quality.checks import CHECK_SUFFIXES, check_blocking, check_names
from saas_metrics.quality.outcomes import CheckOutcome, ExpectationResult
from saas_metrics.quality.quarantine import QUARANTINED_ROWS
from saas_metrics.quality.suites import SUITES, TableRules
from saas_metrics.quality.validate import ValidationContext, ValidationOutcome, validate_table

__all__ = [
    "CHECK_SUFFIXES",
    "QUARANTINED_ROWS",
    "SUITES",
    "CheckOutcome",
    "ExpectationResult",
    "TableRules",
    "ValidationContext",
    "ValidationOutcome",
    "check_blocking",
    "check_names",
    "validate_table",
]
