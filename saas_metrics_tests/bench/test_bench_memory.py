"""A measured worker's peak memory is its own, not its parent's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from saas_metrics.bench.memory import PeakMemory, current_rss_mb, max_rss_mb

PARENT_MIB = 400


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux) for VmHWM")
def test_a_child_does_not_report_its_parents_memory_as_its_peak() -> None:
    held = bytearray(PARENT_MIB * 2**20)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page: it is resident
    assert current_rss_mb() is not None and current_rss_mb() > PARENT_MIB
    child = "from saas_metrics.bench.memory import max_rss_mb; print(max_rss_mb())"
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    # Linux's ru_maxrss would say > 400 MiB here (inherited across fork and exec).
    assert 5 < float(out.stdout) < PARENT_MIB / 2, out.stdout
    del held


def test_the_peak_covers_memory_allocated_and_freed_inside_the_block() -> None:
    with PeakMemory(interval=0.01) as memory:
        block = bytearray(200 * 2**20)
        block[::4096] = b"\x01" * len(block[::4096])
        del block
    assert memory.peak_mb >= 200 and memory.peak_mb >= memory.sampled_mb
    assert max_rss_mb() >= 200
