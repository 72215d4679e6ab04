"""Bad input gets a clear answer, through the real pipeline.

A small generated company is copied and corrupted by hand, one defect per source
file, so every outcome is exact: the quarantined row (table, rule, column, reason,
original values) or the failed check (message naming file, column and rule). No row
is ever lost: raw = clean + quarantined for every partition of every table.

Run ``broken``: row-level defects + a source system (finance) missing entirely + an
empty file; everything downstream still materialises. Run ``missing_column``: a
required column is missing; the blocking schema check fails and downstream metric
assets are skipped, without a crash. A third run re-materialises one month after
fixing a file: its quarantined rows are replaced, not appended.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.defs.source_assets import reconcile_counts
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.quality.quarantine import QUARANTINED_ROWS
from saas_metrics.runner import RunOutcome, materialise
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.warehouse import Warehouse
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings
from saas_metrics_tests.integration.test_metric_checks import check_evaluations

START = dt.date(2025, 4, 1)
WINDOW = (pd.Timestamp(START), pd.Timestamp(2025, 7, 1))


@pytest.fixture(scope="module")
def clean_copy_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from saas_metrics.sample_data import generate

    out = tmp_path_factory.mktemp("bad_input_base")
    generate(out, seed=5, customers=40, months=3, end_month=END_MONTH)
    return out


def _copy(base: Path, target: Path) -> Path:
    shutil.copytree(base, target)
    return target


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _write(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


def _first_in_window(frame: pd.DataFrame, column: str, unit: str | None) -> int:
    """Position of the first row whose time column lies in the tests' window."""
    text = frame[column]
    times = pd.to_datetime(pd.to_numeric(text), unit=unit) if unit else pd.to_datetime(text, utc=True).dt.tz_localize(None)
    inside = (times >= WINDOW[0]) & (times < WINDOW[1])
    return int(inside.to_numpy().nonzero()[0][0])


@dataclass
class Corruption:
    """Where each defect was put (1-based data line numbers, as the reader counts them)."""

    charge_negative_line: int
    charge_negative_original: str
    charge_currency_line: int
    invoice_type_line: int
    invoice_typo_line: int
    ticket_duplicate_line: int
    ticket_duplicate_first: int
    ticket_id: str
    nps_null_line: int
    form_future_line: int
    touchpoint_malformed_line: int
    subscription_orphan_line: int
    subscription_orphan_id: str
    session_old_line: int


