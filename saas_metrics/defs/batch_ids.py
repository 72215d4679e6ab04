"""The clean ids a run's earlier batches of months stored, for a later batch's uniqueness check.

A raw table keyed by one column (web sessions by ``session_id``, tickets by ``ticket_id`` ...)
quarantines a row whose id is already a clean row of another partition. A run validates its
window in batches of months (``source_reads.month_batches``), and a batch's other partitions
include the months the run's earlier batches have just stored. Asking the database about those
made every batch of a backfill build or use an index on the id over everything stored so far,
and every load after it insert each row into that index one by one: a cost that grew with the
history, the super-linear part of a large backfill's web sessions.

The run saw those rows. :class:`EarlierBatchIds` keeps each earlier batch's clean ids as 64-bit
hashes (8 bytes an id, where the ids themselves take 30 to 40) with the batch each came from:

* an id whose hash is not among them is in no earlier batch, since equal ids hash equal: exact;
* an id whose hash is among them (a true duplicate, or another id with the same hash) is asked of
  the database within that earlier batch's months only (``Warehouse.present_values(within=...)``,
  through the month index): exact too, and a cost of that batch's rows, not of the history.

The stored months outside the run are still asked of the database as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

Window = tuple[dt.date, dt.date]


def id_hashes(ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """pandas' 64-bit hash of each id (unsigned; equal strings give equal hashes)."""
    return pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)


class EarlierBatchIds:
    """The clean ids of the batches a step stored so far in this run, by batch (module docstring)."""

    def __init__(self) -> None:
        self.windows: list[Window] = []
        self._hashes = np.empty(0, dtype="uint64")  # sorted
        self._batch = np.empty(0, dtype="int32")  # the batch (index of ``windows``) of each hash

    def __len__(self) -> int:
        return len(self._hashes)

    def add(self, window: Window, ids: Sequence[str]) -> None:
        """Record the clean ids the batch of months ``window`` stored."""
        hashes = id_hashes(ids)
        batch = np.full(len(hashes), len(self.windows), dtype="int32")
        self.windows.append(window)
        merged = np.concatenate([self._hashes, hashes])
        # Stable: timsort merges the sorted run already held with the new one in linear time.
        order = np.argsort(merged, kind="stable")
        self._hashes, self._batch = merged[order], np.concatenate([self._batch, batch])[order]

    def candidates(self, ids: Sequence[str]) -> dict[Window, list[str]]:
        """The ``ids`` that may be clean ids of an earlier batch, under each batch they may be in (their
        hash is among that batch's; an id under no batch is in none)."""
        if not len(self._hashes) or not len(ids):
            return {}
        values = np.asarray(ids, dtype=object)
        hashes = id_hashes(values)
        low = np.searchsorted(self._hashes, hashes, side="left")
        high = np.searchsorted(self._hashes, hashes, side="right")
        out: dict[Window, list[str]] = {}
        for position in np.flatnonzero(high > low):
            for batch in np.unique(self._batch[low[position]:high[position]]):
                out.setdefault(self.windows[batch], []).append(str(values[position]))
        return out
