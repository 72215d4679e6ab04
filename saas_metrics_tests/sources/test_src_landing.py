"""The landing cache gives exactly what a direct read gives, reads only a window's rows when asked,
replays the reader's warnings and never serves a changed file from the cache."""

from __future__ import annotations

import datetime as dt
import os
import threading
import warnings
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.sources import landing
from saas_metrics.sources.registry import read_source_table

USAGE = """
date,account_id,user_id,event,count
2025-01-03,acc_1,u1,login,1
2025-02-10,acc_1,u1,login,2
not a date,acc_2,u2,login,1
2025-03-01,acc_2,u2,report,4
2099-01-01,acc_3,u3,login,1
2025-02-11,acc_1,u2,login,x
"""
NOW = dt.datetime(2025, 7, 1)


def _read_all(sources: Path, cache: Path, window: tuple[dt.date, dt.date] | None = None) -> tuple[pd.DataFrame, pd.Series | None, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame, times = landing.read_landed("product_usage", sources, cache, window, NOW)
    landing.wait_for_stores()  # a first read stores the cache on a thread of its own
    return frame, times, [str(w.message) for w in caught]


def test_first_and_cached_reads_equal_a_direct_read(write, tmp_path: Path) -> None:
    sources = write("product/usage_daily.csv", USAGE)
    cache = tmp_path / "cache"
    direct = read_source_table("product_usage", sources)
    first, times, _ = _read_all(sources, cache)
    assert times is None
    pd.testing.assert_frame_equal(first, direct)
    assert len(list(cache.glob("product_usage-*.parquet"))) == 1
    cached, _, _ = _read_all(sources, cache)
    pd.testing.assert_frame_equal(cached, direct)


def test_a_window_read_without_every_rows_time_gives_the_same_rows(write, tmp_path: Path) -> None:
    sources = write("product/usage_daily.csv", USAGE)
    cache = tmp_path / "cache"
    feb = (dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    for _ in ("cold", "warm"):  # from the CSV, then from the Parquet file
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            frame, times = landing.read_landed("product_usage", sources, cache, feb, NOW, all_times=False)
        landing.wait_for_stores()
        assert times is None
        with_times, all_of_them = landing.read_landed("product_usage", sources, cache, feb, NOW)
        pd.testing.assert_frame_equal(frame, with_times)
        assert all_of_them is not None and len(all_of_them) == 6


def test_a_window_read_keeps_the_window_and_the_rows_any_month_may_own(write, tmp_path: Path) -> None:
    sources = write("product/usage_daily.csv", USAGE)
    cache = tmp_path / "cache"
    feb = (dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    cold, cold_times, _ = _read_all(sources, cache, feb)  # from the CSV (and stores the cache)
    warm, warm_times, _ = _read_all(sources, cache, feb)  # from Parquet, filtered by pyarrow
    for frame in (cold, warm):
        # February's two rows, the unparseable date (placed in the first month) and the future one
        # (placed in the last month), in file order with their original line numbers.
        assert frame["_source_line"].tolist() == [2, 3, 5, 6]
        assert frame.loc[frame["_source_line"] == 6, "_parse_errors"].item() == '{"event_count": "x"}'
    pd.testing.assert_frame_equal(cold, warm)
    # The time of EVERY row, to count rows outside the partitions.
    assert len(cold_times) == len(warm_times) == 6
    pd.testing.assert_series_equal(cold_times.reset_index(drop=True), warm_times.reset_index(drop=True), check_names=False)


def test_a_changed_file_is_read_again(write, tmp_path: Path) -> None:
    sources = write("product/usage_daily.csv", USAGE)
    cache = tmp_path / "cache"
    _read_all(sources, cache)
    path = sources / "product/usage_daily.csv"
    path.write_text(path.read_text() + "2025-03-02,acc_9,u9,login,1\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    frame, _, _ = _read_all(sources, cache)
    assert "acc_9" in set(frame["account_id"])
    assert len(list(cache.glob("product_usage-*.parquet"))) == 1  # the stale version is removed


def test_a_change_to_the_readers_or_their_typing_is_a_new_cache_key(write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cached frames were typed by ``saas_metrics/tables.py`` as much as by the readers: a change
    to either (a release that parses dates differently) must not serve frames the old code made."""
    code = landing.reader_code()
    assert Path(landing.__file__).resolve() in code and (Path(landing.__file__).resolve().parents[1] / "tables.py") in code
    sources = write("product/usage_daily.csv", USAGE)
    before = landing.cache_key("product_usage", sources)
    edited = tmp_path / "tables.py"
    edited.write_text(code[-1].read_text() + "\n# a new release\n")
    monkeypatch.setattr(landing, "reader_code", lambda: [*code[:-1], edited])
    landing.reader_fingerprint.cache_clear()
    try:
        assert landing.cache_key("product_usage", sources) != before
    finally:
        landing.reader_fingerprint.cache_clear()


def test_reader_warnings_are_raised_again_on_cached_reads(write, tmp_path: Path) -> None:
    sources = write("product/usage_daily.csv", "date,account_id,event\n2025-01-03,acc_1,login\n")
    cache = tmp_path / "cache"
    _, _, first = _read_all(sources, cache)
    _, _, second = _read_all(sources, cache)
    assert any("lacks column(s)" in m and "user_id" in m for m in first)
    assert first == second


def test_an_unwritable_cache_still_reads(write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    sources = write("product/usage_daily.csv", USAGE)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(landing, "_store", refuse)
    with caplog.at_level("WARNING", logger=landing.__name__):
        frame, _, _ = _read_all(sources, tmp_path / "cache")
    pd.testing.assert_frame_equal(frame, read_source_table("product_usage", sources))
    assert "could not store product_usage" in caplog.text


def test_the_cache_is_written_while_the_caller_goes_on(write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_landed returns the rows before their Parquet file is written; wait_for_stores waits for
    it, and the next read is served from it."""
    sources = write("product/usage_daily.csv", USAGE)
    cache = tmp_path / "cache"
    release = threading.Event()
    store = landing._store

    def held_store(*args: object) -> None:
        assert release.wait(10)
        store(*args)

    monkeypatch.setattr(landing, "_store", held_store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame, _ = landing.read_landed("product_usage", sources, cache, None, NOW)
    assert len(frame) == 6
    assert not list(cache.glob("product_usage-*.parquet"))  # not yet: the writer is held
    release.set()
    landing.wait_for_stores()
    assert len(list(cache.glob("product_usage-*.parquet"))) == 1
    monkeypatch.setattr(landing, "read_source_table", lambda *a: pytest.fail("served from the cache, not parsed"))
    cached, _, _ = _read_all(sources, cache)
    pd.testing.assert_frame_equal(cached, frame)


def test_a_damaged_cache_file_is_dropped_and_the_export_read_again(write, tmp_path: Path) -> None:
    sources = write("product/usage_daily.csv", USAGE)
    cache = tmp_path / "cache"
    _read_all(sources, cache)
    (parquet,) = cache.glob("product_usage-*.parquet")
    parquet.write_bytes(b"not parquet")
    feb = (dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    frame, times, _ = _read_all(sources, cache, feb)
    assert frame["_source_line"].tolist() == [2, 3, 5, 6] and len(times) == 6
    assert parquet.read_bytes()[:4] == b"PAR1"  # stored again


def test_distinct_values_are_parsed_once_with_the_same_result() -> None:
    from saas_metrics.sources.files import _has_padded_fields, map_distinct

    text = pd.Series(["3", "3", None, "x", "3", "7", "7", "x", "3", "3"], dtype="str")
    calls: list[int] = []

    def parse(values: pd.Series) -> pd.Series:
        calls.append(len(values))
        return pd.to_numeric(values, errors="coerce").astype(float)

    parsed = map_distinct(text, parse)
    assert calls == [3]  # "3", "x", "7": nulls are not parsed
    expected = [3.0, 3.0, None, None, 3.0, 7.0, 7.0, None, 3.0, 3.0]
    assert [None if pd.isna(v) else v for v in parsed] == expected
    mostly_distinct = pd.Series(["1", "2", "3"], dtype="str")
    assert map_distinct(mostly_distinct, parse).tolist() == [1.0, 2.0, 3.0] and calls[-1] == 3
    assert [_has_padded_fields(d) for d in (b"a,b\n1,2\n", b"a, b\n", b"a ,b", b"a,b \r\n", b"a\tb", b"")] == [
        False, True, True, True, False, False]
