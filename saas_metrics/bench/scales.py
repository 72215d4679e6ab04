"""Named data scales of the benchmark (docs/benchmark.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

#: The benchmark pins the calendar so every machine measures the same data.
BENCH_END_MONTH = dt.date(2025, 6, 1)


@dataclass(frozen=True)
class Scale:
    """One generated company: ``customers`` acquired over ``months`` months ending BENCH_END_MONTH."""

    name: str
    customers: int
    months: int = 36
    product_events: bool = True
    seed: int = 42

    @property
    def early_month_index(self) -> int:
        """0-based index of the 'early' month timed against the last one (month 6 of 36)."""
        return min(5, self.months - 1)


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", customers=150, months=7),
    "small": Scale("small", customers=2_000),
    "medium": Scale("medium", customers=10_000),
    "large": Scale("large", customers=50_000),
}


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose from {sorted(SCALES)}") from None
