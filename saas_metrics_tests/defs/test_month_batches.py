"""A raw step validates and stores a run's window in batches of months (its memory follows the
largest month): the stored rows, the quarantine and the check verdicts are those of one validation
of the whole window, including a duplicate id in two different months of the run."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from saas_metrics.calendar import add_months
from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.definitions import build_definitions
from saas_metrics.defs import source_assets, source_reads
from saas_metrics.defs.partitions import partition_key
from saas_metrics.defs.source_assets import raw_storage_schema, stg_storage_schema
from saas_metrics.defs.source_reads import month_batches
from saas_metrics.metrics.funnel import SESSION_COLUMNS
from saas_metrics.metrics.usage import USAGE_COLUMNS
from saas_metrics.quality.accounting import SOURCE_ROW_ACCOUNTING
from saas_metrics.quality.quarantine import QUARANTINED_ROWS
from saas_metrics.runner import JOB_NAME
from saas_metrics.warehouse.store import Warehouse
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings

START = add_months(END_MONTH, -11)
TABLES = ("web_sessions", "product_usage")
DAY_US = 86_400 * 10**6


def test_batches_are_whole_months_of_at_most_the_budget() -> None:
    window = (dt.date(2024, 1, 1), dt.date(2024, 6, 1))
    counts = {dt.date(2024, 1, 1): 3, dt.date(2024, 2, 1): 3, dt.date(2024, 3, 1): 9, dt.date(2024, 5, 1): 1}
    assert month_batches(window, counts, 6) == [
        (dt.date(2024, 1, 1), dt.date(2024, 3, 1)),  # 3 + 3
        (dt.date(2024, 3, 1), dt.date(2024, 4, 1)),  # one month over the budget is a batch of its own
        (dt.date(2024, 4, 1), dt.date(2024, 6, 1)),  # an empty month and 1
    ]
    assert month_batches(window, counts, 100) == [window]
    assert month_batches((dt.date(2024, 1, 1), dt.date(2024, 2, 1)), {}, 1) == [(dt.date(2024, 1, 1), dt.date(2024, 2, 1))]


@pytest.fixture(scope="module")
def sources_with_a_cross_month_duplicate(small_sources: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small company, plus a web session whose id is also the id of a session two months
    earlier (appended at the end of the file: the later row is the duplicate either way)."""
    out = tmp_path_factory.mktemp("dup_sources")
    shutil.copytree(small_sources, out, dirs_exist_ok=True)
    path = out / "web" / "sessions.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    early = next(r for r in rows if r["event_date"].startswith(f"{START.year}{START.month:02d}"))
    moved = dt.datetime.fromtimestamp(int(early["event_timestamp"]) / 1e6, dt.UTC) + dt.timedelta(days=62)
    copy = {**early, "event_date": moved.strftime("%Y%m%d"), "event_timestamp": str(int(early["event_timestamp"]) + 62 * DAY_US)}
    with path.open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=list(rows[0])).writerow(copy)
    return out


def _recording_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[int | None, list[int]]]:
    """Per table read by the raw steps: the rows its PlacedRead announced before reading, and the
    rows of each batch it then gave."""
    seen: dict[str, tuple[int | None, list[int]]] = {}
    place = source_assets.read_placed

    def recording(context, table, sources, now, max_rows=None):  # type: ignore[no-untyped-def]
        placed = place(context, table, sources, now, max_rows)
        batches: list[int] = []
        seen[table] = (placed.rows, batches)

        def counted(window: source_reads.Window | None) -> pd.DataFrame:
            frame = placed.rows_of(window)
            batches.append(len(frame))
            return frame

        return dataclasses.replace(placed, rows_of=counted)

    monkeypatch.setattr(source_assets, "read_placed", recording)
    return seen


