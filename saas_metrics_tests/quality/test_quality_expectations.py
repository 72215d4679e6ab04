"""The suites as plain data (no GX), the GX suites built from them, and findings as JSON."""

from __future__ import annotations

import json

import pandas as pd
from quality_frames import canonical, payment

from saas_metrics.quality import gx_context
from saas_metrics.quality.expectations import (
    SuiteVariant,
    suite_columns,
    suite_definition,
    suite_spec,
)
from saas_metrics.quality.gx_results import ExpectationFinding, SuiteFindings
from saas_metrics.quality.replay import fingerprint
from saas_metrics.quality.suites import rules_for

PAYMENTS = SuiteVariant("billing_payments", window=True, currency=True)


def test_the_payments_suite_as_data() -> None:
    specs = suite_spec(PAYMENTS)
    assert [(s.meta["rule"], s.meta["column"]) for s in specs] == [
        ("unparseable", "_parse_errors"),
        ("not_null", "payment_id"),
        ("not_null", "customer_id"),
        ("not_null", "created_at"),
        ("duplicate", "payment_id"),
        ("allowed_values", "status"),
        ("allowed_values", "currency"),
        ("non_negative", "amount"),
        ("in_window", "created_at"),
        ("not_future", "created_at"),
    ]
    assert specs[-1].kwargs == {"column": "created_at", "max_value": {"$PARAMETER": "now"}}
    assert suite_columns(PAYMENTS) == ("_parse_errors", "payment_id", "customer_id", "created_at", "status", "currency", "amount")
    # Without a window or known currencies those two rules are not in the suite.
    plain = SuiteVariant("billing_payments", window=False, currency=False)
    assert [s.meta["rule"] for s in suite_spec(plain)].count("allowed_values") == 1
    assert "in_window" not in suite_definition(plain) and "known_currencies" not in suite_definition(plain)
    assert json.loads(suite_definition(PAYMENTS))["name"] == "billing_payments+window+currency"


def test_the_gx_suite_is_the_spec() -> None:
    suite = gx_context.get_suite(PAYMENTS)
    built = [(type(e).__name__, e.configuration.kwargs, e.meta) for e in suite.expectations]
    for (name, kwargs, meta), spec in zip(built, suite_spec(PAYMENTS), strict=True):
        assert name == spec.gx_class and meta == spec.meta
        assert {k: kwargs[k] for k in spec.kwargs} == spec.kwargs


def test_findings_round_trip_through_json() -> None:
    findings = SuiteFindings(
        (
            ExpectationFinding("expect_column_values_to_be_between", {"rule": "non_negative", "column": "amount"}, False, 2,
                               (3, 7), [-1.5, -2], None),
            ExpectationFinding("expect_column_values_to_be_in_set", {"rule": "allowed_values", "column": "currency",
                               "currency": "true"}, True, 0),
            ExpectationFinding("expect_column_values_to_be_unique", {"rule": "duplicate", "column": "id"}, False, 0,
                               sample=[{"k": None}, "<email>"], error="boom"),
        ),
        success_percent=100 / 3,
    )
    again = SuiteFindings.from_json(findings.to_json())
    assert again == findings
    assert again.errors == ["expect_column_values_to_be_unique on id: boom"]
    assert again.expectations[0].rows == (3, 7) and again.expectations[1].rule == "allowed_values"


def test_the_fingerprint_sees_every_value_and_only_the_rows_after_now() -> None:
    schema = rules_for("billing_payments").schema
    frame = canonical("billing_payments", [payment("py_1"), payment("py_2", created_at="2024-03-20 08:00:00")])
    params = {"now": pd.Timestamp("2024-03-10"), "window_start": pd.Timestamp("2024-03-01"),
              "window_end": pd.Timestamp("2024-04-01"), "known_currencies": ["EUR", "USD"]}
    base = fingerprint(frame, schema, PAYMENTS, params)
    assert base is not None and base == fingerprint(frame.copy(), schema, PAYMENTS, dict(params))
    # now moves, py_2 is still after it: same fingerprint; once now passes py_2: another one.
    assert fingerprint(frame, schema, PAYMENTS, {**params, "now": pd.Timestamp("2024-03-19")}) == base
    assert fingerprint(frame, schema, PAYMENTS, {**params, "now": pd.Timestamp("2024-03-21")}) != base
    changed = frame.copy()
    changed.loc[1, "invoice_id"] = "in_2"
    assert fingerprint(changed, schema, PAYMENTS, params) != base
    assert fingerprint(frame, schema, PAYMENTS, {**params, "known_currencies": ["USD"]}) != base
    assert fingerprint(frame, schema, PAYMENTS, params, detail_passing=True) != base
    # A value pandas cannot hash: no fingerprint, the frame is validated in full.
    unhashable = frame.assign(_parse_errors=pd.Series([None, {"amount": "x"}], dtype=object))
    assert fingerprint(unhashable, schema, PAYMENTS, params) is None
