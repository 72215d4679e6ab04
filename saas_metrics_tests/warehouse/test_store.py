"""Warehouse writes replace exactly a window, atomically, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.metrics.kpi import KPI_MONTHLY, kpi_frame
from saas_metrics.tables import Column, TableSchema, coerce_frame
from saas_metrics.warehouse import Warehouse, store

JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "sqlite":
        return Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    return Warehouse(request.getfixturevalue("postgres_url"))


def rows(month: str, values: list[float]) -> pd.DataFrame:
    return kpi_frame([{"month": month, "metric": f"m{i}", "value": v, "unit": "count"} for i, v in enumerate(values)])


def test_replacing_a_window_touches_only_that_window(warehouse: Warehouse) -> None:
    warehouse.replace(KPI_MONTHLY, pd.concat([rows("2024-01-01", [1, 2]), rows("2024-02-01", [3])]), (JAN, MAR))
    warehouse.replace(KPI_MONTHLY, rows("2024-02-01", [7, 8, 9]), (FEB, MAR))
    warehouse.replace(KPI_MONTHLY, rows("2024-02-01", [7, 8, 9]), (FEB, MAR))  # idempotent re-run
    out = warehouse.read(KPI_MONTHLY).sort_values(["month", "metric"])
    assert out["value"].tolist() == [1, 2, 7, 8, 9]
    assert sorted(warehouse.read(KPI_MONTHLY, (JAN, FEB))["value"]) == [1, 2]


def test_a_window_holding_every_stored_month_replaces_the_whole_table(warehouse: Warehouse) -> None:
    """Re-running a backfill of every month empties the table in one statement (no WHERE): the new
    rows are all that is left, and a narrower window afterwards still keeps the other months."""
    warehouse.replace(KPI_MONTHLY, pd.concat([rows("2024-01-01", [1, 2]), rows("2024-02-01", [3])]), (JAN, MAR))
    warehouse.replace(KPI_MONTHLY, rows("2024-01-01", [5]), (dt.date(2023, 12, 1), dt.date(2024, 4, 1)))
    assert warehouse.read(KPI_MONTHLY)["value"].tolist() == [5]
    warehouse.replace(KPI_MONTHLY, rows("2024-02-01", [6]), (FEB, MAR))
    assert sorted(warehouse.read(KPI_MONTHLY)["value"].tolist()) == [5, 6]


def test_rows_outside_the_window_are_refused_and_nothing_changes(warehouse: Warehouse) -> None:
    warehouse.replace(KPI_MONTHLY, rows("2024-01-01", [1]), (JAN, FEB))
    with pytest.raises(ValueError, match="outside the window"):
        warehouse.replace(KPI_MONTHLY, rows("2024-02-01", [5]), (JAN, FEB))
    assert warehouse.read(KPI_MONTHLY)["value"].tolist() == [1]


def test_a_failed_write_leaves_the_previous_data(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse.replace(KPI_MONTHLY, rows("2024-01-01", [1, 2]), (JAN, FEB))

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    from saas_metrics.warehouse import store

    monkeypatch.setattr(store, "insert_frame", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        warehouse.replace(KPI_MONTHLY, rows("2024-01-01", [9]), (JAN, FEB))
    monkeypatch.undo()
    assert sorted(warehouse.read(KPI_MONTHLY)["value"].tolist()) == [1, 2]


def test_types_are_stable_and_nulls_round_trip(warehouse: Warehouse) -> None:
    schema = TableSchema("typed", (
        Column("month", "date"), Column("s", "str"), Column("f", "float"), Column("i", "int"),
        Column("b", "bool"), Column("t", "datetime"),
    ), time_column="month")
    frame = pd.DataFrame({
        "month": ["2024-01-01", "2024-01-01"], "s": ["a", None], "f": [1.25, None], "i": [3, None],
        "b": [True, None], "t": ["2024-01-05 10:00:00", None],
    })
    warehouse.replace(schema, frame, (JAN, FEB))
    out = warehouse.read(schema).sort_values("s", na_position="last").reset_index(drop=True)
    assert out.loc[0, "s"] == "a" and pd.isna(out.loc[1, "s"])
    assert out.loc[0, "f"] == 1.25 and pd.isna(out.loc[1, "f"])
    assert out.loc[0, "i"] == 3 and pd.isna(out.loc[1, "i"])
    assert bool(out.loc[0, "b"]) is True and pd.isna(out.loc[1, "b"])
    assert out.loc[0, "t"] == pd.Timestamp("2024-01-05 10:00:00") and pd.isna(out.loc[1, "t"])
    assert str(out["month"].dtype) == "datetime64[ns]"


def test_reading_a_missing_table_gives_an_empty_typed_frame(warehouse: Warehouse) -> None:
    out = warehouse.read(KPI_MONTHLY)
    assert out.empty and list(out.columns) == KPI_MONTHLY.column_names
    # Typed as the schema's empty frame, whole, by columns, by window and distinct.
    empty = KPI_MONTHLY.empty_frame()
    assert out.dtypes.to_dict() == empty.dtypes.to_dict()
    some = warehouse.read(KPI_MONTHLY, (JAN, FEB), columns=["value", "month"])
    assert some.empty and some.dtypes.to_dict() == empty[["value", "month"]].dtypes.to_dict()
    values = warehouse.distinct(KPI_MONTHLY, "metric")
    assert values.empty and values.dtype == empty["metric"].dtype


def test_a_view_gives_the_selected_rows_of_any_window_and_follows_its_source(warehouse: Warehouse) -> None:
    source = TableSchema("src", (Column("month", "date"), Column("id", "str"), Column("x", "float"), Column("bad", "str")),
                         time_column="month")
    view = TableSchema("dst", (Column("month", "date"), Column("id", "str"), Column("x", "float")), time_column="month")
    warehouse.replace(source, pd.DataFrame({
        "month": ["2024-01-01", "2024-01-01", "2024-02-01", "2024-02-01"], "id": ["a", "b", "c", "d"],
        "x": [1.5, 2.0, 0.1 + 0.2, None], "bad": [None, "duplicate", None, None],
    }), (JAN, MAR))
    warehouse.ensure_view(view, source, where_sql='"bad" IS NULL')
    warehouse.ensure_view(view, source, where_sql='"bad" IS NULL')  # idempotent
    assert warehouse.count("dst", (JAN, FEB)) == 1 and warehouse.count("dst", (FEB, MAR)) == 2
    out = warehouse.read(view).sort_values("id").reset_index(drop=True)
    assert out["id"].tolist() == ["a", "c", "d"]
    assert out.loc[1, "x"] == 0.1 + 0.2 and pd.isna(out.loc[2, "x"])  # to the last bit, nulls kept
    # A new write of the source shows through; nothing is copied.
    warehouse.replace(source, pd.DataFrame({"month": ["2024-02-01"], "id": ["e"], "x": [7.0], "bad": [None]}), (FEB, MAR))
    assert warehouse.read(view)["id"].tolist() == ["a", "e"]
    with pytest.raises(ValueError, match=r"columns \['bad'\] are not in dst"):
        warehouse.ensure_view(source, view)


def test_a_staging_table_of_an_older_version_becomes_a_view(warehouse: Warehouse) -> None:
    source = TableSchema("src2", (Column("month", "date"), Column("id", "str"), Column("bad", "str")), time_column="month")
    view = TableSchema("dst2", (Column("month", "date"), Column("id", "str")), time_column="month")
    warehouse.replace(view, pd.DataFrame({"month": ["2024-01-01"], "id": ["stale copy"]}), (JAN, FEB))
    warehouse.replace(source, pd.DataFrame({"month": ["2024-01-01"], "id": ["a"], "bad": [None]}), (JAN, FEB))
    warehouse.ensure_view(view, source, where_sql='"bad" IS NULL')
    assert warehouse.read(view)["id"].tolist() == ["a"]


def test_bulk_load_round_trips_awkward_values(warehouse: Warehouse) -> None:
    """The bulk path (COPY on PostgreSQL, executemany on SQLite) keeps quotes, commas, newlines,
    empty strings, float precision, big integers and many repeated dates exactly."""
    schema = TableSchema("awkward", (Column("month", "date"), Column("s", "str"), Column("f", "float"),
                                     Column("i", "int"), Column("b", "bool"), Column("t", "datetime")), time_column="month")
    frame = pd.DataFrame({
        "month": ["2024-01-01"] * 5, "s": ['say "hi", then\nleave', "", None, "plain", "\\N"],
        "f": [0.1 + 0.2, 1e-20, None, 123456789.123456789, -0.0], "i": pd.array([2**60, None, -1, 0, 7], dtype="Int64"),
        "b": pd.array([True, False, None, True, None], dtype="boolean"),
        "t": ["2024-01-05 10:00:00.123456", None, "2024-01-31 23:59:59", "2024-01-01", "2024-01-02 00:00:00.123456789"],
    })
    warehouse.replace(schema, frame, (JAN, FEB))
    out = warehouse.read(schema).sort_values("i", na_position="last").reset_index(drop=True)
    by_i = {None if pd.isna(r.i) else int(r.i): r for r in out.itertuples()}
    assert by_i[2**60].s == 'say "hi", then\nleave' and by_i[2**60].f == 0.1 + 0.2 and bool(by_i[2**60].b) is True
    assert by_i[2**60].t == pd.Timestamp("2024-01-05 10:00:00.123456")
    assert by_i[None].s == "" and by_i[None].f == 1e-20 and bool(by_i[None].b) is False and pd.isna(by_i[None].t)
    assert pd.isna(by_i[-1].s) and pd.isna(by_i[-1].f) and pd.isna(by_i[-1].b)
    assert by_i[0].f == 123456789.123456789 and by_i[0].t == pd.Timestamp("2024-01-01")
    # A text that looks like a NULL marker is text; nanoseconds are truncated to microseconds.
    assert by_i[7].s == "\\N" and by_i[7].t == pd.Timestamp("2024-01-02 00:00:00.123456")


def count_database_reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """From now on, every read that goes to the database (not through the run's cache) is appended."""
    fetched: list[object] = []
    real_read = Warehouse.read

    def counting_read(self: Warehouse, *args: object, **kwargs: object) -> pd.DataFrame:
        if kwargs.get("cache_scope") is None:
            fetched.append(args)
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Warehouse, "read", counting_read)
    return fetched


