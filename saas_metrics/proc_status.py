"""A process's memory figures from Linux's ``/proc/<pid>/status`` (None where ``/proc`` is absent:
the callers then fall back to what they would do without the figure)."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def status_mb(field: str, pid: int | str = "self") -> float | None:
    """A ``kB`` field (``VmRSS``, ``VmHWM``) of process ``pid``'s status, in MiB; None where /proc,
    the process or the field is absent."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None
