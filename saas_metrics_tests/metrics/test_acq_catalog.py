"""The acquisition metric catalog is complete and consistent."""

from __future__ import annotations

import pandas as pd

from saas_metrics.metrics import kpi
from saas_metrics.metrics.acquisition_catalog import ACQUISITION_METRICS, catalog_mismatches


def test_names_unique_and_entries_complete():
    names = [d.name for d in ACQUISITION_METRICS]
    assert len(names) == len(set(names))
    units = {kpi.CURRENCY, kpi.COUNT, kpi.RATIO, kpi.MONTHS, kpi.DAYS}
    for d in ACQUISITION_METRICS:
        assert d.unit in units, d.name
        assert d.formula and d.inputs and d.source.startswith(("docs/metric-definitions.md#", "the ")), d.name
        assert d.name == d.name.lower() and " " not in d.name


def test_mismatches_are_reported():
    rows = kpi.kpi_frame([
        {"month": "2024-03-01", "metric": "cac", "value": 1.0, "unit": "ratio"},
        {"month": "2024-03-01", "metric": "nope", "value": 1.0, "unit": "count"},
        {"month": "2024-03-01", "metric": "mqls", "segment": "channel", "segment_value": "x", "value": 1.0, "unit": "count"},
    ])
    problems = catalog_mismatches(rows)
    assert len(problems) == 3
    assert catalog_mismatches(pd.DataFrame(columns=["metric", "segment", "unit"])) == []
