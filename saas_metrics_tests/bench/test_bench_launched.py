"""The UI's road in the bench: a run submitted to the queue and launched by the daemon."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from saas_metrics.bench.launched import (
    Daemon,
    LaunchedRun,
    RoadComparison,
    launch_month,
    prepare_home,
)


def _run(seconds: float) -> LaunchedRun:
    return LaunchedRun(run_id="r", success=True, wait_seconds=seconds, run_seconds=seconds, steps=1, events=1,
                       in_process=True)


def test_road_comparison_takes_medians_and_their_ratio() -> None:
    comparison = RoadComparison(cli=[_run(10), _run(30), _run(20)], launched=[_run(26), _run(22), _run(24)])
    assert comparison.cli_seconds == 20 and comparison.launched_seconds == 24
    assert comparison.ratio == pytest.approx(1.2)
    assert RoadComparison(cli=[_run(10), _run(20)], launched=[_run(15), _run(15)]).cli_seconds == 15


def test_prepare_home_creates_the_instance_storage_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    prepare_home(home)
    assert (home / "dagster.yaml").exists()
    assert (home / "history" / "runs.db").exists(), "the storage exists before any daemon or command races to create it"


def test_a_dead_daemon_is_reported_instead_of_waiting(tmp_path: Path) -> None:
    home = tmp_path / "home"
    prepare_home(home)
    # A daemon that died: the launch must say so, not wait out its timeout with the run queued.
    with Daemon(dict(os.environ), home, tmp_path, tmp_path / "daemon.log") as daemon:
        assert daemon.proc is not None
        daemon.proc.kill()
        daemon.proc.wait(timeout=60)
        with pytest.raises(RuntimeError, match="dagster-daemon exited"):
            launch_month(daemon, home, "2026-01-01", tmp_path, timeout=120)