def corrupt(src: Path) -> Corruption:
    charges = _read(src / "billing/charges.csv")
    neg = _first_in_window(charges, "created", "s")
    cur = neg + 1
    original_amount = charges.at[neg, "amount"]
    charges.at[neg, "amount"] = f"-{original_amount}"
    charges.at[cur, "currency"] = "xyz"
    _write(charges, src / "billing/charges.csv")

    invoices = _read(src / "billing/invoices.csv")
    bad_type = _first_in_window(invoices, "created", "s")
    invoices.at[bad_type, "total"] = "12,3x"
    typo = bad_type + 1  # a typo in the year: 2000 for 2025
    invoices.at[typo, "created"] = str(int(pd.Timestamp("2000-05-03 10:00:00").timestamp()))
    _write(invoices, src / "billing/invoices.csv")

    tickets = _read(src / "support/tickets.csv")
    dup = _first_in_window(tickets, "created_at", None)
    tickets = pd.concat([tickets, tickets.iloc[[dup]]], ignore_index=True)  # the copy is the last line
    _write(tickets, src / "support/tickets.csv")

    nps = _read(src / "support/nps_responses.csv")
    null_key = _first_in_window(nps, "created_at", "s")
    nps.at[null_key, "id"] = ""
    _write(nps, src / "support/nps_responses.csv")

    forms = _read(src / "crm/form_submissions.csv")
    future = _first_in_window(forms, "submitted_at", "ms")
    forms.at[future, "submitted_at"] = str(int(pd.Timestamp("2099-01-15 10:00:00").timestamp() * 1000))
    _write(forms, src / "crm/form_submissions.csv")

    touch_path = src / "crm/touchpoints.csv"
    touch_lines = len(_read(touch_path))
    with touch_path.open("a", encoding="utf-8") as handle:
        handle.write("te_broken,5100001,2025-05-02T10:00:00Z\n")

    subscriptions = _read(src / "billing/subscriptions.csv")
    orphan = len(subscriptions) - 1  # the newest subscription
    subscriptions.at[orphan, "customer"] = "cus_does_not_exist"
    _write(subscriptions, src / "billing/subscriptions.csv")

    sessions = _read(src / "web/sessions.csv")
    old = len(sessions)
    old_row = sessions.iloc[[0]].copy()
    old_row["event_date"] = "20200105"
    old_row["event_timestamp"] = str(int(pd.Timestamp("2020-01-05 09:00:00").timestamp() * 1_000_000))
    old_row["user_pseudo_id"] = "999.1578214800"
    _write(pd.concat([sessions, old_row], ignore_index=True), src / "web/sessions.csv")

    companies = (src / "crm/companies.csv").read_bytes().split(b"\n")
    name_at = companies[0].split(b",").index(b"name")
    first = companies[1].split(b",")
    first[name_at] = b"Caf\xe9 Latin-1 GmbH"  # one field in Latin-1, not UTF-8
    companies[1] = b",".join(first)
    (src / "crm/companies.csv").write_bytes(b"\n".join(companies))

    (src / "crm/meetings.csv").write_bytes(b"")  # an empty file
    shutil.rmtree(src / "finance")  # a whole source system missing
    return Corruption(
        charge_negative_line=neg + 1,
        charge_negative_original=original_amount,
        charge_currency_line=cur + 1,
        invoice_type_line=bad_type + 1,
        invoice_typo_line=typo + 1,
        ticket_duplicate_line=len(tickets),
        ticket_duplicate_first=dup + 1,
        ticket_id=str(tickets.at[dup, "id"]),
        nps_null_line=null_key + 1,
        form_future_line=future + 1,
        touchpoint_malformed_line=touch_lines + 1,
        subscription_orphan_line=orphan + 1,
        subscription_orphan_id=str(subscriptions.at[orphan, "id"]),
        session_old_line=old + 1,
    )


@dataclass
class BrokenRun:
    url: str
    sources: Path
    outcome: RunOutcome
    where: Corruption
    instance: dg.DagsterInstance


@pytest.fixture(scope="module")
def broken(clean_copy_source: Path, tmp_path_factory: pytest.TempPathFactory) -> BrokenRun:
    root = tmp_path_factory.mktemp("broken")
    src = _copy(clean_copy_source, root / "sources")
    where = corrupt(src)
    url = f"sqlite:///{root / 'warehouse.db'}"
    settings = make_settings(src, url, start=START, end=END_MONTH, quality={"data_docs": False})
    instance = ephemeral_instance()
    outcome = materialise(settings, instance=instance)
    return BrokenRun(url, src, outcome, where, instance)


def quarantined(url: str, table: str) -> pd.DataFrame:
    frame = Warehouse(url).read(QUARANTINED_ROWS)
    return frame[frame["table_name"] == table].sort_values("source_line").reset_index(drop=True)


def quarantined_line(url: str, table: str, line: int) -> pd.Series:
    rows = quarantined(url, table)
    match = rows[rows["source_line"] == line]
    assert len(match) == 1, f"{table} line {line}: {len(match)} quarantined rows\n{rows[['source_line', 'rule', 'reason']]}"
    return match.iloc[0]


def assert_nothing_lost(url: str) -> None:
    wh = Warehouse(url)
    for table, schema in SCHEMAS.items():
        counts = reconcile_counts(wh, table, schema.time_column is not None)
        lost = counts[counts["raw"] != counts["clean"] + counts["quarantined"]]
        assert lost.empty, f"{table} loses rows:\n{lost}"


def test_the_run_succeeds_and_nothing_is_lost(broken: BrokenRun) -> None:
    assert broken.outcome.success, broken.outcome.error
    assert broken.outcome.steps_skipped == []
    assert_nothing_lost(broken.url)


