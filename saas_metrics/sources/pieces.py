"""One big native export read a piece at a time, each piece giving exactly its rows of a whole read.

Parsing a whole export holds its text, its parsed columns and the canonical frame at once: about
3 GB for the 658 MB usage export of the large bench. :func:`canonical_pieces` cuts the file into
pieces of about :data:`PIECE_BYTES` at line ends outside quoted fields, each piece prefixed with
the file's header line (its BOM included, so every piece is read as the file would be), and runs
the table's own reader on each piece (:class:`~saas_metrics.sources.files.TextPiece`): the peak
then follows the piece, not the file.

What makes a piece's rows those of the whole read:

- **Row boundaries.** A line end is a row end when the number of ``"`` bytes before it is even
  (a ``""`` escape keeps the parity). That holds when every quote is where RFC 4180 puts one: an
  opening quote at a field's start, a closing one at its end, or a doubled quote inside. A quote
  elsewhere (``5" screen`` in an unquoted field), which the parsers keep as a character, would
  mislead the count: such a file (:class:`NotSplittable`) is read whole, as before. So are files
  whose first line is no header line (blank, a quoted field spanning lines, a bare ``\\r``).
- **One way of parsing for the file.** :func:`saas_metrics.sources.files._read_text` picks, for the
  whole file, Arrow's parser or the exact csv-module path (a line with the wrong number of fields,
  a quoted field spanning lines, bytes that are not UTF-8 anywhere), and strips blanks around every
  value when any field is padded. A piece cannot know what later pieces hold, so the pieces are
  read with a :class:`TextMode` that starts as Arrow without stripping; a piece that needs more
  raises :class:`ModeChanged` and the caller reads the file again from its first piece in the new
  mode (at most twice: strip, then exact).
- **Numbering.** ``_source_line`` goes on from the previous pieces' rows (blank lines are skipped
  in both paths, as in a whole read); line errors and ``_parse_errors`` are per row.
- **Guesses.** A timestamp column's form (unix number or ISO text) is guessed in the first piece
  and kept for the others (:data:`~saas_metrics.sources.files.FormGuesses`).

The table's reader must map each row on its own (every reader of this package does). A reader that
opens another native file too (invoice lines take their invoice's customer and dates from
invoices.csv) would read that file again for every piece: such a table is read whole.
"""

from __future__ import annotations

import codecs
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from saas_metrics.sources.files import (
    FormGuesses,
    TextPiece,
    _has_padded_fields,
    _lines_have_header_width,
    _parse_as_text,
    _read_with_csv_module,
    _strip_values,
    reading_piece,
)
from saas_metrics.sources.notices import collecting_notices
from saas_metrics.sources.registry import read_source_table

#: About how many bytes of rows one piece holds (the pieces' peak memory follows it). A file is read
#: in pieces when it is larger than this.
PIECE_BYTES = 16 * 1024 * 1024
#: The longest header line looked for (a file whose first line is longer is read whole).
_MAX_HEADER_BYTES = 1024 * 1024
_QUOTE, _COMMA, _LF, _CR = 34, 44, 10, 13


class NotSplittable(Exception):
    """The file cannot be cut at row boundaries found by quote parity: read it whole."""


@dataclass(frozen=True)
class TextMode:
    """How every piece of a file is parsed: the choice a whole read makes once for the file."""

    exact: bool = False  #: the csv module's exact path (it strips every value)
    strip: bool = False  #: Arrow's parser, blanks around values stripped


class ModeChanged(Exception):
    """A piece needs another :class:`TextMode` than the one the earlier pieces were read in."""

    def __init__(self, mode: TextMode) -> None:
        super().__init__(f"read again as {mode}")
        self.mode = mode


def parse_piece(data: bytes, mode: TextMode) -> tuple[pd.DataFrame, dict[int, str]]:
    """A piece's text rows as :func:`~saas_metrics.sources.files._read_text` reads a file in ``mode``;
    :class:`ModeChanged` when the piece shows the file needs a stronger mode."""
    if mode.exact:
        return _read_with_csv_module(data)
    if b'"' in data and not _lines_have_header_width(data):
        raise ModeChanged(TextMode(exact=True))
    try:
        frame = _parse_as_text(data)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        raise ModeChanged(TextMode(exact=True)) from None
    if not mode.strip and _has_padded_fields(data):
        raise ModeChanged(TextMode(strip=True))
    if mode.strip:
        _strip_values(frame)
    return frame, {}


def _header(handle: object, path: Path) -> bytes:
    """The file's first line with its line end (and BOM): what every piece starts with."""
    header = handle.readline(_MAX_HEADER_BYTES)  # type: ignore[attr-defined]
    body = header[len(codecs.BOM_UTF8):] if header.startswith(codecs.BOM_UTF8) else header
    if not header.endswith(b"\n") or not body.strip():
        raise NotSplittable(f"{path}: no header line")
    line = body[:-2] if body.endswith(b"\r\n") else body[:-1]
    if b"\r" in line or not _quotes_are_structural(np.frombuffer(line, dtype=np.uint8), final=True):
        raise NotSplittable(f"{path}: its header line is not one plain CSV line")
    if body.count(b'"') % 2:
        raise NotSplittable(f"{path}: its header has a quoted field spanning lines")
    return header


