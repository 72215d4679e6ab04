"""The invoice engine on the simulator's data: with the item and status histories deleted it gives
the same customer_mrr, mrr_movements and revenue KPIs as the subscription engine, customer-month by
customer-month, and both equal the simulator's ground truth; the reconciliation lists nothing."""

import datetime as dt
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.config import RevenuePolicy
from saas_metrics.defs.source_assets import stg_storage_schema
from saas_metrics.metrics.cohorts import COHORT_RETENTION
from saas_metrics.metrics.invoice_revenue import build_intervals_by_engine
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.movements import MRR_MOVEMENTS, mrr_movements
from saas_metrics.metrics.mrr import CUSTOMER_MRR, customer_mrr_snapshots, first_paid_months
from saas_metrics.metrics.revenue_kpis import revenue_kpis
from saas_metrics.metrics.revenue_reconciliation import REVENUE_RECONCILIATION
from saas_metrics.quality.quarantine import QUARANTINED_ROWS
from saas_metrics.sample_data.generator import generate
from saas_metrics.sources import billing, fx
from saas_metrics.tables import TableSchema
from saas_metrics.warehouse import Warehouse
from saas_metrics_tests.integration.helpers import make_settings, read_sorted, run_months

HISTORY_FILES = ("billing/subscription_items.csv", "billing/subscription_status_history.csv")
END = dt.date(2025, 3, 1)


def _without_histories(sources: Path, target: Path) -> Path:
    shutil.copytree(sources, target)
    for name in HISTORY_FILES:
        (target / name).unlink()
    return target


def _revenue(sources: Path, source: str, months: list[pd.Timestamp], engine: str | None = None) -> dict[str, pd.DataFrame]:
    """customer_mrr, mrr_movements and the headline revenue KPIs of ``months`` computed from the files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deleted history files are reported missing
        t = {name: getattr(billing, f"read_{name}")(sources) for name in (
            "customers", "prices", "subscriptions", "subscription_items", "subscription_status_history", "discounts",
            "subscription_periods", "invoice_lines")}
        rates = fx.read_rates(sources)
    intervals, engines = build_intervals_by_engine(
        t["customers"], t["prices"], t["subscriptions"], t["subscription_items"], t["subscription_status_history"],
        t["discounts"], None, t["subscription_periods"], t["invoice_lines"], RevenuePolicy(source=source), "USD")
    if engine is None:
        assert set(engines) == {source}
    else:  # auto: the billed subscriptions on ``engine`` (never-billed trials stay on the other, earning nothing)
        assert (engines == engine).sum() > len(engines) / 2
    before = months[0] - pd.DateOffset(months=1)
    snapshots = customer_mrr_snapshots(intervals, [before, *months], rates, "USD")
    movements = mrr_movements(snapshots, months, rates, "USD", first_paid_months(intervals), RevenuePolicy())
    snapshots = snapshots[snapshots["month"] >= months[0]].reset_index(drop=True)
    return {"customer_mrr": snapshots, "mrr_movements": movements, "kpis": revenue_kpis(movements, snapshots, months)}


@pytest.mark.parametrize(("seed", "customers", "n_months"), [(1, 60, 14), (2, 120, 26), (3, 90, 30)])
def test_invoice_engine_equals_subscription_engine_and_ground_truth(tmp_path: Path, seed: int, customers: int,
                                                                     n_months: int) -> None:
    sources = tmp_path / "full"
    generate(sources, seed=seed, customers=customers, months=n_months, end_month=END, product_events=False)
    months = list(pd.date_range(end=pd.Timestamp(END), periods=n_months, freq="MS"))
    by_subscriptions = _revenue(sources, "subscriptions", months)
    invoices_only = _without_histories(sources, tmp_path / "invoices_only")
    by_invoices = _revenue(invoices_only, "invoices", months)
    by_default = _revenue(invoices_only, "auto", months, engine="invoices")  # auto: no item history -> invoices

    for name in ("customer_mrr", "mrr_movements", "kpis"):
        pd.testing.assert_frame_equal(by_invoices[name], by_subscriptions[name], check_exact=False, rtol=1e-12, atol=1e-9)
        pd.testing.assert_frame_equal(by_default[name], by_subscriptions[name], check_exact=False, rtol=1e-12, atol=1e-9)
    assert len(by_subscriptions["customer_mrr"]) > 10 * n_months  # a real comparison, not two empty frames
    assert set(by_subscriptions["mrr_movements"]["movement"]) >= {"new", "expansion", "contraction", "churn"}

    truth = pd.read_csv(sources / "_ground_truth/customer_mrr.csv", parse_dates=["month"])
    truth = truth.groupby(["month", "customer_id"], as_index=False)["mrr"].sum()
    got = by_invoices["customer_mrr"][["month", "customer_id", "mrr_local"]]
    both = truth.merge(got, on=["month", "customer_id"], how="outer").fillna(0.0)
    assert (both["mrr"] - both["mrr_local"]).abs().max() < 1e-6


@pytest.fixture(scope="module")
def dagster_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("invoice_engine")
    sources = root / "full"
    generate(sources, seed=5, customers=40, months=4, end_month=END, product_events=False)
    invoices_only = _without_histories(sources, root / "invoices_only")
    urls = {}
    # auto on the full folder runs every subscription on the subscription engine (they all have items).
    for name, folder, source in (("auto", sources, "auto"), ("invoices", invoices_only, "invoices")):
        urls[name] = f"sqlite:///{root / f'{name}.db'}"
        settings = make_settings(folder, urls[name], start=dt.date(2024, 12, 1), end=END,
                                 quality={"data_docs": False}, revenue={"source": source})
        run_months(settings)
    return urls


def test_dagster_runs_give_identical_revenue_tables(dagster_runs: dict[str, str]) -> None:
    kpi_tables = [TableSchema(name=name, columns=KPI_MONTHLY.columns, time_column="month", key=KPI_MONTHLY.key)
                  for name in ("kpi_revenue", "kpi_ltv", "kpi_segments")]
    for schema in (CUSTOMER_MRR, MRR_MOVEMENTS, COHORT_RETENTION, *kpi_tables):
        key = list(schema.key)
        expected = read_sorted(dagster_runs["auto"], schema, key)
        assert len(expected), schema.name
        pd.testing.assert_frame_equal(read_sorted(dagster_runs["invoices"], schema, key), expected, rtol=1e-12, obj=schema.name)


def test_reconciliation_finds_no_difference_on_simulated_data(dagster_runs: dict[str, str]) -> None:
    warehouse = Warehouse(dagster_runs["auto"])
    assert warehouse.has_table("revenue_reconciliation")
    assert warehouse.read(REVENUE_RECONCILIATION).empty


def test_simulated_invoices_and_lines_pass_validation(dagster_runs: dict[str, str]) -> None:
    # credit invoices (negative totals) and credit lines (negative amount and tax) are not defects
    quarantined = Warehouse(dagster_runs["auto"]).read(QUARANTINED_ROWS)
    assert not quarantined["table_name"].isin(["billing_invoices", "billing_invoice_lines"]).any()
    lines = read_sorted(dagster_runs["auto"], stg_storage_schema("billing_invoice_lines"), ["line_id"])
    assert len(lines) and (lines["amount"] < 0).any()
