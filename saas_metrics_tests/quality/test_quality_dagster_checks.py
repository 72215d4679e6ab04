"""Validation outcome -> Dagster AssetCheckSpec / AssetCheckResult, and GX Data Docs."""

from __future__ import annotations

import dagster as dg
from quality_frames import canonical, context, payment

from saas_metrics.config import QualityPolicy
from saas_metrics.quality import validate_table
from saas_metrics.quality.dagster_checks import check_specs, to_asset_check_results

ASSET = dg.AssetKey("raw_billing_payments")


def test_check_specs_declare_blocking_checks() -> None:
    specs = check_specs("billing_payments", ASSET)
    assert [(s.name, s.blocking, s.asset_key) for s in specs] == [
        ("billing_payments_schema", True, ASSET),
        ("billing_payments_integrity", True, ASSET),
        ("billing_payments_row_rules", False, ASSET),
        ("billing_payments_volume", False, ASSET),
    ]


def test_results_carry_severity_and_sanitised_failing_expectations() -> None:
    frame = canonical("billing_payments", [payment("py_1"), payment("py_2", currency="XXX")])
    results = to_asset_check_results(validate_table(frame, context()), ASSET)
    by_name = {r.check_name: r for r in results}
    assert [r.check_name for r in results] == [s.name for s in check_specs("billing_payments", ASSET)]
    row_rules = by_name["billing_payments_row_rules"]
    assert (row_rules.passed, row_rules.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert by_name["billing_payments_schema"].severity == dg.AssetCheckSeverity.ERROR
    assert by_name["billing_payments_schema"].passed
    failing = row_rules.metadata["failing_expectations"].data
    assert failing == [
        {
            "expectation_type": "expect_column_values_to_be_in_set",
            "column": "currency",
            "rule": "allowed_values",
            "success": False,
            "unexpected_count": 1,
            "sample": ["XXX"],
        }
    ]
    assert row_rules.metadata["quarantined_rows"].value == 1
    assert 0 < row_rules.metadata["success_percent"].value < 100
    assert "data_docs" not in row_rules.metadata  # turned off by the policy


def test_data_docs_are_built_and_linked(tmp_path) -> None:
    docs = tmp_path / "gx_docs"
    frame = canonical("billing_payments", [payment("py_1"), payment("py_2", amount=-1.0)])
    outcome = validate_table(frame, context(policy=QualityPolicy(data_docs=True), data_docs_dir=docs))
    assert outcome.data_docs_index == docs / "billing_payments" / "index.html"
    assert outcome.data_docs_index.is_file()
    pages = list((docs / "billing_payments" / "validations").rglob("*.html"))
    assert len(pages) == 1
    assert "expect_column_values_to_be_between" in pages[0].read_text() or "amount" in pages[0].read_text()
    assert 'href="billing_payments/index.html"' in (docs / "index.html").read_text()
    result = to_asset_check_results(outcome, ASSET)[0]
    assert result.metadata["data_docs"].path == str(outcome.data_docs_index)
    # An http link on the docs server of `make ui` (a browser refuses file:// from the UI's http page).
    assert result.metadata["data_docs_url"].url == "http://127.0.0.1:3001/gx_docs/billing_payments/index.html"


def test_data_docs_pages_share_compiled_templates_but_show_their_own_validation(tmp_path) -> None:
    from great_expectations.render.view.view import DefaultJinjaView

    pages = {}
    for amount in (-1.25, -7.5):
        frame = canonical("billing_payments", [payment("py_1"), payment("py_2", amount=amount)])
        docs = tmp_path / str(amount)
        validate_table(frame, context(policy=QualityPolicy(data_docs=True), data_docs_dir=docs))
        [page] = (docs / "billing_payments" / "validations").rglob("*.html")
        pages[amount] = page.read_text()
    assert "-1.25" in pages[-1.25] and "-7.5" not in pages[-1.25]
    assert "-7.5" in pages[-7.5] and "-1.25" not in pages[-7.5]
    first, second = DefaultJinjaView(), DefaultJinjaView()
    assert first.env is not second.env and first.env.bytecode_cache is second.env.bytecode_cache is not None
