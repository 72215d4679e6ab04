"""A measured worker's peak memory is its own, not its parent's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from saas_metrics.bench.memory import current_rss_mb, max_rss_mb

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


BLOCK_MIB = 200
_CHILD_BLOCK = f"""
from saas_metrics.bench.memory import PeakMemory, current_rss_mb
before = current_rss_mb()
with PeakMemory(interval=0.01) as memory:
    block = bytearray({BLOCK_MIB} * 2**20)
    block[::4096] = b"\\x01" * len(block[::4096])
    del block
print(before, current_rss_mb(), memory.peak_mb, memory.sampled_mb)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux) for VmRSS")
def test_the_peak_covers_memory_allocated_and_freed_inside_the_block() -> None:
    # In a fresh interpreter (about 150 MiB with pandas): in this test process the high-water mark is
    # already far above the block, and the test would pass whatever PeakMemory measured.
    out = subprocess.run([sys.executable, "-c", _CHILD_BLOCK], capture_output=True, text=True, check=True)
    before, after, peak, sampled = (float(v) for v in out.stdout.split())
    assert after < before + BLOCK_MIB / 2  # the block was freed again
    assert peak >= before + BLOCK_MIB * 0.95 and peak >= sampled
    assert peak < before + BLOCK_MIB * 1.5  # the block, not some unrelated high-water mark


_CHILD_HOLDS_A_BLOCK = f"""
import subprocess, sys, time
from saas_metrics.bench.memory import PeakMemory, current_rss_mb
holder = "b = bytearray({BLOCK_MIB} * 2**20); b[::4096] = bytes(len(b[::4096])); print('held', flush=True); input()"
before = current_rss_mb()
with PeakMemory(interval=0.01) as memory:
    child = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "held\\n"
    time.sleep(0.2)
    child.communicate("")
print(before, memory.peak_mb, memory.children_peak_mb)
"""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc (Linux) for the child processes")
def test_the_peak_counts_the_processes_the_run_started() -> None:
    # The GX companion holds GX and the batch it validates: a run's memory is both processes'.
    out = subprocess.run([sys.executable, "-c", _CHILD_HOLDS_A_BLOCK], capture_output=True, text=True, check=True)
    before, peak, children = (float(v) for v in out.stdout.split())
    assert children >= BLOCK_MIB * 0.95
    assert peak >= before + children


def test_without_proc_the_peak_falls_back_to_getrusage(monkeypatch: pytest.MonkeyPatch) -> None:
    from saas_metrics import proc_status
    from saas_metrics.bench import memory

    monkeypatch.setattr(proc_status, "PROC", Path("/nonexistent"))
    assert memory.current_rss_mb() is None
    assert max_rss_mb() > 5  # ru_maxrss of this process, in MiB