def test_a_run_scoped_read_is_reused_for_covered_windows_and_forgotten_on_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from saas_metrics.warehouse import store

    monkeypatch.setattr(store, "_READ_CACHE", store.ReadCache(min_rows=1))
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'c.db'}")
    warehouse.replace(KPI_MONTHLY, pd.concat([rows("2024-01-01", [1, 2]), rows("2024-02-01", [3])]), (JAN, MAR))
    first = warehouse.read(KPI_MONTHLY, (JAN, MAR), columns=["metric", "value"], cache_scope="run-1")
    assert sorted(first["value"]) == [1, 2, 3] and list(first.columns) == ["metric", "value"]

    fetched = count_database_reads(monkeypatch)
    # A narrower window and fewer columns of the same run: sliced from memory, no database read.
    feb = warehouse.read(KPI_MONTHLY, (FEB, MAR), columns=["value"], cache_scope="run-1")
    assert feb["value"].tolist() == [3] and fetched == []
    # Another run, more columns or a wider window: read from the database.
    warehouse.read(KPI_MONTHLY, (FEB, MAR), columns=["value"], cache_scope="run-2")
    warehouse.read(KPI_MONTHLY, (JAN, MAR), columns=["metric", "value", "unit"], cache_scope="run-2")
    assert len(fetched) == 2
    # A write forgets the table: the next read sees the new rows.
    warehouse.replace(KPI_MONTHLY, rows("2024-02-01", [7]), (FEB, MAR))
    after = warehouse.read(KPI_MONTHLY, (FEB, MAR), columns=["metric", "value", "unit"], cache_scope="run-2")
    assert after["value"].tolist() == [7] and len(fetched) == 3


