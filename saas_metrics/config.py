"""Typed settings and metric policies: one object, documented defaults.

Precedence (highest first): keyword arguments, environment variables
``SAAS_METRICS_*`` (nested policies with ``__``, e.g.
``SAAS_METRICS_REVENUE__DELINQUENCY_DAYS=45``), the YAML file named by
``SAAS_METRICS_CONFIG_FILE`` (default ``saas_metrics.yaml`` in the working
directory, if present), then the defaults below.

Secrets (API keys, webhook URLs) are never settings fields: they are read only
from environment variables through ``dagster.EnvVar`` where they are used. A
database URL with a password must come from its environment variable, or carry
no password and have it in ``SAAS_METRICS_WAREHOUSE_PASSWORD`` /
``SAAS_METRICS_SQL_REPLICA_PASSWORD`` (saas_metrics/defs/resources.py).
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from saas_metrics.calendar import add_months, first_of_month, last_complete_month
from saas_metrics.connectors.config import ConnectorsConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("SAAS_METRICS_DATA_DIR", PROJECT_ROOT / "data"))


class RevenuePolicy(BaseModel):
    """Revenue and retention policies (docs/metric-definitions.md#revenue)."""

    churn_recognition: Literal["period_end", "cancellation"] = Field(
        "period_end",
        description="period_end: MRR ends when the paid period ends (ChartMogul, default); "
        "cancellation: MRR ends when the cancellation is requested.",
    )
    delinquency_days: int = Field(30, ge=0, description="days a past_due subscription keeps contributing MRR before it churns")
    reactivation: Literal["any_return", "never"] = Field(
        "any_return",
        description="any_return: a customer who paid before and returns is a reactivation (default); never: counted as new.",
    )
    gross_margin: float = Field(1.0, gt=0, le=1, description="gross margin used by LTV and CAC payback")
    ltv_churn_window_months: int = Field(6, ge=1, description="trailing months of customer churn averaged for LTV")
    cohort_max_age_months: int = Field(36, ge=1, description="oldest cohort age reported in cohort_retention")
    source: Literal["subscriptions", "invoices", "auto"] = Field(
        "auto",
        description="revenue history engine: subscriptions (item-version and status histories), invoices (invoice "
        "line items and the subscriptions' current state) or auto (invoices for each subscription whose item "
        "history is missing or incomplete and that has invoice lines, subscriptions otherwise).",
    )
    clv_lifetime: Literal["churn_rate", "compounded"] = Field(
        "churn_rate",
        description="customer lifetime behind the CLV forms: churn_rate = 1 / monthly churn months (every form "
        "agrees: churn 5 %, ARPA 500 -> 10,000); compounded = 12 / (1 - (1 - churn)^12) months, the annual-spend "
        "form then uses the compounded annual churn (13,053.70)",
    )


class CostScopeLine(BaseModel):
    """Ledger lines counted as acquisition cost: a department, optionally one category, and the
    share of those lines that acquisition uses (1.0 = all of it)."""

    department: str = Field(min_length=1, description="finance_expenses.department (sales, marketing, g_and_a, ...)")
    category: str | None = Field(None, description="finance_expenses.category (salaries, tools, ...); None = every category")
    share: float = Field(1.0, ge=0, le=1, description="fraction of those lines' amount that counts")


class AcquisitionPolicy(BaseModel):
    """Acquisition, funnel and attribution policies."""

    cac_lag_months: int = Field(0, ge=0, description="spend of M-k divided by new customers of M")
    cac_scope: list[CostScopeLine] = Field(
        default_factory=lambda: [CostScopeLine(department="sales"), CostScopeLine(department="marketing")],
        description="ledger lines of cac (and sm_expenses) beside the ad spend: sales and marketing by default",
    )
    cac_fully_loaded_extra: list[CostScopeLine] = Field(
        default_factory=lambda: [CostScopeLine(department="g_and_a")],
        description="ledger lines cac_fully_loaded adds to cac_scope (the guides' 'advanced' CAC: people, tools "
        "and overhead acquisition uses); default all of g_and_a, narrow it with category / share",
    )
    lead_to_customer_days: int = Field(90, ge=1)
    trial_to_paid_days: int = Field(30, ge=1)
    demo_to_paid_days: int = Field(90, ge=1)
    qualified_lead_stage: Literal["mql", "sql"] = "mql"
    pql_event: str = Field("report_created", description="product event that marks activation")
    pql_event_count: int = Field(3, ge=1, description="events needed to become a PQL")
    time_decay_half_life_days: float = Field(7.0, gt=0)
    attribution_lookback_days: int | None = Field(
        None, ge=1, description="only touches within this many days before conversion are credited (None: all)"
    )
    trial_abandon_days: int = Field(14, ge=1, description="a trial requested but not started within this many days is abandoned")
    identity_match_rate_warn_below: float = Field(0.9, ge=0, le=1)
    deal_stage_probabilities: dict[str, float] = Field(
        default_factory=lambda: {
            "appointmentscheduled": 0.2, "qualifiedtobuy": 0.4, "presentationscheduled": 0.6,
            "decisionmakerboughtin": 0.8, "contractsent": 0.9, "closedwon": 1.0, "closedlost": 0.0,
        },
        description="win probability per CRM deal stage (HubSpot's default sales pipeline) for the weighted "
        "pipeline; a probability exported with the deal (hs_deal_stage_probability) wins",
    )
    deal_stage_probability_default: float = Field(
        0.5, ge=0, le=1,
        description="probability of a deal whose stage is not in deal_stage_probabilities, and of a deal open at "
        "a past month's end that has closed since (the CRM snapshot no longer holds its stage at that time)",
    )


class EngagementPolicy(BaseModel):
    """Usage, health and support policies."""

    usage_event: str | None = Field(None, description="count only this product event (None: all events)")
    usage_measure: Literal["active_user_days", "event_count", "active_users"] = "active_user_days"
    at_risk_drop_fraction: float = Field(0.5, gt=0, le=1, description="usage drop (fraction) that flags an account")
    usage_floor: float | None = Field(
        4.0, ge=0,
        description="absolute usage floor (in usage_measure units; 4 active user-days = about one a week): paying "
        "customers whose usage of the month is below it are counted in accounts_below_usage_floor; None disables it",
    )
    health_weights: dict[str, float] = Field(
        default_factory=lambda: {"usage_trend": 35.0, "seat_utilisation": 20.0, "support_burden": 15.0, "nps": 15.0, "billing_health": 15.0}
    )
    health_healthy_min: float = 70.0
    health_at_risk_min: float = 40.0
    health_drop_alert_points: float = 20.0
    health_tickets_per_seat_max: float = Field(
        1.0, gt=0, description="tickets per seat in a month at which the support-burden sub-score reaches 0"
    )
    health_nps_lookback_months: int = Field(
        3, ge=1, description="months (M and the ones before) searched for a customer's latest NPS response"
    )
    health_past_due_grace_days: int = Field(
        0, ge=0, description="days an invoice may be past its due date at month end before billing health is 0"
    )

    ticket_topics: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "discount": ["discount", "coupon", "cheaper", "pricing"],
            "value": ["roi", "value", "worth"],
            "competitor": ["competitor", "alternative", "switch", "migrat"],
        },
        description="risky ticket topics: topic -> keywords matched (case-insensitive substrings) in a ticket's category "
        "and tags; a customer with such a ticket in the lookback gets support_burden 0 and the topic as an at-risk reason",
    )
    ticket_topic_lookback_months: int = Field(3, ge=1, description="months (M and the ones before) searched for risky ticket topics")

    @field_validator("health_weights")
    @classmethod
    def _weights_sum_to_100(cls, v: dict[str, float]) -> dict[str, float]:
        if abs(sum(v.values()) - 100.0) > 1e-9:
            raise ValueError(f"health_weights must sum to 100, got {sum(v.values())}")
        return v


