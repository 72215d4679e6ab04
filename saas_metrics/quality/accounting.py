"""Row accounting: every row read from a source is loaded, quarantined or excluded by a named rule.

Per table and run, ``source_row_accounting`` holds

    rows_read = rows_loaded + rows_quarantined + rows_excluded,  rows_excluded = sum of excluded_by_rule

and the raw asset's blocking ``row_accounting`` check fails when the identity does not hold
(DESIGN.md principle 5). The exclusion rules (:data:`EXCLUSION_RULES`) are the only ways a row
read is neither loaded nor quarantined.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from saas_metrics.tables import Column, TableSchema, coerce_frame

#: A fact dated this many years or more before the start month is taken for a typo, not history.
FAR_BEFORE_START_YEARS = 10

EXCLUSION_RULES: dict[str, str] = {
    "outside_run_months": "dated inside the configured months but not in this run's months (the run of its month loads it)",
    "before_start_month": "dated before start_month: history outside the configured partitions",
    "far_before_start_month": f"dated {FAR_BEFORE_START_YEARS} or more years before start_month: most likely a typo in the date",
    "after_end_month": "dated after end_month (and not in the future): outside the configured partitions",
    "soft_deleted": "deleted in the source system (_fivetran_deleted / is_deleted true)",
    "inactive_history": "a superseded version of a history-mode replica record, or one repeating the version "
                        "before it (merged into it)",
    "temporary_line_id": "an invoice line Stripe first wrote under a temporary sub_ id, kept beside its permanent row",
    "discount_of_another_object": "a replica discount row repeating a discount for another object it applies to (invoice, customer)",
}

SOURCE_ROW_ACCOUNTING = TableSchema(
    name="source_row_accounting",
    description="Per source table and run: rows read = loaded + quarantined + excluded (per named rule).",
    columns=(
        Column("run_id", "str", "Dagster run id", nullable=False),
        Column("first_month", "date", "first month of the run (null for snapshot-only runs)"),
        Column("last_month", "date", "last month of the run"),
        Column("source", "str", "source system", nullable=False),
        Column("table_name", "str", "canonical table", nullable=False),
        Column("rows_read", "int", "rows the source delivered for this run", nullable=False),
        Column("rows_loaded", "int", "clean rows stored in the run's partitions", nullable=False),
        Column("rows_quarantined", "int", "rows in quarantined_rows, with their reason", nullable=False),
        Column("rows_excluded", "int", "rows excluded by a named rule", nullable=False),
        Column("excluded_by_rule", "json", "JSON {rule: rows}; rules in saas_metrics.quality.accounting.EXCLUSION_RULES"),
        Column("balanced", "bool", "rows_read = rows_loaded + rows_quarantined + rows_excluded", nullable=False),
        Column("recorded_at", "datetime", "when the run's raw step counted them (naive UTC)"),
    ),
    key=("run_id", "table_name"),
)


@dataclass(frozen=True)
class RowAccount:
    """The counts of one table in one run."""

    read: int
    loaded: int
    quarantined: int
    excluded: Mapping[str, int] = field(default_factory=dict)

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())

    @property
    def balanced(self) -> bool:
        return self.read == self.loaded + self.quarantined + self.excluded_total

    def describe(self) -> str:
        rules = ", ".join(f"{n} {rule}" for rule, n in sorted(self.excluded.items()) if n) or "none"
        verdict = "=" if self.balanced else "!="
        return (f"read {self.read} {verdict} loaded {self.loaded} + quarantined {self.quarantined} "
                f"+ excluded {self.excluded_total} ({rules})")


def exclusions_by_time(times: pd.Series, placed: pd.Series, in_run: int, first: dt.date) -> dict[str, int]:
    """Rows excluded by their time. ``placed`` marks the rows some partition holds (see
    ``defs.source_reads.count_placement``) and ``in_run`` counts those of the run's window: the
    other placed rows are ``outside_run_months``; a row in no partition is before / far before
    ``first`` or after the end."""
    unplaced = ~placed
    before = unplaced & (times < pd.Timestamp(first))
    far = before & (times <= pd.Timestamp(first) - pd.DateOffset(years=FAR_BEFORE_START_YEARS))
    counts = {
        "outside_run_months": int(placed.sum()) - in_run,
        "before_start_month": int((before & ~far).sum()),
        "far_before_start_month": int(far.sum()),
        "after_end_month": int((unplaced & ~before).sum()),
    }
    return {rule: n for rule, n in counts.items() if n}


def accounting_frame(account: RowAccount, *, run_id: str, months: tuple[dt.date, dt.date] | None, source: str,
                     table: str, recorded_at: dt.datetime) -> pd.DataFrame:
    """The ``source_row_accounting`` row of ``account``; ``months``: the run's first and last month."""
    unknown = set(account.excluded) - set(EXCLUSION_RULES)
    if unknown:
        raise ValueError(f"unknown exclusion rule(s) {sorted(unknown)}; known: {sorted(EXCLUSION_RULES)}")
    first, last = (None, None) if months is None else (pd.Timestamp(months[0]), pd.Timestamp(months[1]))
    frame = pd.DataFrame([{
        "run_id": run_id, "first_month": first, "last_month": last,
        "source": source, "table_name": table, "rows_read": account.read, "rows_loaded": account.loaded,
        "rows_quarantined": account.quarantined, "rows_excluded": account.excluded_total,
        "excluded_by_rule": json.dumps(dict(sorted(account.excluded.items()))), "balanced": account.balanced,
        "recorded_at": pd.Timestamp(recorded_at),
    }])
    return coerce_frame(frame, SOURCE_ROW_ACCOUNTING)
