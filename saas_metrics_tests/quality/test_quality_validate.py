"""validate_table: quarantine rules, reasons and the four checks on hand-made frames."""

from __future__ import annotations

import datetime as dt
import gc
import json

import pandas as pd
import pytest
from quality_frames import CHARGES, MARCH, NOW, canonical, context, payment

from saas_metrics.config import QualityPolicy
from saas_metrics.quality import SUITES, check_blocking, check_names, validate_table
from saas_metrics.quality.metric_checks import check_reconciliation
from saas_metrics.quality.quarantine import QUARANTINED_ROWS
from saas_metrics.sources.schemas import SCHEMAS


def _quarantine_of(outcome, payment_id):
    rows = outcome.annotated[outcome.annotated["payment_id"] == payment_id]
    assert len(rows) == 1
    row = rows.iloc[0]
    return row["_quarantine_rule"], row["_quarantine_column"], row["_quarantine_reason"]


def test_every_canonical_table_has_a_suite() -> None:
    assert set(SUITES) == set(SCHEMAS)


def test_gx_keeps_no_batch_data_after_a_validation() -> None:
    """GX's execution engine would keep each table's last batch frame for the life of the process."""
    from great_expectations.execution_engine.pandas_batch_data import PandasBatchData

    validate_table(canonical("billing_payments", [payment("py_1")]), context())
    gc.collect()
    assert [o for o in gc.get_objects() if isinstance(o, PandasBatchData)] == []


def test_check_names_and_blocking() -> None:
    assert check_names("billing_payments") == [
        "billing_payments_schema",
        "billing_payments_integrity",
        "billing_payments_row_rules",
        "billing_payments_volume",
    ]
    assert [check_blocking(n) for n in check_names("billing_payments")] == [True, True, False, False]


def test_clean_data_passes_every_check() -> None:
    frame = canonical("billing_payments", [payment("py_1"), payment("py_2", customer_id="cus_2", currency="EUR")])
    outcome = validate_table(frame, context())
    assert [(c.name, c.passed) for c in outcome.checks] == [
        ("billing_payments_schema", True),
        ("billing_payments_integrity", True),
        ("billing_payments_row_rules", True),
        ("billing_payments_volume", True),
    ]
    assert outcome.clean["payment_id"].tolist() == ["py_1", "py_2"]
    assert outcome.quarantined.empty
    assert outcome.annotated["_quarantine_reason"].isna().all()
    assert outcome.success_percent == 100.0
    assert all(e.success for e in outcome.expectations)
    assert {"_quarantine_rule", "_quarantine_column", "_quarantine_reason", "_source_line"} <= set(outcome.clean.columns)


def test_negative_amount_reason_names_file_line_column_and_rule() -> None:
    rows = [payment(f"py_{i}") for i in range(1, 17)] + [payment("py_17", amount=-12.0)]
    outcome = validate_table(canonical("billing_payments", rows), context())
    assert _quarantine_of(outcome, "py_17") == (
        "non_negative",
        "amount",
        "billing/charges.csv line 17: amount -12.0 is negative (rule non_negative)",
    )
    assert len(outcome.clean) == 16
    row_rules = outcome.check("row_rules")
    assert not row_rules.passed and row_rules.severity == "WARN" and not row_rules.blocking
    assert row_rules.metadata["quarantined_by_rule"] == {"non_negative": 1}


def test_malformed_csv_line_is_quarantined_with_its_text() -> None:
    broken = {"payment_id": None, "_parse_errors": json.dumps({"_line": 'py_9,"cus_1,,USD'})}
    outcome = validate_table(canonical("billing_payments", [payment("py_1"), broken]), context())
    bad = outcome.annotated.iloc[1]
    assert bad["_quarantine_rule"] == "unparseable"
    assert bad["_quarantine_column"] == "_line"
    assert bad["_quarantine_reason"].startswith(
        "billing/charges.csv line 2: malformed line 'py_9,\"cus_1,,USD' could not be parsed (rule unparseable); payment_id is null (rule not_null)"
    )
    quarantined = outcome.quarantined.iloc[0]
    assert json.loads(quarantined["row_data"])["_line"] == 'py_9,"cus_1,,USD'
    assert outcome.clean["payment_id"].tolist() == ["py_1"]
    assert outcome.check("schema").passed


