"""Identity resolution: billing customers <-> CRM companies/contacts <-> product accounts."""


from typing import Any

import dagster as dg
import pandas as pd

from saas_metrics.config import Settings
from saas_metrics.defs.common import domain_defs, kinds_for, table_metadata
from saas_metrics.metrics.identity import (
    customer_channel,
    match_rate_warnings,
    match_rates,
    resolve_identities,
)
from saas_metrics.tables import Column, TableSchema

IDENTITY_LINKS = TableSchema("identity_links", (
    Column("customer_id", "str", nullable=False),
    Column("crm_company_id", "str"),
    Column("crm_contact_id", "str", "primary CRM contact"),
    Column("product_account_id", "str"),
    Column("match_method", "str", "explicit or email_domain (per link)"),
    Column("crm_match_method", "str"),
    Column("product_match_method", "str"),
), description="One row per billing customer with its CRM and product identities.", key=("customer_id",))

IDENTITY_UNMATCHED = TableSchema("identity_unmatched", (
    Column("record_type", "str"), Column("record_id", "str"), Column("domain", "str"), Column("reason", "str"),
), description="Records no identity rule could link: a to-do list for RevOps (no PII).")

CUSTOMER_CHANNELS = TableSchema("customer_channels", (
    Column("customer_id", "str", nullable=False), Column("channel", "str"), Column("campaign", "str"),
), description="Acquisition channel of each billing customer (primary contact's original source).", key=("customer_id",))


def build_customer_assets(settings: Settings) -> list:
    warn_below = settings.acquisition.identity_match_rate_warn_below
    common: dict[str, Any] = {"owners": ["team:revops"], "kinds": kinds_for(settings)}

    @dg.multi_asset(
        outs={
            "identity_links": dg.AssetOut(group_name="customers", description=IDENTITY_LINKS.description,
                                          metadata=table_metadata(IDENTITY_LINKS), **common),
            "identity_unmatched": dg.AssetOut(group_name="customers", description=IDENTITY_UNMATCHED.description,
                                              metadata=table_metadata(IDENTITY_UNMATCHED), **common),
        },
        ins={
            "customers": dg.AssetIn("stg_billing_customers"),
            "companies": dg.AssetIn("stg_crm_companies"),
            "contacts": dg.AssetIn("stg_crm_contacts"),
            "accounts": dg.AssetIn("stg_product_accounts"),
        },
        check_specs=[dg.AssetCheckSpec("match_rate", asset="identity_links",
                                       description=f"CRM and product match rates are at least {warn_below:.0%}")],
    )
    def identity(customers: pd.DataFrame, companies: pd.DataFrame, contacts: pd.DataFrame, accounts: pd.DataFrame):
        """Explicit id mapping first, then normalised email domain (free-mail domains never match)."""
        links, unmatched = resolve_identities(customers, companies, contacts, accounts)
        rates = match_rates(links)
        warnings = match_rate_warnings(rates, warn_below)
        yield dg.Output(links, "identity_links", metadata={k: float(v) for k, v in rates.items()})
        yield dg.Output(unmatched, "identity_unmatched")
        yield dg.AssetCheckResult(
            asset_key="identity_links", check_name="match_rate", passed=not warnings,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={**{k: float(v) for k, v in rates.items()}, "warn_below": warn_below,
                      "problems": dg.MetadataValue.md("\n".join(f"- {w}" for w in warnings) or "none"),
                      "unmatched_records": len(unmatched)},
        )

    @dg.asset(group_name="customers", ins={"contacts": dg.AssetIn("stg_crm_contacts")},
              metadata=table_metadata(CUSTOMER_CHANNELS), **common)
    def customer_channels(identity_links: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
        """Each customer's acquisition channel: its primary CRM contact's original source ('(unknown)' when unmatched)."""
        return customer_channel(identity_links, contacts)

    return [identity, customer_channels]


def defs(settings: Settings) -> dg.Definitions:
    """Customers: identity resolution and acquisition channels (not partitioned)."""
    return domain_defs(lambda settings, _partitions: build_customer_assets(settings), settings)
