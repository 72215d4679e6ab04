"""The ``saas-metrics`` command: the typer app and its entry point ``main`` (app.py,
pyproject's ``[project.scripts]``), the run's progress display (progress.py), the KPI
report (report.py) and errors the user can fix (errors.py).
"""

from saas_metrics.cli.app import app, main

__all__ = ["app", "main"]