def test_written_rows_are_the_runs_read_and_a_subset_copy_is_derived_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from saas_metrics.warehouse import store

    monkeypatch.setattr(store, "_READ_CACHE", store.ReadCache(min_rows=1))
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    raw = TableSchema("raw_x", (Column("month", "date"), Column("id", "str"), Column("t", "datetime"), Column("bad", "str")),
                      time_column="month")
    stg = TableSchema("stg_x", (Column("month", "date"), Column("id", "str"), Column("t", "datetime")), time_column="month")
    frame = pd.DataFrame({"month": ["2024-01-01"] * 3, "id": ["a", "b", "c"],
                          "t": ["2024-01-02 03:04:05.123456", None, "2024-01-03"], "bad": [None, "dup", None]})
    warehouse.replace(raw, frame, (JAN, FEB), cache_scope="run-1")
    warehouse.ensure_view(stg, raw, where_sql='"bad" IS NULL')
    assert warehouse.cache_subset(stg, raw, (JAN, FEB), "run-1", keep=lambda f: f["bad"].isna())

    def no_database(*args: object, **kwargs: object) -> None:
        raise AssertionError("read from the database")

    monkeypatch.setattr(Warehouse, "has_table", no_database)
    cached = warehouse.read(stg, (JAN, FEB), cache_scope="run-1")
    monkeypatch.undo()
    monkeypatch.setattr(store, "_READ_CACHE", store.ReadCache(min_rows=1))
    # The cached rows are exactly what the database gives back.
    pd.testing.assert_frame_equal(cached, warehouse.read(stg, (JAN, FEB)))
    assert cached["id"].tolist() == ["a", "c"]

    # A frame with nanoseconds would not read back as written: it is not kept.
    precise = frame.assign(t=pd.to_datetime(["2024-01-02 03:04:05.123456789", None, None]))
    warehouse.replace(raw, precise, (JAN, FEB), cache_scope="run-2")
    assert not warehouse.cache_subset(stg, raw, (JAN, FEB), "run-2", keep=lambda f: f["bad"].isna())


def test_present_values_are_found_by_the_database_outside_the_window(warehouse: Warehouse) -> None:
    schema = TableSchema("ids", (Column("month", "date"), Column("id", "str"), Column("bad", "str")), time_column="month")
    warehouse.replace(schema, pd.DataFrame({
        "month": ["2024-01-01", "2024-01-01", "2024-02-01", "2024-02-01"], "id": ["a", "b", "c", "b"],
        "bad": [None, "duplicate", None, None],
    }), (JAN, MAR))
    probe = ["a", "b", "c", "z", "a"]
    assert warehouse.present_values(schema, "id", probe) == {"a", "b", "c"}
    # Outside February, clean rows only: "b" of January is quarantined, "c" is in February.
    assert warehouse.present_values(schema, "id", probe, outside=(FEB, MAR), where_sql='"bad" IS NULL') == {"a"}
    assert warehouse.present_values(schema, "id", []) == frozenset()
    # Twice on the same pooled connection: the temporary table does not linger.
    assert warehouse.present_values(schema, "id", ["c"], outside=(JAN, FEB)) == {"c"}
    assert warehouse.present_values(TableSchema("absent", schema.columns), "id", probe) == frozenset()
    # The probed column got an index (made once), so a probe does not scan the table's history.
    def index_names() -> dict[str, list[str]]:
        return {i["name"]: i["column_names"] for i in sa.inspect(warehouse.engine).get_indexes("ids")}

    assert index_names()["ix_ids_id"] == ["id"]
    # A window holding every stored month has nothing outside it: answered from the month range alone.
    assert warehouse.month_range("ids") == (JAN, FEB) and warehouse.first_month("ids") == JAN
    assert warehouse.present_values(schema, "id", probe, outside=(JAN, MAR)) == frozenset()
    assert warehouse.present_values(schema, "id", probe, outside=(FEB, dt.date(2024, 4, 1))) == {"a", "b"}
    assert warehouse.month_range("absent") is None
    # Loading the whole table again drops that index (the next probe builds it again, in one sort)
    # and keeps the month index; the answers stay the same.
    whole = warehouse.read(schema)
    warehouse.replace(schema, whole, (JAN, MAR))
    assert set(index_names()) == {"ix_ids_month"}
    assert warehouse.present_values(schema, "id", probe, outside=(FEB, MAR), where_sql='"bad" IS NULL') == {"a"}
    assert index_names()["ix_ids_id"] == ["id"]


