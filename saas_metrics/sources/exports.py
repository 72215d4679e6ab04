"""CSV exports people download without an API key, read as the native files they stand for.

A user drops the files as downloaded into the system's folder (``billing/``, ``crm/``, ``ads/``)
under any name. Each file is recognised by its header row (a few lines of report title before
it are skipped, as Google Ads and LinkedIn write them) and mapped, with no hand editing, onto
the text of the native file it stands for (docs/sources.md): column names, major units ->
minor units (Stripe) or micros (Google Ads), the currency in a column name (Meta's
``Amount spent (EUR)``), ``<key> (metadata)`` columns -> ``metadata_<key>``, HubSpot labels
-> internal values (``Marketing Qualified Lead`` -> ``marketingqualifiedlead``), US dates ->
ISO. The canonical mapping itself stays in the source modules: a downloaded export and a file
in today's layout go through the same reader and give the same canonical table.

What an export does not have is built from what it has: Stripe's subscription export gives
one item version per subscription (its plan and quantity from start to end) and the prices
its plans refer to (merged under a prices export, whose rows win); its status history is
left empty, so the revenue engine derives it from the subscription's own columns and its
invoices, as it does for any subscription without history. Invoice line items set their
invoice's service period (Stripe's invoice-level period is the previous one); refunds take
their customer from the payments export.

Every format is one :class:`~saas_metrics.sources.export_formats.ExportFormat` declared as data
in :mod:`saas_metrics.sources.export_formats`; this module reads files with them.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from saas_metrics.sources.export_formats import (
    CURRENCY_SLOT,
    EXTRA,
    FORMATS,
    ExportFormat,
    iso_utc,
    normalise_name,
)

logger = logging.getLogger(__name__)

#: Folders whose files may be downloaded exports.
EXPORT_FOLDERS = ("billing", "crm", "ads")
#: Lines before the header row that are skipped (report titles, date ranges).
HEADER_SEARCH_RECORDS = 15
_METADATA = re.compile(r"^(?P<key>.+?)\s*\(metadata\)$", re.IGNORECASE)


class ExportFormatError(ValueError):
    """A downloaded file cannot be read: unknown header, or two files for one native file."""


# --- reading --------------------------------------------------------------------------------

@dataclass
class LoadedExport:
    """One downloaded file as native text (native column names, today's value forms)."""

    relative: str
    format: ExportFormat
    frame: pd.DataFrame
    line_errors: dict[int, str]
    lines: list[int]


@dataclass
class NativeText:
    """What the file reader needs to read exported rows as a native file."""

    frame: pd.DataFrame
    line_errors: dict[int, str]
    source_files: list[str]
    source_lines: list[int]


def _decode(data: bytes, errors: str = "strict") -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors=errors)  # Google Ads' "CSV for Excel"
    return data.decode("utf-8-sig", errors=errors)


def _records(text: str, delimiter: str, limit: int | None = None) -> list[list[str]]:
    return list(itertools.islice(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), limit))


def _find_header(text: str) -> tuple[ExportFormat | None, int, str, list[str]]:
    """(format, header record index, delimiter, header) of the first record among the first few that is a
    known format's header; without one, the first non-blank record as the header and no format."""
    fallback: tuple[int, str, list[str]] | None = None
    for delimiter in (",", "\t", ";"):
        records = _records(text, delimiter, HEADER_SEARCH_RECORDS)
        for index, record in enumerate(records):
            names = {normalise_name(c) for c in record}
            matching = [f for f in FORMATS if f.matches(names)]
            if matching:
                best = max(matching, key=lambda f: len(f.signature))
                return best, index, delimiter, record
            if fallback is None and any(c.strip() for c in record) and delimiter == ",":
                fallback = (index, delimiter, record)
    index, delimiter, record = fallback or (0, ",", [])
    return None, index, delimiter, record


_HEADERS: dict[tuple[str, int, int], tuple[ExportFormat | None, list[str]]] = {}


