"""Materialise the asset graph the way the UI does: one single-run backfill of a
month range through the same Definitions, recorded in the Dagster instance.

The CLI, ``make run`` and the integration tests all go through :func:`materialise`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from saas_metrics.compat import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    execute_without_output_capture,
)
from saas_metrics.config import Settings
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.jobs import JOB_NAME
from saas_metrics.defs.partitions import partition_key
from saas_metrics.errors import describe_error_info
from saas_metrics.heap import frozen_heap
from saas_metrics.quality.companion import start_shared_companion
from saas_metrics.sources.landing import wait_for_stores

#: The console logger's level of a CLI run: the CLI shows its own progress and every event is in
#: the Dagster instance, so formatting a thousand log lines to the terminal only costs time.
CLI_LOG_LEVEL = "CRITICAL"


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    start: str
    end: str
    steps_succeeded: int = 0
    steps_failed: list[str] = field(default_factory=list)
    steps_skipped: list[str] = field(default_factory=list)
    checks_passed: int = 0
    checks_failed: list[tuple[str, str, str]] = field(default_factory=list)  # (asset, check, severity)
    error: str | None = None  # the first failed step and its root cause, one line


def materialise(
    settings: Settings,
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    instance: dg.DagsterInstance | None = None,
    defs: dg.Definitions | None = None,
    on_event: Callable[[dg.DagsterEvent], None] | None = None,
    raise_on_error: bool = False,
    log_level: str = "INFO",
) -> RunOutcome:
    """Run every asset for the months [start, end] (default: all complete months)
    as ONE run (a single-run backfill), and summarise steps and checks."""
    if settings.quality.gx_companion:
        # Started before the definitions are built: it imports GX on the other core meanwhile, and
        # the run's gx resource takes it up (saas_metrics/quality/companion.py).
        start_shared_companion()
    defs = defs or build_definitions(settings)
    start = start or settings.first_month
    end = end or settings.last_month
    if end < start:
        raise ValueError(f"end month {end} is before start month {start}")
    if start < settings.first_month or end > settings.last_month:
        # Caught here, not by the steps: Dagster would fail every partitioned step minutes into the run.
        raise ValueError(f"months {start:%Y-%m}..{end:%Y-%m} are outside the partitions "
                         f"{settings.first_month:%Y-%m}..{settings.last_month:%Y-%m}")
    job = defs.resolve_job_def(JOB_NAME)
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: partition_key(start),
        ASSET_PARTITION_RANGE_END_TAG: partition_key(end),
    }
    instance = instance or dg.DagsterInstance.get()
    stop = threading.Event()
    result_holder: dict[str, dg.ExecuteInProcessResult] = {}

    def _run() -> None:
        try:
            run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
            # The objects alive now (Dagster, the definitions, the libraries) outlive the run: the
            # cyclic collector's full collections skip them while it runs (saas_metrics/heap.py).
            with frozen_heap():
                result_holder["result"] = execute_without_output_capture(
                    job, run_config=run_config, instance=instance, tags=tags, raise_on_error=raise_on_error,
                )
        finally:
            # The run's landing-cache writes finish with it (a later run finds the cache complete).
            wait_for_stores()
            stop.set()

    if on_event is None:
        _run()
    else:
        newest = instance.get_runs(limit=1)
        previous_id = newest[0].run_id if newest else None
        thread = threading.Thread(target=_run, name="saas-metrics-run")
        thread.start()
        run_id: str | None = None
        cursor: str | None = None
        while True:
            finished = stop.wait(0.5)
            if run_id is None:
                runs = instance.get_runs(limit=1)
                if runs and runs[0].run_id != previous_id:
                    run_id = runs[0].run_id
            # Only the events since the last poll (a cursor): re-reading the whole log every half
            # second made a long run's progress display cost time quadratic in its events.
            while run_id is not None:
                page = instance.get_records_for_run(run_id, cursor=cursor, limit=1000)
                for record in page.records:
                    event = record.event_log_entry.dagster_event
                    if event is not None:
                        on_event(event)
                cursor = page.cursor
                if not page.has_more:
                    break
            if finished:
                break
        thread.join()
    result = result_holder["result"]
    return summarise(result, tags, step_keys=list(job.graph.node_dict))


def summarise(result: dg.ExecuteInProcessResult, tags: dict[str, str], step_keys: list[str] | None = None) -> RunOutcome:
    """Steps succeeded / failed / skipped and checks passed / failed of a finished run. Steps that
    never started because an upstream step or blocking check failed (Dagster logs them as
    'Not executing' without an event) count as skipped."""
    outcome = RunOutcome(
        success=result.success,
        run_id=result.run_id,
        start=tags[ASSET_PARTITION_RANGE_START_TAG],
        end=tags[ASSET_PARTITION_RANGE_END_TAG],
    )
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            outcome.steps_succeeded += 1
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            outcome.steps_failed.append(event.step_key or "?")
            if outcome.error is None and event.step_failure_data and event.step_failure_data.error:
                outcome.error = f"{event.step_key}: {describe_error_info(event.step_failure_data.error)}"
        elif event.event_type == dg.DagsterEventType.STEP_SKIPPED:
            outcome.steps_skipped.append(event.step_key or "?")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            if evaluation.passed:
                outcome.checks_passed += 1
            else:
                outcome.checks_failed.append((
                    evaluation.asset_key.to_user_string(), evaluation.check_name, evaluation.severity.value,
                ))
    started = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}
    outcome.steps_skipped += [key for key in step_keys or [] if key not in started and key not in outcome.steps_skipped]
    return outcome
