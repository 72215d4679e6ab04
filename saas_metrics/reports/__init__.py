"""Reports: the static HTML KPI dashboard built from warehouse tables.

The package imports nothing itself: the dashboard module imports plotly, which only the dashboard
step and `saas-metrics report --html` need (import `saas_metrics.reports.dashboard` / `.data`)."""
