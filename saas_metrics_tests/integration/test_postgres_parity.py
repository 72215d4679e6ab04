"""The same small data materialised into SQLite and into a fresh PostgreSQL database gives
identical tables: every output table row for row (floats to 1e-9)."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from saas_metrics.config import Settings
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.acquisition_assets import activation_index
from saas_metrics.warehouse import Warehouse
from saas_metrics.warehouse.io_manager import TableRegistry
from saas_metrics.warehouse.store import reader_index_prefix
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings, run_months

START = dt.date(2025, 1, 1)
#: Columns that name the run or its wall-clock time: different in any two runs, whatever the database.
RUN_SPECIFIC = {"run_id", "recorded_at", "quarantined_at", "stored_at"}
MUST_HAVE = {"kpi_monthly", "mrr_movements", "customer_mrr", "cohort_retention", "attribution_credits", "quarantined_rows"}


@functools.cache
def _tables() -> TableRegistry:
    """The code location's tables, as the IO manager gets them."""
    return build_definitions(Settings()).resources["io_manager"].tables


def table_frame(url: str, name: str) -> pd.DataFrame:
    """The table typed by its registered schema (raw SQL read as text for unregistered ones), sorted."""
    wh = Warehouse(url)
    columns = {c["name"] for c in sa.inspect(wh.engine).get_columns(name)}
    schema = _tables().schemas.get(name)
    if schema is not None:
        frame = wh.read(wh.storage_columns(schema, partitioned="month" in columns))
    else:
        with wh.engine.connect() as conn:
            frame = pd.read_sql_table(name, conn).astype(str)
    frame = frame[sorted(set(frame.columns) - RUN_SPECIFIC)]
    return frame.sort_values(list(frame.columns), kind="stable", na_position="first").reset_index(drop=True)


def test_postgres_gives_the_same_tables_as_sqlite(small_sources: Path, tmp_path: Path, postgres_url: str) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    for url in (sqlite_url, postgres_url):
        run_months(make_settings(small_sources, url, start=START, end=END_MONTH, quality={"data_docs": False}))
    sqlite_tables, postgres_tables = ({*insp.get_table_names(), *insp.get_view_names()} for insp in (
        sa.inspect(Warehouse(sqlite_url).engine), sa.inspect(Warehouse(postgres_url).engine)))
    assert sqlite_tables == postgres_tables
    assert sqlite_tables >= MUST_HAVE, MUST_HAVE - sqlite_tables
    compared = 0
    for name in sorted(sqlite_tables):
        ours, theirs = table_frame(sqlite_url, name), table_frame(postgres_url, name)
        assert len(ours) == len(theirs), f"{name}: {len(ours)} rows on SQLite, {len(theirs)} on PostgreSQL"
        pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=0, atol=1e-9, obj=name)
        compared += len(ours)
    kpi = table_frame(postgres_url, "kpi_monthly")
    assert kpi["month"].nunique() == 6 and compared > 10_000
    # The backfill left the indexes a month's reads of the history go through, on PostgreSQL too.
    with Warehouse(postgres_url).engine.connect() as conn:
        indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")).scalars())
    assert {activation_index("report_created")[0], reader_index_prefix("customer_mrr", "first_months")} <= indexes