def identify(path: Path) -> tuple[ExportFormat | None, list[str]]:
    """The export format of the file at ``path`` (None if it is no known export) and its header (cached by stat)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HEADERS:
        with path.open("rb") as handle:
            head = handle.read(200_000)
        # The head may end inside a multi-byte character, and a bad byte further on is the reader's to report.
        fmt, _, _, header = _find_header(_decode(head, errors="replace"))
        _HEADERS[key] = (fmt, header)
    return _HEADERS[key]


def _column_lookup(header: list[str]) -> dict[str, int]:
    lookup: dict[str, int] = {}
    for i, name in enumerate(header):
        lookup.setdefault(normalise_name(name), i)
    return lookup


def _find_column(candidates: Sequence[str], lookup: Mapping[str, int]) -> tuple[int | None, str | None]:
    """Index of the first candidate present and the currency a '{CUR}' slot captured."""
    for candidate in candidates:
        wanted = normalise_name(candidate)
        if CURRENCY_SLOT.casefold() in wanted:
            pattern = re.compile(re.escape(wanted).replace(re.escape(CURRENCY_SLOT.casefold()), r"([a-z]{3})") + "$")
            for name, index in lookup.items():
                found = pattern.match(name)
                if found:
                    return index, found.group(1).upper()
        elif wanted in lookup:
            return lookup[wanted], None
    return None, None


def _data_rows(records: list[list[str]], width: int, fmt: ExportFormat, relative: str
               ) -> tuple[pd.DataFrame, list[int], dict[int, str]]:
    """The records after the header as text (None for empty), their data line numbers and line errors.
    Blank records are skipped; a record with another number of fields is kept and flagged (as for
    native files); summary rows ('Total: ...') of formats that write them are not data."""
    rows: list[list[str | None]] = []
    lines: list[int] = []
    line_errors: dict[int, str] = {}
    totals = line = 0
    for record in records:
        if not any(c.strip() for c in record):
            continue
        line += 1
        if fmt.total_rows and record[0].strip().lower().startswith("total"):
            totals += 1
            continue
        if len(record) != width:
            line_errors[len(rows)] = f"expected {width} fields, got {len(record)}: {','.join(record)}"
            record = (record + [""] * width)[:width]
        rows.append([c.strip() or None for c in record])
        lines.append(line)
    if totals:
        logger.info("%s: %d summary row(s) ('Total ...') of the %s are not data and were skipped", relative, totals, fmt.title)
    raw = pd.DataFrame(rows, columns=range(width), dtype=object) if rows else pd.DataFrame(columns=range(width), dtype=object)
    return raw, lines, line_errors


def _native_columns(raw: pd.DataFrame, header: list[str], fmt: ExportFormat, relative: str) -> pd.DataFrame:
    """The export's columns under their native names, converted to the native files' value forms."""
    lookup = _column_lookup(header)
    native: dict[str, pd.Series] = {}
    currency_in_header: str | None = None
    for column, candidates in fmt.columns.items():
        index, currency = _find_column(candidates, lookup)
        currency_in_header = currency_in_header or currency
        if index is not None:
            native[column] = raw[index].rename(column)
    if fmt.metadata:
        for index in lookup.values():
            match = _METADATA.match(header[index].strip())
            if match and f"metadata_{match.group('key')}" not in native:
                native[f"metadata_{match.group('key')}"] = raw[index]
    if fmt.currency_from_header and fmt.currency_from_header not in native and currency_in_header:
        native[fmt.currency_from_header] = pd.Series([currency_in_header] * len(raw), dtype=object)
    lacking = [c for c in fmt.columns if c not in native and c not in fmt.optional + fmt.when_present
               and not c.startswith(EXTRA)]
    if lacking:  # the reader reports them under their native names; say which download columns they are
        logger.warning("%s: this %s lacks the %s column(s)", relative, fmt.title,
                       " / ".join(repr(fmt.columns[c][0]) for c in lacking))
    absent = [c for c in fmt.optional if c not in native]
    for column in absent:
        native[column] = pd.Series([None] * len(raw), dtype=object)
    if absent:
        logger.warning("%s: no %s column in this %s; read as null", relative,
                       " / ".join(repr(fmt.columns[c][0]) for c in absent), fmt.title)
    frame = pd.DataFrame(native, index=raw.index)
    for column, convert in fmt.convert.items():
        if column in frame:
            frame[column] = convert(frame[column], frame).astype(object)
    return frame


def load_export(sources_dir: Path, relative: str, fmt: ExportFormat) -> LoadedExport:
    """The file ``sources_dir/relative`` (a ``fmt`` export) mapped onto its native file's columns, as text."""
    try:
        text = _decode((Path(sources_dir) / relative).read_bytes())
    except UnicodeDecodeError as exc:
        raise ExportFormatError(f"{relative}: not UTF-8 or UTF-16 text (byte {exc.start}: {exc.reason}); "
                                "download it again as CSV (UTF-8)") from exc
    found, header_index, delimiter, header = _find_header(text)
    if found is not fmt:
        raise ExportFormatError(f"{relative}: not a {fmt.title} (its header changed while it was read)")
    raw, lines, line_errors = _data_rows(_records(text, delimiter)[header_index + 1:], len(header), fmt, relative)
    return LoadedExport(relative, fmt, _native_columns(raw, header, fmt, relative), line_errors, lines)


