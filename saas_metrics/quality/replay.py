"""Replay a stored GX validation when nothing it depends on has changed.

A GX validation's findings (:class:`~saas_metrics.quality.gx_results.SuiteFindings`) are a
function of the validated frame, the suite, the suite parameters and the GX version. The
:func:`fingerprint` hashes exactly those:

* the typed frame's rows in their order and its columns in a stable order (schema columns first,
  then the others sorted), with their dtypes (:func:`saas_metrics.frame_digest.update_with_frame`:
  every value's bytes);
* the suite's definition as JSON (:func:`~saas_metrics.quality.expectations.suite_definition`);
* the GX version string;
* the suite parameters, except ``now``, which differs on every run: the only expectations that
  read it are the ``not_future`` bounds (``value <= now``), so the set of rows above ``now`` in
  each of their columns is hashed instead. Same rows above ``now``, same verdicts.

When the fingerprint equals the one stored for the table and window, the stored findings are the
findings GX would return, so they are replayed instead of validating again (GX is not even
imported). Anything else is validated in full and the new findings replace the stored ones. The
quarantine split and the checks are computed from the findings the same way in both cases.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from saas_metrics.frame_digest import update_with_frame
from saas_metrics.quality.expectations import SuiteVariant, suite_definition, suite_spec
from saas_metrics.quality.gx_results import SuiteFindings
from saas_metrics.quality.sanitise import pii_columns
from saas_metrics.tables import Column, TableSchema

if TYPE_CHECKING:
    from saas_metrics.warehouse.store import Warehouse

logger = logging.getLogger(__name__)

SNAPSHOT_WINDOW = "all rows"

VALIDATION_RESULTS = TableSchema(
    name="validation_results",
    description="The latest full GX validation of each source table and window, replayed by a later run "
    "whose input, suite and GX version are the same.",
    columns=(
        Column("table_name", "str", "canonical table", nullable=False),
        Column("validated_window", "str", "the validated window '[start, end)', or 'all rows' for a snapshot", nullable=False),
        Column("fingerprint", "str", "hash of the rows, the suite, its parameters and the GX version", nullable=False),
        Column("gx_version", "str", "Great Expectations version that validated"),
        Column("run_id", "str", "Dagster run that validated"),
        Column("recorded_at", "datetime", "when the run validated (naive UTC)"),
        Column("findings", "json", "every expectation's verdict, unexpected row positions, count and sample"),
    ),
)


@cache
def gx_version() -> str:
    """The installed Great Expectations version, read from its metadata (GX is not imported)."""
    return importlib.metadata.version("great_expectations")


def window_label(start: dt.date | None, end: dt.date | None) -> str:
    return SNAPSHOT_WINDOW if start is None or end is None else f"[{start.isoformat()}, {end.isoformat()})"


def _ordered_columns(frame: pd.DataFrame, schema: TableSchema) -> list[str]:
    known = [c for c in schema.column_names if c in frame.columns]
    return known + sorted(c for c in frame.columns if c not in set(known))


def _above_now(frame: pd.DataFrame, variant: SuiteVariant, now: Any) -> bytes:
    """Which rows of each ``not_future`` column are after ``now``, as packed bits."""
    out = b""
    for spec in suite_spec(variant):
        if spec.meta.get("rule") == "not_future":
            above = (frame[spec.kwargs["column"]] > now).fillna(False).to_numpy(dtype=bool)
            out += spec.kwargs["column"].encode() + np.packbits(above).tobytes()
    return out


def fingerprint(
    frame: pd.DataFrame, schema: TableSchema, variant: SuiteVariant, parameters: Mapping[str, Any], *, detail_passing: bool = False
) -> str | None:
    """The hash a stored validation of ``frame`` must carry to be replayed (see the module
    docstring), or None when the frame cannot be hashed (it is then validated in full). How the
    findings are recorded counts too: the result format of passing expectations and which
    columns' samples are masked."""
    columns = _ordered_columns(frame, schema)
    head = {
        "suite": suite_definition(variant),
        "gx_version": gx_version(),
        "parameters": {k: v for k, v in parameters.items() if k != "now"},
        "detail_passing": detail_passing,
        "masked": sorted(pii_columns(schema.columns)),
        "columns": [[c, str(frame[c].dtype)] for c in columns],
        "rows": len(frame),
    }
    digest = hashlib.sha256(json.dumps(head, sort_keys=True, default=str).encode())
    try:
        update_with_frame(digest, frame[columns])
        digest.update(_above_now(frame, variant, parameters.get("now")))
    except (TypeError, ValueError):  # an unhashable object value: validate, never guess
        logger.info("rows of %s cannot be fingerprinted; validated in full", variant.table, exc_info=True)
        return None
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredValidation:
    """Findings of a full validation and the run that made it."""

    findings: SuiteFindings
    run_id: str
    validated_at: dt.datetime


class ValidationStore:
    """The ``validation_results`` table of a warehouse: one full validation per table and window."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def load(self, table: str, window: str, fingerprint: str) -> StoredValidation | None:
        """The stored validation of ``table`` and ``window`` if its fingerprint is ``fingerprint``."""
        wh = self.warehouse
        t = wh.sa_table(VALIDATION_RESULTS)
        where = (t.c["table_name"] == table) & (t.c["validated_window"] == window) & (t.c["fingerprint"] == fingerprint)
        rows = wh.read(VALIDATION_RESULTS, where=where, columns=["run_id", "recorded_at", "findings"])
        if rows.empty:
            return None
        row = rows.iloc[0]
        return StoredValidation(SuiteFindings.from_json(row["findings"]), str(row["run_id"]), pd.Timestamp(row["recorded_at"]).to_pydatetime())

    def save(self, table: str, window: str, fingerprint: str, stored: StoredValidation) -> None:
        """Keep ``stored`` as the validation of ``table`` and ``window`` (replacing the previous one)."""
        frame = pd.DataFrame([{
            "table_name": table, "validated_window": window, "fingerprint": fingerprint, "gx_version": gx_version(),
            "run_id": stored.run_id, "recorded_at": stored.validated_at, "findings": stored.findings.to_json(),
        }])
        self.warehouse.replace(VALIDATION_RESULTS, frame, None, where={"table_name": table, "validated_window": window})
