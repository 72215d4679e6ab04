"""Peak resident memory of a run: the run's process and the processes it started (the GX companion,
:mod:`saas_metrics.quality.companion`) together, sampled by a thread every 50 ms from ``/proc``
(VmRSS), and never below the kernel's high-water mark of the run's own process (``VmHWM``), which
catches a peak between two samples.

Not ``getrusage``'s ``ru_maxrss`` where ``/proc`` has the figure: Linux carries it across
``fork`` and ``exec``, so a worker started by a parent that holds 13 GB reports 13 GB (the
benchmark's harness generates the data it then measures in child processes)."""

from __future__ import annotations

import resource
import sys
import threading
import time
from types import TracebackType

from saas_metrics.proc_status import PROC, status_mb


def child_pids() -> list[int]:
    """The processes this process started that are running (every thread's, from /proc; none where
    /proc lacks the list)."""
    pids: list[int] = []
    for children in (PROC / "self" / "task").glob("*/children"):
        try:
            pids.extend(int(pid) for pid in children.read_text().split())
        except OSError:
            continue
    return pids


def children_rss_mb() -> float:
    """VmRSS of this process's running child processes together, in MiB."""
    return sum(status_mb("VmRSS", pid) or 0.0 for pid in child_pids())


def current_rss_mb() -> float | None:
    """VmRSS of this process in MiB (None where /proc is absent)."""
    return status_mb("VmRSS")


def max_rss_mb() -> float:
    """The peak RSS of this program in MiB: VmHWM (its own address space's high-water mark), or,
    without /proc, ``ru_maxrss`` (KiB on Linux, bytes on macOS; it may include a parent's RSS)."""
    hwm = status_mb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


class PeakMemory:
    """``with PeakMemory() as m: ...`` then ``m.peak_mb``: the larger of the sampled peak of this
    process's and its children's VmRSS together, and this process's high-water mark (the process
    should be fresh for the latter). ``children_peak_mb``: the children's part of the sampled peaks,
    at its highest."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.sampled_mb = 0.0
        self.children_peak_mb = 0.0
        self.sampled_at = 0.0  # time.time() of the sampled peak (to name the step that reached it)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        while True:
            rss = current_rss_mb()
            children = children_rss_mb()
            self.children_peak_mb = max(self.children_peak_mb, children)
            if rss is not None and rss + children > self.sampled_mb:
                self.sampled_mb, self.sampled_at = rss + children, time.time()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.sampled_mb, max_rss_mb())
