"""Expense ledger (finance/expenses.csv, GL lines) -> finance_expenses; bank balances
(finance/cash_balances.csv) -> finance_cash_balances.

``gl_account`` = account code + ' ' + account name (e.g. '6200 Salaries - Marketing');
department and category are lower case.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from saas_metrics.sources import schemas as s
from saas_metrics.sources.files import lower, open_native, upper

SYSTEM = "finance"


def read_expenses(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "finance/expenses.csv", SYSTEM)
    if t is None:
        return s.FINANCE_EXPENSES.empty_frame()
    code, name = t.text("account_code"), t.text("account_name")
    gl = (code.fillna("") + " " + name.fillna("")).str.strip()
    return t.finish({
        "expense_id": t.text("line_id"), "date": t.date("posting_date", "date"),
        "gl_account": gl.where(code.notna() | name.notna(), None).astype(object),
        "category": lower(t.text("category", "category")), "department": lower(t.text("department", "department")),
        "amount": t.number("amount", "amount"), "currency": upper(t.text("currency", "currency")),
    }, s.FINANCE_EXPENSES)




def read_cash_balances(sources_dir: Path) -> pd.DataFrame:
    """finance/cash_balances.csv (a bank or accounting export): date, account_id, account_name, balance, currency."""
    t = open_native(sources_dir, "finance/cash_balances.csv", SYSTEM)
    if t is None:
        return s.FINANCE_CASH_BALANCES.empty_frame()
    return t.finish({
        "date": t.date("date", "date"), "account_id": t.text("account_id"), "account_name": t.text("account_name"),
        "balance": t.number("balance", "balance"), "currency": upper(t.text("currency")),
    }, s.FINANCE_CASH_BALANCES)
