"""Every configuration example (YAML / TOML block) of docs/connectors.md and docs/sources.md is loaded as
written and run against the fixtures. A new example fails here until a test runs it.

Only what a reader must change to point an example at real systems is replaced: hosts (by the local fake
servers), account ids (by the fake servers' accounts), secrets and the replica URL (by the fixture replica,
through the environment variable the docs name for it) and the warehouse (a temporary SQLite file)."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from saas_metrics.connectors.resource import SourceSystemsResource
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics.sources.registry import SOURCE_SYSTEM_OF
from saas_metrics_tests.connectors import conn_fake_ads, conn_fake_hubspot, conn_fake_stripe
from saas_metrics_tests.connectors.conn_fake_server import FakeServer
from saas_metrics_tests.connectors.conn_fivetran_fixture import load_airbyte_fixture, load_fixture
from saas_metrics_tests.integration import test_exports_pipeline
from saas_metrics_tests.integration.helpers import read_sorted, run_months

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"```(yaml|yml|toml)\n(.*?)```", flags=re.DOTALL)


def config_examples() -> list[tuple[str, dict[str, Any], str]]:
    """(where, parsed, text) of every YAML / TOML block of the two documents."""
    found = []
    for doc in ("connectors.md", "sources.md"):
        text = (DOCS / doc).read_text()
        for match in FENCE.finditer(text):
            lang, body = match.groups()
            parsed = tomllib.loads(body) if lang == "toml" else yaml.safe_load(body)
            line = text[: match.start()].count("\n") + 1
            found.append((f"docs/{doc}:{line}", parsed, body))
    return found


def _kind(config: dict[str, Any]) -> str:
    """Which test runs an example: the connectors reference (a ``connectors:`` section alone), a complete
    configuration reading a Fivetran replica (the whole pipeline) or an Airbyte one (every replica table),
    or a files-only configuration (run by test_exports_pipeline)."""
    connectors = config.get("connectors")
    if connectors is not None and set(config) == {"connectors"}:
        return "connectors_reference"
    if connectors is not None and "sql" in connectors.get("systems", {}).values():
        return "airbyte_read" if connectors.get("sql_replica_dialect") == "airbyte" else "replica_run"
    if connectors is None and "sources_dir" in config:
        return "downloads_run"
    return "unrun"


def test_every_example_parses_and_has_a_test_that_runs_it() -> None:
    from saas_metrics.config import Settings
    from saas_metrics.connectors.config import ConnectorsConfig

    examples = config_examples()
    assert len(examples) >= 3
    for where, config, text in examples:
        kind = _kind(config)
        assert kind != "unrun", f"{where}: no test runs this configuration example; add one here"
        if kind == "connectors_reference":
            ConnectorsConfig.model_validate(config["connectors"])  # every field as written is a valid setting
        else:
            Settings.model_validate({k: v for k, v in config.items()})
        if kind == "downloads_run":
            assert text in test_exports_pipeline.config_examples(), f"{where}: not the example test_exports_pipeline runs"


def _only(kind: str) -> list[tuple[str, dict[str, Any], str]]:
    return [e for e in config_examples() if _kind(e[1]) == kind]


@pytest.mark.postgres
@pytest.mark.parametrize("example", _only("connectors_reference"), ids=lambda e: e[0])
def test_connectors_reference_reads_every_table_it_routes(example: tuple[str, dict[str, Any], str], sources: Path,
                                                          postgres_url: str) -> None:
    """The connectors reference as written: billing from the Stripe API, CRM from the Fivetran-layout
    replica (touchpoints from files, by its table override), ads from the three ad APIs."""
    _, config, _ = example
    connectors = dict(config["connectors"])
    load_fixture(postgres_url)
    stripe_data, hubspot_data, ads_data = (conn_fake_stripe.StripeData(sources), conn_fake_hubspot.HubSpotData(sources),
                                           conn_fake_ads.AdsData(sources))
    with (FakeServer(conn_fake_stripe.stripe_route(stripe_data)) as stripe, FakeServer(conn_fake_hubspot.hubspot_route(hubspot_data)) as hubspot,
          FakeServer(conn_fake_ads.ads_route(ads_data)) as ads):
        hosts = {"https://api.stripe.com": stripe.url, "https://api.hubapi.com": hubspot.url,
                 "https://googleads.googleapis.com": f"{ads.url}/google", "https://graph.facebook.com": f"{ads.url}/meta",
                 "https://api.linkedin.com": f"{ads.url}/linkedin"}
        for key, value in connectors.items():
            if key.endswith("_base_url"):
                host = next(h for h in hosts if value.startswith(h))
                connectors[key] = hosts[host] + value[len(host):]
        connectors.update(google_ads_customer_ids=ads_data.google_customers, meta_ad_account_ids=ads_data.meta_accounts,
                          linkedin_ad_account_ids=ads_data.linkedin_accounts, sql_replica_url=postgres_url)
        resource = SourceSystemsResource(
            sources_dir=str(sources), connectors=connectors, stripe_api_key=conn_fake_stripe.GOOD_KEY,
            hubspot_access_token=conn_fake_hubspot.GOOD_TOKEN, google_ads_access_token=conn_fake_ads.GOOD_TOKEN,
            google_ads_developer_token=conn_fake_ads.DEVELOPER_TOKEN, meta_access_token=conn_fake_ads.GOOD_TOKEN,
            linkedin_access_token=conn_fake_ads.GOOD_TOKEN)
        kinds = {table: resource.kind_of(table) for table in SOURCE_SYSTEM_OF}
        assert {t for t, k in kinds.items() if k == "sql"} == {"crm_contacts", "crm_companies", "crm_deals", "crm_form_submissions",
                                                               "crm_meetings"}
        assert kinds["billing_invoices"] == kinds["ad_spend"] == "api" and kinds["crm_touchpoints"] == "files"
        assert kinds["billing_subscription_periods"] == "files"  # no API object: its default source
        for table, kind in kinds.items():
            if kind == "files":
                continue
            window = (dt.date(2025, 5, 1), dt.date(2025, 6, 1)) if table == "ad_spend" else (None, None)
            frame = resource.read_table(table, *window)
            assert len(frame) > 0, table
            assert frame["_source_file"].str.contains("-api:" if kind == "api" else "-replica:").all(), table


@pytest.mark.postgres
@pytest.mark.parametrize("example", _only("replica_run"), ids=lambda e: e[0])
def test_replica_example_runs_the_fivetran_layout_to_the_cent(example: tuple[str, dict[str, Any], str], postgres_url: str,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Fivetran replica example as written, on the fixture replica in Fivetran's own layout, through the
    real pipeline for the months it covers: no step fails, subscriptions priced by plans get MRR.

    By hand: sub_1 (cus_1) 3 x plan_basic 49.00 = 147.00 from its invoice lines (plan_id), every month;
    sub_2 (cus_2) 1 x plan_annual 1,200.00 / 12 = 100.00 (a past_due spell of two days in February stays
    within the delinquency days); sub_3 (cus_3) 2 x price_pro 99.00 x (1 - 10 %) = 178.20 from February 1,
    canceled on March 15: churned in March. MRR: January 247.00, February 425.20, March 247.00."""
    where, config, text = example
    load_fixture(postgres_url)
    (tmp_path / config["sources_dir"]).mkdir(parents=True)  # nothing but billing and CRM: every other source is missing
    settings = _settings_of(text, tmp_path, monkeypatch, postgres_url)
    url = settings.warehouse_url
    assert settings.connectors.systems == config["connectors"]["systems"], where
    assert settings.connectors.stripe_schema == "stripe" and settings.connectors.sql_replica_url == postgres_url
    assert (settings.first_month, settings.last_month) == (dt.date(2025, 1, 1), dt.date(2025, 3, 1))
    run_months(settings)

    kpi = read_sorted(url, KPI_MONTHLY, ["month", "metric"])
    head = kpi[kpi["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    assert head["mrr"].round(2).tolist() == [247.00, 425.20, 247.00]
    assert head["customers"].tolist() == [2, 3, 2]
    moves = read_sorted(url, MRR_MOVEMENTS, ["month", "customer_id"])
    got = [(m.strftime("%Y-%m"), c, kind, round(a, 2), round(e, 2)) for m, c, kind, a, e in
           moves[["month", "customer_id", "movement", "amount", "mrr_end"]].itertuples(index=False)]
    assert got == [("2025-01", "cus_1", "new", 147.00, 147.00), ("2025-01", "cus_2", "new", 100.00, 100.00),
                   ("2025-02", "cus_1", "unchanged", 0.0, 147.00), ("2025-02", "cus_2", "unchanged", 0.0, 100.00),
                   ("2025-02", "cus_3", "new", 178.20, 178.20),
                   ("2025-03", "cus_1", "unchanged", 0.0, 147.00), ("2025-03", "cus_2", "unchanged", 0.0, 100.00),
                   ("2025-03", "cus_3", "churn", 178.20, 0.0)]


def _settings_of(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replica_url: str):
    """Settings loaded from the example as written (saas_metrics.yaml in a fresh folder), the replica's URL
    from the environment variable the docs name for it, the warehouse a temporary SQLite file."""
    (tmp_path / "saas_metrics.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAAS_METRICS_CONFIG_FILE", str(tmp_path / "saas_metrics.yaml"))
    monkeypatch.setenv("SAAS_METRICS_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    monkeypatch.setenv("SAAS_METRICS_QUALITY__DATA_DOCS", "false")
    monkeypatch.setenv("SAAS_METRICS_CONNECTORS__SQL_REPLICA_URL", replica_url)
    from saas_metrics.config import Settings

    return Settings()


@pytest.mark.postgres
@pytest.mark.parametrize("example", _only("airbyte_read"), ids=lambda e: e[0])
def test_airbyte_example_reads_every_replica_table(example: tuple[str, dict[str, Any], str], postgres_url: str,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Airbyte replica example as written, on the fixture replica in Airbyte's stream layout: every table
    it routes to the replica reads, and the plan-priced items have their prices."""
    _, _, text = example
    load_airbyte_fixture(postgres_url)
    settings = _settings_of(text, tmp_path, monkeypatch, postgres_url)
    assert settings.connectors.sql_replica_dialect == "airbyte"
    resource = SourceSystemsResource(sources_dir=str(settings.sources_dir), connectors=settings.connectors.model_dump())
    routed = [t for t in SOURCE_SYSTEM_OF if resource.kind_of(t) == "sql"]
    assert len(routed) == 15
    for table in routed:
        frame = resource.read_table(table, settings.first_month, dt.date(2025, 4, 1))
        assert len(frame) > 0 and frame["_source_file"].str.contains("-airbyte:").all(), table
    prices = resource.read_table("billing_prices").set_index("price_id")
    assert prices.loc[["plan_basic", "plan_annual"], "unit_amount"].tolist() == [49.0, 1200.0]
