"""Support ticket KPIs (docs/metric-definitions.md#support).

For tickets created in M (``created_at`` in [first(M), first(M+1))):

- **tickets_created** = their count, headline and per ``priority`` (segment 'priority';
  a missing priority is 'unknown'); the canonical priorities always appear (0 when none).
- **first_response_hours_median / _p90** = median / 90th percentile of
  (first_response_at - created_at) in hours over those with a first response;
  **resolution_hours_median / _p90** the same for (solved_at - created_at) over those
  solved. Percentiles are ``numpy.percentile`` with linear interpolation
  (position p x (n - 1) in the sorted values): for 1..10 hours the p90 is 9.1.
  **first_response_hours_mean / resolution_hours_mean** are the arithmetic means over the
  same tickets (the guide's "average"; 1, 2 and 9 hours -> mean 4, median 2).
  The cohort is the creation month, so re-running M after later responses can add
  tickets created in M and answered after M's end. NaN when no ticket qualifies.
- **open_backlog** = tickets created before first(M+1) and not solved by first(M+1):
  ``solved_at`` is null (and the status is not solved/closed) or ``solved_at`` >= first(M+1).
  It needs every ticket created before M that may still be open: the caller passes
  all earlier tickets (not only M's partition).
- **tickets_per_account** (only when ``snapshots`` is given) = tickets_created /
  customers paying at the end of M (customer_mrr rows with mrr > 0); NaN when none.

``ticket_breakdown`` gives the weekday pattern: tickets created per month, priority and
weekday name of ``created_at`` (Monday..Sunday, UTC), every combination present (0 when none).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import pandas as pd

from saas_metrics.calendar import month_of, next_month, normalise_months
from saas_metrics.metrics import kpi
from saas_metrics.metrics.usage import require_columns
from saas_metrics.sources.schemas import TICKET_PRIORITIES
from saas_metrics.tables import Column, TableSchema, coerce_frame

SUPPORT_TICKETS_MONTHLY = TableSchema(
    name="support_tickets_monthly",
    description="Tickets created per month, priority and weekday (weekday pattern).",
    columns=(
        Column("month", "date", "first day of the month", nullable=False),
        Column("priority", "str", "low / normal / high / urgent / unknown", nullable=False),
        Column("weekday", "str", "Monday..Sunday of created_at (UTC)", nullable=False),
        Column("tickets", "int", "tickets created", nullable=False),
    ),
    time_column="month",
    key=("month", "priority", "weekday"),
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UNKNOWN_PRIORITY = "unknown"
SOLVED_STATUSES = ("solved", "closed")
PERCENTILE_METHOD: Final = "linear"

_TICKET_COLUMNS = ["ticket_id", "customer_id", "created_at", "priority", "status", "first_response_at", "solved_at"]
#: optional columns saying what a ticket is about (kept by prepare_tickets when present)
TOPIC_COLUMNS = ("category", "tags")


def ticket_topics(tickets: pd.DataFrame, topics: dict[str, list[str]]) -> pd.Series:
    """Per ticket, the risky topics its category or tags mention, comma-joined in sorted order (None
    when none): a topic matches when one of its keywords is a case-insensitive substring of the
    category or of a tag (tags split on commas and spaces). {'competitor': ['competitor']} and tags
    'billing, competitor_comparison' -> 'competitor'."""
    text = pd.Series("", index=tickets.index, dtype="object")
    for column in TOPIC_COLUMNS:
        if column in tickets.columns:
            text = text + " " + tickets[column].astype("object").where(tickets[column].notna(), "").astype(str).str.lower()
    hits = pd.DataFrame({topic: np.logical_or.reduce([text.str.contains(k.lower(), regex=False).to_numpy() for k in topics[topic]]
                                                     or [np.zeros(len(text), dtype=bool)])
                         for topic in sorted(topics)}, index=text.index)
    out = pd.Series(None, index=text.index, dtype="object")
    matched = hits.any(axis=1) if len(hits.columns) else pd.Series(False, index=text.index)
    if matched.any():
        out[matched] = hits[matched].apply(lambda row: ",".join(row.index[row.to_numpy(dtype=bool)]), axis=1)
    return out


def prepare_tickets(tickets: pd.DataFrame) -> pd.DataFrame:
    """Tickets with parsed timestamps, a filled priority and the creation month; rows
    without created_at are dropped (they cannot be placed in a month)."""
    require_columns(tickets, _TICKET_COLUMNS, "tickets")
    out = tickets[_TICKET_COLUMNS + [c for c in TOPIC_COLUMNS if c in tickets.columns]].copy()
    for column in ("created_at", "first_response_at", "solved_at"):
        out[column] = pd.to_datetime(out[column]).astype("datetime64[ns]")
    out = out.loc[out["created_at"].notna()].copy()
    out["priority"] = out["priority"].astype("object").where(out["priority"].notna(), UNKNOWN_PRIORITY).astype(str)
    out["month"] = month_of(out["created_at"])
    return out


def open_at_month_end(tickets: pd.DataFrame, months: Iterable[object]) -> pd.DataFrame:
    """One row per (month, ticket) open at the last instant of the month.

    Open at the end of M: created_at < first(M+1) and not solved by then
    (solved_at >= first(M+1), or solved_at null while the status is not solved/closed).
    ``tickets`` is the output of :func:`prepare_tickets`. Rows in ticket order, then month order.
    """
    month_list = normalise_months(months)
    if not month_list or tickets.empty:
        return tickets.iloc[0:0].assign(month=pd.Series(dtype="datetime64[ns]"))
    is_open = _open_at_cutoffs(tickets, month_list)
    ticket_positions, month_positions = np.nonzero(is_open)  # row-major: ticket by ticket, months in order
    pairs = tickets.drop(columns="month").iloc[ticket_positions].reset_index(drop=True)
    pairs["month"] = pd.DatetimeIndex(month_list).to_numpy()[month_positions]
    return pairs


def open_backlog(tickets: pd.DataFrame, months: Iterable[object]) -> pd.Series:
    """Tickets open at the end of each month (:func:`open_at_month_end`), counted (index ``month``)."""
    month_list = normalise_months(months)
    index = pd.DatetimeIndex(month_list, name="month")
    if not month_list or tickets.empty:
        return pd.Series(0, index=index, dtype="int64")
    return pd.Series(_open_at_cutoffs(tickets, month_list).sum(axis=0), index=index, dtype="int64")


def _open_at_cutoffs(tickets: pd.DataFrame, month_list: list[pd.Timestamp]) -> np.ndarray:
    """A (ticket, month) boolean grid: open at the end of the month. A grid of booleans instead of a
    cross join of the tickets' columns: over a long history the join held every open ticket's text
    once per month."""
    created = tickets["created_at"].to_numpy(dtype="datetime64[ns]")
    solved = tickets["solved_at"].to_numpy(dtype="datetime64[ns]")
    unsolved = (tickets["solved_at"].isna() & ~tickets["status"].astype(str).str.lower().isin(SOLVED_STATUSES)).to_numpy()
    cutoffs = pd.DatetimeIndex([next_month(m) for m in month_list]).to_numpy(dtype="datetime64[ns]")
    # NaT compares False either way, as in the pandas comparisons this replaces.
    return (created[:, None] < cutoffs[None, :]) & (unsolved[:, None] | (solved[:, None] >= cutoffs[None, :]))


def _hours(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 3600.0


def _percentile(values: pd.Series, q: float) -> float:
    clean = values.dropna().to_numpy(dtype="float64")
    return float(np.percentile(clean, q, method=PERCENTILE_METHOD)) if clean.size else np.nan


def support_kpis(tickets: pd.DataFrame, months: Iterable[object], snapshots: pd.DataFrame | None = None) -> pd.DataFrame:
    """Support KPIs per month as kpi_monthly rows; formulas in the module docstring.

    ``tickets`` must include every ticket created before M that may still be open at the
    start of M (for open_backlog). ``snapshots`` (customer_mrr) enables tickets_per_account.
    """
    month_list = normalise_months(months)
    if not month_list:
        return kpi.kpi_frame([])
    prepared = prepare_tickets(tickets)
    if (prepared["first_response_at"] < prepared["created_at"]).any() or (prepared["solved_at"] < prepared["created_at"]).any():
        raise ValueError("tickets has first_response_at or solved_at before created_at")
    created = prepared.loc[prepared["month"].isin(month_list)].copy()
    created["first_response_hours"] = _hours(created["first_response_at"], created["created_at"])
    created["resolution_hours"] = _hours(created["solved_at"], created["created_at"])
    index = pd.DatetimeIndex(month_list, name="month")
    by_month = created.groupby("month")
    wide = pd.DataFrame({"month": index})
    wide["tickets_created"] = by_month.size().reindex(index).fillna(0).to_numpy()
    for column, prefix in (("first_response_hours", "first_response_hours"), ("resolution_hours", "resolution_hours")):
        wide[f"{prefix}_median"] = by_month[column].agg(lambda s: _percentile(s, 50)).reindex(index).to_numpy()
        wide[f"{prefix}_p90"] = by_month[column].agg(lambda s: _percentile(s, 90)).reindex(index).to_numpy()
        wide[f"{prefix}_mean"] = by_month[column].mean().reindex(index).to_numpy()
    wide["open_backlog"] = open_backlog(prepared, month_list).to_numpy()
    units = {
        "tickets_created": kpi.COUNT,
        "first_response_hours_median": kpi.HOURS,
        "first_response_hours_p90": kpi.HOURS,
        "resolution_hours_median": kpi.HOURS,
        "resolution_hours_p90": kpi.HOURS,
        "first_response_hours_mean": kpi.HOURS,
        "resolution_hours_mean": kpi.HOURS,
        "open_backlog": kpi.COUNT,
    }
    if snapshots is not None:
        require_columns(snapshots, ["month", "customer_id", "mrr"], "snapshots")
        paying = snapshots.loc[pd.to_numeric(snapshots["mrr"], errors="coerce") > 0]
        customers = paying.groupby(month_of(paying["month"]))["customer_id"].nunique().reindex(index).fillna(0)
        wide["tickets_per_account"] = kpi.safe_divide(wide["tickets_created"].to_numpy(), customers.to_numpy())
        units["tickets_per_account"] = kpi.COUNT
    headline = kpi.wide_to_kpi(wide, units)

    priorities = list(dict.fromkeys([*TICKET_PRIORITIES, *sorted(created["priority"].unique())]))
    grid = pd.MultiIndex.from_product([index, priorities], names=["month", "priority"])
    per_priority = created.groupby(["month", "priority"]).size().reindex(grid, fill_value=0).rename("tickets_created").reset_index()
    by_priority = kpi.wide_to_kpi(per_priority, {"tickets_created": kpi.COUNT}, segment="priority", segment_column="priority")
    return pd.concat([headline, by_priority], ignore_index=True)


def ticket_breakdown(tickets: pd.DataFrame, months: Iterable[object]) -> pd.DataFrame:
    """Tickets created per month x priority x weekday (SUPPORT_TICKETS_MONTHLY), zeros included.

    Priorities: the canonical ones plus any other value present ('unknown' for missing).
    """
    month_list = normalise_months(months)
    if not month_list:
        return SUPPORT_TICKETS_MONTHLY.empty_frame()
    created = prepare_tickets(tickets)
    created = created.loc[created["month"].isin(month_list)].copy()
    created["weekday"] = created["created_at"].dt.day_name()
    priorities = list(dict.fromkeys([*TICKET_PRIORITIES, *sorted(created["priority"].unique())]))
    grid = pd.MultiIndex.from_product([month_list, priorities, WEEKDAYS], names=["month", "priority", "weekday"])
    counts = created.groupby(["month", "priority", "weekday"]).size().reindex(grid, fill_value=0).rename("tickets")
    return coerce_frame(counts.reset_index(), SUPPORT_TICKETS_MONTHLY)
