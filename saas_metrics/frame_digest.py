"""A frame's content as bytes for a cryptographic hash: every column's name, dtype and values in row
order, read from the column's own buffers instead of hashed value by value.

Two decisions hash whole frames to learn whether anything changed since last time: whether a stored
validation can be replayed (:func:`saas_metrics.quality.replay.fingerprint`) and whether a table's
write can be skipped (:func:`saas_metrics.warehouse.stored_content.content_fingerprint`). Both need
exactly one property: **different content gives different bytes**, so that a changed row can never
look unchanged. Equal content giving equal bytes is what makes the shortcut pay, not what makes it
correct: a frame fed differently (a value under a null, another ``-0.0``) costs one full validation
or write, never a wrong verdict.

pandas' ``hash_pandas_object`` hashes each value of an Arrow string column in Python-visible
objects (0.60 s of a 10,000-customer month's fingerprints, against 0.24 s this way on the same
frames; most of it string columns); the column's Arrow buffers hold the same content and feed the
hash at memory speed. Per column, in order:

* **Arrow strings** (pandas' ``str`` dtype): one byte per row for null or not, the value offsets
  rebased to 0, and the value bytes they span; the offsets delimit the values, so ``"ab", "c"`` and
  ``"a", "bc"`` differ;
* **NumPy columns** of fixed width (numbers, booleans, ``datetime64``): the values' bytes;
* **masked columns** (``Int64``, ``Float64``, ``boolean``): the values with every masked slot set to
  zero, then the mask;
* **anything else** (object columns, timezone-aware times, categoricals): pandas' 64-bit hash of
  each value, as before; it raises ``TypeError`` for an unhashable value, which the callers treat
  as "cannot tell: validate / write in full".

Each part is preceded by its length, and each column by its name, its dtype and which of the four
encodings it used, so no two frames of different content give the same byte stream.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

_MASKED = (pd.arrays.IntegerArray, pd.arrays.FloatingArray, pd.arrays.BooleanArray)
_FIXED_WIDTH_KINDS = frozenset("biufmM")
_STRING_TYPES = (pa.string(), pa.large_string())


class Digest(Protocol):
    def update(self, data: Any, /) -> None: ...


def update_with_frame(digest: Digest, frame: pd.DataFrame) -> None:
    """Feed ``frame``'s columns (names, dtypes, values in row order) to ``digest``; the row index is
    left out. ``TypeError`` or ``ValueError`` when a value of an object column cannot be hashed."""
    _part(digest, str(len(frame)).encode())
    for name, series in frame.items():
        encoding, parts = _column_parts(series)
        _part(digest, json.dumps([str(name), str(series.dtype), encoding]).encode())
        for data in parts:
            _part(digest, data)


def _part(digest: Digest, data: bytes | memoryview) -> None:
    digest.update(struct.pack("<Q", memoryview(data).nbytes))
    digest.update(data)


def _column_parts(series: pd.Series) -> tuple[str, Iterator[bytes | memoryview]]:
    values = series.array
    strings = _arrow_strings(values)
    if strings is not None:
        return "arrow-string", _string_parts(strings)
    if isinstance(values, _MASKED):
        return "masked", _masked_parts(values)
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in _FIXED_WIDTH_KINDS:
        return "fixed-width", iter([np.ascontiguousarray(series.to_numpy()).view(np.uint8).data])
    hashes = pd.util.hash_pandas_object(series, index=False).to_numpy()
    return "pandas-hash", iter([hashes.tobytes()])


def _arrow_strings(values: Any) -> pa.Array | None:
    """The column as one Arrow string array, or None when it is held otherwise."""
    if not isinstance(values, pd.api.extensions.ExtensionArray) or not hasattr(values, "__arrow_array__"):
        return None
    if getattr(values.dtype, "storage", None) != "pyarrow" and not isinstance(values.dtype, pd.ArrowDtype):
        return None
    array = values.__arrow_array__()
    if array.type not in _STRING_TYPES:
        return None
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _string_parts(array: pa.Array) -> Iterator[bytes | memoryview]:
    yield array.is_null().to_numpy(zero_copy_only=False).view(np.uint8).data
    width = np.int64 if array.type == pa.large_string() else np.int32
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=width)[array.offset:array.offset + len(array) + 1] if len(array) else np.zeros(1, width)
    first, last = int(offsets[0]), int(offsets[-1])
    yield (offsets - first).data
    yield memoryview(buffers[2])[first:last] if buffers[2] is not None and last > first else b""


def _masked_parts(values: Any) -> Iterator[bytes | memoryview]:
    mask = np.asarray(values.isna(), dtype=bool)
    numpy_dtype = values.dtype.numpy_dtype
    yield np.ascontiguousarray(values.to_numpy(dtype=numpy_dtype, na_value=numpy_dtype.type(0))).view(np.uint8).data
    yield mask.view(np.uint8).data
