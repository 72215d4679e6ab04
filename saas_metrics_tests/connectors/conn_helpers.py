"""Shared helpers of the connector tests: sample data and frame comparison."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from saas_metrics.connectors.config import ConnectorsConfig, RetryConfig
from saas_metrics.sources.schemas import LINEAGE_COLUMNS, SCHEMAS

END_MONTH = dt.date(2025, 6, 1)
LINEAGE = [c.name for c in LINEAGE_COLUMNS]
FAST_RETRY = RetryConfig(max_attempts=4, backoff_initial_seconds=0.0, backoff_max_seconds=0.0, timeout_seconds=5.0)


def generate_sources(folder: Path) -> Path:
    from saas_metrics.sample_data import generate

    generate(folder, customers=40, months=3, end_month=END_MONTH)
    return folder


def fast_config(**fields: object) -> ConnectorsConfig:
    return ConnectorsConfig(retry=FAST_RETRY, **fields)


def comparable(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """The frame without lineage, rows sorted by the table's key (all columns as tie-breakers)."""
    key = list(SCHEMAS[table].key) or [c for c in frame.columns if c not in LINEAGE]
    data = frame.drop(columns=LINEAGE)
    for column in data.columns:
        if pd.api.types.is_datetime64_any_dtype(data[column]):
            # the files reader turns epoch-ms text into ns through float64 (errors < 1 us); the sources
            # carry millisecond precision, so compare at that precision
            data[column] = data[column].dt.round("ms")
    rest = [c for c in data.columns if c not in key]
    return data.sort_values(key + rest, kind="stable", na_position="first").reset_index(drop=True)


def assert_same_canonical(actual: pd.DataFrame, expected: pd.DataFrame, table: str) -> None:
    assert len(expected) > 0, f"{table}: the reference frame is empty; the comparison would prove nothing"
    pd.testing.assert_frame_equal(comparable(actual, table), comparable(expected, table), check_exact=False, rtol=1e-12)


def read_counted(table: str, config: ConnectorsConfig, start: dt.date | None = None,
                 end: dt.date | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """The canonical ``table`` read the ``sql`` way (sorted by its first two columns) and the rows the
    connector excluded, per rule (its ExcludedRowsWarning counts)."""
    import warnings

    from saas_metrics.connectors.native import ExcludedRowsWarning
    from saas_metrics.connectors.resource import read_table

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_table(table, "sql", Path("unused"), start, end, config=config)
    excluded: dict[str, int] = {}
    for w in caught:
        if isinstance(w.message, ExcludedRowsWarning):
            for rule, n in w.message.counts.items():
                excluded[rule] = excluded.get(rule, 0) + n
    return frame.sort_values(list(frame.columns[:2]), kind="stable").reset_index(drop=True), excluded