def test_present_values_within_a_window_go_through_its_months_only(warehouse: Warehouse) -> None:
    """A probe within a month window (a backfill's earlier batch, :mod:`saas_metrics.defs.batch_ids`)
    answers from that window's rows, honours the row filter, and builds no index on the column."""
    schema = TableSchema("within_ids", (Column("month", "date"), Column("id", "str"), Column("bad", "str")), time_column="month")
    warehouse.replace(schema, pd.DataFrame({
        "month": ["2024-01-01", "2024-01-01", "2024-02-01", "2024-02-01", "2024-03-01"],
        "id": ["a", "b", "c", "b", "d"], "bad": [None, "duplicate", None, None, None],
    }), (JAN, dt.date(2024, 4, 1)))
    probe = ["a", "b", "c", "d", "z", "a"]
    assert warehouse.present_values(schema, "id", probe, within=(JAN, FEB)) == {"a", "b"}
    assert warehouse.present_values(schema, "id", probe, within=(JAN, FEB), where_sql='"bad" IS NULL') == {"a"}
    assert warehouse.present_values(schema, "id", probe, within=(FEB, dt.date(2024, 4, 1))) == {"b", "c", "d"}
    assert warehouse.present_values(schema, "id", ["z"], within=(JAN, MAR)) == frozenset()
    assert warehouse.present_values(schema, "id", [], within=(JAN, MAR)) == frozenset()
    assert warehouse.present_values(TableSchema("absent", schema.columns), "id", probe, within=(JAN, MAR)) == frozenset()
    indexes = {i["name"] for i in sa.inspect(warehouse.engine).get_indexes("within_ids")}
    assert indexes == {"ix_within_ids_month"}
    with pytest.raises(ValueError, match="outside or within"):
        warehouse.present_values(schema, "id", probe, outside=(JAN, FEB), within=(FEB, MAR))


def _index_definitions(warehouse: Warehouse, table: str) -> dict[str, str]:
    with warehouse.engine.connect() as conn:
        return dict(store._index_definitions(conn, table))


