"""Nothing crashes on missing or empty data: the whole graph, run on one tiny generated company
with each source system absent in turn, with every file header-only, and over months before the
company had any revenue. Each run must succeed, and the metrics of the missing source must be
NULL (never 0), while the metrics of the sources that are there keep their values.

The FX system is the one exception, by design (README, docs/quality.md): without rates, rows in
other currencies are quarantined as unknown currencies, and the blocking integrity check stops
the tables where that is more than the allowed fraction. The run then ends on those named
checks, not on an exception.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.dagster_storage import ephemeral_instance
from saas_metrics.defs.ingest import source_steps
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.runner import RunOutcome, materialise
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.warehouse import Warehouse
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings

START = dt.date(2025, 5, 1)
#: The generated company's first subscription starts on 2024-05-30: March and April 2024 have no revenue.
EARLY = (dt.date(2024, 3, 1), dt.date(2024, 6, 1))

#: Metrics that must be NULL in every month when the system is absent.
NULL_WITHOUT: dict[str, tuple[str, ...]] = {
    "billing": ("mrr", "arr", "customers", "new_mrr", "nrr", "grr", "ltv", "cash_collected", "trial_to_paid_rate", "cac"),
    "crm": ("leads", "mqls", "sqls", "lead_to_customer_rate", "demos_attended", "paid_cac"),
    "web": ("unique_visitors", "visit_to_lead_rate"),
    "ads": ("ad_spend", "sm_spend", "cac", "paid_cac"),
    "product": ("signups", "trials_started", "active_users", "usage_total", "average_health_score"),
    "support": ("tickets_created", "open_backlog", "nps", "nps_responses"),
    "finance": ("sm_expenses", "sm_spend", "cac", "ltv_to_cac"),
}
#: A metric of another source, unchanged when the system is absent.
UNCHANGED_WITHOUT: dict[str, str] = {
    "billing": "leads", "crm": "mrr", "web": "mrr", "ads": "sm_expenses", "product": "mrr", "support": "mrr", "finance": "ad_spend",
}


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from saas_metrics.sample_data import generate

    out = tmp_path_factory.mktemp("matrix_company")
    generate(out, seed=3, customers=12, months=3, end_month=END_MONTH)
    return out


def _run(company: Path, root: Path, start: dt.date = START, change=None, end: dt.date = END_MONTH) -> tuple[RunOutcome, pd.DataFrame]:
    sources = root / "sources"
    shutil.copytree(company, sources)
    if change is not None:
        change(sources)
    settings = make_settings(sources, f"sqlite:///{root / 'warehouse.db'}", start=start, end=end,
                             quality={"data_docs": False})
    outcome = materialise(settings, instance=ephemeral_instance(), log_level="ERROR")
    kpi = Warehouse(settings.warehouse_url).read(KPI_MONTHLY) if outcome.success else KPI_MONTHLY.empty_frame()
    head = kpi[kpi["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    # A domain with no input at all may emit no row for its metric: absent reads as NULL here (never 0).
    every = sorted({m for metrics in NULL_WITHOUT.values() for m in metrics} | set(UNCHANGED_WITHOUT.values()))
    return outcome, head.reindex(columns=sorted(set(head.columns) | set(every)))


@pytest.fixture(scope="module")
def complete(company: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    outcome, head = _run(company, tmp_path_factory.mktemp("complete"))
    assert outcome.success, outcome.error
    return head


def _header_only(sources: Path) -> None:
    for path in sources.rglob("*.csv"):
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text(lines[0] + "\n" if lines else "", encoding="utf-8")


@pytest.mark.parametrize("system", sorted(NULL_WITHOUT))
def test_a_missing_system_nulls_its_metrics_and_nothing_else(system: str, company: Path, complete: pd.DataFrame,
                                                              tmp_path: Path) -> None:
    outcome, head = _run(company, tmp_path, change=lambda src: shutil.rmtree(src / system))
    assert outcome.success, outcome.error
    assert outcome.steps_failed == [] and outcome.steps_skipped == []
    assert len(head) == 2
    for metric in NULL_WITHOUT[system]:
        assert head[metric].isna().all(), f"without {system}: {metric} = {head[metric].tolist()}"
    kept = UNCHANGED_WITHOUT[system]
    assert complete[kept].notna().all() and (complete[kept] > 0).any()
    pd.testing.assert_series_equal(head[kept], complete[kept])


def test_every_table_header_only(company: Path, tmp_path: Path) -> None:
    outcome, head = _run(company, tmp_path, change=_header_only)
    assert outcome.success, outcome.error
    assert outcome.steps_failed == [] and outcome.steps_skipped == []
    for metric in sorted({m for metrics in NULL_WITHOUT.values() for m in metrics}):
        assert head[metric].isna().all(), f"header-only files: {metric} = {head[metric].tolist()}"


def test_months_without_revenue_have_zero_mrr_and_undefined_rates(company: Path, tmp_path: Path) -> None:
    outcome, head = _run(company, tmp_path, start=EARLY[0], end=EARLY[1])
    assert outcome.success, outcome.error
    assert outcome.steps_failed == [] and outcome.steps_skipped == []
    before = head.loc[: pd.Timestamp(2024, 4, 1)]
    assert len(head) == 4 and len(before) == 2
    # Billing is connected: no customer yet is a true 0 MRR; a rate over no customer is undefined.
    assert (before[["mrr", "customers", "new_mrr"]] == 0).all().all()
    for metric in ("arpa", "customer_churn_rate", "gross_mrr_churn_rate", "nrr", "grr", "ltv", "asp"):
        assert before[metric].isna().all(), f"{metric} = {before[metric].tolist()}"
    assert head.at[pd.Timestamp(2024, 6, 1), "mrr"] > 0


def test_without_fx_the_run_stops_on_named_checks_not_an_exception(company: Path, tmp_path: Path) -> None:
    outcome, _ = _run(company, tmp_path, change=lambda src: shutil.rmtree(src / "fx"))
    assert not outcome.success
    assert "DagsterAssetCheckFailedError" in outcome.error and "_integrity" in outcome.error, outcome.error
    blocking = [(asset, check) for asset, check, severity in outcome.checks_failed if severity == "ERROR"]
    assert blocking and all(check.endswith("_integrity") for _, check in blocking), blocking
    # Each failed step is the step of a source system whose table failed its integrity check.
    steps_of = {m.raw_key.to_user_string(): name for name, members in source_steps(SCHEMAS).items() for m in members}
    assert set(outcome.steps_failed) == {steps_of[asset] for asset, _ in blocking}


def test_a_file_gone_since_an_earlier_run_is_null_not_zero(company: Path, complete: pd.DataFrame, tmp_path: Path) -> None:
    """Google Ads delivered rows in the first run; removed, the re-run of June has ad spend and CAC
    NULL (not the lower sum of the other platforms), a WARN check and one CLI line say so, and runs
    of every month keep them NULL while it is gone; with the file back, the figures of the first run
    return."""
    from saas_metrics.cli.report import run_notes
    from saas_metrics.quality.gaps import SOURCE_GAPS
    from saas_metrics_tests.integration.test_metric_checks import check_evaluations

    outcome, _ = _run(company, tmp_path)
    assert outcome.success, outcome.error
    sources, url = tmp_path / "sources", f"sqlite:///{tmp_path / 'warehouse.db'}"
    settings = make_settings(sources, url, start=START, end=END_MONTH, quality={"data_docs": False})
    saved = (sources / "ads/google_ads.csv").read_bytes()
    (sources / "ads/google_ads.csv").unlink()
    instance = ephemeral_instance()
    gone = materialise(settings, END_MONTH, END_MONTH, instance=instance, log_level="ERROR")
    assert gone.success, gone.error
    assert ("raw_ad_spend", "source_complete", "WARN") in gone.checks_failed
    evaluation = check_evaluations(instance, gone.run_id)[("raw_ad_spend", "source_complete")]
    assert "ads/google_ads.csv is absent (it fed the table before)" in evaluation.description
    head = Warehouse(url).read(KPI_MONTHLY)
    head = head[head["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    june, may = pd.Timestamp(END_MONTH), pd.Timestamp(2025, 5, 1)
    for metric in ("ad_spend", "sm_spend", "cac", "paid_cac"):
        assert pd.isna(head.at[june, metric]), metric
        assert head.at[may, metric] == complete.at[may, metric]  # months not re-run keep their figures
    assert head.at[june, "mrr"] == complete.at[june, "mrr"]
    gaps = Warehouse(url).read(SOURCE_GAPS)
    assert gaps[["month", "table_name", "source_file", "reason"]].values.tolist() == [[june, "ad_spend", "ads/google_ads.csv", "absent"]]
    [note] = run_notes(settings, gone.run_id)
    assert note.startswith("missing sources, read as NULL not 0: ads/google_ads.csv absent (ad_spend: ")
    assert "cac" in note and note.endswith("NULL for 2025-06..2025-06)")

    # Two runs of every month while the file is still gone: after the first, no stored row shows that
    # Google Ads ever fed the table; the gap found before keeps its metrics NULL.
    for _ in range(2):
        again = materialise(settings, instance=ephemeral_instance(), log_level="ERROR")
        assert again.success, again.error
    head = Warehouse(url).read(KPI_MONTHLY)
    head = head[head["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    assert head["ad_spend"].isna().all() and head["cac"].isna().all()

    (sources / "ads/google_ads.csv").write_bytes(saved)
    back = materialise(settings, instance=ephemeral_instance(), log_level="ERROR")
    assert back.success and not [c for c in back.checks_failed if c[1] == "source_complete"]
    assert Warehouse(url).read(SOURCE_GAPS).empty and run_notes(settings, back.run_id) == []
    head = Warehouse(url).read(KPI_MONTHLY)
    head = head[head["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    pd.testing.assert_series_equal(head["ad_spend"], complete["ad_spend"])


def test_an_expected_source_that_never_came_is_null_not_zero(company: Path, complete: pd.DataFrame, tmp_path: Path) -> None:
    """quality.expected_sources names Google Ads: absent from the first run on, ad spend and CAC are NULL."""
    sources = tmp_path / "sources"
    shutil.copytree(company, sources)
    (sources / "ads/google_ads.csv").unlink()
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    settings = make_settings(sources, url, start=START, end=END_MONTH,
                             quality={"data_docs": False, "expected_sources": ["ads/google_ads.csv", "web"]})
    outcome = materialise(settings, instance=ephemeral_instance(), log_level="ERROR")
    assert outcome.success, outcome.error
    assert ("raw_ad_spend", "source_complete", "WARN") in outcome.checks_failed
    assert not [c for c in outcome.checks_failed if c[0] == "raw_web_sessions" and c[1] == "source_complete"]  # web is there
    head = Warehouse(url).read(KPI_MONTHLY)
    head = head[head["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    assert head["ad_spend"].isna().all() and head["cac"].isna().all()
    pd.testing.assert_series_equal(head["unique_visitors"], complete["unique_visitors"])
