"""Skip rewriting a table whose content is unchanged since our last write of it.

A monthly run materialises every snapshot table again (subscriptions, invoice lines, contacts,
the identity links ...): the whole table, although its content rarely changed since last month.
:meth:`Warehouse.replace` with ``skip_unchanged`` hashes the frame it would write
(:func:`content_fingerprint`: the columns, their dtypes and every row in order,
:mod:`saas_metrics.frame_digest`) and compares it
with the fingerprint recorded by the last write of the same table and window, in the
``stored_content`` table. Equal fingerprints and an equal row count in the table mean the table
already holds exactly these rows, so nothing is written.

Exact by construction: every write of a table through the warehouse (:meth:`Warehouse.replace`,
:meth:`Warehouse.append`) removes the table's fingerprints in the same transaction (a write with
``skip_unchanged`` then records its own), so a fingerprint always describes the table's last
write by this code. A write that went around it (a person's SQL) is caught by the row count when
it added or removed rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from saas_metrics.frame_digest import update_with_frame
from saas_metrics.tables import Column, TableSchema

logger = logging.getLogger(__name__)

STORED_CONTENT = TableSchema(
    name="stored_content",
    description="Fingerprint of the last write of each table and window, so an unchanged table is not written again.",
    columns=(
        Column("table_name", "str", "warehouse table", nullable=False),
        Column("stored_window", "str", "the written window '[start, end)', or 'all rows'", nullable=False),
        Column("fingerprint", "str", "hash of the written frame's columns, dtypes and rows in order", nullable=False),
        Column("rows", "int", "rows written"),
        Column("stored_at", "datetime", "when they were written (naive UTC)"),
    ),
)

ALL_ROWS = "all rows"


def window_label(window: tuple[dt.date, dt.date] | None) -> str:
    return ALL_ROWS if window is None else f"[{window[0].isoformat()}, {window[1].isoformat()})"


def content_fingerprint(frame: pd.DataFrame) -> str | None:
    """A hash of ``frame``'s columns, their dtypes and its rows in order (None when a value cannot
    be hashed: the frame is then written as usual)."""
    digest = hashlib.sha256(json.dumps([[c, str(frame[c].dtype)] for c in frame.columns]).encode())
    digest.update(str(len(frame)).encode())
    try:
        update_with_frame(digest, frame)
    except (TypeError, ValueError):
        logger.debug("unhashable values; the frame is written", exc_info=True)
        return None
    return digest.hexdigest()


def _table(conn: Connection) -> sa.TableClause:
    return sa.table(STORED_CONTENT.name, *(sa.column(c) for c in STORED_CONTENT.column_names))


def recorded(conn: Connection, table: str, window: tuple[dt.date, dt.date] | None) -> str | None:
    """The fingerprint of the last write of ``table``'s ``window``, if it was recorded."""
    t = _table(conn)
    query = sa.select(t.c.fingerprint).where(t.c.table_name == table, t.c.stored_window == window_label(window))
    return conn.execute(query).scalar()


def forget(conn: Connection, table: str) -> None:
    """Drop every fingerprint of ``table`` (it is being written)."""
    t = _table(conn)
    conn.execute(sa.delete(t).where(t.c.table_name == table))


def record(conn: Connection, table: str, window: tuple[dt.date, dt.date] | None, fingerprint: str, rows: int) -> None:
    t = _table(conn)
    conn.execute(sa.insert(t).values(
        table_name=table, stored_window=window_label(window), fingerprint=fingerprint, rows=rows,
        stored_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
