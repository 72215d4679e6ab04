"""Loads the fixture replicas in Fivetran's and Airbyte's own layouts (fixtures/fivetran/<schema>/<table>.csv: the column
headers of Fivetran's published sample rows, our own rows) into a database, typed as Fivetran types them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

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


def load_fixture(url: str, *, skip: tuple[str, ...] = ()) -> None:
    """Every fixture table into schemas ``stripe`` and ``hubspot`` (``skip``: 'schema.table' names left out)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        for folder in sorted(p for p in FIXTURE.iterdir() if p.is_dir()):
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{folder.name}"'))
            for path in sorted(folder.glob("*.csv")):
                if f"{folder.name}.{path.stem}" in skip:
                    continue
                frame, types = _typed(pd.read_csv(path, dtype=str, keep_default_na=False))
                frame.to_sql(path.stem, engine, schema=folder.name, index=False, dtype=types)
    finally:
        engine.dispose()


AIRBYTE_FIXTURE = Path(__file__).parent / "fixtures" / "airbyte"
#: streams loaded the way older Airbyte destinations keep them: only the raw table with the object in _airbyte_data
RAW_STREAMS = ("stripe.charges",)


def load_airbyte_fixture(url: str) -> None:
    """fixtures/airbyte/<schema>/<stream>.jsonl (the API's objects, as Airbyte's streams hold them) into schemas
    ``stripe`` and ``hubspot``: a column per top-level field, nested objects and arrays as JSONB, Airbyte's
    bookkeeping columns beside them; :data:`RAW_STREAMS` as ``_airbyte_raw_<stream>`` with ``_airbyte_data``."""
    import json

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        for folder in sorted(p for p in AIRBYTE_FIXTURE.iterdir() if p.is_dir()):
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{folder.name}"'))
            for path in sorted(folder.glob("*.jsonl")):
                objects = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                meta = {"_airbyte_raw_id": [f"{path.stem}-{i}" for i in range(len(objects))],
                        "_airbyte_extracted_at": pd.Timestamp("2025-07-01 02:00:00")}
                if f"{folder.name}.{path.stem}" in RAW_STREAMS:
                    frame = pd.DataFrame({**meta, "_airbyte_data": objects})
                    frame.to_sql(f"_airbyte_raw_{path.stem}", engine, schema=folder.name, index=False,
                                 dtype={"_airbyte_data": sa.dialects.postgresql.JSONB()})
                    continue
                columns = list(dict.fromkeys(k for o in objects for k in o))
                frame = pd.DataFrame({**meta, **{c: [o.get(c) for o in objects] for c in columns}})
                nested = {c: sa.dialects.postgresql.JSONB() for c in columns
                          if any(isinstance(o.get(c), (dict, list)) for o in objects)}
                numbers = {c: sa.BigInteger() for c in columns if c not in nested
                           and all(o.get(c) is None or (isinstance(o.get(c), int) and not isinstance(o.get(c), bool)) for o in objects)
                           and any(o.get(c) is not None for o in objects)}
                frame.astype({c: object for c in numbers}).to_sql(path.stem, engine, schema=folder.name, index=False,
                                                                   dtype={**nested, **numbers})
    finally:
        engine.dispose()
