"""The ``quarantined_rows`` table: every raw row that failed a row rule, with why.

Nothing is silently lost (DESIGN.md principle 5): a raw row is either clean (it
goes to staging) or it lands here with its original values, its source file and
line, the rule that quarantined it and a readable reason.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pandas as pd

from saas_metrics.tables import Column, TableSchema, coerce_frame

QUARANTINE_RULE = "_quarantine_rule"
QUARANTINE_COLUMN = "_quarantine_column"
QUARANTINE_REASON = "_quarantine_reason"
QUARANTINE_COLUMNS = (QUARANTINE_RULE, QUARANTINE_COLUMN, QUARANTINE_REASON)

QUARANTINED_ROWS = TableSchema(
    name="quarantined_rows",
    description="Raw rows that failed validation, with their original values and the reason.",
    columns=(
        Column("month", "date", "partition month of the row (the window's first month when the row cannot be placed in the window)", nullable=False),
        Column("source", "str", "source system (billing, crm, ads, ...)", nullable=False),
        Column("table_name", "str", "canonical table", nullable=False),
        Column("source_file", "str", "landing file (or API/SQL object) of the row"),
        Column("source_line", "int", "1-based data line in that file"),
        Column("row_data", "json", "JSON of the original values (canonical values, unparseable ones as their original text)"),
        Column("rule", "str", "the most important rule the row violates", nullable=False),
        Column("column_name", "str", "the column of that rule"),
        Column("reason", "str", "file, line, column and rule of every violation", nullable=False),
        Column("quarantined_at", "datetime", "validation time (naive UTC)"),
        Column("run_id", "str", "Dagster run that set the row aside"),
        Column("run_first_month", "date", "first month of that run"),
        Column("run_last_month", "date", "last month of that run"),
    ),
    time_column="month",
)


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def row_data_json(row: dict[str, Any], parse_errors: Any) -> str:
    """JSON of a row's original values: canonical values, overridden by the original
    text of values that failed to parse (``_parse_errors``)."""
    data = {k: _json_value(v) for k, v in row.items()}
    if isinstance(parse_errors, str) and parse_errors:
        try:
            originals = json.loads(parse_errors)
        except ValueError:
            originals = {"_parse_errors": parse_errors}
        if isinstance(originals, dict):
            data.update({str(k): v for k, v in originals.items()})
    return json.dumps(data, sort_keys=False, default=str)


def build_quarantined_rows(
    bad: pd.DataFrame,
    *,
    canonical_columns: list[str],
    table: str,
    source: str,
    months: pd.Series,
    quarantined_at: dt.datetime,
) -> pd.DataFrame:
    """QUARANTINED_ROWS frame of the annotated rows ``bad`` (``months`` aligned with it)."""
    if bad.empty:
        return QUARANTINED_ROWS.empty_frame()
    records = bad[canonical_columns].to_dict("records")
    parse_errors = bad["_parse_errors"].tolist()
    out = pd.DataFrame(
        {
            "month": months.to_numpy(),
            "source": source,
            "table_name": table,
            "source_file": bad["_source_file"].to_numpy(),
            "source_line": bad["_source_line"].to_numpy(),
            "row_data": [row_data_json(r, p) for r, p in zip(records, parse_errors, strict=True)],
            "rule": bad[QUARANTINE_RULE].to_numpy(),
            "column_name": bad[QUARANTINE_COLUMN].to_numpy(),
            "reason": bad[QUARANTINE_REASON].to_numpy(),
            "quarantined_at": pd.Timestamp(quarantined_at),
        }
    )
    return coerce_frame(out, QUARANTINED_ROWS)


def for_run(quarantined: pd.DataFrame, run_id: str, months: tuple[dt.date, dt.date] | None, *,
            snapshot: bool) -> pd.DataFrame:
    """The rows stamped with the run and its months; a snapshot's rows are filed under the run's last
    month (not the month of the wall clock), so a user finds them with the run's months."""
    if quarantined.empty:
        return quarantined
    first, last = (None, None) if months is None else (pd.Timestamp(months[0]), pd.Timestamp(months[1]))
    out = quarantined.assign(run_id=run_id, run_first_month=first, run_last_month=last)
    if snapshot and last is not None:
        out["month"] = last
    return coerce_frame(out, QUARANTINED_ROWS)
