"""A one-paragraph description of the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import time
from importlib import metadata
from pathlib import Path

PACKAGES = ("dagster", "pandas", "numpy", "sqlalchemy", "great-expectations", "duckdb", "psycopg")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


#: The probe's fixed pure-Python work (one core, no I/O, no allocation to speak of).
PROBE_LOOP = 30_000_000
CPU_PROBE_KEY = "CPU probe, start / end"


def cpu_probe_seconds(repeats: int = 3) -> float:
    """Median seconds of ``sum(range(30_000_000))``: how fast this machine runs Python right now.

    Shared machines of the same model differ by 2-3 x from day to day; the benchmark records the
    probe before and after its runs, so figures of two rounds are compared against the probe, not
    as raw seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        sum(range(PROBE_LOOP))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def probe_text(start: float, end: float | None) -> str:
    """The probe's line in the machine table (``end`` None while the benchmark still runs)."""
    return f"{start:.2f} s / {'(running)' if end is None else f'{end:.2f} s'} (sum(range(3e7)), median of 3)"


def describe_machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python and the versions of the packages that matter."""
    ram = _ram_gib()
    info = {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": f"{ram:.1f} GiB" if ram is not None else "unknown",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
    }
    info.update({package: _version(package) for package in PACKAGES})
    # Deferred: the harness describes the machine once; the warehouse package loads pandas.
    from saas_metrics.warehouse.checkpoint import concurrent_checkpoints_are_safe

    # The library Python's sqlite3 links decides whether the warehouse checkpoints in the background
    # (warehouse/checkpoint.py), which changes what a SQLite write costs.
    info["SQLite (Python's sqlite3)"] = f"{sqlite3.sqlite_version}" + (
        "" if concurrent_checkpoints_are_safe() else " (WAL-reset bug: checkpoints inside COMMIT)")
    return info
