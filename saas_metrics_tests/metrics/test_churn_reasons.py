"""churn_reasons: one reason per churned customer from the file, the CRM or Stripe; MRR by reason."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.metrics.churn_reasons import (
    CHURN_REASONS,
    churn_reason_kpis,
    churn_reasons,
    normalise_reason,
    reason_candidates,
)

T = pd.Timestamp
MAR, APR = T("2024-03-01"), T("2024-04-01")


def movements() -> pd.DataFrame:
    """March: c1..c6 churn (100, 200, 300, 400, 500, 600 MRR); c7 only contracts."""
    rows = [{"month": MAR, "customer_id": f"c{i}", "movement": "churn", "amount": 100.0 * i} for i in range(1, 7)]
    rows.append({"month": MAR, "customer_id": "c7", "movement": "contraction", "amount": 50.0})
    return pd.DataFrame(rows)


def subscriptions() -> pd.DataFrame:
    return pd.DataFrame({
        "subscription_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
        "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
        "canceled_at": [T("2024-02-10"), T("2024-03-05"), T("2024-03-05"), T("2024-03-08"), T("2024-03-20"), T("2023-01-01")],
        "ended_at": [T("2024-03-10"), T("2024-03-05"), T("2024-03-31"), T("2024-03-15"), T("2024-03-25"), T("2023-02-01")],
        "cancellation_reason": ["cancellation_requested", "payment_failed", "cancellation_requested",
                                "cancellation_requested", "cancellation_requested", "cancellation_requested"],
        "cancellation_feedback": ["too_expensive", None, "missing_features", None, "unused", "too_complex"],
        "cancellation_comment": ["budget", None, None, None, None, None],
    })


def crm() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    companies = pd.DataFrame({"company_id": ["k3", "k4"], "billing_customer_id": [None, "c4"],
                              "churn_reason": ["Switched service", None]})
    links = pd.DataFrame({"customer_id": ["c3"], "crm_company_id": ["k3"]})
    deals = pd.DataFrame({"deal_id": ["d4", "d4b"], "company_id": ["k4", "k4"], "is_closed_won": [False, False],
                          "closed_at": [T("2024-03-12"), T("2023-01-01")], "closed_lost_reason": ["Customer service", "Too complex"]})
    file = pd.DataFrame({"customer_id": ["c5", "c5"], "churned_at": [T("2024-03-25"), T("2022-01-01")],
                         "reason": ["Too expensive ", "Other"], "comment": ["moved to a cheaper plan", None]})
    return companies, links, deals, file


def test_one_reason_per_churned_customer_in_source_order():
    companies, links, deals, file = crm()
    candidates = reason_candidates(subscriptions(), companies, deals, file, links)
    got = churn_reasons(movements(), candidates, [MAR])
    assert list(got.columns) == CHURN_REASONS.column_names
    rows = got.set_index("customer_id")
    assert rows.loc["c1", ["reason", "reason_source", "comment"]].tolist() == ["too_expensive", "stripe_feedback", "budget"]
    assert rows.loc["c2", ["reason", "reason_source"]].tolist() == ["payment_failed", "stripe_reason"]
    # c3: the CRM company's property (through the identity link) wins over Stripe's feedback
    assert rows.loc["c3", ["reason", "reason_source"]].tolist() == ["switched_service", "crm_company"]
    # c4: the lost deal closed on 03-12 (the 2023 one is outside the 92-day window)
    assert rows.loc["c4", ["reason", "reason_source"]].tolist() == ["customer_service", "crm_deal"]
    # c5: the hand-kept file wins over Stripe; its 2022 row is outside the window
    assert rows.loc["c5", ["reason", "reason_source", "comment"]].tolist() == ["too_expensive", "churn_reasons_file", "moved to a cheaper plan"]
    # c6: Stripe's only reason is from 2023, far from March: unknown
    assert rows.loc["c6", ["reason", "reason_source"]].tolist() == ["unknown", "unknown"]
    assert "c7" not in rows.index  # a contraction is not a churn


def test_churned_mrr_by_reason_sums_to_the_headline():
    companies, links, deals, file = crm()
    got = churn_reasons(movements(), reason_candidates(subscriptions(), companies, deals, file, links), [MAR])
    kpis = churn_reason_kpis(got, [MAR, APR])
    assert set(kpis["segment"]) == {"churn_reason"}
    mrr = kpis[(kpis["metric"] == "churned_mrr") & (kpis["month"] == MAR)].set_index("segment_value")["value"]
    # too_expensive: c1 (100) + c5 (500); unknown: c6 (600)
    assert mrr.to_dict() == {"customer_service": 400.0, "payment_failed": 200.0, "switched_service": 300.0,
                             "too_expensive": 600.0, "unknown": 600.0}
    assert mrr.sum() == pytest.approx(2100.0)
    customers = kpis[(kpis["metric"] == "churned_customers") & (kpis["month"] == MAR)].set_index("segment_value")["value"]
    assert customers["too_expensive"] == 2 and customers.sum() == 6
    april = kpis[kpis["month"] == APR]
    assert (april["value"] == 0).all() and set(april["segment_value"]) == {"unknown"}  # only the reasons of its own churns


def test_without_any_recorded_reason_everything_is_unknown():
    got = churn_reasons(movements(), reason_candidates(None, None, None, None, None), [MAR])
    assert set(got["reason"]) == {"unknown"} and len(got) == 6
    assert churn_reasons(movements().iloc[0:0], reason_candidates(None, None, None, None, None), [MAR]).empty


def test_normalise_reason():
    got = normalise_reason(pd.Series([" Too expensive", "switched-service", "", None]))
    assert got[:2].tolist() == ["too_expensive", "switched_service"] and got[2:].isna().all()
