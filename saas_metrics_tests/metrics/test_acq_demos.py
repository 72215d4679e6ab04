"""Demos: attended by type, demo-to-paid with its provisional window, days request -> customer."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics.acquisition_catalog import catalog_mismatches
from saas_metrics.metrics.demos import demo_kpis

T = pd.Timestamp
MAR = T("2024-03-01")


def _meetings() -> pd.DataFrame:
    rows = [
        ("m1", "k1", "live", "2024-03-01", "2024-03-05", "completed"),
        ("m2", "k2", "live", None, "2024-03-10", "completed"),  # request time from the live_demo form
        ("m3", "k3", "video", "2024-03-14", "2024-03-15", "completed"),
        ("m4", "k4", "live", "2024-03-01", "2024-03-06", "no_show"),
        ("m5", "k1", "video", "2024-02-01", "2024-02-20", "completed"),
        ("m6", "k6", "live", "2024-03-10", "2024-03-20", "completed"),  # never pays
    ]
    return pd.DataFrame({"meeting_id": [r[0] for r in rows], "contact_id": [r[1] for r in rows], "demo_type": [r[2] for r in rows],
                         "requested_at": [T(r[3]) if r[3] else pd.NaT for r in rows], "start_at": [T(r[4]) for r in rows],
                         "outcome": [r[5] for r in rows]})


def _forms() -> pd.DataFrame:
    rows = [("k2", "live_demo", "2024-03-02"), ("k2", "video_demo", "2024-03-04"), ("k2", "live_demo", "2024-03-12")]
    return pd.DataFrame({"submission_id": ["f1", "f2", "f3"], "contact_id": [r[0] for r in rows], "form_type": [r[1] for r in rows],
                         "submitted_at": [T(r[2]) for r in rows]})


def _links() -> pd.DataFrame:
    # k1 is not c1's primary contact (k9 is) but belongs to c1's company co1
    return pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "crm_company_id": ["co1", None, None],
                         "crm_contact_id": ["k9", "k2", "k3"], "product_account_id": [None, None, None]})


def _contacts() -> pd.DataFrame:
    return pd.DataFrame({"contact_id": ["k1", "k9"], "company_id": ["co1", "co1"], "billing_customer_id": [None, None]})


def _first_paid() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "first_paid_at": [T("2024-03-21"), T("2024-04-01"), T("2024-03-20")]})


def _run(as_of="2024-06-01", contacts=True) -> pd.DataFrame:
    return demo_kpis(_meetings(), _forms(), _first_paid(), _links(), [MAR], T(as_of), AcquisitionPolicy(),
                     contacts=_contacts() if contacts else None)


def _row(kpis, metric, segment="all", value="all"):
    row = kpis[(kpis["metric"] == metric) & (kpis["segment"] == segment) & (kpis["segment_value"] == value) & (kpis["month"] == MAR)]
    assert len(row) == 1, (metric, segment, value)
    return row.iloc[0]


def test_demos_attended_by_type():
    kpis = _run()
    assert _row(kpis, "demos_attended")["value"] == 4  # m1, m2, m3, m6 (m4 no-show, m5 February)
    assert _row(kpis, "demos_attended", "demo_type", "live")["value"] == 3
    assert _row(kpis, "demos_attended", "demo_type", "video")["value"] == 1


def test_demo_to_paid_rate_and_provisional_window():
    kpis = _run("2024-06-01")
    rate = _row(kpis, "demo_to_paid_rate")
    assert rate["value"] == pytest.approx(3 / 4)
    assert rate["is_provisional"]  # 2024-04-01 + 90 d = 2024-06-30
    assert _row(kpis, "demo_to_paid_rate", "demo_type", "live")["value"] == pytest.approx(2 / 3)
    assert _row(kpis, "demo_to_paid_rate", "demo_type", "video")["value"] == 1.0
    assert not _row(_run("2024-06-30"), "demo_to_paid_rate")["is_provisional"]
    assert not _row(kpis, "demos_attended")["is_provisional"]


def test_company_contacts_count_only_when_contacts_are_given():
    without = _run(contacts=False)
    assert _row(without, "demo_to_paid_rate")["value"] == pytest.approx(2 / 4)  # k1 no longer maps to c1


def test_median_days_request_to_customer_with_form_fallback():
    kpis = _run()
    # m1: 03-01 -> 03-21 = 20 d; m2: live_demo form 03-02 -> 04-01 = 30 d; m3: 03-14 -> 03-20 = 6 d
    assert _row(kpis, "median_days_demo_request_to_customer")["value"] == pytest.approx(20.0)
    assert _row(kpis, "median_days_demo_request_to_customer", "demo_type", "live")["value"] == pytest.approx(25.0)
    assert _row(kpis, "median_days_demo_request_to_customer", "demo_type", "video")["value"] == pytest.approx(6.0)


def test_no_demos_gives_nan_rate():
    kpis = demo_kpis(_meetings().iloc[0:0], _forms(), _first_paid(), _links(), [MAR], T("2024-09-01"), AcquisitionPolicy())
    assert _row(kpis, "demos_attended")["value"] == 0
    assert math.isnan(_row(kpis, "demo_to_paid_rate", "demo_type", "live")["value"])


def test_every_emitted_metric_is_in_the_catalog():
    assert catalog_mismatches(_run()) == []
