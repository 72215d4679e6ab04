"""Reading native CSV exports: every value as text, nothing lost, lineage kept.

A native file is read with every column as text ('' -> null). A line with the
wrong number of fields is kept as a row (missing fields null, extra fields
dropped) whose ``_parse_errors`` says so under the key ``_line``. Typed columns are
parsed by :class:`NativeTable`; a value that fails to parse becomes null and its
original text is recorded in ``_parse_errors`` as JSON ``{canonical column: text}``.
Every row carries ``_source_file`` (path relative to the sources folder) and
``_source_line`` (1-based data line, header excluded; blank lines are skipped).
A missing file gives an empty canonical frame and a warning naming the source
system; an empty file (zero bytes or header only) an empty frame.

A big file may be read a piece at a time (:mod:`saas_metrics.sources.pieces`): while a
:class:`TextPiece` is active (:func:`reading_piece`), :func:`open_native` gives that piece's rows
for its file, numbered on from the rows of the pieces before it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from saas_metrics.sources import exports
from saas_metrics.sources.drift import MissingColumn, MissingColumnsWarning, required_columns
from saas_metrics.sources.notices import notify
from saas_metrics.tables import TableSchema, coerce_frame, naive_ns

logger = logging.getLogger(__name__)

LINE_ERROR_KEY = "_line"
_NUMERIC = r"[+-]?\d+(?:\.\d+)?"
_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}
_CACHE: OrderedDict[tuple[str, int, int], tuple[pd.DataFrame, dict[int, str]]] = OrderedDict()
_CACHE_SIZE = 6
_CACHE_MAX_BYTES = 32 * 1024 * 1024


_SURROGATE = re.compile("[\udc80-\udcff]")
# A 200 KB notes field is data, not an error: the csv module's default limit is 128 KiB.
csv.field_size_limit(2**31 - 1)


class SourceFileMissing(UserWarning):
    """A source system's landing file is absent; its table is read as empty."""


def _has_padded_fields(data: bytes) -> bool:
    """Whether any field may start or end with a blank (then values are stripped): a blank at either
    end of the data, after a comma or newline, or before a comma or line end (vectorised over the bytes)."""
    if b" " not in data and b"\t" not in data:
        return False  # the usual case, found at memchr speed
    raw = np.frombuffer(data, dtype=np.uint8)
    blank = (raw == 32) | (raw == 9)
    if blank[0] or blank[-1]:
        return True
    if not blank.any():
        return False
    opens = (raw[:-1] == 44) | (raw[:-1] == 10)
    closes = (raw[1:] == 44) | (raw[1:] == 10) | (raw[1:] == 13)
    return bool((opens & blank[1:]).any() or (blank[:-1] & closes).any())


