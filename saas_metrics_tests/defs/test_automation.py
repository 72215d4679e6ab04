"""Schedules (targets for given dates) and the source-arrival sensor (new, changed, unchanged files)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from saas_metrics.defs.automation import build_automation_sensors, build_schedules, month_hashes

UTC = dt.UTC
PINNED = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", end_date="2024-07-01", fmt="%Y-%m-%d", timezone="UTC")
ROLLING = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", end_offset=1, fmt="%Y-%m-%d", timezone="UTC")


def make_job(partitions: dg.PartitionsDefinition) -> tuple[dg.AssetsDefinition, object]:
    @dg.asset(name="kpi_monthly", partitions_def=partitions)
    def kpi_monthly() -> None:
        return None

    return kpi_monthly, dg.define_asset_job("monthly_metrics_job", selection=[kpi_monthly])


def make_defs(partitions: dg.PartitionsDefinition, folder: Path | None = None) -> dg.Definitions:
    asset, job = make_job(partitions)
    sensors = build_automation_sensors(job, partitions, sources_dir=folder, **hooks()) if folder else []
    return dg.Definitions(assets=[asset], jobs=[job], schedules=build_schedules(job, partitions), sensors=sensors)


def run_schedule(defs: dg.Definitions, name: str, when: dt.datetime):
    repo = defs.get_repository_def()
    context = dg.build_schedule_context(scheduled_execution_time=when, repository_def=repo)
    return repo.get_schedule_def(name).evaluate_tick(context)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (dt.datetime(2024, 6, 2, 6, 0, tzinfo=UTC), "2024-05-01"),
        (dt.datetime(2024, 1, 2, 6, 0, tzinfo=UTC), None),  # December 2023 precedes the first partition
        (dt.datetime(2024, 7, 2, 6, 0, tzinfo=UTC), "2024-06-01"),
        (dt.datetime(2024, 8, 2, 6, 0, tzinfo=UTC), None),  # July is after the pinned end month
    ],
)
def test_monthly_schedule_targets_the_last_complete_month(when: dt.datetime, expected: str | None) -> None:
    defs = make_defs(PINNED)
    schedule = defs.get_repository_def().get_schedule_def("monthly_close_schedule")
    assert schedule.cron_schedule == "0 6 2 * *" and schedule.execution_timezone == "UTC"
    assert schedule.job_name == "monthly_metrics_job"
    data = run_schedule(defs, "monthly_close_schedule", when)
    if expected is None:
        assert data.run_requests == [] and "is not in the job's partitions" in data.skip_message
    else:
        [request] = data.run_requests
        assert request.partition_key == expected and request.run_key == f"monthly_close:{expected}"
        assert request.tags["saas_metrics/trigger"] == "monthly_close_schedule"


def test_daily_schedule_refreshes_the_month_in_progress() -> None:
    defs = make_defs(ROLLING)
    name = "daily_provisional_schedule"
    assert defs.get_repository_def().get_schedule_def(name).cron_schedule == "0 5 * * *"
    [request] = run_schedule(defs, name, dt.datetime(2024, 6, 15, 5, 0, tzinfo=UTC)).run_requests
    assert request.partition_key == "2024-06-01" and request.run_key == "daily:2024-06-01:2024-06-15"
    [request] = run_schedule(defs, name, dt.datetime(2024, 7, 1, 5, 0, tzinfo=UTC)).run_requests
    assert request.partition_key == "2024-07-01"  # the 1st already refreshes the new month
    # With pinned partitions there is no month in progress: skipped, not an error.
    assert run_schedule(make_defs(PINNED), name, dt.datetime(2024, 7, 10, 5, 0, tzinfo=UTC)).run_requests == []


def test_schedules_and_sensor_load_in_definitions(tmp_path: Path) -> None:
    defs = make_defs(PINNED, tmp_path)
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {s.name for s in repo.schedule_defs} == {"monthly_close_schedule", "daily_provisional_schedule"}
    assert repo.get_sensor_def("source_arrival_sensor").job_name == "monthly_metrics_job"


# -- source-arrival sensor on hand-written landing files ---------------------------
FILES = {"billing_invoices": "billing/invoices.csv", "billing_customers": "billing/customers.csv",
         "support_tickets": "support/tickets.csv"}
SYSTEM_OF = {"billing_invoices": "billing", "billing_customers": "billing", "support_tickets": "support"}
TIME_COLUMN_OF = {"billing_invoices": "created_at", "billing_customers": None, "support_tickets": "created_at"}


def hooks() -> dict:
    def list_files(folder: Path) -> dict[str, list[Path]]:
        return {d.name: sorted(d.glob("*.csv")) for d in sorted(folder.iterdir()) if d.is_dir()}

    def read_table(table: str, folder: Path) -> pd.DataFrame:
        path = folder / FILES[table]
        if not path.exists():
            return pd.DataFrame()
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame["_source_line"] = range(1, len(frame) + 1)
        if TIME_COLUMN_OF[table]:
            frame[TIME_COLUMN_OF[table]] = pd.to_datetime(frame[TIME_COLUMN_OF[table]], errors="coerce")
        return frame

    return {"list_files": list_files, "read_table": read_table, "system_of": SYSTEM_OF, "time_column_of": TIME_COLUMN_OF}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


INVOICES = ("invoice_id,created_at,total\n"
            "in_1,2024-02-10 09:00:00,100\n"
            "in_2,2024-03-05 12:00:00,200\n"
            "in_3,2024-03-20 12:00:00,300\n"
            "in_4,2024-04-01 00:00:00,400\n")
CUSTOMERS = "customer_id,email\ncus_1,a@x.io\ncus_2,b@y.io\n"


class Sensor:
    """Ticks the source-arrival sensor like the daemon: the cursor of each tick feeds the next."""

    def __init__(self, folder: Path) -> None:
        self.defs = make_defs(PINNED, folder)
        self.definition = self.defs.get_repository_def().get_sensor_def("source_arrival_sensor")
        self.cursor: str | None = None

    def tick(self, cursor: str | None = None):
        context = dg.build_sensor_context(cursor=cursor if cursor is not None else self.cursor, definitions=self.defs)
        result = self.definition.evaluate_tick(context)
        self.cursor = result.cursor
        return result

    def requested(self, cursor: str | None = None) -> dict[str, str]:
        return {r.partition_key: r.run_key for r in self.tick(cursor).run_requests}


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    write(folder / "billing/invoices.csv", INVOICES)
    write(folder / "billing/customers.csv", CUSTOMERS)
    return folder


def test_first_tick_records_a_baseline_then_unchanged_files_request_nothing(landing: Path) -> None:
    sensor = Sensor(landing)
    first = sensor.tick()
    assert first.run_requests == [] and "baseline of 2 landing file(s)" in first.skip_message
    second = sensor.tick()
    assert second.run_requests == [] and second.skip_message == "no source rows changed"
    # Rewriting identical content (new mtime) is not a change either.
    path = landing / "billing/invoices.csv"
    path.write_text(INVOICES)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    assert sensor.requested() == {}


def test_changed_rows_request_exactly_their_months(landing: Path) -> None:
    sensor = Sensor(landing)
    sensor.tick()
    # in_3 (March) edited, in_5 (May) appended, a new April row inserted ABOVE the others (line numbers shift).
    write(landing / "billing/invoices.csv", INVOICES.replace("in_3,2024-03-20 12:00:00,300", "in_3,2024-03-20 12:00:00,333")
          .replace("invoice_id,created_at,total\n", "invoice_id,created_at,total\nin_0,2024-04-15 08:00:00,50\n")
          + "in_5,2024-05-31 23:59:59,500\n")
    assert sensor.requested() == {"2024-03-01": "sources:2024-03-01:1", "2024-04-01": "sources:2024-04-01:1",
                                  "2024-05-01": "sources:2024-05-01:1"}
    assert sensor.requested() == {}  # the same change never triggers twice
    # Deleting February's only row changes February.
    write(landing / "billing/invoices.csv", (landing / "billing/invoices.csv").read_text().replace("in_1,2024-02-10 09:00:00,100\n", ""))
    assert sensor.requested() == {"2024-02-01": "sources:2024-02-01:2"}


def test_new_file_of_a_new_system_and_out_of_range_rows(landing: Path) -> None:
    sensor = Sensor(landing)
    sensor.tick()
    write(landing / "support/tickets.csv", "ticket_id,created_at\nt1,2024-06-03 10:00:00\nt2,2025-01-05 10:00:00\n"
          "t3,2023-11-30 10:00:00\nt4,not-a-date\n")
    # June directly; January 2025 is clamped into the last partition (June) like the raw assets place it;
    # November 2023 and the unparseable date go to the first partition (January 2024).
    result = sensor.tick()
    assert {r.partition_key for r in result.run_requests} == {"2024-01-01", "2024-06-01"}
    request = next(r for r in result.run_requests if r.partition_key == "2024-06-01")
    assert request.tags["saas_metrics/trigger"] == "source_arrival_sensor"
    assert request.tags["saas_metrics/changed_tables"] == "support_tickets"


def test_snapshot_change_requests_the_latest_partition(landing: Path) -> None:
    sensor = Sensor(landing)
    sensor.tick()
    write(landing / "billing/customers.csv", CUSTOMERS + "cus_3,c@z.io\n")
    assert sensor.requested() == {"2024-06-01": "sources:2024-06-01:1"}


def test_restart_and_retried_tick_never_double_trigger(landing: Path) -> None:
    sensor = Sensor(landing)
    sensor.tick()
    baseline = sensor.cursor
    write(landing / "billing/invoices.csv", INVOICES + "in_5,2024-05-02 00:00:00,500\n")
    first = sensor.requested(baseline)
    # A daemon crash before the cursor was stored re-evaluates the same tick: same run keys,
    # which Dagster launches once.
    retried = sensor.requested(baseline)
    assert first == retried == {"2024-05-01": "sources:2024-05-01:1"}
    # A fresh sensor object (process restart) resuming from the stored cursor requests nothing.
    restarted = Sensor(landing)
    restarted.cursor = sensor.cursor
    assert restarted.requested() == {}


def test_month_hashes_ignore_row_order_and_line_numbers() -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "t": pd.to_datetime(["2024-02-01", "2024-02-02"]), "_source_line": [1, 2]})
    shuffled = frame.iloc[::-1].assign(_source_line=[7, 9])
    first, last = dt.date(2024, 1, 1), dt.date(2024, 6, 1)
    assert month_hashes(frame, "t", first, last) == month_hashes(shuffled, "t", first, last)
    assert list(month_hashes(frame, "t", first, last)) == ["2024-02-01"]
    assert month_hashes(frame.assign(id=["a", "c"]), "t", first, last) != month_hashes(frame, "t", first, last)
    assert list(month_hashes(frame, None, first, last)) == ["snapshot"]


def _real_sensor_baseline(folder: Path, start: str, end: str) -> tuple[dg.Definitions, dg.SensorDefinition, dg.SensorResult]:
    """The source-arrival sensor with the default hooks over ``folder``, after its baseline tick."""
    partitions = dg.MonthlyPartitionsDefinition(start_date=start, end_date=end, fmt="%Y-%m-%d", timezone="UTC")
    asset, job = make_job(partitions)
    defs = dg.Definitions(assets=[asset], jobs=[job], sensors=build_automation_sensors(job, partitions, sources_dir=folder))
    sensor = defs.get_repository_def().get_sensor_def("source_arrival_sensor")
    baseline = sensor.evaluate_tick(dg.build_sensor_context(definitions=defs))
    assert baseline.run_requests == [] and "baseline" in baseline.skip_message
    return defs, sensor, baseline


def test_sensor_on_simulated_sources_with_the_real_registry(small_sources: Path, tmp_path: Path) -> None:
    """The default hooks (source registry, canonical schemas): deleting one invoice line requests its month only."""
    import shutil

    from saas_metrics.sources.registry import NATIVE_FILES_OF, read_source_table

    folder = tmp_path / "sources"
    shutil.copytree(small_sources, folder)
    defs, sensor, baseline = _real_sensor_baseline(folder, "2024-07-01", "2025-07-01")

    invoices = read_source_table("billing_invoices", folder)
    victim = invoices.dropna(subset=["created_at"]).iloc[len(invoices) // 2]
    expected = victim["created_at"].strftime("%Y-%m-01")
    [relative] = NATIVE_FILES_OF["billing_invoices"]
    path = folder / relative
    lines = path.read_text().splitlines(keepends=True)
    del lines[int(victim["_source_line"])]  # line 0 is the header
    path.write_text("".join(lines))
    result = sensor.evaluate_tick(dg.build_sensor_context(definitions=defs, cursor=baseline.cursor))
    assert [(r.partition_key, r.tags["saas_metrics/changed_tables"]) for r in result.run_requests] == [(expected, "billing_invoices")]


@pytest.mark.filterwarnings("ignore::saas_metrics.sources.files.SourceFileMissing")
def test_sensor_sees_a_changed_download_that_stands_for_a_native_file(tmp_path: Path) -> None:
    """A Stripe payments download (unified_payments.csv) is no table's native file: a change in it still
    re-reads the billing tables and requests the month of the removed payment."""
    import shutil

    from saas_metrics_tests.sources.test_src_exports import DOWNLOADS

    folder = tmp_path / "sources"
    shutil.copytree(DOWNLOADS, folder)
    defs, sensor, baseline = _real_sensor_baseline(folder, "2026-01-01", "2026-07-01")
    path = folder / "billing" / "unified_payments.csv"
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True) if not line.startswith("ch_3,")))
    result = sensor.evaluate_tick(dg.build_sensor_context(definitions=defs, cursor=baseline.cursor))
    assert [(r.partition_key, r.tags["saas_metrics/changed_tables"]) for r in result.run_requests] == [("2026-06-01", "billing_payments")]
