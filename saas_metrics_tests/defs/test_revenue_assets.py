"""What revenue_intervals says about the revenue engines it used."""

from __future__ import annotations

import pandas as pd

from saas_metrics.defs.revenue_assets import _engine_use


def test_engine_use_counts_both_engines_and_names_the_invoice_ones_under_auto() -> None:
    engines = pd.Series({"sub_b": "invoices", "sub_a": "subscriptions", "sub_c": "invoices"})
    used, named = _engine_use(engines, "auto")
    assert used == {"subscriptions_on_subscriptions_engine": 1, "subscriptions_on_invoices_engine": 2}
    assert named == "sub_b, sub_c"
    # A forced engine names nothing.
    assert _engine_use(engines, "invoices")[1] == ""
    many = pd.Series({f"s{i:02d}": "invoices" for i in range(53)})
    assert _engine_use(many, "auto")[1].endswith("s49 (+3 more)")
