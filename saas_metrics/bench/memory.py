"""Peak resident memory of this process: the kernel's high-water mark of its address space
(``VmHWM``), cross-checked by a thread sampling ``/proc/self/status`` (VmRSS) while the measured
code runs.

Not ``getrusage``'s ``ru_maxrss`` where ``/proc`` has the figure: Linux carries it across
``fork`` and ``exec``, so a worker started by a parent that holds 13 GB reports 13 GB (the
benchmark's harness generates the data it then measures in child processes)."""

from __future__ import annotations

import resource
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

_STATUS = Path("/proc/self/status")


def _status_mb(field: str) -> float | None:
    """A ``kB`` field of /proc/self/status in MiB (None where /proc is absent)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def current_rss_mb() -> float | None:
    """VmRSS of this process in MiB (None where /proc is absent)."""
    return _status_mb("VmRSS")


def max_rss_mb() -> float:
    """The peak RSS of this program in MiB: VmHWM (its own address space's high-water mark), or,
    without /proc, ``ru_maxrss`` (KiB on Linux, bytes on macOS; it may include a parent's RSS)."""
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


class PeakMemory:
    """``with PeakMemory() as m: ...`` then ``m.peak_mb``: the larger of the sampled VmRSS
    peak and the process's high-water mark (the process should be fresh for the latter)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.sampled_mb = 0.0
        self.sampled_at = 0.0  # time.time() of the sampled peak (to name the step that reached it)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        while True:
            rss = current_rss_mb()
            if rss is not None and rss > self.sampled_mb:
                self.sampled_mb, self.sampled_at = rss, time.time()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.sampled_mb, max_rss_mb())
