"""The metric catalog and docs/metrics.md: complete for revenue, rendered, never drifting."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics.catalog import ALL_METRICS, REVENUE_METRICS, metric_names
from saas_metrics.metrics.kpi import MetricDef
from saas_metrics.metrics.ltv import LTV_UNITS, ltv_kpis
from saas_metrics.metrics.reference import DOCS_FILE, render_metric_reference
from saas_metrics.metrics.retention import RETENTION_UNITS
from saas_metrics.metrics.revenue_kpis import (
    REVENUE_UNITS,
    acv_kpis,
    cash_kpis,
    cmrr_kpis,
    revenue_kpis,
)
from saas_metrics.metrics.segments import SEGMENT_METRICS

T = pd.Timestamp
FEB = T("2024-02-01")


def emitted_revenue_metrics() -> dict[str, str]:
    """Metric -> unit of every row the revenue functions emit (run on a tiny input)."""
    movements = pd.DataFrame([{"month": FEB, "customer_id": "a", "mrr_start": 10.0, "mrr_start_fx": 10.0, "mrr_end": 20.0,
                               "movement": "expansion", "amount": 10.0, "fx_impact": 0.0}])
    snapshots = pd.DataFrame([{"month": FEB, "customer_id": "a", "currency": "USD", "mrr_local": 20.0, "fx_rate": 1.0, "mrr": 20.0}])
    frames = [
        revenue_kpis(movements, snapshots, [FEB]),
        ltv_kpis(pd.Series({FEB: 20.0}), pd.Series({FEB: 0.1}), [FEB], RevenuePolicy()),
        cmrr_kpis(pd.DataFrame(columns=["customer_id", "subscription_id", "start_at", "end_at", "mrr"]), None, [FEB], None, "USD"),
        cash_kpis(None, None, None, [FEB], "USD"),
        acv_kpis(None, pd.Series({FEB: 20.0}), pd.Series({FEB: 1.0}), None, [FEB], "USD"),
    ]
    rows = pd.concat(frames, ignore_index=True)
    return dict(zip(rows["metric"], rows["unit"], strict=True))


def test_every_emitted_revenue_metric_is_in_the_catalog_with_its_unit():
    emitted = emitted_revenue_metrics()
    catalog = {d.name: d for d in REVENUE_METRICS}
    assert set(emitted) == set(catalog)
    assert set(REVENUE_UNITS) | set(RETENTION_UNITS) | set(LTV_UNITS) | {"cmrr", "carr", "cash_collected", "acv"} == set(catalog)
    for name, unit in emitted.items():
        assert catalog[name].unit == unit, name


def test_segmented_metrics_declare_their_segments():
    catalog = {d.name: d for d in REVENUE_METRICS}
    for name in SEGMENT_METRICS:
        assert {"plan_tier", "billing_interval", "country", "currency", "channel"} <= set(catalog[name].segments), name
    assert catalog["reactivation_mrr"].segments == ("all",)


def test_catalog_entries_are_complete_and_unique():
    assert len(metric_names()) == len(ALL_METRICS)
    for d in REVENUE_METRICS:
        assert d.formula and d.inputs and d.source.startswith(("docs/metric-definitions.md#", "the ")), d.name
    assert all(d in ALL_METRICS for d in REVENUE_METRICS)


def test_docs_file_equals_the_rendered_catalog():
    expected = render_metric_reference(ALL_METRICS)
    assert DOCS_FILE.read_text(encoding="utf-8") == expected, "run: python -m saas_metrics.metrics.reference"


def test_render_contents_and_duplicate_error():
    text = render_metric_reference(REVENUE_METRICS[:2])
    assert "### mrr" in text and "| `arr` | currency | 12 x mrr |" in text
    assert "`reporting_currency`" in text
    dup = MetricDef("mrr", "currency", "revenue", "x", "y", "z")
    with pytest.raises(ValueError, match="more than once"):
        render_metric_reference([*REVENUE_METRICS[:1], dup])
