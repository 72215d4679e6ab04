"""The ``saas-metrics`` command: a thin front over the Dagster definitions.

    saas-metrics generate-sample-data [--seed 42] [--customers N] [--months 36] [--out DIR] [--defect-rate 0.02] [--force]
    saas-metrics run [--start YYYY-MM] [--end YYYY-MM] [--generate-if-missing]
    saas-metrics report [--start YYYY-MM] [--end YYYY-MM] [--format table|csv|json] [--html]
    saas-metrics alerts replay --start YYYY-MM [--end YYYY-MM] [--dry-run]
    saas-metrics ui [--port 3001]      dagster dev plus the docs server (dashboard, Data Docs)
    saas-metrics serve [--port 3001]   the docs server alone

Settings options (``--sources-dir``, ``--warehouse-url``, ``--start-month``,
``--end-month``, ``--reporting-currency``) override the environment for this
command. Errors print one line and a hint, and exit with status 1; no output shows a
password or token (saas_metrics/redaction.py).

The command implementations live beside this module: ``progress.py`` (the run's
progress display), ``report.py`` (the KPI tables) and ``errors.py`` (errors the user can fix).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape

from saas_metrics.calendar import add_months, first_of_month
from saas_metrics.cli.errors import CliError
from saas_metrics.config import DATA_DIR, PROJECT_ROOT, Settings, get_settings
from saas_metrics.dagster_home import prepare_dagster_home
from saas_metrics.docs_server import serve_in_background
from saas_metrics.errors import describe_exception
from saas_metrics.links import data_docs_root
from saas_metrics.redaction import redact

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Validated monthly SaaS metrics on Dagster.")
# Reports are wide: never squeeze them to 80 columns when the output is a pipe or a log.
console = Console(width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True)


def _month(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return first_of_month(value)
    except ValueError as exc:
        raise CliError(f"invalid month {value!r}", "use YYYY-MM or YYYY-MM-DD") from exc


SourcesOpt = Annotated[Path | None, typer.Option("--sources-dir", help="landing files folder (SAAS_METRICS_SOURCES_DIR)")]
WarehouseOpt = Annotated[str | None, typer.Option("--warehouse-url", help="SQLAlchemy URL (SAAS_METRICS_WAREHOUSE_URL)")]
StartMonthOpt = Annotated[str | None, typer.Option("--start-month", help="first partition (SAAS_METRICS_START_MONTH)")]
EndMonthOpt = Annotated[str | None, typer.Option("--end-month", help="last partition (SAAS_METRICS_END_MONTH)")]
CurrencyOpt = Annotated[str | None, typer.Option("--reporting-currency", help="SAAS_METRICS_REPORTING_CURRENCY")]


def _settings(sources_dir: Path | None = None, warehouse_url: str | None = None, start_month: str | None = None,
              end_month: str | None = None, reporting_currency: str | None = None) -> Settings:
    """Settings with the command's options applied (as environment, so the
    Definitions loaded by this process see the same values)."""
    overrides = {
        "SAAS_METRICS_SOURCES_DIR": str(sources_dir) if sources_dir else None,
        "SAAS_METRICS_WAREHOUSE_URL": warehouse_url,
        "SAAS_METRICS_START_MONTH": start_month,
        "SAAS_METRICS_END_MONTH": end_month,
        "SAAS_METRICS_REPORTING_CURRENCY": reporting_currency,
    }
    for key, value in overrides.items():
        if value is not None:
            os.environ[key] = value
    get_settings.cache_clear()
    try:
        return get_settings()
    except Exception as exc:  # pydantic ValidationError and friends: one clear line
        first = str(exc).splitlines()
        raise CliError(f"invalid settings: {' '.join(first[:3])}", "check the SAAS_METRICS_* variables and saas_metrics.yaml") from exc


def _dagster_home() -> Path:
    """$DAGSTER_HOME (default data/dagster_home), its instance storage made once under a file lock
    (saas_metrics/dagster_home.py), so commands started together cannot break it."""
    home = prepare_dagster_home(Path(os.environ.get("DAGSTER_HOME", DATA_DIR / "dagster_home")))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@app.command("generate-sample-data")
def generate_sample_data(
    seed: Annotated[int, typer.Option(help="random seed (same seed, same files)")] = 42,
    customers: Annotated[int, typer.Option(help="billing customers acquired over the window")] = 2000,
    months: Annotated[int, typer.Option(help="number of months of history")] = 36,
    out: Annotated[Path | None, typer.Option(help="output folder (default: the project's data/sources)")] = None,
    defect_rate: Annotated[float, typer.Option(help="fraction of rows to corrupt (0-1)")] = 0.0,
    force: Annotated[bool, typer.Option(help="write even into a folder holding files it did not generate")] = False,
    end_month: EndMonthOpt = None,
) -> None:
    """Write a deterministic simulated SaaS company's native exports. Refuses a folder holding files
    it did not generate (real exports, say) unless --force."""
    settings = _settings(end_month=end_month)
    if out is None and not _is_project_sources(Path(settings.sources_dir)):
        # The configured sources folder is the user's: sample data goes there only when named.
        raise CliError(f"the sources folder {settings.sources_dir} is not the project's data/sources",
                       "name the output folder with --out (it may be that folder)")
    target = out or settings.sources_dir
    if not 0 <= defect_rate < 1:
        raise CliError(f"--defect-rate must be in [0, 1), got {defect_rate}")
    with console.status(f"generating {customers} customers x {months} months into {target} ..."):
        summary = _generate(Path(target), force=force, seed=seed, customers=customers, months=months,
                            end_month=settings.last_month, defect_rate=defect_rate)
    console.print(f"[green]wrote[/green] {summary}")


def _is_project_sources(folder: Path) -> bool:
    return folder.resolve() == (DATA_DIR / "sources").resolve()


def _generate(target: Path, *, force: bool = False, **options: Any) -> Any:
    """The sample data generator, its refusal of a folder with other files as a CLI error."""
    # Deferred: the simulator (numpy, pandas) costs about 1 s that the other commands do not need.
    from saas_metrics.sample_data import generate
    from saas_metrics.sample_data.manifest import ForeignFilesError

    try:
        return generate(target, force=force, **options)
    except ForeignFilesError as exc:
        raise CliError(str(exc), "nothing was written; choose another --out, or pass --force to write there anyway") from exc


@app.command("run")
def run(
    start: Annotated[str | None, typer.Option(help="first month to materialise (default: first partition)")] = None,
    end: Annotated[str | None, typer.Option(help="last month to materialise (default: last complete month)")] = None,
    generate_if_missing: Annotated[bool, typer.Option(help="generate the sample data when the sources dir is empty")] = False,
    sources_dir: SourcesOpt = None,
    warehouse_url: WarehouseOpt = None,
    start_month: StartMonthOpt = None,
    end_month: EndMonthOpt = None,
    reporting_currency: CurrencyOpt = None,
) -> None:
    """Materialise every asset for a month range as one single-run backfill, then print the KPIs."""
    settings = _settings(sources_dir, warehouse_url, start_month, end_month, reporting_currency)
    if generate_if_missing and not _has_source_files(Path(settings.sources_dir)):
        if not _is_project_sources(Path(settings.sources_dir)):
            # Never write simulated data into a folder the user pointed us at.
            raise CliError(f"no source files in {settings.sources_dir}",
                           "put your exports there (docs/sources.md), or unset SAAS_METRICS_SOURCES_DIR for the sample data")
        with console.status(f"no source files in {settings.sources_dir}: generating the sample data ..."):
            _generate(Path(settings.sources_dir), end_month=settings.last_month)
    start_d, end_d = _month(start) or settings.first_month, _month(end) or settings.last_month
    if start_d < settings.first_month or end_d > settings.last_month:
        raise CliError(f"months {start_d:%Y-%m}..{end_d:%Y-%m} are outside the partitions {settings.first_month:%Y-%m}..{settings.last_month:%Y-%m}",
                       "change --start/--end or SAAS_METRICS_START_MONTH / SAAS_METRICS_END_MONTH")
    if settings.quality.gx_companion:
        # Before Dagster's import: the GX companion imports GX meanwhile, on the other core.
        from saas_metrics.quality.companion import start_shared_companion

        start_shared_companion()
    _dagster_home()
    # Deferred: Dagster and the definitions cost about 4 s; only `run` needs them.
    from saas_metrics.cli.progress import run_with_progress

    outcome = run_with_progress(settings, start_d, end_d, console)
    if outcome.success:
        _report().print_report(settings, max(start_d, add_months(end_d, -11)), end_d, "table", console)
    if not outcome.success:
        others = len(outcome.steps_failed) - 1
        also = f" (and {others} other failed step{'s' if others > 1 else ''})" if outcome.error and others > 0 else ""
        raise CliError(f"run {outcome.run_id} failed: {outcome.error or ', '.join(outcome.steps_failed)}{also}",
                       "open the run in the Dagster UI (make ui) for the full log")


def _has_source_files(folder: Path) -> bool:
    """Any landing file at all (a lone subscription_periods.csv at the top level counts)."""
    return folder.is_dir() and any(folder.rglob("*.csv"))


def _report() -> Any:
    """The report module (saas_metrics/cli/report.py)."""
    # Deferred: pandas and the warehouse cost about 0.8 s that --help, serve and ui do not need.
    from saas_metrics.cli import report

    return report


@app.command("report")
def report(
    start: Annotated[str | None, typer.Option(help="first month (default: 11 months before --end)")] = None,
    end: Annotated[str | None, typer.Option(help="last month (default: the latest in the warehouse)")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    html: Annotated[bool, typer.Option("--html", help="also write the HTML dashboard and print its path")] = False,
    warehouse_url: WarehouseOpt = None,
) -> None:
    """Print the headline KPIs for a month range from the warehouse."""
    settings = _settings(warehouse_url=warehouse_url)
    if format not in {"table", "csv", "json"}:
        raise CliError(f"unknown --format {format!r}", "use table, csv or json")
    end_d = _month(end)
    start_d = _month(start)
    _report().print_report(settings, start_d, end_d, format, console, html=html)


PortOpt = Annotated[int | None, typer.Option("--port", help="docs server port (SAAS_METRICS_DOCS_SERVER_PORT, default 3001)")]


def _docs_server(settings: Settings, port: int | None, host: str = "127.0.0.1"):
    try:
        server = serve_in_background(settings, port, host)
    except OSError as exc:
        raise CliError(f"cannot serve the dashboard and Data Docs on port {port or settings.docs_server_port}: {exc.strerror}",
                       "another server uses it: pass --port or set SAAS_METRICS_DOCS_SERVER_PORT "
                       "(and SAAS_METRICS_DOCS_BASE_URL if the links must say so)") from exc
    base = f"http://{host}:{server.server_address[1]}"
    console.print(f"dashboard: {base}/reports/ ({settings.reports_dir}); "
                  f"Data Docs: {base}/gx_docs/ ({data_docs_root(settings)})", highlight=False)
    return server


@app.command("serve")
def serve(
    port: PortOpt = None,
    host: Annotated[str, typer.Option(help="interface to listen on (0.0.0.0 inside a container)")] = "127.0.0.1",
) -> None:
    """Serve the dashboard (data/reports) and the GX Data Docs (data/gx_docs) over HTTP."""
    server = _docs_server(_settings(), port, host)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


@app.command("ui", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ui(ctx: typer.Context, port: PortOpt = None) -> None:
    """The Dagster UI and daemon (`dagster dev`; extra options are passed to it) plus the docs
    server that the UI's dashboard and Data Docs links point to."""
    settings = _settings()
    _dagster_home()
    server = _docs_server(settings, port)
    workspace = PROJECT_ROOT / "workspace.yaml"
    target = ["-w", str(workspace)] if workspace.is_file() else ["-m", "saas_metrics.definitions"]
    try:
        process = subprocess.Popen([sys.executable, "-m", "dagster", "dev", *target, *ctx.args])
        try:
            code = process.wait()
        except KeyboardInterrupt:
            # dagster dev got the same Ctrl-C from the terminal: let it stop its webserver and daemon.
            code = process.wait()
    finally:
        server.shutdown()
    if code:
        raise CliError(f"dagster dev exited with status {code}", "see its messages above")


