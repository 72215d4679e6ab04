"""Trials: requested vs started vs abandoned, trial-to-paid with its provisional window."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics.acquisition_catalog import catalog_mismatches
from saas_metrics.metrics.trials import account_customers, trial_kpis

T = pd.Timestamp
MAR = T("2024-03-01")


def _forms() -> pd.DataFrame:
    rows = [("k1", "free_trial", "2024-03-02"), ("k1", "free_trial", "2024-03-05"), ("k2", "free_trial", "2024-03-10"),
            ("k3", "free_trial", "2024-03-28"), ("k4", "free_trial", "2024-02-27"), ("k5", "contact", "2024-03-03")]
    return pd.DataFrame({"submission_id": [f"s{i}" for i in range(len(rows))], "contact_id": [r[0] for r in rows],
                         "form_type": [r[1] for r in rows], "submitted_at": [T(r[2]) for r in rows]})


def _accounts() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ["a1", "a2", "a4", "a5", "a6"],
        "crm_contact_id": ["k1", "k2", "k4", None, None],
        "billing_customer_id": ["c1", "c2", "c4", None, None],
        "trial_started_at": [T("2024-03-03"), T("2024-03-30"), T("2024-03-01"), T("2024-03-15"), pd.NaT],
    })


def _links() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["c5"], "crm_company_id": [None], "crm_contact_id": [None], "product_account_id": ["a5"]})


def _first_paid() -> pd.DataFrame:
    # a1 paid 10 days after its trial start, a5 (via identity links) 5 days, a2 46 days (too late)
    return pd.DataFrame({"customer_id": ["c1", "c2", "c5"], "first_paid_at": [T("2024-03-13"), T("2024-05-15"), T("2024-03-20")]})


def _run(as_of: str, policy: AcquisitionPolicy | None = None) -> pd.DataFrame:
    return trial_kpis(_forms(), _accounts(), _first_paid(), _links(), [MAR], T(as_of), policy or AcquisitionPolicy())


def _row(kpis, metric):
    row = kpis[(kpis["metric"] == metric) & (kpis["month"] == MAR)]
    assert len(row) == 1
    return row.iloc[0]


def test_requested_started_abandoned():
    kpis = _run("2024-04-15")
    assert _row(kpis, "trials_requested")["value"] == 3  # k1 (twice), k2, k3; k4 in February
    assert _row(kpis, "trials_started")["value"] == 4  # a1, a2, a4, a5 started in March
    # k2 started 20 days after asking (> 14), k3 never
    assert _row(kpis, "trials_abandoned")["value"] == 2
    assert not _row(kpis, "trials_abandoned")["is_provisional"]  # 2024-04-01 + 14 d has passed
    assert _row(_run("2024-04-10"), "trials_abandoned")["is_provisional"]
    assert _row(_run("2024-04-15", AcquisitionPolicy(trial_abandon_days=21)), "trials_abandoned")["value"] == 1


def test_trial_to_paid_and_median_days_provisional_cohort():
    kpis = _run("2024-04-15")
    rate = _row(kpis, "trial_to_paid_rate")
    assert rate["value"] == pytest.approx(2 / 4)  # a1 and a5 within 30 days
    assert rate["is_provisional"]  # the 30-day window closes on 2024-05-01
    assert _row(kpis, "median_days_to_paid")["value"] == pytest.approx(7.5)  # median(10, 5)
    assert _row(kpis, "trials_converted")["value"] == 2
    closed = _run("2024-05-01")
    assert not _row(closed, "trial_to_paid_rate")["is_provisional"]
    assert not _row(kpis, "trials_started")["is_provisional"]


def test_month_without_trials_has_nan_rate():
    kpis = trial_kpis(_forms().iloc[0:0], _accounts().iloc[0:0], _first_paid(), _links(), [MAR], T("2024-09-01"), AcquisitionPolicy())
    assert _row(kpis, "trials_started")["value"] == 0
    assert math.isnan(_row(kpis, "trial_to_paid_rate")["value"])
    assert math.isnan(_row(kpis, "median_days_to_paid")["value"])


def test_every_emitted_metric_is_in_the_catalog():
    assert catalog_mismatches(_run("2024-04-15")) == []


def test_account_customers_without_identity_links_keeps_the_explicit_ids_only() -> None:
    # A company with no billing system has no links: the accounts' own ids stand, the rest stay unknown
    # (no pandas fill of a text column with float NaNs).
    accounts = pd.DataFrame({"account_id": pd.Series(["a", "b"], dtype="str"),
                             "billing_customer_id": pd.Series([None, "c1"], dtype="str")})
    no_links = pd.DataFrame({"product_account_id": pd.Series([], dtype="object"), "customer_id": pd.Series([], dtype="float64")})
    customers = account_customers(accounts, no_links)
    assert customers.isna().tolist() == [True, False] and customers["b"] == "c1"
    linked = account_customers(accounts, pd.DataFrame({"product_account_id": ["a"], "customer_id": ["c9"]}))
    assert linked.tolist() == ["c9", "c1"]