def _run(sources: Path, tmp_path: Path, name: str, max_rows: int, monkeypatch: pytest.MonkeyPatch,
         landing_cache: bool) -> tuple[str, dict[tuple[str, str], bool], list[str], str, dg.DagsterInstance]:
    url = f"sqlite:///{tmp_path / name}.db"
    monkeypatch.setattr(source_reads, "BATCH_ROWS", max_rows)
    settings = make_settings(sources, url, start=START, end=END_MONTH, quality={"data_docs": False},
                             landing_cache_dir=tmp_path / f"{name}_landing" if landing_cache else None)
    selection = [dg.AssetKey(f"{layer}_{t}") for t in (*TABLES, "product_accounts") for layer in ("raw", "stg")]
    instance = ephemeral_instance()
    result = build_definitions(settings).resolve_job_def(JOB_NAME).execute_in_process(
        instance=instance, asset_selection=selection, raise_on_error=False,
        tags={ASSET_PARTITION_RANGE_START_TAG: partition_key(START), ASSET_PARTITION_RANGE_END_TAG: partition_key(END_MONTH)})
    assert result.success
    verdicts = {(e.asset_check_evaluation_data.asset_key.to_user_string(), e.asset_check_evaluation_data.check_name):
                e.asset_check_evaluation_data.passed
                for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION}
    logs = [e.user_message for e in instance.all_logs(result.run_id) if "batches of months" in e.user_message]
    return url, verdicts, logs, result.run_id, instance