alerts_app = typer.Typer(no_args_is_help=True, help="Alert rules on the warehouse (docs/alerts.md).")
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("replay")
def alerts_replay(
    start: Annotated[str, typer.Option(help="first month to evaluate (YYYY-MM)")],
    end: Annotated[str | None, typer.Option(help="last month (default: --start)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the alerts, queue nothing")] = False,
    warehouse_url: WarehouseOpt = None,
) -> None:
    """Evaluate the metric alert rules for a month range and queue the new alerts in the outbox
    (the metric_alerts_sensor delivers them at its next tick; alerts already raised are not repeated)."""
    # Deferred: the alert evaluation (pandas, SQLAlchemy) costs about 1.3 s; only this command needs it.
    from saas_metrics.alerts.history import replay_alerts
    from saas_metrics.alerts.outbox import Outbox
    from saas_metrics.alerts.rules import load_rules
    from saas_metrics.warehouse import Warehouse

    settings = _settings(warehouse_url=warehouse_url)
    start_d = _month(start)
    end_d = _month(end) or start_d
    if start_d is None or end_d is None or end_d < start_d:
        raise CliError(f"--end {end} is before --start {start}", "give --start <= --end (YYYY-MM)")
    warehouse = Warehouse(settings.warehouse_url)
    alerts = replay_alerts(warehouse, load_rules(settings.alert_rules_file), start_d, end_d, settings.reporting_currency)
    span = f"{start_d:%Y-%m}..{end_d:%Y-%m}"
    if alerts.empty:
        console.print(f"no alert for {span}")
        return
    if dry_run:
        for message in alerts["message"]:
            console.print(message, markup=False, highlight=False, soft_wrap=True)
        console.print(f"{len(alerts)} alert(s) for {span} (dry run: nothing queued)")
        return
    added = set(Outbox(warehouse.engine).add(alerts))
    for message in alerts.loc[alerts["dedupe_key"].isin(added), "message"]:
        console.print(message, markup=False, highlight=False, soft_wrap=True)
    console.print(f"{len(added)} new alert(s) queued for {span} ({len(alerts) - len(added)} were already in the outbox); "
                  "metric_alerts_sensor delivers them at its next tick")