def test_negative_amount_is_quarantined_with_its_original_values(broken: BrokenRun) -> None:
    line = broken.where.charge_negative_line
    row = quarantined_line(broken.url, "billing_payments", line)
    amount = -float(broken.where.charge_negative_original) / 100
    assert (row["source"], row["rule"], row["column_name"]) == ("billing", "non_negative", "amount")
    assert row["reason"] == f"billing/charges.csv line {line}: amount {amount!r} is negative (rule non_negative)"
    data = json.loads(row["row_data"])
    assert data["amount"] == amount and data["payment_id"].startswith("ch_")


def test_unknown_currency_is_quarantined(broken: BrokenRun) -> None:
    line = broken.where.charge_currency_line
    row = quarantined_line(broken.url, "billing_payments", line)
    assert (row["rule"], row["column_name"]) == ("allowed_values", "currency")
    assert row["reason"] == f"billing/charges.csv line {line}: currency 'XYZ' is not a known currency (rule allowed_values)"
    assert json.loads(row["row_data"])["currency"] == "XYZ"


def test_wrong_type_is_quarantined_with_the_original_text(broken: BrokenRun) -> None:
    line = broken.where.invoice_type_line
    row = quarantined_line(broken.url, "billing_invoices", line)
    assert (row["rule"], row["column_name"]) == ("unparseable", "total")
    assert row["reason"] == f"billing/invoices.csv line {line}: total '12,3x' could not be parsed as float (rule unparseable)"
    assert json.loads(row["row_data"])["total"] == "12,3x"


def test_duplicate_id_keeps_the_first_and_quarantines_the_copy(broken: BrokenRun) -> None:
    w = broken.where
    row = quarantined_line(broken.url, "support_tickets", w.ticket_duplicate_line)
    assert (row["rule"], row["column_name"]) == ("duplicate", "ticket_id")
    assert row["reason"] == (
        f"support/tickets.csv line {w.ticket_duplicate_line}: ticket_id '{w.ticket_id}' duplicates an earlier row "
        f"(first seen on line {w.ticket_duplicate_first}) (rule duplicate)"
    )
    assert len(quarantined(broken.url, "support_tickets")) == 1


def test_null_key_is_quarantined(broken: BrokenRun) -> None:
    line = broken.where.nps_null_line
    row = quarantined_line(broken.url, "nps_responses", line)
    assert (row["source"], row["rule"], row["column_name"]) == ("support", "not_null", "response_id")
    assert row["reason"] == f"support/nps_responses.csv line {line}: response_id is null (rule not_null)"
    assert json.loads(row["row_data"])["response_id"] is None


def test_future_date_is_quarantined_in_the_last_partition(broken: BrokenRun) -> None:
    line = broken.where.form_future_line
    row = quarantined_line(broken.url, "crm_form_submissions", line)
    assert (row["rule"], row["column_name"]) == ("in_window", "submitted_at")
    assert row["reason"].startswith(f"crm/form_submissions.csv line {line}: submitted_at 2099-01-15 10:00:00 is outside the window")
    assert "submitted_at 2099-01-15 10:00:00 is after now" in row["reason"] and row["reason"].endswith("(rule not_future)")
    assert row["month"] == pd.Timestamp(END_MONTH)


def test_malformed_line_is_quarantined_in_the_first_partition(broken: BrokenRun) -> None:
    line = broken.where.touchpoint_malformed_line
    row = quarantined_line(broken.url, "crm_touchpoints", line)
    assert (row["rule"], row["column_name"]) == ("unparseable", "_line")
    assert row["reason"] == (
        f"crm/touchpoints.csv line {line}: malformed line 'expected 7 fields, got 3: te_broken,5100001,2025-05-02T10:00:00Z' "
        "could not be parsed (rule unparseable)"
    )
    # the fields that are there are kept: its third field parses as occurred_at, so it is filed under May
    assert row["month"] == pd.Timestamp(2025, 5, 1)


