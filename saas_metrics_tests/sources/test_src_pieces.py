"""A cold landing-cache read of a big native file, mapped and stored piece by piece, gives exactly
the whole read: the same frame (dtypes, values, order, lineage, parse errors) and the same warnings,
whatever the file holds (bad lines, quoted line breaks, blank lines, a BOM, padded fields, bytes that
are not UTF-8, a missing column, no rows). The pieces are made tiny here (``PIECE_BYTES``)."""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from saas_metrics.sources import landing, pieces
from saas_metrics.sources.files import clear_cache
from saas_metrics.sources.registry import NATIVE_FILES_OF, READERS, input_files, read_source_table

NOW = dt.datetime(2025, 7, 1)
USAGE_HEADER = "date,account_id,user_id,event,count\n"
SESSIONS_HEADER = "event_date,event_timestamp,user_pseudo_id,ga_session_id,session_source,session_medium,session_campaign\n"


def _usage_rows(n: int, start: int = 0) -> str:
    return "".join(f"2025-0{1 + (i % 6)}-{1 + i % 28:02d},acc_{i % 7},u{i % 13},login,{i % 5}\n" for i in range(start, start + n))


def _captured(read: Callable[[], object]) -> tuple[object, list[tuple[str, str]]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read()
    return result, [(w.category.__name__, str(w.message)) for w in caught]


@pytest.fixture
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Pieces of about ``n`` bytes (a file bigger than that is read in pieces)."""
    clear_cache()

    def set_size(n: int) -> None:
        monkeypatch.setattr(pieces, "PIECE_BYTES", n)

    set_size(256)
    return set_size


def _assert_pieced_read_is_the_whole_read(table: str, sources: Path, cache: Path, monkeypatch: pytest.MonkeyPatch,
                                         min_pieces: int = 2) -> pd.DataFrame:
    """Read ``table`` cold through the landing cache (which must cut it into pieces, never parse it
    whole) and compare frame and warnings with a direct whole read; then the warm read."""
    whole, whole_warnings = _captured(lambda: read_source_table(table, sources))
    cuts: list[int] = []
    parse = pieces.parse_piece

    def counting_parse(data: bytes, mode: pieces.TextMode) -> tuple[pd.DataFrame, dict[int, str]]:
        cuts.append(len(data))
        return parse(data, mode)

    with monkeypatch.context() as patched:
        patched.setattr(pieces, "parse_piece", counting_parse)
        patched.setattr(landing, "read_source_table", lambda *a: pytest.fail("the export was parsed whole"))
        (cold, times), cold_warnings = _captured(lambda: landing.read_landed(table, sources, cache, None, NOW))
    assert times is None
    assert len(cuts) >= min_pieces
    pd.testing.assert_frame_equal(cold, whole)
    assert cold_warnings == whole_warnings
    (warm, _), warm_warnings = _captured(lambda: landing.read_landed(table, sources, cache, None, NOW))
    pd.testing.assert_frame_equal(warm, whole)
    assert warm_warnings == whole_warnings
    assert isinstance(whole, pd.DataFrame)
    return whole


def test_a_plain_file_read_in_pieces_is_the_whole_read(write, tmp_path: Path, tiny_pieces, monkeypatch) -> None:
    # A BOM, blank lines (skipped in the numbering) including at a piece's start, CRLF line ends.
    text = USAGE_HEADER + _usage_rows(30) + "\n\n" + _usage_rows(30, 30) + "\n" + _usage_rows(5, 60)
    path = tmp_path / "product/usage_daily.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode())
    whole = _assert_pieced_read_is_the_whole_read("product_usage", tmp_path, tmp_path / "cache", monkeypatch, min_pieces=8)
    assert whole["_source_line"].tolist() == list(range(1, 66))
    assert whole["date"].iloc[0] == pd.Timestamp("2025-01-01")  # the BOM is not part of the first column's name


def test_a_bad_line_and_bytes_that_are_not_utf8_in_middle_pieces_make_every_piece_exact(
        write, tmp_path: Path, tiny_pieces, monkeypatch, caplog) -> None:
    """Those lines send the whole read through the csv module (which strips every value): the pieces
    read before them are read again in that mode, so even a padded quoted value of the first piece,
    which Arrow would keep padded, comes out as the whole read has it."""
    body = (_usage_rows(3) + '2025-01-09,acc_1," u1 ",login,1\n' + _usage_rows(40, 3)
            + "2025-02-01,acc_1,u1,login,1,EXTRA\n" + _usage_rows(40, 43))
    path = tmp_path / "product/usage_daily.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes((USAGE_HEADER + body).encode() + b"2025-03-01,acc_\xff,u1,login,2\n" + _usage_rows(20, 83).encode())
    with caplog.at_level(logging.INFO, logger=landing.__name__):
        whole = _assert_pieced_read_is_the_whole_read("product_usage", tmp_path, tmp_path / "cache", monkeypatch, min_pieces=4)
    assert "read again in pieces as TextMode(exact=True" in caplog.text
    errors = whole.set_index("_source_line")["_parse_errors"].dropna()
    assert errors.to_dict() == {
        45: '{"_line": "expected 5 fields, got 6: 2025-02-01,acc_1,u1,login,1,EXTRA"}',
        86: "{\"_line\": \"bytes that are not UTF-8 in account_id=b'acc_\\\\xff'\"}",
    }
    assert whole.loc[whole["_source_line"] == 4, "user_id"].item() == "u1"


def test_a_quoted_line_break_across_a_would_be_cut_stays_in_its_row(write, tmp_path: Path, tiny_pieces, monkeypatch) -> None:
    # Quoted fields with line breaks and doubled quotes; the pieces (256 bytes) would cut them mid-field.
    rows = "".join(f'2025-01-{1 + i % 28:02d},"acc\n{i}","u ""{i}""",login,{i % 3}\n' for i in range(40))
    sources = write("product/usage_daily.csv", USAGE_HEADER + rows)
    whole = _assert_pieced_read_is_the_whole_read("product_usage", sources, tmp_path / "cache", monkeypatch, min_pieces=4)
    assert whole["account_id"].tolist() == [f"acc\n{i}" for i in range(40)]
    assert whole["user_id"].iloc[7] == 'u "7"'
    assert whole["_source_line"].tolist() == list(range(1, 41))


def test_padded_fields_in_a_late_piece_strip_every_piece(write, tmp_path: Path, tiny_pieces, monkeypatch, caplog) -> None:
    """A whole read strips every value once any field is padded: a quoted padded value of the first
    piece (which alone would not be stripped) is stripped too."""
    rows = '2025-01-02,acc_1," u1 ",login,1\n' + _usage_rows(40) + "2025-02-03 , acc_2 ,u2,login, 4\n" + _usage_rows(10, 40)
    sources = write("product/usage_daily.csv", USAGE_HEADER + rows)
    with caplog.at_level(logging.INFO, logger=landing.__name__):
        whole = _assert_pieced_read_is_the_whole_read("product_usage", sources, tmp_path / "cache", monkeypatch, min_pieces=4)
    assert "TextMode(exact=False, strip=True)" in caplog.text
    assert whole["user_id"].iloc[0] == "u1"
    padded = whole.loc[whole["_source_line"] == 42]
    assert padded[["account_id", "event_count"]].values.tolist() == [["acc_2", 4]]
    assert padded["date"].item() == pd.Timestamp("2025-02-03")


def test_a_missing_column_warns_once_and_the_numbering_goes_on(write, tmp_path: Path, tiny_pieces, monkeypatch) -> None:
    # web sessions without their campaign column, and a timestamp that does not parse in a late piece.
    rows = "".join(f"2025010{1 + i % 9},{1735689600000000 + i * 1000000},v{i},{i},google,cpc\n" for i in range(40))
    sources = write("web/sessions.csv", SESSIONS_HEADER.replace(",session_campaign", "") + rows + "20250301,soon,v99,99,bing,organic\n")
    whole = _assert_pieced_read_is_the_whole_read("web_sessions", sources, tmp_path / "cache", monkeypatch, min_pieces=4)
    _, messages = _captured(lambda: read_source_table("web_sessions", sources))
    assert len(messages) == 1 and "session_campaign" in messages[0][1]
    assert whole["_source_line"].iloc[-1] == 41 and whole["_parse_errors"].iloc[-1] == '{"started_at": "soon"}'
    assert pd.isna(whole["started_at"].iloc[-1])  # event_date stands in for an empty timestamp only
    assert whole["started_at"].iloc[1] == pd.Timestamp("2025-01-01 00:00:01")


def test_a_timestamp_form_is_guessed_once_for_the_file(write, tmp_path: Path, tiny_pieces, monkeypatch) -> None:
    """'2024' reads as ISO text (2024-01-01) and as unix seconds (00:33:44 on 1970-01-01): the whole
    read guesses unix numbers from the file's first values, and so does every piece, even one whose
    own first values are ISO text."""
    header = "id,subscription,status,valid_from,valid_to\n"
    numeric = "".join(f"s{i},sub_{i},active,{1735689600 + i},\n" for i in range(30))
    iso = "".join(f"s{i},sub_{i},active,2025-02-{1 + i % 28:02d},2024\n" for i in range(30, 60))
    sources = write("billing/subscription_status_history.csv", header + numeric + iso)
    whole = _assert_pieced_read_is_the_whole_read("billing_subscription_status_history", sources, tmp_path / "cache",
                                                  monkeypatch, min_pieces=4)
    assert set(whole["valid_to"].dropna()) == {pd.Timestamp("1970-01-01 00:33:44")}


@pytest.mark.parametrize("text", ["", USAGE_HEADER, "\n\n   \n"], ids=["empty", "header only", "blank"])
def test_files_without_rows(write, tmp_path: Path, tiny_pieces, monkeypatch, text: str) -> None:
    tiny_pieces(2)
    sources = write("product/usage_daily.csv", text)
    whole, whole_warnings = _captured(lambda: read_source_table("product_usage", sources))
    (frame, times), cold_warnings = _captured(lambda: landing.read_landed("product_usage", sources, tmp_path / "cache",
                                                                          (dt.date(2025, 1, 1), dt.date(2025, 2, 1)), NOW))
    landing.wait_for_stores()  # an empty or blank file is read whole and stored on a thread of its own
    assert len(frame) == 0 and times is not None and len(times) == 0
    pd.testing.assert_frame_equal(frame, whole)
    assert cold_warnings == whole_warnings


def test_a_header_only_file_is_one_piece_with_the_headers_warnings(write, tmp_path: Path, tiny_pieces, monkeypatch) -> None:
    sources = write("product/usage_daily.csv", "date,account_id,event\n")
    tiny_pieces(4)
    _assert_pieced_read_is_the_whole_read("product_usage", sources, tmp_path / "cache", monkeypatch, min_pieces=1)
    _, messages = _captured(lambda: read_source_table("product_usage", sources))
    assert any("user_id" in m for _, m in messages)


def test_a_window_read_is_served_from_the_pieced_cache(write, tmp_path: Path, tiny_pieces) -> None:
    sources = write("product/usage_daily.csv", USAGE_HEADER + _usage_rows(60) + "not a date,acc_1,u1,login,1\n")
    whole = read_source_table("product_usage", sources)
    feb = (dt.date(2025, 2, 1), dt.date(2025, 3, 1))
    cold, cold_times = landing.read_landed("product_usage", sources, tmp_path / "cache", feb, NOW)
    warm, warm_times = landing.read_landed("product_usage", sources, tmp_path / "cache", feb, NOW)
    in_feb = whole[(whole["date"] >= "2025-02-01") & (whole["date"] < "2025-03-01") | whole["date"].isna()]
    pd.testing.assert_frame_equal(cold, in_feb.reset_index(drop=True))
    pd.testing.assert_frame_equal(warm, cold)
    assert cold_times is not None and warm_times is not None
    assert cold_times.tolist() == warm_times.tolist() == whole["date"].tolist()


def test_the_cache_file_has_whole_row_groups(write, tmp_path: Path, tiny_pieces, monkeypatch) -> None:
    """The pieces (a few rows each) are written as row groups of ROW_GROUP_ROWS, as a whole write makes them."""
    monkeypatch.setattr(landing, "ROW_GROUP_ROWS", 7)
    sources = write("product/usage_daily.csv", USAGE_HEADER + _usage_rows(52))
    landing.read_landed("product_usage", sources, tmp_path / "cache", None, NOW)
    (parquet,) = (tmp_path / "cache").glob("product_usage-*.parquet")
    metadata = pq.ParquetFile(parquet).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [7] * 7 + [3]


@pytest.mark.parametrize("rows", [
    '2025-01-01,acc_1,5" screen,login,1\n',  # a quote inside an unquoted field
    '2025-01-01,acc_1,"u1"x,login,1\n',  # text after a closing quote
], ids=["stray quote", "text after a quote"])
def test_a_file_quote_parity_cannot_cut_is_read_whole(write, tmp_path: Path, tiny_pieces, caplog, rows: str) -> None:
    sources = write("product/usage_daily.csv", USAGE_HEADER + _usage_rows(30) + rows + _usage_rows(30, 30))
    whole = read_source_table("product_usage", sources)
    with caplog.at_level(logging.INFO, logger=landing.__name__):
        frame, _ = landing.read_landed("product_usage", sources, tmp_path / "cache", None, NOW)
    landing.wait_for_stores()
    assert "read whole" in caplog.text and "quote" in caplog.text
    pd.testing.assert_frame_equal(frame, whole)
    assert not list((tmp_path / "cache").glob(".*.tmp"))  # the abandoned piece file is gone


def test_a_reader_that_opens_another_file_is_read_whole(write, tmp_path: Path, tiny_pieces, caplog) -> None:
    """Invoice lines take their invoice's customer from invoices.csv, which every piece would read again."""
    write("billing/invoices.csv", "id,customer,status,created,currency,total\n" + "".join(
        f"in_{i},cus_{i},paid,1735689600,usd,100\n" for i in range(5)))
    sources = write("billing/invoice_lines.csv", "id,invoice,currency,amount,type\n" + "".join(
        f"il_{i},in_{i % 5},usd,{i * 100},subscription\n" for i in range(40)))
    with caplog.at_level(logging.INFO, logger=landing.__name__):
        (frame, _), cold_warnings = _captured(lambda: landing.read_landed("billing_invoice_lines", sources,
                                                                          tmp_path / "cache", None, NOW))
    landing.wait_for_stores()
    assert "its reader also reads billing/invoices.csv" in caplog.text
    whole, whole_warnings = _captured(lambda: read_source_table("billing_invoice_lines", sources))
    pd.testing.assert_frame_equal(frame, whole)
    assert cold_warnings == whole_warnings and len(whole_warnings) == 2  # both files lack optional columns
    assert frame["customer_id"].tolist()[:6] == ["cus_0", "cus_1", "cus_2", "cus_3", "cus_4", "cus_0"]


def test_an_unwritable_cache_reads_the_file_whole(write, tmp_path: Path, tiny_pieces, monkeypatch, caplog) -> None:
    sources = write("product/usage_daily.csv", USAGE_HEADER + _usage_rows(40))

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(landing.pq, "ParquetWriter", refuse)
    monkeypatch.setattr(landing, "_store", refuse)
    with caplog.at_level(logging.INFO, logger=landing.__name__):
        frame, _ = _captured(lambda: landing.read_landed("product_usage", sources, tmp_path / "cache", None, NOW))[0]  # type: ignore[misc]
    landing.wait_for_stores()
    assert "reading it whole" in caplog.text
    pd.testing.assert_frame_equal(frame, read_source_table("product_usage", sources))


def test_split_pieces_cut_whole_rows_after_an_even_count_of_quotes(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    body = b'a,"x\n""y""\n",1\n' * 20 + b'b,"",2\n' * 20 + b"c,z,3"  # no line end at the end
    path.write_bytes(b"k,v,n\r\n" + body)
    cut = list(pieces.split_pieces(path, 16))
    assert len(cut) > 10 and all(piece.startswith(b"k,v,n\r\n") for piece in cut)
    assert b"".join(piece[len(b"k,v,n\r\n"):] for piece in cut) == body
    assert all(piece.count(b'"') % 2 == 0 and piece.endswith((b"\n", b"3")) for piece in cut)


def test_a_stray_quote_is_found_in_the_first_buffer_not_at_the_end_of_the_file(tmp_path: Path) -> None:
    """A quote inside an unquoted field makes the parity odd at every later line end: the file is
    rejected when the buffer holding it is checked, not after the buffer has grown to the whole file."""
    path = tmp_path / "f.csv"
    path.write_bytes(b"k,v\n" + b'a,5" screen\n' + b"b,c\n" * 10_000)
    reads: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        handle = real_open(self, *args, **kwargs)  # type: ignore[call-overload]
        read = handle.read

        def counted(n: int = -1) -> bytes:
            reads.append(n)
            return read(n)

        handle.read = counted
        return handle

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(Path, "open", counting_open)
        with pytest.raises(pieces.NotSplittable, match="quote"):
            next(pieces.split_pieces(path, 64))
    assert reads == [64]


@pytest.mark.parametrize(("data", "final", "expected"), [
    (b'a,"b",c\n', False, True),
    (b'"a ""q"" b",c\n', False, True),
    (b'a,"",c\n"x"', True, True),
    (b'a,"",c\n"x"', False, False),  # a closing quote that is the last byte of a piece that is not the last
    (b'a,b"c,d\n', True, False),
    (b'a,"b"c,d\n', True, False),
    (b'a, "b",d\n', True, False),
])
def test_quotes_are_structural(data: bytes, final: bool, expected: bool) -> None:
    assert pieces._quotes_are_structural(np.frombuffer(data, dtype=np.uint8), final=final) is expected


def test_every_one_file_table_of_a_generated_company_reads_the_same_in_pieces(small_sources: Path, tmp_path: Path,
                                                                             monkeypatch) -> None:
    """Each table whose input is one native file, cut into about four pieces, against its whole read
    (invoice lines go whole: their reader opens invoices.csv)."""
    pieced = []
    for table in READERS:
        files = input_files(table, small_sources)
        path = small_sources / files[0]
        if len(files) != 1 or not path.is_file() or table == "billing_invoice_lines":
            continue
        clear_cache()
        monkeypatch.setattr(pieces, "PIECE_BYTES", max(path.stat().st_size // 4, 64))
        _assert_pieced_read_is_the_whole_read(table, small_sources, tmp_path / table, monkeypatch)
        pieced.append(table)
    assert {"product_usage", "web_sessions", "billing_invoices", "crm_contacts"} <= set(pieced)
    assert len(pieced) >= len(NATIVE_FILES_OF) - 6