@app.command("bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Run the benchmark (options: --scale tiny|small|medium|large, --backend sqlite|postgresql,
    --repeats N, --output docs/benchmark.md; see docs/benchmark.md)."""
    # Deferred: the benchmark harness loads Dagster and the warehouse (about 2 s).
    from saas_metrics.bench.harness import main as bench_main

    code = bench_main(list(ctx.args))
    if code:
        raise CliError(f"benchmark failed (exit {code})", "see the messages above")


def main() -> None:
    try:
        app(standalone_mode=False)
    except CliError as exc:
        err_console.print(f"[bold red]error:[/bold red] {escape(redact(str(exc)))}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"[dim]hint: {escape(redact(exc.hint))}[/dim]")
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(1)
    except Exception as exc:  # click usage errors and anything unexpected: one line, exit 1
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code or 2)
        head, *cause = describe_exception(exc)
        err_console.print(f"[bold red]error:[/bold red] {escape(redact(head))}", highlight=False, soft_wrap=True)
        for line in cause:
            err_console.print(f"  {redact(line)}", markup=False, highlight=False, soft_wrap=True)
        err_console.print("[dim]hint: run with SAAS_METRICS_DEBUG=1 for the traceback[/dim]")
        if os.environ.get("SAAS_METRICS_DEBUG"):
            raise
        sys.exit(1)


if __name__ == "__main__":
    main()
