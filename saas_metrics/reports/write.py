"""Write the HTML KPI dashboard from the warehouse (used by the report asset and the CLI)."""

from __future__ import annotations

from pathlib import Path

from saas_metrics.config import Settings
from saas_metrics.reports.data import load_dashboard_data
from saas_metrics.warehouse import Warehouse

DASHBOARD_FILE = "dashboard.html"


def write_dashboard(settings: Settings, out_path: Path | None = None) -> Path:
    """Build data/reports/dashboard.html (self-contained, offline) from the warehouse."""
    # Deferred: the dashboard imports plotly (about 1 s), which only this step and `report --html` need.
    from saas_metrics.reports.dashboard import build_dashboard

    data = load_dashboard_data(Warehouse(settings.warehouse_url), currency=settings.reporting_currency)
    return build_dashboard(data, out_path or Path(settings.reports_dir) / DASHBOARD_FILE)
