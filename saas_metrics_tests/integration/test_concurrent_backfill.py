"""A multi-run backfill: one run per partition, launched concurrently in separate processes
against the production instance (deploy/dagster.yaml: PostgreSQL run, event-log and schedule
storage) and one shared PostgreSQL warehouse. No run fails (no 'database is locked', no DDL
race) and no row is duplicated."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from saas_metrics.config import PROJECT_ROOT
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics.warehouse.store import make_engine
from saas_metrics_tests.conftest import END_MONTH

DEPLOY_DIR = PROJECT_ROOT / "deploy"
START = dt.date(2025, 1, 1)
#: Two partitions, two run processes writing at once (a third only cost the suite time on 2 cores).
PARTITIONS = (dt.date(2025, 5, 1), dt.date(2025, 6, 1))


def _run_partition(home: str, sources: str, warehouse_url: str, month: dt.date, results: mp.Queue) -> None:
    from saas_metrics.config import Settings
    from saas_metrics.runner import materialise

    try:
        instance = dg.DagsterInstance.from_config(home)
        settings = Settings(sources_dir=Path(sources), warehouse_url=warehouse_url, start_month=START, end_month=END_MONTH,
                            quality={"data_docs": False})
        outcome = materialise(settings, month, month, instance=instance)
        results.put((month.isoformat(), outcome.success, outcome.error, outcome.run_id))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((month.isoformat(), False, f"{type(exc).__name__}: {exc}", None))


def _collect(results: mp.Queue, procs: list, deadline_seconds: float) -> list[tuple]:
    """Each process's result; a process that died without reporting fails the test at once
    instead of leaving the parent waiting for the whole deadline."""
    import queue
    import time

    outcomes: list[tuple] = []
    deadline = time.monotonic() + deadline_seconds
    while len(outcomes) < len(procs):
        try:
            outcomes.append(results.get(timeout=5))
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"run process(es) died without a result: exit codes {[p.exitcode for p in dead]}"
            assert time.monotonic() < deadline, "concurrent runs did not finish in time"
    return outcomes


@pytest.fixture
def pg_instance_env(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = sa.make_url(postgres_url)
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_USER", url.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    monkeypatch.setenv("DAGSTER_PG_DB", url.database or "")
    return postgres_url


def test_partitions_run_concurrently_without_locks_or_duplicates(small_sources: Path, pg_instance_env: str, tmp_path: Path) -> None:
    home = tmp_path / "instance"  # deploy/dagster.yaml as $DAGSTER_HOME/dagster.yaml (local artefacts land there)
    home.mkdir()
    shutil.copy(DEPLOY_DIR / "dagster.yaml", home / "dagster.yaml")
    # The Dagster storage schema is created once, as `dagster instance migrate` or the daemon does in
    # production; the runs then start together.
    dg.DagsterInstance.from_config(str(home)).dispose()
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_run_partition, args=(str(home), str(small_sources), pg_instance_env, m, results)) for m in PARTITIONS]
    for p in procs:
        p.start()
    outcomes = _collect(results, procs, deadline_seconds=900)
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    failed = [(m, err) for m, ok, err, _ in outcomes if not ok]
    assert not failed, failed
    assert sorted(m for m, *_ in outcomes) == [m.isoformat() for m in PARTITIONS]

    engine = make_engine(pg_instance_env)
    with engine.connect() as conn:
        kpi_dupes = conn.execute(sa.text(
            f"SELECT COUNT(*) FROM (SELECT {', '.join(KPI_MONTHLY.key)} FROM kpi_monthly "
            f"GROUP BY {', '.join(KPI_MONTHLY.key)} HAVING COUNT(*) > 1) d")).scalar_one()
        kpi_months = conn.execute(sa.text("SELECT DISTINCT month FROM kpi_monthly ORDER BY month")).scalars().all()
        mov_dupes = conn.execute(sa.text(
            "SELECT COUNT(*) FROM (SELECT month, customer_id FROM mrr_movements GROUP BY month, customer_id "
            "HAVING COUNT(*) > 1) d")).scalar_one()
        movements = conn.execute(sa.text("SELECT COUNT(*) FROM mrr_movements")).scalar_one()
    assert kpi_dupes == 0 and mov_dupes == 0 and movements > 50
    assert list(kpi_months) == list(PARTITIONS)
    assert MRR_MOVEMENTS.key == ("month", "customer_id")

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        runs = instance.get_runs(filters=dg.RunsFilter(run_ids=[run_id for *_, run_id in outcomes]))
        assert len(runs) == len(PARTITIONS) and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    finally:
        instance.dispose()
