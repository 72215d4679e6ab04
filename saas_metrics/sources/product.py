"""Product analytics exports (product/accounts.csv, product/usage_daily.csv) -> product tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from saas_metrics.sources import schemas as s
from saas_metrics.sources.files import lower, open_native

SYSTEM = "product"


def read_accounts(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "product/accounts.csv", SYSTEM)
    if t is None:
        return s.PRODUCT_ACCOUNTS.empty_frame()
    return t.finish({
        "account_id": t.text("account_id"), "created_at": t.timestamp("created_at", "created_at"),
        "signup_source": lower(t.text("signup_source", "signup_source")), "email_domain": lower(t.text("email_domain", "email_domain")),
        "billing_customer_id": t.text("billing_customer_id"), "crm_contact_id": t.text("crm_contact_id"),
        "trial_started_at": t.timestamp("trial_started_at", "trial_started_at"), "seats": t.integer("seats", "seats"),
    }, s.PRODUCT_ACCOUNTS)


def read_usage(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "product/usage_daily.csv", SYSTEM)
    if t is None:
        return s.PRODUCT_USAGE.empty_frame()
    return t.finish({
        "date": t.date("date", "date"), "account_id": t.text("account_id"), "user_id": t.text("user_id"),
        "event_name": t.text("event"), "event_count": t.integer("count", "event_count"),
    }, s.PRODUCT_USAGE)
