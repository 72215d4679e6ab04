"""A month launched the way the UI and the schedules launch it, timed beside the CLI's month.

The UI's "Materialize", a schedule's run request and a backfill all submit a run to the instance:
the run queue holds it, the daemon dequeues it, and the run launcher starts a run worker process
(``dagster api execute_run``) that loads the code location and executes the job with the job's
executor. :func:`launch_month` does exactly that: a ``dagster-daemon`` on a fresh ``DAGSTER_HOME``,
``dagster job launch`` to submit, and the instance polled until the run ends.
:func:`cli_month` times ``saas-metrics run`` for the same month on the same instance, so the two
figures differ only by the road they take.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from saas_metrics.dagster_home import default_instance_config

DEFINITIONS_MODULE = "saas_metrics.definitions"
JOB_NAME = "monthly_metrics_job"
PARTITION_TAG = "dagster/partition"
LAUNCH_TIMEOUT_SECONDS = 3600


@dataclass
class LaunchedRun:
    """One run, as the instance recorded it."""

    run_id: str
    success: bool
    wait_seconds: float  # from the command's start (CLI) or the run's creation in the queue (launched) to its end
    run_seconds: float  # RUN_START -> the run's end, inside the run worker
    steps: int  # steps that succeeded
    events: int  # event log entries of the run
    in_process: bool  # the run's steps executed in the run worker's own process
    memory: str | None = None  # the run's log line on its read cache budget and Arrow pool, if any


def _bin(name: str) -> str:
    """A console script of this interpreter's environment (the venv's, not whatever is on PATH)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def prepare_home(dagster_home: Path) -> None:
    """A fresh instance directory with the configuration a new home of the CLI gets (queued runs)."""
    shutil.rmtree(dagster_home, ignore_errors=True)
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(default_instance_config(dagster_home.resolve()))
    # Create the storage now, from one process: the daemon and the first command creating it at
    # once race on its schema ("table jobs already exists").
    _instance(dagster_home).get_run_records(limit=1)


def _instance(dagster_home: Path):  # -> dg.DagsterInstance
    import dagster as dg

    return dg.DagsterInstance.from_config(str(dagster_home))


def describe_run(dagster_home: Path, run_id: str, since: float) -> LaunchedRun:
    """The finished run ``run_id`` read back from the instance."""
    import dagster as dg

    from saas_metrics.defs.resources import MEMORY_LOG_PREFIX

    instance = _instance(dagster_home)
    record = instance.get_run_record_by_id(run_id)
    assert record is not None, f"run {run_id} is not in the instance at {dagster_home}"
    logs = instance.all_logs(run_id)
    kinds = [log.dagster_event.event_type_value for log in logs if log.dagster_event is not None]
    engine_messages = [log.message or "" for log in logs
                       if log.dagster_event is not None and log.dagster_event.event_type_value == "ENGINE_EVENT"]
    end = record.end_time or time.time()
    return LaunchedRun(
        run_id=run_id,
        success=record.dagster_run.status == dg.DagsterRunStatus.SUCCESS,
        wait_seconds=end - since,
        run_seconds=end - (record.start_time or since),
        steps=kinds.count("STEP_SUCCESS"),
        events=len(logs),
        in_process=any("in process" in message for message in engine_messages),
        memory=next((log.user_message for log in logs if log.dagster_event is None
                     and log.user_message.startswith(MEMORY_LOG_PREFIX)), None),
    )


def _newest_run_id(dagster_home: Path, partition: str, after: set[str]) -> str | None:
    instance = _instance(dagster_home)
    for record in instance.get_run_records(limit=5):
        run = record.dagster_run
        if run.run_id not in after and run.tags.get(PARTITION_TAG) == partition:
            return run.run_id
    return None


def _run_ids(dagster_home: Path) -> set[str]:
    return {record.dagster_run.run_id for record in _instance(dagster_home).get_run_records()}


