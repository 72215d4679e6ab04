"""Product usage per account-month, usage KPIs and usage-drop at-risk accounts (hand-computed)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.config import EngagementPolicy
from saas_metrics.metrics.usage import (
    ACCOUNT_ENGAGEMENT,
    AT_RISK_ACCOUNTS,
    USAGE_ACTIVITY,
    account_engagement,
    account_engagement_by_month,
    at_risk_accounts,
    engagement_by_month,
    usage_activity,
    usage_kpis,
    usage_kpis_from_activity,
)

T = pd.Timestamp
JAN, FEB = T("2024-01-01"), T("2024-02-01")
USAGE_COLUMNS = ["date", "account_id", "user_id", "event_name", "event_count"]


def usage_rows(*rows: tuple[str, str, str, str, int]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=USAGE_COLUMNS)


def links(*pairs: tuple[str, str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [c for c, _ in pairs],
            "crm_company_id": None,
            "crm_contact_id": None,
            "product_account_id": [a for _, a in pairs],
            "match_method": "explicit",
        }
    )


def snapshots(month: pd.Timestamp, *rows: tuple[str, float, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "month": month,
            "customer_id": [c for c, _, _ in rows],
            "currency": "USD",
            "mrr_local": [m for _, m, _ in rows],
            "fx_rate": 1.0,
            "mrr": [m for _, m, _ in rows],
            "plan_tier": [t for _, _, t in rows],
            "billing_interval": "month",
        }
    )


# January 2024 (31 days), account a: u1 on Jan 1 (2 events) and Jan 2 (report 3 + view 1), u2 on Jan 1.
JANUARY = usage_rows(
    ("2024-01-01", "a", "u1", "view", 2),
    ("2024-01-02", "a", "u1", "report_created", 3),
    ("2024-01-02", "a", "u1", "view", 1),
    ("2024-01-01", "a", "u2", "view", 1),
)
EMPTY = usage_rows()


def row(frame: pd.DataFrame, month: pd.Timestamp, account: str) -> pd.Series:
    match = frame.loc[(frame["month"] == month) & (frame["account_id"] == account)]
    assert len(match) == 1, match
    return match.iloc[0]


def test_active_user_days_mau_dau_and_stickiness_by_hand() -> None:
    out = account_engagement(JANUARY, links(("c1", "a")), [JAN], EMPTY)
    assert list(out.columns) == ACCOUNT_ENGAGEMENT.column_names
    a = row(out, JAN, "a")
    # distinct (user, date): (u1, 1st), (u1, 2nd), (u2, 1st) = 3 active user-days
    assert a["usage"] == 3.0
    assert a["customer_id"] == "c1"
    assert a["active_users"] == 2
    assert a["dau_avg"] == pytest.approx(3 / 31)
    # stickiness = (3 / 31) / 2 = 3 / 62
    assert a["stickiness"] == pytest.approx(3 / 62)
    # previous month (December) was passed as empty: previous usage 0, relative change undefined
    assert a["usage_previous"] == 0.0
    assert a["usage_change"] == 3.0
    assert math.isnan(a["usage_change_pct"])


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (EngagementPolicy(usage_measure="event_count"), 7.0),  # 2 + 3 + 1 + 1
        (EngagementPolicy(usage_measure="active_users"), 2.0),
        (EngagementPolicy(usage_event="report_created"), 1.0),  # u1 on Jan 2 only
        (EngagementPolicy(usage_event="report_created", usage_measure="event_count"), 3.0),
    ],
)
def test_configurable_usage_measure_and_event(policy: EngagementPolicy, expected: float) -> None:
    out = account_engagement(JANUARY, links(("c1", "a")), [JAN], EMPTY, policy)
    a = row(out, JAN, "a")
    assert a["usage"] == expected
    # activity columns always count any event
    assert a["active_users"] == 2


def test_change_versus_previous_month_and_drop_to_zero() -> None:
    february = usage_rows(("2024-02-01", "a", "u1", "view", 1))
    december = usage_rows(("2023-12-05", "b", "u9", "view", 1))
    jan_b = usage_rows(*[(f"2024-01-{d:02d}", "b", "u9", "view", 1) for d in range(1, 11)])
    usage = pd.concat([JANUARY, jan_b, february], ignore_index=True)
    out = account_engagement(usage, links(("c1", "a"), ("c2", "b")), [JAN, FEB], december)
    a_feb = row(out, FEB, "a")
    assert (a_feb["usage_previous"], a_feb["usage"], a_feb["usage_change"]) == (3.0, 1.0, -2.0)
    assert a_feb["usage_change_pct"] == pytest.approx(-2 / 3)
    # b: 1 user-day in December, 10 in January, none in February -> still reported, usage 0
    b_jan, b_feb = row(out, JAN, "b"), row(out, FEB, "b")
    assert (b_jan["usage_previous"], b_jan["usage"], b_jan["usage_change_pct"]) == (1.0, 10.0, 9.0)
    assert (b_feb["usage_previous"], b_feb["usage"], b_feb["usage_change_pct"]) == (10.0, 0.0, -1.0)
    assert b_feb["active_users"] == 0
    assert math.isnan(b_feb["stickiness"])


def test_paying_account_without_events_has_usage_zero() -> None:
    out = account_engagement(
        JANUARY, links(("c1", "a"), ("c2", "b"), ("c3", None)), [JAN], EMPTY,
        snapshots=snapshots(JAN, ("c1", 100.0, "growth"), ("c2", 50.0, "starter"), ("c3", 10.0, "starter")),
    )
    b = row(out, JAN, "b")
    assert (b["customer_id"], b["usage"], b["usage_previous"], b["active_users"]) == ("c2", 0.0, 0.0, 0)
    # c3 has no product account: no row (usage unknown, not 0)
    assert set(out["customer_id"]) == {"c1", "c2"}


def test_previous_usage_unknown_without_prev_usage() -> None:
    out = account_engagement(JANUARY, links(("c1", "a")), [JAN], None)
    a = row(out, JAN, "a")
    assert a["usage"] == 3.0
    assert math.isnan(a["usage_previous"]) and math.isnan(a["usage_change"])


def test_rows_given_twice_are_counted_once() -> None:
    out = account_engagement(JANUARY, links(("c1", "a")), [JAN], JANUARY, EngagementPolicy(usage_measure="event_count"))
    assert row(out, JAN, "a")["usage"] == 7.0


def test_unlinked_account_has_no_customer() -> None:
    out = account_engagement(JANUARY, links(("c1", "zz")), [JAN], EMPTY)
    assert pd.isna(row(out, JAN, "a")["customer_id"])


def test_bad_usage_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="missing column"):
        account_engagement(JANUARY.drop(columns="user_id"), links(("c1", "a")), [JAN], EMPTY)
    with pytest.raises(ValueError, match="negative event_count"):
        account_engagement(usage_rows(("2024-01-01", "a", "u1", "view", -1)), links(("c1", "a")), [JAN], EMPTY)


def test_usage_kpis_by_hand() -> None:
    # u1 is active in both accounts: one user for MAU. Jan 1: u1, u2; Jan 2: u1 -> 3 user-days overall.
    usage = pd.concat([JANUARY, usage_rows(("2024-01-01", "b", "u1", "view", 4))], ignore_index=True)
    engagement = account_engagement(usage, links(("c1", "a"), ("c2", "b")), [JAN, FEB], EMPTY)
    kpis = usage_kpis(engagement, usage, [JAN, FEB]).set_index(["month", "metric"])["value"]
    assert kpis[(JAN, "active_users")] == 2.0
    assert kpis[(JAN, "stickiness")] == pytest.approx((3 / 31) / 2)
    assert kpis[(JAN, "usage_total")] == 4.0  # a: 3 user-days, b: 1
    assert kpis[(JAN, "usage_per_account")] == 2.0
    # February: no events; accounts still listed with usage 0
    assert kpis[(FEB, "active_users")] == 0.0
    assert math.isnan(kpis[(FEB, "stickiness")])
    assert kpis[(FEB, "usage_total")] == 0.0
    assert math.isnan(kpis[(FEB, "usage_per_account")])


def engagement_frame(*rows: tuple[str, float, float]) -> pd.DataFrame:
    """(customer, usage_previous, usage) rows of February."""
    frame = pd.DataFrame(
        {
            "month": FEB,
            "customer_id": [c for c, _, _ in rows],
            "account_id": [f"acct_{c}" for c, _, _ in rows],
            "usage_previous": [p for _, p, _ in rows],
            "usage": [u for _, _, u in rows],
        }
    )
    frame["usage_change"] = frame["usage"] - frame["usage_previous"]
    frame["usage_change_pct"] = (frame["usage_change"] / frame["usage_previous"]).where(frame["usage_previous"] > 0)
    return frame


def test_at_risk_threshold_is_inclusive() -> None:
    engagement = engagement_frame(
        ("half", 10.0, 5.0),  # -50 %: flagged
        ("almost", 100.0, 51.0),  # -49 %: not flagged
        ("gone", 10.0, 0.0),  # -100 %: flagged
        ("third", 30.0, 10.0),  # -66.7 %
        ("new", 0.0, 0.0),  # previous 0: never flagged
        ("grew", 4.0, 9.0),
        ("unpaid", 10.0, 1.0),  # dropped but not paying
    )
    snaps = snapshots(
        FEB, ("half", 100.0, "starter"), ("almost", 200.0, "growth"), ("gone", 300.0, "enterprise"),
        ("third", 50.0, "starter"), ("new", 10.0, "starter"), ("grew", 10.0, "starter"), ("unpaid", 0.0, "starter"),
    )
    out = at_risk_accounts(engagement, snaps, None, None, EngagementPolicy())
    assert list(out.columns) == AT_RISK_ACCOUNTS.column_names
    assert list(out["customer_id"]) == ["gone", "half", "third"]  # by MRR, largest first
    gone = out.iloc[0]
    assert (gone["usage_previous"], gone["usage"], gone["usage_change"], gone["usage_change_pct"]) == (10.0, 0.0, -10.0, -1.0)
    assert (gone["mrr"], gone["plan_tier"]) == (300.0, "enterprise")
    assert out["health_score"].isna().all() and out["owner_id"].isna().all()


def test_at_risk_fraction_policy_and_health_and_owner() -> None:
    engagement = engagement_frame(("a", 10.0, 7.0), ("b", 10.0, 7.5))
    snaps = snapshots(FEB, ("a", 100.0, "starter"), ("b", 100.0, "starter"))
    health = pd.DataFrame({"month": [FEB], "customer_id": ["a"], "score": [38.0], "band": ["critical"]})
    owners = pd.DataFrame({"customer_id": ["a", "b"], "owner_id": ["owner_7", None]})
    out = at_risk_accounts(engagement, snaps, health, owners, EngagementPolicy(at_risk_drop_fraction=0.3))
    assert list(out["customer_id"]) == ["a"]  # -30 % flagged at a 30 % threshold, -25 % not
    assert (out.iloc[0]["health_score"], out.iloc[0]["band"], out.iloc[0]["owner_id"]) == (38.0, "critical", "owner_7")
    # the health table's risky ticket topics come along as a second at-risk reason
    out = at_risk_accounts(engagement, snaps, health.assign(risky_ticket_topics=["competitor"]), owners,
                           EngagementPolicy(at_risk_drop_fraction=0.3))
    assert out.iloc[0]["risky_ticket_topics"] == "competitor"


def test_paying_account_from_ten_to_zero_end_to_end() -> None:
    usage = usage_rows(*[(f"2024-01-{d:02d}", "a", "u1", "view", 1) for d in range(1, 11)])
    snaps = pd.concat([snapshots(JAN, ("c1", 99.0, "starter")), snapshots(FEB, ("c1", 99.0, "starter"))])
    engagement = account_engagement(usage, links(("c1", "a")), [JAN, FEB], EMPTY, snapshots=snaps)
    out = at_risk_accounts(engagement, snaps, None, pd.DataFrame(columns=["customer_id", "owner_id"]))
    assert len(out) == 1
    assert (out.iloc[0]["month"], out.iloc[0]["usage_previous"], out.iloc[0]["usage"]) == (FEB, 10.0, 0.0)


def test_at_risk_rejects_missing_columns() -> None:
    with pytest.raises(ValueError, match="snapshots is missing"):
        at_risk_accounts(engagement_frame(("a", 1.0, 0.0)), pd.DataFrame({"month": [FEB]}), None, None)


def test_accounts_below_the_absolute_usage_floor_by_hand():
    from saas_metrics.metrics.usage import usage_floor_kpis

    jan, feb = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")
    # c1: 2 + 1 active user-days over two accounts = 3 < 4; c2: 4 (not below); c3: 0 (no event, still paying);
    # c4: 1 but not paying at the end of January; c5: paying, no linked product account (no row: unknown)
    engagement = pd.DataFrame({
        "month": [jan] * 5,
        "customer_id": ["c1", "c1", "c2", "c3", "c4"],
        "account_id": ["a1", "a1b", "a2", "a3", "a4"],
        "usage": [2.0, 1.0, 4.0, 0.0, 1.0],
    })
    snapshots = pd.DataFrame({"month": [jan] * 4, "customer_id": ["c1", "c2", "c3", "c5"], "mrr": [100.0, 50.0, 20.0, 10.0]})
    kpis = usage_floor_kpis(engagement, snapshots, [jan, feb], floor=4.0)
    got = kpis.set_index("month")["value"]
    assert got[jan] == 2.0  # c1 and c3
    assert got[feb] == 0.0  # no paying customer scored in February
    assert usage_floor_kpis(engagement, snapshots, [jan], floor=1.0).iloc[0]["value"] == 1.0  # c3 only


MAR = T("2024-03-01")


def month_reader(usage: pd.DataFrame):  # type: ignore[no-untyped-def]
    """usage_of(M): the rows of ``usage`` dated in month M, and the months it was asked for."""
    asked: list[pd.Timestamp] = []

    def usage_of(month: pd.Timestamp) -> pd.DataFrame:
        asked.append(month)
        dates = pd.to_datetime(usage["date"])
        return usage[(dates >= month) & (dates < month + pd.offsets.MonthBegin(1))].reset_index(drop=True)

    return usage_of, asked


def test_engagement_month_by_month_equals_the_whole_range() -> None:
    # a: 3 user-days in January, 1 in February, none in March; b: 2 in February (one on Feb 29), 1 in March.
    usage = pd.concat([JANUARY, usage_rows(("2024-02-01", "a", "u1", "view", 1), ("2024-02-10", "b", "u3", "view", 2),
                                           ("2024-02-29", "b", "u3", "view", 1), ("2024-03-05", "b", "u4", "view", 1))],
                      ignore_index=True)
    pairs, snaps = links(("c1", "a"), ("c2", "b")), snapshots(MAR, ("c1", 100.0, "growth"))
    usage_of, asked = month_reader(usage)
    by_month = account_engagement_by_month(usage_of, pairs, [FEB, JAN, MAR], snapshots=snaps)
    whole = account_engagement(usage, pairs, [JAN, FEB, MAR], EMPTY, snapshots=snaps)
    pd.testing.assert_frame_equal(by_month, whole)
    # December (before the first month) is read once; every month after that once, as M then as M-1.
    assert asked == [T("2023-12-01"), JAN, FEB, MAR]
    a_mar = row(by_month, MAR, "a")  # paying in March, no event: usage 0, down from 1
    assert (a_mar["usage_previous"], a_mar["usage"], a_mar["usage_change_pct"]) == (1.0, 0.0, -1.0)
    b_feb = row(by_month, FEB, "b")
    assert (b_feb["usage_previous"], b_feb["usage"], b_feb["active_users"]) == (0.0, 2.0, 1)
    assert b_feb["dau_avg"] == pytest.approx(2 / 29)


def test_engagement_month_by_month_of_no_months_is_empty() -> None:
    usage_of, asked = month_reader(JANUARY)
    assert account_engagement_by_month(usage_of, links(("c1", "a")), []).empty
    assert asked == []


def test_usage_activity_by_hand() -> None:
    # u1 on Jan 1 in two accounts and on Jan 2, u2 on Jan 1 -> 2 users, 3 user-days; a February row is not counted.
    usage = pd.concat([JANUARY, usage_rows(("2024-01-01", "b", "u1", "view", 4), ("2024-02-03", "b", "u5", "view", 1))],
                      ignore_index=True)
    activity = usage_activity(usage, [JAN])
    assert activity.loc[JAN, "active_users"] == 2 and activity.loc[JAN, "user_days"] == 3
    assert list(activity.index) == [JAN]
    assert usage_activity(None, [JAN]).empty


def test_usage_kpis_from_monthly_chunks_equal_one_frame() -> None:
    usage = pd.concat([JANUARY, usage_rows(("2024-01-01", "b", "u1", "view", 4), ("2024-02-03", "b", "u5", "view", 1))],
                      ignore_index=True)
    pairs = links(("c1", "a"), ("c2", "b"))
    engagement = account_engagement(usage, pairs, [JAN, FEB], EMPTY)
    usage_of, _ = month_reader(usage)
    chunked = usage_kpis(engagement, map(usage_of, [JAN, FEB]), [JAN, FEB])
    pd.testing.assert_frame_equal(chunked, usage_kpis(engagement, usage, [JAN, FEB]))
    kpis = chunked.set_index(["month", "metric"])["value"]
    assert kpis[(FEB, "active_users")] == 1.0
    assert kpis[(FEB, "stickiness")] == pytest.approx((1 / 29) / 1)


def test_one_pass_gives_engagement_and_each_months_activity() -> None:
    # January: u1 on Jan 1 (accounts a and b) and Jan 2, u2 on Jan 1 -> 2 users, 3 user-days.
    # February: no event. March: u4 on Mar 5 in b -> 1 user, 1 user-day. December (M-1 of January):
    # u9 on Dec 31, read for January's change but not counted as a month of the run.
    usage = pd.concat([JANUARY, usage_rows(("2024-01-01", "b", "u1", "view", 4), ("2024-03-05", "b", "u4", "view", 1),
                                           ("2023-12-31", "a", "u9", "view", 1))], ignore_index=True)
    pairs = links(("c1", "a"), ("c2", "b"))
    usage_of, asked = month_reader(usage)
    result = engagement_by_month(usage_of, pairs, [JAN, FEB, MAR])
    assert asked == [T("2023-12-01"), JAN, FEB, MAR]  # each month read once for both tables
    pd.testing.assert_frame_equal(result.engagement, account_engagement_by_month(month_reader(usage)[0], pairs, [JAN, FEB, MAR]))
    activity = result.activity
    assert list(activity.columns) == USAGE_ACTIVITY.column_names
    assert activity["month"].tolist() == [JAN, FEB, MAR]
    assert activity["active_users"].tolist() == [2, 0, 1]
    assert activity["user_days"].tolist() == [3, 0, 1]
    # The KPIs from the stored activity are those counted from the usage itself.
    pd.testing.assert_frame_equal(usage_kpis_from_activity(result.engagement, activity, [JAN, FEB, MAR]),
                                  usage_kpis(result.engagement, usage, [JAN, FEB, MAR]))


def test_activity_of_no_months_is_empty_and_a_missing_month_counts_as_no_activity() -> None:
    usage_of, asked = month_reader(JANUARY)
    assert engagement_by_month(usage_of, links(("c1", "a")), []).activity.empty and asked == []
    engagement = account_engagement(JANUARY, links(("c1", "a")), [JAN, FEB], EMPTY)
    january_only = pd.DataFrame({"month": [JAN], "active_users": [2], "user_days": [3]})
    kpis = usage_kpis_from_activity(engagement, january_only, [JAN, FEB]).set_index(["month", "metric"])["value"]
    assert kpis[(JAN, "active_users")] == 2.0 and kpis[(JAN, "stickiness")] == pytest.approx((3 / 31) / 2)
    assert kpis[(FEB, "active_users")] == 0.0 and math.isnan(kpis[(FEB, "stickiness")])
    with pytest.raises(ValueError, match="activity is missing column"):
        usage_kpis_from_activity(engagement, january_only.drop(columns="user_days"), [JAN])
