"""Replaying a stored GX validation: only an identical input, suite and GX version replay, and a
replay gives exactly the checks and quarantine split of a full validation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from quality_frames import NOW, assert_same_verdicts, canonical, context, payment

from saas_metrics.config import QualityPolicy
from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.quality import expectations, gx_context, replay, validate_table
from saas_metrics.quality.dagster_checks import to_asset_check_results
from saas_metrics.quality.replay import VALIDATION_RESULTS, ValidationStore
from saas_metrics.quality.validate import ValidationOutcome
from saas_metrics.warehouse.store import Warehouse

LATER = NOW + dt.timedelta(days=3)


def _rows() -> list[dict]:
    """Seven payments, four of them defective in one way each (hand-checked below)."""
    return [
        payment("py_1"),
        payment("py_2", customer_id="cus_2", currency="EUR"),
        payment("py_3", amount=-4.0),  # non_negative
        payment("py_1", amount=99.0),  # duplicate of line 1
        payment("py_5", currency="XXX"),  # allowed_values (currency)
        payment("py_6", customer_id="cus_404"),  # reference: pandas, not GX
        payment("py_7", created_at="2024-03-31 23:00:00"),
    ]


@pytest.fixture
def store(tmp_path: Path) -> ValidationStore:
    return ValidationStore(Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}"))


@pytest.fixture
def gx_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A spy on GX: the tables validated by GX (the real validation still runs)."""
    calls: list[str] = []
    real = gx_context.run_suite

    def spy(frame, variant, *args, **kwargs):
        calls.append(variant.table)
        return real(frame, variant, *args, **kwargs)

    monkeypatch.setattr(gx_context, "run_suite", spy)
    return calls


def _validate(rows: list[dict], store: ValidationStore | None, run_id: str | None, **overrides) -> ValidationOutcome:
    return validate_table(canonical("billing_payments", rows), context(stored_validations=store, run_id=run_id, **overrides))


def test_identical_input_replays_without_gx_and_equals_a_full_validation(store, gx_calls) -> None:
    first = _validate(_rows(), store, "run-a")
    assert gx_calls == ["billing_payments"] and first.replayed_from is None
    replayed = _validate(_rows(), store, "run-b", now=LATER)
    assert gx_calls == ["billing_payments"]  # GX not called again
    assert replayed.replayed_from is not None
    assert (replayed.replayed_from.run_id, replayed.replayed_from.validated_at) == ("run-a", NOW)
    assert replayed.gx_result is None

    full = _validate(_rows(), None, None, now=LATER)  # no store: GX validates
    assert len(gx_calls) == 2
    assert_same_verdicts(replayed, full)
    # The hand-counted split: py_3, the second py_1, py_5 and py_6 are set aside, with the rule of each.
    assert replayed.clean["payment_id"].tolist() == ["py_1", "py_2", "py_7"]
    assert replayed.quarantined["rule"].tolist() == ["non_negative", "duplicate", "allowed_values", "reference"]
    assert replayed.quarantined["quarantined_at"].tolist() == [pd.Timestamp(LATER)] * 4  # this run's time
    assert [(c.name, c.passed) for c in replayed.checks] == [
        ("billing_payments_schema", True),
        ("billing_payments_integrity", True),
        ("billing_payments_row_rules", False),
        ("billing_payments_volume", True),
    ]


def test_replayed_checks_name_the_run_that_validated(store, gx_calls) -> None:
    _validate(_rows(), store, "run-a")
    results = to_asset_check_results(_validate(_rows(), store, "run-b"), "raw_billing_payments")
    assert len(results) == 4
    for result in results:
        assert result.metadata["validation"].value == "replayed"
        assert result.metadata["validated_by_run"].run_id == "run-a"
        assert result.metadata["validated_at"].value == NOW.replace(tzinfo=dt.UTC).timestamp()
    fresh = to_asset_check_results(_validate(_rows()[:2], store, "run-c"), "raw_billing_payments")
    assert fresh[0].metadata["validation"].value == "full" and "validated_by_run" not in fresh[0].metadata


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda rows: rows[:-1], id="row removed"),
        pytest.param(lambda rows: [*rows, payment("py_8")], id="row added"),
        pytest.param(lambda rows: [*rows[:6], payment("py_7", amount=10.01)], id="value changed"),
        pytest.param(lambda rows: [*rows[:6], payment("py_7", invoice_id="in_9")], id="column no rule reads"),
        pytest.param(lambda rows: [rows[1], rows[0], *rows[2:]], id="rows reordered"),
    ],
)
def test_any_changed_row_is_validated_in_full(store, gx_calls, change) -> None:
    _validate(_rows(), store, "run-a")
    changed = _validate(change(_rows()), store, "run-b")
    assert gx_calls == ["billing_payments", "billing_payments"]
    assert changed.replayed_from is None
    assert_same_verdicts(changed, _validate(change(_rows()), None, None))
    # The new validation replaced the stored one: the next identical run replays run-b's.
    again = _validate(change(_rows()), store, "run-c")
    assert again.replayed_from is not None and again.replayed_from.run_id == "run-b"
    assert len(gx_calls) == 3  # two with the store, one without


