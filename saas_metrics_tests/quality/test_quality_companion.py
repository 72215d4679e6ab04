"""The GX companion process (quality/companion.py): the same verdicts and Data Docs as GX in the
run's process, its pages rendered by the time it is drained, a failure inside it raised with its
traceback, a companion that dies leaving GX to the run's process, and a run's process that never
imports GX."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from quality_frames import assert_same_verdicts, canonical, context, payment

from saas_metrics.config import QualityPolicy
from saas_metrics.quality.companion import CompanionError, CompanionGone, GXCompanion
from saas_metrics.quality.data_docs import FINGERPRINT_FILE, page_fingerprint
from saas_metrics.quality.expectations import SuiteVariant
from saas_metrics.quality.validate import validate_table


@pytest.fixture(scope="module")
def companion() -> Iterator[GXCompanion]:
    started = GXCompanion.start()
    yield started
    started.close()


def _frame() -> pd.DataFrame:
    """Five payments: one negative amount, one unknown currency, one duplicate of line 1."""
    return canonical("billing_payments", [
        payment("py_1"),
        payment("py_2", amount=-4.0),
        payment("py_3", currency="XXX"),
        payment("py_1", amount=99.0),
        payment("py_5", customer_id="cus_2", currency="EUR"),
    ])


def test_the_companion_reaches_the_verdicts_of_gx_in_this_process(companion: GXCompanion) -> None:
    here = validate_table(_frame(), context())
    there = validate_table(_frame(), context(companion=companion))
    assert here.gx_result is not None and there.gx_result is None  # GX's result stayed in the companion
    assert_same_verdicts(there, here)
    # Hand-checked: lines 2 (amount -4), 3 (currency XXX) and 4 (duplicate payment_id) quarantined.
    assert sorted(there.quarantined["source_line"]) == [2, 3, 4]
    failing = {(e.rule, e.column) for e in there.expectations if not e.success}
    assert {("non_negative", "amount"), ("allowed_values", "currency"), ("duplicate", "payment_id")} == failing
    assert companion.drain() == []  # nothing was asked of it that failed


def test_its_data_docs_page_is_rendered_once_it_is_drained(companion: GXCompanion, tmp_path: Path) -> None:
    docs = tmp_path / "gx_docs"
    with_docs = QualityPolicy(data_docs=True)
    outcome = validate_table(_frame(), context(companion=companion, policy=with_docs, data_docs_dir=docs))
    assert outcome.companion_handle is not None
    assert outcome.data_docs_index == docs / "billing_payments" / "index.html"
    assert companion.drain() == []
    assert outcome.data_docs_index.is_file()
    [page] = (docs / "billing_payments" / "validations").rglob("*.html")
    assert "XXX" in page.read_text()  # the unexpected value, from the result the companion kept
    assert 'href="billing_payments/index.html"' in (docs / "index.html").read_text()
    assert (docs / "billing_payments" / FINGERPRINT_FILE).read_text() == page_fingerprint(outcome)
    # The same validation again: the page already shows it and is not rendered again.
    before = page.stat().st_mtime_ns
    validate_table(_frame(), context(companion=companion, policy=with_docs, data_docs_dir=docs))
    assert companion.drain() == []
    assert [p.stat().st_mtime_ns for p in (docs / "billing_payments" / "validations").rglob("*.html")] == [before]
    # GX in this process renders the page the companion did (same verdicts, same fingerprint).
    local = tmp_path / "local_docs"
    here = validate_table(_frame(), context(policy=with_docs, data_docs_dir=local))
    assert (local / "billing_payments" / FINGERPRINT_FILE).read_text() == page_fingerprint(here) == page_fingerprint(outcome)


def test_a_relative_data_docs_folder_is_this_processs_in_either_process(companion: GXCompanion, tmp_path: Path) -> None:
    """A relative data folder (SAAS_METRICS_DATA_DIR=data) gives a relative Data Docs folder: GX
    refuses one, and the companion started in another working directory (this module's first test
    ran elsewhere) would resolve it there."""
    os.chdir(tmp_path / "..")  # away from where the companion started (this test's tmp_path's parent)
    docs = Path(tmp_path.name) / "gx_docs"
    with_docs = QualityPolicy(data_docs=True)
    there = validate_table(_frame(), context(companion=companion, policy=with_docs, data_docs_dir=docs / "companion"))
    here = validate_table(_frame(), context(policy=with_docs, data_docs_dir=docs / "here"))
    assert companion.drain() == []  # no "base_directory must be an absolute path" from GX
    for where, outcome in (("companion", there), ("here", here)):
        assert (tmp_path / "gx_docs" / where / "billing_payments" / "index.html").is_file()
        assert (tmp_path / "gx_docs" / where / "billing_payments" / FINGERPRINT_FILE).read_text() == page_fingerprint(outcome)
    assert here.data_docs_index is not None and here.data_docs_index.resolve().is_file()


def test_a_failure_inside_the_companion_is_raised_with_its_traceback(companion: GXCompanion) -> None:
    lacking = pd.DataFrame({"payment_id": ["py_1"]})  # none of the other columns the suite reads
    variant = SuiteVariant(table="billing_payments", window=False, currency=False)
    with pytest.raises(CompanionError, match=r"validating billing_payments failed(.|\n)*KeyError"):
        companion.validate(lacking, variant, {"now": pd.Timestamp("2024-05-02")}, detail_passing=False,
                           pii_columns=frozenset(), keep=False)
    # ... and it goes on serving.
    there = validate_table(_frame(), context(companion=companion))
    assert len(there.quarantined) == 3


def test_a_companion_that_dies_leaves_gx_to_the_runs_process(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    doomed = GXCompanion.start()
    try:
        docs = tmp_path / "gx_docs"
        policy = QualityPolicy(data_docs=True)
        first = validate_table(_frame(), context(companion=doomed, policy=policy, data_docs_dir=docs))
        assert doomed.drain() == []
        os.kill(doomed.pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING):
            second = validate_table(_frame(), context(companion=doomed, policy=policy, data_docs_dir=tmp_path / "again"))
        assert "the GX companion process ended (exit code -9)" in caplog.text
        assert not doomed.alive and second.gx_result is not None  # validated here
        assert_same_verdicts(second, first)
        assert second.data_docs_index is not None and second.data_docs_index.is_file()  # rendered here
        with pytest.raises(CompanionGone):
            doomed.render(0, "billing_payments", "x", docs)
    finally:
        doomed.close()


def test_a_companion_that_dies_with_pages_to_render_reports_them(tmp_path: Path) -> None:
    doomed = GXCompanion.start()
    try:
        _, handle = doomed.validate(_frame(), SuiteVariant("billing_payments", True, True),
                                    {"now": pd.Timestamp("2024-05-02"), "window_start": pd.Timestamp("2024-03-01"),
                                     "window_end": pd.Timestamp("2024-04-01"), "known_currencies": ["EUR", "USD"]},
                                    detail_passing=False, pii_columns=frozenset(), keep=True)
        assert handle is not None
        os.kill(doomed.pid, signal.SIGSTOP)  # stopped: the request waits in the pipe unanswered
        doomed.render(handle, "billing_payments", "fingerprint", tmp_path / "gx_docs")
        os.kill(doomed.pid, signal.SIGKILL)
        failures = doomed.drain()
        assert failures == ["the Data Docs page of billing_payments: not done, the GX companion process ended (exit code -9)"]
        assert not (tmp_path / "gx_docs" / "billing_payments").exists()
    finally:
        doomed.close()


def test_the_runs_process_never_imports_gx(tmp_path: Path) -> None:
    """In a fresh interpreter: a validation and its Data Docs page through the companion, and no GX
    module loaded in the process that asked."""
    script = f"""
import sys
from quality_frames import assert_same_verdicts, canonical, context, payment
from saas_metrics.config import QualityPolicy
from saas_metrics.quality.companion import GXCompanion
from saas_metrics.quality.validate import validate_table

companion = GXCompanion.start()
frame = canonical("billing_payments", [payment("py_1"), payment("py_2", amount=-1.0)])
outcome = validate_table(frame, context(companion=companion, policy=QualityPolicy(data_docs=True),
                                        data_docs_dir={str(tmp_path / "docs")!r}))
assert companion.drain() == []
companion.close()
print(len(outcome.quarantined), outcome.data_docs_index.is_file(),
      sorted(m for m in sys.modules if m.split(".")[0] == "great_expectations"))
"""
    tests_dir = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests_dir), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["1", "True", "[]"]
