"""The row rules checked in pandas instead of GX: ids of other partitions and references.

Plain pandas (vectorised ``isin``): as GX value sets of 10^5 ids these rules cost minutes per
validation (see gx_context). Reported like GX results, with the GX expectation type they stand
for and a ``pandas:`` prefix. They read the run's id sets, so a replayed validation checks them
again (:mod:`saas_metrics.quality.replay`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from saas_metrics.quality.context import ValidationContext
from saas_metrics.quality.outcomes import ExpectationResult
from saas_metrics.quality.sanitise import sanitise_sample
from saas_metrics.quality.suites import TableRules
from saas_metrics.quality.violations import Violation, messages
from saas_metrics.tables import isin


def membership_rules(
    typed: pd.DataFrame, rules: TableRules, ctx: ValidationContext
) -> tuple[list[Violation], list[ExpectationResult]]:
    """Ids already in other partitions and references that do not resolve: the violations and
    one result per rule."""
    checks: list[tuple[str, str, frozenset[str], dict[str, Any], str]] = []
    if rules.global_id:
        checks.append(("duplicate", rules.global_id, ctx.existing_ids, {"existing_ids": True}, "pandas:expect_column_values_to_not_be_in_set"))
    for column, name in rules.references.items():
        if name in ctx.reference_ids:
            checks.append(("reference", column, ctx.reference_ids[name], {}, "pandas:expect_column_values_to_be_in_set"))
    violations: list[Violation] = []
    results: list[ExpectationResult] = []
    for rule, column, ids, meta, expectation_type in checks:
        values = typed[column]
        member = isin(values, ids) if ids else pd.Series(False, index=values.index)
        bad = (member if rule == "duplicate" else ~member) & values.notna()
        rows = np.flatnonzero(bad.to_numpy())
        if len(rows):
            violations += messages(rule, column, rows, typed, rules, ctx, meta)
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