def test_a_big_window_rebuilds_the_probe_index_after_its_rows_a_month_keeps_it(
        warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backfill batch loads its rows without the probe index and builds it again in the same
    transaction; a month among many writes through it. Either way the index is there after the write
    and the probes answer the same."""
    schema = TableSchema("sessions", (Column("month", "date"), Column("id", "str")), time_column="month")
    months = [dt.date(2024 + m // 12, m % 12 + 1, 1) for m in range(15)]  # 2024-01 .. 2025-03
    warehouse.replace(schema, pd.DataFrame({"month": months[:10], "id": [f"s{m}" for m in range(1, 11)]}), (months[0], months[10]))
    assert warehouse.present_values(schema, "id", ["s1", "s11"], outside=(months[10], months[11])) == {"s1"}  # builds the index
    definition = _index_definitions(warehouse, "sessions")["ix_sessions_id"]
    rebuilt: list[list[tuple[str, str]]] = []
    drop = Warehouse._drop_probe_indexes

    def recorded(self: Warehouse, conn: object, table: str) -> list[tuple[str, str]]:
        dropped = drop(self, conn, table)  # type: ignore[arg-type]
        rebuilt.append(dropped)
        return dropped

    monkeypatch.setattr(Warehouse, "_drop_probe_indexes", recorded)
    # One month after ten (1 * 8 < 10): kept during the write, not built again.
    warehouse.replace(schema, pd.DataFrame({"month": [months[10]], "id": ["s11"]}), (months[10], months[11]))
    assert rebuilt == []
    # Three months after eleven (3 * 8 >= 11): dropped, loaded, built again (its own statement) before the commit.
    warehouse.replace(schema, pd.DataFrame({"month": months[11:14], "id": ["s12", "s13", "s1"]}), (months[11], months[14]))
    assert rebuilt == [[("ix_sessions_id", definition)]]
    indexes = {i["name"]: i["column_names"] for i in sa.inspect(warehouse.engine).get_indexes("sessions")}
    assert indexes == {"ix_sessions_month": ["month"], "ix_sessions_id": ["id"]}
    assert _index_definitions(warehouse, "sessions")["ix_sessions_id"] == definition
    assert warehouse.present_values(schema, "id", ["s1", "s12", "zz"], outside=(months[11], months[14])) == {"s1"}
    assert warehouse.count("sessions") == 14


def test_a_readers_partial_index_is_dropped_by_big_loads_and_made_again_by_its_reader(warehouse: Warehouse) -> None:
    """A reader's partial index keeps its WHERE; asking for it under another name of the same
    prefix replaces it; a big window's load drops it with the probe indexes but builds only the
    probe index again, and the reader's next ensure_index makes it again, partial as before."""
    schema = TableSchema("usage", (Column("month", "date"), Column("id", "str"), Column("event", "str"),
                                   Column("bad", "str")), time_column="month")
    months = [dt.date(2024, m, 1) for m in range(1, 13)]
    frame = pd.DataFrame({"month": months[:10], "id": [f"u{m}" for m in range(10)], "event": ["it's"] * 5 + ["other"] * 5,
                          "bad": [None] * 9 + ["quarantined"]})
    warehouse.replace(schema, frame, (months[0], months[10]))
    prefix = store.reader_index_prefix("usage", "events_")
    assert prefix == "ix_usage_for_events_"
    literal = store.sql_string("it's")
    assert literal == "'it''s'"
    where = f'"event" = {literal} AND "bad" IS NULL'
    warehouse.ensure_index("usage", ("id", "month"), name=prefix + "a", where_sql=where, replacing=prefix)
    warehouse.ensure_index("usage", "id")  # the probe index
    definitions = _index_definitions(warehouse, "usage")
    assert set(definitions) == {"ix_usage_month", "ix_usage_id", prefix + "a"}
    assert "WHERE" in definitions[prefix + "a"].upper() and "it''s" in definitions[prefix + "a"]
    # Another setting's index of the same reader replaces it.
    warehouse.ensure_index("usage", ("id",), name=prefix + "b", where_sql='"event" = \'other\'', replacing=prefix)
    assert set(_index_definitions(warehouse, "usage")) == {"ix_usage_month", "ix_usage_id", prefix + "b"}
    with warehouse.engine.connect() as conn:
        rows = conn.execute(sa.text('SELECT COUNT(*) FROM "usage" WHERE "event" = \'other\'')).scalar_one()
    assert rows == 5
    # Three months after ten outweigh the rest: both dropped, only the probe index built again.
    warehouse.replace(schema, frame.assign(month=months[9]).head(3).assign(id=["x", "y", "z"]), (months[9], dt.date(2025, 1, 1)))
    assert set(_index_definitions(warehouse, "usage")) == {"ix_usage_month", "ix_usage_id"}
    warehouse.ensure_index("usage", ("id",), name=prefix + "b", where_sql='"event" = \'other\'', replacing=prefix)
    assert "WHERE" in _index_definitions(warehouse, "usage")[prefix + "b"].upper()
    # Loaded whole again: every index but the month's dropped, none built by the load.
    warehouse.replace(schema, warehouse.read(schema), (months[0], dt.date(2025, 1, 1)))
    assert set(_index_definitions(warehouse, "usage")) == {"ix_usage_month"}


@pytest.mark.parametrize(("window", "stored", "rebuilds"), [
    ((dt.date(2024, 12, 1), dt.date(2025, 1, 1)), (dt.date(2022, 1, 1), dt.date(2024, 11, 1)), False),  # 1 of 36 months
    ((dt.date(2024, 1, 1), dt.date(2025, 1, 1)), (dt.date(2023, 1, 1), dt.date(2023, 12, 1)), True),  # 12 after 12
    ((dt.date(2024, 1, 1), dt.date(2024, 4, 1)), (dt.date(2022, 1, 1), dt.date(2023, 12, 1)), True),  # 3 after 24: 3 * 8 >= 24
    ((dt.date(2024, 1, 1), dt.date(2024, 4, 1)), (dt.date(2021, 1, 1), dt.date(2023, 12, 1)), False),  # 3 after 36
    ((dt.date(2024, 1, 1), dt.date(2024, 3, 1)), (dt.date(2023, 1, 1), dt.date(2023, 12, 1)), True),  # 2 after 12: 16 >= 12
    ((dt.date(2024, 1, 1), dt.date(2024, 2, 1)), (dt.date(2023, 1, 1), dt.date(2023, 12, 1)), False),  # 1 after 12: 8 < 12
    # a window amid the stored months counts the months on both sides, and not its own stored ones
    ((dt.date(2023, 6, 1), dt.date(2023, 7, 1)), (dt.date(2023, 1, 1), dt.date(2023, 8, 1)), True),  # 1 against 7
    ((dt.date(2023, 6, 1), dt.date(2023, 7, 1)), (dt.date(2023, 1, 1), dt.date(2023, 12, 1)), False),  # 1 against 11
    ((dt.date(2024, 1, 1), dt.date(2024, 2, 1)), None, True),  # nothing stored
])
def test_which_writes_outweigh_the_rest_of_the_table(window: tuple[dt.date, dt.date],
                                                     stored: tuple[dt.date, dt.date] | None, rebuilds: bool) -> None:
    assert store._outweighs_the_rest(window, stored) is rebuilds


def test_distinct_values_come_from_the_database_once_each(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = TableSchema("rates", (Column("month", "date"), Column("currency", "str"), Column("bad", "str")), time_column="month")
    warehouse.replace(schema, pd.DataFrame({
        "month": ["2024-01-01"] * 5 + ["2024-02-01"] * 3, "currency": ["EUR", "GBP", "EUR", None, "JPY", "EUR", "GBP", "EUR"],
        "bad": [None, None, None, None, "unknown currency", None, None, None],
    }), (JAN, MAR))
    fetched: list[int] = []
    query = Warehouse.query

    def counted(self: Warehouse, *args: object, **kwargs: object) -> pd.DataFrame:
        out = query(self, *args, **kwargs)  # type: ignore[arg-type]
        fetched.append(len(out))
        return out

    monkeypatch.setattr(Warehouse, "query", counted)
    clean = warehouse.distinct(schema, "currency", where=warehouse.sa_table(schema).c["bad"].is_(None))
    # Each value once, null included, typed as the schema says; the quarantined JPY row is left out.
    assert sorted(clean.dropna().tolist()) == ["EUR", "GBP"] and clean.isna().sum() == 1
    assert clean.dtype == coerce_frame(pd.DataFrame({"month": [], "currency": [], "bad": []}), schema)["currency"].dtype
    assert fetched == [3], "the database collapsed the eight rows to the three values"
    assert sorted(warehouse.distinct(schema, "currency").dropna().tolist()) == ["EUR", "GBP", "JPY"]
    absent = warehouse.distinct(TableSchema("absent", schema.columns), "currency")
    assert absent.empty and absent.name == "currency"


def test_postgres_probes_each_value_in_the_index_whatever_the_statistics(postgres_url: str) -> None:
    """On an unanalysed table (autovacuum off, or right after a bulk load) EXISTS over a temporary
    table was planned as a hash join over the whole table; the probe must stay an index lookup."""
    warehouse = Warehouse(postgres_url)
    schema = TableSchema("ids", (Column("month", "date"), Column("id", "str"), Column("bad", "str")), time_column="month")
    months = pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"])).repeat(20_000).reset_index(drop=True)
    warehouse.replace(schema, pd.DataFrame({"month": months, "id": [f"id{i}" for i in range(40_000)], "bad": None}), (JAN, MAR))
    probe = [f"id{i}" for i in range(20_000, 40_000)] + ["id1", "nope"]  # February's ids, one of January's
    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        if "LATERAL" in statement:
            statements.append((statement, parameters))

    sa.event.listen(warehouse.engine, "before_cursor_execute", remember)
    try:
        assert warehouse.present_values(schema, "id", probe, outside=(FEB, MAR), where_sql='"bad" IS NULL') == {"id1"}
    finally:
        sa.event.remove(warehouse.engine, "before_cursor_execute", remember)
    (statement, parameters), = statements
    with warehouse.engine.connect() as conn:
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars())
    # One lookup per value in the id index (an index or bitmap index scan), never a hash of the table.
    assert plan.startswith("Nested Loop") and "Index Cond: (id = p.value)" in plan and "Hash" not in plan, plan


@pytest.mark.parametrize("width", [4, 30])
def test_many_rows_round_trip_whole_multi_row_inserts_and_the_rest(warehouse: Warehouse, width: int) -> None:
    """123 rows: whole INSERTs of several rows each (as many as the variable limit allows for the
    table's width) and a remainder; every value, null and type comes back as written."""
    extra = tuple(Column(f"x{i}", "int") for i in range(width - 4))
    schema = TableSchema("many", (Column("month", "date"), Column("id", "str"), Column("at", "datetime"),
                                  Column("ok", "bool"), *extra), time_column="month")
    n = 123
    frame = pd.DataFrame({
        "month": ["2024-01-01"] * n,
        "id": [None if i % 17 == 0 else f"id-{i}" for i in range(n)],
        "at": pd.to_datetime([f"2024-01-{1 + i % 28:02d} 10:00:{i % 60:02d}.{i:06d}" for i in range(n)]),
        "ok": [None if i % 5 == 0 else i % 2 == 0 for i in range(n)],
        **{c.name: [None if i % 7 == 0 else i * j for i in range(n)] for j, c in enumerate(extra)},
    })
    assert warehouse.replace(schema, frame, (JAN, FEB)) == n
    back = warehouse.read(schema).sort_values("at").reset_index(drop=True)
    expected = coerce_frame(frame, schema).sort_values("at").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected)


