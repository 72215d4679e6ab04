"""Fitting frames to table schemas (saas_metrics/metrics/frames.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.metrics.frames import canonical, conform, empty_frame, to_schema
from saas_metrics.tables import Column, TableSchema

SCHEMA = TableSchema(
    name="frames_test",
    columns=(
        Column("customer_id", "str", nullable=False),
        Column("month", "date"),
        Column("mrr", "float"),
    ),
)


def test_empty_frame_is_typed_and_a_fresh_copy() -> None:
    first = empty_frame(SCHEMA)
    assert list(first.columns) == ["customer_id", "month", "mrr"] and len(first) == 0
    assert str(first["mrr"].dtype) == "float64" and str(first["month"].dtype) == "datetime64[ns]"
    first["extra"] = []
    assert "extra" not in empty_frame(SCHEMA).columns


def test_conform_keeps_a_fitting_frame_and_coerces_the_others() -> None:
    fitting = pd.DataFrame({"customer_id": ["c1"], "month": pd.to_datetime(["2024-01-01"]).astype("datetime64[ns]"),
                            "mrr": [10.0]})
    assert conform(fitting, SCHEMA)["mrr"].iloc[0] == 10.0
    loose = pd.DataFrame({"mrr": ["12.5"], "customer_id": [7], "month": ["2024-02-01"]})
    fitted = conform(loose, SCHEMA)
    assert list(fitted.columns) == ["customer_id", "month", "mrr"]
    assert fitted["mrr"].iloc[0] == 12.5 and fitted["month"].iloc[0] == pd.Timestamp("2024-02-01")
    assert conform(None, SCHEMA).empty and list(conform(None, SCHEMA).columns) == SCHEMA.column_names


def test_to_schema_orders_the_columns_and_keeps_nulls_as_none() -> None:
    out = to_schema(pd.DataFrame({"mrr": [1, 2], "month": pd.to_datetime(["2024-01-01", "2024-02-01"]).astype("datetime64[ns]"),
                                  "customer_id": ["a", None], "ignored": [0, 0]}), SCHEMA)
    assert list(out.columns) == ["customer_id", "month", "mrr"]
    assert list(out["mrr"]) == [1.0, 2.0] and out["customer_id"].iloc[1] is None


def test_canonical_names_a_missing_required_column() -> None:
    with pytest.raises(ValueError, match=r"frames_test: missing required column\(s\) \['customer_id'\]"):
        canonical(pd.DataFrame({"mrr": [1.0]}), SCHEMA)
    assert canonical(pd.DataFrame(), SCHEMA).empty  # an absent input is an empty one