class QualityPolicy(BaseModel):
    """Validation policies."""

    row_count_band: float = Field(0.5, ge=0, description="a month's row count may differ from the previous month's by at most this fraction")
    row_count_min_rows: int = Field(50, ge=0, description="the band applies only when the previous month had at least this many rows")
    data_docs: bool = Field(True, description="build GX Data Docs under data/gx_docs")
    gx_companion: bool = Field(
        True, description="validate with Great Expectations and render its Data Docs in a companion process, on the "
        "machine's other core, which the run starts with its resources; off, GX runs in the run's own process",
    )
    gx_detail_passing: bool = Field(
        False, description="validate passing expectations in GX's COMPLETE result format too (their element and missing "
        "counts then show in Data Docs); failing ones always get it. Off, they are checked with BOOLEAN_ONLY: "
        "they skip the per-expectation metrics that take much of a validation's time",
    )
    unresolved_max_fraction: float = Field(
        0.05, ge=0, le=1,
        description="the blocking integrity check fails when more than this fraction of a window's rows is quarantined "
        "for an unknown currency or an unresolved reference (the FX or parent table is then likely incomplete)",
    )
    unresolved_min_rows: int = Field(20, ge=0, description="the unresolved fraction applies only to windows with at least this many rows")
    expected_sources: list[str] = Field(
        default_factory=list,
        description="source systems (ads), canonical tables (ad_spend) or landing files (ads/google_ads.csv) that must "
        "deliver rows: when one is absent or empty, its metrics are NULL for the months run, as for a file that fed "
        "the table in an earlier run (docs/quality.md)",
    )