def _stored(url: str, table: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    wh = Warehouse(url)
    raw = wh.read(raw_storage_schema(table)).sort_values(["_source_file", "_source_line"]).reset_index(drop=True)
    quarantined = wh.read(QUARANTINED_ROWS)
    quarantined = quarantined[quarantined["table_name"] == table]
    quarantined = (quarantined[["month", "source_file", "source_line", "rule", "column_name"]]
                   .sort_values(["source_file", "source_line"]).reset_index(drop=True))
    accounting = wh.read(SOURCE_ROW_ACCOUNTING)
    accounting = accounting[accounting["table_name"] == table]
    return raw, quarantined, accounting


@pytest.mark.parametrize("landing_cache", [True, False], ids=["landing_cache", "files"])
def test_month_batches_store_and_judge_as_one_validation(sources_with_a_cross_month_duplicate: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, landing_cache: bool) -> None:
    sources = sources_with_a_cross_month_duplicate
    whole_url, whole, whole_logs, _, _ = _run(sources, tmp_path, "whole", 10**9, monkeypatch, landing_cache)
    reads = _recording_reads(monkeypatch)
    landed: list[tuple[str, bool]] = []
    read_landed = source_reads.read_landed

    def recording_landed(table, *args, all_times=True, **kwargs):  # type: ignore[no-untyped-def]
        landed.append((table, all_times))
        return read_landed(table, *args, all_times=all_times, **kwargs)

    monkeypatch.setattr(source_reads, "read_landed", recording_landed)
    probes: list[tuple[str, tuple[dt.date, dt.date] | None, tuple[dt.date, dt.date] | None, list[str]]] = []
    present_values = Warehouse.present_values

    def recording_probe(self, schema, column, values, *, outside=None, within=None, where_sql=""):  # type: ignore[no-untyped-def]
        probes.append((schema.name, outside, within, sorted(values)))
        return present_values(self, schema, column, values, outside=outside, within=within, where_sql=where_sql)

    monkeypatch.setattr(Warehouse, "present_values", recording_probe)
    batched_url, batched, batched_logs, run_id, instance = _run(sources, tmp_path, "batched", 1, monkeypatch, landing_cache)
    # Each batch asked the database about the stored months outside the run (none: answered from
    # the month range); about the earlier batches only for the one id whose hash is among theirs,
    # within the month it came from (defs/batch_ids.py). The id's index was built once, at the end.
    sessions = [p for p in probes if p[0] == "raw_web_sessions"]
    window = (START, add_months(END_MONTH, 1))
    assert len(sessions) == 12 + 1
    assert all(outside == window for _, outside, within, _ in sessions if within is None)
    raw_sessions = _stored(batched_url, "web_sessions")[0]
    duplicate_id = raw_sessions.loc[raw_sessions["_quarantine_rule"] == "duplicate", "session_id"].tolist()
    assert len(duplicate_id) == 1
    assert [(within, values) for _, _, within, values in sessions if within is not None] == [
        ((START, add_months(START, 1)), duplicate_id)]
    indexes = {i["name"] for i in sa.inspect(Warehouse(batched_url).engine).get_indexes("raw_web_sessions")}
    assert "ix_raw_web_sessions_session_id" in indexes
    if landing_cache:
        # Every row's time is read once, by the first read; each batch then reads its own rows only
        # (reading them all again per batch made a backfill's reads grow with batches x history).
        for table in TABLES:
            assert [all_times for t, all_times in landed if t == table] == [True] + [False] * 12
    # The rows a batched read announces (what the read cache projects a table's size from) are
    # the rows its batches then give, before validation.
    for table in TABLES:
        announced, batch_rows = reads[table]
        assert len(batch_rows) == 12 and min(batch_rows) > 0
        assert announced == sum(batch_rows)
    assert not whole_logs
    assert len(batched_logs) == len(TABLES) and all("in 12 batches" in m for m in batched_logs)  # one month a batch
    assert batched == whole
    assert whole[("raw_web_sessions", "web_sessions_row_rules")] is False  # the duplicate is caught
    for table in TABLES:
        raw_whole, quarantined_whole, accounting_whole = _stored(whole_url, table)
        raw_batched, quarantined_batched, accounting_batched = _stored(batched_url, table)
        reason = "_quarantine_reason"  # the duplicate's wording names the other partition instead of the line
        pd.testing.assert_frame_equal(raw_batched.drop(columns=reason), raw_whole.drop(columns=reason))
        pd.testing.assert_series_equal(raw_batched[reason].isna(), raw_whole[reason].isna())
        pd.testing.assert_frame_equal(quarantined_batched, quarantined_whole)
        counts = ["rows_read", "rows_loaded", "rows_quarantined", "rows_excluded"]
        pd.testing.assert_frame_equal(accounting_batched[counts].reset_index(drop=True),
                                      accounting_whole[counts].reset_index(drop=True))
        row = accounting_batched.iloc[0]
        assert row["rows_read"] == row["rows_loaded"] + row["rows_quarantined"] + row["rows_excluded"]
    duplicates = _stored(batched_url, "web_sessions")[1]
    assert (duplicates["rule"] == "duplicate").sum() == 1
    assert duplicates.loc[duplicates["rule"] == "duplicate", "month"].iloc[0] == pd.Timestamp(add_months(START, 2))

    # The batches' rows were gathered for the run's read cache: the run's later steps read the
    # staging rows the warehouse holds, from memory.
    window = (START, add_months(END_MONTH, 1))
    for table, columns in (("web_sessions", list(SESSION_COLUMNS)), ("product_usage", list(USAGE_COLUMNS))):
        stg = stg_storage_schema(table)
        cached = Warehouse(batched_url).cached(stg, window, columns, run_id)
        assert cached is not None, f"stg_{table} is not in the run's read cache"
        stored = Warehouse(batched_url).read(stg, window, columns=columns)
        pd.testing.assert_frame_equal(cached.reset_index(drop=True), stored.reset_index(drop=True))

    # As the UI shows them: each partition's materialization of the batched run carries that
    # month's own row count, as stored.
    for table in TABLES:
        raw = raw_storage_schema(table)
        stored_counts = Warehouse(batched_url).read(raw, columns=["month"])["month"].dt.strftime("%Y-%m-%d").value_counts()
        records = instance.fetch_materializations(dg.AssetKey(raw.name), limit=100).records
        recorded = {r.asset_materialization.partition: r.asset_materialization.metadata["dagster/row_count"].value
                    for r in records if r.asset_materialization is not None}
        months = [add_months(START, i).isoformat() for i in range(12)]
        assert sorted(recorded) == months
        assert [recorded[m] for m in months] == [int(stored_counts.get(m, 0)) for m in months]
        assert len(set(recorded.values())) > 1, "every month stamped with one figure is the old bug"
