"""The SQL replica read in Fivetran's own Stripe and HubSpot layout (fixtures/fivetran: the column headers of
Fivetran's published sample rows, our rows): every table reads, and each layout difference maps as documented."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from saas_metrics.connectors.config import ConnectorsConfig
from saas_metrics.connectors.resource import SourceSystemsResource, read_table, resolve_kind
from saas_metrics.connectors.sql_replica import TABLES, NoDiscountTableWarning
from saas_metrics_tests.connectors.conn_fivetran_fixture import (
    FIXTURE,
    expected_status_runs,
    load_fixture,
    status_runs,
)
from saas_metrics_tests.connectors.conn_helpers import (
    assert_same_canonical,
    fast_config,
    read_counted,
)

T = pd.Timestamp


@pytest.fixture
def fivetran_url(postgres_url: str) -> str:
    load_fixture(postgres_url)
    return postgres_url


def _read(table: str, url: str, start: dt.date | None = None, end: dt.date | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """The canonical table and the rows excluded per rule."""
    return read_counted(table, fast_config(sql_replica_url=url), start, end)


@pytest.mark.postgres
def test_every_table_reads_from_fivetrans_layout(fivetran_url: str) -> None:
    rows = {table: len(_read(table, fivetran_url)[0]) for table in TABLES}
    assert rows == {"billing_customers": 3, "billing_prices": 3, "billing_subscriptions": 3, "billing_subscription_items": 3,
                    "billing_subscription_status_history": 6, "billing_discounts": 1, "billing_invoices": 6, "billing_payments": 6,
                    "billing_refunds": 1, "billing_invoice_lines": 3, "crm_contacts": 3, "crm_companies": 2, "crm_deals": 4,
                    "crm_form_submissions": 1, "crm_meetings": 2}


@pytest.mark.postgres
def test_plans_price_the_items_that_point_at_them_and_deleted_plans_are_counted(fivetran_url: str) -> None:
    prices, excluded = _read("billing_prices", fivetran_url)
    got = prices[["price_id", "unit_amount", "interval", "interval_count", "plan_name"]].values.tolist()
    assert got == [["plan_annual", 1200.0, "year", 1, "Basic annual"], ["plan_basic", 49.0, "month", 1, "Basic"],
                   ["price_pro", 99.0, "month", 1, "Pro"]]
    assert excluded == {"soft_deleted": 1}  # plan_retired (is_deleted)
    items, _ = _read("billing_subscription_items", fivetran_url)
    assert items["price_id"].tolist() == ["plan_basic", "plan_annual", "price_pro"]  # subscription_item.plan_id


@pytest.mark.postgres
def test_subscription_history_without_fivetran_bounds_keeps_its_past(fivetran_url: str) -> None:
    """The older subscription_history form (versions keyed by _fivetran_synced, no _fivetran_start/_end):
    sub_2's past_due spell and sub_3's active months survive; the first version holds from the start."""
    history, excluded = _read("billing_subscription_status_history", fivetran_url)
    assert status_runs(history) == expected_status_runs("2025-03-15 10:00")
    assert excluded == {}
    subscriptions, excluded = _read("billing_subscriptions", fivetran_url)
    assert subscriptions["status"].tolist() == ["active", "active", "canceled"]  # each one's _fivetran_active version
    assert excluded == {"inactive_history": 3}  # 6 versions read = 3 loaded + 3 superseded


@pytest.mark.postgres
def test_invoices_without_created_are_dated_by_their_period_end(fivetran_url: str) -> None:
    feb, excluded = _read("billing_invoices", fivetran_url, dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    assert feb[["invoice_id", "created_at", "total"]].values.tolist() == [["in_1b", T("2025-02-05 09:00"), 147.0],
                                                                        ["in_3a", T("2025-02-01 09:00"), 178.2]]
    assert excluded == {"soft_deleted": 1}  # in_void (is_deleted), dated in February


@pytest.mark.postgres
def test_invoice_lines_priced_by_plans_and_the_temporary_line_id_counted(fivetran_url: str) -> None:
    lines, excluded = _read("billing_invoice_lines", fivetran_url)
    assert lines[["line_id", "price_id", "interval", "amount"]].values.tolist() == [
        ["sli_1a", "plan_basic", "month", 147.0], ["sli_1b", "plan_basic", "month", 147.0], ["sli_1c", "plan_basic", "month", 147.0]]
    assert excluded == {"temporary_line_id": 1}  # 'sub_1' repeats sli_1c


@pytest.mark.postgres
def test_discounts_from_subscription_discount_else_the_discount_table(fivetran_url: str) -> None:
    discounts, excluded = _read("billing_discounts", fivetran_url)
    assert discounts[["discount_id", "subscription_id", "percent_off"]].values.tolist() == [["di_3", "sub_3", 10.0]]
    assert excluded == {}
    engine = sa.create_engine(fivetran_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE stripe.subscription_discount"))
    engine.dispose()
    discounts, excluded = _read("billing_discounts", fivetran_url)
    assert discounts[["discount_id", "subscription_id", "percent_off"]].values.tolist() == [["di_3", "sub_3", 10.0]]
    assert discounts["_source_file"].tolist() == ["stripe-replica:stripe.discount"]
    assert excluded == {"discount_of_another_object": 1}  # di_3's row for invoice in_3a
    engine = sa.create_engine(fivetran_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:  # Fivetran writes the discount tables only for accounts that use discounts
        conn.execute(sa.text("DROP TABLE stripe.discount"))
        conn.execute(sa.text("DROP TABLE stripe.coupon"))
    engine.dispose()
    with pytest.warns(NoDiscountTableWarning, match="neither subscription_discount nor discount in stripe: no discounts read"):
        discounts = read_table("billing_discounts", "sql", Path("unused"), config=fast_config(sql_replica_url=fivetran_url))
    assert len(discounts) == 0


@pytest.mark.postgres
def test_deal_stages_from_the_pipeline_stage_table(fivetran_url: str) -> None:
    deals, excluded = _read("crm_deals", fivetran_url)
    got = deals[["deal_id", "stage", "is_closed_won", "stage_probability", "company_id", "contact_id"]].astype(object)
    assert got.where(got.notna(), None).values.tolist() == [
        ["9001", "closedwon", True, 1.0, "5001", "101"], ["9002", "closedwon", True, 1.0, "5002", "102"],
        ["9003", "closedlost", False, 0.0, None, "103"], ["9004", "4711", False, 0.2, None, None]]
    assert excluded == {"soft_deleted": 1}  # deal 9005 (is_deleted)


@pytest.mark.postgres
def test_contacts_stage_dates_from_property_history_and_deleted_contacts_counted(fivetran_url: str) -> None:
    contacts, excluded = _read("crm_contacts", fivetran_url)
    assert contacts[["contact_id", "lead_at", "opportunity_at", "customer_at"]].values.tolist() == [
        ["101", T("2024-12-10 09:00"), T("2024-12-20 09:00"), T("2025-01-05 09:10")],
        ["102", T("2025-01-02 09:00"), pd.NaT, T("2025-01-10 11:10")],
        ["103", T("2025-02-03 09:00"), pd.NaT, pd.NaT]]
    assert contacts["billing_customer_id"].tolist()[:2] == ["cus_1", "cus_2"]
    assert excluded == {"soft_deleted": 1}  # contact 104 (_fivetran_deleted)


@pytest.mark.postgres
def test_meetings_from_the_engagement_columns_fivetran_writes(fivetran_url: str) -> None:
    """engagement_meeting with start_time / title / meeting_outcome (no property_hs_meeting_* columns)."""
    feb, _ = _read("crm_meetings", fivetran_url, dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    assert feb[["meeting_id", "contact_id", "start_at", "outcome"]].values.tolist() == [
        ["7002", "103", T("2025-02-10 10:00"), "no_show"]]


def test_tables_no_replica_holds_fall_back_to_files_with_an_info_line(caplog: pytest.LogCaptureFixture) -> None:
    config = ConnectorsConfig(systems={"billing": "sql", "crm": "sql"}, sql_replica_url="sqlite://")
    with caplog.at_level(logging.INFO, logger="saas_metrics.connectors.resource"):
        kinds = {t: resolve_kind(config, t) for t in ("crm_touchpoints", "billing_subscription_periods", "crm_contacts")}
    assert kinds == {"crm_touchpoints": "files", "billing_subscription_periods": "files", "crm_contacts": "sql"}
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["crm_touchpoints: crm is read with kind 'sql', which has no crm_touchpoints; reading it from files (its default source)",
                     "billing_subscription_periods: billing is read with kind 'sql', which has no billing_subscription_periods; "
                     "reading it from files (its default source)"]
    resource = SourceSystemsResource(sources_dir="unused", connectors={"systems": {"crm": "sql"}, "sql_replica_url": "sqlite://"})
    assert resource.kind_of("crm_touchpoints") == "files"
    explicit = SourceSystemsResource(sources_dir="unused", tables={"crm_touchpoints": "sql"})
    assert explicit.kind_of("crm_touchpoints") == "sql"  # an explicit override stays the user's choice (and fails when read)


@pytest.mark.postgres
def test_a_replica_holding_everything_as_text_reads_the_same(fivetran_url: str, tmp_path: Path) -> None:
    """The fixture loaded as CSV text into SQLite (no schemas, no TIMESTAMP or BOOLEAN columns): times,
    deletion flags and history flags are read from the text, giving the typed replica's tables and counts."""
    sqlite_url = f"sqlite:///{tmp_path / 'replica.db'}"
    engine = sa.create_engine(sqlite_url)
    for path in sorted(FIXTURE.glob("*/*.csv")):
        pd.read_csv(path, dtype=str, keep_default_na=False).to_sql(path.stem, engine, index=False)
    engine.dispose()
    text = fast_config(sql_replica_url=sqlite_url, stripe_schema=None, hubspot_schema=None)
    typed = fast_config(sql_replica_url=fivetran_url)
    feb = (dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    for table in TABLES:
        for window in ((None, None), feb):
            got, got_excluded = read_counted(table, text, *window)
            want, want_excluded = read_counted(table, typed, *window)
            if "history_since" in want:  # the extraction time of each read
                assert got["history_since"].notna().all() and want["history_since"].notna().all()
                got, want = got.drop(columns="history_since"), want.drop(columns="history_since")
            if len(want):
                assert_same_canonical(got, want, table)
            assert (len(got), got_excluded) == (len(want), want_excluded), (table, window)
