"""The progress callback of `materialise` (what `make run` displays) gets every event of the new
run once, in order, and nothing of an earlier run in the same instance."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

import dagster as dg
import pytest

from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.freshness import FRESHNESS_STEP
from saas_metrics.defs.jobs import JOB_NAME
from saas_metrics.runner import materialise
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings, run_months


def test_progress_events_arrive_once_each_from_the_new_run_only(small_sources: Path, tmp_path: Path) -> None:
    settings = make_settings(small_sources, f"sqlite:///{tmp_path / 'w.db'}", start=END_MONTH, end=END_MONTH,
                             landing_cache_dir=tmp_path / "cache")
    instance = ephemeral_instance()
    run_months(settings, END_MONTH, END_MONTH, instance=instance)  # an earlier run in the same instance
    events: list[dg.DagsterEvent] = []
    frozen: list[int] = []  # the heap's frozen objects while the run goes (saas_metrics/heap.py)

    def on_event(event: dg.DagsterEvent) -> None:
        events.append(event)
        if event.event_type == dg.DagsterEventType.STEP_START:
            # Only at step starts: get_freeze_count walks the whole frozen generation (about a
            # million objects), and asking at every one of the run's events took a minute.
            frozen.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    outcome = materialise(settings, END_MONTH, END_MONTH, instance=instance, on_event=on_event)
    assert outcome.success
    assert max(frozen) > 0 and gc.get_freeze_count() == 0  # frozen for the run, released after it
    succeeded = [e.step_key for e in events if e.event_type == dg.DagsterEventType.STEP_SUCCESS]
    steps = len(build_definitions(settings).resolve_job_def(JOB_NAME).graph.node_dict)  # one step per asset group node
    # One step per source system (raw + staging + checks of its tables), one for every freshness
    # check, one per metric asset or partitioned metric check.
    assert 35 < steps < 50 and {"ingest_billing", "ingest_billing_snapshot", "ingest_fx", FRESHNESS_STEP} <= set(succeeded)
    assert len(succeeded) == len(set(succeeded)) == outcome.steps_succeeded == steps
    assert [e.event_type for e in events].count(dg.DagsterEventType.RUN_START) == 1
    assert events[-1].event_type == dg.DagsterEventType.RUN_SUCCESS


def test_a_range_outside_the_partitions_is_refused_before_any_step_runs(small_sources: Path, tmp_path: Path) -> None:
    """An end month past the partitions (an exclusive end passed as the last month) is a clear error
    at once, not four failed ingest steps minutes into the run."""
    settings = make_settings(small_sources, f"sqlite:///{tmp_path / 'w.db'}", start=END_MONTH, end=END_MONTH,
                             landing_cache_dir=tmp_path / "cache")
    instance = ephemeral_instance()
    after = (END_MONTH.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    with pytest.raises(ValueError, match="outside the partitions"):
        materialise(settings, END_MONTH, after, instance=instance)
    with pytest.raises(ValueError, match="outside the partitions"):
        materialise(settings, END_MONTH.replace(year=END_MONTH.year - 5), END_MONTH, instance=instance)
    assert instance.get_runs() == []
    assert not (tmp_path / "w.db").exists()
