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
import sqlalchemy as sa

from saas_metrics.calendar import month_of
from saas_metrics.config import AcquisitionPolicy
from saas_metrics.defs.acquisition_assets import activation_crossings, activation_index
from saas_metrics.defs.source_assets import CLEAN_ROWS, raw_storage_schema, stg_storage_schema
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


def _staged(url: str) -> Warehouse:
    """The usage as a run stores it: the raw rows, one of them quarantined, behind the staging view.
    The quarantined row would take g (2 in January) to 7 in February: it must count for nothing."""
    raw = raw_storage_schema("product_usage")
    bad = pd.DataFrame({"date": [pd.Timestamp("2024-02-05")], "account_id": ["g"], "user_id": ["u8"],
                        "event_name": [EVENT], "event_count": [5], "month": [pd.Timestamp("2024-02-01")],
                        "_quarantine_reason": ["duplicate row (test)"]})
    rows = pd.concat([_usage(), bad], ignore_index=True).reindex(columns=raw.column_names)
    warehouse = Warehouse(url)
    warehouse.replace(raw, rows, WINDOW)
    warehouse.ensure_view(SCHEMA, raw, where_sql=CLEAN_ROWS)
    return warehouse


def _index_definitions(warehouse: Warehouse) -> dict[str, str]:
    with warehouse.engine.connect() as conn:
        return dict(store._index_definitions(conn, raw_storage_schema("product_usage").name))


def _sums_statements(warehouse: Warehouse) -> list[tuple[str, object]]:
    """The SQL of the per-account sums before the window, as executed (statement, parameters)."""
    executed: list[tuple[str, object]] = []

    def record(conn: object, cursor: object, statement: str, parameters: object, context: object, many: bool) -> None:
        if "sum(" in statement.lower():
            executed.append((statement, parameters))

    sa.event.listen(warehouse.engine, "before_cursor_execute", record)
    return executed


def test_the_sums_before_the_window_come_from_the_events_partial_index(tmp_path: Path) -> None:
    """Behind the staging view, the first month run that needs the sums makes a partial index of the
    event's clean rows on the raw table, and SQLite answers the sums from it alone; the crossings are
    those of the clean rows. Another PQL event gets its own index in place of the first."""
    warehouse = _staged(f"sqlite:///{tmp_path / 'w.db'}")
    executed = _sums_statements(warehouse)
    for window in (FEBRUARY, MARCH):
        assert _rows(activation_crossings(warehouse, EVENT, 3, window, None)) == EXPECTED[window]
    name, where_sql, prefix = activation_index(EVENT)
    assert name.startswith(prefix) and prefix == "ix_raw_product_usage_for_pql_"
    assert where_sql == f'"event_name" = \'{EVENT}\' AND "_quarantine_reason" IS NULL'
    definition = _index_definitions(warehouse)[name]
    assert "WHERE" in definition and "'report_created'" in definition and '"_quarantine_reason" IS NULL' in definition
    assert len(executed) == 2
    statement, parameters = executed[-1]
    with warehouse.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()  # type: ignore[arg-type]
    # A range of the index (the dates before the window), the sums grouped apart: no row of the table read.
    assert [row[-1] for row in plan] == [f"SEARCH raw_product_usage USING INDEX {name} (date<?)", "USE TEMP B-TREE FOR GROUP BY"]
    # The whole window from the database reads no sums (its first month is the table's first).
    before = len(executed)  # the EXPLAIN counts too
    assert _rows(activation_crossings(warehouse, EVENT, 3, WINDOW, None)) == EXPECTED[WINDOW]
    assert len(executed) == before
    # Another event: its index replaces the first one; b's logins reach 5 in March.
    assert _rows(activation_crossings(warehouse, "login", 5, MARCH, None)) == [("b", pd.Timestamp("2024-03-15"), "login", 5)]
    assert [n for n in _index_definitions(warehouse) if n.startswith(prefix)] == [activation_index("login")[0]]


def test_an_event_name_with_a_quote_is_one_literal(tmp_path: Path) -> None:
    """The event is written into the index's WHERE and the query as an SQL literal: a quote in it is
    doubled, not the end of the string."""
    warehouse = _staged(f"sqlite:///{tmp_path / 'w.db'}")
    assert activation_crossings(warehouse, "it's", 1, MARCH, None).empty
    assert "'it''s'" in _index_definitions(warehouse)[activation_index("it's")[0]]


def test_postgres_sums_the_clean_rows_through_the_partial_index(postgres_url: str) -> None:
    warehouse = _staged(postgres_url)
    for window in (FEBRUARY, MARCH, WINDOW):
        assert _rows(activation_crossings(warehouse, EVENT, 3, window, None)) == EXPECTED[window]
    assert "WHERE" in _index_definitions(warehouse)[activation_index(EVENT)[0]]


def test_a_backfill_from_its_cache_makes_the_index_for_the_next_month(tmp_path: Path, cache: None) -> None:
    """A backfill reads the crossings from its cache (no sums asked), and still leaves the index, made
    in one sort after its usage was written, so the first month run after it finds it."""
    warehouse = _staged(f"sqlite:///{tmp_path / 'w.db'}")
    warehouse.read(SCHEMA, WINDOW, cache_scope="run-1")
    executed = _sums_statements(warehouse)
    assert _rows(activation_crossings(warehouse, EVENT, 3, WINDOW, "run-1")) == EXPECTED[WINDOW]
    assert executed == []
    assert activation_index(EVENT)[0] in _index_definitions(warehouse)
