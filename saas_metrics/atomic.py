"""Replacing a file so that readers, and other processes writing it at the same time, never see
half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomically(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to a temporary file of its own next to ``path``, then rename it over ``path``.

    The temporary name is unique: concurrent runs (a multi-run backfill) that write the same page
    each rename their own complete file, the last one wins, and none renames another's file away
    (a fixed ``<name>.tmp`` did, failing the slower writer)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding) as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
