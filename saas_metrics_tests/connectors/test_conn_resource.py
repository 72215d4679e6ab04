"""read_table dispatch and the Dagster resource's configuration."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from saas_metrics.connectors.config import ConnectorsConfig, Credentials
from saas_metrics.connectors.http import SourceAuthError
from saas_metrics.connectors.native import NativeExtract, native_text, to_canonical
from saas_metrics.connectors.resource import (
    ConnectorError,
    SourceSystemsResource,
    read_table,
    supported_kinds,
)
from saas_metrics.sources.registry import read_source_table

MAY = (dt.date(2025, 5, 1), dt.date(2025, 6, 1))


def test_files_kind_is_the_registry(sources: Path) -> None:
    frame = read_table("billing_invoices", "files", sources, *MAY)
    expected = read_source_table("billing_invoices", sources, *MAY)
    assert len(expected) > 0
    assert frame.equals(expected)


def test_supported_kinds_and_errors() -> None:
    assert supported_kinds("billing_invoices") == ("files", "api", "sql")
    assert supported_kinds("ad_spend") == ("files", "api")
    assert supported_kinds("fx_rates") == ("files",)
    with pytest.raises(ConnectorError, match="fx_rates \\(fx\\) cannot be read with kind 'api'"):
        read_table("fx_rates", "api", Path("x"))
    with pytest.raises(ConnectorError, match="unknown source kind 'ftp'"):
        read_table("fx_rates", "ftp", Path("x"))
    with pytest.raises(KeyError, match="unknown source table"):
        read_table("nope", "files", Path("x"))
    with pytest.raises(ValueError, match="empty window"):
        read_table("billing_invoices", "files", Path("x"), MAY[1], MAY[0])


def test_missing_api_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    with pytest.raises(SourceAuthError, match=r"^stripe: no credentials: set STRIPE_API_KEY"):
        read_table("billing_invoices", "api", Path("x"), *MAY)


def test_kind_per_system_with_table_override() -> None:
    config = ConnectorsConfig(systems={"billing": "api", "crm": "sql"}, tables={"crm_touchpoints": "files"})
    assert config.kind_of("billing_invoices", "billing") == "api"
    assert config.kind_of("crm_contacts", "crm") == "sql"
    assert config.kind_of("crm_touchpoints", "crm") == "files"
    assert config.kind_of("fx_rates", "fx") == "files"


def test_resource_merges_configuration_and_secrets(monkeypatch: pytest.MonkeyPatch, sources: Path) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "from-env")
    resource = SourceSystemsResource(sources_dir=str(sources), systems={"billing": "api"},
                                     connectors={"stripe_base_url": "http://127.0.0.1:9", "tables": {"billing_prices": "files"}},
                                     stripe_api_key="sk_from_envvar")
    config = resource.connectors_config()
    assert config.stripe_base_url == "http://127.0.0.1:9"
    assert resource.kind_of("billing_invoices") == "api" and resource.kind_of("billing_prices") == "files"
    credentials = resource.credentials()
    assert credentials.stripe_api_key == "sk_from_envvar" and credentials.hubspot_access_token == "from-env"
    assert "sk_from_envvar" not in repr(credentials)
    assert len(resource.read_table("billing_prices")) == len(read_source_table("billing_prices", sources))


def test_native_text_and_lineage_of_landed_records() -> None:
    assert [native_text(v) for v in (None, True, 3, dt.datetime(2025, 5, 1, 8, 30), dt.date(2025, 5, 1), float("nan"))] == [
        "", "true", "3", "2025-05-01T08:30:00Z", "2025-05-01", ""]
    records = [{"id": "ch_1", "customer": "cus_1", "amount": 1250, "currency": "eur", "status": "succeeded", "created": 1746100000},
               {"id": "ch_2", "customer": "cus_1", "amount": 99, "currency": "jpy", "status": "failed", "created": 1746200000},
               {"id": "ch_3", "customer": "cus_2", "amount": 500, "currency": "usd", "status": "succeeded", "created": 1748736000}]
    extract = NativeExtract("billing/charges.csv", ("id", "customer", "invoice", "amount", "currency", "status", "created"),
                            records, "stripe-api:/v1/charges")
    frame = to_canonical("billing_payments", [extract], *MAY)
    assert list(frame["payment_id"]) == ["ch_1", "ch_2"]  # ch_3 is created on 2025-06-01: next month
    assert list(frame["amount"]) == [12.5, 99.0]  # cents -> euros; JPY is zero-decimal
    assert list(frame["currency"]) == ["EUR", "JPY"]
    assert list(frame["_source_file"]) == ["stripe-api:/v1/charges"] * 2
    assert list(frame["_source_line"]) == [1, 2]


def test_credentials_from_env_ignore_empty_values() -> None:
    credentials = Credentials.from_env({"STRIPE_API_KEY": "", "META_ACCESS_TOKEN": "tok"})
    assert credentials.stripe_api_key is None and credentials.meta_access_token == "tok"


def test_resource_in_dagster_takes_secrets_from_envvar(monkeypatch: pytest.MonkeyPatch, sources: Path) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_from_dagster_env")
    seen: dict[str, object] = {}

    @dg.asset
    def probe(source_systems: SourceSystemsResource) -> None:
        seen["key"] = source_systems.credentials().stripe_api_key
        seen["kind"] = source_systems.kind_of("billing_invoices")
        seen["rows"] = len(source_systems.read_table("billing_invoices", *MAY))

    resource = SourceSystemsResource(sources_dir=str(sources), stripe_api_key=dg.EnvVar("STRIPE_API_KEY"))
    assert dg.materialize([probe], resources={"source_systems": resource}).success
    assert seen == {"key": "sk_from_dagster_env", "kind": "files",
                    "rows": len(read_source_table("billing_invoices", sources, *MAY))}