def _quotes_are_structural(raw: np.ndarray, *, final: bool) -> bool:
    """Whether every ``"`` of ``raw`` (bytes starting at a row's start) sits where RFC 4180 puts one,
    so that quote parity tells quoted text from row ends: a quote at an even position in the count
    opens a field (after a comma, a line end or the start) or is the second of a doubled quote; one
    at an odd position closes a field (before a comma, a line end or, in the ``final`` piece, the
    end) or is the first of a doubled quote."""
    quotes = np.flatnonzero(raw == _QUOTE)
    n = len(quotes)
    if not n:
        return True
    follows_quote = np.zeros(n, dtype=bool)
    follows_quote[1:] = quotes[1:] == quotes[:-1] + 1
    before = np.where(quotes > 0, raw[np.maximum(quotes - 1, 0)], _LF)
    opens = (before == _COMMA) | (before == _LF) | (before == _CR) | follows_quote
    precedes_quote = np.zeros(n, dtype=bool)
    precedes_quote[:-1] = follows_quote[1:]
    at_end = quotes == len(raw) - 1
    after = raw[np.minimum(quotes + 1, len(raw) - 1)]
    closes = (after == _COMMA) | (after == _LF) | (after == _CR) | precedes_quote | (at_end & final)
    closes[at_end & ~final] = False
    even = np.arange(n) % 2 == 0
    return bool(np.all(np.where(even, opens, closes)))


def _row_end(buffer: bytes) -> int:
    """The offset just after the last line end of ``buffer`` that ends a row (an even number of
    quotes before it), or 0 when none does; :class:`NotSplittable` when a quote is misplaced."""
    last = buffer.rfind(b"\n")
    if last < 0 or b'"' not in buffer:
        return last + 1
    raw = np.frombuffer(buffer, dtype=np.uint8)
    quotes = np.flatnonzero(raw == _QUOTE)
    end = last
    while end >= 0 and np.searchsorted(quotes, end) % 2:
        end = buffer.rfind(b"\n", 0, end)
    # Checked up to the last line end even when no row ends there: a stray quote would otherwise make
    # the parity odd up to the end of the file, and the buffer grow to all of it before being rejected.
    if not _quotes_are_structural(raw[:(end if end >= 0 else last) + 1], final=False):
        raise NotSplittable("a quote inside an unquoted field: quote parity cannot find the rows")
    return end + 1


def split_pieces(path: Path, piece_bytes: int | None = None) -> Iterator[bytes]:
    """The file as pieces of about ``piece_bytes`` (default :data:`PIECE_BYTES`), each the header
    line followed by whole rows; together they hold every row once, in order. Raises
    :class:`NotSplittable` (before or while yielding) for a file that must be read whole."""
    size = piece_bytes or PIECE_BYTES
    with path.open("rb") as handle:
        header = _header(handle, path)
        pending = b""
        yielded = 0
        while True:
            chunk = handle.read(size)
            at_end = len(chunk) < size
            pending = pending + chunk if pending else chunk
            del chunk  # else the buffer would live on beside its piece
            if at_end:
                if not _quotes_are_structural(np.frombuffer(pending, dtype=np.uint8), final=True):
                    raise NotSplittable(f"{path}: a quote inside an unquoted field")
                if pending or not yielded:  # a header-only file is one piece: no rows, the header's warnings
                    last = [b"".join((header, pending))]
                    del pending
                    yield last.pop()
                return
            cut = _row_end(pending)
            if cut:
                # Handed over without a reference kept here, and the buffer it came from dropped before:
                # while the caller parses a piece, this generator holds only the next piece's start.
                piece = [b"".join((header, memoryview(pending)[:cut]))]
                pending = pending[cut:]
                yielded += 1
                yield piece.pop()


@dataclass(frozen=True)
class CanonicalPiece:
    """One piece's canonical rows and the warnings its read raised."""

    frame: pd.DataFrame
    caught: list[warnings.WarningMessage]


def canonical_pieces(table: str, sources_dir: Path, relative: str, mode: TextMode,
                     piece_bytes: int | None = None) -> Iterator[CanonicalPiece]:
    """The canonical rows of ``table`` read piece by piece from its one native file ``relative``
    (in ``mode``): each piece is read by :func:`~saas_metrics.sources.registry.read_source_table`
    while the piece stands for the file. Raises :class:`ModeChanged` (start again in its mode) and
    :class:`NotSplittable` (read the file whole)."""
    path = (Path(sources_dir) / relative).resolve()
    size = piece_bytes or PIECE_BYTES
    if mode.exact:
        size = max(size // 4, 1)  # the csv module's rows are Python lists of Python strings: several times the text
    guesses: FormGuesses = {}
    first_line = 1
    for data in split_pieces(path, size):
        text, line_errors = parse_piece(data, mode)
        del data
        piece = TextPiece(path, text, line_errors, first_line, guesses)
        with collecting_notices() as caught, reading_piece(piece):
            frame = read_source_table(table, sources_dir)
        if not piece.opened:
            raise NotSplittable(f"{table}: its reader did not read {relative} as a native file")
        if piece.other_files:  # read again for every piece (invoice lines take their invoice's fields)
            raise NotSplittable(f"{table}: its reader also reads {', '.join(dict.fromkeys(piece.other_files))}")
        first_line += len(text)
        del text, piece
        yield CanonicalPiece(frame, caught)
