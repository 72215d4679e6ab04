"""The frame typed to its canonical schema, keeping the original text of what did not parse.

A value that does not parse becomes null and its original text is merged into the row's
``_parse_errors`` JSON ({column: text}); the ``unparseable`` rule then quarantines the row
naming each column (see :mod:`saas_metrics.quality.violations`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from saas_metrics.tables import TableSchema, coerce_frame

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


def typed_frame(frame: pd.DataFrame, schema: TableSchema) -> tuple[pd.DataFrame, dict[int, dict[str, str]], list[str]]:
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
        for position in np.flatnonzero(failed).tolist():
            errors.setdefault(position, {})[col.name] = str(frame[col.name].iat[position])
    if errors:
        merged = typed["_parse_errors"].astype(object).to_numpy(copy=True)
        for row, originals in errors.items():
            existing = load_parse_errors(merged[row])
            merged[row] = json.dumps({**existing, **originals})
        typed["_parse_errors"] = pd.Series(merged, index=typed.index, dtype=object)
    return typed, errors, [c.name for c in to_coerce]


def _to_int(series: pd.Series) -> pd.Series:
    """Nullable integers; non-integral numbers (3.5) become null, so they are
    reported as unparseable instead of failing the cast."""
    numeric = pd.to_numeric(series, errors="coerce").astype("float64")
    return numeric.where(numeric == numeric.round()).astype("Int64")


def load_parse_errors(value: Any) -> dict[str, Any]:
    """A row's ``_parse_errors`` as {column: original text} (text that is not a JSON object: under
    the key ``_parse_errors``)."""
    if not isinstance(value, str) or not value.strip():
        return {}
    try:
        loaded = json.loads(value)
    except ValueError:
        return {"_parse_errors": value}
    return loaded if isinstance(loaded, dict) else {"_parse_errors": value}


def normalise_parse_errors(typed: pd.DataFrame) -> pd.DataFrame:
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

