"""The ``saas-metrics`` command: the typer app and its entry point ``main`` (app.py,
pyproject's ``[project.scripts]``), the run's progress display (progress.py), the KPI
report (report.py) and one-line errors (errors.py).

Nothing is imported here: the runner imports ``cli.errors`` for its one-line step errors
and must not load the command's app with it.
"""
