"""Alert rules, delivery and freshness settings: one YAML file, validated on load.

The packaged ``default_rules.yaml`` documents every field and is used unless
``Settings.alert_rules_file`` (env ``SAAS_METRICS_ALERT_RULES_FILE``) names
another file. An invalid file raises :class:`RulesFileError` whose message
names the file, the rule and the field, e.g.::

    rules.yaml: rule 'churn_high' (rules[0]), field 'threshold': Input should be a valid number

Rule types (``type``):

* ``kpi_threshold``: a kpi_monthly value strictly ``above``/``below`` ``threshold``.
* ``kpi_change``: month-over-month change of a kpi_monthly value, ``relative``
  ((M - M-1) / |M-1|) or ``absolute`` (M - M-1); ``direction: down`` alerts when
  change < -threshold, ``up`` when change > threshold, ``any`` when |change| > threshold.
* ``at_risk_account``: rows of ``at_risk_accounts``.
* ``health_entered_critical``: ``customer_health.entered_critical`` is true.
* ``health_score_drop``: ``customer_health.score_change <= -threshold`` (points).

  The three account rules raise ONE alert per rule and month that counts the
  accounts and lists the ``top_accounts`` with the highest MRR (and a query for all).
* ``asset_check_failed``: a failed asset check evaluation (GX suites, freshness, ...).
* ``run_failed``: a failed Dagster run.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from saas_metrics.config import get_settings

Severity = Literal["info", "warning", "critical"]
CheckSeverity = Literal["WARN", "ERROR"]
ANY = "*"

DEFAULT_RULES_RESOURCE = "default_rules.yaml"


class RulesFileError(ValueError):
    """The alert rules file cannot be read or is invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="unique snake_case name; part of the dedupe key")
    severity: Severity = "warning"
    owner: str | None = Field(None, description="who acts on the alert (team or person), shown in the message")
    description: str = ""
    enabled: bool = True


class _KpiRule(_Rule):
    metric: str = Field(min_length=1, description="kpi_monthly.metric")
    segment: str = Field("all", description="kpi_monthly.segment, '*' for every segment")
    segment_value: str = Field(ANY, description="kpi_monthly.segment_value, '*' for every value")
    include_provisional: bool = Field(False, description="also alert on provisional rows (month in progress)")

    def matches(self, segment: str, segment_value: str) -> bool:
        return self.segment in (ANY, segment) and self.segment_value in (ANY, segment_value)


class KpiThresholdRule(_KpiRule):
    type: Literal["kpi_threshold"]
    operator: Literal["above", "below"]
    threshold: float


class KpiChangeRule(_KpiRule):
    type: Literal["kpi_change"]
    direction: Literal["down", "up", "any"] = "down"
    change: Literal["relative", "absolute"] = "relative"
    threshold: float = Field(0.0, ge=0, description="size of change that must be exceeded (fraction or absolute)")


class _AccountRule(_Rule):
    """A rule on account rows: one grouped alert per rule and month."""

    min_mrr: float = Field(0.0, ge=0, description="only accounts with at least this MRR")
    top_accounts: int = Field(10, ge=0, description="accounts listed by name in the alert (highest MRR first)")
    include_provisional: bool = Field(
        False, description="also alert on the month in progress (its one alert per month would see partial usage)")


class AtRiskAccountRule(_AccountRule):
    type: Literal["at_risk_account"]


class HealthEnteredCriticalRule(_AccountRule):
    type: Literal["health_entered_critical"]


class HealthScoreDropRule(_AccountRule):
    type: Literal["health_score_drop"]
    threshold: float = Field(20.0, gt=0, description="points; alert when score_change <= -threshold")


class AssetCheckFailedRule(_Rule):
    type: Literal["asset_check_failed"]
    assets: list[str] = Field(default_factory=list, description="asset names ('/'-joined keys); empty = all")
    checks: list[str] = Field(default_factory=list, description="check names; empty = all")
    min_check_severity: CheckSeverity = Field("WARN", description="ERROR: ignore failed checks of severity WARN")


class RunFailedRule(_Rule):
    type: Literal["run_failed"]
    jobs: list[str] = Field(default_factory=list, description="job names; empty = all")


Rule = Annotated[
    KpiThresholdRule | KpiChangeRule | AtRiskAccountRule | HealthEnteredCriticalRule
    | HealthScoreDropRule | AssetCheckFailedRule | RunFailedRule,
    Field(discriminator="type"),
]
KPI_RULES = (KpiThresholdRule, KpiChangeRule)
DETAIL_RULES = (AtRiskAccountRule, HealthEnteredCriticalRule, HealthScoreDropRule)


