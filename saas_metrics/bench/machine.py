"""A one-paragraph description of the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
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
    return info
