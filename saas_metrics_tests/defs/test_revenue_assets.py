"""What revenue_intervals says about the revenue engines it used; the cohorts' first-month rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from saas_metrics.defs.resources import WarehouseResource
from saas_metrics.defs.revenue_assets import (
    CUSTOMER_FIRST_PAID,
    _engine_use,
    _first_month_snapshots,
)
from saas_metrics.metrics.mrr import CUSTOMER_MRR
from saas_metrics.warehouse import Warehouse
from saas_metrics.warehouse.store import reader_index_prefix


def test_engine_use_counts_both_engines_and_names_the_invoice_ones_under_auto() -> None:
    engines = pd.Series({"sub_b": "invoices", "sub_a": "subscriptions", "sub_c": "invoices"})
    used, named = _engine_use(engines, "auto")
    assert used == {"subscriptions_on_subscriptions_engine": 1, "subscriptions_on_invoices_engine": 2}
    assert named == "sub_b, sub_c"
    # A forced engine names nothing.
    assert _engine_use(engines, "invoices")[1] == ""
    many = pd.Series({f"s{i:02d}": "invoices" for i in range(53)})
    assert _engine_use(many, "auto")[1].endswith("s49 (+3 more)")


def test_first_month_snapshots_are_looked_up_in_their_index(tmp_path: Path) -> None:
    """The cohorts' month-0 rows: each customer's customer_mrr row of its first paid month, before the
    run's first month, by hand; the lookup goes through the (month, customer_id) index it makes."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    warehouse = Warehouse(url)
    months = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])
    snapshots = pd.DataFrame({
        "month": [months[0], months[0], months[1], months[1], months[2], months[2]],
        "customer_id": ["a", "b", "a", "c", "a", "c"],
        "currency": "USD", "mrr_local": [10.0, 20.0, 11.0, 30.0, 12.0, 31.0], "fx_rate": 1.0,
        "mrr": [10.0, 20.0, 11.0, 30.0, 12.0, 31.0], "plan_tier": "pro", "billing_interval": "month", "subscriptions": 1,
    })
    warehouse.replace(CUSTOMER_MRR, snapshots, (months[0].date(), dt.date(2024, 4, 1)))
    first_paid = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "first_paid_month": [months[0], months[0], months[1], months[2]],
                               "first_paid_at": [months[0], months[0], months[1], months[2]]})
    warehouse.replace(CUSTOMER_FIRST_PAID, first_paid)
    statements: list[str] = []
    sa.event.listen(warehouse.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: statements.append(statement))
    rows = _first_month_snapshots(WarehouseResource(url=url), [months[2]])
    assert sorted(zip(rows["customer_id"], rows["month"], rows["mrr"], strict=True)) == [
        ("a", months[0], 10.0), ("b", months[0], 20.0), ("c", months[1], 30.0)]  # d paid first in March: not before it
    select = next(s for s in statements if s.lstrip().upper().startswith("SELECT") and "customer_first_paid" in s)
    with warehouse.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {select}", ("2024-03-01",)).fetchall()
    name = reader_index_prefix("customer_mrr", "first_months")
    assert plan[0][-1] == f"SEARCH m USING INDEX {name} (month=? AND customer_id=?)"
    assert _first_month_snapshots(WarehouseResource(url=url), [months[0]]).empty