def cli_month(env: dict[str, str], dagster_home: Path, month: str, cwd: Path) -> LaunchedRun:
    """``saas-metrics run --start M --end M`` on the instance at ``dagster_home``: the CLI road."""
    before = _run_ids(dagster_home)
    started = time.time()
    proc = subprocess.run([_bin("saas-metrics"), "run", "--start", month[:7], "--end", month[:7]],
                          env={**env, "DAGSTER_HOME": str(dagster_home)}, cwd=cwd, capture_output=True,
                          text=True, timeout=LAUNCH_TIMEOUT_SECONDS, check=False)
    run_id = _single_new_run(dagster_home, before)
    if run_id is None:
        raise RuntimeError(f"saas-metrics run recorded no run (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    measure = describe_run(dagster_home, run_id, started)
    measure.wait_seconds = time.time() - started  # the process's whole life: what the user waits
    return measure


def _single_new_run(dagster_home: Path, before: set[str]) -> str | None:
    new = _run_ids(dagster_home) - before
    return next(iter(new)) if len(new) == 1 else None


class Daemon:
    """``dagster-daemon run`` for the code location, stopped on exit."""

    def __init__(self, env: dict[str, str], dagster_home: Path, cwd: Path, log: Path) -> None:
        self.env = {**env, "DAGSTER_HOME": str(dagster_home)}
        self.cwd = cwd
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Daemon:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([_bin("dagster-daemon"), "run", "-m", DEFINITIONS_MODULE], env=self.env,
                                         cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def raise_if_dead(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"dagster-daemon exited with code {self.proc.returncode}:\n{tail}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def launch_month(daemon: Daemon, dagster_home: Path, month: str, cwd: Path,
                 timeout: float = LAUNCH_TIMEOUT_SECONDS) -> LaunchedRun:
    """Submit the month's run as the UI does and wait for ``daemon`` (running on the same
    ``dagster_home``) to launch it and for the run to end."""
    env = daemon.env
    before = _run_ids(dagster_home)
    started = time.time()
    proc = subprocess.run(
        [_bin("dagster"), "job", "launch", "-m", DEFINITIONS_MODULE, "-j", JOB_NAME,
         "--tags", json.dumps({PARTITION_TAG: month})],
        env={**env, "DAGSTER_HOME": str(dagster_home)}, cwd=cwd, capture_output=True, text=True,
        timeout=600, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dagster job launch failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    run_id = None
    import dagster as dg

    while time.time() - started < timeout:
        daemon.raise_if_dead()
        run_id = run_id or _newest_run_id(dagster_home, month, before)
        if run_id is not None:
            record = _instance(dagster_home).get_run_record_by_id(run_id)
            if record is not None and record.dagster_run.status in (
                    dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
                # The UI's Launch creates the run in the queue at once (its code location is loaded);
                # `dagster job launch` first loads the location itself, which the UI's user never waits for.
                return describe_run(dagster_home, run_id, record.create_timestamp.timestamp())
        time.sleep(0.5)
    raise TimeoutError(f"the launched run of {month} did not finish within {timeout:.0f} s (run {run_id})")


@dataclass
class RoadComparison:
    """The same month by both roads, alternating, on one warehouse and one instance."""

    cli: list[LaunchedRun]
    launched: list[LaunchedRun]

    @staticmethod
    def _median(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2] if len(ordered) % 2 else sum(ordered[len(ordered) // 2 - 1:len(ordered) // 2 + 1]) / 2

    @property
    def cli_seconds(self) -> float:
        return self._median([r.wait_seconds for r in self.cli])

    @property
    def launched_seconds(self) -> float:
        return self._median([r.wait_seconds for r in self.launched])

    @property
    def ratio(self) -> float:
        return self.launched_seconds / self.cli_seconds if self.cli_seconds else float("nan")


def compare_roads(env: dict[str, str], work_dir: Path, month: str, repeats: int = 1) -> RoadComparison:
    """Alternate the CLI month and the launched month ``repeats`` times each (a drift of the machine's
    speed then moves both alike)."""
    home = work_dir / "dagster_home_launched"
    prepare_home(home)
    comparison = RoadComparison(cli=[], launched=[])
    with Daemon(env, home, work_dir, work_dir / "dagster_daemon.log") as daemon:
        for _ in range(repeats):
            comparison.cli.append(cli_month(env, home, month, work_dir))
            comparison.launched.append(launch_month(daemon, home, month, work_dir))
    failed = [r.run_id for r in comparison.cli + comparison.launched if not r.success]
    if failed:
        raise RuntimeError(f"runs failed in the road comparison: {failed} (instance {home})")
    return comparison