class DeliveryPolicy(_Strict):
    """How alerts leave the outbox."""

    timeout_seconds: float = Field(5.0, gt=0, description="HTTP connect/read timeout per request")
    retries: int = Field(3, ge=1, description="HTTP attempts per channel within one tick")
    backoff_seconds: float = Field(1.0, ge=0, description="first wait between attempts, doubled each retry")
    backoff_max_seconds: float = Field(10.0, ge=0)
    max_attempts: int | None = Field(
        50, ge=1, description="ticks an alert stays pending before it is marked failed (null: retry forever)"
    )
    claim_seconds: float = Field(300.0, gt=0, description="lease a delivering tick holds on an alert")
    max_unknown_sends: int = Field(
        3, ge=1, description="sends per alert and channel that got no answer (the receiver may have the alert) "
        "before that channel is never sent it again and the alert ends 'unknown'"
    )


class SensorPolicy(_Strict):
    """How much history the metric alert sensor evaluates on its own."""

    max_months_per_tick: int = Field(
        3, ge=1, description="a tick that sees more materialised months (a backfill) evaluates only the latest ones; "
        "replay older months with `saas-metrics alerts replay`",
    )


class SourceFreshness(_Strict):
    max_file_age_hours: float | None = Field(48.0, gt=0, description="newest landing file of the system; null: not checked")
    max_record_age_days: float | None = Field(3.0, gt=0, description="newest clean record of a fact table; null: not checked")


class KpiFreshness(_Strict):
    max_age_hours: float | None = Field(36.0, gt=0, description="latest kpi_monthly materialisation; null: not checked")
    require_last_complete_month: bool = Field(True, description="kpi_monthly must hold rows of the last complete month")


class FreshnessConfig(_Strict):
    severity: CheckSeverity = "WARN"
    record_reference: Literal["last_complete_month", "now"] = Field(
        "last_complete_month",
        description="records are measured against the end of Settings.last_month, or the current time",
    )
    sources: dict[str, SourceFreshness] = Field(default_factory=lambda: {"default": SourceFreshness()})
    kpi_monthly: KpiFreshness = Field(default_factory=KpiFreshness)

    def for_system(self, system: str) -> SourceFreshness:
        return self.sources.get(system) or self.sources.get("default") or SourceFreshness()


class AlertConfig(_Strict):
    version: Literal[1] = 1
    rules: list[Rule] = Field(default_factory=list)
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)
    sensor: SensorPolicy = Field(default_factory=SensorPolicy)
    freshness: FreshnessConfig = Field(default_factory=FreshnessConfig)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"rule {rule.name!r} is defined twice (names must be unique)")
            seen.add(rule.name)
        return rules

    def active(self, *types: type) -> list[Any]:
        """Enabled rules of the given classes, in file order."""
        return [r for r in self.rules if r.enabled and isinstance(r, types)]


def default_rules_path() -> Path:
    return Path(str(resources.files("saas_metrics.alerts").joinpath(DEFAULT_RULES_RESOURCE)))


def load_rules(path: Path | str | None = None) -> AlertConfig:
    """Read and validate the rules file (``path``, else ``Settings.alert_rules_file``, else the defaults)."""
    if path is None:
        path = get_settings().alert_rules_file or default_rules_path()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesFileError(f"{path}: cannot read alert rules file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RulesFileError(f"{path}: not valid YAML: {exc}") from exc
    return parse_rules(data if data is not None else {}, source=str(path))


def parse_rules(data: Any, source: str = "<rules>") -> AlertConfig:
    if not isinstance(data, dict):
        raise RulesFileError(f"{source}: expected a mapping with 'rules', got {type(data).__name__}")
    try:
        return AlertConfig.model_validate(data)
    except ValidationError as exc:
        raise RulesFileError(_describe(exc, data, source)) from None


def _describe(exc: ValidationError, data: dict[str, Any], source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            index = loc[1]
            raw = data.get("rules") or []
            name = raw[index].get("name", "<unnamed>") if index < len(raw) and isinstance(raw[index], dict) else "<unnamed>"
            # loc: rules, i, <type tag>, field...  (the tag is present once the type is known)
            rest = [str(p) for p in loc[2:]]
            if rest and rest[0] in _RULE_TYPES:
                rest = rest[1:]
            field = ".".join(rest) or "type"
            where = f"rule {name!r} (rules[{index}]), field {field!r}"
        else:
            where = f"field {'.'.join(str(p) for p in loc) or '<root>'!r}"
        lines.append(f"{source}: {where}: {err['msg']}")
    return "\n".join(lines)


_RULE_TYPES = {
    get_args(cls.model_fields["type"].annotation)[0]
    for cls in (KpiThresholdRule, KpiChangeRule, AtRiskAccountRule, HealthEnteredCriticalRule,
                HealthScoreDropRule, AssetCheckFailedRule, RunFailedRule)
}
