"""Which files of a folder the simulator wrote: a manifest of their SHA-256, so that it never
overwrites or deletes a file it did not write (a real export, notes, a file edited since).

``generate`` writes ``.saas_metrics_sample_data.json`` next to the files it writes: relative path
-> SHA-256 of the content it wrote. A file that is not listed, or whose content changed since, is
*foreign*; ``generate`` refuses to write into a folder holding one unless told ``force``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from saas_metrics.atomic import write_text_atomically

MANIFEST_FILE = ".saas_metrics_sample_data.json"


class ForeignFilesError(ValueError):
    """The output folder holds files the simulator did not write."""

    def __init__(self, folder: Path, foreign: list[str]) -> None:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        super().__init__(f"{folder} holds {len(foreign)} file(s) the sample data generator did not write: {shown}")
        self.folder = folder
        self.foreign = foreign


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest(folder: Path) -> dict[str, str]:
    try:
        listed = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in listed.items()} if isinstance(listed, dict) else {}


def foreign_files(folder: Path) -> list[str]:
    """The files under ``folder`` (relative, sorted) that its manifest does not list with their
    current content. An absent or empty folder has none."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    written = _manifest(folder)
    foreign = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if name != MANIFEST_FILE and written.get(name) != _sha256(path):
            foreign.append(name)
    return foreign


def write_manifest(folder: Path, paths: Iterable[Path]) -> Path:
    """Record ``paths`` (files under ``folder`` just written) as the simulator's."""
    folder = Path(folder)
    listed = {Path(p).relative_to(folder).as_posix(): _sha256(Path(p)) for p in paths}
    return write_text_atomically(folder / MANIFEST_FILE, json.dumps(listed, indent=1, sort_keys=True) + "\n")