def test_a_changed_expectation_is_validated_in_full(store, gx_calls, monkeypatch) -> None:
    _validate(_rows(), store, "run-a")
    real = expectations.rules_for
    monkeypatch.setattr(expectations, "rules_for", lambda t: dataclasses.replace(real(t), positive=("amount",)))
    for cached in (expectations.suite_spec, expectations.suite_definition, expectations.suite_columns):
        cached.cache_clear()
    variant = expectations.SuiteVariant("billing_payments", window=True, currency=True)
    assert any(s.meta["rule"] == "positive" for s in expectations.suite_spec(variant))
    try:
        outcome = _validate(_rows(), store, "run-b")
    finally:
        monkeypatch.undo()
        for cached in (expectations.suite_spec, expectations.suite_definition, expectations.suite_columns):
            cached.cache_clear()
    assert gx_calls == ["billing_payments", "billing_payments"] and outcome.replayed_from is None


def test_a_new_gx_version_is_validated_in_full(store, gx_calls, monkeypatch) -> None:
    _validate(_rows(), store, "run-a")
    monkeypatch.setattr(replay, "gx_version", lambda: "99.0.0")
    outcome = _validate(_rows(), store, "run-b")
    assert gx_calls == ["billing_payments", "billing_payments"] and outcome.replayed_from is None
    stored = store.warehouse.read(VALIDATION_RESULTS)
    assert stored[["run_id", "gx_version"]].values.tolist() == [["run-b", "99.0.0"]]


def test_other_suite_parameters_are_validated_in_full(store, gx_calls) -> None:
    _validate(_rows(), store, "run-a")
    _validate(_rows(), store, "run-b", known_currencies=frozenset({"USD", "EUR", "XXX"}))
    _validate(_rows(), store, "run-c", window_start=dt.date(2024, 2, 1))
    assert len(gx_calls) == 3


def test_now_passing_a_dated_row_is_validated_in_full(store, gx_calls) -> None:
    """``now`` is read only by the not_future rule: a later ``now`` replays while the same rows are
    after it, and validates again when a row's time is no longer in the future."""
    march_10 = dt.datetime(2024, 3, 10)
    rows = [payment("py_1"), payment("py_2", created_at="2024-03-20 08:00:00")]
    first = _validate(rows, store, "run-a", now=march_10)
    assert first.quarantined["rule"].tolist() == ["not_future"]
    still_future = _validate(rows, store, "run-b", now=dt.datetime(2024, 3, 19))
    assert len(gx_calls) == 1 and still_future.replayed_from is not None
    # The reason names this run's now, as a full validation would.
    assert still_future.quarantined["reason"].tolist() == [
        "billing/charges.csv line 2: created_at 2024-03-20 08:00:00 is after now (2024-03-19) (rule not_future)"
    ]
    past = _validate(rows, store, "run-c", now=dt.datetime(2024, 3, 21))
    assert len(gx_calls) == 2 and past.replayed_from is None and past.quarantined.empty


def test_without_a_run_nothing_is_stored(store, gx_calls) -> None:
    _validate(_rows(), store, None)
    _validate(_rows(), store, None)
    assert len(gx_calls) == 2
    assert store.warehouse.read(VALIDATION_RESULTS).empty


