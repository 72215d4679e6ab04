"""A run's Arrow buffers come from a pool that gives freed pages back (jemalloc), unless the user
named a pool in ARROW_DEFAULT_MEMORY_POOL."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from saas_metrics.arrow_pool import POOL_ENV, use_returning_arrow_pool


@pytest.fixture(autouse=True)
def _restore_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.mark.skipif(not _has_jemalloc(), reason="this pyarrow was built without jemalloc")
def test_jemalloc_becomes_the_default_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POOL_ENV, raising=False)
    pa.set_memory_pool(pa.system_memory_pool())
    assert use_returning_arrow_pool() == "jemalloc"
    assert pa.default_memory_pool().backend_name == "jemalloc"


def test_a_pool_the_user_named_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POOL_ENV, "system")
    pa.set_memory_pool(pa.system_memory_pool())
    assert use_returning_arrow_pool() == "system"
    assert pa.default_memory_pool().backend_name == "system"
