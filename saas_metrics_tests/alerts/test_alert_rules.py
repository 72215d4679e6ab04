"""Alert rules YAML: defaults load, invalid files fail with file, rule and field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from saas_metrics.alerts.rules import (
    AtRiskAccountRule,
    KpiChangeRule,
    KpiThresholdRule,
    RulesFileError,
    default_rules_path,
    load_rules,
)


def test_packaged_defaults_hold_the_issue_rules() -> None:
    config = load_rules(default_rules_path())
    by_name = {r.name: r for r in config.rules}
    churn = by_name["customer_churn_rate_high"]
    assert isinstance(churn, KpiThresholdRule)
    assert (churn.metric, churn.operator, churn.threshold, churn.segment) == ("customer_churn_rate", "above", 0.05, "all")
    assert (by_name["nrr_below_100"].operator, by_name["nrr_below_100"].threshold) == ("below", 1.0)
    assert (by_name["ltv_to_cac_below_3"].metric, by_name["ltv_to_cac_below_3"].threshold) == ("ltv_to_cac", 3.0)
    assert by_name["gross_mrr_churn_rate_high"].metric == "gross_mrr_churn_rate"
    mrr_down = by_name["mrr_down_mom"]
    assert isinstance(mrr_down, KpiChangeRule) and (mrr_down.direction, mrr_down.threshold) == ("down", 0.0)
    assert {r.type for r in config.rules} >= {"at_risk_account", "health_entered_critical", "asset_check_failed", "run_failed"}
    assert all(r.severity in ("info", "warning", "critical") for r in config.rules)
    assert config.freshness.for_system("fx").max_record_age_days == 5
    assert config.freshness.for_system("billing").max_file_age_hours == 48  # the default entry


def test_settings_file_is_used_when_no_path_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: big_drops, type: at_risk_account, min_mrr: 500, owner: cs}\n")
    monkeypatch.setenv("SAAS_METRICS_ALERT_RULES_FILE", str(rules))
    config = load_rules()
    assert len(config.rules) == 1
    rule = config.rules[0]
    assert isinstance(rule, AtRiskAccountRule) and rule.min_mrr == 500 and rule.owner == "cs"
    assert rule.severity == "warning"  # documented default


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("rules:\n  - {name: churn_high, type: kpi_threshold, metric: customer_churn_rate, operator: above, threshold: lots}\n",
         "rule 'churn_high' (rules[0]), field 'threshold'"),
        ("rules:\n  - {name: ok, type: run_failed}\n  - {name: churn_high, type: kpi_threshold, metric: m, operator: over, threshold: 1}\n",
         "rule 'churn_high' (rules[1]), field 'operator'"),
        ("rules:\n  - {name: loud, type: run_failed, severity: extreme}\n", "rule 'loud' (rules[0]), field 'severity'"),
        ("rules:\n  - {name: typo, type: run_failed, treshold: 3}\n", "rule 'typo' (rules[0]), field 'treshold'"),
        ("rules:\n  - {name: what, type: page_me}\n", "rule 'what' (rules[0]), field 'type'"),
        ("rules:\n  - {name: a, type: run_failed}\n  - {name: a, type: run_failed}\n", "rule 'a' is defined twice"),
        ("delivery:\n  timeout_seconds: -1\n", "field 'delivery.timeout_seconds'"),
        ("rules: [\n", "not valid YAML"),
    ],
)
def test_invalid_file_names_file_rule_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "bad_rules.yaml"
    path.write_text(body)
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="cannot read alert rules file"):
        load_rules(tmp_path / "nope.yaml")