def test_missing_required_column_fails_the_blocking_schema_check() -> None:
    frame = canonical("billing_payments", [payment("py_1")]).drop(columns=["amount"])
    outcome = validate_table(frame, context())
    schema = outcome.check("schema")
    assert not schema.passed
    assert schema.blocking and schema.severity == "ERROR"
    assert schema.description == "billing_payments: required column(s) missing: amount"
    assert schema.metadata["missing_columns"] == ["amount"]


def test_wrong_type_is_quarantined_with_the_original_text() -> None:
    raw = pd.DataFrame([payment("py_1", amount="10.5"), payment("py_2", amount="ten")])
    raw["_source_file"], raw["_source_line"] = CHARGES, [1, 2]
    outcome = validate_table(raw, context())
    assert outcome.clean["amount"].tolist() == [10.5]
    assert outcome.clean["amount"].dtype == "float64"
    assert _quarantine_of(outcome, "py_2") == (
        "unparseable",
        "amount",
        "billing/charges.csv line 2: amount 'ten' could not be parsed as float (rule unparseable)",
    )
    assert json.loads(outcome.quarantined.iloc[0]["row_data"])["amount"] == "ten"
    schema = outcome.check("schema")
    assert schema.passed and "amount" in schema.metadata["coerced_columns"]


def test_unknown_currency_is_quarantined_and_several_rules_are_listed() -> None:
    outcome = validate_table(
        canonical("billing_payments", [payment("py_1"), payment("py_2", currency="XXX", amount=-1.0)]), context()
    )
    assert _quarantine_of(outcome, "py_2") == (
        "allowed_values",
        "currency",
        "billing/charges.csv line 2: currency 'XXX' is not a known currency (rule allowed_values); "
        "amount -1.0 is negative (rule non_negative)",
    )
    assert outcome.check("integrity").passed  # 2 rows: below unresolved_min_rows
    assert outcome.check("row_rules").metadata["violations_by_rule_column"] == {
        "allowed_values/currency": 1,
        "non_negative/amount": 1,
    }


def test_many_rows_with_a_currency_missing_from_fx_fail_integrity() -> None:
    rows = [payment(f"py_{i}", currency="JPY" if i < 3 else "USD") for i in range(20)]
    outcome = validate_table(canonical("billing_payments", rows), context())
    integrity = outcome.check("integrity")
    assert not integrity.passed and integrity.blocking
    assert integrity.metadata["unresolved_rows"] == 3
    assert integrity.metadata["unresolved_fraction"] == 0.15
    assert "is the FX or parent table incomplete?" in integrity.description
    assert len(outcome.clean) == 17


def test_duplicate_ids_keep_the_first_occurrence() -> None:
    rows = [payment("py_1"), payment("py_2"), payment("py_1", amount=99.0)]
    outcome = validate_table(canonical("billing_payments", rows), context())
    assert outcome.clean["payment_id"].tolist() == ["py_1", "py_2"]
    assert outcome.clean["amount"].tolist() == [10.0, 10.0]
    assert outcome.annotated.iloc[2]["_quarantine_reason"] == (
        "billing/charges.csv line 3: payment_id 'py_1' duplicates an earlier row (first seen on line 1) (rule duplicate)"
    )
    assert outcome.check("integrity").passed


def test_ids_of_other_partitions_are_duplicates() -> None:
    outcome = validate_table(
        canonical("billing_payments", [payment("py_1"), payment("py_old")]), context(existing_ids=frozenset({"py_old"}))
    )
    assert _quarantine_of(outcome, "py_old") == (
        "duplicate",
        "payment_id",
        "billing/charges.csv line 2: payment_id 'py_old' already exists in another partition (rule duplicate)",
    )


def test_null_keys_are_quarantined() -> None:
    outcome = validate_table(canonical("billing_payments", [payment("py_1"), payment(None)]), context())
    bad = outcome.annotated.iloc[1]
    assert (bad["_quarantine_rule"], bad["_quarantine_column"]) == ("not_null", "payment_id")
    assert bad["_quarantine_reason"] == "billing/charges.csv line 2: payment_id is null (rule not_null)"
    assert outcome.check("schema").passed  # clean rows have non-null keys


