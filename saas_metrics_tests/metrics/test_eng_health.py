"""Customer health score: each component's points by hand, bands, band crossings, KPIs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from saas_metrics.config import EngagementPolicy
from saas_metrics.metrics.health import CUSTOMER_HEALTH, customer_health, health_band, health_kpis

T = pd.Timestamp
DEC, JAN, FEB = T("2023-12-01"), T("2024-01-01"), T("2024-02-01")
POLICY = EngagementPolicy()  # weights 35 / 20 / 15 / 15 / 15


def engagement() -> pd.DataFrame:
    # c1 (account a): Jan flat 10 -> 10 with 5 active users; Feb 10 -> 6 (-40 %) with 7 active users.
    return pd.DataFrame(
        {
            "month": [JAN, FEB],
            "customer_id": ["c1", "c1"],
            "account_id": ["a", "a"],
            "usage": [10.0, 6.0],
            "usage_previous": [10.0, 10.0],
            "usage_change": [0.0, -4.0],
            "usage_change_pct": [0.0, -0.4],
            "active_users": [5, 7],
            "dau_avg": [1.0, 1.0],
            "stickiness": [0.2, 0.2],
        }
    )


def snapshots() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "month": [JAN, FEB, FEB],
            "customer_id": ["c1", "c1", "c2"],
            "mrr": [500.0, 500.0, 200.0],
            "plan_tier": "growth",
        }
    )


SEATS = pd.DataFrame({"account_id": ["a"], "seats": [10]})
TICKETS = pd.DataFrame(
    {
        "ticket_id": ["t1", "t2", "t3"],
        "customer_id": ["c1", "c1", "c1"],
        "created_at": [T("2024-01-08 09:00"), T("2024-01-15 09:00"), T("2024-02-10 12:00")],
        "priority": ["normal", "low", "urgent"],
        "status": ["solved", "solved", "solved"],
        "first_response_at": [T("2024-01-08 10:00"), T("2024-01-15 10:00"), T("2024-02-10 13:00")],
        "solved_at": [T("2024-01-09"), T("2024-01-16"), T("2024-03-03")],  # t3 still open at the end of Feb
    }
)
NPS = pd.DataFrame(
    {"response_id": ["r1"], "customer_id": ["c1"], "score": [2], "submitted_at": [T("2024-02-05 08:00")]}
)
STATUS_HISTORY = pd.DataFrame(
    {
        "subscription_id": ["sub1", "sub1", "sub1"],
        "status": ["active", "past_due", "active"],
        "valid_from": [T("2023-06-01"), T("2024-02-20"), T("2024-03-05")],
        "valid_to": [T("2024-02-20"), T("2024-03-05"), pd.NaT],
    }
)
INVOICES = pd.DataFrame(
    {
        "invoice_id": ["in1", "in2"],
        "customer_id": ["c1", "c1"],
        "subscription_id": ["sub1", "sub1"],
        "status": ["paid", "paid"],
        "created_at": [T("2024-01-18"), T("2024-02-18")],
        "due_at": [T("2024-01-20"), T("2024-02-20")],
        "paid_at": [T("2024-01-20"), T("2024-03-05")],  # in2 unpaid at the end of February
    }
)
PAYMENTS = pd.DataFrame(
    {
        "payment_id": ["p1", "p2", "p3"],
        "customer_id": ["c1", "c1", "c1"],
        "status": ["failed", "succeeded", "failed"],
        "created_at": [T("2024-01-19"), T("2024-01-20"), T("2024-02-20")],
    }
)


def health(**overrides: object) -> pd.DataFrame:
    args: dict[str, object] = {
        "engagement": engagement(), "snapshots": snapshots(), "tickets": TICKETS, "nps": NPS,
        "status_history": STATUS_HISTORY, "invoices": INVOICES, "payments": PAYMENTS, "seats": SEATS,
        "months": [JAN, FEB], "policy": POLICY,
    }
    args.update(overrides)
    return customer_health(**args)  # type: ignore[arg-type]


def at(frame: pd.DataFrame, month: pd.Timestamp, customer: str) -> pd.Series:
    match = frame.loc[(frame["month"] == month) & (frame["customer_id"] == customer)]
    assert len(match) == 1
    return match.iloc[0]


def test_score_72_to_38_enters_critical_with_points_by_hand() -> None:
    out = health()
    assert list(out.columns) == CUSTOMER_HEALTH.column_names
    jan, feb = at(out, JAN, "c1"), at(out, FEB, "c1")
    # January: usage flat -> 35; seats 5/10 -> 0.5 x 20 = 10; 2 tickets / 10 seats = 0.2 -> (1 - 0.2) x 15 = 12;
    # no NPS response -> neutral 0.5 x 15 = 7.5; one failed payment, not past due -> 0.5 x 15 = 7.5. Sum 72.
    assert (jan["usage_trend_points"], jan["seat_utilisation_points"], jan["support_burden_points"]) == pytest.approx((35, 10, 12))
    assert (jan["nps_points"], jan["billing_health_points"]) == pytest.approx((7.5, 7.5))
    assert jan["score"] == pytest.approx(72.0)
    assert jan["band"] == "healthy"
    assert (jan["tickets_per_seat"], jan["open_urgent_tickets"], jan["failed_payments"], jan["days_past_due"]) == (pytest.approx(0.2), 0, 1, 0)
    assert jan["nps_score"] is pd.NA
    assert math.isnan(jan["score_change"])  # not scored in December
    assert not jan["entered_critical"]
    # February: -40 % -> 0.6 x 35 = 21; 7/10 seats -> 14; urgent ticket open at month end -> 0;
    # latest NPS 2 -> 0.2 x 15 = 3; past_due at month end -> 0. Sum 38.
    assert (feb["usage_trend_points"], feb["seat_utilisation_points"], feb["support_burden_points"]) == pytest.approx((21, 14, 0))
    assert (feb["nps_points"], feb["billing_health_points"]) == pytest.approx((3, 0))
    assert feb["score"] == pytest.approx(38.0)
    assert feb["band"] == "critical"
    assert feb["score_change"] == pytest.approx(-34.0)
    assert bool(feb["entered_critical"])
    assert (feb["usage_change_pct"], feb["seat_utilisation"], feb["nps_score"]) == (pytest.approx(-0.4), pytest.approx(0.7), 2)
    assert (feb["open_urgent_tickets"], feb["failed_payments"], feb["mrr"]) == (1, 1, 500.0)
    # in2 due Feb 20, unpaid on Feb 29 (2024 is a leap year): 9 days past due
    assert feb["days_past_due"] == 9


def test_unknown_inputs_score_neutral() -> None:
    # c2 pays but has no product account, no seats, tickets, NPS or billing trouble:
    # usage 0.5 x 35 + seats 0.5 x 20 + support 15 + NPS 0.5 x 15 + billing 15 = 65
    c2 = at(health(), FEB, "c2")
    assert c2["score"] == pytest.approx(65.0)
    assert c2["band"] == "at_risk"
    assert bool(c2["entered_critical"]) is False


def test_only_requested_months_are_returned_and_single_month_still_has_change() -> None:
    out = health(months=[FEB])
    assert set(out["month"]) == {FEB}
    assert at(out, FEB, "c1")["score_change"] == pytest.approx(-34.0)


def test_past_due_from_invoices_alone_and_grace_days() -> None:
    without_status = health(status_history=None)
    assert at(without_status, FEB, "c1")["billing_health_points"] == 0.0  # 9 days past due > 0 grace
    graceful = health(status_history=None, policy=EngagementPolicy(health_past_due_grace_days=10))
    # 9 days within a 10-day grace; a failed payment in February -> 0.5 x 15
    assert at(graceful, FEB, "c1")["billing_health_points"] == pytest.approx(7.5)


def test_usage_trend_edges() -> None:
    eng = engagement()
    eng.loc[1, ["usage_previous", "usage", "usage_change_pct"]] = [0.0, 0.0, np.nan]  # never used: 0 points
    assert at(health(engagement=eng), FEB, "c1")["usage_trend_points"] == 0.0
    eng.loc[1, ["usage_previous", "usage"]] = [0.0, 4.0]  # started using: full points
    assert at(health(engagement=eng), FEB, "c1")["usage_trend_points"] == 35.0
    eng.loc[1, ["usage_previous", "usage", "usage_change_pct"]] = [10.0, 25.0, 1.5]  # growth capped at full
    assert at(health(engagement=eng), FEB, "c1")["usage_trend_points"] == 35.0


def test_band_thresholds() -> None:
    bands = health_band(np.array([100.0, 70.0, 69.99, 40.0, 39.99, 0.0]), POLICY)
    assert list(bands) == ["healthy", "healthy", "at_risk", "at_risk", "critical", "critical"]


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="exactly the components"):
        health(policy=EngagementPolicy(health_weights={"usage_trend": 50.0, "nps": 50.0}))
    with pytest.raises(ValueError, match="more than one row"):
        health(snapshots=pd.concat([snapshots(), snapshots()]))
    with pytest.raises(ValueError, match="seats is missing"):
        health(seats=pd.DataFrame({"account_id": ["a"]}))
    with pytest.raises(ValueError, match="no customer_id and no invoices"):
        health(invoices=None)


def test_health_kpis_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "month": FEB,
            "customer_id": ["h", "r", "c"],
            "score": [80.0, 50.0, 20.0],
            "band": ["healthy", "at_risk", "critical"],
            "mrr": [100.0, 300.0, 600.0],
        }
    )
    kpis = health_kpis(frame).set_index("metric")
    assert kpis.loc["mrr_share_healthy", "value"] == pytest.approx(0.1)
    assert kpis.loc["mrr_share_at_risk", "value"] == pytest.approx(0.3)
    assert kpis.loc["mrr_share_critical", "value"] == pytest.approx(0.6)
    assert kpis.loc["average_health_score", "value"] == pytest.approx(50.0)
    assert kpis.loc["accounts_critical", "value"] == 1.0
    assert kpis.loc["average_health_score", "unit"] == "score"


def test_health_kpis_zero_mrr_is_null_share() -> None:
    frame = pd.DataFrame({"month": [FEB], "customer_id": ["x"], "score": [90.0], "band": ["healthy"], "mrr": [0.0]})
    kpis = health_kpis(frame).set_index("metric")
    assert math.isnan(kpis.loc["mrr_share_healthy", "value"])
    assert kpis.loc["accounts_critical", "value"] == 0.0


def test_risky_ticket_topics_zero_the_support_component_and_are_an_at_risk_reason() -> None:
    from saas_metrics.metrics.health import health_kpis
    from saas_metrics.metrics.support import ticket_topics

    # t1 (January, c1) asks for a discount; the 3-month lookback keeps it for February too
    tickets = TICKETS.assign(category=["billing", "technical", None], tags=["discount_request, invoice", "sso", "bug"])
    out = health(tickets=tickets)
    jan, feb = at(out, JAN, "c1"), at(out, FEB, "c1")
    assert jan["risky_ticket_topics"] == "discount" and feb["risky_ticket_topics"] == "discount"
    # January: 72 - 12 support points (the topic zeroes the component) = 60, at risk instead of healthy
    assert jan["support_burden_points"] == 0.0 and jan["score"] == pytest.approx(60.0) and jan["band"] == "at_risk"
    assert pd.isna(at(out, FEB, "c2")["risky_ticket_topics"])
    # a one-month lookback forgets January's ticket in February (February's ticket is a bug)
    short = health(tickets=tickets, policy=POLICY.model_copy(update={"ticket_topic_lookback_months": 1}))
    assert pd.isna(at(short, FEB, "c1")["risky_ticket_topics"])
    kpis = health_kpis(out).set_index(["month", "metric"])["value"]
    assert kpis[(FEB, "accounts_with_risky_ticket_topics")] == 1.0
    # keywords match category and tags as substrings; several topics are joined in sorted order
    frame = pd.DataFrame({"category": ["Account", "billing"], "tags": ["competitor_comparison roi", "export"]})
    assert ticket_topics(frame, POLICY.ticket_topics).tolist()[0] == "competitor,value"
    assert pd.isna(ticket_topics(frame, POLICY.ticket_topics).tolist()[1])
    # without a category or tags column nothing changes: the original figures
    assert at(health(), JAN, "c1")["score"] == pytest.approx(72.0)
