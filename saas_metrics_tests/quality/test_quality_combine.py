"""One set of asset checks from a run's batches of months: a check fails when any batch fails it,
counts add up, rates are the worst batch's."""

from __future__ import annotations

from saas_metrics.quality.combine import ValidationSummary, combine_metadata, combine_summaries
from saas_metrics.quality.outcomes import CheckOutcome, ExpectationResult


def _summary(passed: bool, quarantined: int, rows: int) -> ValidationSummary:
    checks = [
        CheckOutcome("t_integrity", True, True, "ERROR", "t: unique keys", {"duplicate_keys_in_clean_rows": 0,
                                                                              "unresolved_fraction": quarantined / rows}),
        CheckOutcome("t_row_rules", passed, False, "WARN", "t: fine" if passed else f"t: {quarantined} quarantined",
                     {"rows": rows, "quarantined_rows": quarantined, "quarantined_by_rule": {"duplicate": quarantined},
                      "sample_reasons": [f"r{i}" for i in range(quarantined)]}),
        CheckOutcome("t_volume", True, False, "WARN", "t: volume", {"rows": rows, "months": 1, "rows_per_month": rows,
                                                                     "previous_month_rows": rows - 1, "band": 0.5}),
    ]
    expectations = [ExpectationResult("expect_unique", "id", "duplicate", passed, quarantined, ["x"] * quarantined)]
    return ValidationSummary("t", checks, expectations, 100.0 if passed else 50.0, rows, rows - quarantined, quarantined)


def test_a_check_fails_when_any_batch_fails_and_counts_add_up() -> None:
    combined = combine_summaries([_summary(True, 0, 10), _summary(False, 3, 20), _summary(False, 4, 40)],
                                 ["[2024-01-01, 2024-02-01)", "[2024-02-01, 2024-03-01)", "[2024-03-01, 2024-04-01)"])
    integrity, row_rules, volume = combined.checks
    assert integrity.passed and "2 other month batches pass too" in integrity.description
    assert not row_rules.passed
    assert row_rules.description == "[[2024-02-01, 2024-03-01)] t: 3 quarantined; [[2024-03-01, 2024-04-01)] t: 4 quarantined"
    assert row_rules.metadata["rows"] == 70 and row_rules.metadata["quarantined_rows"] == 7
    assert row_rules.metadata["quarantined_by_rule"] == {"duplicate": 7}
    assert row_rules.metadata["sample_reasons"] == ["r0", "r1", "r2", "r0", "r1"]
    assert integrity.metadata["unresolved_fraction"] == 0.15  # the worst batch's
    assert volume.metadata["previous_month_rows"] == 9  # the month before the run's first month
    assert volume.metadata["months"] == 3 and volume.metadata["rows_per_month"] == 70 / 3
    assert (combined.rows, combined.clean_rows, combined.quarantined_rows) == (70, 63, 7)
    assert combined.success_percent == 50.0
    [expectation] = combined.expectations
    assert not expectation.success and expectation.unexpected_count == 7 and len(expectation.sample) == 5


def test_one_batch_is_its_own_summary() -> None:
    one = _summary(False, 2, 5)
    assert combine_summaries([one], ["all"]) is one


def test_metadata_lists_of_names_are_joined_once() -> None:
    merged = combine_metadata([{"missing_columns": ["a"], "errors": [], "ok": True}, {"missing_columns": ["a", "b"], "ok": False}])
    assert merged == {"missing_columns": ["a", "b"], "errors": [], "ok": False}