def test_columns_null_in_a_whole_load_are_left_out_and_still_come_back_null(warehouse: Warehouse) -> None:
    """The SQLite path leaves a column with no value out of the INSERT: it must still read back as a
    typed null column, beside columns that are null only in some rows, and a row with no value at
    all (other than its month) is still a row."""
    schema = TableSchema("sparse", (
        Column("month", "date"), Column("id", "str"), Column("note", "str"), Column("n", "int"),
        Column("x", "float"), Column("at", "datetime"), Column("ok", "bool"),
    ), time_column="month")
    frame = pd.DataFrame({
        "month": ["2024-01-01"] * 3, "id": ["a", None, "c"], "note": [None] * 3, "n": [None, 2, None],
        "x": [None] * 3, "at": [None] * 3, "ok": [None] * 3,
    })
    assert warehouse.replace(schema, frame, (JAN, FEB)) == 3
    back = warehouse.read(schema).sort_values("id", na_position="last").reset_index(drop=True)
    expected = coerce_frame(frame, schema).sort_values("id", na_position="last").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected)
    assert back["note"].isna().all() and back["x"].isna().all() and back["at"].isna().all()
    assert back.loc[2, "n"] == 2 and pd.isna(back.loc[0, "n"])

    empty_row = TableSchema("empty_row", (Column("id", "str"), Column("n", "int")))
    assert warehouse.replace(empty_row, pd.DataFrame({"id": [None, None], "n": [None, None]})) == 2
    assert len(warehouse.read(empty_row)) == 2


