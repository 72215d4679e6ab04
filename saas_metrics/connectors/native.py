"""From extracted native records to canonical frames, through the ONE mapper of each table.

API and SQL connectors produce records in the same native shape as the landing files
(docs/sources.md: Stripe/HubSpot/ads column names). They are landed as native CSV files in
a private temporary folder and read by the existing registry reader, so the canonical
mapping (units, currencies, channels, parse errors) lives in one place and a table reads
the same whichever way it arrives. Lineage is then rewritten: ``_source_file`` becomes the
connector's object (e.g. ``stripe-api:/v1/invoices``) and ``_source_line`` is the 1-based
index of the record in that extraction.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from saas_metrics.sources.registry import read_source_table


@dataclass(frozen=True)
class NativeExtract:
    """Records of one native file (``relative`` path as under the sources dir) and where they came from."""

    relative: str
    columns: Sequence[str]
    records: list[dict[str, object]]
    source: str


def native_text(value: object) -> str:
    """A value as the text a native export would hold ('' for null; booleans as true/false)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds" if value.microsecond else "seconds") + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _write(folder: Path, extract: NativeExtract) -> None:
    path = folder / extract.relative
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [[native_text(r.get(c)) for c in extract.columns] for r in extract.records]
    pd.DataFrame(rows, columns=list(extract.columns), dtype=object).to_csv(path, index=False)


def to_canonical(table: str, extracts: Sequence[NativeExtract], start: dt.date | None, end: dt.date | None, *,
                 include_unplaced: bool = False) -> pd.DataFrame:
    """The canonical ``table`` from native ``extracts``, windowed exactly like ``read_source_table``."""
    with tempfile.TemporaryDirectory(prefix="saas_metrics_landing_") as tmp:
        folder = Path(tmp)
        for extract in extracts:
            _write(folder, extract)
        frame = read_source_table(table, folder, start, end, include_unplaced=include_unplaced)
    labels: Mapping[str, str] = {e.relative: e.source for e in extracts}
    return frame.assign(_source_file=frame["_source_file"].map(lambda f: labels.get(f, f)).astype(object))
