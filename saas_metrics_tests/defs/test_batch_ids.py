"""The earlier batches' ids: no id of an earlier batch is ever missed, and an id of none is only a
candidate when its hash collides (then the database decides)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from saas_metrics.calendar import add_months
from saas_metrics.defs import batch_ids, source_assets
from saas_metrics.defs.batch_ids import EarlierBatchIds, id_hashes
from saas_metrics.defs.source_assets import raw_storage_schema
from saas_metrics.warehouse.store import Warehouse

JAN = (dt.date(2024, 1, 1), dt.date(2024, 2, 1))
FEB = (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
MAR = (dt.date(2024, 3, 1), dt.date(2024, 4, 1))


def test_an_id_of_an_earlier_batch_is_a_candidate_under_that_batch() -> None:
    earlier = EarlierBatchIds()
    assert earlier.candidates(["a"]) == {}
    earlier.add(JAN, ["s1", "s2", "s3"])
    earlier.add(FEB, ["s4", "s5"])
    assert len(earlier) == 5 and earlier.windows == [JAN, FEB]
    assert earlier.candidates(["s5", "s9", "s1", "s2"]) == {FEB: ["s5"], JAN: ["s1", "s2"]}
    assert earlier.candidates(["s9", "x"]) == {}
    assert earlier.candidates([]) == {}
    earlier.add(MAR, [])  # a batch with no clean id
    assert earlier.candidates(["s4"]) == {FEB: ["s4"]}


def test_many_ids_over_many_batches_are_all_found() -> None:
    rng = np.random.default_rng(7)
    earlier = EarlierBatchIds()
    stored: dict[str, tuple[dt.date, dt.date]] = {}
    for month in range(1, 13):
        window = (dt.date(2024, month, 1), dt.date(2024 + month // 12, month % 12 + 1, 1))
        ids = [f"{month}.{n}.{rng.integers(10**9)}" for n in range(2_000)]
        earlier.add(window, ids)
        stored |= dict.fromkeys(ids, window)
    probe = [*list(stored)[::97], "not-stored", "1.0.x"]
    found = earlier.candidates(probe)
    assert {i: w for w, ids in found.items() for i in ids} == {i: stored[i] for i in probe if i in stored}


def test_a_hash_collision_makes_a_candidate_the_database_then_rules_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ids with one hash: the other id is a candidate under the batch of the stored one (and under
    every batch holding that hash), never a miss."""
    def colliding(ids: object) -> np.ndarray:
        return np.array([1 if str(i) in ("a", "b") else 2 + len(str(i)) for i in np.asarray(ids, dtype=object)], dtype="uint64")

    monkeypatch.setattr(batch_ids, "id_hashes", colliding)
    earlier = EarlierBatchIds()
    earlier.add(JAN, ["a", "long-id"])
    earlier.add(FEB, ["b"])
    assert earlier.candidates(["b", "zzzzzzz"]) == {JAN: ["b", "zzzzzzz"], FEB: ["b"]}


def test_equal_ids_hash_equal_and_different_ones_differ() -> None:
    hashes = id_hashes(["1000053821.1710321940.1710321940", "1000053821.1710321940.1710321940", "x", ""])
    assert hashes.dtype == np.dtype("uint64")
    assert hashes[0] == hashes[1] and len({int(h) for h in hashes}) == 3


def test_existing_ids_are_the_stored_months_outside_the_run_and_the_earlier_batches_only(tmp_path: Path) -> None:
    """A batch's ids already clean in other months: those stored outside the run (asked of the
    database) and those of the run's earlier batches (their hashes, then the database within the
    batch); not those of the run's months an earlier run stored, which this run replaces."""
    wh = Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")
    raw = raw_storage_schema("web_sessions")

    def store(month: dt.date, ids: list[str], reasons: list[str | None]) -> None:
        frame = pd.DataFrame({"month": [month] * len(ids), "session_id": ids, "_quarantine_reason": reasons})
        wh.replace(raw, frame.reindex(columns=raw.column_names), (month, add_months(month, 1)))

    dec, jan, feb, mar, apr = (dt.date(2023, 12, 1), *(dt.date(2024, m, 1) for m in (1, 2, 3, 4)))
    store(dec, ["before", "quarantined"], [None, "duplicate"])  # outside the run
    store(mar, ["stale"], [None])  # a month of the run an earlier run stored: about to be replaced
    store(jan, ["s1", "s2", "bad"], [None, None, "out of range"])  # the run's first batch, just stored
    earlier = EarlierBatchIds()
    earlier.add((jan, feb), ["s1", "s2"])
    resource = SimpleNamespace(warehouse=wh)
    batch = pd.DataFrame({"session_id": ["s2", "before", "quarantined", "stale", "bad", "new", None]})
    run = (jan, apr)
    assert source_assets._existing_ids(resource, "web_sessions", run, batch, earlier) == {"s2", "before"}  # type: ignore[arg-type]
    # Without the earlier batches (the run's first batch), only the months outside the run count.
    assert source_assets._existing_ids(resource, "web_sessions", run, batch, EarlierBatchIds()) == {"before"}  # type: ignore[arg-type]
    # A snapshot table has no run window, hence no other partitions.
    assert source_assets._existing_ids(resource, "web_sessions", None, batch, earlier) == frozenset()  # type: ignore[arg-type]