def test_orphan_subscription_and_its_items_are_quarantined(broken: BrokenRun) -> None:
    w = broken.where
    row = quarantined_line(broken.url, "billing_subscriptions", w.subscription_orphan_line)
    assert (row["rule"], row["column_name"]) == ("reference", "customer_id")
    assert row["reason"] == (
        f"billing/subscriptions.csv line {w.subscription_orphan_line}: customer_id 'cus_does_not_exist' "
        "does not resolve to a known customer_id (rule reference)"
    )
    # its items now reference a subscription that is not in staging: quarantined too, never lost
    items = quarantined(broken.url, "billing_subscription_items")
    assert len(items) >= 1
    assert set(items["rule"]) == {"reference"} and set(items["column_name"]) == {"subscription_id"}
    assert {json.loads(d)["subscription_id"] for d in items["row_data"]} == {w.subscription_orphan_id}


def test_row_outside_the_partitions_is_counted_not_placed(broken: BrokenRun) -> None:
    from saas_metrics.defs.source_assets import raw_storage_schema

    raw = Warehouse(broken.url).read(raw_storage_schema("web_sessions"))
    assert "999.1578214800" not in set(raw["visitor_id"])
    assert quarantined(broken.url, "web_sessions").empty
    event = broken.instance.get_latest_materialization_event(dg.AssetKey("raw_web_sessions"))
    assert event is not None
    metadata = event.asset_materialization.metadata
    assert metadata["rows_outside_partitions"].value >= 1


