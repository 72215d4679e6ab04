"""Native CSV reading: text columns, lineage, malformed lines, parse errors, missing and empty files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.sources import billing, finance, fx
from saas_metrics.sources.files import SourceFileMissing, open_native
from saas_metrics.sources.schemas import BILLING_CUSTOMERS, FX_RATES


def test_lineage_and_text_columns(write) -> None:
    d = write("fx/rates.csv", "date,currency,rate_to_usd\n2025-01-01,eur,1.05\n2025-01-02,,\n")
    out = fx.read_rates(d)
    assert list(out.columns) == FX_RATES.column_names
    assert out["_source_file"].tolist() == ["fx/rates.csv", "fx/rates.csv"]
    assert out["_source_line"].tolist() == [1, 2]
    assert out["currency"].tolist()[0] == "EUR" and pd.isna(out["currency"].iloc[1])
    assert out["rate_to_usd"].iloc[0] == 1.05 and pd.isna(out["rate_to_usd"].iloc[1])
    assert out["_parse_errors"].isna().all()  # empty is null, not an error


def test_unparseable_values_are_null_and_recorded(write) -> None:
    d = write("fx/rates.csv", "date,currency,rate_to_usd\nnot-a-date,EUR,12,3x\n2025-01-03,GBP,abc\n")
    out = fx.read_rates(d)
    # Line 1 has 4 fields (a comma inside the number): kept, flagged, extra field dropped.
    first = json.loads(out["_parse_errors"].iloc[0])
    assert first["_line"].startswith("expected 3 fields, got 4")
    assert first["date"] == "not-a-date"
    assert pd.isna(out["date"].iloc[0])
    second = json.loads(out["_parse_errors"].iloc[1])
    assert second == {"rate_to_usd": "abc"}
    assert out["date"].iloc[1] == pd.Timestamp("2025-01-03")


def test_short_line_is_kept_with_its_error(write) -> None:
    d = write("fx/rates.csv", "date,currency,rate_to_usd\n2025-01-01,EUR\n2025-01-02,GBP,1.25\n")
    out = fx.read_rates(d)
    assert len(out) == 2
    assert json.loads(out["_parse_errors"].iloc[0]) == {"_line": "expected 3 fields, got 2: 2025-01-01,EUR"}
    assert out["currency"].iloc[0] == "EUR" and pd.isna(out["rate_to_usd"].iloc[0])
    assert pd.isna(out["_parse_errors"].iloc[1])


def test_long_line_is_kept_with_its_error_and_the_rest_parsed(write) -> None:
    d = write("fx/rates.csv", "date,currency,rate_to_usd\n2025-01-01,EUR,1.1,extra\n2025-01-02,GBP,1.25\n")
    out = fx.read_rates(d)
    assert out["currency"].tolist() == ["EUR", "GBP"] and out["rate_to_usd"].iloc[1] == 1.25
    assert json.loads(out["_parse_errors"].iloc[0]) == {"_line": "expected 3 fields, got 4: 2025-01-01,EUR,1.1,extra"}
    assert out["_source_line"].tolist() == [1, 2]


def test_missing_file_gives_empty_frame_and_warning(tmp_path: Path) -> None:
    with pytest.warns(SourceFileMissing, match="billing"):
        out = billing.read_customers(tmp_path)
    assert out.empty and list(out.columns) == BILLING_CUSTOMERS.column_names


@pytest.mark.parametrize("text", ["", "id,email,name,created,currency,address_country,metadata_crm_company_id,metadata_referred_by\n"])
def test_empty_file_gives_empty_frame(write, text: str) -> None:
    d = write("billing/customers.csv", text)
    out = billing.read_customers(d)
    assert out.empty and list(out.columns) == BILLING_CUSTOMERS.column_names


def test_missing_column_warns_and_reads_null(write) -> None:
    d = write("fx/rates.csv", "date,currency\n2025-01-01,EUR\n")
    with pytest.warns(UserWarning, match=r"lacks column\(s\) \['rate_to_usd'\]"):
        out = fx.read_rates(d)
    assert pd.isna(out["rate_to_usd"].iloc[0])


def test_timestamps_unix_units_and_iso(write) -> None:
    d = write("x/t.csv", "a\n1700000000\n1700000000000\n1700000000000000\n2023-11-14T22:13:20Z\n2023-11-14\n")
    table = open_native(d, "x/t.csv", "x")
    assert table is not None
    parsed = table.timestamp("a", "a")
    assert parsed.iloc[:4].tolist() == [pd.Timestamp("2023-11-14 22:13:20")] * 4
    assert parsed.iloc[4] == pd.Timestamp("2023-11-14")


def test_a_year_outside_the_timestamp_range_is_an_error_of_its_row_not_of_the_read(write) -> None:
    """'0202-11-12T00:00:00Z' (a typo in a HubSpot export) parses as ISO 8601 but no nanosecond
    timestamp holds it: null and recorded like any value that does not parse. It stopped the CRM
    step with pandas' overflow error."""
    d = write("x/t.csv", "a,b\n0202-11-12T00:00:00Z,11/12/0202\n2023-11-14T22:13:20Z,11/14/2023\n9999-01-01,01/01/9999\n")
    table = open_native(d, "x/t.csv", "x")
    assert table is not None
    parsed = table.timestamp("a", "a")
    assert parsed.isna().tolist() == [True, False, True] and parsed.iloc[1] == pd.Timestamp("2023-11-14 22:13:20")
    dated = table.date("b", "b", fmt="%m/%d/%Y")
    assert dated.isna().tolist() == [True, False, True] and dated.iloc[1] == pd.Timestamp("2023-11-14")
    assert parsed.dtype == dated.dtype == "datetime64[ns]"


