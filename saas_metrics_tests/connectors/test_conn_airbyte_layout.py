"""The SQL replica read in Airbyte's Stripe and HubSpot stream layout (``sql_replica_dialect: airbyte``;
fixtures/airbyte: the same company as fixtures/fivetran, as Airbyte's streams hold it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.connectors.airbyte_replica import _unix
from saas_metrics.connectors.sql_replica import ReplicaError
from saas_metrics_tests.connectors.conn_fivetran_fixture import (
    expected_status_runs,
    load_airbyte_fixture,
    load_fixture,
    status_runs,
)
from saas_metrics_tests.connectors.conn_helpers import (
    assert_same_canonical,
    fast_config,
    read_counted,
)

pytestmark = pytest.mark.postgres
T = pd.Timestamp
#: tables both fixtures hold identically (the layouts' own differences are asserted one by one below)
SAME_IN_BOTH = ("billing_customers", "billing_prices", "billing_subscription_items", "billing_discounts", "billing_payments",
                "billing_refunds", "crm_contacts", "crm_companies", "crm_deals", "crm_form_submissions")


@pytest.fixture
def airbyte_url(postgres_url: str) -> str:
    load_airbyte_fixture(postgres_url)
    return postgres_url


def _read(table: str, url: str, dialect: str = "airbyte", start: dt.date | None = None,
          end: dt.date | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    return read_counted(table, fast_config(sql_replica_url=url, sql_replica_dialect=dialect), start, end)


def test_airbyte_streams_give_the_tables_the_fivetran_layout_gives(airbyte_url: str, tmp_path: Path) -> None:
    """Same company, two layouts: identical canonical tables (lineage aside), deletions counted alike."""
    import sqlalchemy as sa

    fivetran = airbyte_url.rsplit("/", 1)[0] + "/" + airbyte_url.rsplit("/", 1)[1] + "_ft"
    admin = sa.create_engine(airbyte_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{fivetran.rsplit("/", 1)[1]}"'))
    admin.dispose()
    try:
        load_fixture(fivetran)
        for table in SAME_IN_BOTH:
            got, excluded = _read(table, airbyte_url)
            want, want_excluded = _read(table, fivetran, "fivetran")
            assert_same_canonical(got, want, table)
            assert excluded == want_excluded, table
            assert got["_source_file"].str.contains("-airbyte:").all(), table
    finally:
        admin = sa.create_engine(airbyte_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{fivetran.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()


def test_histories_from_the_events_stream(airbyte_url: str) -> None:
    """Airbyte keeps Stripe's events since its first sync: the status history is rebuilt from them at the
    events' own times, and history is complete from the first event on."""
    history, _ = _read("billing_subscription_status_history", airbyte_url)
    assert status_runs(history) == expected_status_runs("2025-03-15 09:30")
    subscriptions, _ = _read("billing_subscriptions", airbyte_url)
    # sub_2's items come from the subscription_items stream (its subscriptions row has no embedded items)
    assert subscriptions["subscription_id"].tolist() == ["sub_1", "sub_2", "sub_3"]
    # history is known from the first event (Jan 5, 09:00): none of them was created before it
    assert subscriptions["history_since"].isna().all()


def test_invoices_lines_and_raw_streams(airbyte_url: str) -> None:
    feb, excluded = _read("billing_invoices", airbyte_url, start=dt.date(2025, 2, 1), end=dt.date(2025, 3, 1))
    assert feb[["invoice_id", "created_at", "paid_at", "total"]].values.tolist() == [
        ["in_1b", T("2025-02-05 09:00"), T("2025-02-05 09:05"), 147.0], ["in_3a", T("2025-02-01 09:00"), T("2025-02-01 09:05"), 178.2]]
    assert excluded == {"soft_deleted": 1}  # in_void (is_deleted)
    lines, _ = _read("billing_invoice_lines", airbyte_url)
    assert lines[["line_id", "price_id", "interval", "period_start", "amount"]].values.tolist() == [
        ["sli_1a", "plan_basic", "month", T("2025-01-05 09:00"), 147.0], ["sli_1b", "plan_basic", "month", T("2025-02-05 09:00"), 147.0],
        ["sli_1c", "plan_basic", "month", T("2025-03-05 09:00"), 147.0]]
    # charges are loaded as a raw stream only (_airbyte_raw_charges._airbyte_data), as older destinations keep them
    march, _ = _read("billing_payments", airbyte_url, start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 1))
    assert march[["payment_id", "customer_id", "amount"]].values.tolist() == [["ch_1c", "cus_1", 147.0], ["ch_3b", "cus_3", 178.2]]


def test_hubspot_objects_from_the_streams(airbyte_url: str) -> None:
    """Deals are closed won / lost by their stage in the deal_pipelines stream (``metadata.isClosed``,
    ``probability``); meetings from engagements_meetings with their first contact."""
    deals, excluded = _read("crm_deals", airbyte_url)
    assert deals[["deal_id", "stage", "is_closed_won"]].values.tolist() == [
        ["9001", "closedwon", True], ["9002", "closedwon", True], ["9003", "closedlost", False], ["9004", "4711", False]]
    assert excluded == {"soft_deleted": 1}  # deal 9005 (archived)
    feb, _ = _read("crm_meetings", airbyte_url, start=dt.date(2025, 2, 1), end=dt.date(2025, 3, 1))
    assert feb[["meeting_id", "contact_id", "demo_type", "requested_at", "start_at", "outcome"]].values.tolist() == [
        ["7002", "103", "live", T("2025-02-03 09:30"), T("2025-02-10 10:00"), "no_show"]]


def test_a_missing_stream_is_named(postgres_url: str) -> None:
    with pytest.raises(ReplicaError, match="stripe replica: stream 'customers' not found in schema 'stripe' \\(Airbyte layout\\)"):
        _read("billing_customers", postgres_url)


def test_airbyte_times_in_every_form() -> None:
    assert _unix(1735722000) == _unix(1735722000000) == _unix("1735722000") == _unix("2025-01-01T09:00:00Z") == 1735722000
    assert _unix(T("2025-01-01 09:00")) == 1735722000 and _unix(None) is None