def map_distinct(values: pd.Series, parse: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``parse`` applied to the distinct values of ``values`` only, broadcast back to every row
    (nulls stay null). A column of millions of rows usually repeats a few thousand values (dates,
    counts, codes), and parsing text is the slow part; with mostly distinct values it is parsed as is."""
    if isinstance(values.dtype, pd.StringDtype):
        # Arrow-backed text is factorised by Arrow: no Python string is made per row (for millions of
        # event rows that was the step's largest transient memory, and glibc kept much of it).
        codes, text_uniques = pd.factorize(values, use_na_sentinel=True)
        uniques = np.asarray(text_uniques, dtype=object)
    else:
        codes, uniques = pd.factorize(values.to_numpy(dtype=object, na_value=None), use_na_sentinel=True)
    if len(uniques) * 2 > len(values):
        return parse(values)
    parsed = parse(pd.Series(uniques, dtype=object))
    return pd.Series(parsed.array.take(codes, allow_fill=True), index=values.index, name=values.name)


def _to_object(frame: pd.DataFrame, *, strip: bool) -> pd.DataFrame:
    """Object columns, None for empty; values stripped of surrounding blanks when ``strip``."""
    out = {}
    for col in frame.columns:
        values = np.array(frame[col].to_numpy(dtype=object, na_value=None), dtype=object, copy=True)
        if strip:
            values = np.array([v.strip() if isinstance(v, str) else v for v in values], dtype=object)
        values[values == ""] = None
        out[col] = values
    return pd.DataFrame(out, columns=list(frame.columns))


def _decode(data: bytes) -> str:
    """UTF-8 text (BOM removed); bytes that are not UTF-8 become lone surrogates (found per row later)."""
    return data.decode("utf-8-sig", errors="surrogateescape")


def _undecodable(row: list[str], header: list[str]) -> str | None:
    """A line error naming the fields holding bytes that are not UTF-8 (None when clean); the row's
    values are repaired in place (U+FFFD), so the row can be stored and quarantined."""
    bad = []
    for i, value in enumerate(row):
        if _SURROGATE.search(value):
            raw = value.encode("utf-8", errors="surrogateescape")
            row[i] = raw.decode("utf-8", errors="replace")
            bad.append(f"{header[i] if i < len(header) else f'field {i + 1}'}={raw[:60]!r}")
    return f"bytes that are not UTF-8 in {', '.join(bad)}" if bad else None


def _read_with_csv_module(data: bytes) -> tuple[pd.DataFrame, dict[int, str]]:
    """Exact path: any line with the wrong number of fields, or with bytes that are not UTF-8, is kept and flagged."""
    text = _decode(data)
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if not rows:
        return pd.DataFrame(), {}
    header, body = rows[0], rows[1:]
    if any(_SURROGATE.search(name) for name in header):
        header = [name.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace") for name in header]
    width = len(header)
    errors: dict[int, str] = {}
    fixed: list[list[str]] = []
    for i, row in enumerate(body):
        undecodable = _undecodable(row, header)
        if len(row) != width:
            errors[i] = f"expected {width} fields, got {len(row)}: {','.join(row)}"
            row = (row + [""] * width)[:width]
        if undecodable:
            errors[i] = f"{errors[i]}; {undecodable}" if i in errors else undecodable
        fixed.append(row)
    frame = pd.DataFrame(fixed, columns=header, dtype=object) if fixed else pd.DataFrame(columns=header, dtype=object)
    return _to_object(frame, strip=True), errors


def _lines_have_header_width(data: bytes) -> bool:
    """True when every non-blank line parses (alone) to as many fields as the header; a quoted
    field spanning lines answers False."""
    width: int | None = None
    for line in _decode(data).splitlines():
        if not line:
            continue
        if line.count('"') % 2:
            return False
        count = len(next(csv.reader([line])))
        if width is None:
            width = count
        elif count != width:
            return False
    return True


def _unique_names(header: list[str]) -> list[str]:
    """Repeated column names renamed as pandas' parser does: 'a', 'a.1', 'a.2'."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}.{n}")
    return out


def _parse_as_text(data: bytes) -> pd.DataFrame:
    """Every column as pandas' Arrow-backed text, only '' null, blank lines skipped. Arrow's CSV
    reader parses on every core straight into Arrow strings, where pandas' C parser makes Python
    strings that then have to be converted to Arrow. Raises ``pyarrow.ArrowInvalid`` on a line with
    another number of fields than the header."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    newline = data.find(b"\n", start)
    first_line = data[start:] if newline < 0 else data[start:newline]  # not split(): that copies the rest of the file
    header = _unique_names(next(csv.reader([first_line.decode("utf-8").rstrip("\r")]), []))
    # Arrow reads the bytes where they are (no copy without the BOM either), straight into the large
    # strings of pandas' text dtype (Arrow's default small strings were converted: another copy).
    table = pa_csv.read_csv(
        pa.BufferReader(pa.py_buffer(data).slice(start)),
        read_options=pa_csv.ReadOptions(column_names=header, skip_rows=1),
        parse_options=pa_csv.ParseOptions(ignore_empty_lines=True),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.large_string()), null_values=[""],
                                              strings_can_be_null=True, quoted_strings_can_be_null=True),
    )
    text = pd.api.types.pandas_dtype("str")
    return pd.DataFrame({name: pd.Series(column, dtype=text) for name, column in zip(header, table.columns, strict=True)},
                        columns=header)


def _read_text(path: Path) -> tuple[pd.DataFrame, dict[int, str]]:
    """All columns as text (None for empty, surrounding blanks removed) and {row position: line error}."""
    data = path.read_bytes()
    if not data.strip():
        return pd.DataFrame(), {}
    # With quotes a field may span lines (its row would not be one line): those files are checked line
    # by line. Any other line with the wrong number of fields makes Arrow's parser stop.
    if b'"' in data and not _lines_have_header_width(data):
        return _read_with_csv_module(data)
    try:
        frame = _parse_as_text(data)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        # The exact path keeps and flags the bad lines (wrong number of fields, bytes that are not UTF-8).
        return _read_with_csv_module(data)
    if _has_padded_fields(data):
        _strip_values(frame)
    return frame, {}


def _strip_values(frame: pd.DataFrame) -> None:
    """Blanks around every text value of ``frame`` removed in place ('' after stripping -> null)."""
    for col in frame.columns:
        stripped = frame[col].str.strip()
        frame[col] = stripped.where(stripped != "")


def read_text_csv(path: Path) -> tuple[pd.DataFrame, dict[int, str]]:
    """Cached :func:`_read_text` (keyed by path, size and modification time)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        frame, errors = _CACHE[key]
    else:
        frame, errors = _read_text(path)
        # Big event files are read by one table only: keeping their text would hold gigabytes for the run.
        if stat.st_size <= _CACHE_MAX_BYTES:
            _CACHE[key] = (frame, errors)
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return frame.copy(deep=False), dict(errors)


def clear_cache() -> None:
    _CACHE.clear()


def _from_numbers(text: pd.Series, unit: str | None) -> pd.Series:
    """Unix numbers (``unit`` s/ms/us, or told apart by magnitude) -> timestamps; NaT where not a number.

    Whole numbers are scaled to nanoseconds in integer arithmetic (float64 would put errors of
    up to a microsecond on epoch milliseconds); fractional ones go through float."""
    values = pd.to_numeric(text, errors="coerce").astype(float)
    if unit is None:
        magnitude = values.abs()
        scale = np.where(magnitude < 1e11, 10**9, np.where(magnitude < 1e14, 10**6, 10**3)).astype("int64")
    else:
        scale = np.full(len(values), {"s": 10**9, "ms": 10**6, "us": 10**3}[unit], dtype="int64")
    finite = (values.notna() & (values.abs() * scale < 9.2e18)).to_numpy()
    raw = values.to_numpy()
    whole = finite & (raw == np.round(raw)) & (np.abs(raw) < 2**53)
    fractional = finite & ~whole
    # Plain numpy int64 throughout: pandas' nullable Int64 assignment goes through float.
    nanos = np.zeros(len(raw), dtype="int64")
    nanos[whole] = raw[whole].astype("int64") * scale[whole]
    nanos[fractional] = np.round(raw[fractional] * scale[fractional]).astype("int64")
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    out[finite] = pd.to_datetime(nanos[finite], unit="ns")
    return out


def _from_iso(text: pd.Series, unit: str | None = None) -> pd.Series:
    """ISO 8601 text -> naive UTC timestamps (``unit`` is unused: same signature as _from_numbers)."""
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    return naive_ns(parsed.dt.tz_localize(None))


#: (column, parser, unit) -> whether the column's values were guessed to be unix numbers
FormGuesses = dict[tuple[str, str, str | None], bool]


def _parse_timestamps(text: pd.Series, unit: str | None, guesses: FormGuesses | None = None,
                      key: tuple[str, str, str | None] = ("", "", None)) -> pd.Series:
    """Unix numbers (``unit`` s/ms/us, or by magnitude when None) or ISO 8601 text -> naive UTC.
    The column's usual form is guessed from its first values and tried first; values it cannot
    parse get the other form. The guess decides the few values that read both ways ('2024',
    '20240101'), so a file read in pieces makes it once, in its first piece: ``guesses`` keeps it
    under ``key`` for the pieces after."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    values = text[text.notna()]
    if values.empty:
        return out
    if guesses is not None and key in guesses:
        numeric_first = guesses[key]
    else:
        numeric_first = bool(values.head(20).astype(str).str.fullmatch(_NUMERIC).mean() >= 0.5)
        if guesses is not None:
            guesses[key] = numeric_first
    first, second = (_from_numbers, _from_iso) if numeric_first else (_from_iso, _from_numbers)
    parsed = first(values, unit)
    failed = parsed.isna()
    if failed.any():
        retry = values[failed]
        parsed.loc[failed] = second(retry, unit).to_numpy()
    out.loc[values.index] = parsed.to_numpy()
    return out


class NativeTable:
    """One native file's text rows, with parsers that record what failed."""

    def __init__(self, raw: pd.DataFrame, *, source_file: str, line_errors: Mapping[int, str] | None = None,
                 system: str = "", lineage: tuple[Sequence[str], Sequence[int]] | None = None,
                 first_line: int = 1, form_guesses: FormGuesses | None = None) -> None:
        self.raw = raw.reset_index(drop=True)
        self.source_file = source_file
        self.system = system
        # A piece of a file (TextPiece): the ``_source_line`` of its first row, and the timestamp
        # forms guessed in the file's first piece.
        self.first_line = first_line
        self.form_guesses = form_guesses
        # Rows gathered from several files (downloaded exports) name their own file and line.
        self.lineage = lineage
        self.errors: list[dict[str, str] | None] = [None] * len(self.raw)
        for row, message in (line_errors or {}).items():
            self.errors[row] = {LINE_ERROR_KEY: message}
        #: native column -> canonical target (None until known) of every column read but absent
        self._missing_columns: dict[str, str | None] = {}
        #: id of the all-null Series handed out for an absent column -> that column, so that
        #: :meth:`finish` learns the target of a column passed through unchanged
        self._null_series: dict[int, tuple[pd.Series, str]] = {}  # the Series kept: its id stays unique

    def __len__(self) -> int:
        return len(self.raw)

    def has(self, column: str) -> bool:
        return column in self.raw.columns

    def text(self, column: str, target: str | None = None) -> pd.Series:
        """The column's text (stripped at read time, None for empty); all null when the file lacks the
        column (recorded with the canonical ``target`` it feeds, see :mod:`saas_metrics.sources.drift`)."""
        if column not in self.raw.columns:
            if self._missing_columns.get(column) is None:
                self._missing_columns[column] = target
            nulls = pd.Series([None] * len(self.raw), index=self.raw.index, dtype=object)
            self._null_series[id(nulls)] = (nulls, column)
            return nulls
        return self.raw[column]

    def _record(self, target: str, text: pd.Series, parsed: pd.Series) -> None:
        failed = text.notna() & parsed.isna()
        for row in np.flatnonzero(failed.to_numpy()):
            errors = self.errors[row] or {}
            errors[target] = str(text.iat[row])
            self.errors[row] = errors

    def number(self, column: str, target: str, *, scale: float = 1.0) -> pd.Series:
        text = self.text(column, target)
        parsed = map_distinct(text, lambda v: pd.to_numeric(v, errors="coerce").astype(float))
        parsed = parsed.where(np.isfinite(parsed))
        self._record(target, text, parsed)
        return parsed * scale

    def integer(self, column: str, target: str) -> pd.Series:
        parsed = self.number(column, target)
        fractional = (parsed.notna() & (parsed != parsed.round())).to_numpy()
        if fractional.any():
            self._record(target, self.text(column).where(fractional, None), pd.Series(np.nan, index=parsed.index))
            parsed = parsed.where(~fractional)
        return parsed.round().astype("Int64")

    def timestamp(self, column: str, target: str, *, unit: str | None = None) -> pd.Series:
        text = self.text(column, target)
        key = (column, "timestamp", unit)
        parsed = map_distinct(text, lambda v: _parse_timestamps(v, unit, self.form_guesses, key))
        self._record(target, text, parsed)
        return parsed

    def date(self, column: str, target: str, *, fmt: str | None = None) -> pd.Series:
        text = self.text(column, target)
        if fmt is None:
            key = (column, "date", None)
            parsed = map_distinct(text, lambda v: _parse_timestamps(v, None, self.form_guesses, key).dt.normalize())
        else:
            parsed = map_distinct(text, lambda v: naive_ns(pd.to_datetime(v, format=fmt, errors="coerce")))
        self._record(target, text, parsed)
        return parsed

    def boolean(self, column: str, target: str) -> pd.Series:
        text = self.text(column, target)
        lowered = text.map(lambda v: v.lower() if isinstance(v, str) else v)
        parsed = lowered.map(lambda v: True if v in _TRUE else (False if v in _FALSE else None))
        self._record(target, text, parsed)
        return parsed.astype("boolean")

    def _warn_missing(self, columns: Mapping[str, Any], schema: TableSchema) -> None:
        notify(MissingColumnsWarning(_missing_in(self, columns, schema)), stacklevel=4)

    def finish(self, columns: Mapping[str, Any], schema: TableSchema) -> pd.DataFrame:
        """The canonical frame: ``columns`` (canonical name -> Series or scalar) + lineage, coerced to ``schema``."""
        if self._missing_columns and len(self.raw.columns):
            self._warn_missing(columns, schema)
        n = len(self.raw)
        data: dict[str, Any] = {}
        for name, values in columns.items():
            if isinstance(values, pd.Series):
                data[name] = values.reset_index(drop=True)
            else:
                data[name] = pd.Series([values] * n, dtype=object)
        # One file's rows name it as Arrow text built in one piece: a Python list of n references (and
        # its object copy) per lineage column was a large share of reading millions of event rows.
        text = pd.api.types.pandas_dtype("str")
        if self.lineage is None:
            data["_source_file"] = pd.Series(pa.repeat(pa.scalar(self.source_file, pa.large_string()), n), dtype=text)
            data["_source_line"] = pd.Series(np.arange(self.first_line, self.first_line + n), dtype="Int64")
        else:
            data["_source_file"] = pd.Series(list(self.lineage[0]), dtype=object)
            data["_source_line"] = pd.Series(self.lineage[1], dtype="Int64")
        failed = [(row, e) for row, e in enumerate(self.errors) if e]
        errors = pd.Series(pa.nulls(n, pa.large_string()), dtype=text)
        if failed:
            errors = errors.astype(object)
            errors.iloc[[row for row, _ in failed]] = [json.dumps(e, sort_keys=True) for _, e in failed]
        data["_parse_errors"] = errors
        frame = pd.DataFrame(data, index=pd.RangeIndex(n))
        return coerce_frame(frame, schema)


def _missing_in(table: NativeTable, columns: Mapping[str, Any], schema: TableSchema) -> tuple[MissingColumn, ...]:
    """The absent columns ``table`` was asked for, each with its target and whether it is required."""
    passed_through = {table._null_series[id(v)][1]: name for name, v in columns.items() if id(v) in table._null_series}
    required = required_columns(schema.name)
    out = []
    for column, target in table._missing_columns.items():
        target = target or passed_through.get(column)
        out.append(MissingColumn(system=table.system.split("/")[0] or "source", table=schema.name, source=table.source_file,
                                 column=column, target=target, required=target in required))
    return tuple(out)


def open_native(sources_dir: Path, relative: str, system: str, *, optional: bool = False) -> NativeTable | None:
    """The native file ``sources_dir/relative`` as a :class:`NativeTable`, or the downloaded exports that
    stand for it (:mod:`saas_metrics.sources.exports`); None (with a warning naming ``system``, or an
    info log when ``optional``) when neither exists."""
    exported = exports.native_from_exports(Path(sources_dir), relative)
    if exported is not None:
        named = ", ".join(dict.fromkeys(exported.source_files)) or relative
        return NativeTable(exported.frame, source_file=named, line_errors=exported.line_errors, system=system,
                           lineage=(exported.source_files, exported.source_lines))
    path = Path(sources_dir) / relative
    if not path.is_file():
        message = f"{system}: source file {path} not found; its table is read as empty"
        if optional:
            logger.info(message)
        else:
            notify(message, SourceFileMissing, stacklevel=3)
        return None
    piece = _PIECE.get()
    if piece is not None:
        if piece.path == path.resolve():
            piece.opened = True
            return NativeTable(piece.frame, source_file=relative, line_errors=piece.line_errors, system=system,
                               first_line=piece.first_line, form_guesses=piece.form_guesses)
        piece.other_files.append(relative)
    raw, line_errors = read_text_csv(path)
    return NativeTable(raw, source_file=relative, line_errors=line_errors, system=system)


@dataclass
class TextPiece:
    """Some consecutive rows of the native file at ``path`` (resolved) as text, as :func:`read_text_csv`
    would give them (``line_errors`` keyed by row position in the piece), standing for the whole file
    while :func:`reading_piece` is active: the table's reader then maps just these rows."""

    path: Path
    frame: pd.DataFrame
    line_errors: dict[int, str]
    first_line: int  #: the ``_source_line`` of the piece's first row
    form_guesses: FormGuesses = field(default_factory=dict)  #: shared by the pieces of one file
    opened: bool = False  #: set when a reader opened the piece (else it read something else)
    other_files: list[str] = field(default_factory=list)  #: other native files the reader opened meanwhile


_PIECE: ContextVar[TextPiece | None] = ContextVar("saas_metrics_native_piece", default=None)


@contextmanager
def reading_piece(piece: TextPiece) -> Iterator[TextPiece]:
    """Within the block, :func:`open_native` of ``piece.path`` gives the piece (a context variable:
    other threads, and other files, read as usual)."""
    token = _PIECE.set(piece)
    try:
        yield piece
    finally:
        _PIECE.reset(token)


def upper(series: pd.Series) -> pd.Series:
    """Text in upper case (currency codes); nulls stay null."""
    return series.map(lambda v: v.upper() if isinstance(v, str) else None)


def lower(series: pd.Series) -> pd.Series:
    return series.map(lambda v: v.lower() if isinstance(v, str) else None)


def concat_canonical(frames: list[pd.DataFrame], schema: TableSchema) -> pd.DataFrame:
    """Several canonical frames of one table as one (the empty schema frame when there are none)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return schema.empty_frame()
    return coerce_frame(pd.concat(frames, ignore_index=True), schema)
