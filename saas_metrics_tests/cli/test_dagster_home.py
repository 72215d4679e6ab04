"""First runs started together on a new Dagster home all succeed and leave it usable."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from pathlib import Path

import dagster as dg

from saas_metrics.dagster_home import default_instance_config

RUNS = 3


@dg.asset
def one_number() -> int:
    return 1


def _first_run(home: str, go: mp.Event, results: mp.Queue) -> None:
    """What `saas-metrics run` does before its run (prepare $DAGSTER_HOME), then a small run."""
    import os

    os.environ["DAGSTER_HOME"] = home
    try:
        from saas_metrics.cli.app import _dagster_home

        go.wait(30)
        _dagster_home()
        result = dg.materialize([one_number], instance=dg.DagsterInstance.get())
        results.put((result.success, ""))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((False, f"{type(exc).__name__}: {exc}"))


def test_first_runs_started_together_on_a_new_home_all_succeed(tmp_path: Path) -> None:
    home = tmp_path / "new_home"  # does not exist yet: the runs make it
    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_first_run, args=(str(home), go, results)) for _ in range(RUNS)]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # every process imported and waiting: the instance set-ups overlap
    go.set()
    outcomes = []
    deadline = time.monotonic() + 120
    while len(outcomes) < RUNS:
        try:
            outcomes.append(results.get(timeout=5))
        except queue.Empty:
            assert not [p.exitcode for p in procs if p.exitcode not in (None, 0)], "a run process died"
            assert time.monotonic() < deadline, "first runs did not finish in time"
    for proc in procs:
        proc.join(30)
    assert outcomes == [(True, "")] * RUNS
    instance = dg.DagsterInstance.from_config(str(home))  # the home is not broken (one schema version)
    try:
        runs = instance.get_runs()
        assert len(runs) == RUNS and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    finally:
        instance.dispose()
    assert (home / "dagster.yaml").read_text() == default_instance_config(home)