# --- what stands for a native file --------------------------------------------------------

def exports_in(sources_dir: Path, folder: str) -> list[tuple[str, ExportFormat]]:
    """(relative path, format) of every downloaded export in ``sources_dir/folder``, by file name."""
    directory = Path(sources_dir) / folder
    if folder not in EXPORT_FOLDERS or not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.csv")):
        fmt, _ = identify(path)
        if fmt is not None:
            out.append((f"{folder}/{path.name}", fmt))
    return out


def _combine(parts: Sequence[LoadedExport | NativeText]) -> NativeText:
    frames, errors, files, lines = [], {}, [], []
    offset = 0
    for part in parts:
        if isinstance(part, LoadedExport):
            part = NativeText(part.frame, part.line_errors, [part.relative] * len(part.frame), part.lines)
        frames.append(part.frame)
        errors.update({offset + row: message for row, message in part.line_errors.items()})
        files += list(part.source_files)
        lines += list(part.source_lines)
        offset += len(part.frame)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame = frame[[c for c in frame.columns if not str(c).startswith(EXTRA)]]
    return NativeText(frame.astype(object).where(frame.notna(), None), errors, files, lines)


def _items_from_subscriptions(subscriptions: LoadedExport) -> NativeText:
    """One item version per subscription: its plan and quantity from its start to its end."""
    s = subscriptions.frame
    has_plan = s.get(EXTRA + "plan", pd.Series(None, index=s.index, dtype=object)).notna() & s["id"].notna()
    if not has_plan.all():
        logger.warning("%s: %d subscription(s) name no plan (several prices?): no item is built for them, so they "
                       "have no MRR; read such subscriptions through the Stripe API or a replica",
                       subscriptions.relative, int((~has_plan).sum()))
    s = s[has_plan.to_numpy()]
    none = pd.Series(None, index=s.index, dtype=object)
    start = s.get("start_date", none).fillna(s.get("created", none))
    frame = pd.DataFrame({
        "id": s["id"] + ":item", "subscription": s["id"], "price": s[EXTRA + "plan"],
        "quantity": s[EXTRA + "quantity"].fillna("1") if EXTRA + "quantity" in s else "1",
        "valid_from": iso_utc(start), "valid_to": s.get("ended_at"),
    })
    lines = [subscriptions.lines[i] for i in np.flatnonzero(has_plan.to_numpy())]
    return NativeText(frame, {}, [subscriptions.relative] * len(frame), lines)


def _prices_from_subscriptions(subscriptions: LoadedExport) -> NativeText:
    """The recurring prices the subscriptions' plans refer to (first subscription of each plan)."""
    s = subscriptions.frame
    plan = s.get(EXTRA + "plan", pd.Series(None, index=s.index, dtype=object))
    first = ~plan.duplicated() & plan.notna()
    s = s[first.to_numpy()]
    count = s[EXTRA + "interval_count"].fillna("1") if EXTRA + "interval_count" in s else "1"
    frame = pd.DataFrame({
        "id": s[EXTRA + "plan"], "product": s.get(EXTRA + "product"), "product_name": None, "nickname": None,
        "metadata_tier": None, "unit_amount": s.get(EXTRA + "amount"),
        "currency": s.get(EXTRA + "currency"), "type": "recurring", "recurring_interval": s.get(EXTRA + "interval"),
        "recurring_interval_count": count, "recurring_usage_type": "licensed", "billing_scheme": "per_unit",
    })
    lines = [subscriptions.lines[i] for i in np.flatnonzero(first.to_numpy())]
    return NativeText(frame, {}, [subscriptions.relative] * len(frame), lines)


def _empty_status_history(subscriptions: LoadedExport) -> NativeText:
    logger.info("%s: a subscription export has no status history; the revenue engine derives it from each "
                "subscription's columns and its invoices", subscriptions.relative)
    return NativeText(pd.DataFrame(columns=["subscription", "status", "valid_from", "valid_to"], dtype=object), {}, [], [])


