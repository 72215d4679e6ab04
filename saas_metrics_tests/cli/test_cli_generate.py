"""`saas-metrics generate-sample-data` never overwrites files it did not write."""

from __future__ import annotations

from pathlib import Path

import pytest

from saas_metrics_tests.cli.test_cli import run_cli

SMALL = ("--customers", "5", "--months", "2", "--end-month", "2025-06")


def test_a_folder_with_other_files_is_refused_unless_forced(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "billing").mkdir(parents=True)
    export = out / "billing" / "invoices.csv"
    export.write_text("id,total\nin_real,100\n")
    assert run_cli(monkeypatch, "generate-sample-data", "--out", str(out), *SMALL) == 1
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "did not write: billing/invoices.csv" in err and "--force" in err
    assert export.read_text() == "id,total\nin_real,100\n" and [p.name for p in out.rglob("*")] == ["billing", "invoices.csv"]
    assert run_cli(monkeypatch, "generate-sample-data", "--out", str(out), "--force", *SMALL) == 0
    assert (out / "billing" / "customers.csv").is_file()


def test_the_configured_sources_folder_is_written_only_when_named(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    mine = tmp_path / "exports"
    mine.mkdir()
    monkeypatch.setenv("SAAS_METRICS_SOURCES_DIR", str(mine))
    assert run_cli(monkeypatch, "generate-sample-data", *SMALL) == 1
    assert "is not the project's data/sources" in " ".join(capsys.readouterr().err.split())  # unwrapped
    assert list(mine.iterdir()) == []
    assert run_cli(monkeypatch, "generate-sample-data", "--out", str(mine), *SMALL) == 0  # named: an empty folder is fine
    assert (mine / "fx" / "rates.csv").is_file()
