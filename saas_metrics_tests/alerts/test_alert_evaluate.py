"""Rule evaluation on hand-made kpi_monthly, at_risk_accounts and customer_health frames."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from saas_metrics.alerts.evaluate import (
    CheckFailure,
    RunFailure,
    evaluate_at_risk,
    evaluate_check_failures,
    evaluate_health,
    evaluate_kpi_rules,
    evaluate_run_failure,
    format_change,
    format_value,
    latest_month_failures,
)
from saas_metrics.alerts.rules import (
    AssetCheckFailedRule,
    AtRiskAccountRule,
    HealthEnteredCriticalRule,
    HealthScoreDropRule,
    KpiChangeRule,
    KpiThresholdRule,
    RunFailedRule,
)

APR, MAY = pd.Timestamp("2024-04-01"), pd.Timestamp("2024-05-01")


def kpi(rows: list[tuple]) -> pd.DataFrame:
    """rows: (month, metric, segment, segment_value, value, unit, is_provisional)."""
    return pd.DataFrame(rows, columns=["month", "metric", "segment", "segment_value", "value", "unit", "is_provisional"])


CHURN = KpiThresholdRule(type="kpi_threshold", name="churn_high", metric="customer_churn_rate", operator="above",
                         threshold=0.05, owner="cs")
NRR = KpiThresholdRule(type="kpi_threshold", name="nrr_low", metric="nrr", operator="below", threshold=1.0,
                       severity="critical")
MRR_DOWN = KpiChangeRule(type="kpi_change", name="mrr_down", metric="mrr", direction="down", threshold=0.0)


def test_threshold_is_strict_and_skips_nulls_and_other_segments() -> None:
    frame = kpi([
        (MAY, "customer_churn_rate", "all", "all", 0.062, "ratio", False),     # 6.2 % > 5 %: alert
        (MAY, "customer_churn_rate", "plan_tier", "starter", 0.09, "ratio", False),  # segment not watched
        (APR, "customer_churn_rate", "all", "all", 0.05, "ratio", False),     # exactly 5 %: not above
        (MAY, "nrr", "all", "all", np.nan, "ratio", False),                    # undefined: never alerts
    ])
    alerts = evaluate_kpi_rules(frame, [CHURN, NRR])
    assert list(alerts["dedupe_key"]) == ["churn_high|2024-05|all|customer_churn_rate"]
    row = alerts.iloc[0]
    assert row["value"] == pytest.approx(0.062) and row["threshold"] == 0.05
    assert row["severity"] == "warning" and row["owner"] == "cs"
    assert row["message"] == ("[WARNING] churn_high: customer_churn_rate was 6.20% in 2024-05 (segment all), "
                              "above the threshold 5.00%. Owner: cs.")


def test_segment_wildcard_and_provisional_rows() -> None:
    rule = KpiThresholdRule(type="kpi_threshold", name="nrr_low_any", metric="nrr", operator="below", threshold=1.0,
                            segment="*")
    frame = kpi([
        (MAY, "nrr", "all", "all", 0.97, "ratio", False),
        (MAY, "nrr", "plan_tier", "growth", 0.80, "ratio", False),
        (MAY, "nrr", "plan_tier", "starter", 1.10, "ratio", False),
        (pd.Timestamp("2024-06-01"), "nrr", "all", "all", 0.50, "ratio", True),  # provisional: skipped
    ])
    alerts = evaluate_kpi_rules(frame, [rule])
    assert sorted(alerts["segment"]) == ["all", "plan_tier=growth"]
    with_provisional = rule.model_copy(update={"include_provisional": True})
    assert len(evaluate_kpi_rules(frame, [with_provisional])) == 3


def test_month_over_month_change_relative_and_absolute() -> None:
    frame = kpi([
        (APR, "mrr", "all", "all", 100_000.0, "currency", False),
        (MAY, "mrr", "all", "all", 96_000.0, "currency", False),
        (APR, "customers", "all", "all", 200.0, "count", False),
        (MAY, "customers", "all", "all", 190.0, "count", False),
    ])
    alerts = evaluate_kpi_rules(frame, [MRR_DOWN])
    # April has no March row: no comparison, no alert. May: (96,000 - 100,000) / 100,000 = -4 %.
    assert list(alerts["dedupe_key"]) == ["mrr_down|2024-05|all|mrr"]
    assert alerts.iloc[0]["value"] == pytest.approx(-0.04)
    assert alerts.iloc[0]["message"] == ("[WARNING] mrr_down: mrr changed -4.00% month over month in 2024-05 "
                                         "(segment all): 96,000.00 USD from 100,000.00 USD (alert on any decrease).")

    big_drop = KpiChangeRule(type="kpi_change", name="mrr_drop_5pct", metric="mrr", threshold=0.05)
    assert evaluate_kpi_rules(frame, [big_drop]).empty  # -4 % is not beyond -5 %
    lost = KpiChangeRule(type="kpi_change", name="lost_customers", metric="customers", change="absolute",
                         direction="any", threshold=5)
    alerts = evaluate_kpi_rules(frame, [lost])
    assert alerts.iloc[0]["value"] == -10.0  # 190 - 200
    up = KpiChangeRule(type="kpi_change", name="mrr_up", metric="mrr", direction="up")
    assert evaluate_kpi_rules(frame, [up]).empty


def test_relative_change_from_zero_is_undefined_and_months_filter() -> None:
    frame = kpi([
        (APR, "mrr", "all", "all", 0.0, "currency", False),
        (MAY, "mrr", "all", "all", -1.0, "currency", False),
    ])
    assert evaluate_kpi_rules(frame, [MRR_DOWN]).empty
    frame2 = kpi([
        (APR, "mrr", "all", "all", 10.0, "currency", False),
        (MAY, "mrr", "all", "all", 5.0, "currency", False),
    ])
    assert evaluate_kpi_rules(frame2, [MRR_DOWN], months=[APR]).empty
    assert len(evaluate_kpi_rules(frame2, [MRR_DOWN], months=[MAY])) == 1


def test_missing_kpi_columns_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"kpi_monthly frame is missing columns \['unit', 'is_provisional'\]"):
        evaluate_kpi_rules(pd.DataFrame(columns=["month", "metric", "segment", "segment_value", "value"]), [CHURN])


def test_each_metric_is_shown_in_its_own_unit() -> None:
    # LTV:CAC 2.5151 against 3: a multiple, not "251.51 %" against "300.00 %".
    ltv_to_cac = KpiThresholdRule(type="kpi_threshold", name="ltv_to_cac_low", metric="ltv_to_cac", operator="below",
                                  threshold=3.0)
    frame = kpi([(MAY, "ltv_to_cac", "all", "all", 2.5151, "ratio", False),
                 (MAY, "customer_churn_rate", "all", "all", 0.0614, "ratio", False)])
    alerts = evaluate_kpi_rules(frame, [ltv_to_cac, CHURN], currency="EUR")
    assert list(alerts["message"]) == [
        "[WARNING] ltv_to_cac_low: ltv_to_cac was 2.52x in 2024-05 (segment all), below the threshold 3.00x.",
        "[WARNING] churn_high: customer_churn_rate was 6.14% in 2024-05 (segment all), above the threshold 5.00%. Owner: cs.",
    ]
    assert format_value(179_950.5, "currency", "mrr", "EUR") == "179,950.50 EUR"
    assert format_value(1234.0, "count") == "1,234"
    assert format_value(4.25, "months", "cac_payback_months") == "4.2 months"
    assert format_value(float("nan"), "ratio") == "n/a"
    # Absolute changes: a rate moves in percentage points (0.062 - 0.05), money in its currency.
    assert format_change(0.012, "absolute", "ratio", "customer_churn_rate") == "+1.20 pp"
    assert format_change(-2_450.0, "absolute", "currency", "mrr", "USD") == "-2,450.00 USD"
    assert format_change(-0.5, "absolute", "ratio", "ltv_to_cac") == "-0.50x"
    assert format_change(-0.0134, "relative", "currency", "mrr") == "-1.34%"


def at_risk_frame() -> pd.DataFrame:
    """Four accounts whose usage fell in May (cus_2 and cus_3 tie on MRR) and one in April."""
    return pd.DataFrame({
        "month": [MAY, MAY, MAY, MAY, APR], "customer_id": ["cus_1", "cus_3", "cus_2", "cus_4", "cus_1"],
        "usage_previous": [40.0, 10.0, 20.0, 8.0, 50.0], "usage": [10.0, 5.0, 4.0, 2.0, 20.0],
        "usage_change_pct": [-0.75, -0.5, -0.8, -0.75, -0.6], "mrr": [900.0, 300.0, 300.0, np.nan, 100.0],
    })


def test_at_risk_accounts_one_grouped_alert_per_rule_and_month() -> None:
    rule = AtRiskAccountRule(type="at_risk_account", name="usage_drop", top_accounts=2, owner="cs")
    alerts = evaluate_at_risk(at_risk_frame(), [rule])
    assert list(alerts["dedupe_key"]) == ["usage_drop|2024-04|account|accounts", "usage_drop|2024-05|account|accounts"]
    may = alerts.iloc[1]
    # 4 accounts, MRR 900 + 300 + 300 + 0 (missing) = 1,500; top 2 by MRR, the tie broken by id (cus_2 before cus_3).
    assert may["value"] == 4
    assert may["message"] == (
        "[WARNING] usage_drop: 4 accounts with usage down by the at-risk fraction or more in 2024-05 "
        "(MRR 1,500.00 USD in total). Top 2 by MRR: cus_1 (usage -75%, 40 -> 10, MRR 900.00 USD); "
        "cus_2 (usage -80%, 20 -> 4, MRR 300.00 USD). All 4: SELECT customer_id, usage_previous, usage, "
        "usage_change_pct, mrr FROM at_risk_accounts WHERE month = '2024-05-01' ORDER BY mrr DESC; Owner: cs.")
    # Every account listed: no query; one account: singular.
    april = alerts.iloc[0]["message"]
    assert "1 account with usage" in april and "All " not in april and "Top 1 by MRR: cus_1" in april


def test_at_risk_min_mrr_months_filter_and_top_zero() -> None:
    rule = AtRiskAccountRule(type="at_risk_account", name="usage_drop", min_mrr=300, top_accounts=0)
    alerts = evaluate_at_risk(at_risk_frame(), [rule], months=[MAY])
    assert list(alerts["dedupe_key"]) == ["usage_drop|2024-05|account|accounts"]
    assert alerts.iloc[0]["message"] == (
        "[WARNING] usage_drop: 3 accounts with usage down by the at-risk fraction or more in 2024-05 "
        "(MRR 1,500.00 USD in total). All 3: SELECT customer_id, usage_previous, usage, usage_change_pct, mrr "
        "FROM at_risk_accounts WHERE month = '2024-05-01' AND mrr >= 300 ORDER BY mrr DESC;")
    assert evaluate_at_risk(at_risk_frame(), [rule.model_copy(update={"min_mrr": 1000})]).empty
    assert evaluate_at_risk(at_risk_frame().iloc[:0], [rule]).empty


def test_account_rules_wait_for_the_month_to_close() -> None:
    # On 2024-05-20 May is in progress: its usage is partial, and the month's one alert would be raised on it.
    rule = AtRiskAccountRule(type="at_risk_account", name="usage_drop")
    alerts = evaluate_at_risk(at_risk_frame(), [rule], today=dt.date(2024, 5, 20))
    assert list(alerts["dedupe_key"]) == ["usage_drop|2024-04|account|accounts"]
    eager = rule.model_copy(update={"include_provisional": True})
    assert len(evaluate_at_risk(at_risk_frame(), [eager], today=dt.date(2024, 5, 20))) == 2
    health = pd.DataFrame({"month": [MAY], "customer_id": ["a"], "score": [38.0], "band": ["critical"], "mrr": [100.0],
                           "score_change": [-34.0], "entered_critical": [True]})
    critical = HealthEnteredCriticalRule(type="health_entered_critical", name="critical")
    assert evaluate_health(health, [critical], today=dt.date(2024, 5, 31)).empty
    assert len(evaluate_health(health, [critical], today=dt.date(2024, 6, 1))) == 1


def test_health_entered_critical_and_score_drop_grouped() -> None:
    health = pd.DataFrame({
        "month": [MAY] * 3, "customer_id": ["a", "b", "c"], "score": [38.0, 55.0, 60.0],
        "band": ["critical", "at_risk", "at_risk"], "mrr": [100.0, 200.0, 300.0],
        "score_change": [-34.0, -20.0, -19.9], "entered_critical": [True, False, False],
    })
    critical = HealthEnteredCriticalRule(type="health_entered_critical", name="critical", severity="critical")
    drop = HealthScoreDropRule(type="health_score_drop", name="drop20", threshold=20, top_accounts=1)
    alerts = evaluate_health(health, [critical, drop])
    assert list(alerts["dedupe_key"]) == ["critical|2024-05|account|accounts", "drop20|2024-05|account|accounts"]
    assert alerts.iloc[0]["message"] == (
        "[CRITICAL] critical: 1 account entered the critical health band in 2024-05 (MRR 100.00 USD in total). "
        "Top 1 by MRR: a (score 38.0, MRR 100.00 USD).")
    # -20.0 is a drop of 20 points (alerts), -19.9 is not; b (MRR 200) is listed before a (MRR 100).
    assert alerts.iloc[1]["value"] == 2
    assert alerts.iloc[1]["message"] == (
        "[WARNING] drop20: 2 accounts lost 20 health points or more in 2024-05 (MRR 300.00 USD in total). "
        "Top 1 by MRR: b (-20.0 points to 55.0 (at_risk), MRR 200.00 USD). All 2: SELECT customer_id, score, band, "
        "score_change, mrr FROM customer_health WHERE month = '2024-05-01' AND score_change <= -20 ORDER BY mrr DESC;")


def test_check_failures_filter_and_dedupe_period() -> None:
    at = dt.datetime(2024, 6, 3, 10, 0)
    failures = [
        CheckFailure("raw_billing_invoices", "gx_suite", "ERROR", "2024-05-01", "r1", at, "3 null invoice ids"),
        CheckFailure("raw_fx_rates", "source_freshness", "WARN", None, "r2", at),
        CheckFailure("raw_fx_rates", "source_freshness", "WARN", None, "r3", at),  # same day: same alert
    ]
    rule = AssetCheckFailedRule(type="asset_check_failed", name="check_failed")
    alerts = evaluate_check_failures(failures, [rule])
    assert list(alerts["dedupe_key"]) == [
        "check_failed|2024-05-01|pipeline|raw_billing_invoices:gx_suite",
        "check_failed|2024-06-03|pipeline|raw_fx_rates:source_freshness",
    ]
    assert alerts.iloc[0]["month"] == MAY and pd.isna(alerts.iloc[1]["month"])
    errors_only = AssetCheckFailedRule(type="asset_check_failed", name="errors", min_check_severity="ERROR")
    assert len(evaluate_check_failures(failures, [errors_only])) == 1
    only_fx = AssetCheckFailedRule(type="asset_check_failed", name="fx", assets=["raw_fx_rates"])
    assert list(evaluate_check_failures(failures, [only_fx])["subject"]) == ["raw_fx_rates:source_freshness"]


def test_first_tick_check_failures_are_the_latest_complete_month() -> None:
    at = dt.datetime(2024, 6, 3, 10, 0)
    failures = [CheckFailure("raw_fx_rates", "gx_suite", "ERROR", f"2024-0{m}-01", f"r{m}", at) for m in (2, 3, 4, 5, 6)]
    failures.append(CheckFailure("raw_fx_rates", "source_freshness", "WARN", None, "r0", at))
    # June is in progress on 2024-06-15: May's failure and the unpartitioned one, not the backfill's history.
    kept = latest_month_failures(failures, today=dt.date(2024, 6, 15))
    assert [(f.partition, f.check) for f in kept] == [("2024-05-01", "gx_suite"), (None, "source_freshness")]
    assert latest_month_failures(failures[:1], today=dt.date(2024, 2, 10)) == []  # only the month in progress
    assert latest_month_failures([]) == []


def test_run_failure_alert() -> None:
    failure = RunFailure("abc123", "monthly_metrics_job", "2024-05-01", "Execution of step failed.\nTraceback ...")
    alerts = evaluate_run_failure(failure, [RunFailedRule(type="run_failed", name="run_failed", severity="critical")])
    assert alerts.iloc[0]["dedupe_key"] == "run_failed|2024-05-01|pipeline|abc123"
    assert alerts.iloc[0]["message"] == ("[CRITICAL] run_failed: run abc123 of job monthly_metrics_job "
                                         "(partition 2024-05-01) failed: Execution of step failed.")
    other_job = RunFailedRule(type="run_failed", name="only_other", jobs=["other_job"])
    assert evaluate_run_failure(failure, [other_job]).empty
