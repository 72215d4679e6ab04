"""Helpers for the source-mapper tests: write tiny native CSVs under tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from saas_metrics.sources.files import clear_cache


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write(relative, text) -> the sources dir (tmp_path), with the file written."""
    clear_cache()

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip("\n"), encoding="utf-8")
        return tmp_path

    return _write
