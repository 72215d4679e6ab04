"""The dashboard page: self-contained, every chart in place, 'no data' where data is missing."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.reports.dashboard import (
    AT_RISK_TABLE_ID,
    CHART_IDS,
    at_risk_table_html,
    build_dashboard,
    format_change,
    format_value,
    kpi_cards_html,
    render_dashboard,
)
from saas_metrics.reports.data import AT_RISK_ACCOUNTS, DashboardData, headline_wide


def test_page_is_self_contained_with_every_chart(dashboard_data: DashboardData) -> None:
    page = render_dashboard(dashboard_data, title="Acme <metrics>")
    for div_id in CHART_IDS.values():
        assert f'id="{div_id}"' in page
    assert f'id="{AT_RISK_TABLE_ID}"' in page
    assert "No data." not in page
    # plotly.js inlined exactly once, nothing fetched from a CDN or the network
    assert page.count("Plotly.newPlot") == len(CHART_IDS)
    assert len(re.findall(r"plotly\.js v\d", page)) == 1
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r'<link[^>]+href="http', page)
    assert "<title>Acme &lt;metrics&gt;</title>" in page
    assert "Latest month: Dec 2024 (provisional)" in page


def test_build_dashboard_writes_one_html_file(tmp_path: Path, dashboard_data: DashboardData) -> None:
    out = build_dashboard(dashboard_data, tmp_path / "reports" / "dashboard.html", title="Acme")
    assert out == tmp_path / "reports" / "dashboard.html"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["dashboard.html"]  # no temp file left behind


def test_build_dashboard_rejects_other_inputs(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="expects DashboardData"):
        build_dashboard({"kpi_monthly": pd.DataFrame()}, tmp_path / "x.html")  # type: ignore[arg-type]  # the wrong type on purpose


def test_empty_data_shows_no_data_notes_and_no_charts(tmp_path: Path) -> None:
    page = build_dashboard(DashboardData(), tmp_path / "d.html").read_text(encoding="utf-8")
    assert page.count('class="no-data"') == len(CHART_IDS) + 1  # every chart and the at-risk table
    assert not any(f'id="{div_id}"' in page for div_id in CHART_IDS.values())
    assert "Latest month: no data yet" in page


def test_missing_detail_tables_only_blank_their_own_charts(dashboard_data: DashboardData) -> None:
    data = DashboardData(kpi_monthly=dashboard_data.kpi_monthly)
    page = render_dashboard(data)
    assert 'id="chart-mrr-bridge"' in page and 'id="chart-funnel"' in page
    assert 'id="chart-cohort-retention"' not in page and 'id="chart-attribution"' not in page
    assert "cohort_retention is empty." in page
    assert "no attribution credits for Oct 2024 – Dec 2024." in page
    assert "no at-risk accounts" in page


@pytest.mark.parametrize(("value", "kind", "text"), [
    (94_457.0, "currency", "$94.5k"), (1_133_484.0, "currency", "$1.13M"), (950.0, "currency", "$950"),
    (-12_500.0, "currency", "-$12.5k"), (1234.0, "count", "1,234"), (0.0187, "ratio", "1.9%"),
    (3.24, "multiple", "3.2×"), (math.nan, "ratio", "—"),
])
def test_format_value(value: float, kind: str, text: str) -> None:
    assert format_value(value, kind) == text


def test_format_change_rates_in_points_amounts_relative() -> None:
    assert format_change(0.05, 0.04, "ratio") == ("▲ 1.0 pp", pytest.approx(0.01))
    assert format_change(110.0, 100.0, "currency") == ("▲ 10.0%", pytest.approx(0.10))
    assert format_change(90.0, -100.0, "currency")[1] == pytest.approx(1.9)
    assert format_change(5.0, 0.0, "count") is None
    assert format_change(5.0, math.nan, "count") is None
    with pytest.raises(ValueError, match="unknown card kind"):
        format_value(1.0, "percent")


def test_kpi_cards_colour_a_churn_rise_as_bad() -> None:
    kpi = pd.DataFrame({
        "month": ["2025-01-01", "2025-02-01", "2025-01-01", "2025-02-01"],
        "metric": ["mrr", "mrr", "customer_churn_rate", "customer_churn_rate"],
        "value": [1000.0, 1100.0, 0.02, 0.03],
    })
    head = headline_wide(DashboardData(kpi_monthly=kpi).kpi_monthly)
    cards = kpi_cards_html(head, pd.Timestamp("2025-02-01"))
    mrr = re.search(r'data-metric="mrr">.*?</div></div>', cards).group(0)
    churn = re.search(r'data-metric="customer_churn_rate">.*?</div></div>', cards).group(0)
    assert "$1.10k" in mrr and 'class="delta good">▲ 10.0%' in mrr
    assert "3.0%" in churn and 'class="delta bad">▲ 1.0 pp' in churn
    assert cards.count("no prior month") == 5  # arr, customers, nrr, cac, ltv_to_cac have no data


def test_provisional_values_are_marked_on_cards_and_charts(dashboard_data: DashboardData) -> None:
    from saas_metrics.reports import charts

    head = headline_wide(dashboard_data.kpi_monthly)
    dec = pd.Timestamp("2024-12-01")
    cards = kpi_cards_html(head, dec, provisional={(dec, "cac")})
    cac = re.search(r'<div class="card[^"]*" data-metric="cac">.*?</div></div>', cards).group(0)
    mrr = re.search(r'<div class="card[^"]*" data-metric="mrr">.*?</div></div>', cards).group(0)
    assert 'class="card is-provisional"' in cac and ">provisional</span>" in cac
    assert "is-provisional" not in mrr and "provisional</span>" not in mrr
    # Charts: the provisional month is an open, larger marker and says so on hover; the others are plain.
    trend = charts.mrr_trend_figure(head, provisional={(dec, "mrr")}).data[0]
    assert list(trend.marker.symbol[-2:]) == ["circle", "circle-open"] and list(trend.customdata[-2:]) == ["", " (provisional)"]
    bars = charts.unit_economics_figure(head, provisional={(dec, "cac")}).data[0]
    assert bars.name == "CAC" and list(bars.marker.pattern.shape[-2:]) == ["", "/"]
    # The page: every December headline row of the fixture is provisional, and the footer explains the marks.
    page = render_dashboard(dashboard_data)
    assert page.count('class="card is-provisional"') == 7
    assert "provisional (open markers, hatched bars): the month, or the metric&#x27;s conversion window, has not closed" in page


def test_at_risk_table_latest_month_by_mrr_ids_only() -> None:
    frame = pd.DataFrame({
        "month": ["2025-03-01", "2025-03-01", "2025-03-01", "2025-02-01"],
        "customer_id": ["cus_b", "cus_<a>", "cus_c", "cus_old"],
        "mrr": [100.0, 250.5, 49.5, 999.0],
        "usage_change_pct": [-0.5, -0.75, -0.6, -0.9],
        "band": ["at_risk", "critical", "at_risk", "critical"],
        "email": ["b@x.com", "a@x.com", "c@x.com", "o@x.com"],  # must never reach the page
    })
    table = at_risk_table_html(frame_conformed(frame))
    assert "3 accounts in Mar 2025, $400.00 MRR at stake" in table
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1])
    assert [re.search(r"<td>(.*?)</td>", r).group(1) for r in rows] == ["cus_&lt;a&gt;", "cus_b", "cus_c"]
    assert "$250.50" in rows[0] and "-75%" in rows[0] and "band-critical" in rows[0]
    assert "cus_old" not in table and "@" not in table
    assert at_risk_table_html(frame_conformed(frame), max_rows=1).count("<tr>") == 2  # header + 1 row
    assert "the 2 smallest are not listed" in at_risk_table_html(frame_conformed(frame), max_rows=1)
    assert at_risk_table_html(AT_RISK_ACCOUNTS.empty_frame()) is None


def frame_conformed(frame: pd.DataFrame) -> pd.DataFrame:
    return DashboardData(at_risk_accounts=frame).at_risk_accounts
