"""A columnar landing cache of canonical source tables read from native files.

Landing files are whole-history exports, so parsing them is a cost that grows with history:
the product usage export of a few thousand customers has millions of rows, and parsing and typing
them every monthly run would make a month's cost grow with the history. The first read of a table maps its native file(s) to the canonical
frame as usual (:func:`saas_metrics.sources.registry.read_source_table`) and stores that frame
as Parquet. Later reads of the same, unchanged files read the Parquet file and only the rows a
month's run needs (a pyarrow filter on the time column, which skips whole row groups of files
written in time order), so a month costs its own rows rather than the whole history.

A cold read of a table whose input is one native file larger than
:data:`saas_metrics.sources.pieces.PIECE_BYTES` (the product usage and web session exports) never
holds the whole frame: the file is cut into pieces at row boundaries, each piece is mapped by the
table's reader (:func:`saas_metrics.sources.pieces.canonical_pieces`) and appended to the Parquet
file by one ``ParquetWriter`` (in row groups of :data:`ROW_GROUP_ROWS`, as a whole write makes them,
the next piece parsed while the last one is written), and the call is then served from the cache
file like a warm read. Its peak follows the piece, not the export (about 0.5 GB instead of 3 GB for
the large bench's 658 MB usage export), and its rows, dtypes, lineage and warnings are those of the
whole read (docs/architecture.md#the-landing-cache). Downloaded exports, tables of several files,
readers that open another file and files that cannot be cut safely are read whole.

The cache key holds every native file's path, size and modification time, and a fingerprint
of the source readers' code and of the typing they apply: a new export, an edited file or a new reader version is read from
the CSV again. The reader's warnings (a missing file, a file lacking columns) are stored with the
frame and raised again on every cached read, so the raw asset reports them the same way. Rows
keep their file order and lineage columns (``_source_file``, ``_source_line``,
``_parse_errors``), so validation and quarantine see exactly what a direct read gives.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from saas_metrics.arrow_pool import release_unused_memory
from saas_metrics.sources import exports, pieces
from saas_metrics.sources.drift import MissingColumnsWarning
from saas_metrics.sources.files import SourceFileMissing
from saas_metrics.sources.notices import collecting_notices, notify
from saas_metrics.sources.registry import input_files, read_source_table
from saas_metrics.sources.schemas import SCHEMAS
from saas_metrics.tables import coerce_frame

logger = logging.getLogger(__name__)

#: Rows per Parquet row group: the unit a time filter can skip.
ROW_GROUP_ROWS = 100_000
_SOURCES_PACKAGE = Path(__file__).resolve().parent


def reader_code() -> list[Path]:
    """The code a cached frame was made by: every module of this package, and the typing every reader
    applies to its columns (``saas_metrics/tables.py``: how text becomes dates, numbers, nulls)."""
    return [*sorted(_SOURCES_PACKAGE.glob("*.py")), _SOURCES_PACKAGE.parent / "tables.py"]


@cache
def reader_fingerprint() -> str:
    """A hash of the source readers' code (:func:`reader_code`) and the pandas version."""
    digest = hashlib.sha256(pd.__version__.encode())
    for path in reader_code():
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(table: str, sources_dir: Path) -> str:
    """The key of ``table`` as landed now: its input files' identity (native files and downloaded
    exports) and the reader fingerprint."""
    parts = [table, reader_fingerprint()]
    for relative in input_files(table, sources_dir):
        path = Path(sources_dir) / relative
        if path.is_file():
            stat = path.stat()
            parts.append(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}")
        else:
            parts.append(f"{relative}:missing")
    parts.append(str(Path(sources_dir).resolve()))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def _paths(cache_dir: Path, table: str, key: str) -> tuple[Path, Path]:
    return cache_dir / f"{table}-{key}.parquet", cache_dir / f"{table}-{key}.json"


def _temp_path(cache_dir: Path, table: str) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    return cache_dir / f".{table}-{uuid.uuid4().hex}.tmp"


def _store(cache_dir: Path, table: str, key: str, frame: pd.DataFrame, notices: list[dict[str, Any]]) -> None:
    """Write the frame and its warnings atomically (temp file + rename); drop older versions of the table."""
    tmp = _temp_path(cache_dir, table)
    frame.to_parquet(tmp, index=False, row_group_size=ROW_GROUP_ROWS)
    _publish(cache_dir, table, key, tmp, len(frame), notices)


def _publish(cache_dir: Path, table: str, key: str, tmp: Path, rows: int, notices: list[dict[str, Any]]) -> None:
    """Rename the written Parquet file ``tmp`` into place, write its warnings beside it (the data file
    first: a reader needs both) and drop the table's older versions."""
    data, meta = _paths(cache_dir, table, key)
    os.replace(tmp, data)
    tmp_meta = tmp.with_suffix(".json")
    tmp_meta.write_text(json.dumps({"table": table, "rows": rows, "notices": notices}))
    os.replace(tmp_meta, meta)
    for old in cache_dir.glob(f"{table}-*"):
        if old not in (data, meta):
            old.unlink(missing_ok=True)


