"""Helpers for integration tests: settings for a temp warehouse, run a month range."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

import dagster as dg
import pandas as pd

from saas_metrics.config import Settings
from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.runner import RunOutcome, materialise
from saas_metrics.tables import TableSchema
from saas_metrics.warehouse import Warehouse


def make_settings(sources: Path, warehouse_url: str, *, start: dt.date, end: dt.date, **kwargs: object) -> Settings:
    return Settings(sources_dir=sources, warehouse_url=warehouse_url, start_month=start, end_month=end, **kwargs)


def run_months(settings: Settings, start: dt.date | None = None, end: dt.date | None = None,
               instance: dg.DagsterInstance | None = None) -> RunOutcome:
    instance = instance or ephemeral_instance()
    outcome = materialise(settings, start, end, instance=instance)
    assert outcome.success, f"run failed: {outcome.error} {outcome.steps_failed}"
    return outcome


def read_sorted(warehouse_url: str, schema: TableSchema, by: list[str]) -> pd.DataFrame:
    frame = Warehouse(warehouse_url).read(schema)
    return frame.sort_values(by, kind="stable").reset_index(drop=True)


def sqlite_copy(warehouse_url: str, path: Path) -> str:
    """A copy of a SQLite warehouse at ``path`` (its URL), for a test that changes it while others read the original."""
    # SQLite's backup API, not a file copy: the newest pages may still be in the -wal file.
    with contextlib.closing(sqlite3.connect(warehouse_url.removeprefix("sqlite:///"))) as source, \
            contextlib.closing(sqlite3.connect(path)) as target:
        source.backup(target)
    return f"sqlite:///{path}"
