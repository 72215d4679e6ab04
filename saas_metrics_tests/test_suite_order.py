"""The slowest-first order of conftest.py names files that exist (a renamed file would silently
fall back to the end of the run, where it leaves one worker finishing alone)."""

from __future__ import annotations

from saas_metrics.config import PROJECT_ROOT
from saas_metrics_tests.conftest import SLOWEST_FILES


def test_every_slowest_file_exists_once() -> None:
    assert len(set(SLOWEST_FILES)) == len(SLOWEST_FILES)
    assert [path for path in SLOWEST_FILES if not (PROJECT_ROOT / path).is_file()] == []
