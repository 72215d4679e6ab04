"""Loads the fixture replicas in Fivetran's and Airbyte's own layouts into a PostgreSQL database:
fixtures/fivetran/<schema>/<table>.csv (the column headers of Fivetran's published sample rows, our own rows),
typed as Fivetran types them, and fixtures/airbyte/<schema>/<stream>.jsonl (the same company as API objects)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

FIXTURE = Path(__file__).parent / "fixtures" / "fivetran"

TIMESTAMPS = frozenset({
    "created", "_fivetran_synced", "start", "end", "start_date", "trial_start", "trial_end", "canceled_at", "cancel_at",
    "ended_at", "current_period_start", "current_period_end", "billing_cycle_anchor", "period_start", "period_end",
    "due_date", "timestamp", "start_time", "end_time", "created_at", "updated_at", "redeem_by", "property_createdate",
    "property_closedate"})
BOOLEANS = frozenset({
    "is_deleted", "_fivetran_deleted", "_fivetran_active", "livemode", "active", "closed_won", "is_closed", "proration",
    "discountable", "paid", "captured", "refunded", "cancel_at_period_end", "valid", "auto_advance", "delinquent", "shippable"})
NUMBERS = frozenset({
    "amount", "unit_amount", "quantity", "interval_count", "recurring_interval_count", "subtotal", "tax", "total", "amount_due",
    "amount_paid", "amount_remaining", "amount_refunded", "percent_off", "amount_off", "probability", "duration_in_months",
    "times_redeemed", "attempt_count", "display_order", "unit_amount_excluding_tax"})


def _typed(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, sa.types.TypeEngine]]:
    frame = frame.replace("", None)
    types: dict[str, sa.types.TypeEngine] = {}
    for column in frame.columns:
        if column in TIMESTAMPS:
            frame[column], types[column] = pd.to_datetime(frame[column]), sa.DateTime()
        elif column in BOOLEANS:
            frame[column] = frame[column].map(lambda v: v.lower() == "true" if isinstance(v, str) else None).astype("boolean")
            types[column] = sa.Boolean()
        elif column in NUMBERS:
            frame[column], types[column] = pd.to_numeric(frame[column]), sa.Float()
        else:
            types[column] = sa.Text()
    return frame, types


def _load(url: str, root: Path, pattern: str, write: Callable[[sa.Engine, str, Path], None]) -> None:
    """Every ``root/<schema>/<pattern>`` file written into its schema (created) by ``write(engine, schema, path)``."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{folder.name}"'))
            for path in sorted(folder.glob(pattern)):
                write(engine, folder.name, path)
    finally:
        engine.dispose()


def _fivetran_table(engine: sa.Engine, schema: str, path: Path) -> None:
    frame, types = _typed(pd.read_csv(path, dtype=str, keep_default_na=False))
    frame.to_sql(path.stem, engine, schema=schema, index=False, dtype=types)


def load_fixture(url: str) -> None:
    """Every Fivetran fixture table into schemas ``stripe`` and ``hubspot``."""
    _load(url, FIXTURE, "*.csv", _fivetran_table)


AIRBYTE_FIXTURE = Path(__file__).parent / "fixtures" / "airbyte"
#: streams loaded the way older Airbyte destinations keep them: only the raw table with the object in _airbyte_data
RAW_STREAMS = ("stripe.charges",)


def _airbyte_stream(engine: sa.Engine, schema: str, path: Path) -> None:
    objects = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = {"_airbyte_raw_id": [f"{path.stem}-{i}" for i in range(len(objects))],
            "_airbyte_extracted_at": pd.Timestamp("2025-07-01 02:00:00")}
    if f"{schema}.{path.stem}" in RAW_STREAMS:
        frame = pd.DataFrame({**meta, "_airbyte_data": objects})
        frame.to_sql(f"_airbyte_raw_{path.stem}", engine, schema=schema, index=False, dtype={"_airbyte_data": JSONB()})
        return
    columns = list(dict.fromkeys(k for o in objects for k in o))
    frame = pd.DataFrame({**meta, **{c: [o.get(c) for o in objects] for c in columns}})
    nested = {c: JSONB() for c in columns if any(isinstance(o.get(c), dict | list) for o in objects)}
    numbers = {c: sa.BigInteger() for c in columns if c not in nested
               and all(o.get(c) is None or (isinstance(o.get(c), int) and not isinstance(o.get(c), bool)) for o in objects)
               and any(o.get(c) is not None for o in objects)}
    frame.astype({c: object for c in numbers}).to_sql(path.stem, engine, schema=schema, index=False, dtype={**nested, **numbers})


def load_airbyte_fixture(url: str) -> None:
    """fixtures/airbyte/<schema>/<stream>.jsonl (the API's objects, as Airbyte's streams hold them) into schemas
    ``stripe`` and ``hubspot``: a column per top-level field, nested objects and arrays as JSONB, Airbyte's
    bookkeeping columns beside them; :data:`RAW_STREAMS` as ``_airbyte_raw_<stream>`` with ``_airbyte_data``."""
    _load(url, AIRBYTE_FIXTURE, "*.jsonl", _airbyte_stream)


def status_runs(history: pd.DataFrame) -> list[tuple[object, ...]]:
    """billing_subscription_status_history as (subscription, status, valid_from, valid_to or None), in order."""
    return [(r.subscription_id, r.status, r.valid_from, r.valid_to if pd.notna(r.valid_to) else None)
            for r in history.sort_values(["subscription_id", "valid_from"]).itertuples()]


def expected_status_runs(canceled_seen_at: str) -> list[tuple[object, ...]]:
    """The fixture company's status history in either layout; sub_3's cancellation at the time the layout
    dates it (Fivetran: the sync that saw it; Airbyte: Stripe's event)."""
    t = pd.Timestamp
    return [("sub_1", "active", t("2025-01-05 09:00"), None),
            ("sub_2", "active", t("2025-01-10 11:00"), t("2025-02-12 08:00")),
            ("sub_2", "past_due", t("2025-02-12 08:00"), t("2025-02-14 08:00")),
            ("sub_2", "active", t("2025-02-14 08:00"), None),
            ("sub_3", "active", t("2025-02-01 09:00"), t(canceled_seen_at)),
            ("sub_3", "canceled", t(canceled_seen_at), None)]
