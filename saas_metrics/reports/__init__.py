"""Reports: the static HTML KPI dashboard built from warehouse tables."""

from saas_metrics.reports.dashboard import CHART_IDS, build_dashboard, render_dashboard
from saas_metrics.reports.data import DashboardData, load_dashboard_data

__all__ = ["CHART_IDS", "DashboardData", "build_dashboard", "load_dashboard_data", "render_dashboard"]
