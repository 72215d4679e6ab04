"""Loads the fixture replica in Fivetran's own layout (fixtures/fivetran/<schema>/<table>.csv: the column
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
