"""Deterministic defect injection into native text frames, with a log.

Each corrupted row gets exactly one defect; a duplicate is a copy of the row
inserted right after it (the copy is the logged line). Line numbers are 1-based
data lines (the header excluded) of the file as written. Only fact files and
customers/subscriptions are corrupted; the item and status histories that define
the billed MRR are never touched (an orphan subscription moves its MRR to a
customer that does not exist, and is logged as such)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import pandas as pd

UNKNOWN_CURRENCY = "XYZ"
NON_NUMERIC = "12,3x"
UNPARSEABLE_DATE = "not-a-date"
ORPHAN_CUSTOMER = "cus_does_not_exist"


@dataclass(frozen=True)
class DefectSpec:
    """Which native columns of a file a defect may hit. ``date_format``: unix, unix_ms, unix_us, iso, date."""

    key: str | None
    date: str
    date_format: str
    amount: str | None = None
    currency: str | None = None
    score: str | None = None
    orphan: str | None = None
    also_date: tuple[str, str] | None = None  # a second column holding the same date (column, format)

    def kinds(self) -> list[str]:
        kinds = ["duplicate_id", "future_date", "unparseable_date"]
        if self.key:
            kinds.append("null_key")
        if self.amount:
            kinds += ["negative_amount", "non_numeric_amount"]
        if self.currency:
            kinds.append("unknown_currency")
        if self.score:
            kinds.append("nps_score_11")
        if self.orphan:
            kinds.append("orphan_customer")
        return kinds


SPECS: dict[str, DefectSpec] = {
    "billing/customers.csv": DefectSpec("id", "created", "unix", currency="currency"),
    "billing/subscriptions.csv": DefectSpec("id", "created", "unix", orphan="customer"),
    "billing/invoices.csv": DefectSpec("id", "created", "unix", amount="amount_paid", currency="currency"),
    "billing/charges.csv": DefectSpec("id", "created", "unix", amount="amount", currency="currency"),
    "billing/refunds.csv": DefectSpec("id", "created", "unix", amount="amount", currency="currency"),
    "crm/form_submissions.csv": DefectSpec("conversion_id", "submitted_at", "unix_ms"),
    "crm/touchpoints.csv": DefectSpec("event_id", "occurred_at", "iso"),
    "web/sessions.csv": DefectSpec("user_pseudo_id", "event_timestamp", "unix_us", also_date=("event_date", "ymd")),
    "ads/google_ads.csv": DefectSpec("campaign.id", "segments.date", "date", amount="metrics.cost_micros", currency="customer.currency_code"),
    "ads/meta_ads.csv": DefectSpec("campaign_id", "date_start", "date", amount="spend", currency="account_currency"),
    "ads/linkedin_ads.csv": DefectSpec("campaign", "dateRange.start", "date", amount="costInLocalCurrency", currency="currency"),
    "product/usage_daily.csv": DefectSpec("account_id", "date", "date", amount="count"),
    "support/tickets.csv": DefectSpec("id", "created_at", "iso"),
    "support/nps_responses.csv": DefectSpec("id", "created_at", "unix", score="score"),
    "finance/expenses.csv": DefectSpec("line_id", "posting_date", "date", amount="amount", currency="currency"),
}


def to_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as Python objects with None for null: what the CSV writer writes ('' for None)."""
    out = {}
    for col in frame.columns:
        values = frame[col].to_numpy(dtype=object, na_value=None)
        out[col] = pd.Series(values, dtype=object)
    return pd.DataFrame(out)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _format_date(value: dt.datetime, fmt: str) -> str:
    seconds = int((value - dt.datetime(1970, 1, 1)).total_seconds())
    return {
        "unix": str(seconds), "unix_ms": str(seconds * 1000), "unix_us": str(seconds * 1_000_000),
        "iso": value.strftime("%Y-%m-%dT%H:%M:%SZ"), "date": value.strftime("%Y-%m-%d"), "ymd": value.strftime("%Y%m%d"),
    }[fmt]


def _negative(text: str) -> str:
    return text if text.startswith("-") else f"-{text}" if text not in ("", "0", "0.0", "0.00") else "-1"


def inject(frame: pd.DataFrame, spec: DefectSpec, file: str, rate: float, rng: np.random.Generator,
           horizon: dt.datetime) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Corrupt round(rate x rows) rows of the cell frame (see ``to_cells``); return the new frame and the defect log rows."""
    n = len(frame)
    k = min(n, round(rate * n))
    if k == 0:
        return frame, []
    rows = np.sort(rng.choice(n, k, replace=False))
    kinds = spec.kinds()
    chosen = [kinds[i] for i in rng.integers(0, len(kinds), k)]
    out = frame.copy()
    duplicates: list[int] = []
    changes: list[tuple[int, str, str, str]] = []  # (row, column, defect, new value)
    for row, kind in zip(rows.tolist(), chosen, strict=True):
        if kind == "duplicate_id":
            duplicates.append(row)
            continue
        if kind == "null_key":
            column, value = spec.key, ""
        elif kind == "negative_amount":
            column = spec.amount
            value = _negative(_text(out.at[row, column]))
        elif kind == "non_numeric_amount":
            column, value = spec.amount, NON_NUMERIC
        elif kind == "unknown_currency":
            column, value = spec.currency, UNKNOWN_CURRENCY
        elif kind == "nps_score_11":
            column, value = spec.score, "11"
        elif kind == "orphan_customer":
            column, value = spec.orphan, ORPHAN_CUSTOMER
        elif kind == "future_date":
            future = horizon + dt.timedelta(days=int(rng.integers(400, 1500)), seconds=int(rng.integers(0, 86_400)))
            column, value = spec.date, _format_date(future, spec.date_format)
            if spec.also_date:
                out.at[row, spec.also_date[0]] = _format_date(future, spec.also_date[1])
        else:  # unparseable_date
            column, value = spec.date, UNPARSEABLE_DATE
        assert column is not None
        out.at[row, column] = value
        changes.append((row, column, kind, value))
    # Insert the duplicate copies right after their originals and renumber.
    order_key = np.arange(n) * 2
    copies = out.iloc[duplicates]
    combined = pd.concat([out, copies], ignore_index=True)
    keys = np.concatenate([order_key, np.array(duplicates, dtype=int) * 2 + 1])
    order = np.argsort(keys, kind="stable")
    combined = combined.iloc[order].reset_index(drop=True)
    line_of_key = {int(key): pos + 1 for pos, key in enumerate(keys[order])}
    log = [{"file": file, "line": line_of_key[row * 2], "column": column, "defect": kind, "value": value}
           for row, column, kind, value in changes]
    log += [{"file": file, "line": line_of_key[row * 2 + 1], "column": spec.key or "", "defect": "duplicate_id",
             "value": "" if spec.key is None else _text(frame.at[row, spec.key])} for row in duplicates]
    return combined, sorted(log, key=itemgetter("line"))
