"""No planted password or token is printed, logged, stored or shown.

A run through the CLI on a PostgreSQL warehouse whose URL carries a password, with API tokens,
a webhook URL and a SQL replica URL (with a password) in the environment; then ``report`` on that
warehouse and on an empty one (the error line that used to print the URL). The CLI output, every
file of the Dagster home (event log, run storage), every row of the warehouse, the Data Docs, the
dashboard and the resource configuration the UI shows are searched for the planted values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from saas_metrics_tests.cli.test_cli import run_cli

PASSWORD = "Pl4nted-pw-7f3a"
TOKEN = "tok_Pl4nted_9c1e"
END = dt.date(2025, 6, 1)


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from saas_metrics.sample_data import generate

    out = tmp_path_factory.mktemp("tiny_sources")
    generate(out, seed=3, customers=20, months=3, end_month=END)
    return out


def _files_containing(folder: Path, *needles: str) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and any(n.encode() in p.read_bytes() for n in needles))


def _warehouse_text(url: str) -> str:
    """Every row of every table and view of the warehouse, as text."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names() + sa.inspect(conn).get_view_names()
            return "\n".join(str(conn.execute(sa.text(f'SELECT * FROM "{n}"')).fetchall()) for n in names)
    finally:
        engine.dispose()


def test_a_run_and_reports_show_no_planted_secret(tiny_sources: Path, postgres_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@")  # the test server trusts: any password works
    assert PASSWORD in url
    out_dir = tmp_path / "out"
    monkeypatch.setenv("SAAS_METRICS_REPORTS_DIR", str(out_dir / "reports"))
    monkeypatch.setenv("SAAS_METRICS_LANDING_CACHE_DIR", str(out_dir / "landing_cache"))
    monkeypatch.setenv("STRIPE_API_KEY", f"sk_{TOKEN}")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SAAS_METRICS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:9/hooks/{TOKEN}")
    monkeypatch.setenv("SAAS_METRICS_CONNECTORS__SQL_REPLICA_URL", f"postgresql://replica:{PASSWORD}@127.0.0.1:5432/replica")

    code = run_cli(monkeypatch, "run", "--sources-dir", str(tiny_sources), "--warehouse-url", url,
                   "--start-month", "2025-04", "--end-month", "2025-06")
    run_output = capsys.readouterr()
    assert code == 0, run_output.err
    assert "postgres:***@127.0.0.1" in run_output.out  # the URL is shown, its password is not
    assert run_cli(monkeypatch, "report", "--warehouse-url", url, "--html") == 0
    report_output = capsys.readouterr()
    empty = url.rsplit("/", 1)[0] + "/postgres"  # a database without kpi_monthly: the error line names it
    assert run_cli(monkeypatch, "report", "--warehouse-url", empty) == 1
    error_output = capsys.readouterr()
    assert "error: no kpi_monthly table in postgresql://postgres:***@127.0.0.1" in " ".join(error_output.err.split())

    printed = run_output.out + run_output.err + report_output.out + report_output.err + error_output.out + error_output.err
    assert PASSWORD not in printed and TOKEN not in printed

    home = Path(dg.DagsterInstance.get().root_directory)
    assert list(home.rglob("*.db")), "the run was recorded in the Dagster home"
    assert _files_containing(home, PASSWORD, TOKEN) == []  # event log, run storage, compute logs
    instance = dg.DagsterInstance.get()
    (run,) = instance.get_runs()
    log = "\n".join(dg.serialize_value(entry) for entry in instance.all_logs(run.run_id))
    assert "ASSET_MATERIALIZATION" in log and PASSWORD not in log and TOKEN not in log

    assert (out_dir / "gx_docs" / "index.html").is_file() and list((out_dir / "reports").glob("*.html"))
    assert _files_containing(out_dir, PASSWORD, TOKEN) == []  # Data Docs, dashboard, landing cache
    stored = _warehouse_text(url)
    assert "'customer_churn_rate'" in stored  # the warehouse was read (kpi_monthly rows)
    assert PASSWORD not in stored and TOKEN not in stored

    from saas_metrics.config import get_settings
    from saas_metrics.definitions import build_definitions

    get_settings.cache_clear()
    monkeypatch.setenv("SAAS_METRICS_WAREHOUSE_URL", url)
    defs = build_definitions(get_settings())
    shown = {name: resource.get_resource_definition().config_schema.default_value_as_json_str
             for name, resource in defs.resources.items()}  # what the UI's resource pages display
    assert '"env": "SAAS_METRICS_WAREHOUSE_URL"' in shown["warehouse"]
    assert all(PASSWORD not in text and TOKEN not in text for text in shown.values()), shown
