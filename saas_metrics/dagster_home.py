"""The Dagster home the CLI runs in: made once, whatever number of commands start together.

Dagster creates its SQLite storage (runs, event-log index, schedules) the first time an instance
opens a new home, and stamps each database with its alembic schema version. Two processes doing
that at once race: one fails with "table ... already exists", or both stamp a version and the home
is broken for good ("alembic_version has more than one head"). So the CLI opens the instance
under a file lock in the home first; the run that follows finds the storage made and only reads
its version. The daemon and the webserver in production use the shipped PostgreSQL instance
(deploy/dagster.yaml), whose storage ``dagster instance migrate`` makes once (docs/deployment.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from filelock import FileLock

#: What an earlier version wrote into a new home; such a home is given the current default.
PREVIOUS_DEFAULT_CONFIG = "telemetry:\n  enabled: false\n"


def default_instance_config(home: Path) -> str:
    """The config written into a new home: no telemetry, and Dagster's SQLite event log (in its
    usual place, ``history/runs``) with its engines kept (saas_metrics/dagster_storage.py);
    everything else is Dagster's default."""
    return (
        "telemetry:\n  enabled: false\n"
        "event_log_storage:\n  module: saas_metrics.dagster_storage\n  class: PooledSqliteEventLogStorage\n"
        f"  config:\n    base_dir: {json.dumps(str(home / 'history' / 'runs'))}\n"
    )
#: Held while the instance's storage is created or checked (a lock file in the home).
LOCK_NAME = ".saas_metrics_instance.lock"
#: How long a command waits for another one setting up the same home.
LOCK_TIMEOUT_SECONDS = 300


def prepare_dagster_home(home: Path) -> Path:
    """Make ``home`` (and its ``dagster.yaml`` when absent) and open its instance once, under a
    file lock, so that its storage exists and is current before any run uses it. Returns the
    absolute home."""
    import dagster as dg

    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    with FileLock(str(home / LOCK_NAME), timeout=LOCK_TIMEOUT_SECONDS):
        config = home / "dagster.yaml"
        if not config.exists() or config.read_text() == PREVIOUS_DEFAULT_CONFIG:
            config.write_text(default_instance_config(home))
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            # The storages are made when the instance opens; these reads make sure it really did.
            instance.get_runs_count()
            instance.all_instigator_state()
        finally:
            instance.dispose()
    return home