class ForecastScenario(BaseModel):
    """Overrides of the forecast's assumptions (0 everywhere = the base case)."""

    model_config = {"extra": "forbid"}

    churn_rate_pp: float = Field(0.0, description="percentage points added to the monthly MRR and logo churn rates")
    contraction_rate_pp: float = Field(0.0, description="percentage points added to the monthly contraction rate")
    expansion_rate_pp: float = Field(0.0, description="percentage points added to the monthly expansion rate")
    new_mrr_pct: float = Field(0.0, description="percent more new customers each month (at the same ASP), so new MRR")
    asp_pct: float = Field(0.0, description="percent change of the new customers' average MRR (ASP)")
    reactivation_pct: float = Field(0.0, description="percent change of the monthly reactivation MRR and count")
    price_change_pct: float = Field(0.0, description="percent price change of existing and new MRR of price_change_tier")
    price_change_tier: str | None = Field(None, description="plan tier the price change applies to (None: every tier)")
    price_change_month: int = Field(1, ge=1, description="forecast month (1 = the first) in which the price change applies")


class ForecastPolicy(BaseModel):
    """MRR forecast from the bridge (saas_metrics/metrics/forecast.py, docs/forecast.md)."""

    horizon_months: int = Field(12, ge=1, le=60, description="months forecast after the as-of month")
    estimation_window_months: int = Field(12, ge=1, description="trailing months the rates, ASP and new-customer trend are estimated on")
    new_customers_method: Literal["linear_trend", "growth_trend", "mean"] = Field(
        "linear_trend", description="new customers per month: least-squares line over the window (linear_trend), "
        "line through their logarithms (growth_trend: constant monthly growth rate), or the window's mean")
    asp_window_months: int = Field(
        24, ge=1, description="trailing months the ASP of new customers is averaged over (longer than the rates' "
        "window: a few large accounts dominate it)")
    new_mrr_method: Literal["funnel", "trend"] = Field(
        "funnel", description="new MRR from the open pipeline and the deal funnel blended with the trend of new "
        "customers x ASP (funnel; the trend alone where the CRM has no deals), or from the trend alone")
    min_won_deals: int = Field(
        30, ge=1, description="won deals the estimation window needs for the funnel's full weight (fewer: "
        "weight won / min_won_deals, the rest from the trend)")
    by_cohort_age: bool = Field(True, description="churn, contraction and expansion rates per cohort-age band where the history supports it")
    age_bands: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 6, 12, 24],
        description="lower bounds (months since the first paid month) of the cohort-age bands; the last band is open")
    min_band_customer_months: int = Field(
        100, ge=1, description="a band with fewer customer-months in the window uses the rate pooled over every age")
    backtest_min_history_months: int = Field(
        12, ge=2, description="months of history a backtest origin needs before its first forecast")
    backtest_history_months: int = Field(36, ge=2, description="months of mrr_movements read for the backtests")
    interval_level: float = Field(0.8, gt=0, lt=1, description="coverage of the prediction interval (from backtest errors)")
    min_backtest_errors: int = Field(3, ge=2, description="backtest errors a horizon needs for an interval (else NULL bounds)")
    scenarios: dict[str, ForecastScenario] = Field(
        default_factory=lambda: {
            "churn_minus_1pp": ForecastScenario(churn_rate_pp=-1.0),
            "new_mrr_plus_20pct": ForecastScenario(new_mrr_pct=20.0),
        },
        description="named scenarios, each a set of overrides of the base case's assumptions")

    @field_validator("age_bands")
    @classmethod
    def _bands_start_at_zero(cls, v: list[int]) -> list[int]:
        if not v or v[0] != 0 or any(b <= a for a, b in pairwise(v)):
            raise ValueError(f"age_bands must start at 0 and increase, got {v}")
        return v

    @field_validator("scenarios")
    @classmethod
    def _not_base(cls, v: dict[str, ForecastScenario]) -> dict[str, ForecastScenario]:
        if "base" in v:
            raise ValueError("'base' is the unmodified forecast; name the scenario differently")
        return v