def _one_big_file(table: str, sources_dir: Path) -> str | None:
    """The one native file ``table`` is read from when it is bigger than a piece and no downloaded
    export stands beside it (the pieces' reader maps native files only), else None."""
    files = input_files(table, sources_dir)
    if len(files) != 1:
        return None
    path = Path(sources_dir) / files[0]
    if not path.is_file() or path.stat().st_size <= pieces.PIECE_BYTES:
        return None
    if exports.exports_in(Path(sources_dir), files[0].split("/", 1)[0]):
        return None
    return files[0]


class _PieceWriter:
    """Canonical pieces appended to one Parquet file in row groups of :data:`ROW_GROUP_ROWS`, each
    write on a thread of its own while the caller parses the next piece (Arrow encodes and writes
    without the GIL). The first piece's schema is the file's; at most one write is in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._carry: pa.Table | None = None  # the rows after the last full row group
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing-pieces")
        self._pending: Future[None] | None = None

    def append(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.path, self._schema)
        elif not len(table):
            return
        else:
            table = table.cast(self._schema)
        self.rows += len(table)
        if self._carry is not None:
            table = pa.concat_tables([self._carry, table])
        full = len(table) - len(table) % ROW_GROUP_ROWS
        # A copy, not a slice: a slice would keep the whole piece's buffers until the next write.
        self._carry = table.take(pa.array(np.arange(full, len(table)))) if full < len(table) else None
        if full:
            self._write(table.slice(0, full))

    def _write(self, table: pa.Table) -> None:
        assert self._writer is not None
        self._wait()
        self._pending = self._pool.submit(self._writer.write_table, table, row_group_size=ROW_GROUP_ROWS)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def finish(self) -> None:
        """Write the last rows and close the file (a file without rows keeps the first piece's schema)."""
        if self._carry is not None and len(self._carry):
            self._write(self._carry)
        self._carry = None
        self._wait()
        self._pool.shutdown()
        if self._writer is not None:
            self._writer.close()

    def abandon(self) -> None:
        """Stop (after the write in flight) and remove the partial file."""
        with contextlib.suppress(Exception):  # the caller is already handling the first error
            self._wait()
        self._pool.shutdown()
        with contextlib.suppress(Exception):
            if self._writer is not None:
                self._writer.close()
        self.path.unlink(missing_ok=True)


def _write_pieces(cache_dir: Path, table: str, key: str, sources_dir: Path, relative: str,
                  mode: pieces.TextMode) -> None:
    """Map ``relative`` piece by piece into the cache file of ``table`` (see the module docstring).
    The warnings are the first piece's, then any later piece's that are new."""
    writer = _PieceWriter(_temp_path(cache_dir, table))
    notices: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        for index, piece in enumerate(pieces.canonical_pieces(table, sources_dir, relative, mode)):
            for caught in piece.caught:
                notice = _notice(caught.message, caught.category)
                text = json.dumps(notice, sort_keys=True)
                if index == 0 or text not in seen:
                    notices.append(notice)
                    seen.add(text)
            writer.append(piece.frame)
            del piece
        writer.finish()
    except BaseException:
        writer.abandon()
        raise
    _publish(cache_dir, table, key, writer.path, writer.rows, notices)


def _store_in_pieces(cache_dir: Path, table: str, key: str, sources_dir: Path, relative: str) -> bool:
    """Store ``table`` read in pieces; False when it has to be read whole (a file that cannot be cut at
    its rows, or a cache that cannot be written)."""
    mode = pieces.TextMode()
    try:
        while True:
            try:
                _write_pieces(cache_dir, table, key, sources_dir, relative, mode)
                return True
            except pieces.ModeChanged as changed:  # a later piece needs the whole file parsed another way
                logger.info("landing cache: %s read again in pieces as %s", relative, changed.mode)
                mode = changed.mode
            except pieces.NotSplittable as exc:
                logger.info("landing cache: %s read whole (%s)", relative, exc)
                return False
            except OSError:
                logger.warning("landing cache: could not store %s in %s; reading it whole", table, cache_dir, exc_info=True)
                return False
    finally:
        release_unused_memory()


_writers: list[threading.Thread] = []
_writers_lock = threading.Lock()


def _store_in_background(cache_dir: Path, table: str, key: str, frame: pd.DataFrame, notices: list[dict[str, Any]]) -> None:
    """:func:`_store` on a thread of its own, so the caller validates the rows while Arrow encodes
    and writes them (Parquet writing releases the GIL), instead of making a cold read wait for the
    write. pandas' copy-on-write keeps ``frame`` as read whatever the caller derives from it.
    A failed write is logged, never raised: the cache is an optimisation, and the file it would
    have replaced is only ever swapped in whole (temp file + rename). The thread is not a daemon:
    the interpreter waits for it before exiting; :func:`wait_for_stores` waits for it at once."""

    def write() -> None:
        try:
            _store(cache_dir, table, key, frame, notices)
        except OSError:  # a read-only or full disk must not fail the read
            logger.warning("landing cache: could not store %s in %s", table, cache_dir, exc_info=True)

    thread = threading.Thread(target=write, name=f"landing-cache-{table}")
    with _writers_lock:
        _writers[:] = [t for t in _writers if t.is_alive()]
        _writers.append(thread)
    thread.start()


def wait_for_stores() -> None:
    """Return once every landing-cache write this process started has finished."""
    with _writers_lock:
        pending = list(_writers)
    for thread in pending:
        thread.join()


def _notice(message: Warning | str, category: type[Warning]) -> dict[str, Any]:
    """A reader's warning as JSON; a missing-columns warning keeps its structured findings."""
    notice: dict[str, Any] = {"message": str(message), "category": category.__name__}
    if isinstance(message, MissingColumnsWarning):
        notice["missing_columns"] = message.to_json()
    return notice


def _replay(notices: list[dict[str, Any]]) -> None:
    categories = {"UserWarning": UserWarning}
    categories[SourceFileMissing.__name__] = SourceFileMissing
    for notice in notices:
        if "missing_columns" in notice:
            notify(MissingColumnsWarning.from_json(notice["missing_columns"]), stacklevel=3)
        else:
            notify(notice["message"], categories.get(notice["category"], UserWarning), stacklevel=3)


def read_landed(
    table: str,
    sources_dir: Path,
    cache_dir: Path,
    window: tuple[dt.date, dt.date] | None = None,
    now: dt.datetime | None = None,
    *,
    all_times: bool = True,
) -> tuple[pd.DataFrame, pd.Series | None]:
    """The canonical ``table`` from its native files, through the cache in ``cache_dir``.

    With a ``window`` (and a table with a time column) the frame holds only the rows whose time
    is in the window, null, or after ``now``, in file order; the second value is then the time
    column of ALL rows (for counting rows outside every partition), or None when ``all_times`` is
    false (a later batch of a run, whose first read counted them: reading every row's time for
    each batch made a backfill's cost grow with its batches times the history). Without a window:
    every row, and None. The reader's warnings are raised on every call, cached or not. A cold
    read of one big native file is stored piece by piece, then served from the cache file."""
    cache_dir = Path(cache_dir)
    key = cache_key(table, sources_dir)
    data, meta = _paths(cache_dir, table, key)
    if not (data.is_file() and meta.is_file()):
        relative = _one_big_file(table, sources_dir)
        if relative is not None and _store_in_pieces(cache_dir, table, key, Path(sources_dir), relative):
            return _read_cached(data, meta, table, window, now, all_times)
        with collecting_notices() as caught:
            frame = read_source_table(table, sources_dir)
        notices = [_notice(w.message, w.category) for w in caught]
        _store_in_background(cache_dir, table, key, frame, notices)
        _replay(notices)
        return _select(frame, table, window, now, all_times)
    try:
        return _read_cached(data, meta, table, window, now, all_times)
    except (OSError, ValueError) as exc:  # a damaged cache file: drop it and parse the export again
        logger.warning("landing cache: %s unreadable (%s); reading the export again", data, exc)
        data.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        return read_landed(table, sources_dir, cache_dir, window, now, all_times=all_times)


def _read_cached(data: Path, meta: Path, table: str, window: tuple[dt.date, dt.date] | None,
                 now: dt.datetime | None, all_times: bool = True) -> tuple[pd.DataFrame, pd.Series | None]:
    notices = json.loads(meta.read_text())["notices"]
    time_column = SCHEMAS[table].time_column
    if window is None or time_column is None:
        frame = pd.read_parquet(data)
        _replay(notices)
        return frame, None
    import pyarrow.dataset as ds

    dataset = ds.dataset(data, format="parquet")
    times = (dataset.to_table(columns=[time_column]).column(time_column).to_pandas().astype("datetime64[ns]")
             if all_times else None)
    field = ds.field(time_column)
    lo, hi = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    future = pd.Timestamp(now or dt.datetime.now(dt.UTC).replace(tzinfo=None))
    expression = ((field >= lo) & (field < hi)) | field.is_null() | (field > future)
    frame = dataset.to_table(filter=expression).to_pandas()
    _replay(notices)
    return _typed_like_source(frame, table), times


def _typed_like_source(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Parquet gives back the canonical dtypes; coerce once more so an empty selection is typed too."""
    return coerce_frame(frame, SCHEMAS[table]).reset_index(drop=True)


def _select(frame: pd.DataFrame, table: str, window: tuple[dt.date, dt.date] | None,
            now: dt.datetime | None, all_times: bool = True) -> tuple[pd.DataFrame, pd.Series | None]:
    """The same selection as a cached read, from a frame in memory."""
    time_column = SCHEMAS[table].time_column
    if window is None or time_column is None:
        return frame, None
    times = frame[time_column]
    future = pd.Timestamp(now or dt.datetime.now(dt.UTC).replace(tzinfo=None))
    keep = ((times >= pd.Timestamp(window[0])) & (times < pd.Timestamp(window[1]))) | times.isna() | (times > future)
    return frame[keep.to_numpy()].reset_index(drop=True), times if all_times else None
