"""The saas-metrics command: readable reports, scripting formats, one-line errors with exit 1."""

import datetime as dt
import json
from pathlib import Path

import pytest

from saas_metrics.cli.app import main
from saas_metrics.metrics.kpi import KPI_MONTHLY, kpi_frame
from saas_metrics.warehouse import Warehouse


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr("sys.argv", ["saas-metrics", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def warehouse_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    rows = []
    for month, mrr, churn in (("2025-01-01", 1000.0, 0.02), ("2025-02-01", 1750.0, 0.08)):
        rows += [
            {"month": month, "metric": "mrr", "value": mrr, "unit": "currency"},
            {"month": month, "metric": "arr", "value": mrr * 12, "unit": "currency"},
            {"month": month, "metric": "customer_churn_rate", "value": churn, "unit": "ratio"},
            {"month": month, "metric": "nrr", "value": None, "unit": "ratio"},
        ]
    Warehouse(url).replace(KPI_MONTHLY, kpi_frame(rows), (dt.date(2025, 1, 1), dt.date(2025, 3, 1)))
    return url


def test_report_prints_an_aligned_table_with_units(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], warehouse_url: str) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    assert run_cli(monkeypatch, "report", "--warehouse-url", warehouse_url) == 0
    out = capsys.readouterr().out
    assert "2025-01" in out and "2025-02" in out
    assert "1,750" in out and "21,000" in out  # currency with thousands separators
    assert "8.0 %" in out and "2.0 %" in out  # ratios as percent
    assert "–" in out  # NULL nrr shown as a dash, not 0 or nan
    # churn 8 % breaks the default customer_churn_rate rule (above 5 %): flagged
    assert "breaks an alert rule" in out


def test_report_as_csv_and_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], warehouse_url: str) -> None:
    assert run_cli(monkeypatch, "report", "--warehouse-url", warehouse_url, "--format", "csv") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "metric,unit,2025-01,2025-02"
    assert "mrr,currency,1000.0,1750.0" in lines
    assert run_cli(monkeypatch, "report", "--warehouse-url", warehouse_url, "--format", "json") == 0
    records = json.loads(capsys.readouterr().out)
    assert {"month": "2025-02", "metric": "mrr", "unit": "currency", "value": 1750.0, "is_provisional": False} in records
    assert {"month": "2025-01", "metric": "nrr", "unit": "ratio", "value": None, "is_provisional": False} in records


def test_report_marks_provisional_values(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                         warehouse_url: str) -> None:
    # March is the month in progress: trial->paid 32.6 % (its conversion window is open) and churn 9 %, provisional.
    march = [{"month": "2025-03-01", "metric": "trial_to_paid_rate", "value": 0.326, "unit": "ratio", "is_provisional": True},
             {"month": "2025-03-01", "metric": "customer_churn_rate", "value": 0.09, "unit": "ratio", "is_provisional": True},
             {"month": "2025-03-01", "metric": "mrr", "value": 1800.0, "unit": "currency", "is_provisional": False}]
    Warehouse(warehouse_url).replace(KPI_MONTHLY, kpi_frame(march), (dt.date(2025, 3, 1), dt.date(2025, 4, 1)))
    monkeypatch.setenv("COLUMNS", "200")
    assert run_cli(monkeypatch, "report", "--warehouse-url", warehouse_url) == 0
    out = capsys.readouterr().out
    march_rows = [line for line in out.splitlines() if "2025-03" in line and "Headline" not in line]
    assert any("32.6 %*" in line for line in march_rows) and any("9.0 %*" in line for line in march_rows)
    assert any("1,800" in line and "1,800*" not in line for line in march_rows)  # closed value: unmarked
    assert "8.0 %*" not in out  # February's churn is final
    assert "* provisional: the month, or the metric's conversion window" in out
    assert run_cli(monkeypatch, "report", "--warehouse-url", warehouse_url, "--format", "json") == 0
    records = json.loads(capsys.readouterr().out)
    assert {"month": "2025-03", "metric": "trial_to_paid_rate", "unit": "ratio", "value": 0.326, "is_provisional": True} in records


def test_report_without_provisional_values_has_no_footnote(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], warehouse_url: str) -> None:
    assert run_cli(monkeypatch, "report", "--warehouse-url", warehouse_url) == 0
    out = capsys.readouterr().out
    assert "provisional" not in out and "%*" not in out


def test_errors_are_one_line_with_a_hint_and_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run_cli(monkeypatch, "report", "--warehouse-url", f"sqlite:///{tmp_path / 'empty.db'}") == 1
    err = capsys.readouterr().err
    assert "error: no kpi_monthly table" in err and "hint: run `saas-metrics run`" in err
    assert "Traceback" not in err
    assert run_cli(monkeypatch, "report", "--format", "xml", "--warehouse-url", f"sqlite:///{tmp_path / 'e.db'}") == 1
    assert "unknown --format 'xml'" in capsys.readouterr().err
    assert run_cli(monkeypatch, "run", "--start", "2025-13", "--end-month", "2025-06") == 1
    assert "invalid month '2025-13'" in capsys.readouterr().err


