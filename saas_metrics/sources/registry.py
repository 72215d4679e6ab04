"""One entry point for every canonical source table.

``read_source_table(table, sources_dir, start, end)`` reads the table's native
file(s) from ``sources_dir`` (one sub-folder per source system) and, for tables
with a ``time_column``, keeps the rows whose time lies in ``[start, end)``
(first-of-month dates, ``end`` exclusive; either may be None = unbounded).

Rows whose time is null or unparseable belong to no month. They are never
dropped silently: pass ``include_unplaced=True`` (the caller does so for the
FIRST month of a run) and they are returned together with that window's rows, so
the quarantine catches them. Rows placed outside every requested window are simply
not returned for that window. Snapshot tables (no time column) are returned whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from saas_metrics.calendar import month_start
from saas_metrics.sources import ads, billing, crm, exports, finance, fx, product, support, web
from saas_metrics.sources.schemas import SCHEMAS

Reader = Callable[[Path], pd.DataFrame]

READERS: dict[str, Reader] = {
    "billing_customers": billing.read_customers,
    "billing_prices": billing.read_prices,
    "billing_subscriptions": billing.read_subscriptions,
    "billing_subscription_items": billing.read_subscription_items,
    "billing_subscription_status_history": billing.read_subscription_status_history,
    "billing_discounts": billing.read_discounts,
    "billing_invoices": billing.read_invoices,
    "billing_invoice_lines": billing.read_invoice_lines,
    "billing_payments": billing.read_payments,
    "billing_refunds": billing.read_refunds,
    "billing_subscription_periods": billing.read_subscription_periods,
    "crm_contacts": crm.read_contacts,
    "crm_companies": crm.read_companies,
    "crm_deals": crm.read_deals,
    "crm_churn_reasons": crm.read_churn_reasons,
    "crm_form_submissions": crm.read_form_submissions,
    "crm_touchpoints": crm.read_touchpoints,
    "crm_meetings": crm.read_meetings,
    "web_sessions": web.read_sessions,
    "ad_spend": ads.read_ad_spend,
    "finance_expenses": finance.read_expenses,
    "finance_cash_balances": finance.read_cash_balances,
    "fx_rates": fx.read_rates,
    "product_accounts": product.read_accounts,
    "product_usage": product.read_usage,
    "support_tickets": support.read_tickets,
    "nps_responses": support.read_nps,
}

#: table -> source system (= its sub-folder of the sources dir).
SOURCE_SYSTEM_OF: dict[str, str] = {
    table: ("ads" if table == "ad_spend" else "support" if table == "nps_responses" else table.split("_", 1)[0])
    for table in READERS
}

#: table -> native files it reads (relative to the sources dir).
NATIVE_FILES_OF: dict[str, tuple[str, ...]] = {
    "billing_customers": ("billing/customers.csv",),
    "billing_prices": ("billing/prices.csv",),
    "billing_subscriptions": ("billing/subscriptions.csv",),
    "billing_subscription_items": ("billing/subscription_items.csv",),
    "billing_subscription_status_history": ("billing/subscription_status_history.csv",),
    "billing_discounts": ("billing/discounts.csv",),
    "billing_invoices": ("billing/invoices.csv",),
    # Also reads invoices.csv (status, dates), which is exported with it: watching it too would make
    # every new invoice request the latest month as well.
    "billing_invoice_lines": ("billing/invoice_lines.csv",),
    "billing_payments": ("billing/charges.csv",),
    "billing_refunds": ("billing/refunds.csv", "billing/charges.csv"),
    "billing_subscription_periods": ("billing/subscription_periods.csv",),
    "crm_contacts": ("crm/contacts.csv",),
    "crm_companies": ("crm/companies.csv",),
    "crm_deals": ("crm/deals.csv",),
    "crm_churn_reasons": ("crm/churn_reasons.csv",),
    "crm_form_submissions": ("crm/form_submissions.csv",),
    "crm_touchpoints": ("crm/touchpoints.csv",),
    "crm_meetings": ("crm/meetings.csv",),
    "web_sessions": ("web/sessions.csv",),
    "ad_spend": tuple(ads.FILES.values()),
    "finance_expenses": ("finance/expenses.csv",),
    "finance_cash_balances": ("finance/cash_balances.csv",),
    "fx_rates": ("fx/rates.csv",),
    "product_accounts": ("product/accounts.csv",),
    "product_usage": ("product/usage_daily.csv",),
    "support_tickets": ("support/tickets.csv",),
    "nps_responses": ("support/nps_responses.csv",),
}

SOURCE_SYSTEMS: tuple[str, ...] = tuple(sorted(set(SOURCE_SYSTEM_OF.values())))
KNOWN_NATIVE_FILES: set[str] = {relative for relatives in NATIVE_FILES_OF.values() for relative in relatives}

if set(READERS) != set(SCHEMAS):  # pragma: no cover - guards the registry against schema drift at import
    raise RuntimeError(f"source registry and schemas disagree: {sorted(set(READERS) ^ set(SCHEMAS))}")


def read_source_table(table: str, sources_dir: Path, start: dt.date | None = None, end: dt.date | None = None, *,
                      include_unplaced: bool = False) -> pd.DataFrame:
    """The canonical ``table`` read from ``sources_dir``, restricted to ``[start, end)`` by its time column
    (see the module docstring for ``include_unplaced``)."""
    if table not in READERS:
        raise KeyError(f"unknown source table {table!r}; known: {sorted(READERS)}")
    if start is not None and end is not None and end <= start:
        raise ValueError(f"empty window: end {end} is not after start {start}")
    exports.check_folder(Path(sources_dir), SOURCE_SYSTEM_OF[table], KNOWN_NATIVE_FILES)
    frame = READERS[table](Path(sources_dir))
    time_column = SCHEMAS[table].time_column
    if time_column is None or (start is None and end is None and not include_unplaced):
        return frame
    times = frame[time_column]
    keep = pd.Series(True, index=frame.index)
    lower, upper = (None if value is None else month_start(value) for value in (start, end))
    if lower is not None:
        keep &= times >= lower
    if upper is not None:
        keep &= times < upper
    keep &= times.notna()
    if include_unplaced:
        keep |= times.isna()
    return frame[keep.to_numpy()].reset_index(drop=True)


def source_files(sources_dir: Path) -> dict[str, list[Path]]:
    """system -> the existing native files of that system under ``sources_dir`` (sorted), for sensors to watch."""
    out: dict[str, list[Path]] = {system: [] for system in SOURCE_SYSTEMS}
    seen: set[Path] = set()
    for table, relatives in NATIVE_FILES_OF.items():
        for relative in relatives:
            path = Path(sources_dir) / relative
            if path.is_file() and path not in seen:
                seen.add(path)
                out[SOURCE_SYSTEM_OF[table]].append(path)
        for relative, _ in exports.exports_in(Path(sources_dir), SOURCE_SYSTEM_OF[table]):
            path = Path(sources_dir) / relative
            if path not in seen:  # downloaded exports stand for native files
                seen.add(path)
                out[SOURCE_SYSTEM_OF[table]].append(path)
    return {system: sorted(paths) for system, paths in out.items()}


def input_files(table: str, sources_dir: Path) -> list[str]:
    """The files ``table`` is read from (relative to ``sources_dir``): its native files and the downloaded
    exports in its system's folder."""
    extra = [r for r, _ in exports.exports_in(Path(sources_dir), SOURCE_SYSTEM_OF[table]) if r not in NATIVE_FILES_OF[table]]
    return [*NATIVE_FILES_OF[table], *extra]
