"""Source gaps: a source that delivered rows before and is absent or empty now is not zero.

When a native file that fed a table in other months (rows of it are stored outside the run's
months, or in the previous snapshot) is missing or holds no data row, the raw step records one
``source_gaps`` row per month of the run; ``kpi_monthly`` then sets every metric that needs
the table to NULL for those months (``metrics.requirements``), a WARN check on the raw asset
names the file, and ``saas-metrics run`` says so in one line. A file with a recorded gap stays a
gap while it is gone; a later run of the same months with the file back replaces the gap rows
with none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from saas_metrics.tables import Column, TableSchema, coerce_frame

SOURCE_GAPS = TableSchema(
    name="source_gaps",
    description="Per month and table: native files that fed the table before and are absent or empty in the run of that month.",
    columns=(
        Column("month", "date", nullable=False),
        Column("source", "str", "source system", nullable=False),
        Column("table_name", "str", "canonical table", nullable=False),
        Column("source_file", "str", "the native file (relative to the sources folder)", nullable=False),
        Column("reason", "str", "absent or empty", nullable=False),
        Column("run_id", "str", "the run that found the gap"),
    ),
    time_column="month",
)


def file_state(path: Path) -> str | None:
    """'absent' (no such file), 'empty' (no data row: zero bytes or a header only) or None (has rows)."""
    if not path.is_file():
        return "absent"
    with path.open("rb") as handle:
        lines = [line for line in handle.read(1 << 16).splitlines() if line.strip()]
    return "empty" if len(lines) <= 1 else None


def gap_frame(months: Sequence[dt.date], *, source: str, table: str, gone: Sequence[tuple[str, str]],
              run_id: str) -> pd.DataFrame:
    """``source_gaps`` rows: every (file, reason) of ``gone`` in every month of ``months``."""
    rows = [{"month": pd.Timestamp(m), "source": source, "table_name": table, "source_file": file, "reason": reason,
             "run_id": run_id} for m in months for file, reason in gone]
    return coerce_frame(pd.DataFrame(rows, columns=SOURCE_GAPS.column_names), SOURCE_GAPS)


def gaps_by_month(gaps: pd.DataFrame) -> dict[pd.Timestamp, set[str]]:
    """month -> tables with a gap in that month."""
    return {pd.Timestamp(m): set(group["table_name"]) for m, group in gaps.groupby("month")}
