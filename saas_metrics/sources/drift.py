"""Schema drift of a source table, decided in one place for files, APIs and SQL replicas.

Every source arrives as native columns read by one :class:`~saas_metrics.sources.files.NativeTable`
(API and replica records are landed as native files first, :mod:`saas_metrics.connectors.native`),
so drift is found there and only there:

* a column the reader does not use is ignored;
* a missing **optional** column is read as null, and ONE warning per table and read names it and
  the metrics it weakens;
* a missing **required** column (one feeding a key, a non-nullable column, the time column or
  the amount a metric sums, :func:`required_columns`) stops the table: the raw asset's blocking
  ``schema`` check fails with a message naming system, table, column and the metrics it feeds.

The finding is a :class:`MissingColumn` (structured), carried by a :class:`MissingColumnsWarning`
so it survives the landing cache and reaches the raw asset without re-parsing any text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from saas_metrics.metrics.requirements import metrics_fed_by
from saas_metrics.sources.schemas import SCHEMAS

#: Amounts and counts a metric sums: a table without them would load rows that add up to nothing.
MEASURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "billing_prices": ("unit_amount",),
    "billing_subscription_items": ("quantity",),
    "billing_invoices": ("total",),
    "billing_payments": ("amount",),
    "billing_refunds": ("amount",),
    "billing_subscription_periods": ("monthly_amount",),
    "ad_spend": ("spend",),
    "finance_expenses": ("amount",),
    "fx_rates": ("rate_to_usd",),
    "product_usage": ("event_count",),
    "nps_responses": ("score",),
}


def required_columns(table: str) -> frozenset[str]:
    """Canonical columns of ``table`` without which it cannot be loaded: non-nullable and key
    columns, the time column and the measures of :data:`MEASURE_COLUMNS`."""
    schema = SCHEMAS[table]
    names = {c.name for c in schema.columns if not c.nullable and not c.name.startswith("_")}
    names |= set(schema.key)
    if schema.time_column:
        names.add(schema.time_column)
    return frozenset(names | set(MEASURE_COLUMNS.get(table, ())))


@dataclass(frozen=True)
class MissingColumn:
    """A native column a table's reader needs that its source does not have."""

    system: str
    table: str
    source: str  # file, API object or replica table
    column: str  # native column name
    target: str | None  # canonical column it feeds (None when it only helps derive one)
    required: bool

    @property
    def metrics(self) -> tuple[str, ...]:
        return metrics_fed_by(self.table)

    def problem(self) -> str:
        """The blocking schema check's text for a required column."""
        fed = ", ".join(self.metrics) or "no headline metric directly"
        return (f"{self.source} lacks required column(s) {self.column} (rule required_column): "
                f"system {self.system}, table {self.table}, column {self.target or self.column}; it feeds {fed}")


class MissingColumnsWarning(UserWarning):
    """The columns one read of a table lacks (``missing``), as one warning."""

    def __init__(self, missing: tuple[MissingColumn, ...] | str) -> None:
        if isinstance(missing, str):  # re-created from its text (warnings are rebuilt from ``args``, e.g. by pytest-xdist)
            self.missing: tuple[MissingColumn, ...] = ()
            super().__init__(missing)
            return
        self.missing = missing
        first = missing[0]
        names = [m.column for m in missing]
        required = [m.column for m in missing if m.required]
        optional = [m for m in missing if not m.required]
        parts = []
        if required:
            parts.append(f"required {', '.join(required)}: table {first.table} stops")
        if optional:
            weakened = ", ".join(first.metrics) or "no headline metric directly"
            read_as = ", ".join(f"{m.target or m.column}" for m in optional)
            parts.append(f"{first.table}.{{{read_as}}} read as null, weakening {weakened}")
        super().__init__(f"{first.system}: {first.source} lacks column(s) {names}; " + "; ".join(parts))

    def to_json(self) -> list[dict[str, object]]:
        return [asdict(m) for m in self.missing]

    @classmethod
    def from_json(cls, items: list[dict[str, Any]]) -> MissingColumnsWarning:
        return cls(tuple(MissingColumn(**item) for item in items))