def test_dates_outside_the_window_and_in_the_future() -> None:
    rows = [
        payment("py_1"),
        payment("py_feb", created_at="2024-02-29 23:59:59"),
        payment("py_apr", created_at="2024-04-01 00:00:00"),
        payment("py_future", created_at="2024-03-20 08:00:00"),
    ]
    outcome = validate_table(canonical("billing_payments", rows), context(now=dt.datetime(2024, 3, 15)))
    assert _quarantine_of(outcome, "py_feb")[2] == (
        "billing/charges.csv line 2: created_at 2024-02-29 23:59:59 is outside the window [2024-03-01, 2024-04-01) (rule in_window)"
    )
    assert _quarantine_of(outcome, "py_apr")[0] == "in_window"
    assert _quarantine_of(outcome, "py_apr")[2].endswith(
        "(rule in_window); created_at 2024-04-01 is after now (2024-03-15) (rule not_future)"
    )
    assert _quarantine_of(outcome, "py_future")[:2] == ("not_future", "created_at")
    # rows outside the window are filed under the window's first month
    assert outcome.quarantined["month"].tolist() == [pd.Timestamp(MARCH)] * 3


def test_orphan_subscription_is_quarantined() -> None:
    subs = canonical(
        "billing_subscriptions",
        [
            {"subscription_id": "sub_1", "customer_id": "cus_1", "status": "active", "created_at": "2024-01-01"},
            {"subscription_id": "sub_2", "customer_id": "cus_404", "status": "active", "created_at": "2024-01-01"},
        ],
        source_file="billing/subscriptions.csv",
    )
    outcome = validate_table(subs, context("billing_subscriptions", window_start=None, window_end=None))
    assert outcome.clean["subscription_id"].tolist() == ["sub_1"]
    bad = outcome.annotated.iloc[1]
    assert bad["_quarantine_reason"] == (
        "billing/subscriptions.csv line 2: customer_id 'cus_404' does not resolve to a known customer_id (rule reference)"
    )
    # a snapshot has no window: its quarantined rows go to the month of ``now``
    assert outcome.quarantined["month"].tolist() == [pd.Timestamp("2024-05-01")]


def test_empty_frame_passes_and_volume_is_aware_of_the_previous_month() -> None:
    empty = canonical("billing_payments", [])
    outcome = validate_table(empty, context())
    assert all(c.passed for c in outcome.checks)
    assert outcome.clean.empty and outcome.quarantined.empty
    assert list(outcome.quarantined.columns) == QUARANTINED_ROWS.column_names

    dropped = validate_table(empty, context(previous_row_count=120))
    volume = dropped.check("volume")
    assert not volume.passed and volume.severity == "WARN" and not volume.blocking
    assert volume.description == "billing_payments: 0 rows/month vs 120 the month before (allowed 60-180)"
    assert [c.passed for c in dropped.checks[:3]] == [True, True, True]


def test_volume_band_uses_rows_per_month_of_the_window() -> None:
    rows = [payment(f"py_{i}", created_at="2024-03-10" if i % 2 else "2024-04-10") for i in range(100)]
    two_months = context(window_end=dt.date(2024, 5, 1), now=NOW, previous_row_count=60)
    outcome = validate_table(canonical("billing_payments", rows), two_months)
    volume = outcome.check("volume")
    assert volume.metadata["rows_per_month"] == 50.0
    assert volume.passed  # 50 within [30, 90]
    low = validate_table(canonical("billing_payments", rows[:10]), context(previous_row_count=60))
    assert not low.check("volume").passed  # 10 < 30
    small_baseline = validate_table(canonical("billing_payments", rows[:10]), context(previous_row_count=49))
    assert small_baseline.check("volume").passed  # below row_count_min_rows: no baseline


def test_raw_equals_clean_plus_quarantined() -> None:
    rows = [payment("py_1"), payment("py_1"), payment("py_3", amount=-5.0), payment(None), payment("py_5")]
    outcome = validate_table(canonical("billing_payments", rows), context())
    assert (len(outcome.annotated), len(outcome.clean), len(outcome.quarantined)) == (5, 2, 3)
    assert check_reconciliation(len(outcome.annotated), len(outcome.clean), len(outcome.quarantined)).passed


