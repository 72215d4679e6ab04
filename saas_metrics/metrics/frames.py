"""Fitting frames to table schemas: the metric functions' inputs and outputs.

Every metric function takes and returns frames of a declared :class:`~saas_metrics.tables.TableSchema`.
``canonical`` checks and conforms an input, ``conform`` coerces any frame cheaply (returning a frame
that already fits as is), ``to_schema`` fits an output the function typed itself, and ``empty_frame``
is the typed empty frame of a schema.
"""

from __future__ import annotations

import pandas as pd

from saas_metrics.tables import TableSchema, coerce_frame

#: The numpy dtype of each schema type that :func:`conform` checks before it skips coercion.
_NUMPY_DTYPES = {"float": "float64", "date": "datetime64[ns]", "datetime": "datetime64[ns]"}
_EMPTY_FRAMES: dict[str, pd.DataFrame] = {}


def empty_frame(schema: TableSchema) -> pd.DataFrame:
    """schema.empty_frame(), built once per schema (coercion has a fixed cost per column)."""
    if schema.name not in _EMPTY_FRAMES:
        _EMPTY_FRAMES[schema.name] = schema.empty_frame()
    return _EMPTY_FRAMES[schema.name].copy()


def conform(frame: pd.DataFrame | None, schema: TableSchema) -> pd.DataFrame:
    """``frame`` coerced to ``schema`` (tables.coerce_frame); a frame that already has exactly the
    schema's columns with numeric/datetime dtypes in place is returned as is (no copy of data)."""
    if frame is None or (len(frame) == 0 and len(frame.columns) == 0):
        return empty_frame(schema)
    if list(frame.columns) == schema.column_names and all(
        str(frame[c.name].dtype) == _NUMPY_DTYPES[c.type] for c in schema.columns if c.type in _NUMPY_DTYPES
    ):
        return frame.reset_index(drop=True)
    if len(frame) == 0:
        return empty_frame(schema)
    return coerce_frame(frame, schema)


def to_schema(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Output frame with exactly the schema's columns and dtypes, like tables.coerce_frame but
    without a Python call per value (the metric functions already produce typed columns)."""
    out = {}
    for col in schema.columns:
        if col.name not in frame.columns:
            return coerce_frame(frame, schema)
        series = frame[col.name]
        if col.type == "str":
            if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
                out[col.name] = series.astype(object).where(series.notna(), None)
            else:
                return coerce_frame(frame, schema)
        elif col.type == "float":
            out[col.name] = series.astype("float64")
        elif col.type == "int":
            out[col.name] = series.astype("Int64")
        elif col.type in ("date", "datetime") and str(series.dtype) == "datetime64[ns]":
            out[col.name] = series
        else:
            return coerce_frame(frame, schema)
    return pd.DataFrame(out).reset_index(drop=True)


def fill_label(values: pd.Series, label: str) -> pd.Series:
    """``values`` (text labels) with ``label`` where missing. A label looked up through an empty
    mapping comes out float64 (all missing), which pandas 3.1 deprecates filling with text (pandas 4
    raises): such a column is made object first, so the result is the same on every pandas 3."""
    if values.dtype.kind == "f":
        values = values.astype(object)
    return values.fillna(label)


def canonical(frame: pd.DataFrame | None, schema: TableSchema) -> pd.DataFrame:
    """An input frame conformed to its source schema (:func:`conform`); a non-empty frame that lacks a
    required (non-nullable) column raises ValueError naming it."""
    if frame is not None and len(frame):
        missing = [c.name for c in schema.columns if not c.nullable and c.name not in frame.columns]
        if missing:
            raise ValueError(f"{schema.name}: missing required column(s) {missing}")
    return conform(frame, schema)