def test_run_outside_the_partitions_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = run_cli(monkeypatch, "run", "--sources-dir", str(tmp_path), "--start-month", "2025-01", "--end-month", "2025-06",
                   "--start", "2024-01", "--warehouse-url", f"sqlite:///{tmp_path / 'w.db'}")
    assert code == 1
    assert "outside the partitions 2025-01..2025-06" in capsys.readouterr().err


def test_formatting_helpers() -> None:
    from saas_metrics.cli.report import format_value

    assert format_value(0.0512, "ratio") == "5.1 %"
    assert format_value(21000.0, "currency") == "21,000"
    assert format_value(float("nan"), "count") == "–"
    assert format_value(3.25, "ratio", "ltv_to_cac") == "3.25x"


def test_run_never_generates_sample_data_into_a_users_folder(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from saas_metrics.cli.app import _has_source_files

    mine = tmp_path / "mine"
    mine.mkdir()
    code = run_cli(monkeypatch, "run", "--generate-if-missing", "--sources-dir", str(mine), "--end-month", "2025-06",
                   "--warehouse-url", f"sqlite:///{tmp_path / 'w.db'}")
    assert code == 1 and "no source files in" in capsys.readouterr().err
    assert list(mine.iterdir()) == []  # nothing written
    (mine / "subscription_periods.csv").write_text("subscription_id,customer_id,start_date,end_date,monthly_amount\n")
    assert _has_source_files(mine)  # a lone periods file at the top level is a source


def test_cli_replay_queues_a_range_once(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    from saas_metrics.alerts.outbox import Outbox
    from saas_metrics_tests.alerts.test_alert_history import seed_kpis

    warehouse_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    seed_kpis(warehouse_url)
    monkeypatch.setenv("SAAS_METRICS_WAREHOUSE_URL", warehouse_url)  # restored after the test
    monkeypatch.delenv("SAAS_METRICS_ALERT_RULES_FILE", raising=False)
    outbox = Outbox(Warehouse(warehouse_url).engine)

    assert run_cli(monkeypatch, "alerts", "replay", "--start", "2024-03", "--end", "2024-05", "--dry-run") == 0
    out = capsys.readouterr().out
    # The packaged rules: churn above 5 % (April, May) and LTV:CAC below 3 (May), shown as a multiple.
    assert "ltv_to_cac was 2.50x in 2024-05 (segment all), below the threshold 3.00x" in out
    assert "3 alert(s) for 2024-03..2024-05 (dry run: nothing queued)" in out
    assert outbox.read().empty

    assert run_cli(monkeypatch, "alerts", "replay", "--start", "2024-03", "--end", "2024-05") == 0
    assert "3 new alert(s) queued for 2024-03..2024-05 (0 were already in the outbox)" in capsys.readouterr().out
    assert set(outbox.read()["status"]) == {"pending"}
    assert run_cli(monkeypatch, "alerts", "replay", "--start", "2024-05") == 0
    assert "0 new alert(s) queued for 2024-05..2024-05 (2 were already in the outbox)" in capsys.readouterr().out
    assert len(outbox.read()) == 3

    assert run_cli(monkeypatch, "alerts", "replay", "--start", "2024-05", "--end", "2024-03") == 1
    assert "--end 2024-03 is before --start 2024-05" in capsys.readouterr().err


def test_ui_runs_dagster_dev_beside_the_docs_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    import socket
    import urllib.request

    with socket.socket() as probe:  # a free port for the docs server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SAAS_METRICS_REPORTS_DIR", str(tmp_path / "data" / "reports"))
    (tmp_path / "data" / "reports").mkdir(parents=True)
    (tmp_path / "data" / "reports" / "dashboard.html").write_text("<h1>kpis</h1>")
    seen: dict[str, object] = {}

    class DagsterDev:
        def __init__(self, args: list[str]) -> None:
            seen["args"] = args

        def wait(self) -> int:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/reports/dashboard.html", timeout=5) as response:
                seen["page"] = response.read().decode()  # served while dagster dev runs
            return 0

    monkeypatch.setattr("subprocess.Popen", DagsterDev)
    assert run_cli(monkeypatch, "ui", "--port", str(port), "--", "--port", "3333") == 0
    args = seen["args"]
    assert args[1:4] == ["-m", "dagster", "dev"] and args[-2:] == ["--port", "3333"]  # extra options go to dagster dev
    assert args[4] == "-w" and args[5].endswith("workspace.yaml")
    assert seen["page"] == "<h1>kpis</h1>"
    assert f"dashboard: http://127.0.0.1:{port}/reports/" in capsys.readouterr().out
    with socket.socket() as busy:  # the port is taken: one line and a hint, dagster dev not started
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        seen.clear()
        assert run_cli(monkeypatch, "ui", "--port", str(busy.getsockname()[1])) == 1
    err = capsys.readouterr().err
    assert "cannot serve the dashboard and Data Docs on port" in err and "SAAS_METRICS_DOCS_SERVER_PORT" in err
    assert seen == {}
