"""The PQL activation crossings kpi_funnel reads: the accounts whose cumulative count of the PQL
event first reached the threshold on a day of the run's window. From the run's read cache when it
holds every month from the first; otherwise from each account's count before the window (summed by
the warehouse, SQLite and PostgreSQL) and the window's rows (from the cache or the database). The
same rows every way, and the same PQL months as the whole history gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.calendar import month_of
from saas_metrics.config import AcquisitionPolicy
from saas_metrics.defs.acquisition_assets import activation_crossings
from saas_metrics.defs.source_assets import stg_storage_schema
from saas_metrics.metrics.funnel import _pqls, first_reached
from saas_metrics.warehouse import Warehouse, store

EVENT = "report_created"
SCHEMA = stg_storage_schema("product_usage")

def _window(start: str, end: str) -> tuple[dt.date, dt.date]:
    return pd.Timestamp(start).date(), pd.Timestamp(end).date()


WINDOW = _window("2024-01-01", "2024-04-01")
FEBRUARY = _window("2024-02-01", "2024-03-01")
MARCH = _window("2024-03-01", "2024-04-01")


def _usage() -> pd.DataFrame:
    rows = [  # (date, account, user, event, count)
        ("2024-01-03", "a", "u1", EVENT, 1),
        ("2024-02-02", "a", "u1", EVENT, 2),      # a: 1 + 2 = 3 on 2024-02-02
        ("2024-03-01", "a", "u1", EVENT, 5),      # after a reached it: changes nothing
        ("2024-01-20", "b", "u2", "login", 4),    # b: another event only
        ("2024-03-15", "b", "u2", "login", 1),
        ("2024-02-28", "c", "u3", EVENT, 3),      # c: 3 on its first day
        ("2024-01-10", "d", "u4", EVENT, 1),      # d: two users on one day count together ...
        ("2024-01-10", "d", "u5", EVENT, 1),
        ("2024-02-10", "d", "u4", EVENT, 1),      # ... 2 + 1 = 3 on 2024-02-10
        ("2024-01-15", "e", "u6", EVENT, 7),      # e: 7 at once (the running sum, not the threshold)
        ("2024-03-05", "f", "u7", EVENT, 4),      # f: in March only
        ("2024-01-05", "g", "u8", EVENT, 2),      # g: never reaches 3
    ]
    frame = pd.DataFrame(rows, columns=["date", "account_id", "user_id", "event_name", "event_count"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["month"] = frame["date"].dt.to_period("M").dt.to_timestamp()
    return frame.reindex(columns=SCHEMA.column_names)


def _expected(*accounts: tuple[str, str, int]) -> list[tuple[str, pd.Timestamp, str, int]]:
    return [(a, pd.Timestamp(day), EVENT, n) for a, day, n in accounts]


def _rows(frame: pd.DataFrame) -> list[tuple[str, pd.Timestamp, str, int]]:
    ordered = frame.sort_values("account_id")
    return [(a, pd.Timestamp(d), e, int(n)) for a, d, e, n in
            ordered[["account_id", "date", "event_name", "event_count"]].itertuples(index=False)]


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_READ_CACHE", store.ReadCache(min_rows=1))


def _filled(url: str) -> Warehouse:
    warehouse = Warehouse(url)
    warehouse.replace(SCHEMA, _usage(), WINDOW, cache_scope="run-1")
    return warehouse


def test_first_reached_by_hand() -> None:
    usage = _usage()
    assert _rows(first_reached(usage[usage["date"] < "2024-03-01"], EVENT, 3)) == _expected(
        ("a", "2024-02-02", 3), ("c", "2024-02-28", 3), ("d", "2024-02-10", 3), ("e", "2024-01-15", 7))
    assert _rows(first_reached(usage, EVENT, 3))[-1] == ("f", pd.Timestamp("2024-03-05"), EVENT, 4)
    assert first_reached(usage, "no_such_event", 3).empty
    # Its own output gives itself back: the PQL rule may be fed the crossings instead of the history.
    crossings = first_reached(usage, EVENT, 3)
    pd.testing.assert_frame_equal(first_reached(crossings, EVENT, 3), crossings)


EXPECTED = {  # window -> the accounts that first reached 3 in it, by hand (see _usage)
    FEBRUARY: _expected(("a", "2024-02-02", 3), ("c", "2024-02-28", 3), ("d", "2024-02-10", 3)),
    MARCH: _expected(("f", "2024-03-05", 4)),  # a's March events come after it reached 3
    WINDOW: _expected(("a", "2024-02-02", 3), ("c", "2024-02-28", 3), ("d", "2024-02-10", 3),
                      ("e", "2024-01-15", 7), ("f", "2024-03-05", 4)),
}


@pytest.mark.parametrize("window", [FEBRUARY, MARCH, WINDOW], ids=["february", "march", "all"])
def test_every_path_gives_the_crossings_of_the_window(tmp_path: Path, cache: None, window: tuple[dt.date, dt.date]) -> None:
    warehouse = _filled(f"sqlite:///{tmp_path / 'w.db'}")
    # run-1's cache holds every month from the first (the backfill path); run-3's only the window.
    assert warehouse.cached(SCHEMA, (warehouse.first_month(SCHEMA.name), window[1]), None, "run-1") is not None
    warehouse.read(SCHEMA, window, cache_scope="run-3")
    from_backfill_cache = activation_crossings(warehouse, EVENT, 3, window, "run-1")
    from_window_cache = activation_crossings(warehouse, EVENT, 3, window, "run-3")
    from_database = activation_crossings(warehouse, EVENT, 3, window, None)
    assert _rows(from_backfill_cache) == _rows(from_window_cache) == _rows(from_database) == EXPECTED[window]
    assert from_database["date"].dtype == from_backfill_cache["date"].dtype
    assert list(from_database.columns) == ["date", "account_id", "event_name", "event_count"]


def _pql_months(*args: object) -> pd.Series:
    return month_of(_pqls(*args)["reached_at"])  # type: ignore[arg-type]


def test_pql_months_are_the_same_from_crossings_and_from_history(tmp_path: Path, cache: None) -> None:
    warehouse = _filled(f"sqlite:///{tmp_path / 'w.db'}")
    policy = AcquisitionPolicy(pql_event=EVENT, pql_event_count=3)
    accounts = pd.DataFrame({"account_id": list("acdef"), "billing_customer_id": ["cus_a", None, None, "cus_e", None]})
    links = pd.DataFrame({"product_account_id": pd.Series([], dtype="str"), "customer_id": pd.Series([], dtype="str")})
    paid_at = pd.Series(pd.to_datetime(["2024-01-01"]), index=["cus_e"])  # e paid before it reached 3: no PQL
    from_history = _pql_months(accounts, _usage(), links, paid_at, policy)
    assert from_history.sort_index().to_dict() == {
        "a": pd.Timestamp("2024-02-01"), "c": pd.Timestamp("2024-02-01"), "d": pd.Timestamp("2024-02-01"),
        "f": pd.Timestamp("2024-03-01")}
    for window in (WINDOW, FEBRUARY, MARCH):
        crossings = activation_crossings(warehouse, EVENT, 3, window, None)
        in_window = from_history[(from_history >= pd.Timestamp(window[0])) & (from_history < pd.Timestamp(window[1]))]
        pd.testing.assert_series_equal(_pql_months(accounts, crossings, links, paid_at, policy).sort_index(),
                                       in_window.sort_index())


def test_prior_counts_carry_the_history_in() -> None:
    march = _usage()[lambda f: f["date"] >= "2024-03-01"]
    prior = pd.Series({"a": 8, "f": 2})  # a is past the threshold already; f had 2 before March
    assert _rows(first_reached(march, EVENT, 3, prior)) == _expected(("f", "2024-03-05", 6))
    assert _rows(first_reached(march, EVENT, 10, prior)) == _expected(("a", "2024-03-01", 13))


def test_postgres_computes_the_same_crossings(postgres_url: str, cache: None) -> None:
    warehouse = _filled(postgres_url)
    for window in (FEBRUARY, MARCH, WINDOW):
        assert _rows(activation_crossings(warehouse, EVENT, 3, window, None)) == EXPECTED[window]
        assert _rows(activation_crossings(warehouse, EVENT, 3, window, "run-1")) == EXPECTED[window]


def test_no_usage_table_reads_as_no_crossings(tmp_path: Path) -> None:
    empty = activation_crossings(Warehouse(f"sqlite:///{tmp_path / 'none.db'}"), EVENT, 3, WINDOW)
    assert empty.empty and list(empty.columns) == ["date", "account_id", "event_name", "event_count"]


def _assert_null_counts_count_as_nothing(url: str) -> None:
    """event_count is nullable (an export may leave it empty): pandas' running sum and SQL's SUM both
    skip a null, so the three paths agree and a null neither reaches the threshold nor blocks it."""
    extra = pd.DataFrame({"date": pd.to_datetime(["2024-01-04", "2024-02-04", "2024-02-06"]),
                          "account_id": ["h", "h", "g"], "user_id": ["u9", "u9", "u8"], "event_name": EVENT,
                          "event_count": pd.array([None, 3, None], dtype="Int64")})
    extra["month"] = extra["date"].dt.to_period("M").dt.to_timestamp()
    usage = pd.concat([_usage(), extra.reindex(columns=SCHEMA.column_names)], ignore_index=True)
    warehouse = Warehouse(url)
    warehouse.replace(SCHEMA, usage, WINDOW, cache_scope="run-1")
    warehouse.read(SCHEMA, FEBRUARY, cache_scope="run-3")
    # h: nothing in January, 3 on 2024-02-04; g: 2 and then a null, still short of 3.
    expected = sorted([*EXPECTED[FEBRUARY], *_expected(("h", "2024-02-04", 3))])
    for run_id in ("run-1", "run-3", None):
        assert sorted(_rows(activation_crossings(warehouse, EVENT, 3, FEBRUARY, run_id))) == expected


def test_a_null_count_counts_as_nothing_on_every_path(tmp_path: Path, cache: None) -> None:
    _assert_null_counts_count_as_nothing(f"sqlite:///{tmp_path / 'w.db'}")


def test_postgres_counts_a_null_count_as_nothing(postgres_url: str, cache: None) -> None:
    _assert_null_counts_count_as_nothing(postgres_url)