def test_quarantined_rows_frame() -> None:
    outcome = validate_table(canonical("billing_payments", [payment("py_1", amount=-3.5)]), context())
    row = outcome.quarantined.iloc[0].to_dict()
    assert row["month"] == pd.Timestamp(MARCH)
    assert (row["source"], row["table_name"], row["source_file"], row["source_line"]) == (
        "billing", "billing_payments", CHARGES, 1,
    )
    assert (row["rule"], row["column_name"]) == ("non_negative", "amount")
    assert row["quarantined_at"] == pd.Timestamp(NOW)
    assert json.loads(row["row_data"]) == {
        "payment_id": "py_1", "customer_id": "cus_1", "invoice_id": "in_1", "amount": -3.5,
        "currency": "USD", "status": "succeeded", "created_at": "2024-03-05T10:00:00",
    }


def test_samples_mask_emails_and_names() -> None:
    contacts = canonical(
        "crm_contacts",
        [
            {"contact_id": "c_1", "email": "ann@example.com", "created_at": "2024-01-01"},
            {"contact_id": None, "_parse_errors": json.dumps({"_line": "jane.doe@example.com,Jane Doe"})},
        ],
        source_file="crm/contacts.csv",
    )
    outcome = validate_table(contacts, context("crm_contacts", window_start=None, window_end=None))
    parse = next(e for e in outcome.expectations if e.rule == "unparseable")
    assert parse.unexpected_count == 1
    assert parse.sample == ['{"_line": "<email>,<name>"}']
    assert outcome.check("row_rules").metadata["sample_reasons"] == [
        "crm/contacts.csv line 2: malformed line '<email>,<name>' could not be parsed (rule unparseable); "
        "contact_id is null (rule not_null)"
    ]
    # the warehouse copy keeps the original text
    assert "jane.doe@example.com" in outcome.quarantined.iloc[0]["row_data"]


def test_composite_keys_and_allowed_values_of_ad_spend() -> None:
    base = {"date": "2024-03-01", "platform": "google_ads", "campaign_id": "cmp_1", "currency": "USD", "spend": 5.0, "clicks": 3}
    spend = canonical(
        "ad_spend",
        [base, {**base, "spend": 7.0}, {**base, "platform": "tiktok_ads"}, {**base, "campaign_id": "cmp_2", "clicks": -1}],
        source_file="ads/google.csv",
    )
    outcome = validate_table(spend, context("ad_spend", reference_ids={}))
    rules = outcome.annotated["_quarantine_rule"].fillna("clean").tolist()
    assert rules == ["clean", "duplicate", "allowed_values", "non_negative"]
    assert outcome.annotated.iloc[1]["_quarantine_reason"] == (
        "ads/google.csv line 2: (date, platform, campaign_id) 2024-03-01, 'google_ads', 'cmp_1' duplicates an earlier row "
        "(first seen on line 1) (rule duplicate)"
    )


def test_unknown_table_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no validation suite for table 'billing_charges'"):
        validate_table(pd.DataFrame(), context("billing_charges"))


def test_policy_is_read_from_the_context() -> None:
    rows = [payment(f"py_{i}", currency="JPY" if i < 3 else "USD") for i in range(20)]
    lenient = QualityPolicy(data_docs=False, unresolved_max_fraction=0.2)
    assert validate_table(canonical("billing_payments", rows), context(policy=lenient)).check("integrity").passed


def test_a_year_outside_the_timestamp_range_is_unparseable_not_a_crash() -> None:
    """'0202-03-05' (a typo in an export) is a date pandas cannot hold in nanoseconds: quarantined with
    its text like any value that does not parse, never the run stopped on pandas' overflow error."""
    raw = pd.DataFrame([payment("py_1"), payment("py_2", created_at="0202-03-05 10:00:00"),
                        payment("py_3", created_at="2300-03-05")])
    raw["_source_file"], raw["_source_line"] = CHARGES, [1, 2, 3]
    outcome = validate_table(raw, context())
    assert outcome.clean["payment_id"].tolist() == ["py_1"]
    assert _quarantine_of(outcome, "py_2") == (
        "unparseable", "created_at",
        "billing/charges.csv line 2: created_at '0202-03-05 10:00:00' could not be parsed as datetime (rule unparseable); "
        "created_at is null (rule not_null)",
    )
    assert _quarantine_of(outcome, "py_3")[0] == "unparseable"


