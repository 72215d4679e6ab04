"""How a run keeps Python's cyclic garbage collector off the objects that live as long as the process.

A month run holds about half a million long-lived objects before its first step (Dagster, pandas,
SQLAlchemy, the definitions) and gains a few hundred thousand more when Great Expectations is
imported. CPython's full collections walk every one of them, and a run made four to six: measured
with ``gc.callbacks`` on a tiny month, 7-9 % of the run went to the collector, mostly to those
full collections, while the objects they walked could never be garbage during the run.

``gc.freeze()`` (standard library) moves every object alive at that moment to a permanent
generation that collections skip; ``gc.unfreeze()`` puts them back. :func:`frozen_heap` does both
around a run, so the collector walks only what the run creates, and a long-lived process (tests,
a notebook) gets its ordinary collector back when the run ends. Reference counting is untouched:
an object nothing refers to is freed at once, frozen or not; only garbage *cycles* that exist when
the heap is frozen wait for the unfreeze to be collected.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects alive now for the duration of the block, then unfreeze them. When the
    heap is frozen already (by an enclosing block, or by a process that forked after freezing), it
    is left as it is: ``unfreeze`` would release the other's objects too."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def freeze_new_long_lived_objects() -> None:
    """Add the objects alive now to a frozen heap (one that :func:`frozen_heap` froze): for a block
    of long-lived objects created during the run, such as a big library's modules once imported.
    Outside a frozen heap it does nothing, so a process that did not freeze its heap is unchanged."""
    if gc.get_freeze_count():
        gc.freeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection during the block (an import: it creates objects that live as long as
    the process, which every collection it triggers would walk in vain); collections resume after
    it as they were (a collector disabled before stays disabled)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
