"""SQL replica connector on PostgreSQL: the sample data loaded in the Fivetran layout reads back identical."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.connectors.native import ExcludedRowsWarning
from saas_metrics.connectors.resource import ConnectorError, read_table
from saas_metrics.connectors.sql_replica import ReplicaError
from saas_metrics.sources.drift import MissingColumnsWarning
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


def test_legacy_plan_table_prices_the_items_that_point_at_plans(sources: Path, replica_url: str) -> None:
    """Fivetran's Stripe schema keeps the legacy ``plan`` table beside ``price``: plans the price table
    lacks are read from it (amount, interval, interval_count, usage_type), so their items have a price."""
    engine = sa.create_engine(replica_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        moved = [row[0] for row in conn.execute(sa.text("SELECT id FROM stripe.price WHERE type = 'recurring' ORDER BY id LIMIT 3"))]
        conn.execute(sa.text(
            "CREATE TABLE stripe.plan AS SELECT id, product_id, nickname, unit_amount AS amount, currency, "
            "recurring_interval AS interval, recurring_interval_count AS interval_count, recurring_usage_type AS usage_type, "
            "active, created, metadata, _fivetran_deleted FROM stripe.price WHERE id = ANY(:ids)"), {"ids": moved})
        conn.execute(sa.text("DELETE FROM stripe.price WHERE id = ANY(:ids)"), {"ids": moved})
    engine.dispose()
    prices = read_table("billing_prices", "sql", Path("unused"), config=fast_config(sql_replica_url=replica_url))
    expected = read_source_table("billing_prices", sources)
    assert set(moved) <= set(prices["price_id"]) and len(moved) == 3
    columns = ["price_id", "unit_amount", "currency", "interval", "interval_count", "usage_type"]
    got = prices.set_index("price_id").loc[moved].reset_index()[columns]
    want = expected.set_index("price_id").loc[moved].reset_index()[columns]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_missing_replica_table_is_a_clear_error(postgres_url: str) -> None:
    config = fast_config(sql_replica_url=postgres_url)
    with pytest.raises(ReplicaError, match="stripe replica: table 'invoice' not found in schema 'stripe'"):
        read_table("billing_invoices", "sql", Path("unused"), dt.date(2025, 5, 1), dt.date(2025, 6, 1), config=config)


def test_sql_kind_needs_a_url_and_a_mapping() -> None:
    with pytest.raises(ConnectorError, match="sql_replica_url"):
        read_table("billing_invoices", "sql", Path("unused"), config=fast_config())
    with pytest.raises(ConnectorError, match=r"ad_spend \(ads\) cannot be read with kind 'sql'"):
        read_table("ad_spend", "sql", Path("unused"), config=fast_config(sql_replica_url="sqlite://"))


def _drift(table: str, config, start=None, end=None) -> tuple[pd.DataFrame, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_table(table, "sql", Path("unused"), start, end, config=config)
    found = [w.message for w in caught if isinstance(w.message, MissingColumnsWarning)]
    return frame, found


def test_invoice_without_created_is_dated_by_its_period_end(sources: Path, replica_url: str) -> None:
    """Fivetran's own invoice table may lack ``created``: a subscription invoice is created when its
    invoice-level period ends, so ``period_end`` dates it (the loader writes period_end = created)."""
    engine = sa.create_engine(replica_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE stripe.invoice DROP COLUMN created"))
    engine.dispose()
    start, end = MONTHS[0]
    got, drift = _drift("billing_invoices", fast_config(sql_replica_url=replica_url), start, end)
    assert drift == []
    assert_same_canonical(got, read_source_table("billing_invoices", sources, start, end), "billing_invoices")


def test_replica_schema_drift_is_reported_like_a_files_never_a_key_error(replica_url: str) -> None:
    """A replica without any invoice creation time, HubSpot's lifecycle stage and the meetings' start time:
    the required columns stop their tables (named), the optional one is null with one warning."""
    engine = sa.create_engine(replica_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for column in ("created", "period_end"):  # created and the column Fivetran's own sample dates invoices by
            conn.execute(sa.text(f"ALTER TABLE stripe.invoice DROP COLUMN {column}"))
        conn.execute(sa.text("ALTER TABLE stripe.invoice ADD COLUMN some_new_field TEXT"))  # extra: ignored
        conn.execute(sa.text("ALTER TABLE hubspot.contact DROP COLUMN property_lifecyclestage"))
        conn.execute(sa.text("ALTER TABLE hubspot.engagement_meeting DROP COLUMN property_hs_meeting_start_time"))
    engine.dispose()
    config = fast_config(sql_replica_url=replica_url)

    _, [invoices] = _drift("billing_invoices", config, dt.date(2025, 5, 1), dt.date(2025, 6, 1))
    [created] = invoices.missing
    assert (created.system, created.table, created.column, created.target, created.required) == (
        "billing", "billing_invoices", "created", "created_at", True)
    assert created.source == "stripe-replica:stripe.invoice"
    assert created.problem().startswith("stripe-replica:stripe.invoice lacks required column(s) created (rule required_column)")

    contacts, [drift] = _drift("crm_contacts", config)
    [stage] = drift.missing
    assert (stage.column, stage.target, stage.required) == ("lifecyclestage", "lifecycle_stage", False)
    assert contacts["lifecycle_stage"].isna().all() and contacts["contact_id"].notna().all()
    assert "weakening" in str(drift) and "leads" in str(drift)

    _, [meetings] = _drift("crm_meetings", config, dt.date(2025, 5, 1), dt.date(2025, 6, 1))
    assert [(m.column, m.target, m.required) for m in meetings.missing] == [("hs_meeting_start_time", "start_at", True)]


def _excluded(table: str, config) -> tuple[pd.DataFrame, dict[str, int]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_table(table, "sql", Path("unused"), config=config)
    counts: dict[str, int] = {}
    for w in caught:
        if isinstance(w.message, ExcludedRowsWarning):
            counts.update(w.message.counts)
    return frame, counts


def test_replica_rows_not_passed_on_are_counted_and_unjoinable_rows_kept(replica_url: str) -> None:
    """The soft-deleted refund and the merged item version are counted by rule (for
    source_row_accounting); a discount on a customer is passed on (to be quarantined), not dropped."""
    engine = sa.create_engine(replica_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO stripe.discount (id, subscription_id, coupon_id) "
                             "SELECT 'di_customer_level', NULL, coupon_id FROM stripe.discount LIMIT 1"))
    engine.dispose()
    config = fast_config(sql_replica_url=replica_url)
    _, refunds = _excluded("billing_refunds", config)
    assert refunds == {"soft_deleted": 1}
    _, items = _excluded("billing_subscription_items", config)
    assert items == {"inactive_history": 1}  # the metadata-only change of the first item
    subscriptions, counts = _excluded("billing_subscriptions", config)
    history = pd.read_sql("SELECT count(*) AS n FROM stripe.subscription_history", replica_url.replace("postgresql://", "postgresql+psycopg://"))
    assert len(subscriptions) + counts.get("inactive_history", 0) == int(history.at[0, "n"])
    discounts, _ = _excluded("billing_discounts", config)
    customer_level = discounts[discounts["discount_id"] == "di_customer_level"]
    assert len(customer_level) == 1 and customer_level["subscription_id"].isna().all()


def test_items_of_a_subscription_the_replica_lacks_are_passed_on(tmp_path: Path) -> None:
    """Without history mode, an item whose subscription is not in the replica is still extracted
    (the reference rule then quarantines it with the reason), never dropped. SQLite, no schema."""
    from saas_metrics.connectors.sql_replica import extract

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'replica.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE subscription (id TEXT, customer_id TEXT, status TEXT, start_date TIMESTAMP, "
                             "trial_start TIMESTAMP, trial_end TIMESTAMP, ended_at TIMESTAMP, created TIMESTAMP)"))
        conn.execute(sa.text("CREATE TABLE subscription_item (id TEXT, subscription_id TEXT, plan_id TEXT, quantity INTEGER, "
                             "created TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO subscription VALUES ('sub_1', 'cus_1', 'active', '2025-01-01', NULL, NULL, NULL, '2025-01-01')"))
        conn.execute(sa.text("INSERT INTO subscription_item VALUES ('si_1', 'sub_1', 'price_1', 1, '2025-01-01'), "
                             "('si_2', 'sub_unknown', 'price_2', 3, '2025-02-01')"))
    [items] = extract("billing_subscription_items", engine, stripe_schema=None, hubspot_schema=None)
    by_id = {r["id"]: r for r in items.records}
    assert set(by_id) == {"si_1", "si_2"}
    assert (by_id["si_2"]["subscription"], by_id["si_2"]["price"], by_id["si_2"]["quantity"]) == ("sub_unknown", "price_2", 3)
    engine.dispose()