def test_month_range_is_two_index_lookups_not_a_scan(tmp_path: Path) -> None:
    """MIN and MAX in one SELECT make SQLite scan the whole month index; the range query must
    search it (one lookup at each end), for a table and for a view over it."""
    from saas_metrics.warehouse.store import _MONTH_RANGE_SQL

    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    warehouse.replace(KPI_MONTHLY, pd.concat([rows("2024-01-01", [1, 2]), rows("2024-03-01", [3])]), (JAN, dt.date(2024, 4, 1)))
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text('CREATE VIEW "kpi_view" AS SELECT * FROM "kpi_monthly" WHERE "value" > 1'))
    assert warehouse.month_range("kpi_monthly") == (JAN, MAR)
    assert warehouse.month_range("kpi_view") == (JAN, MAR)
    with warehouse.engine.connect() as conn:
        for name in ("kpi_monthly", "kpi_view"):
            plan = [row[-1] for row in conn.execute(sa.text("EXPLAIN QUERY PLAN " + _MONTH_RANGE_SQL.format(column="month", table=name)))]
            assert not [step for step in plan if step.startswith("SCAN kpi_monthly")], plan
            assert sum(step.startswith("SEARCH kpi_monthly USING") for step in plan) == 2, plan


def test_a_cache_told_the_columns_read_keeps_only_those_and_reads_others_from_the_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from saas_metrics.warehouse import store

    cache = store.ReadCache(min_rows=1)
    monkeypatch.setattr(store, "_READ_CACHE", cache)
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'k.db'}", read_columns={"stg_x": ["id"]})
    assert warehouse.read_columns == {"stg_x": {"id", "month"}}
    raw = TableSchema("raw_x", (Column("month", "date"), Column("id", "str"), Column("t", "datetime"), Column("bad", "str")),
                      time_column="month")
    stg = TableSchema("stg_x", (Column("month", "date"), Column("id", "str"), Column("t", "datetime")), time_column="month")
    clean = pd.DataFrame({"month": ["2024-01-01"] * 3, "id": ["a", "b", "c"], "t": ["2024-01-02", None, "2024-01-03"],
                          "bad": [None, None, None]})
    warehouse.replace(raw, clean, (JAN, FEB), cache_scope="run-1")  # raw_x: not declared, kept whole
    warehouse.ensure_view(stg, raw, where_sql='"bad" IS NULL')
    assert warehouse.cache_subset(stg, raw, (JAN, FEB), "run-1", keep=lambda f: f["bad"].isna())

    fetched = count_database_reads(monkeypatch)
    # Every row is clean: the subset is every row, of the declared column only.
    ids = warehouse.read(stg, (JAN, FEB), columns=["id"], cache_scope="run-1")
    assert ids["id"].tolist() == ["a", "b", "c"] and fetched == []
    # A column nobody declared is not in memory: the read goes to the database, and gets it right.
    whole = warehouse.read(stg, (JAN, FEB), cache_scope="run-1")
    assert len(fetched) == 1 and whole["t"].notna().tolist() == [True, False, True]
    # A later read of the whole table is not cached whole either (its entry keeps the declared column).
    warehouse.read(stg, (JAN, FEB), columns=["id", "t"], cache_scope="run-1")
    assert len(fetched) == 2
    assert warehouse.read(stg, (JAN, FEB), columns=["id"], cache_scope="run-1")["id"].tolist() == ["a", "b", "c"]
    assert len(fetched) == 2


def test_replace_where_a_list_replaces_the_rows_of_each_value(warehouse: Warehouse) -> None:
    schema = TableSchema("by_as_of", (Column("as_of_month", "date"), Column("v", "float")))
    warehouse.replace(schema, pd.DataFrame({"as_of_month": [JAN, FEB, MAR], "v": [1.0, 2.0, 3.0]}))
    warehouse.replace(schema, pd.DataFrame({"as_of_month": [FEB, MAR], "v": [20.0, 30.0]}), where={"as_of_month": [FEB, MAR]})
    assert warehouse.read(schema).sort_values("v")["v"].tolist() == [1.0, 20.0, 30.0]
    warehouse.replace(schema, pd.DataFrame({"as_of_month": [JAN], "v": [10.0]}), where={"as_of_month": JAN})
    assert warehouse.read(schema).sort_values("v")["v"].tolist() == [10.0, 20.0, 30.0]


def test_the_read_cache_is_bounded_by_memory_and_a_month_read_slices_a_held_range(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from saas_metrics.warehouse import read_cache, store

    schema = TableSchema("events", (Column("month", "date"), Column("v", "float")), time_column="month")
    two_months = coerce_frame(pd.DataFrame({"month": [JAN] * 3 + [FEB] * 2, "v": [1.0, 2.0, 3.0, 4.0, 5.0]}), schema)
    size = read_cache.frame_bytes(two_months)
    assert size == 5 * 8 + 5 * 8  # a datetime64 and a float64 column, 8 bytes a value
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'b.db'}")
    # A cache smaller than the range: the range is written but not held, and each month is read from the database.
    monkeypatch.setattr(store, "_READ_CACHE", store.ReadCache(min_rows=1, max_bytes=size - 1))
    warehouse.replace(schema, two_months, (JAN, MAR), cache_scope="run-1")
    fetched = count_database_reads(monkeypatch)
    assert warehouse.read_month(schema, FEB, cache_scope="run-1")["v"].tolist() == [4.0, 5.0]
    assert len(fetched) == 1
    # Large enough: each month is sliced from the range the write left in memory.
    monkeypatch.setattr(store, "_READ_CACHE", store.ReadCache(min_rows=1, max_bytes=size))
    warehouse.replace(schema, two_months, (JAN, MAR), cache_scope="run-2")
    assert warehouse.read_month(schema, JAN, columns=["v"], cache_scope="run-2")["v"].tolist() == [1.0, 2.0, 3.0]
    assert warehouse.read_month(schema, FEB, cache_scope="run-2")["v"].tolist() == [4.0, 5.0]
    assert len(fetched) == 1


