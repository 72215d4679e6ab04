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

import dataclasses
import datetime as dt
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from saas_metrics.sources.drift import MissingColumnsWarning
from saas_metrics.sources.notices import collecting_notices, notify
from saas_metrics.sources.registry import read_source_table


@dataclass(frozen=True)
class NativeExtract:
    """Records of one native file (``relative`` path as under the sources dir) and where they came from."""

    relative: str
    columns: Sequence[str]
    records: list[dict[str, object]]
    source: str
    #: columns the source does not have: left out of the landed file, so the reader reports them
    absent: tuple[str, ...] = ()
    #: rows the source held but did not pass on, per exclusion rule (saas_metrics.quality.accounting)
    excluded: Mapping[str, int] = dataclasses.field(default_factory=dict)


class ExcludedRowsWarning(UserWarning):
    """Rows a connector read but did not pass on, per named rule (``counts``), for the row accounting."""

    def __init__(self, source: str, counts: Mapping[str, int] | None = None) -> None:
        if counts is None:  # re-created from its text (warnings are rebuilt from ``args``, e.g. by pytest-xdist)
            self.source, self.counts = source, {}
            super().__init__(source)
            return
        self.source, self.counts = source, dict(counts)
        rules = ", ".join(f"{n} {rule}" for rule, n in sorted(self.counts.items()))
        super().__init__(f"{source}: rows excluded by rule: {rules}")


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
    columns = [c for c in extract.columns if c not in extract.absent]
    rows = [[native_text(r.get(c)) for c in columns] for r in extract.records]
    pd.DataFrame(rows, columns=columns, dtype=object).to_csv(path, index=False)


def to_canonical(table: str, extracts: Sequence[NativeExtract], start: dt.date | None, end: dt.date | None, *,
                 include_unplaced: bool = False) -> pd.DataFrame:
    """The canonical ``table`` from native ``extracts``, windowed exactly like ``read_source_table``."""
    labels: Mapping[str, str] = {e.relative: e.source for e in extracts}
    with tempfile.TemporaryDirectory(prefix="saas_metrics_landing_") as tmp, collecting_notices() as caught:
        folder = Path(tmp)
        for extract in extracts:
            _write(folder, extract)
        frame = read_source_table(table, folder, start, end, include_unplaced=include_unplaced)
    for warning in caught:  # raised again, naming the connector's object instead of the temporary file
        message = warning.message
        if isinstance(message, MissingColumnsWarning):
            message = MissingColumnsWarning(tuple(dataclasses.replace(m, source=labels.get(m.source, m.source))
                                                  for m in message.missing))
        notify(message, stacklevel=2)
    for extract in extracts:
        if extract.excluded:
            notify(ExcludedRowsWarning(extract.source, extract.excluded), stacklevel=2)
    return frame.assign(_source_file=frame["_source_file"].map(lambda f: labels.get(f, f)).astype(object))
