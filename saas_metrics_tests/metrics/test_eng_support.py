"""Support KPIs: counts by priority, median/p90 response and resolution hours, backlog, weekday pattern."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from saas_metrics.metrics.support import (
    SUPPORT_TICKETS_MONTHLY,
    open_at_month_end,
    open_backlog,
    prepare_tickets,
    support_kpis,
    ticket_breakdown,
)

T = pd.Timestamp
H = pd.Timedelta(hours=1)
JAN, FEB, MAR = T("2024-01-01"), T("2024-02-01"), T("2024-03-01")
COLUMNS = ["ticket_id", "customer_id", "created_at", "priority", "status", "first_response_at", "solved_at"]


def tickets(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def ten_january_tickets() -> pd.DataFrame:
    """First responses after 1..10 hours, resolutions after 2, 4, .., 20 hours, all on Monday Jan 1 2024."""
    start = T("2024-01-01 08:00")
    priorities = ["urgent", "high", "high", "normal", "normal", "normal", "low", "low", "low", None]
    return tickets(
        [
            (f"t{k}", f"c{k % 3}", start, priorities[k - 1], "solved", start + k * H, start + 2 * k * H)
            for k in range(1, 11)
        ]
    )


def values(frame: pd.DataFrame) -> pd.Series:
    return frame.set_index(["month", "metric", "segment", "segment_value"])["value"]


def test_median_and_p90_by_hand() -> None:
    kpis = values(support_kpis(ten_january_tickets(), [JAN]))
    assert kpis[(JAN, "tickets_created", "all", "all")] == 10.0
    # 1..10 hours: median 5.5; p90 = value at position 0.9 x 9 = 8.1 -> 9 + 0.1 x (10 - 9) = 9.1
    assert kpis[(JAN, "first_response_hours_median", "all", "all")] == pytest.approx(5.5)
    assert kpis[(JAN, "first_response_hours_p90", "all", "all")] == pytest.approx(9.1)
    # 2..20 hours: median 11, p90 18.2
    assert kpis[(JAN, "resolution_hours_median", "all", "all")] == pytest.approx(11.0)
    assert kpis[(JAN, "resolution_hours_p90", "all", "all")] == pytest.approx(18.2)
    assert kpis[(JAN, "open_backlog", "all", "all")] == 0.0


def test_tickets_by_priority_include_zero_and_unknown() -> None:
    kpis = values(support_kpis(ten_january_tickets(), [JAN]))
    by_priority = {p: kpis[(JAN, "tickets_created", "priority", p)] for p in ("low", "normal", "high", "urgent", "unknown")}
    assert by_priority == {"low": 3.0, "normal": 3.0, "high": 2.0, "urgent": 1.0, "unknown": 1.0}


def test_month_without_tickets() -> None:
    kpis = values(support_kpis(ten_january_tickets(), [FEB]))
    assert kpis[(FEB, "tickets_created", "all", "all")] == 0.0
    assert math.isnan(kpis[(FEB, "first_response_hours_median", "all", "all")])
    assert math.isnan(kpis[(FEB, "resolution_hours_p90", "all", "all")])
    assert math.isnan(kpis[(FEB, "first_response_hours_mean", "all", "all")])
    assert kpis[(FEB, "tickets_created", "priority", "urgent")] == 0.0


def test_means_beside_median_by_hand() -> None:
    # first responses after 1, 2 and 9 hours: mean 4, median 2; resolutions 2, 4, 18: mean 8, median 4;
    # an unanswered, unsolved ticket is in neither
    start = T("2024-01-08 08:00")
    frame = tickets([
        ("a", "c1", start, "low", "solved", start + 1 * H, start + 2 * H),
        ("b", "c1", start, "low", "solved", start + 2 * H, start + 4 * H),
        ("c", "c2", start, "high", "solved", start + 9 * H, start + 18 * H),
        ("d", "c2", start, "high", "open", None, None),
    ])
    kpis = values(support_kpis(frame, [JAN]))
    assert kpis[(JAN, "first_response_hours_mean", "all", "all")] == pytest.approx(4.0)
    assert kpis[(JAN, "first_response_hours_median", "all", "all")] == pytest.approx(2.0)
    assert kpis[(JAN, "resolution_hours_mean", "all", "all")] == pytest.approx(8.0)
    assert kpis[(JAN, "resolution_hours_median", "all", "all")] == pytest.approx(4.0)


def test_open_backlog_across_months() -> None:
    frame = tickets(
        [
            ("t1", "c1", T("2024-01-05"), "low", "solved", T("2024-01-05 01:00"), T("2024-01-10")),  # closed in Jan
            ("t2", "c1", T("2024-01-20"), "low", "solved", pd.NaT, T("2024-02-03")),  # open at end of Jan only
            ("t3", "c2", T("2024-01-25"), "high", "open", pd.NaT, pd.NaT),  # open ever since
            ("t4", "c2", T("2024-02-02"), "low", "solved", pd.NaT, MAR),  # solved exactly at Mar 1 00:00: open end of Feb
            ("t5", "c3", T("2024-02-05"), "low", "closed", pd.NaT, pd.NaT),  # closed, time unknown: not open
            ("t6", "c3", T("2024-03-02"), "low", "new", pd.NaT, pd.NaT),  # created later
        ]
    )
    kpis = values(support_kpis(frame, [JAN, FEB]))
    prepared = prepare_tickets(frame)
    open_pairs = open_at_month_end(prepared, [JAN, FEB, MAR])
    # Ticket by ticket, months in order: t2 in January; t3 every month; t4 in February; t6 in March.
    assert list(zip(open_pairs["ticket_id"], open_pairs["month"], strict=True)) == [
        ("t2", JAN), ("t3", JAN), ("t3", FEB), ("t3", MAR), ("t4", FEB), ("t6", MAR)]
    assert open_backlog(prepared, [JAN, FEB, MAR]).tolist() == [2, 2, 2]
    assert open_backlog(prepared.iloc[0:0], [JAN]).tolist() == [0] and open_at_month_end(prepared, []).empty
    assert kpis[(JAN, "open_backlog", "all", "all")] == 2.0  # t2, t3
    assert kpis[(FEB, "open_backlog", "all", "all")] == 2.0  # t3, t4
    # a one-month run needs the earlier months' tickets too; with them it agrees
    assert values(support_kpis(frame, [FEB]))[(FEB, "open_backlog", "all", "all")] == 2.0
    assert values(support_kpis(frame, [MAR]))[(MAR, "open_backlog", "all", "all")] == 2.0  # t3, t6
    # resolution of February's tickets: t4 took 28 days (Feb 2 -> Mar 1, leap year) = 672 h (t5 has no solved_at)
    assert kpis[(FEB, "resolution_hours_median", "all", "all")] == pytest.approx(672.0)


def test_tickets_per_account_needs_snapshots() -> None:
    plain = support_kpis(ten_january_tickets(), [JAN])
    assert "tickets_per_account" not in set(plain["metric"])
    snaps = pd.DataFrame({"month": [JAN] * 5, "customer_id": ["c0", "c1", "c2", "c3", "c4"], "mrr": [1.0, 1.0, 1.0, 1.0, 0.0]})
    kpis = values(support_kpis(ten_january_tickets(), [JAN], snaps))
    assert kpis[(JAN, "tickets_per_account", "all", "all")] == pytest.approx(10 / 4)


def test_units() -> None:
    units = support_kpis(ten_january_tickets(), [JAN]).drop_duplicates("metric").set_index("metric")["unit"]
    assert units["first_response_hours_p90"] == "hours"
    assert units["open_backlog"] == "count"


def test_weekday_pattern() -> None:
    frame = tickets(
        [
            ("t1", "c1", T("2024-01-01 09:00"), "low", "new", pd.NaT, pd.NaT),  # Monday
            ("t2", "c1", T("2024-01-08 23:59"), "low", "new", pd.NaT, pd.NaT),  # Monday
            ("t3", "c1", T("2024-01-06 10:00"), "urgent", "new", pd.NaT, pd.NaT),  # Saturday
            ("t4", "c1", T("2024-02-04 10:00"), "low", "new", pd.NaT, pd.NaT),  # Sunday, other month
        ]
    )
    out = ticket_breakdown(frame, [JAN])
    assert list(out.columns) == SUPPORT_TICKETS_MONTHLY.column_names
    assert len(out) == 4 * 7  # every canonical priority x weekday
    counts = out.set_index(["priority", "weekday"])["tickets"]
    assert counts[("low", "Monday")] == 2
    assert counts[("urgent", "Saturday")] == 1
    assert counts.sum() == 3
    assert list(out.loc[out["priority"] == "low", "weekday"]) == [
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    ]


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="missing column"):
        support_kpis(ten_january_tickets().drop(columns="solved_at"), [JAN])
    bad = ten_january_tickets()
    bad.loc[0, "solved_at"] = T("2023-12-31")
    with pytest.raises(ValueError, match="before created_at"):
        support_kpis(bad, [JAN])