def test_empty_file_and_missing_system_give_empty_tables_and_null_metrics(broken: BrokenRun) -> None:
    wh = Warehouse(broken.url)
    for table in ("crm_meetings", "finance_expenses"):
        assert wh.count(f"stg_{table}") == 0 and wh.count(f"raw_{table}") == 0
    event = broken.instance.get_latest_materialization_event(dg.AssetKey("raw_finance_expenses"))
    notices = event.asset_materialization.metadata["source_notices"].value
    assert any("finance" in n and "finance/expenses.csv not found" in n for n in notices)
    kpi = wh.read(KPI_MONTHLY)
    head = kpi[kpi["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    assert len(head) == 3 and (head["mrr"] > 0).all()
    # without the finance ledger, S&M spend (and so CAC) is undefined, not understated;
    # ad spend itself is still known, and an empty meetings file nulls the demo metrics
    for metric in ("sm_expenses", "sm_spend", "cac", "ltv_to_cac", "demos_attended", "demo_to_paid_rate"):
        assert head[metric].isna().all(), metric
    assert (head["ad_spend"] > 0).all()


def test_rerunning_a_partition_replaces_its_quarantined_rows(broken: BrokenRun) -> None:
    w = broken.where
    month = quarantined_line(broken.url, "billing_payments", w.charge_negative_line)["month"].date()
    before = quarantined(broken.url, "billing_payments")
    others = before[before["month"] != pd.Timestamp(month)]
    # fix the negative amount, keep the unknown currency, re-run that one month
    charges = _read(broken.sources / "billing/charges.csv")
    charges.at[w.charge_negative_line - 1, "amount"] = w.charge_negative_original
    _write(charges, broken.sources / "billing/charges.csv")
    settings = make_settings(broken.sources, broken.url, start=START, end=END_MONTH, quality={"data_docs": False})
    outcome = materialise(settings, month, month, instance=ephemeral_instance())
    assert outcome.success, outcome.error
    after = quarantined(broken.url, "billing_payments")
    assert w.charge_negative_line not in set(after["source_line"])
    assert (after["source_line"] == w.charge_currency_line).sum() == 1  # replaced, not duplicated
    pd.testing.assert_frame_equal(
        after[after["month"] != pd.Timestamp(month)].drop(columns="quarantined_at").reset_index(drop=True),
        others.drop(columns="quarantined_at").reset_index(drop=True),
    )
    assert_nothing_lost(broken.url)


@pytest.fixture(scope="module")
def missing_column(clean_copy_source: Path, tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    root = tmp_path_factory.mktemp("missing_column")
    src = _copy(clean_copy_source, root / "sources")
    charges = _read(src / "billing/charges.csv")
    _write(charges.drop(columns=["amount"]), src / "billing/charges.csv")
    settings = make_settings(src, f"sqlite:///{root / 'warehouse.db'}", start=START, end=END_MONTH, quality={"data_docs": False})
    instance = ephemeral_instance()
    outcome = materialise(settings, instance=instance)
    outcome.instance = instance  # type: ignore[attr-defined]
    outcome.url = settings.warehouse_url  # type: ignore[attr-defined]
    return outcome


def test_missing_required_column_fails_the_schema_check_and_skips_downstream(missing_column: RunOutcome) -> None:
    outcome = missing_column
    assert ("raw_billing_payments", "billing_payments_schema", "ERROR") in outcome.checks_failed
    # Dagster stops the billing step on its failed blocking check: a named check failure, not a traceback
    assert outcome.steps_failed == ["ingest_billing"]
    assert outcome.error == (
        "ingest_billing: DagsterAssetCheckFailedError: 1 blocking asset check failed with ERROR severity: "
        "raw_billing_payments: billing_payments_schema"
    )
    assert {"kpi_revenue", "kpi_monthly"} <= set(outcome.steps_skipped)
    # In the step, the failed table is not staged; the other billing tables are.
    materialized = {record.asset_key.to_user_string() for record in outcome.instance.get_records_for_run(  # type: ignore[attr-defined]
        outcome.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records}
    assert "raw_billing_payments" in materialized and "stg_billing_payments" not in materialized  # stored, not staged
    assert {"raw_billing_invoices", "stg_billing_invoices", "raw_billing_refunds", "stg_billing_refunds"} <= materialized
    evaluation = check_evaluations(outcome.instance, outcome.run_id)[("raw_billing_payments", "billing_payments_schema")]  # type: ignore[attr-defined]
    assert not evaluation.passed
    assert "billing/charges.csv lacks required column(s) amount (rule required_column)" in evaluation.description
    assert evaluation.description.startswith("billing_payments: ")


def test_every_row_read_is_accounted_for(broken: BrokenRun) -> None:
    """source_row_accounting: read = loaded + quarantined + excluded for every table of the run, and
    the invoice whose year is a typo (2000) is excluded under its own rule, not silently."""
    from saas_metrics.quality.accounting import SOURCE_ROW_ACCOUNTING

    accounts = Warehouse(broken.url).read(SOURCE_ROW_ACCOUNTING)
    accounts = accounts[accounts["run_id"] == broken.outcome.run_id].set_index("table_name")
    assert set(accounts.index) == set(SCHEMAS)
    assert accounts["balanced"].all()
    assert (accounts["rows_read"] == accounts["rows_loaded"] + accounts["rows_quarantined"] + accounts["rows_excluded"]).all()
    invoices = accounts.loc["billing_invoices"]
    assert json.loads(invoices["excluded_by_rule"]).get("far_before_start_month") == 1
    assert invoices["rows_quarantined"] == len(quarantined(broken.url, "billing_invoices"))
    assert json.loads(accounts.loc["web_sessions", "excluded_by_rule"])["before_start_month"] >= 1  # the 2020 session
    evaluations = check_evaluations(broken.instance, broken.outcome.run_id)
    accounting = {asset: e for (asset, check), e in evaluations.items() if check == "row_accounting"}
    assert len(accounting) == len(SCHEMAS) and all(e.passed for e in accounting.values())


def test_bytes_that_are_not_utf8_quarantine_their_row_naming_file_and_line(broken: BrokenRun) -> None:
    row = quarantined_line(broken.url, "crm_companies", 1)
    assert (row["rule"], row["column_name"]) == ("unparseable", "_line")
    assert row["reason"] == ("crm/companies.csv line 1: malformed line \"bytes that are not UTF-8 in name=b'Caf\\\\xe9 Latin-1 GmbH'\" "
                             "could not be parsed (rule unparseable)")
    assert json.loads(row["row_data"])["name"] == "Caf\ufffd Latin-1 GmbH"
    # stamped with the latest run that validated the snapshot (an earlier test re-runs one month)
    assert isinstance(row["run_id"], str) and row["month"] == row["run_last_month"] >= row["run_first_month"]
    assert len(Warehouse(broken.url).read(QUARANTINED_ROWS).query("table_name == 'crm_companies'")) == 1
