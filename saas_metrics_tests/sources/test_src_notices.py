"""A read's notices (saas_metrics/sources/notices.py): collected per read, in order, whatever other
threads do with Python's warnings state meanwhile; a warning where nothing collects."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import pytest

from saas_metrics.defs.source_reads import read_with_notices
from saas_metrics.sources.drift import MissingColumnsWarning
from saas_metrics.sources.files import SourceFileMissing
from saas_metrics.sources.notices import collecting_notices, notify


def _prices_without_tier(sources: Path) -> None:
    """A native prices file without its optional tier column: a missing-columns notice on every read."""
    (sources / "billing").mkdir()
    (sources / "billing" / "prices.csv").write_text(
        "id,product,product_name,nickname,unit_amount,currency,type,recurring_interval,recurring_interval_count,"
        "recurring_usage_type,billing_scheme,active,created\n"
        "price_a,prod_a,A,A m1,2500,usd,recurring,month,1,licensed,per_unit,true,1640995200\n")


def test_notices_are_collected_in_order_and_blocks_nest() -> None:
    with collecting_notices() as outer:
        notify("first", SourceFileMissing)
        with collecting_notices() as inner:
            notify(UserWarning("inner"))
        notify("last")
    assert [(type(w.message), str(w.message), w.category) for w in outer] == [
        (SourceFileMissing, "first", SourceFileMissing), (UserWarning, "last", UserWarning)]
    assert [str(w.message) for w in inner] == ["inner"]


def test_without_a_collector_a_notice_is_a_warning_pointing_at_the_caller() -> None:
    with pytest.warns(SourceFileMissing, match="gone") as record:
        notify("gone", SourceFileMissing)
    assert record[0].filename == __file__


def test_another_thread_using_catch_warnings_neither_takes_nor_loses_a_read_s_notices(tmp_path: Path) -> None:
    """What the CLI does during a run: its main thread enters catch_warnings (inside Dagster, at every
    poll of the run's events) while the run's thread reads. With catch_warnings collecting the
    notices, the other thread's exits put back the process's warning state under the read: notices
    went to the other block's list or to stderr, and were missing from the read."""
    _prices_without_tier(tmp_path)
    stop = threading.Event()

    def churn_warning_state() -> None:
        while not stop.is_set():
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("ignore")

    other = threading.Thread(target=churn_warning_state)
    other.start()
    try:
        reads = [read_with_notices("billing_prices", tmp_path) for _ in range(60)]
        gone = [read_with_notices("billing_customers", tmp_path) for _ in range(60)]
    finally:
        stop.set()
        other.join()
    assert all(any("lacks column(s)" in n for n in r.notices) and r.missing_columns for r in reads)
    assert all(any("not found" in n for n in r.notices) for r in gone)
    filters_after = list(warnings.filters)
    with warnings.catch_warnings():
        assert list(warnings.filters) == filters_after  # the process's filters are its own again


def test_a_reader_called_directly_still_warns(tmp_path: Path) -> None:
    from saas_metrics.sources.registry import read_source_table

    _prices_without_tier(tmp_path)
    with pytest.warns(MissingColumnsWarning, match="lacks column"):
        read_source_table("billing_prices", tmp_path)
