"""``saas-metrics bench``: generate named scales, time the pipeline on SQLite and PostgreSQL,
time the DuckDB floor, check both agree, and write docs/benchmark.md.

Every pipeline run is measured in a fresh process (:mod:`saas_metrics.bench.worker`), so peak
memory and caches are that run's own; each figure is the median of ``repeats`` runs."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa

from saas_metrics.bench.floor import FloorCheck, FloorResult, compare_with_pipeline, duckdb_floor
from saas_metrics.bench.launched import compare_roads
from saas_metrics.bench.machine import (
    CPU_PROBE_KEY,
    cpu_probe_seconds,
    describe_machine,
    probe_text,
)
from saas_metrics.bench.report import write_report
from saas_metrics.bench.scales import BENCH_END_MONTH, Scale, get_scale
from saas_metrics.bench.worker import RunMeasure, RunSpec
from saas_metrics.calendar import add_months
from saas_metrics.config import PROJECT_ROOT

DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MOVEMENT_STEP = "mrr_movements"
WORKER_TIMEOUT_SECONDS = 3 * 3600


@dataclass
class BackendResult:
    """Medians over the repeats for one scale on one warehouse backend."""

    scale: str
    backend: str
    customers: int
    months: int
    repeats: int
    full_seconds: float
    last_month_seconds: float
    early_month_seconds: float
    peak_rss_mb: float
    warehouse_rows: int
    movement_step_seconds: float
    floor_seconds: float | None = None
    floor_check: FloorCheck | None = None
    generate_seconds: float | None = None
    slowest_steps: list[tuple[str, float]] = field(default_factory=list)
    month_slowest_steps: list[tuple[str, float]] = field(default_factory=list)  # of the median last-month run
    peak_step: str | None = None  # the step running at the peak RSS (of the run with the highest peak)
    # The same last month by the UI's road (queued, launched by the daemon's run launcher into a run
    # worker) and by `saas-metrics run`, on one persistent instance: seconds a user waits for each.
    launched_month_seconds: float | None = None
    cli_instance_month_seconds: float | None = None
    #: The memory settings the launched month's run worker logged (the UI's road), as the run shows them.
    launched_memory: str | None = None
    steps_per_month: int | None = None  # of the median last-month run (its event log)
    events_per_month: int | None = None
    validated_per_month: int | None = None  # tables GX validated in the median last-month run
    # Peak RSS of the full backfills and of the month runs apart, and the step running at each.
    full_peak_rss_mb: float | None = None
    full_peak_step: str | None = None
    month_peak_rss_mb: float | None = None
    month_peak_step: str | None = None
    # DuckDB computing the revenue metrics of the last month alone (its MRR, customers and movements).
    month_floor_seconds: float | None = None

    @property
    def launched_to_cli(self) -> float | None:
        if not self.launched_month_seconds or not self.cli_instance_month_seconds:
            return None
        return self.launched_month_seconds / self.cli_instance_month_seconds

    @property
    def month_to_floor(self) -> float | None:
        """A month of the pipeline / DuckDB's floor of the same month's revenue metrics."""
        return self.last_month_seconds / self.month_floor_seconds if self.month_floor_seconds else None

    @property
    def rows_per_second(self) -> float:
        return self.warehouse_rows / self.full_seconds if self.full_seconds else float("nan")

    @property
    def late_to_early(self) -> float:
        return self.last_month_seconds / self.early_month_seconds if self.early_month_seconds else float("nan")

    @property
    def movement_to_floor(self) -> float | None:
        return self.movement_step_seconds / self.floor_seconds if self.floor_seconds else None


@dataclass
class BenchReport:
    machine: dict[str, str]
    results: list[BackendResult]
    notes: list[str] = field(default_factory=list)


def ensure_data(scale: Scale, data_root: Path) -> tuple[Path, float | None]:
    """The scale's generated sources under ``data_root/<name>`` (generated once; seconds or None if reused)."""
    # Deferred: the simulator (about 1 s) loads only when the scale's data is missing.
    from saas_metrics.sample_data import generate

    out = data_root / scale.name
    marker = out / ".bench-complete"
    if marker.exists():
        return out, None
    started = time.perf_counter()
    # The benchmark's own data folder: a generation cut short left only generated files there.
    generate(out, seed=scale.seed, customers=scale.customers, months=scale.months, end_month=BENCH_END_MONTH,
             product_events=scale.product_events, force=True)
    seconds = time.perf_counter() - started
    marker.write_text(json.dumps(asdict(scale)))
    return out, seconds


def landing_cache_dir(work_dir: Path) -> Path:
    """The landing cache of the workers' runs (the default under their data dir)."""
    return work_dir / "data_dir" / "landing_cache"