class Settings(BaseSettings):
    """All settings of a saas_metrics deployment."""

    model_config = SettingsConfigDict(
        env_prefix="SAAS_METRICS_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    sources_dir: Path = Field(DATA_DIR / "sources", description="folder of landing files (one sub-folder per source system)")
    warehouse_url: str = Field(f"sqlite:///{DATA_DIR / 'warehouse.db'}", description="SQLAlchemy URL of the warehouse")
    start_month: dt.date | None = Field(None, description="first monthly partition (default: 35 months before the last, i.e. 36 months)")
    end_month: dt.date | None = Field(None, description="last monthly partition (default: the last complete month)")
    reporting_currency: str = Field("USD", min_length=3, max_length=3)
    reports_dir: Path = Field(DATA_DIR / "reports")
    landing_cache_dir: Path | None = Field(
        DATA_DIR / "landing_cache",
        description="columnar cache of parsed landing files (Parquet), so a month's run reads its own rows, "
        "not the whole export; None disables it (saas_metrics/sources/landing.py)",
    )
    alert_rules_file: Path | None = Field(None, description="YAML alert rules (default: the packaged defaults)")
    read_cache_mb: int = Field(
        256, ge=0,
        description="MiB of warehouse tables a run keeps in memory for its later steps (docs/architecture.md, "
        "the read cache): more makes a large site's month faster (its revenue steps share their snapshot "
        "tables), less lowers a long backfill's peak memory; 0 reads every input from the warehouse",
    )

    revenue: RevenuePolicy = Field(default_factory=RevenuePolicy)
    acquisition: AcquisitionPolicy = Field(default_factory=AcquisitionPolicy)
    engagement: EngagementPolicy = Field(default_factory=EngagementPolicy)
    quality: QualityPolicy = Field(default_factory=QualityPolicy)
    forecast: ForecastPolicy = Field(default_factory=ForecastPolicy)
    connectors: ConnectorsConfig = Field(
        default_factory=ConnectorsConfig,
        description="per source system files / api / sql, API base URLs and accounts, SQL replica URL (docs/connectors.md)",
    )
    docs_server_port: int = Field(
        3001, ge=1, le=65535,
        description="port of the local HTTP server `make ui` starts for the dashboard and the GX Data Docs",
    )
    docs_base_url: str | None = Field(
        None, description="base URL of the dashboard and Data Docs links in the Dagster UI "
        "(default http://127.0.0.1:<docs_server_port>; set it when the server is reached another way)",
    )

    @field_validator("start_month", "end_month", mode="before")
    @classmethod
    def _month(cls, v: Any) -> Any:
        if v is None or v == "":
            return None
        return first_of_month(v)

    @field_validator("landing_cache_dir", mode="before")
    @classmethod
    def _empty_disables(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("reporting_currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    @model_validator(mode="after")
    def _range(self) -> Settings:
        if self.start_month is not None and self.last_month < self.start_month:
            raise ValueError(f"the last month {self.last_month} is before start_month {self.start_month}")
        return self

    @property
    def last_month(self) -> dt.date:
        """The last partition: end_month, or the last complete month."""
        return self.end_month or last_complete_month()

    @property
    def first_month(self) -> dt.date:
        """The first partition: start_month, or 36 months ending with the last."""
        return self.start_month or add_months(self.last_month, -35)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("SAAS_METRICS_CONFIG_FILE", "saas_metrics.yaml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file.exists():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        elif "SAAS_METRICS_CONFIG_FILE" in os.environ:
            raise FileNotFoundError(f"SAAS_METRICS_CONFIG_FILE={config_file} does not exist")
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
