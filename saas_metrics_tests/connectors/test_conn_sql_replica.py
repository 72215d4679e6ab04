"""SQL replica connector on PostgreSQL: the sample data loaded in the Fivetran layout reads back identical."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from saas_metrics.connectors.resource import ConnectorError, read_table
from saas_metrics.connectors.sql_replica import ReplicaError
from saas_metrics.sources.registry import read_source_table
from saas_metrics_tests.connectors.conn_fivetran_loader import load_hubspot, load_stripe
from saas_metrics_tests.connectors.conn_helpers import (
    assert_same_canonical,
    fast_config,
)

pytestmark = pytest.mark.postgres

SNAPSHOTS = ("billing_customers", "billing_prices", "billing_subscriptions", "billing_subscription_items",
             "billing_subscription_status_history", "billing_discounts", "crm_contacts", "crm_companies", "crm_deals")
FACTS = ("billing_invoices", "billing_payments", "billing_refunds", "crm_form_submissions", "crm_meetings")
MONTHS = ((dt.date(2025, 5, 1), dt.date(2025, 6, 1)),)


@pytest.fixture
def replica_url(postgres_url: str, sources: Path) -> str:
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        load_stripe(engine, sources)
        load_hubspot(engine, sources)
    finally:
        engine.dispose()
    return postgres_url


def test_every_replica_table_reads_like_the_files(sources: Path, replica_url: str) -> None:
    config = fast_config(sql_replica_url=replica_url)
    for table in SNAPSHOTS:
        frame = read_table(table, "sql", Path("unused"), config=config)
        assert_same_canonical(frame, read_source_table(table, sources), table)
        assert frame["_source_file"].str.contains("-replica:").all()
    for table in FACTS:
        for start, end in MONTHS:
            expected = read_source_table(table, sources, start, end)
            if len(expected):
                assert_same_canonical(read_table(table, "sql", Path("unused"), start, end, config=config), expected, table)
    refunds = read_table("billing_refunds", "sql", Path("unused"), config=config)
    assert "re_deleted_in_source" not in set(refunds["refund_id"])  # _fivetran_deleted rows are ignored


def test_invoice_line_items_read_like_the_files_but_without_discount_and_tax_amounts(sources: Path, replica_url: str) -> None:
    lines = read_table("billing_invoice_lines", "sql", Path("unused"), config=fast_config(sql_replica_url=replica_url))
    expected = read_source_table("billing_invoice_lines", sources)
    assert (lines["discount_amount"] == 0).all() and lines["discount_ids"].isna().all()  # Fivetran keeps neither
    assert (lines["line_type"] == "metered").any() and (lines["proration"] & (lines["amount"] < 0)).any()
    expected = expected.assign(discount_amount=0.0, discount_ids=lines["discount_ids"].iloc[:0].reindex(expected.index), tax=0.0)
    assert_same_canonical(lines, expected, "billing_invoice_lines")


def test_missing_replica_table_is_a_clear_error(postgres_url: str) -> None:
    config = fast_config(sql_replica_url=postgres_url)
    with pytest.raises(ReplicaError, match="stripe replica: table 'invoice' not found in schema 'stripe'"):
        read_table("billing_invoices", "sql", Path("unused"), dt.date(2025, 5, 1), dt.date(2025, 6, 1), config=config)


def test_sql_kind_needs_a_url_and_a_mapping() -> None:
    with pytest.raises(ConnectorError, match="sql_replica_url"):
        read_table("billing_invoices", "sql", Path("unused"), config=fast_config())
    with pytest.raises(ConnectorError, match=r"ad_spend \(ads\) cannot be read with kind 'sql'"):
        read_table("ad_spend", "sql", Path("unused"), config=fast_config(sql_replica_url="sqlite://"))
