"""Rule evaluation: warehouse frames (or pipeline events) in, alert rows out. Pure.

Every alert row has the outbox columns of :data:`ALERT_COLUMNS`. Its
``dedupe_key`` = ``rule|period|segment|subject`` identifies it: writing the same
alert twice is a no-op in the outbox, so evaluations are idempotent.

* KPI rules: segment = ``all`` for the headline, else ``<segment>=<value>``;
  subject = the metric; period = ``YYYY-MM``. Undefined values (NULL) never
  alert; provisional rows only when the rule says ``include_provisional``.
* Account rules (at risk, health): ONE alert per rule and month, segment
  ``account``, subject ``accounts``; its message counts the accounts, lists the
  top ``rule.top_accounts`` by MRR and gives the SQL query that lists them all.
* Asset checks: segment ``pipeline``, subject ``<asset>:<check>``, period = the
  check's partition, else the UTC day of the evaluation (one alert per day).
* Runs: segment ``pipeline``, subject = the run id (one alert per failed run).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from saas_metrics.alerts.rules import (
    AssetCheckFailedRule,
    AtRiskAccountRule,
    HealthEnteredCriticalRule,
    HealthScoreDropRule,
    KpiChangeRule,
    KpiThresholdRule,
    RunFailedRule,
)
from saas_metrics.calendar import month_of, month_start
from saas_metrics.metrics.display import format_kpi
from saas_metrics.metrics.kpi import MULTIPLES

ALERT_COLUMNS = ["dedupe_key", "rule", "month", "segment", "subject", "value", "threshold", "severity", "owner", "message"]
KPI_COLUMNS = ["month", "metric", "segment", "segment_value", "value", "unit", "is_provisional"]
AT_RISK_COLUMNS = ["month", "customer_id", "usage_previous", "usage", "usage_change_pct", "mrr"]
HEALTH_COLUMNS = ["month", "customer_id", "score", "band", "mrr", "score_change", "entered_critical"]
ACCOUNT_SEGMENT = "account"
#: Subject of the one grouped alert per account rule and month.
ACCOUNTS_SUBJECT = "accounts"
PIPELINE_SEGMENT = "pipeline"


@dataclass(frozen=True)
class CheckFailure:
    """A failed asset check evaluation read from the Dagster instance."""

    asset: str
    check: str
    severity: str  # WARN / ERROR
    partition: str | None
    run_id: str
    evaluated_at: dt.datetime
    description: str = ""


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job_name: str
    partition: str | None
    error: str = ""


def dedupe_key(rule: str, period: str, segment: str, subject: str) -> str:
    return f"{rule}|{period}|{segment}|{subject}"


def empty_alerts() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in ALERT_COLUMNS})


def format_value(value: float | None, unit: str | None, metric: str = "", currency: str = "USD") -> str:
    """A value in its own unit (:func:`saas_metrics.metrics.display.format_kpi`), money to the cent
    with the currency code (179,950.50 USD): rates as 6.20 %, multiples as 2.52x."""
    return format_kpi(metric, value, unit, currency, money_decimals=2, currency_symbol=False)


def format_change(change: float, kind: str, unit: str | None, metric: str = "", currency: str = "USD") -> str:
    """A month-over-month change: relative as a signed percent; absolute in the
    metric's unit (a rate's absolute change in percentage points)."""
    if kind == "relative":
        return f"{change:+.2%}"
    if unit == "ratio" and metric not in MULTIPLES:
        return f"{change * 100:+.2f} pp"
    text = format_value(abs(change), unit, metric, currency)
    return f"{'-' if change < 0 else '+'}{text}"


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing columns {missing}")


def _period(month: pd.Timestamp) -> str:
    return pd.Timestamp(month).strftime("%Y-%m")


def _owner_suffix(owner: str | None) -> str:
    return f" Owner: {owner}." if owner else ""


def _segment_label(segment: str, segment_value: str) -> str:
    return "all" if segment == "all" and segment_value == "all" else f"{segment}={segment_value}"


def _alert(rule, period: str, month: pd.Timestamp | None, segment: str, subject: str,
           value: float | None, threshold: float | None, message: str) -> dict[str, object]:
    return {
        "dedupe_key": dedupe_key(rule.name, period, segment, subject),
        "rule": rule.name,
        "month": None if month is None else pd.Timestamp(month),
        "segment": segment,
        "subject": subject,
        "value": np.nan if value is None else float(value),
        "threshold": np.nan if threshold is None else float(threshold),
        "severity": rule.severity,
        "owner": rule.owner,
        "message": f"[{rule.severity.upper()}] {rule.name}: {message}{_owner_suffix(rule.owner)}",
    }


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    if not rows:
        return empty_alerts()
    return pd.DataFrame(rows, columns=ALERT_COLUMNS).drop_duplicates("dedupe_key").reset_index(drop=True)


def _months_filter(frame: pd.DataFrame, months: Iterable | None) -> pd.Series:
    if months is None:
        return pd.Series(True, index=frame.index)
    wanted = {month_start(m) for m in months}
    return frame["month"].isin(wanted)


def evaluate_kpi_rules(
    kpi: pd.DataFrame,
    rules: Sequence[KpiThresholdRule | KpiChangeRule],
    months: Iterable | None = None,
    currency: str = "USD",
) -> pd.DataFrame:
    """Alerts of threshold and month-over-month rules on kpi_monthly rows.

    ``kpi`` holds kpi_monthly rows of the months to evaluate AND, for change
    rules, of the month before each; ``months`` restricts which months alert
    (None: every month in ``kpi``). Threshold: value > threshold (above) or
    value < threshold (below). Change: relative = (v(M) - v(M-1)) / |v(M-1)|
    (undefined when v(M-1) is 0), absolute = v(M) - v(M-1); a missing M-1 row
    never alerts. Values are shown in their unit (``currency``: the reporting
    currency's code).
    """
    _require(kpi, KPI_COLUMNS, "kpi_monthly frame")
    if kpi.empty or not rules:
        return empty_alerts()
    frame = kpi[KPI_COLUMNS].copy()
    frame["month"] = month_of(frame["month"])
    frame["is_provisional"] = frame["is_provisional"].fillna(False).astype(bool)
    frame["segment_value"] = frame["segment_value"].astype(str)
    previous = frame[["month", "metric", "segment", "segment_value", "value"]].copy()
    previous["month"] = previous["month"] + pd.DateOffset(months=1)
    frame = frame.merge(previous.rename(columns={"value": "previous"}), how="left",
                        on=["month", "metric", "segment", "segment_value"])
    frame = frame[_months_filter(frame, months)]

    rows: list[dict[str, object]] = []
    for rule in rules:
        candidates = frame[(frame["metric"] == rule.metric) & frame["value"].notna()]
        if not rule.include_provisional:
            candidates = candidates[~candidates["is_provisional"]]
        for row in candidates.itertuples(index=False):
            if not rule.matches(row.segment, row.segment_value):
                continue
            segment = _segment_label(row.segment, row.segment_value)
            where = f"in {_period(row.month)} (segment {segment})"
            shown = partial(format_value, unit=row.unit, metric=rule.metric, currency=currency)
            if isinstance(rule, KpiThresholdRule):
                hit = row.value > rule.threshold if rule.operator == "above" else row.value < rule.threshold
                if hit:
                    message = (f"{rule.metric} was {shown(row.value)} {where}, "
                               f"{rule.operator} the threshold {shown(rule.threshold)}.")
                    rows.append(_alert(rule, _period(row.month), row.month, segment, rule.metric,
                                       row.value, rule.threshold, message))
                continue
            change = _change(row.value, row.previous, rule.change)
            if change is None or not _change_hits(change, rule):
                continue
            if rule.threshold == 0:
                limit = {"down": "alert on any decrease", "up": "alert on any increase", "any": "alert on any change"}[rule.direction]
            else:
                size = format_change(rule.threshold, rule.change, row.unit, rule.metric, currency).lstrip("+")
                limit = f"alert on a move {rule.direction} of more than {size}"
            message = (f"{rule.metric} changed {format_change(change, rule.change, row.unit, rule.metric, currency)} "
                       f"month over month {where}: {shown(row.value)} from {shown(row.previous)} ({limit}).")
            rows.append(_alert(rule, _period(row.month), row.month, segment, rule.metric, change, rule.threshold, message))
    return _frame(rows)


def _change(value: float, previous: float, kind: str) -> float | None:
    if previous is None or pd.isna(previous):
        return None
    if kind == "absolute":
        return float(value - previous)
    if previous == 0:
        return None
    return float((value - previous) / abs(previous))


def _change_hits(change: float, rule: KpiChangeRule) -> bool:
    if rule.direction == "down":
        return change < -rule.threshold
    if rule.direction == "up":
        return change > rule.threshold
    return abs(change) > rule.threshold


def _account_alert(rule: AtRiskAccountRule | HealthEnteredCriticalRule | HealthScoreDropRule, month: pd.Timestamp,
                   accounts: pd.DataFrame, headline: str, describe: Callable[[object], str], query: str,
                   value: float | None, currency: str) -> dict[str, object]:
    """One alert for every account a rule flagged in a month: the count, their MRR,
    the top ``rule.top_accounts`` by MRR (ties by customer id) and a query for the rest."""
    ranked = accounts.assign(mrr_value=accounts["mrr"].fillna(0.0).astype(float))
    ranked = ranked.sort_values(["mrr_value", "customer_id"], ascending=[False, True], kind="stable")
    top = ranked.head(rule.top_accounts)
    count = len(ranked)
    noun = "account" if count == 1 else "accounts"
    message = (f"{count} {noun} {headline} in {_period(month)} "
               f"(MRR {format_value(ranked['mrr_value'].sum(), 'currency', currency=currency)} in total).")
    if len(top):
        listed = "; ".join(f"{row.customer_id} ({describe(row)})" for row in top.itertuples(index=False))
        message += f" Top {len(top)} by MRR: {listed}."
    if count > len(top):
        message += f" All {count}: {query}"
    return _alert(rule, _period(month), month, ACCOUNT_SEGMENT, ACCOUNTS_SUBJECT, value, None, message)


def _account_query(table: str, columns: str, month: pd.Timestamp, condition: str, min_mrr: float) -> str:
    where = f"month = '{pd.Timestamp(month):%Y-%m-%d}'" + (f" AND {condition}" if condition else "")
    if min_mrr > 0:
        where += f" AND mrr >= {min_mrr:g}"
    return f"SELECT customer_id, {columns} FROM {table} WHERE {where} ORDER BY mrr DESC;"


def _by_month(frame: pd.DataFrame, months: Iterable | None) -> Iterable[tuple[pd.Timestamp, pd.DataFrame]]:
    if frame.empty:
        return []
    frame = frame[_months_filter(frame, months)]
    return ((pd.Timestamp(month), group) for month, group in frame.groupby("month", sort=True))


def _min_mrr(frame: pd.DataFrame, min_mrr: float) -> pd.DataFrame:
    return frame[frame["mrr"].fillna(0.0).astype(float) >= min_mrr]


def _in_progress(month: pd.Timestamp, today: dt.date | None) -> bool:
    """The month of ``today`` (UTC) or later: its usage and health are partial, not yet comparable."""
    today = today or dt.datetime.now(dt.UTC).date()
    return month >= month_start(today)


def evaluate_at_risk(at_risk: pd.DataFrame, rules: Sequence[AtRiskAccountRule], months: Iterable | None = None,
                     currency: str = "USD", today: dt.date | None = None) -> pd.DataFrame:
    """Per rule and month, one alert grouping the at_risk_accounts rows (accounts whose
    usage dropped) with MRR >= min_mrr; the top accounts by MRR are listed. The month in
    progress (``today``'s) alerts only under rules with ``include_provisional``: its one
    alert would otherwise be raised on a partial month's usage."""
    _require(at_risk, AT_RISK_COLUMNS, "at_risk_accounts frame")
    rows: list[dict[str, object]] = []

    def describe(row) -> str:
        drop = "n/a" if pd.isna(row.usage_change_pct) else f"{row.usage_change_pct:+.0%}"
        return (f"usage {drop}, {format_value(row.usage_previous, 'count')} -> {format_value(row.usage, 'count')}, "
                f"MRR {format_value(row.mrr_value, 'currency', currency=currency)}")

    for month, frame in _by_month(at_risk, months):
        for rule in rules:
            if _in_progress(month, today) and not rule.include_provisional:
                continue
            flagged = _min_mrr(frame, rule.min_mrr)
            if flagged.empty:
                continue
            query = _account_query("at_risk_accounts", "usage_previous, usage, usage_change_pct, mrr", month, "", rule.min_mrr)
            rows.append(_account_alert(rule, month, flagged, "with usage down by the at-risk fraction or more", describe,
                                       query, len(flagged), currency))
    return _frame(rows)


def evaluate_health(
    health: pd.DataFrame,
    rules: Sequence[HealthEnteredCriticalRule | HealthScoreDropRule],
    months: Iterable | None = None,
    currency: str = "USD",
    today: dt.date | None = None,
) -> pd.DataFrame:
    """Per rule and month, one alert grouping the accounts that entered the critical
    band, or whose health score fell by at least ``threshold`` points (score_change <= -threshold).
    The month in progress alerts only under rules with ``include_provisional``."""
    _require(health, HEALTH_COLUMNS, "customer_health frame")
    rows: list[dict[str, object]] = []

    def critical(row) -> str:
        return f"score {row.score:.1f}, MRR {format_value(row.mrr_value, 'currency', currency=currency)}"

    def dropped(row) -> str:
        return (f"-{-row.score_change:.1f} points to {row.score:.1f} ({row.band}), "
                f"MRR {format_value(row.mrr_value, 'currency', currency=currency)}")

    for month, frame in _by_month(health, months):
        for rule in rules:
            if _in_progress(month, today) and not rule.include_provisional:
                continue
            candidates = _min_mrr(frame, rule.min_mrr)
            if isinstance(rule, HealthEnteredCriticalRule):
                flagged = candidates[candidates["entered_critical"].fillna(False).astype(bool)]
                headline, describe, condition = "entered the critical health band", critical, "entered_critical"
            else:
                flagged = candidates[candidates["score_change"].notna() & (candidates["score_change"] <= -rule.threshold)]
                headline = f"lost {rule.threshold:g} health points or more"
                describe, condition = dropped, f"score_change <= -{rule.threshold:g}"
            if flagged.empty:
                continue
            query = _account_query("customer_health", "score, band, score_change, mrr", month, condition, rule.min_mrr)
            rows.append(_account_alert(rule, month, flagged, headline, describe, query, len(flagged), currency))
    return _frame(rows)


def _month_of_partition(partition: str | None) -> pd.Timestamp | None:
    if not partition:
        return None
    try:
        return month_start(partition)
    except ValueError:
        return None


def latest_month_failures(failures: Sequence[CheckFailure], today: dt.date | None = None) -> list[CheckFailure]:
    """What a check-alert sensor's first tick reports: unpartitioned failures, and those of the
    latest partition month among the failures that is complete (before ``today``'s month);
    older partitions (a backfill of history) are left to a deliberate look."""
    today = today or dt.datetime.now(dt.UTC).date()
    current = month_start(today)
    months = [m for f in failures if (m := _month_of_partition(f.partition)) is not None and m < current]
    latest = max(months) if months else None
    return [f for f in failures if f.partition is None or _month_of_partition(f.partition) == latest]


def evaluate_check_failures(failures: Iterable[CheckFailure], rules: Sequence[AssetCheckFailedRule]) -> pd.DataFrame:
    """One alert per failed check, partition (or UTC day for unpartitioned checks) and rule."""
    rows: list[dict[str, object]] = []
    for failure in failures:
        for rule in rules:
            if rule.assets and failure.asset not in rule.assets:
                continue
            if rule.checks and failure.check not in rule.checks:
                continue
            if rule.min_check_severity == "ERROR" and failure.severity != "ERROR":
                continue
            month = _month_of_partition(failure.partition)
            period = failure.partition or failure.evaluated_at.strftime("%Y-%m-%d")
            detail = f": {failure.description}" if failure.description else ""
            where = f" partition {failure.partition}" if failure.partition else ""
            message = (f"asset check {failure.check} on {failure.asset}{where} failed "
                       f"(severity {failure.severity}, run {failure.run_id}){detail}.")
            rows.append(_alert(rule, period, month, PIPELINE_SEGMENT, f"{failure.asset}:{failure.check}",
                               None, None, message))
    return _frame(rows)


def evaluate_run_failure(failure: RunFailure, rules: Sequence[RunFailedRule]) -> pd.DataFrame:
    """One alert per failed run (and rule)."""
    rows: list[dict[str, object]] = []
    for rule in rules:
        if rule.jobs and failure.job_name not in rule.jobs:
            continue
        where = f" (partition {failure.partition})" if failure.partition else ""
        error = f": {failure.error.strip().splitlines()[0][:300].rstrip('.')}" if failure.error.strip() else ""
        message = f"run {failure.run_id} of job {failure.job_name}{where} failed{error}."
        rows.append(_alert(rule, failure.partition or "-", _month_of_partition(failure.partition),
                           PIPELINE_SEGMENT, failure.run_id, None, None, message))
    return _frame(rows)
