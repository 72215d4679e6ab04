"""How a KPI value reads for a person: money with its currency, rates as percent, multiples as ``2.52x``.

The warehouse keeps the plain number (``kpi_monthly.value``, rates as fractions); these functions
only format it for the Dagster UI's metadata, the CLI and messages.
"""

from __future__ import annotations

import math

from saas_metrics.metrics import kpi

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_money(value: float, currency: str = "USD", decimals: int = 0, symbol: bool = True) -> str:
    """``$794,399`` (``794,399 CHF`` for a currency without a symbol, or with ``symbol=False``);
    negative as ``-$1,200``."""
    amount = f"{abs(value):,.{decimals}f}"
    sign = "-" if value < 0 else ""
    mark = CURRENCY_SYMBOLS.get(currency.upper()) if symbol else None
    return f"{sign}{mark}{amount}" if mark else f"{sign}{amount} {currency.upper()}"


def format_kpi(metric: str, value: float | None, unit: str | None, currency: str = "USD", *,
               money_decimals: int = 0, currency_symbol: bool = True) -> str:
    """One KPI value as a person reads it, by its ``kpi_monthly.unit``.

    >>> format_kpi("mrr", 794398.99, "currency")
    '$794,399'
    >>> format_kpi("customer_churn_rate", 0.028747433264887063, "ratio")
    '2.87%'
    >>> format_kpi("ltv_to_cac", 2.5151, "ratio")
    '2.52x'
    """
    if is_missing(value):
        return "n/a"
    assert value is not None
    if unit == kpi.CURRENCY:
        return format_money(value, currency, money_decimals, currency_symbol)
    if unit == kpi.RATIO:
        return f"{value:,.2f}x" if metric in kpi.MULTIPLES else f"{value * 100:.2f}%"
    if unit == kpi.COUNT:
        return f"{value:,.0f}"
    if unit in (kpi.MONTHS, kpi.DAYS, kpi.HOURS):
        return f"{value:,.1f} {unit}"
    return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