def test_a_replay_leaves_the_data_docs_of_the_run_that_validated(store, gx_calls, tmp_path) -> None:
    docs = tmp_path / "gx_docs"
    policy = QualityPolicy(data_docs=True)
    full = _validate(_rows(), store, "run-a", policy=policy, data_docs_dir=docs)
    page = docs / "billing_payments" / "index.html"
    assert full.data_docs_index == page
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in docs.rglob("*") if p.is_file()}
    replayed = _validate(_rows(), store, "run-b", policy=policy, data_docs_dir=docs, now=LATER)
    assert len(gx_calls) == 1 and replayed.data_docs_index == page
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in docs.rglob("*") if p.is_file()} == before
    assert to_asset_check_results(replayed, "raw_billing_payments")[0].metadata["data_docs"].path == str(page)


def test_replay_on_postgresql(postgres_url, gx_calls) -> None:
    store = ValidationStore(Warehouse(postgres_url))
    first = _validate(_rows(), store, "run-a")
    replayed = _validate(_rows(), store, "run-b")
    assert len(gx_calls) == 1 and replayed.replayed_from is not None
    assert replayed.replayed_from.run_id == "run-a" and replayed.replayed_from.validated_at == NOW
    assert_same_verdicts(replayed, first)


def test_a_second_run_of_a_raw_asset_replays_its_checks(small_sources: Path, tmp_path: Path) -> None:
    """The raw asset's wiring: the second materialisation of an unchanged table replays the first's
    validation, and its check results are the first's except for saying so."""
    import dagster as dg

    from saas_metrics.definitions import build_definitions
    from saas_metrics_tests.conftest import END_MONTH
    from saas_metrics_tests.integration.helpers import make_settings

    settings = make_settings(small_sources, f"sqlite:///{tmp_path / 'w.db'}", start=dt.date(2025, 1, 1), end=END_MONTH)
    defs = build_definitions(settings)
    key = dg.AssetKey("raw_billing_prices")
    instance = ephemeral_instance()

    def checks_of_a_run() -> tuple[str, dict[str, tuple]]:
        result = dg.materialize([defs.resolve_assets_def(key)], selection=[key], instance=instance,
                                 raise_on_error=False)  # without fx_rates its currencies are unknown: a failing check replays too
        checks = {}
        for evaluation in result.get_asset_check_evaluations():
            metadata = {k: v.value for k, v in evaluation.metadata.items()}
            checks[evaluation.check_name] = (evaluation.passed, evaluation.description, metadata)
        return result.run_id, checks

    first_run, first = checks_of_a_run()
    second_run, second = checks_of_a_run()
    gx_checks = [f"billing_prices_{suffix}" for suffix in ("schema", "integrity", "row_rules", "volume")]
    for name in gx_checks:
        assert first[name][2]["validation"] == "full"
        provenance = {k: second[name][2].pop(k) for k in ("validation", "validated_by_run", "validated_at")}
        assert provenance["validation"] == "replayed" and provenance["validated_by_run"] == first_run
        first[name][2].pop("validation")
        assert second[name] == first[name]
    assert second_run != first_run
    assert not first["billing_prices_integrity"][0]  # the failing verdict was replayed as such


def test_a_replay_does_not_import_gx(tmp_path: Path) -> None:
    """A process whose validations all replay never imports Great Expectations."""
    from saas_metrics_tests.test_definitions_imports import imported_after

    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from quality_frames import canonical, context, payment\n"
        "from saas_metrics.quality import validate_table\n"
        "from saas_metrics.quality.replay import ValidationStore\n"
        "from saas_metrics.warehouse.store import Warehouse\n"
        f"store = ValidationStore(Warehouse('sqlite:///{tmp_path / 'w.db'}'))\n"
        "frame = canonical('billing_payments', [payment('py_1'), payment('py_2', amount=-1.0)])\n"
        "outcome = validate_table(frame, context(stored_validations=store, run_id='run-a'))\n"
        "assert (outcome.replayed_from is None) == ('great_expectations' in sys.modules)\n"
    )
    assert imported_after(code)["great_expectations"] is True  # the first validation runs GX
    assert imported_after(code) == {"great_expectations": False, "plotly": False}  # the second replays


def test_another_result_format_is_validated_in_full(store, gx_calls) -> None:
    _validate(_rows(), store, "run-a")
    _validate(_rows(), store, "run-b", policy=QualityPolicy(data_docs=False, gx_detail_passing=True))
    assert len(gx_calls) == 2