def run_worker(spec: RunSpec, work_dir: Path) -> RunMeasure:
    """One measured run in a fresh interpreter."""
    env = dict(os.environ, SAAS_METRICS_DATA_DIR=str(work_dir / "data_dir"))
    proc = subprocess.run(
        [sys.executable, "-m", "saas_metrics.bench.worker", json.dumps(asdict(spec))],
        cwd=work_dir, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_SECONDS, check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if not lines:
        raise RuntimeError(f"benchmark worker failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    measure = RunMeasure(**json.loads(lines[-1].removeprefix("BENCH_RESULT ")))
    if not measure.success:
        raise RuntimeError(f"benchmark run failed: {measure.error}")
    return measure


class _Database:
    """A fresh warehouse per full backfill: a SQLite file, or a PostgreSQL database that is dropped after."""

    def __init__(self, backend: str, work_dir: Path, postgres_admin_url: str) -> None:
        self.backend = backend
        self.work_dir = work_dir
        self.admin_url = postgres_admin_url
        self.created: list[str] = []

    def _admin(self) -> sa.Engine:
        return sa.create_engine(self.admin_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")

    def fresh_url(self) -> str:
        if self.backend == "sqlite":
            path = self.work_dir / f"warehouse_{uuid.uuid4().hex[:8]}.db"
            self.created.append(str(path))
            return f"sqlite:///{path}"
        name = f"saas_metrics_bench_{uuid.uuid4().hex[:10]}"
        engine = self._admin()
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self.created.append(name)
        return f"{self.admin_url.rsplit('/', 1)[0]}/{name}"

    def drop_all(self) -> None:
        # Deferred: the harness only starts worker processes; the warehouse loads for this reset.
        from saas_metrics.warehouse.store import make_engine

        make_engine.cache_clear()
        if self.backend == "sqlite":
            for path in self.created:
                for suffix in ("", "-wal", "-shm"):
                    Path(path + suffix).unlink(missing_ok=True)
        else:
            engine = self._admin()
            with engine.connect() as conn:
                for name in self.created:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()
        self.created.clear()


def postgres_unreachable(admin_url: str) -> str | None:
    """None when PostgreSQL answers at ``admin_url``, else the reason."""
    try:
        engine = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any connection failure means: not reachable here
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _floor_run(url: str, work_dir: Path, reporting_currency: str, window: tuple[dt.date, dt.date] | None) -> FloorResult:
    """The DuckDB floor over the pipeline's ``customer_mrr`` of ``window`` (all months when None)."""
    # Deferred: Dagster and the asset modules (seconds of imports) load in the harness only for this comparison.
    from saas_metrics.defs.revenue_assets import CUSTOMER_FIRST_PAID
    from saas_metrics.defs.source_assets import stg_storage_schema
    from saas_metrics.metrics.mrr import CUSTOMER_MRR
    from saas_metrics.warehouse import Warehouse

    warehouse = Warehouse(url)
    fx = warehouse.read(stg_storage_schema("fx_rates"), columns=["date", "currency", "rate_to_usd"])
    return duckdb_floor(warehouse.read(CUSTOMER_MRR, window), warehouse.read(CUSTOMER_FIRST_PAID), fx, reporting_currency, work_dir)


def check_floor(url: str, work_dir: Path, reporting_currency: str = "USD") -> tuple[float, FloorCheck]:
    """DuckDB floor seconds and its comparison with the pipeline's tables in ``url``."""
    from saas_metrics.metrics.kpi import KPI_MONTHLY
    from saas_metrics.metrics.movements import MRR_MOVEMENTS
    from saas_metrics.warehouse import Warehouse

    floor = _floor_run(url, work_dir, reporting_currency, None)
    warehouse = Warehouse(url)
    return floor.seconds, compare_with_pipeline(floor, warehouse.read(MRR_MOVEMENTS), warehouse.read(KPI_MONTHLY))


def month_floor_seconds(url: str, work_dir: Path, month: dt.date, reporting_currency: str = "USD") -> float:
    """Seconds DuckDB takes for the revenue metrics of ``month`` alone: from ``customer_mrr`` of M-1
    and M, the MRR and customers of both and every customer's movement into M."""
    return _floor_run(url, work_dir, reporting_currency, (add_months(month, -1), add_months(month, 1))).seconds


def road_env(sources: Path, url: str, first: dt.date, work_dir: Path) -> dict[str, str]:
    """The environment of the CLI and launched runs: the settings the bench's worker passes as a spec."""
    return dict(os.environ, SAAS_METRICS_SOURCES_DIR=str(sources), SAAS_METRICS_WAREHOUSE_URL=url,
                SAAS_METRICS_START_MONTH=first.isoformat()[:7], SAAS_METRICS_END_MONTH=BENCH_END_MONTH.isoformat()[:7],
                SAAS_METRICS_DATA_DIR=str(work_dir / "data_dir"))


def forget_validations(url: str, month: dt.date) -> int:
    """Delete the stored validations of ``month``'s window (quality/replay.py), so that a month run
    again validates its rows, as its first run after the backfill did; returns how many. The
    snapshot tables' validations ("all rows") stay: the backfill stored them, and an unchanged
    export replays them in every month."""
    # Deferred: the pipeline loads in the measured processes, not in the harness.
    from saas_metrics.quality.replay import VALIDATION_RESULTS, window_label
    from saas_metrics.warehouse.store import make_engine

    engine = make_engine(url)
    if not sa.inspect(engine).has_table(VALIDATION_RESULTS.name):
        return 0
    label = window_label(month, add_months(month, 1))
    with engine.begin() as conn:
        result = conn.execute(sa.text(f'DELETE FROM "{VALIDATION_RESULTS.name}" WHERE validated_window = :w'), {"w": label})
    return int(result.rowcount or 0)


def bench_backend(scale: Scale, sources: Path, backend: str, repeats: int, work_dir: Path,
                  postgres_admin_url: str, launched: bool = True) -> BackendResult:
    first = add_months(BENCH_END_MONTH, -(scale.months - 1))
    early = add_months(first, scale.early_month_index)
    db = _Database(backend, work_dir, postgres_admin_url)

    def spec(url: str, start: dt.date, end: dt.date) -> RunSpec:
        return RunSpec(str(sources), url, first.isoformat(), BENCH_END_MONTH.isoformat(), start.isoformat(), end.isoformat())

    try:
        fulls: list[RunMeasure] = []
        url = ""
        for _ in range(repeats):
            db.drop_all()
            url = db.fresh_url()
            # A full backfill starts cold: no landing cache (what a first run sees). The month runs
            # after it find the cache the backfill left, as every scheduled run does.
            shutil.rmtree(landing_cache_dir(work_dir), ignore_errors=True)
            fulls.append(run_worker(spec(url, first, BENCH_END_MONTH), work_dir))
        # The last and the early month alternate: a drift in the shared machine's speed within the
        # hour then moves both alike instead of their ratio, which is a target.
        lasts: list[RunMeasure] = []
        earlies: list[RunMeasure] = []
        for _ in range(repeats):
            # Every repeat validates its month's rows as the first does (and as a month of new rows
            # does): a repeat would otherwise replay the validations the first one stored.
            forget_validations(url, BENCH_END_MONTH)
            lasts.append(run_worker(spec(url, BENCH_END_MONTH, BENCH_END_MONTH), work_dir))
            forget_validations(url, early)
            earlies.append(run_worker(spec(url, early, early), work_dir))
        roads = (compare_roads(road_env(sources, url, first, work_dir), work_dir, BENCH_END_MONTH.isoformat(), repeats)
                 if launched else None)
        floor_seconds, check = check_floor(url, work_dir)
        month_floor = month_floor_seconds(url, work_dir, BENCH_END_MONTH)
    finally:
        db.drop_all()
    median_full = sorted(fulls, key=lambda m: m.seconds)[len(fulls) // 2]
    median_last = sorted(lasts, key=lambda m: m.seconds)[len(lasts) // 2]
    full_peak = max(fulls, key=lambda m: m.peak_rss_mb)
    month_peak = max(lasts + earlies, key=lambda m: m.peak_rss_mb)
    return BackendResult(
        scale=scale.name, backend=backend, customers=scale.customers, months=scale.months, repeats=repeats,
        full_seconds=statistics.median(m.seconds for m in fulls),
        last_month_seconds=statistics.median(m.seconds for m in lasts),
        early_month_seconds=statistics.median(m.seconds for m in earlies),
        peak_rss_mb=max(m.peak_rss_mb for m in fulls + lasts + earlies),
        warehouse_rows=fulls[-1].warehouse_rows,
        movement_step_seconds=statistics.median(m.step_seconds.get(MOVEMENT_STEP, float("nan")) for m in fulls),
        floor_seconds=floor_seconds,
        floor_check=check,
        slowest_steps=sorted(median_full.step_seconds.items(), key=lambda kv: -kv[1])[:8],
        month_slowest_steps=sorted(median_last.step_seconds.items(), key=lambda kv: -kv[1])[:8],
        peak_step=max(fulls + lasts + earlies, key=lambda m: m.peak_rss_mb).peak_step,
        launched_month_seconds=roads.launched_seconds if roads else None,
        cli_instance_month_seconds=roads.cli_seconds if roads else None,
        launched_memory=roads.launched[-1].memory if roads else None,
        steps_per_month=median_last.steps,
        events_per_month=median_last.events,
        validated_per_month=median_last.validated,
        full_peak_rss_mb=full_peak.peak_rss_mb,
        full_peak_step=full_peak.peak_step,
        month_peak_rss_mb=month_peak.peak_rss_mb,
        month_peak_step=month_peak.peak_step,
        month_floor_seconds=month_floor,
    )


def run_benchmark(
    scales: Sequence[str] = ("small",),
    backends: Sequence[str] = ("sqlite", "postgresql"),
    repeats: int = 3,
    *,
    work_dir: Path | None = None,
    output: Path | None = PROJECT_ROOT / "docs" / "benchmark.md",
    postgres_admin_url: str | None = None,
    log: bool = True,
    repeats_for: dict[str, int] | None = None,
    launched: bool = True,
) -> BenchReport:
    """Benchmark ``scales`` x ``backends`` (medians of ``repeats`` runs); write the markdown table into
    ``output`` (None: do not write) and return the report. PostgreSQL is skipped, with a note, when
    unreachable. Generated data is kept in ``work_dir/data`` and reused by later calls.
    ``repeats_for`` overrides ``repeats`` per scale name (e.g. ``{"large": 1}``)."""
    repeats_for = repeats_for or {}
    if repeats < 1 or any(n < 1 for n in repeats_for.values()):
        raise ValueError("repeats must be >= 1")
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        raise ValueError(f"unknown backend(s) {sorted(unknown)}; choose sqlite and/or postgresql")
    admin_url = postgres_admin_url or os.environ.get("SAAS_METRICS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL)
    # Absolute: the workers run in it and get paths under it (a relative one would resolve twice).
    work_dir = Path(work_dir or PROJECT_ROOT / "data" / "bench").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    report = BenchReport(machine=describe_machine(), results=[])
    start_probe = cpu_probe_seconds()
    report.machine[CPU_PROBE_KEY] = probe_text(start_probe, None)
    if "postgresql" in backends:
        reason = postgres_unreachable(admin_url)
        if reason:
            report.notes.append(f"PostgreSQL skipped: not reachable at {admin_url} ({reason}).")
            backends = [b for b in backends if b != "postgresql"]
    for name in scales:
        scale = get_scale(name)
        sources, gen_seconds = ensure_data(scale, work_dir / "data")
        runs = repeats_for.get(scale.name, repeats)
        for backend in backends:
            if log:
                print(f"bench: {scale.name} on {backend} ({runs} repeat(s)) ...", file=sys.stderr, flush=True)
            result = bench_backend(scale, sources, backend, runs, work_dir, admin_url, launched)
            result.generate_seconds = gen_seconds
            report.results.append(result)
            if output is not None:  # after every result, so a long bench stopped midway keeps what it measured
                write_report(report, output)
            if log:
                print(f"bench: {scale.name} on {backend}: full {result.full_seconds:.1f} s, month {result.last_month_seconds:.1f} s",
                      file=sys.stderr, flush=True)
    report.machine[CPU_PROBE_KEY] = probe_text(start_probe, cpu_probe_seconds())
    if output is not None:
        write_report(report, output)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="saas-metrics bench", description=__doc__)
    parser.add_argument("--scale", action="append", dest="scales", help="tiny, small (default), medium, large; repeatable")
    parser.add_argument("--backend", action="append", dest="backends", help="sqlite and/or postgresql (default both)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median); default 3")
    parser.add_argument("--repeats-for", action="append", default=[], metavar="SCALE=N",
                        help="another number of runs for one scale, e.g. large=1; repeatable")
    parser.add_argument("--work-dir", type=Path, default=None, help="generated data and warehouses (default data/bench)")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "docs" / "benchmark.md")
    parser.add_argument("--postgres-url", default=None, help="admin URL used to create throwaway databases")
    parser.add_argument("--no-launched", action="store_true",
                        help="skip the month launched through the daemon and run launcher (the UI's road)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        per_scale = {name: int(n) for name, n in (item.split("=", 1) for item in args.repeats_for)}
    except ValueError:
        parser.error("--repeats-for takes SCALE=N, e.g. large=1")
    report = run_benchmark(args.scales or ["small"], args.backends or ["sqlite", "postgresql"], args.repeats,
                           work_dir=args.work_dir, output=args.output, postgres_admin_url=args.postgres_url,
                           repeats_for=per_scale, launched=not args.no_launched)
    for note in report.notes:
        print(note, file=sys.stderr)
    failed = [r for r in report.results if r.floor_check is not None and not r.floor_check.equal]
    return 1 if failed else 0
