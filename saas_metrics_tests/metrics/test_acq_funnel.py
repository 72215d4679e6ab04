"""Funnel KPIs on a hand-made month: visitors, leads, MQL/SQL/PQL, conversion, virality."""

from __future__ import annotations

import functools
import math

import pandas as pd
import pytest

from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics.acquisition_catalog import catalog_mismatches
from saas_metrics.metrics.funnel import funnel_kpis

T = pd.Timestamp
JAN, FEB, MAR = T("2024-01-01"), T("2024-02-01"), T("2024-03-01")
AS_OF = T("2024-06-01")


def _sessions() -> pd.DataFrame:
    return pd.DataFrame({
        "session_id": ["s1", "s2", "s3", "s4", "s5"],
        "visitor_id": ["v1", "v1", "v2", "v3", "v4"],
        "started_at": [T("2024-03-01"), T("2024-03-09"), T("2024-03-02"), T("2024-03-31 23:59"), T("2024-02-28")],
        "channel": ["google_ads", "google_ads", "organic_search", "google_ads", "google_ads"],
    })


def _contacts() -> pd.DataFrame:
    """200 March leads k0..k199 (k0..k99 google_ads, k100..k198 organic, k199 no source but an
    email form); 20 of them MQL in March, 5 SQL; 16 February leads that became MQL in February."""
    march = pd.DataFrame({
        "contact_id": [f"k{i}" for i in range(200)],
        "created_at": T("2024-03-01"),
        "original_source": ["google_ads"] * 100 + ["organic_search"] * 99 + [None],
        "mql_at": [T("2024-03-10")] * 20 + [pd.NaT] * 180,
        "sql_at": [T("2024-03-20")] * 5 + [pd.NaT] * 195,
        "referred_by_customer_id": [None, "e1", "c3"] + [None] * 197,
    })
    feb = pd.DataFrame({
        "contact_id": [f"f{i}" for i in range(16)], "created_at": T("2024-02-05"), "original_source": "email",
        "mql_at": T("2024-02-10"), "sql_at": pd.NaT, "referred_by_customer_id": None,
    })
    frame = pd.concat([march, feb], ignore_index=True)
    return frame.assign(company_id=None, billing_customer_id=None)


def _links() -> pd.DataFrame:
    ids = [f"c{i}" for i in range(10)] + [f"e{i}" for i in range(1, 6)]
    return pd.DataFrame({
        "customer_id": ids, "crm_company_id": None,
        "crm_contact_id": [f"k{i}" for i in range(10)] + [None] * 5,
        "product_account_id": [None] * len(ids),
    })


def _first_paid() -> pd.DataFrame:
    # c0..c7 within 90 days of the lead (03-01 + 90 d = 05-30); c8 too late; c9 paid before it was a lead
    paid = [T("2024-04-15")] * 8 + [T("2024-07-15"), T("2024-01-01")] + [T("2023-06-01")] * 5
    frame = pd.DataFrame({"customer_id": _links()["customer_id"], "first_paid_at": paid})
    frame.loc[frame["customer_id"] == "c3", "first_paid_at"] = T("2024-04-20")  # c3 paid after c2: no referral credit
    return frame


def _movements() -> pd.DataFrame:
    new = pd.DataFrame({"month": MAR, "customer_id": [f"c{i}" for i in range(10)], "movement": "new", "mrr_start": 0.0, "amount": 50.0})
    old = pd.DataFrame({"month": MAR, "customer_id": [f"e{i}" for i in range(1, 6)],
                        "movement": ["unchanged"] * 4 + ["churn"], "mrr_start": 100.0, "amount": [0.0] * 4 + [100.0]})
    return pd.concat([new, old], ignore_index=True)


def _forms() -> pd.DataFrame:
    return pd.DataFrame({"submission_id": ["s"], "contact_id": ["k199"], "submitted_at": [T("2024-03-02")], "form_type": ["contact"], "channel": ["email"]})


def _accounts() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ["a1", "a2", "a3", "a4", "a5"],
        "created_at": [T("2024-03-01"), T("2024-03-02"), T("2024-03-03"), T("2024-02-01"), T("2024-03-04")],
        "signup_source": ["self_serve", "self_serve", "sales", "self_serve", "sales"],
        "billing_customer_id": [None, "c0", None, "c9", None],
    })


def _usage() -> pd.DataFrame:
    rows = [
        ("2024-03-02", "a1", "report_created", 2), ("2024-03-05", "a1", "report_created", 1),  # PQL in March
        ("2024-03-10", "a2", "report_created", 3),  # PQL in March, pays in April
        ("2024-02-20", "a3", "report_created", 3), ("2024-03-01", "a3", "report_created", 5),  # PQL in February
        ("2024-03-03", "a4", "report_created", 4),  # already paying: not a PQL
        ("2024-03-03", "a5", "login", 9),  # other event
    ]
    return pd.DataFrame({"date": [T(r[0]) for r in rows], "account_id": [r[1] for r in rows], "user_id": "u",
                         "event_name": [r[2] for r in rows], "event_count": [r[3] for r in rows]})


def _run(months=(MAR,), as_of=AS_OF, policy=None) -> pd.DataFrame:
    return funnel_kpis(_sessions(), _contacts(), _forms(), _accounts(), _usage(), _movements(), _first_paid(),
                       _links(), list(months), as_of, policy or AcquisitionPolicy())


@functools.cache
def _march() -> pd.DataFrame:
    """The default March run, computed once (tests only read it)."""
    return _run()


def _row(kpis, metric, segment="all", segment_value="all", month=MAR):
    row = kpis[(kpis["metric"] == metric) & (kpis["segment"] == segment) & (kpis["segment_value"] == segment_value) & (kpis["month"] == month)]
    assert len(row) == 1, (metric, segment, segment_value)
    return row.iloc[0]


