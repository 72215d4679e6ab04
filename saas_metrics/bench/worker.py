"""One measured pipeline run, meant to run in a fresh process (``python -m
saas_metrics.bench.worker SPEC_JSON``) so that its peak memory and caches are its own.

It prints one JSON line: wall seconds of ``runner.materialise`` (definitions included),
peak RSS (the run's process and its GX companion together) and the step running at the peak, rows in the warehouse afterwards, each step's
duration from the run's event log (the ``mrr_movements`` step is compared with the DuckDB
floor) and the run's count of steps and events."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:  # dagster is imported where it is used: the worker starts timing before it
    from dagster import DagsterInstance


@dataclass
class RunSpec:
    sources_dir: str
    warehouse_url: str
    first_month: str
    last_month: str
    run_start: str
    run_end: str


@dataclass
class RunMeasure:
    seconds: float
    peak_rss_mb: float
    warehouse_rows: int
    success: bool
    error: str | None = None
    step_seconds: dict[str, float] = field(default_factory=dict)
    peak_step: str | None = None  # the step running when the sampled RSS peaked
    steps: int | None = None  # steps that succeeded (the run's event log)
    events: int | None = None  # entries of the run's event log
    validated: int | None = None  # tables Great Expectations validated in the run (the others replayed)
    children_peak_rss_mb: float | None = None  # the run's child processes (the GX companion) at their sampled peak


def warehouse_rows(url: str) -> int:
    """Rows in every table of the warehouse."""
    # Deferred: the harness imports RunSpec from here; the pipeline loads only in the measured process.
    from saas_metrics.warehouse.store import make_engine

    engine = make_engine(url)
    names = sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        return sum(int(conn.execute(sa.text(f'SELECT COUNT(*) FROM "{n}"')).scalar_one()) for n in names)


def step_seconds(instance: DagsterInstance, run_id: str) -> dict[str, float]:
    """Duration of every succeeded step of the run (from STEP_SUCCESS events)."""
    import dagster as dg

    out: dict[str, float] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
        event = record.dagster_event
        if event is not None and event.step_key:
            out[event.step_key] = event.step_success_data.duration_ms / 1000.0
    return out


def log_counts(instance: DagsterInstance, run_id: str) -> tuple[int, int]:
    """(succeeded steps, event log entries) of the run, counted as the launched road counts them."""
    logs = instance.all_logs(run_id)
    steps = sum(1 for log in logs if log.dagster_event is not None and log.dagster_event.event_type_value == "STEP_SUCCESS")
    return steps, len(logs)


def validated_tables(instance: DagsterInstance, run_id: str) -> int:
    """Tables whose suite Great Expectations validated in the run, rather than replaying a stored
    validation (the suite checks' ``validation`` metadata: quality/dagster_checks.py)."""
    import dagster as dg

    full = set()
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.asset_check_evaluation_data if record.dagster_event else None
        if evaluation is None:
            continue
        validation = evaluation.metadata.get("validation")
        if validation is not None and validation.value == "full":
            full.add(evaluation.asset_key)
    return len(full)


def step_at(instance: DagsterInstance, run_id: str, when: float) -> str | None:
    """The step that was running at ``when`` (time.time()), from the run's STEP_START events."""
    import dagster as dg

    starts = sorted(
        (record.timestamp, record.dagster_event.step_key)
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
        if record.dagster_event is not None and record.dagster_event.step_key
    )
    running = [step for started, step in starts if started <= when]
    return running[-1] if running else None


def run_once(spec: RunSpec) -> RunMeasure:
    # Deferred: Dagster and the pipeline load in this fresh process only, not in the harness.
    from saas_metrics.bench.memory import PeakMemory
    from saas_metrics.config import Settings
    from saas_metrics.quality.companion import start_shared_companion

    # As `saas-metrics run` does (cli/app.py): the GX companion starts before Dagster is imported.
    # The month is timed from runner.materialise; the CLI's whole process is timed by the road
    # comparison (bench/launched.py).
    start_shared_companion()
    from saas_metrics.dagster_storage import ephemeral_instance
    from saas_metrics.runner import CLI_LOG_LEVEL, materialise

    # As the CLI does: the URL (which may carry a password) reaches the resources as an env var.
    os.environ["SAAS_METRICS_WAREHOUSE_URL"] = spec.warehouse_url
    settings = Settings(sources_dir=Path(spec.sources_dir), warehouse_url=spec.warehouse_url,
                        start_month=spec.first_month, end_month=spec.last_month)
    instance = ephemeral_instance()
    with PeakMemory() as memory:
        started = time.perf_counter()
        outcome = materialise(settings, dt.date.fromisoformat(spec.run_start), dt.date.fromisoformat(spec.run_end),
                              instance=instance, log_level=CLI_LOG_LEVEL)  # as `saas-metrics run` does
        seconds = time.perf_counter() - started
    steps, events = log_counts(instance, outcome.run_id)
    return RunMeasure(
        seconds=seconds,
        peak_rss_mb=memory.peak_mb,
        warehouse_rows=warehouse_rows(spec.warehouse_url),
        success=outcome.success,
        error=None if outcome.success else f"{outcome.error} {outcome.steps_failed[:5]}",
        step_seconds=step_seconds(instance, outcome.run_id),
        peak_step=step_at(instance, outcome.run_id, memory.sampled_at),
        steps=steps,
        events=events,
        validated=validated_tables(instance, outcome.run_id),
        children_peak_rss_mb=memory.children_peak_mb,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m saas_metrics.bench.worker SPEC_JSON", file=sys.stderr)
        return 2
    measure = run_once(RunSpec(**json.loads(argv[0])))
    print("BENCH_RESULT " + json.dumps(asdict(measure)))
    return 0 if measure.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