def test_optional_periods_file_missing_is_silent(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    out = billing.read_subscription_periods(tmp_path)
    assert out.empty and not [w for w in recwarn if issubclass(w.category, SourceFileMissing)]


def test_padded_quoted_and_crlf_values(write) -> None:
    d = write("finance/expenses.csv", 'line_id,posting_date,account_code,account_name,department,category,description,amount,currency\r\n'
                                      'JE-1, 2025-01-25 ,6200,"Salaries, Marketing",marketing,salaries,"say ""hi""",100.5, usd \r\n')
    out = finance.read_expenses(d)
    assert out[["date", "gl_account", "amount", "currency"]].iloc[0].tolist() == [
        pd.Timestamp("2025-01-25"), "6200 Salaries, Marketing", 100.5, "USD"]
    assert pd.isna(out["_parse_errors"].iloc[0])


def test_epoch_milliseconds_are_exact_to_the_nanosecond() -> None:
    from saas_metrics.sources.files import _from_numbers

    parsed = _from_numbers(pd.Series(["1745192130042", None, "x", "1700000000"]), None)
    assert parsed.iloc[0] == pd.Timestamp("2025-04-20 23:35:30.042")  # float64 would give .041999872
    assert pd.isna(parsed.iloc[1]) and pd.isna(parsed.iloc[2])
    assert parsed.iloc[3] == pd.Timestamp("2023-11-14 22:13:20")


@pytest.mark.parametrize("text", [
    'id,name,note\r\n1,"Acme, Inc.",""\r\n\r\n2,,"say ""hi"""\r\n',  # CRLF, quoted comma, quoted empty, blank line
    "\ufeffid,name\n1,a\n2,b",                                           # BOM, no final newline
    "id,name,id\n1,a,x\n2,b,y\n",                                        # a repeated header name
    "id,name\n",                                                          # header only
    "id,value\n 1 ,\t2\n3,4\n",                                          # blanks around values
])
def test_text_parse_matches_pandas_reading_every_column_as_text(text: str) -> None:
    """The Arrow parse of the fast path gives exactly the frame pandas' parser gave before."""
    import io

    from saas_metrics.sources.files import _parse_as_text

    data = text.encode("utf-8")
    expected = pd.read_csv(io.BytesIO(data), dtype="str", keep_default_na=False, na_values=[""], index_col=False,
                           engine="c", encoding="utf-8-sig")
    pd.testing.assert_frame_equal(_parse_as_text(data), expected)


def test_bytes_that_are_not_utf8_flag_their_row_only(write) -> None:
    d = write("fx/rates.csv", "")
    (d / "fx/rates.csv").write_bytes(b"date,currency,rate_to_usd\n2025-01-01,EUR,1.1\n2025-01-02,E\xe9R,1.2\n2025-01-03,GBP,1.3\n")
    table = open_native(d, "fx/rates.csv", "fx")
    assert table is not None and len(table) == 3
    assert table.errors[0] is None and table.errors[2] is None
    assert table.errors[1] == {"_line": "bytes that are not UTF-8 in currency=b'E\\xe9R'"}
    assert table.text("currency").tolist() == ["EUR", "E\ufffdR", "GBP"]


def test_a_field_of_200_kb_is_read(write) -> None:
    notes = "x" * 200_000
    d = write("fx/rates.csv", f'date,currency,rate_to_usd\n2025-01-01,EUR,1.1\n"2025-01-02","{notes}\n",1.2\n')
    table = open_native(d, "fx/rates.csv", "fx")
    assert table is not None and len(table.text("currency").iloc[1]) == 200_001 - 1  # stripped of its newline
    assert table.errors == [None, None]