#: native file -> (export format it can be built from, builder, whether it only adds rows missing from the file itself)
DERIVED: dict[str, tuple[str, Callable[[LoadedExport], NativeText], bool]] = {
    "billing/subscription_items.csv": ("stripe_subscriptions", _items_from_subscriptions, False),
    "billing/subscription_status_history.csv": ("stripe_subscriptions", _empty_status_history, False),
    "billing/prices.csv": ("stripe_subscriptions", _prices_from_subscriptions, True),
}


Others = Callable[[str], pd.DataFrame | None]


def _invoice_periods_from_lines(invoices: LoadedExport, others: Others) -> None:
    """An invoice's service period = its subscription lines' earliest start to latest end (Stripe's invoice-level
    period of a subscription invoice is the previous period)."""
    frame = others("stripe_invoice_line_items")
    if frame is None or "invoice" not in frame:
        return
    kind = frame["type"] if "type" in frame else pd.Series("subscription", index=frame.index)
    frame = frame[(kind.fillna("subscription") == "subscription").to_numpy() & frame["invoice"].notna().to_numpy()]
    for column, pick in (("period_start", "idxmin"), ("period_end", "idxmax")):
        if column not in frame:
            continue
        times = pd.to_datetime(frame[column], format="ISO8601", utc=True, errors="coerce")
        valid = times.notna()
        chosen = getattr(times[valid].groupby(frame.loc[valid, "invoice"]), pick)()
        text_of_invoice = frame[column].loc[chosen.to_numpy()].set_axis(chosen.index)
        inv = invoices.frame
        own = inv[column] if column in inv else pd.Series(None, index=inv.index, dtype=object)
        inv[column] = inv["id"].map(text_of_invoice).where(inv["id"].isin(text_of_invoice.index), own).astype(object)


def _refund_customers_from_payments(refunds: LoadedExport, others: Others) -> None:
    """A refund's customer: its own Customer ID, else its charge's in the payments download. Without
    either the column stays absent, so the reader takes it from billing/charges.csv as for native files."""
    frame = refunds.frame
    customer = frame.get(EXTRA + "customer", pd.Series(None, index=frame.index, dtype=object))
    payments = others("stripe_payments")
    if payments is not None and "customer" in payments:
        pairs = payments[["id", "customer"]].dropna().drop_duplicates("id")
        customer = customer.fillna(frame["charge"].map(dict(zip(pairs["id"], pairs["customer"], strict=True))))
    if customer.notna().any():
        frame["customer"] = customer.astype(object)


def _meta_rows_are_days(report: LoadedExport, others: Others) -> None:
    """A Meta row spanning several days is placed on its first day: say so (download with a breakdown by day)."""
    frame = report.frame
    if "date_stop" not in frame:
        return
    spans = int((frame["date_stop"].notna() & (frame["date_stop"] != frame["date_start"])).sum())
    if spans:
        logger.warning("%s: %d row(s) cover several days and are placed on their first day; export the report "
                       "with Breakdown > By time > Day", report.relative, spans)


#: format -> what it takes from the other downloads in the same folder (their native frames by format key)
REFINE: dict[str, Callable[[LoadedExport, Others], None]] = {
    "stripe_invoices": _invoice_periods_from_lines,
    "stripe_refunds": _refund_customers_from_payments,
    "meta_ads_report": _meta_rows_are_days,
}


_LOADED: dict[tuple, LoadedExport] = {}
_LOADED_SIZE = 16


class _Loader:
    """The downloads of one folder, each parsed (and its missing columns reported) once per state of
    the folder's exports."""

    def __init__(self, sources_dir: Path, found: list[tuple[str, ExportFormat]]) -> None:
        self.sources_dir = Path(sources_dir)
        self.found = found
        self.state = tuple((r, (self.sources_dir / r).stat().st_size, (self.sources_dir / r).stat().st_mtime_ns)
                           for r, _ in found)

    def file(self, relative: str, fmt: ExportFormat) -> LoadedExport:
        cache_key = (str(self.sources_dir.resolve()), relative, self.state)
        if cache_key not in _LOADED:
            export = load_export(self.sources_dir, relative, fmt)
            if fmt.key in REFINE:
                REFINE[fmt.key](export, self.frame)
            _LOADED[cache_key] = export
            while len(_LOADED) > _LOADED_SIZE:
                _LOADED.pop(next(iter(_LOADED)))
        return _LOADED[cache_key]

    def all(self, key: str) -> list[LoadedExport]:
        """Every download of format ``key`` in the folder."""
        return [self.file(r, f) for r, f in self.found if f.key == key]

    def frame(self, key: str) -> pd.DataFrame | None:
        """The native rows of every download of format ``key``, or None when there is none."""
        loaded = self.all(key)
        return pd.concat([e.frame for e in loaded], ignore_index=True) if loaded else None


