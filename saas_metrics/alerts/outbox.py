"""The ``alerts`` warehouse table: a transactional outbox with a unique dedupe key.

Alerts are first written here (``status='pending'``), then delivered. The
unique index on ``dedupe_key`` makes writing idempotent: the same alert
evaluated twice (a re-run, a restarted sensor) is inserted once.

Delivery never sends an alert twice to the same channel:

* a delivering tick first *claims* an alert with a compare-and-set UPDATE
  (``claimed_until`` lease), so two sensors ticking at the same time never
  both send it;
* each channel that accepted it is recorded in ``delivered_channels`` right
  away, so a later retry skips it;
* a send that went out but got no answer (a read timeout: the receiver may
  have it) is counted per channel in ``unknown_sends``; a channel that reached
  the policy's ``max_unknown_sends`` is never sent the alert again;
* when every channel accepted it, ``status='delivered'``; when every channel
  either accepted it or reached that limit, ``status='unknown'``; otherwise
  ``attempts`` is incremented, ``last_error`` set and it stays ``pending``
  (``failed`` after ``max_attempts``; set it back to ``pending`` to retry).

Works on SQLite and PostgreSQL (and any SQLAlchemy database).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from saas_metrics.alerts.evaluate import ALERT_COLUMNS
from saas_metrics.tables import Column, TableSchema

TABLE_NAME = "alerts"
PENDING, DELIVERED, FAILED, UNKNOWN = "pending", "delivered", "failed", "unknown"

#: Column documentation of the alerts table (for docs and BI tools).
ALERTS = TableSchema(
    name=TABLE_NAME,
    description="Alert outbox: every alert ever raised, with its delivery state.",
    columns=(
        Column("id", "int", "surrogate key", nullable=False),
        Column("dedupe_key", "str", "rule|period|segment|subject, unique", nullable=False),
        Column("rule", "str", nullable=False),
        Column("month", "date", "month the alert is about (null for pipeline alerts without a partition)"),
        Column("segment", "str", "all, <segment>=<value>, account or pipeline"),
        Column("subject", "str", "metric, customer_id, asset:check or run id"),
        Column("value", "float", "observed value (rate as fraction, change for change rules)"),
        Column("threshold", "float"),
        Column("severity", "str", "info / warning / critical"),
        Column("owner", "str"),
        Column("message", "str", "the text delivered"),
        Column("status", "str", "pending / delivered / failed / unknown (sent, never confirmed)", nullable=False),
        Column("attempts", "int", "failed delivery ticks"),
        Column("last_error", "str", "last delivery error (never contains a webhook URL)"),
        Column("created_at", "datetime", nullable=False),
        Column("delivered_at", "datetime"),
        Column("delivered_channels", "str", "comma-separated channels that accepted the alert"),
        Column("claimed_until", "datetime", "delivery lease"),
        Column("unknown_sends", "json", "per channel, sends that got no answer (the receiver may have them)"),
    ),
    key=("dedupe_key",),
)

_metadata = sa.MetaData()
alerts_table = sa.Table(
    TABLE_NAME,
    _metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.Text(), nullable=False),
    sa.Column("rule", sa.Text(), nullable=False),
    sa.Column("month", sa.Date()),
    sa.Column("segment", sa.Text()),
    sa.Column("subject", sa.Text()),
    sa.Column("value", sa.Float(precision=53)),
    sa.Column("threshold", sa.Float(precision=53)),
    sa.Column("severity", sa.Text()),
    sa.Column("owner", sa.Text()),
    sa.Column("message", sa.Text()),
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, default=0),
    sa.Column("last_error", sa.Text()),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("delivered_at", sa.DateTime()),
    sa.Column("delivered_channels", sa.Text()),
    sa.Column("claimed_until", sa.DateTime()),
    sa.Column("unknown_sends", sa.Text()),
    sa.Index("ux_alerts_dedupe_key", "dedupe_key", unique=True),
    sa.Index("ix_alerts_status", "status"),
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Outbox:
    """The alerts table on ``engine``."""

    _ddl_lock = threading.Lock()

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.table = alerts_table
        self._ensured = False

    def ensure(self) -> None:
        if self._ensured:
            return
        with self._ddl_lock:
            try:
                _metadata.create_all(self.engine, checkfirst=True)
            except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                # another process created it between the check and the CREATE
                if not sa.inspect(self.engine).has_table(TABLE_NAME):
                    raise
            self._add_new_columns()
            self._ensured = True

    def _add_new_columns(self) -> None:
        """Columns this version added to an alerts table made by an older one (all nullable)."""
        existing = {c["name"] for c in sa.inspect(self.engine).get_columns(TABLE_NAME)}
        for column in self.table.columns:
            if column.name not in existing:
                ddl_type = column.type.compile(dialect=self.engine.dialect)
                try:
                    with self.engine.begin() as conn:
                        conn.execute(sa.text(f'ALTER TABLE "{TABLE_NAME}" ADD COLUMN "{column.name}" {ddl_type}'))
                except (sa.exc.OperationalError, sa.exc.ProgrammingError):
                    # another process added it between the check and the ALTER
                    if column.name not in {c["name"] for c in sa.inspect(self.engine).get_columns(TABLE_NAME)}:
                        raise

    # -- writing -------------------------------------------------------------
    def add(self, alerts: pd.DataFrame, now: dt.datetime | None = None) -> list[str]:
        """Insert the alerts whose dedupe_key is new; return those keys (in order)."""
        missing = [c for c in ALERT_COLUMNS if c not in alerts.columns]
        if missing:
            raise ValueError(f"alerts frame is missing columns {missing}")
        self.ensure()
        now = now or utcnow()
        inserted: list[str] = []
        with self.engine.begin() as conn:
            for record in _records(alerts):
                record.update(status=PENDING, attempts=0, created_at=now, delivered_channels="")
                if self._insert_if_absent(conn, record):
                    inserted.append(str(record["dedupe_key"]))
        return inserted

    def _insert_if_absent(self, conn: Connection, record: dict[str, object]) -> bool:
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            from sqlalchemy.dialects import postgresql, sqlite

            # The two dialects' own INSERT builders: each has ON CONFLICT DO NOTHING.
            dialect_module = sqlite if dialect == "sqlite" else postgresql
            stmt = (dialect_module.insert(self.table).values(**record)
                    .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(self.table.c.id))
            # RETURNING yields a row only when the insert happened (rowcount is -1 with RETURNING).
            return conn.execute(stmt).first() is not None
        try:
            with conn.begin_nested():
                conn.execute(self.table.insert().values(**record))
            return True
        except sa.exc.IntegrityError:
            return False

    # -- delivery state ------------------------------------------------------
    def pending(self, limit: int = 200) -> list[dict[str, Any]]:
        self.ensure()
        query = (sa.select(self.table).where(self.table.c.status == PENDING)
                 .order_by(self.table.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def claim(self, alert_id: int, lease_seconds: float, now: dt.datetime | None = None) -> bool:
        """Take the delivery lease of a pending alert; False when someone else holds it."""
        now = now or utcnow()
        t = self.table
        stmt = (t.update()
                .where(t.c.id == alert_id, t.c.status == PENDING,
                       sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until < now))
                .values(claimed_until=now + dt.timedelta(seconds=lease_seconds)))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def delivered_channels(self, alert_id: int) -> set[str]:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(self.table.c.delivered_channels).where(self.table.c.id == alert_id)).scalar_one()
        return {c for c in (value or "").split(",") if c}

    def mark_channel_delivered(self, alert_id: int, channel: str) -> None:
        """Record (committed at once) that ``channel`` accepted the alert."""
        channels = self.delivered_channels(alert_id) | {channel}
        with self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.id == alert_id)
                         .values(delivered_channels=",".join(sorted(channels))))

    def unknown_sends(self, alert_id: int) -> dict[str, int]:
        """Per channel, the sends of the alert that got no answer."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(self.table.c.unknown_sends).where(self.table.c.id == alert_id)).scalar_one()
        return {str(k): int(v) for k, v in json.loads(value or "{}").items()}

    def add_unknown_sends(self, alert_id: int, channel: str, sends: int) -> int:
        """Record (committed at once) ``sends`` more unanswered sends to ``channel``; returns its total."""
        counts = self.unknown_sends(alert_id)
        counts[channel] = counts.get(channel, 0) + sends
        with self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.id == alert_id)
                         .values(unknown_sends=json.dumps(counts, sort_keys=True)))
        return counts[channel]

    def mark_finished(self, alert_id: int, status: str, error: str | None) -> None:
        """End delivery with ``status`` (no further tick sends the alert), keeping ``error``."""
        with self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.id == alert_id)
                         .values(status=status, claimed_until=None, last_error=None if error is None else error[:1000]))

    def mark_delivered(self, alert_id: int, now: dt.datetime | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.id == alert_id)
                         .values(status=DELIVERED, delivered_at=now or utcnow(), claimed_until=None, last_error=None))

    def mark_attempt_failed(self, alert_id: int, error: str, max_attempts: int | None) -> str:
        """Count a failed delivery tick; the alert stays pending (or becomes failed). Returns the status."""
        t = self.table
        with self.engine.begin() as conn:
            attempts = conn.execute(sa.select(t.c.attempts).where(t.c.id == alert_id)).scalar_one() + 1
            status = FAILED if max_attempts is not None and attempts >= max_attempts else PENDING
            conn.execute(t.update().where(t.c.id == alert_id)
                         .values(attempts=attempts, last_error=error[:1000], status=status, claimed_until=None))
        return status

    # -- reading -------------------------------------------------------------
    def read(self) -> pd.DataFrame:
        """Every alert, oldest first."""
        self.ensure()
        with self.engine.connect() as conn:
            result = conn.execute(sa.select(self.table).order_by(self.table.c.id))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _records(alerts: pd.DataFrame) -> list[dict[str, object]]:
    records = []
    for row in alerts[ALERT_COLUMNS].itertuples(index=False):
        record: dict[str, object] = {}
        for name, value in zip(ALERT_COLUMNS, row, strict=True):
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                record[name] = None
            elif name == "month":
                record[name] = pd.Timestamp(value).date()
            elif name in ("value", "threshold"):
                record[name] = float(value)
            else:
                record[name] = str(value)
        records.append(record)
    return records
