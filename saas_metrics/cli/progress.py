"""Progress display for ``saas-metrics run``: one line per finished step, a bar,
and a summary of the asset checks."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from saas_metrics.cli.report import run_notes
from saas_metrics.config import Settings
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.jobs import JOB_NAME
from saas_metrics.redaction import redact
from saas_metrics.runner import CLI_LOG_LEVEL, RunOutcome, materialise


def run_with_progress(settings: Settings, start: dt.date, end: dt.date, console: Console) -> RunOutcome:
    defs = build_definitions(settings)
    job = defs.resolve_job_def(JOB_NAME)
    total = len(job.graph.node_dict)
    assets = len(list(job.asset_layer.executable_asset_keys))
    console.print(
        f"materialising [bold]{assets}[/bold] assets in [bold]{total}[/bold] steps for "
        f"[bold]{start:%Y-%m}[/bold]..[bold]{end:%Y-%m}[/bold] "
        f"as one single-run backfill into {redact(settings.warehouse_url)}"
    )
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    )
    with progress:
        task = progress.add_task("steps", total=total)

        def on_event(event: dg.DagsterEvent) -> None:
            marks = {"STEP_SUCCESS": "[green]ok[/green]", "STEP_FAILURE": "[red]FAILED[/red]",
                     "STEP_SKIPPED": "[yellow]skipped[/yellow]", "STEP_UPSTREAM_FAILURE": "[yellow]skipped (upstream failed)[/yellow]"}
            if event.event_type_value in marks:
                mark = marks[event.event_type_value]
                progress.console.print(f"  {mark} {event.step_key}")
                progress.advance(task)

        # The console shows progress; the full event log is in the Dagster instance (make ui).
        outcome = materialise(settings, start, end, defs=defs, on_event=on_event, log_level=CLI_LOG_LEVEL)
    failed = outcome.checks_failed
    console.print(
        f"run [bold]{outcome.run_id[:8]}[/bold]: {outcome.steps_succeeded} steps succeeded, "
        f"{len(outcome.steps_failed)} failed, {len(outcome.steps_skipped)} skipped; "
        f"checks: {outcome.checks_passed} passed, {len(failed)} failed"
    )
    for asset, check, severity in failed:
        colour = "red" if severity == "ERROR" else "yellow"
        console.print(f"  [{colour}]{severity}[/{colour}] {asset} / {check}")
    for note in run_notes(settings, outcome.run_id):
        console.print(note, style="yellow", markup=False, highlight=False)
    return outcome

