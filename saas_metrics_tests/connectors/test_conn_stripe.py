"""Stripe API connector against a fake Stripe on 127.0.0.1 serving the sample data."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.config import RevenuePolicy
from saas_metrics.connectors.config import Credentials
from saas_metrics.connectors.http import SourceAuthError
from saas_metrics.connectors.resource import read_table
from saas_metrics.connectors.stripe_api import subscription_histories, subscription_row, unix_bounds
from saas_metrics.metrics.invoice_revenue import build_intervals_by_engine
from saas_metrics.metrics.mrr import customer_mrr_snapshots
from saas_metrics.sources.registry import read_source_table
from saas_metrics_tests.connectors.conn_fake_server import FakeServer, Response
from saas_metrics_tests.connectors.conn_fake_stripe import GOOD_KEY, StripeData, stripe_route
from saas_metrics_tests.connectors.conn_helpers import (
    assert_same_canonical,
    fast_config,
)

SNAPSHOTS = ("billing_customers", "billing_prices", "billing_subscriptions", "billing_subscription_items",
             "billing_subscription_status_history", "billing_discounts")
FACTS = ("billing_invoices", "billing_payments", "billing_refunds")


@pytest.fixture(scope="module")
def stripe_data(sources: Path) -> StripeData:
    return StripeData(sources)


def _read(server: FakeServer, table: str, start: dt.date | None = None, end: dt.date | None = None, *, key: str = GOOD_KEY,
          page_size: int = 100, sleep=None):
    config = fast_config(stripe_base_url=server.url, page_size=page_size)
    kwargs = {"sleep": sleep} if sleep else {}
    return read_table(table, "api", Path("unused"), start, end, config=config, credentials=Credentials(stripe_api_key=key), **kwargs)


def test_unix_bounds_of_a_month_window() -> None:
    assert unix_bounds(dt.date(2025, 5, 1), dt.date(2025, 6, 1)) == {"created[gte]": 1746057600, "created[lt]": 1748736000}


@pytest.mark.parametrize("table", SNAPSHOTS)
def test_snapshot_tables_via_api_equal_files(sources: Path, stripe_data: StripeData, table: str) -> None:
    with FakeServer(stripe_route(stripe_data)) as server:
        api = _read(server, table)
    if table == "billing_subscriptions":
        # Every simulated subscription is older than Stripe's 30-day event retention: its history is incomplete.
        assert api["history_since"].notna().all() and (api["history_since"] > api["created_at"]).all()
        api = api.assign(history_since=pd.NaT).astype({"history_since": "datetime64[ns]"})
    assert_same_canonical(api, read_source_table(table, sources), table)
    assert set(api["_source_file"]) <= {"stripe-api:/v1/customers", "stripe-api:/v1/prices", "stripe-api:/v1/subscriptions",
                                        "stripe-api:/v1/events+/v1/subscriptions"}
    assert list(api["_source_line"]) == list(range(1, len(api) + 1))


@pytest.mark.parametrize("table", FACTS)
def test_fact_tables_of_each_month_via_api_equal_files(sources: Path, stripe_data: StripeData, table: str) -> None:
    months = [(dt.date(2025, 5, 1), dt.date(2025, 6, 1))]
    with FakeServer(stripe_route(stripe_data)) as server:
        for start, end in months:
            expected = read_source_table(table, sources, start, end)
            if len(expected) == 0:
                continue
            assert_same_canonical(_read(server, table, start, end, page_size=10), expected, table)
        whole = _read(server, table)
    assert_same_canonical(whole, read_source_table(table, sources), table)


def test_history_since_marks_subscriptions_older_than_the_retention() -> None:
    since = 1_735_689_600  # 2025-01-01
    old = {"id": "sub_old", "customer": {"id": "cus_1"}, "created": since - 86_400}
    assert subscription_row(old, since)["history_since"] == since
    assert "history_since" not in subscription_row({**old, "created": since + 1}, since)
    # a replica's naive UTC TIMESTAMP works the same; no retention given: complete history
    assert subscription_row({**old, "created": dt.datetime(2024, 12, 31)}, since)["history_since"] == since
    assert "history_since" not in subscription_row(old)


def test_invoice_lines_of_the_whole_history_via_api_equal_files(sources: Path, stripe_data: StripeData) -> None:
    with FakeServer(stripe_route(stripe_data)) as server:
        api = _read(server, "billing_invoice_lines", dt.date(2025, 5, 1), dt.date(2025, 6, 1), page_size=7)
        paged = {request.path for request in server.requests if request.path.endswith("/lines")}
    expected = read_source_table("billing_invoice_lines", sources)
    assert len(set(expected["invoice_id"])) > 7  # several pages of invoices, whatever the run's window
    assert paged  # lines beyond the embedded one are paged from /v1/invoices/{id}/lines
    assert (expected["proration"] & (expected["amount"] < 0)).any()  # prorations with their credits
    assert_same_canonical(api, expected, "billing_invoice_lines")


def test_revenue_via_api_under_auto_is_built_from_invoices_and_equals_the_full_history(sources: Path, stripe_data: StripeData) -> None:
    tables = ("billing_customers", "billing_prices", "billing_subscriptions", "billing_subscription_items",
              "billing_subscription_status_history", "billing_discounts", "billing_invoice_lines")
    with FakeServer(stripe_route(stripe_data)) as server:
        api = {table: _read(server, table) for table in tables}
    files = {table: read_source_table(table, sources) for table in tables}

    def mrr(t: dict, source: str) -> tuple[pd.DataFrame, pd.Series]:
        intervals, engines = build_intervals_by_engine(
            t["billing_customers"], t["billing_prices"], t["billing_subscriptions"], t["billing_subscription_items"],
            t["billing_subscription_status_history"], t["billing_discounts"], None, None, t["billing_invoice_lines"],
            RevenuePolicy(source=source), "USD")
        months = list(pd.date_range("2024-07-01", "2025-06-01", freq="MS"))
        fx = read_source_table("fx_rates", sources)
        return customer_mrr_snapshots(intervals, months, fx, "USD")[["month", "customer_id", "mrr_local"]], engines

    via_api, engines = mrr(api, "auto")
    truth, _ = mrr(files, "subscriptions")  # the simulator's full item and status history
    billed = set(api["billing_invoice_lines"]["subscription_id"].dropna())
    assert set(engines[engines == "invoices"].index) == billed & set(engines.index)  # every billed one is older than 30 days
    assert len(truth) > 100
    pd.testing.assert_frame_equal(via_api, truth, rtol=1e-12)


def test_a_month_of_invoices_is_extracted_completely_and_once(sources: Path, stripe_data: StripeData) -> None:
    start, end = dt.date(2025, 5, 1), dt.date(2025, 6, 1)
    expected_ids = set(read_source_table("billing_invoices", sources, start, end)["invoice_id"])
    assert len(expected_ids) > 7  # more than one page of 7
    with FakeServer(stripe_route(stripe_data)) as server:
        frame = _read(server, "billing_invoices", start, end, page_size=7)
        pages = [r for r in server.requests if r.path == "/v1/invoices"]
    assert set(frame["invoice_id"]) == expected_ids
    assert server.served == Counter({f"/v1/invoices:{i}": 1 for i in expected_ids})
    assert len(pages) == -(-len(expected_ids) // 7)
    assert {p.arg("created[gte]") for p in pages} == {"1746057600"}


def test_revoked_key_names_stripe_and_returns_nothing(stripe_data: StripeData) -> None:
    with FakeServer(stripe_route(stripe_data)) as server, pytest.raises(SourceAuthError) as error:
        _read(server, "billing_invoices", dt.date(2025, 5, 1), dt.date(2025, 6, 1), key="sk_test_revoked")
    message = str(error.value)
    assert message.startswith("stripe: credentials rejected (401)")
    assert "STRIPE_API_KEY" in message and "sk_test_revoked" not in message


def test_failure_mid_extraction_returns_nothing(stripe_data: StripeData) -> None:
    """Page 1 succeeds, then the key is revoked: the whole window fails, no partial frame."""
    calls = {"n": 0}
    inner = stripe_route(stripe_data)

    def route(request, server):
        calls["n"] += 1
        return inner(request, server) if calls["n"] == 1 else Response(401, {"error": {"message": "revoked"}})

    result = None
    with FakeServer(route) as server, pytest.raises(SourceAuthError):
        result = _read(server, "billing_invoices", dt.date(2025, 5, 1), dt.date(2025, 6, 1), page_size=3)
    assert result is None and calls["n"] == 2


def test_flaky_server_is_retried_to_the_same_result(sources: Path, stripe_data: StripeData) -> None:
    start, end = dt.date(2025, 5, 1), dt.date(2025, 6, 1)
    waits: list[float] = []
    with FakeServer(stripe_route(stripe_data)) as server:
        server.failures = [Response(500, {"error": {}}), Response(429, {"error": {}}, {"Retry-After": "2"}), Response(503, {})]
        frame = _read(server, "billing_payments", start, end, sleep=waits.append)
    assert_same_canonical(frame, read_source_table("billing_payments", sources, start, end), "billing_payments")
    assert waits == [0.0, 2.0, 0.0]  # backoff (0 in tests), Retry-After honoured, backoff


def test_history_without_events_is_the_baseline_of_the_current_state() -> None:
    """A canceled subscription whose events expired: trialing over the trial, active until ended_at, then canceled;
    its current item from its creation to ended_at."""
    sub = {"id": "sub_1", "status": "canceled", "start_date": 1_700_000_000, "trial_start": 1_700_000_000,
           "trial_end": 1_701_209_600, "ended_at": 1_710_000_000,
           "items": {"data": [{"id": "si_1", "price": {"id": "price_a"}, "quantity": 4, "created": 1_700_000_000}]}}
    items, statuses = subscription_histories([sub], [])
    assert items == [{"id": "si_1", "subscription": "sub_1", "price": "price_a", "quantity": 4,
                      "valid_from": dt.datetime(2023, 11, 14, 22, 13, 20), "valid_to": dt.datetime(2024, 3, 9, 16, 0)}]
    assert [(s["status"], s["valid_from"], s["valid_to"]) for s in statuses] == [
        ("trialing", dt.datetime(2023, 11, 14, 22, 13, 20), dt.datetime(2023, 11, 28, 22, 13, 20)),
        ("active", dt.datetime(2023, 11, 28, 22, 13, 20), dt.datetime(2024, 3, 9, 16, 0)),
        ("canceled", dt.datetime(2024, 3, 9, 16, 0), None)]


def test_history_from_events_splits_versions_on_quantity_change_and_closes_at_cancellation() -> None:
    def event(n: int, at: int, status: str, quantity: int) -> dict:
        return {"id": f"evt_{n}", "type": "customer.subscription.updated", "created": at, "data": {"object": {
            "id": "sub_1", "status": status, "items": {"data": [{"id": "si_1", "price": {"id": "p"}, "quantity": quantity}]}}}}

    events = [event(3, 300, "canceled", 5), event(2, 200, "active", 5), event(1, 100, "active", 2)]  # newest first
    items, statuses = subscription_histories([{"id": "sub_1", "status": "canceled"}], events)
    at = {100: dt.datetime(1970, 1, 1, 0, 1, 40), 200: dt.datetime(1970, 1, 1, 0, 3, 20), 300: dt.datetime(1970, 1, 1, 0, 5)}
    assert [(i["quantity"], i["valid_from"], i["valid_to"]) for i in items] == [(2, at[100], at[200]), (5, at[200], at[300])]
    assert [(s["status"], s["valid_from"], s["valid_to"]) for s in statuses] == [("active", at[100], at[300]), ("canceled", at[300], None)]
