"""pyarrow's memory pool for a run: one that gives the pages a step frees back to the system.

pandas 3 keeps text columns as Arrow arrays, allocated from pyarrow's default memory pool. In the
Linux wheels that pool is mimalloc, which keeps freed pages for the process's later allocations:
after the large scale's full backfill the process held about 1.3 GiB with 52 MiB of Arrow data
alive, and in ``revenue_intervals`` alone mimalloc held 345 MiB that ``release_unused()`` then
gave back. Arrow builds its bundled jemalloc to return dirty pages within a second from a
background thread (ARROW-6910, "release dirty pages more aggressively back to the OS"); with it
the same backfill peaked 271 MiB lower (docs/benchmark.md, Round 13).

A pool named in ``ARROW_DEFAULT_MEMORY_POOL`` is the user's choice and is kept; a pyarrow built
without jemalloc keeps its default.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

import pyarrow as pa

POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def use_returning_arrow_pool() -> str:
    """Make jemalloc pyarrow's default memory pool, unless ``ARROW_DEFAULT_MEMORY_POOL`` names a pool
    or this pyarrow has no jemalloc; the name of the pool in use afterwards."""
    if not os.environ.get(POOL_ENV):
        try:
            pool = pa.jemalloc_memory_pool()
        except NotImplementedError:  # a pyarrow built without jemalloc
            pass
        else:
            pa.set_memory_pool(pool)
    return pa.default_memory_pool().backend_name


def release_unused_memory() -> None:
    """Hand the memory freed since back to the system: Arrow's allocator (mimalloc or jemalloc) and
    glibc's heap keep freed pages for reuse, and the transient arrays of a big piece of work, left
    scattered in the heap, would otherwise stay resident for the rest of the process (a large usage
    export stored in the landing cache; the GX companion's batches of a large backfill). Once
    per piece of work, not per allocation: handing pages back each time costs more page faults than
    it saves memory. ``malloc_trim`` is skipped where the C library has none (not glibc)."""
    pa.default_memory_pool().release_unused()
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:  # pragma: no cover - a platform without a C library to load
        return None
