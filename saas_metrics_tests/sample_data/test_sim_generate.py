"""The simulator: determinism, scaling, planted behaviour and ground truth sanity."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.sample_data import GROUND_TRUTH_DIR, NATIVE_FILES, generate
from saas_metrics.sample_data.generator import GROUND_TRUTH_FILES

END = dt.date(2025, 6, 1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, seed, customers in (("a", 11, 150), ("b", 11, 150), ("c", 12, 150), ("small", 11, 60)):
        folder = tmp_path_factory.mktemp(f"sim_{name}")
        generate(folder, seed=seed, customers=customers, months=6, end_month=END, product_events=name != "small")
        out[name] = folder
    return out


def _rows(folder: Path, name: str) -> int:
    with (folder / name).open() as handle:
        return sum(1 for _ in handle) - 1


def test_same_seed_gives_byte_identical_files(runs: dict[str, Path]) -> None:
    files = sorted(p.relative_to(runs["a"]) for p in runs["a"].rglob("*.csv"))
    assert len(files) == len(NATIVE_FILES) + len(GROUND_TRUTH_FILES)
    for rel in files:
        assert (runs["a"] / rel).read_bytes() == (runs["b"] / rel).read_bytes(), rel


def test_other_seed_differs(runs: dict[str, Path]) -> None:
    assert (runs["a"] / "billing/invoices.csv").read_bytes() != (runs["c"] / "billing/invoices.csv").read_bytes()
    assert (runs["a"] / "crm/contacts.csv").read_bytes() != (runs["c"] / "crm/contacts.csv").read_bytes()


def test_row_counts_scale_with_customers(runs: dict[str, Path]) -> None:
    # 150 window customers + 30 % existing ones = 195; 60 + 18 = 78.
    assert _rows(runs["a"], "billing/customers.csv") == 195
    assert _rows(runs["small"], "billing/customers.csv") == 78
    for name in ("billing/invoices.csv", "crm/contacts.csv", "web/sessions.csv", "support/tickets.csv"):
        assert _rows(runs["a"], name) > 1.5 * _rows(runs["small"], name), name
    assert not (runs["small"] / "product/usage_daily.csv").exists()


def test_summary_months_and_counts(tmp_path: Path) -> None:
    summary = generate(tmp_path, seed=3, customers=20, months=3, end_month=dt.date(2024, 2, 17), product_events=False)
    assert (summary.first_month, summary.last_month) == (dt.date(2023, 12, 1), dt.date(2024, 2, 1))
    assert summary.row_counts["billing/customers.csv"] == 26
    assert all(p.exists() for p in summary.paths)
    truth = pd.read_csv(tmp_path / GROUND_TRUTH_DIR / "customer_mrr.csv")
    assert set(truth["month"]) <= {"2023-12-01", "2024-01-01", "2024-02-01"}


@pytest.mark.parametrize("kwargs", [{"customers": 0}, {"months": 0}, {"defect_rate": 1.5}, {"defect_rate": -0.1}])
def test_bad_arguments_raise(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError, match="must be"):
        generate(tmp_path, **kwargs)


def test_ground_truth_covers_plans_currencies_and_matches_prices(runs: dict[str, Path]) -> None:
    folder = runs["a"]
    truth = pd.read_csv(folder / GROUND_TRUTH_DIR / "customer_mrr.csv")
    assert (truth["mrr"] > 0).all()
    assert {"USD", "EUR", "GBP"} <= set(truth["currency"])
    items = pd.read_csv(folder / "billing/subscription_items.csv")
    subs = pd.read_csv(folder / "billing/subscriptions.csv")
    items = items.merge(subs[["id", "customer"]], left_on="subscription", right_on="id")
    paying = set(truth["customer_id"])
    for term in ("_y1_", "_m3_"):
        customers = set(items.loc[items["price"].str.contains(term), "customer"])
        assert customers & paying, term
    # Every customer-month is positive and unique.
    assert not truth.duplicated(["month", "customer_id"]).any()


def test_planted_behaviour_is_present(runs: dict[str, Path]) -> None:
    folder = runs["a"]
    statuses = pd.read_csv(folder / "billing/subscription_status_history.csv")
    subs = pd.read_csv(folder / "billing/subscriptions.csv")
    assert {"trialing", "active", "canceled"} <= set(statuses["status"])
    canceled = subs[subs["cancel_at_period_end"] & subs["ended_at"].notna()]
    assert len(canceled) and (canceled["canceled_at"] < canceled["ended_at"]).all()
    assert subs.groupby("customer").size().max() >= 2  # several subscriptions for some customers
    customers = pd.read_csv(folder / "billing/customers.csv")
    assert customers["metadata_referred_by"].notna().any()
    assert 0.1 < customers["metadata_crm_company_id"].isna().mean() < 0.3
    assert len(pd.read_csv(folder / "billing/refunds.csv")) > 0
    costs = pd.read_csv(folder / GROUND_TRUTH_DIR / "channel_costs.csv").set_index("channel")
    planted = costs["planted_cost_per_customer_usd"]
    assert planted["linkedin_ads"] > 2 * max(planted["google_ads"], planted["meta_ads"])


def test_planted_at_risk_usage_collapses(runs: dict[str, Path]) -> None:
    folder = runs["a"]
    at_risk = pd.read_csv(folder / GROUND_TRUTH_DIR / "planted_at_risk.csv", parse_dates=["collapse_month", "churn_month"])
    assert len(at_risk) >= 1
    usage = pd.read_csv(folder / "product/usage_daily.csv", parse_dates=["date"])
    accounts = pd.read_csv(folder / "product/accounts.csv")
    # The account of billing customer cus_N is acc_N (even when the explicit link is blank).
    account_of = {f"cus_{int(a[4:]):08d}": a for a in accounts["account_id"]}
    usage["month"] = usage["date"].dt.to_period("M").dt.to_timestamp()
    user_days = usage.drop_duplicates(["date", "account_id", "user_id"]).groupby(["account_id", "month"]).size()
    truth = pd.read_csv(folder / GROUND_TRUTH_DIR / "customer_mrr.csv", parse_dates=["month"])
    for row in at_risk.itertuples():
        account = account_of[row.customer_id]
        before = user_days.get((account, row.collapse_month - pd.DateOffset(months=1)), 0)
        assert before > 0
        assert user_days.get((account, row.collapse_month), 0) <= 0.4 * before
        paid = truth[truth["customer_id"] == row.customer_id]["month"]
        assert paid.max() == row.churn_month - pd.DateOffset(months=1)
        assert 1 <= (row.churn_month.year - row.collapse_month.year) * 12 + row.churn_month.month - row.collapse_month.month <= 2


def test_defects_are_logged_and_really_in_the_files(tmp_path: Path) -> None:
    summary = generate(tmp_path, seed=5, customers=80, months=4, end_month=END, defect_rate=0.05)
    clean = generate(tmp_path / "clean", seed=5, customers=80, months=4, end_month=END)
    log = pd.read_csv(tmp_path / GROUND_TRUTH_DIR / "defects.csv", dtype=str, keep_default_na=False)
    assert summary.defects == len(log) > 0
    assert {"duplicate_id", "null_key", "negative_amount", "unknown_currency", "unparseable_date", "future_date",
            "non_numeric_amount"} <= set(log["defect"])
    for name, group in log.groupby("file"):
        original = clean.row_counts[name]
        assert len(group) == round(0.05 * original), name
        assert summary.row_counts[name] == original + (group["defect"] == "duplicate_id").sum()
        with (tmp_path / name).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        for defect in group.itertuples():
            row = rows[int(defect.line) - 1]
            if defect.defect == "duplicate_id":
                assert row == rows[int(defect.line) - 2]
            else:
                assert row[defect.column] == defect.value, defect
    # The item and status histories that define MRR are never corrupted.
    for name in ("billing/subscription_items.csv", "billing/subscription_status_history.csv"):
        assert (tmp_path / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()