def native_from_exports(sources_dir: Path, relative: str) -> NativeText | None:
    """The rows of native file ``relative`` from the downloaded exports beside it; None when no export
    provides it (the file, if any, is then read as it is)."""
    folder = relative.split("/", 1)[0]
    found = exports_in(sources_dir, folder)
    if not found:
        return None
    own_file = Path(sources_dir) / relative
    own_is_native = own_file.is_file() and relative not in {r for r, _ in found}
    primary = [(r, f) for r, f in found if f.target == relative]
    derived = DERIVED.get(relative)
    if not primary and (derived is None or derived[0] not in {f.key for _, f in found}):
        return None
    if primary:
        kinds = {f.key for _, f in primary}
        if len(kinds) > 1 or own_is_native:
            sources = [r for r, _ in primary] + ([relative + " (today's layout)"] if own_is_native else [])
            raise ExportFormatError(f"{relative}: several files stand for it ({', '.join(sources)}); keep one kind")
    elif own_is_native:
        if derived is not None and derived[2]:
            logger.info("%s: read as it is; its rows are not merged with the %s", relative, derived[0])
        return None
    loader = _Loader(sources_dir, found)
    parts: list[LoadedExport | NativeText] = [loader.file(r, f) for r, f in primary]
    if derived is not None:
        key, build, adds_missing = derived
        built = [build(e) for e in loader.all(key)]
        if built and (adds_missing or not parts):
            extra = _combine(built)
            if adds_missing:  # only ids the file itself lacks, each once
                have = {i for p in parts if "id" in p.frame for i in p.frame["id"].dropna()}
                extra = _rows_where(extra, ~extra.frame["id"].isin(have) & ~extra.frame["id"].duplicated())
            parts.append(extra)
    return _combine(parts)


def _rows_where(text: NativeText, keep: pd.Series) -> NativeText:
    """The rows of ``text`` (built rows: no line errors) where ``keep`` holds, with their lineage."""
    mask = keep.to_numpy(dtype=bool)
    return NativeText(text.frame[mask].reset_index(drop=True), {},
                      [f for f, k in zip(text.source_files, mask, strict=True) if k],
                      [n for n, k in zip(text.source_lines, mask, strict=True) if k])


def check_folder(sources_dir: Path, folder: str, known_files: set[str]) -> None:
    """Raise :class:`ExportFormatError` for a CSV file in ``folder`` that is neither a native file of
    today's layout (``known_files``, relative paths) nor a recognised export: the error names the
    closest formats and the columns the file lacks for each."""
    directory = Path(sources_dir) / folder
    if folder not in EXPORT_FOLDERS or not directory.is_dir():
        return
    targets = {f.target for f in FORMATS} | set(DERIVED)
    for path in sorted(directory.glob("*.csv")):
        relative = f"{folder}/{path.name}"
        if relative in known_files or relative in targets:
            continue
        fmt, header = identify(path)
        if fmt is None and path.stat().st_size:
            raise ExportFormatError(unknown_format_message(relative, header))


def unknown_format_message(relative: str, header: Sequence[str], *, closest: int = 3) -> str:
    """The error for a file whose header is no known format: the closest formats and what each lacks."""
    names = {normalise_name(c) for c in header}

    def score(fmt: ExportFormat) -> tuple[int, int]:
        """(columns of the format the file has, identifying columns it has)."""
        known = {normalise_name(c) for c in fmt.known_columns()}
        return len(names & known), len(fmt.signature) - len(fmt.lacks(names))

    ranked = sorted(FORMATS, key=score, reverse=True)[:closest]
    parts = [f"{f.title} (lacks {f.lacks(names)})" for f in ranked]
    shown = list(header[:12]) + (["..."] if len(header) > 12 else [])
    return (f"{relative}: its header matches no known export or native format; closest: {'; '.join(parts)}. "
            f"Header read: {shown}. Accepted formats: docs/sources.md")
