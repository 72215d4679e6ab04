"""kpi_monthly finds the domain KPI tables from the domains' own definitions."""

from __future__ import annotations

import dagster as dg

from saas_metrics.config import Settings
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.common import domain_kpi_assets, kpi_metadata, table_metadata
from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.tables import TableSchema


def test_domain_kpi_assets_are_the_marked_ones_in_definition_order() -> None:
    kpis = TableSchema("kpi_x", KPI_MONTHLY.columns, time_column="month", key=KPI_MONTHLY.key)

    @dg.asset(metadata=kpi_metadata(kpis))
    def kpi_x() -> None: ...

    @dg.asset(metadata=table_metadata(KPI_MONTHLY))
    def kpi_monthly() -> None: ...

    @dg.asset(metadata=kpi_metadata(kpis))
    def kpi_a() -> None: ...

    assert domain_kpi_assets([kpi_x, kpi_monthly, kpi_a]) == ["kpi_x", "kpi_a"]


def test_kpi_monthly_reads_every_domain_kpi_table() -> None:
    defs = build_definitions(Settings())
    kpi_monthly = next(a for a in defs.assets if dg.AssetKey("kpi_monthly") in a.keys)  # type: ignore[union-attr]
    # The first of a duplicated row wins in kpi_monthly: revenue's tables come first.
    assert list(kpi_monthly.keys_by_input_name) == [
        "kpi_revenue", "kpi_ltv", "kpi_segments", "kpi_acquisition", "kpi_funnel", "kpi_engagement",
        "kpi_growth", "kpi_finance", "kpi_churn_reasons"]


def test_each_domain_is_a_definitions_of_its_own_and_the_location_merges_them() -> None:
    from saas_metrics.definitions import DOMAINS

    settings = Settings()
    keys_by_domain = [{k.to_user_string() for a in domain(settings).assets for k in a.keys} for domain in DOMAINS]
    # No asset in two domains, and the code location holds every domain's assets (plus the reports).
    assert sum(len(keys) for keys in keys_by_domain) == len(set().union(*keys_by_domain))
    location = {k.to_user_string() for k in build_definitions(settings).resolve_asset_graph().get_all_asset_keys()}
    assert location - set().union(*keys_by_domain) == {"kpi_monthly", "kpi_dashboard"}
    assert {"raw_billing_invoices", "customer_mrr", "identity_links", "kpi_forecast"} <= set().union(*keys_by_domain)
