"""Every engagement metric emitted to kpi_monthly has one catalog entry with the same unit."""

from __future__ import annotations

import pandas as pd

from saas_metrics.metrics.engagement_catalog import ENGAGEMENT_METRICS
from saas_metrics.metrics.health import health_kpis
from saas_metrics.metrics.nps import nps_kpis
from saas_metrics.metrics.support import support_kpis
from saas_metrics.metrics.usage import account_engagement, usage_floor_kpis, usage_kpis

T = pd.Timestamp
JAN = T("2024-01-01")


def emitted() -> pd.DataFrame:
    usage = pd.DataFrame(
        {"date": [JAN], "account_id": ["a"], "user_id": ["u"], "event_name": ["view"], "event_count": [1]}
    )
    links = pd.DataFrame({"customer_id": ["c"], "product_account_id": ["a"]})
    engagement = account_engagement(usage, links, [JAN], None)
    tickets = pd.DataFrame(
        {
            "ticket_id": ["t"], "customer_id": ["c"], "created_at": [JAN], "priority": ["low"], "status": ["new"],
            "first_response_at": [pd.NaT], "solved_at": [pd.NaT],
        }
    )
    snapshots = pd.DataFrame({"month": [JAN], "customer_id": ["c"], "mrr": [10.0]})
    health = pd.DataFrame({"month": [JAN], "customer_id": ["c"], "score": [50.0], "band": ["at_risk"], "mrr": [10.0],
                           "risky_ticket_topics": ["discount"]})
    responses = pd.DataFrame({"customer_id": ["c"], "score": [9], "submitted_at": [JAN]})
    return pd.concat(
        [
            usage_kpis(engagement, usage, [JAN]),
            health_kpis(health),
            support_kpis(tickets, [JAN], snapshots),
            nps_kpis(responses, [JAN]),
            usage_floor_kpis(engagement, snapshots, [JAN], 4.0),
        ],
        ignore_index=True,
    )


def test_catalog_covers_every_emitted_metric_with_its_unit() -> None:
    catalog = {d.name: d for d in ENGAGEMENT_METRICS}
    assert len(catalog) == len(ENGAGEMENT_METRICS), "duplicate metric names"
    kpis = emitted()
    units = kpis.drop_duplicates("metric").set_index("metric")["unit"].to_dict()
    assert set(units) == set(catalog)
    for name, unit in units.items():
        assert catalog[name].unit == unit, name
    for segment in set(kpis["segment"]):
        for name in set(kpis.loc[kpis["segment"] == segment, "metric"]):
            assert segment in catalog[name].segments, (name, segment)


def test_catalog_entries_are_documented() -> None:
    for definition in ENGAGEMENT_METRICS:
        assert definition.formula and definition.inputs, definition.name
        assert definition.source.startswith(("docs/metric-definitions.md#", "the ")), definition.name
