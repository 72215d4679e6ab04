"""Shared fixtures: pinned months (tests never go stale), small generated sample
data, and warehouse URLs for SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

#: Every integration test pins the calendar: data ends here, whatever today is.
END_MONTH = dt.date(2025, 6, 1)
POSTGRES_ADMIN_URL = os.environ.get("SAAS_METRICS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

#: The slowest files, slowest first (pytest --durations, summed per file). `make test` runs
#: `-n 2 --dist loadfile` (a whole file on one worker, files handed out in collection order, with
#: xdist's reordering by test count turned off by make test): started first, these no longer leave
#: one worker finishing a two-minute file alone while the other idles. Order only, never selection.
SLOWEST_FILES = (
    "saas_metrics_tests/integration/test_missing_data_matrix.py",
    "saas_metrics_tests/bench/test_bench_smoke.py",
    "saas_metrics_tests/reports/test_pages_escaping_browser.py",
    "saas_metrics_tests/cli/test_readme_commands.py",
    "saas_metrics_tests/integration/test_secrets.py",
    "saas_metrics_tests/integration/test_concurrent_backfill.py",
    "saas_metrics_tests/cli/test_readme_runs.py",
    "saas_metrics_tests/integration/test_postgres_parity.py",
    "saas_metrics_tests/integration/test_invoice_engine.py",
    "saas_metrics_tests/integration/test_ui_partitions.py",
    "saas_metrics_tests/integration/test_pipeline_sqlite.py",
    "saas_metrics_tests/integration/test_bad_input.py",
    "saas_metrics_tests/integration/test_landing_cache.py",
    "saas_metrics_tests/integration/test_runner_progress.py",
    "saas_metrics_tests/integration/test_metric_checks.py",
    "saas_metrics_tests/connectors/test_conn_docs_examples.py",
    "saas_metrics_tests/integration/test_defects.py",
    "saas_metrics_tests/connectors/test_conn_fivetran_layout.py",
    "saas_metrics_tests/quality/test_quality_replay.py",
    "saas_metrics_tests/connectors/test_conn_stripe.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slowest files first (a stable sort: every other file, and the tests within each
    file, keep their order)."""
    rank = {path: i for i, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's saas_metrics.yaml, SAAS_METRICS_* variables or Dagster home."""
    for key in list(os.environ):
        if key.startswith("SAAS_METRICS_") and key not in {"SAAS_METRICS_REQUIRE_POSTGRES", "SAAS_METRICS_TEST_POSTGRES_URL"}:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    from saas_metrics.config import get_settings

    get_settings.cache_clear()
    before = dict(os.environ)
    yield
    # The CLI applies its options as environment (for the Definitions it loads): a test that calls
    # it in process must not hand them to the next test.
    for key in set(os.environ) - set(before):
        del os.environ[key]
    os.environ.update(before)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def small_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated company (deterministic): 150 customers over 12 months ending END_MONTH."""
    from saas_metrics.sample_data import generate

    out = tmp_path_factory.mktemp("small_sources")
    generate(out, seed=7, customers=150, months=12, end_month=END_MONTH)
    return out


#: The first month of small_backfill: 12 months to END_MONTH.
SMALL_START = dt.date(2024, 7, 1)


@pytest.fixture(scope="session")
def small_backfill(small_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SQLite warehouse URL of small_sources' 12 months (SMALL_START..END_MONTH, default settings)
    as one single-run backfill. Built once per xdist worker for the files that only read it (or re-run
    a month and assert the tables did not change): test_pipeline_sqlite.py and test_guide_metrics.py
    each ran this same backfill of their own."""
    from saas_metrics_tests.integration.helpers import make_settings, run_months

    url = f"sqlite:///{tmp_path_factory.mktemp('small_backfill') / 'warehouse.db'}"
    run_months(make_settings(small_sources, url, start=SMALL_START, end=END_MONTH))
    return url


def postgres_reason() -> str | None:
    """None when PostgreSQL is reachable, else why not."""
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any connection failure means: not reachable here
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {type(exc).__name__}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema-free database for one test (dropped afterwards).

    Skips with the reason when no server is reachable, unless
    SAAS_METRICS_REQUIRE_POSTGRES=1 (CI), where it fails instead."""
    reason = postgres_reason()
    if reason:
        if os.environ.get("SAAS_METRICS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (required: SAAS_METRICS_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    name = f"saas_metrics_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        from saas_metrics.warehouse.store import make_engine

        with contextlib.suppress(Exception):  # the engine may never have been created
            make_engine(f"{base}/{name}").dispose()
        make_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
