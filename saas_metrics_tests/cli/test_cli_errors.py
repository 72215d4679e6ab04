"""Failures read in one or two lines: the root cause and where in saas_metrics it was raised."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from saas_metrics.calendar import first_of_month
from saas_metrics.errors import MAX_MESSAGE, describe_exception
from saas_metrics.runner import RunOutcome, summarise
from saas_metrics_tests.cli.test_cli import run_cli

TAGS = {"dagster/asset_partition_range_start": "2025-01-01", "dagster/asset_partition_range_end": "2025-01-01"}


def bad_month() -> dt.date:
    return first_of_month("2025-13")  # raises inside saas_metrics/calendar.py


def test_a_failed_step_is_summarised_by_its_root_cause() -> None:
    @dg.asset(name="raw_ad_spend")
    def raw_ad_spend() -> None:
        bad_month()

    @dg.asset(name="raw_product_usage")
    def raw_product_usage() -> None:
        raise KeyError("usage")

    result = dg.materialize([raw_ad_spend, raw_product_usage], raise_on_error=False)
    outcome = summarise(result, TAGS)
    assert sorted(outcome.steps_failed) == ["raw_ad_spend", "raw_product_usage"]
    # Not Dagster's wrapper ('Error occurred while executing op "raw_ad_spend":'), but the cause and our frame.
    assert outcome.error is not None and "Error occurred" not in outcome.error and "\n" not in outcome.error
    step, _, rest = outcome.error.partition(": ")
    if step == "raw_ad_spend":
        assert rest.startswith("ValueError: month must be in 1..12")
        assert rest.endswith(f"(at saas_metrics/calendar.py:{first_of_month.__code__.co_firstlineno + 3} in first_of_month)")
    else:
        assert rest.startswith("KeyError: 'usage'") and "in raw_product_usage)" in rest


def test_exceptions_show_their_cause_on_a_second_line() -> None:
    try:
        try:
            bad_month()
        except ValueError as exc:
            raise RuntimeError('Error occurred while executing op "raw_ad_spend":') from exc
    except RuntimeError as exc:
        lines = describe_exception(exc)
    assert lines[0] == 'RuntimeError: Error occurred while executing op "raw_ad_spend":'
    assert lines[1].startswith("cause: ValueError: month must be in 1..12 (at saas_metrics/calendar.py:")
    assert lines[1].endswith(" in first_of_month)")
    assert describe_exception(KeyError("x")) == ["KeyError: 'x'"]
    long = describe_exception(ValueError("v" * 1000))[0]
    assert len(long) == len("ValueError: ") + MAX_MESSAGE and long.endswith("...")


def test_cli_prints_the_cause_of_an_unexpected_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        try:
            bad_month()
        except ValueError as exc:
            raise RuntimeError("[report] failed") from exc

    monkeypatch.setattr("saas_metrics.cli.report.print_report", explode)
    monkeypatch.setenv("SAAS_METRICS_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    assert run_cli(monkeypatch, "report") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "error: RuntimeError: [report] failed"  # square brackets printed, not taken as markup
    assert err[1].strip().startswith("cause: ValueError: month must be in 1..12 (at saas_metrics/calendar.py:")
    assert err[2].startswith("hint: run with SAAS_METRICS_DEBUG=1") and len(err) == 3


def test_cli_run_failure_names_the_step_and_cause(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    failed = RunOutcome(success=False, run_id="r1", start="2025-01-01", end="2025-01-01",
                        steps_failed=["raw_ad_spend", "raw_product_usage"],
                        error="raw_ad_spend: AttributeError: 'NaTType' object has no attribute 'normalize' "
                              "(at saas_metrics/quality/validate.py:88 in coerce)")
    monkeypatch.setattr("saas_metrics.cli.progress.run_with_progress", lambda *args: failed)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "src").mkdir()
    for name, value in (("SOURCES_DIR", str(tmp_path / "src")), ("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.db'}"),
                        ("START_MONTH", "2025-01"), ("END_MONTH", "2025-01")):
        monkeypatch.setenv(f"SAAS_METRICS_{name}", value)
    assert run_cli(monkeypatch, "run") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == ("error: run r1 failed: raw_ad_spend: AttributeError: 'NaTType' object has no attribute 'normalize' "
                      "(at saas_metrics/quality/validate.py:88 in coerce) (and 1 other failed step)")


def test_a_framework_error_keeps_its_announced_list_and_no_framework_frame() -> None:
    from dagster._utils.error import SerializableErrorInfo

    from saas_metrics.errors import describe_error_info

    error = SerializableErrorInfo(
        message="dagster._core.errors.DagsterAssetCheckFailedError: 1 blocking asset check failed with ERROR severity:\n"
                "raw_billing_payments: billing_payments_schema\n",
        stack=['  File "/venv/lib/python3.11/site-packages/dagster/_core/execution/plan/execute_step.py", line 9, in f\n'],
        cls_name="DagsterAssetCheckFailedError",
    )
    assert describe_error_info(error) == (
        "DagsterAssetCheckFailedError: 1 blocking asset check failed with ERROR severity: "
        "raw_billing_payments: billing_payments_schema")