def _value(kpis, *args, **kwargs):
    return _row(kpis, *args, **kwargs)["value"]


def test_unique_visitors_are_visitors_not_sessions():
    kpis = _march()
    assert _value(kpis, "unique_visitors") == 3
    assert _value(kpis, "unique_visitors", "channel", "google_ads") == 2
    assert _value(kpis, "unique_visitors", "channel", "organic_search") == 1


def test_leads_mqls_sqls_and_lead_velocity():
    kpis = _march()
    assert _value(kpis, "leads") == 200
    assert _value(kpis, "mqls") == 20
    assert _value(kpis, "sqls") == 5
    assert _value(kpis, "lead_velocity_rate") == pytest.approx((20 - 16) / 16)
    sql_based = _run(policy=AcquisitionPolicy(qualified_lead_stage="sql"))
    assert math.isnan(_value(sql_based, "lead_velocity_rate"))  # no SQLs in February: 0 denominator


def test_lead_conversion_period_form_10_over_200_is_5_percent():
    assert _value(_march(), "lead_to_customer_rate_period") == pytest.approx(0.05)


def test_lead_to_customer_cohort_form_and_its_provisional_window():
    open_window = _row(_run(as_of=T("2024-06-01")), "lead_to_customer_rate")
    # c0..c7 paid within 90 days; c8 too late; c9 paid before the lead existed
    assert open_window["value"] == pytest.approx(8 / 200)
    assert bool(open_window["is_provisional"])  # window closes 2024-04-01 + 90 d = 2024-06-30
    assert not bool(_row(_run(as_of=T("2024-06-30")), "lead_to_customer_rate")["is_provisional"])
    assert not bool(_row(_march(), "leads")["is_provisional"])


def test_channel_rates_and_lead_channel_fallback_to_form():
    kpis = _march()
    assert _value(kpis, "leads", "channel", "google_ads") == 100
    assert _value(kpis, "leads", "channel", "email") == 1  # k199: no source, email form
    assert _value(kpis, "visit_to_lead_rate") == pytest.approx(200 / 3)
    assert _value(kpis, "visit_to_lead_rate", "channel", "google_ads") == pytest.approx(100 / 2)
    assert math.isnan(_value(kpis, "visit_to_lead_rate", "channel", "email"))  # no email visitors
    assert _value(kpis, "lead_to_customer_rate", "channel", "google_ads") == pytest.approx(8 / 100)
    assert _value(kpis, "lead_to_customer_rate", "channel", "organic_search") == 0.0


def test_pqls_and_signups():
    kpis = _march()
    assert _value(kpis, "pqls") == 2  # a1 and a2; a3 reached in February; a4 already paying
    assert _value(_run(months=(FEB,)), "pqls", month=FEB) == 1  # a3
    assert _value(kpis, "signups") == 2  # a1, a2 (a3, a5 sales-led; a4 February)


def test_viral_coefficient_referred_by_an_existing_customer():
    kpis = _march()
    assert _value(kpis, "referred_new_customers") == 1  # c1 by e1; c2's referrer c3 paid after c2
    assert _value(kpis, "viral_coefficient") == pytest.approx(1 / 5)  # 5 paying at the end of February


def test_empty_month_gives_nan_ratios_not_zero():
    kpis = _run(months=(JAN,))
    for metric in ("visit_to_lead_rate", "lead_to_customer_rate", "lead_to_customer_rate_period", "lead_velocity_rate", "viral_coefficient"):
        assert math.isnan(_value(kpis, metric, month=JAN)), metric
    assert _value(kpis, "leads", month=JAN) == 0


def test_every_emitted_metric_is_in_the_catalog():
    assert catalog_mismatches(_march()) == []


def test_stage_conversion_rates_by_hand():
    kpis = _march()
    # 20 MQLs in March (k0..k19); k0..k4 reached SQL on 03-20, 10 days later: 5 / 20
    assert _value(kpis, "mql_to_sql_rate") == pytest.approx(0.25)
    # 5 SQLs in March (k0..k4 -> c0..c4), each first paid 04-15 or 04-20, within 90 days: 5 / 5
    assert _value(kpis, "sql_to_customer_rate") == pytest.approx(1.0)
    # PQLs of March: a1 (never paid) and a2 (c0 paid 04-15, 36 days after 03-10): 1 / 2
    assert _value(kpis, "pql_to_paid_rate") == pytest.approx(0.5)
    # the 90-day windows of March close on 06-30: provisional as of 06-01
    assert bool(_row(kpis, "mql_to_sql_rate")["is_provisional"]) and bool(_row(kpis, "pql_to_paid_rate")["is_provisional"])


def test_sql_to_customer_counts_only_payments_within_the_window_after_the_sql():
    contacts = _contacts()
    # k8's customer c8 pays 07-15, 117 days after 03-20 (> 90); k9's c9 paid in January, before its SQL
    contacts.loc[contacts["contact_id"].isin(["k8", "k9"]), "sql_at"] = T("2024-03-20")
    kpis = funnel_kpis(_sessions(), contacts, _forms(), _accounts(), _usage(), _movements(), _first_paid(),
                       _links(), [FEB, MAR], AS_OF, AcquisitionPolicy())
    assert _value(kpis, "sql_to_customer_rate") == pytest.approx(5 / 7)
    # February: 16 MQLs (f0..f15), none reached SQL; no SQL -> NULL; a3 became a PQL on 02-20, never paid
    assert _value(kpis, "mql_to_sql_rate", month=FEB) == 0.0
    assert math.isnan(_value(kpis, "sql_to_customer_rate", month=FEB))
    assert _value(kpis, "pql_to_paid_rate", month=FEB) == 0.0
