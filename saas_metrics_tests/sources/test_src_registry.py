"""The registry: every canonical table, month windows, unplaced rows, watched files."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.sources.registry import SOURCE_SYSTEM_OF, read_source_table, source_files
from saas_metrics.sources.schemas import SCHEMAS


def test_every_table_reads_as_empty_from_an_empty_folder(tmp_path: Path) -> None:
    assert set(SOURCE_SYSTEM_OF) == set(SCHEMAS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for table, schema in SCHEMAS.items():
            out = read_source_table(table, tmp_path, dt.date(2025, 1, 1), dt.date(2025, 2, 1))
            assert out.empty and list(out.columns) == schema.column_names, table


def test_window_and_unplaced_rows(write) -> None:
    d = write("billing/charges.csv", """
id,customer,invoice,amount,currency,status,created
ch_1,cus_1,in_1,100,usd,succeeded,2025-01-31T23:59:59Z
ch_2,cus_1,in_2,100,usd,succeeded,2025-02-01T00:00:00Z
ch_3,cus_1,in_3,100,usd,succeeded,not-a-date
ch_4,cus_1,in_4,100,usd,succeeded,2099-01-01T00:00:00Z
""")
    jan = read_source_table("billing_payments", d, dt.date(2025, 1, 1), dt.date(2025, 2, 1))
    assert jan["payment_id"].tolist() == ["ch_1"]
    first = read_source_table("billing_payments", d, dt.date(2025, 1, 1), dt.date(2025, 3, 1), include_unplaced=True)
    assert sorted(first["payment_id"]) == ["ch_1", "ch_2", "ch_3"]
    assert read_source_table("billing_payments", d)["payment_id"].tolist() == ["ch_1", "ch_2", "ch_3", "ch_4"]
    future = read_source_table("billing_payments", d, dt.date(2099, 1, 1), dt.date(2099, 2, 1))
    assert future["payment_id"].tolist() == ["ch_4"]


def test_snapshot_tables_ignore_the_window(write) -> None:
    d = write("fx/rates.csv", "date,currency,rate_to_usd\n2025-01-01,EUR,1.1\n")
    write("billing/prices.csv", "id,unit_amount,currency\np1,100,usd\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prices = read_source_table("billing_prices", d, dt.date(2020, 1, 1), dt.date(2020, 2, 1))
    assert prices["price_id"].tolist() == ["p1"]
    assert read_source_table("fx_rates", d, dt.date(2025, 2, 1), dt.date(2025, 3, 1)).empty


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown source table"):
        read_source_table("nope", tmp_path)
    with pytest.raises(ValueError, match="empty window"):
        read_source_table("fx_rates", tmp_path, dt.date(2025, 2, 1), dt.date(2025, 1, 1))


def test_source_files_lists_existing_files_per_system(write) -> None:
    d = write("ads/meta_ads.csv", "date_start\n")
    write("billing/charges.csv", "id\n")
    files = source_files(d)
    assert files["ads"] == [d / "ads/meta_ads.csv"]
    assert files["billing"] == [d / "billing/charges.csv"]
    assert files["crm"] == [] and set(files) == set(SOURCE_SYSTEM_OF.values())


def test_simulated_sources_map_cleanly(small_sources: Path) -> None:
    """Every table of the simulated company reads without parse errors and with the schema's columns."""
    for table, schema in SCHEMAS.items():
        out = read_source_table(table, small_sources)
        assert list(out.columns) == schema.column_names, table
        if table != "billing_subscription_periods":
            assert len(out) > 0, table
        assert out["_parse_errors"].isna().all(), table
        for column in schema.columns:
            if not column.nullable:
                assert out[column.name].notna().all(), (table, column.name)
    spend = read_source_table("ad_spend", small_sources)
    assert set(spend["currency"]) == {"USD", "EUR", "GBP"}
    customers = read_source_table("billing_customers", small_sources)
    assert pd.Series(customers["customer_id"]).is_unique