def test_non_integral_count_is_unparseable_not_a_crash() -> None:
    base = {"date": "2024-03-01", "platform": "meta_ads", "currency": "USD", "spend": 5.0}
    raw = pd.DataFrame([{**base, "campaign_id": "c1", "clicks": "3"}, {**base, "campaign_id": "c2", "clicks": "3.5"}])
    raw["_source_file"], raw["_source_line"] = "ads/meta.csv", [1, 2]
    outcome = validate_table(raw, context("ad_spend", reference_ids={}))
    assert outcome.clean["clicks"].tolist() == [3]
    assert outcome.annotated.iloc[1]["_quarantine_reason"] == (
        "ads/meta.csv line 2: clicks '3.5' could not be parsed as int (rule unparseable)"
    )


def test_children_of_a_quarantined_parent_do_not_make_the_parent_table_look_incomplete() -> None:
    """cus_bad exists in billing_customers but was quarantined: its 4 payments (20 %) are
    quarantined too, yet integrity passes because the parent table is not incomplete."""
    rows = [payment(f"py_{i}", customer_id="cus_bad" if i < 4 else "cus_1") for i in range(20)]
    ctx = context(quarantined_reference_ids={"customer_id": frozenset({"cus_bad"})})
    outcome = validate_table(canonical("billing_payments", rows), ctx)
    assert len(outcome.clean) == 16 and len(outcome.quarantined) == 4
    assert set(outcome.quarantined["rule"]) == {"reference"}
    integrity = outcome.check("integrity")
    assert integrity.passed and integrity.metadata["unresolved_rows"] == 0
    # the same rows with an unknown (never seen) parent do fail it
    assert not validate_table(canonical("billing_payments", rows), context()).check("integrity").passed


def test_passing_expectations_are_checked_boolean_only_and_failing_ones_in_full() -> None:
    rows = [payment("py_1"), payment("py_2", amount=-5.0), payment("py_3", currency="XXX", status="weird"),
            payment("py_4", created_at="2024-02-10 00:00:00"), payment("py_5")]
    fast = validate_table(canonical("billing_payments", rows), context())
    full = validate_table(canonical("billing_payments", rows),
                          context(policy=QualityPolicy(data_docs=False, gx_detail_passing=True)))
    # The same verdicts, quarantine, checks and failing-expectation details either way ...
    assert [(e.expectation_type, e.column, e.rule, e.success, e.unexpected_count, e.sample) for e in fast.expectations] \
        == [(e.expectation_type, e.column, e.rule, e.success, e.unexpected_count, e.sample) for e in full.expectations]
    pd.testing.assert_frame_equal(fast.annotated, full.annotated)
    assert [(c.name, c.passed, c.description) for c in fast.checks] == [(c.name, c.passed, c.description) for c in full.checks]
    assert fast.gx_result.statistics == full.gx_result.statistics
    failing = {r.expectation_config.id: r.result for r in full.gx_result.results if not r.success}
    assert len(failing) >= 3  # negative amount, currency / status outside their sets, date outside the window
    assert {r.expectation_config.id: r.result for r in fast.gx_result.results if not r.success} == failing
    assert all(result["unexpected_index_list"] for result in failing.values())
    # ... but GX computed no per-expectation metrics for the passing ones unless asked to.
    assert all(not r.result for r in fast.gx_result.results if r.success)
    passing = [r.result for r in full.gx_result.results if r.success]
    assert passing and all(result["element_count"] == 5 and result["unexpected_count"] == 0 for result in passing)


def test_duplicate_keys_with_an_unparseable_date_are_quarantined_not_a_crash() -> None:
    """Two rows whose key date could not be parsed (NaT) on the same campaign: the duplicate rule
    names the key with `null` (the README's defect demo crashed formatting NaT)."""
    def spend(line_date: str) -> dict[str, object]:
        return {"date": None, "platform": "google_ads", "account_id": "a1", "campaign_id": "c1",
                "campaign_name": "Brand", "channel": "paid_search", "currency": "USD", "spend": 10.0,
                "impressions": 100, "clicks": 5, "platform_conversions": 1,
                "_parse_errors": json.dumps({"date": line_date})}
    frame = canonical("ad_spend", [spend("not-a-date"), spend("not-a-date")], source_file="ads/google_ads.csv")
    outcome = validate_table(frame, context("ad_spend"))
    reasons = outcome.annotated["_quarantine_reason"].tolist()
    assert all(r is not None for r in reasons)
    assert "date 'not-a-date' could not be parsed as date (rule unparseable)" in reasons[1]
    assert "(date, platform, campaign_id) null, 'google_ads', 'c1' duplicates an earlier row" in reasons[1], reasons[1]
