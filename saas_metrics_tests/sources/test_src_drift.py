"""Schema drift, decided once for every source: extra columns ignored, a missing optional column
null with one warning naming the metrics it weakens, a missing required column a structured,
blocking finding naming system, table, column and the metrics it feeds."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.sources import crm, landing
from saas_metrics.sources.drift import MissingColumn, MissingColumnsWarning, required_columns
from saas_metrics.sources.registry import read_source_table

CONTACTS = "hs_object_id,email,createdate,lifecyclestage,hs_analytics_source,brand_new_property\n"
ROW = "101,a@b.co,2025-01-03T10:00:00Z,lead,ORGANIC_SEARCH,whatever\n"


def _drift(read) -> tuple[pd.DataFrame, list[MissingColumnsWarning]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read()
    return frame, [w.message for w in caught if isinstance(w.message, MissingColumnsWarning)]


def _by_column(found: MissingColumnsWarning) -> dict[str, MissingColumn]:
    return {m.column: m for m in found.missing}


def test_required_columns_are_keys_time_and_measures() -> None:
    assert required_columns("billing_invoices") == {"invoice_id", "customer_id", "created_at", "total"}
    assert required_columns("crm_contacts") == {"contact_id"}
    assert required_columns("fx_rates") == {"date", "currency", "rate_to_usd"}


def test_extra_column_ignored_and_optional_columns_warn_once(write) -> None:
    d = write("crm/contacts.csv", CONTACTS + ROW)
    full, [found] = _drift(lambda: crm.read_contacts(d))
    missing = _by_column(found)
    assert "brand_new_property" not in missing and "brand_new_property" not in full.columns
    assert not any(m.required for m in missing.values())
    assert missing["firstname"] == MissingColumn("crm", "crm_contacts", "crm/contacts.csv", "firstname", "first_name", False)
    assert missing["hs_lifecyclestage_lead_date"].target == "lead_at"
    assert "weakening" in str(found) and "leads" in str(found) and "mqls" in str(found)
    assert full.at[0, "contact_id"] == "101" and full.at[0, "lifecycle_stage"] == "lead" and pd.isna(full.at[0, "first_name"])


def test_missing_required_column_is_named_with_the_metrics_it_feeds(write) -> None:
    d = write("crm/contacts.csv", CONTACTS.replace("hs_object_id,", "") + ROW.replace("101,", ""))
    _, [found] = _drift(lambda: crm.read_contacts(d))
    key = _by_column(found)["hs_object_id"]
    assert (key.system, key.table, key.target, key.required) == ("crm", "crm_contacts", "contact_id", True)
    assert key.problem() == (
        "crm/contacts.csv lacks required column(s) hs_object_id (rule required_column): system crm, table crm_contacts, "
        "column contact_id; it feeds " + ", ".join(key.metrics))
    assert "leads" in key.metrics and "required hs_object_id: table crm_contacts stops" in str(found)


@pytest.mark.parametrize("cached", [False, True])
def test_findings_survive_the_landing_cache(write, tmp_path: Path, cached: bool) -> None:
    d = write("fx/rates.csv", "date,currency\n2025-01-01,EUR\n")
    cache = tmp_path / "cache"
    if cached:
        _drift(lambda: landing.read_landed("fx_rates", d, cache, (dt.date(2025, 1, 1), dt.date(2025, 2, 1))))
        landing.wait_for_stores()
    _, [found] = _drift(lambda: landing.read_landed("fx_rates", d, cache, (dt.date(2025, 1, 1), dt.date(2025, 2, 1))))
    assert found.missing == (MissingColumn("fx", "fx_rates", "fx/rates.csv", "rate_to_usd", "rate_to_usd", True),)
    # The cache is written by a background thread; warnings.catch_warnings is process-wide state, so the
    # next read is recorded only once that thread is done.
    landing.wait_for_stores()
    _, [direct] = _drift(lambda: read_source_table("fx_rates", d))
    assert direct.missing == found.missing


def test_the_warnings_can_be_rebuilt_from_their_args() -> None:
    """Warnings travel between processes as ``cls(*warning.args)`` (pytest-xdist does so): the
    drift and exclusion warnings must survive it with their text."""
    from saas_metrics.connectors.native import ExcludedRowsWarning
    from saas_metrics.sources.drift import MissingColumn, MissingColumnsWarning

    missing = MissingColumn(system="billing", table="billing_invoices", source="billing/invoices.csv",
                            column="created", target="created_at", required=True)
    for warning in (MissingColumnsWarning((missing,)), ExcludedRowsWarning("invoice", {"soft_deleted": 2})):
        rebuilt = type(warning)(*warning.args)
        assert str(rebuilt) == str(warning)