def test_a_window_of_rows_in_time_order_is_a_slice_and_of_mixed_rows_a_gather() -> None:
    from saas_metrics.warehouse.read_cache import rows_of_window

    ordered = pd.DataFrame({"month": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01", "2024-03-01"]),
                            "v": [1.0, 2.0, 3.0, 4.0]})
    february = rows_of_window(ordered, (FEB, MAR))
    assert february["v"].tolist() == [2.0, 3.0] and list(february.index) == [0, 1]
    assert np.shares_memory(february["v"].to_numpy(), ordered["v"].to_numpy())  # a view, not a copy
    mixed = ordered.iloc[[1, 0, 3, 2]].reset_index(drop=True)
    assert rows_of_window(mixed, (FEB, MAR))["v"].tolist() == [2.0, 3.0]
    assert rows_of_window(mixed, (JAN, FEB))["v"].tolist() == [1.0]
    assert rows_of_window(ordered, (dt.date(2023, 1, 1), JAN)).empty


def test_stored_columns_answer_as_the_inspector_does(warehouse: Warehouse) -> None:
    """One catalog query gives a table's or a view's columns in order, and None for a missing name,
    where SQLAlchemy's inspector agrees (also for a name that needs quoting and a dropped column)."""
    from saas_metrics.warehouse.engine import stored_columns

    warehouse.ensure_table(KPI_MONTHLY)
    view = TableSchema("kpi_counts", tuple(KPI_MONTHLY.column(c) for c in ("month", "metric", "value")))
    warehouse.ensure_view(view, KPI_MONTHLY, where_sql="unit = 'count'")
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text('CREATE TABLE "odd ""name" (a TEXT, "b c" TEXT, gone TEXT)'))
        if warehouse.dialect == "postgresql":
            conn.execute(sa.text('ALTER TABLE "odd ""name" DROP COLUMN gone'))
    odd = ["a", "b c"] if warehouse.dialect == "postgresql" else ["a", "b c", "gone"]
    with warehouse.engine.connect() as conn:
        inspector = sa.inspect(conn)
        for name, expected in ((KPI_MONTHLY.name, KPI_MONTHLY.column_names), ("kpi_counts", view.column_names),
                               ('odd "name', odd), ("no_such_table", None)):
            assert stored_columns(conn, name) == (None if expected is None else list(expected))
            assert (stored_columns(conn, name) is not None) is inspector.has_table(name)
            assert warehouse.has_table(name) is (expected is not None)
            if expected is not None:
                assert stored_columns(conn, name) == [c["name"] for c in inspector.get_columns(name)]


def test_ensure_table_adds_a_newer_schemas_columns_and_locks_nothing_for_a_current_table(
        warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    from saas_metrics.warehouse import store

    locks: list[str] = []
    real_lock = store.lock_table
    monkeypatch.setattr(store, "lock_table", lambda conn, name: (locks.append(name), real_lock(conn, name)))
    old = TableSchema("evolving", (Column("month", "date", ""), Column("a", "str", "")), time_column="month")
    new = TableSchema("evolving", (*old.columns, Column("b", "float", "")), time_column="month")
    warehouse.ensure_table(old)
    assert locks == ["evolving"]  # created under the table's lock
    warehouse.ensure_table(old)
    assert locks == ["evolving"]  # current: looked at, nothing locked
    warehouse.ensure_table(new)
    assert locks == ["evolving", "evolving"]  # a newer schema's column is added under the lock
    with warehouse.engine.connect() as conn:
        assert [c["name"] for c in sa.inspect(conn).get_columns("evolving")] == ["month", "a", "b"]
    warehouse.replace(new, pd.DataFrame({"month": [dt.date(2024, 1, 1)], "a": ["x"], "b": [1.5]}), (JAN, FEB))
    assert warehouse.read(new)["b"].tolist() == [1.5]


def test_a_cached_read_gives_the_rows_in_the_order_the_database_gives_them(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame written platform by platform across months (as an ads export is) comes back by month,
    the rows of a month in their written order, whether the run's read cache or the database answers:
    a float sum over a month depends on the order of its terms."""
    from saas_metrics.warehouse import store

    monkeypatch.setattr(store, "_READ_CACHE", store.ReadCache())
    interleaved = pd.concat([rows("2024-01-01", [0.1, 0.2]), rows("2024-02-01", [0.3]), rows("2024-01-01", [0.7]),
                             rows("2024-02-01", [0.11, 1e16])], ignore_index=True)
    for window in ((JAN, MAR), None):
        warehouse.replace(KPI_MONTHLY, interleaved, window, cache_scope="run-1")
        from_cache = warehouse.read(KPI_MONTHLY, (FEB, MAR), cache_scope="run-1")
        from_database = warehouse.read(KPI_MONTHLY, (FEB, MAR))
        pd.testing.assert_frame_equal(from_cache, from_database)
        assert from_database["value"].tolist() == [0.3, 0.11, 1e16]
        whole = warehouse.read(KPI_MONTHLY)
        pd.testing.assert_frame_equal(warehouse.read(KPI_MONTHLY, cache_scope="run-1"), whole)
        assert whole["value"].tolist() == [0.1, 0.2, 0.7, 0.3, 0.11, 1e16]
