"""The run's frozen heap (saas_metrics/heap.py): what is frozen, when it is released, and that garbage
cycles frozen with it are collected once the run is over."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from saas_metrics.heap import collector_paused, freeze_new_long_lived_objects, frozen_heap


def collectable(obj: object) -> bool:
    """Whether the cyclic collector walks ``obj`` (frozen objects are not among its generations)."""
    return any(o is obj for o in gc.get_objects())


class Node:
    """An object that can sit in a reference cycle (only the cyclic collector frees those)."""

    def __init__(self) -> None:
        self.other: Node | None = None


def garbage_cycle() -> weakref.ref[Node]:
    """A two-node cycle nothing refers to, as a weak reference to one of its nodes."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    assert gc.get_freeze_count() == 0, "the test process froze its heap before this test"
    yield
    gc.unfreeze()
    gc.enable()


def test_the_block_freezes_what_exists_and_releases_it_after() -> None:
    kept = Node()
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert not collectable(kept)  # in the permanent generation
        later = [Node() for _ in range(100)]  # objects made during the block are not frozen
        assert gc.get_freeze_count() == frozen
        assert all(collectable(n) for n in later[:3])
    assert gc.get_freeze_count() == 0
    assert collectable(kept)


def test_a_cycle_frozen_with_the_heap_is_collected_once_it_is_released() -> None:
    gc.disable()  # no automatic collection between the steps below
    cycle = garbage_cycle()
    with frozen_heap():
        gc.collect()
        assert cycle() is not None  # frozen: the run's collections skip it
    gc.collect()
    assert cycle() is None  # released with the heap, collected as before


def test_a_heap_frozen_already_is_left_to_whoever_froze_it() -> None:
    # Not compared by count: reference counting frees frozen objects too (another thread of the
    # test process may drop one meanwhile), so the frozen generation only ever shrinks by itself.
    kept = Node()
    gc.freeze()
    with frozen_heap():
        assert not collectable(kept)
    assert not collectable(kept) and gc.get_freeze_count() > 0  # not released: the enclosing freeze owns it


def test_new_long_lived_objects_join_a_frozen_heap_only() -> None:
    freeze_new_long_lived_objects()
    assert gc.get_freeze_count() == 0  # no run froze the heap: nothing changes
    with frozen_heap():
        before = gc.get_freeze_count()
        modules = [Node() for _ in range(1000)]
        freeze_new_long_lived_objects()
        assert gc.get_freeze_count() >= before + len(modules)
    assert gc.get_freeze_count() == 0


def test_the_collector_pauses_for_the_block_and_resumes_as_it_was() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # disabled before: stays disabled
