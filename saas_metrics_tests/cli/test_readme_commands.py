"""Every command the README shows is run here or in test_readme_runs.py (a file of its own, so
that the two workers of `make test` run them side by side), through the installed entry points,
as a reader would type it (smaller data where the README's sizes would take minutes).

A command added to a README code block without a test here fails
:func:`test_every_readme_command_is_covered`."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from saas_metrics.calendar import add_months, last_complete_month
from saas_metrics.config import PROJECT_ROOT, Settings
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.jobs import JOB_NAME

README = PROJECT_ROOT / "README.md"
BIN = Path(sys.executable).parent

#: README command (the program and sub-command) -> the test that runs it.
COVERED = {
    "make run": "test_readme_runs.py::test_make_run_materialises_the_sample_data",
    "make test": ".ci/run runs it on every submission",
    "make ui": "saas_metrics_tests/bench/test_bench_smoke.py launches a month through the daemon `make ui` starts",
    "mkdir": "test_readme_runs.py::test_periods_export_runs_as_shown",
    "saas-metrics run": "test_defect_demo_runs_with_several_seeds",
    "saas-metrics generate-sample-data": "test_defect_demo_runs_with_several_seeds",
    "saas-metrics report": "test_report_formats_after_a_run",
}


def readme_commands(text: str) -> list[str]:
    """The commands of the README's ``bash`` code blocks: env assignments and comments dropped,
    ``a && b`` split, each reduced to its program (and sub-command)."""
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            for part in filter(None, (p.strip() for p in line.split("&&"))):
                words = [w for w in part.split() if not re.match(r"^[A-Z_]+=", w)]
                if not words:
                    continue
                program = Path(words[0]).name
                sub = words[1] if len(words) > 1 and not words[1].startswith("-") and program in ("make", "saas-metrics") else ""
                commands.append(f"{program} {sub}".strip())
    return commands


def test_every_readme_command_is_covered() -> None:
    commands = readme_commands(README.read_text())
    assert "make run" in commands and "saas-metrics generate-sample-data" in commands
    missing = sorted({c for c in commands if c not in COVERED and c != "cp"})
    assert not missing, f"README commands without a test in {__file__}: {missing}"



def _fresh_bytecode(source: Path) -> bool:
    """Whether ``source`` has a bytecode file the import system will load instead of compiling the
    source: Python's magic number, timestamp validation, and the source's mtime and size (PEP 552)."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    if not cached.is_file():
        return False
    header, stat = cached.read_bytes()[:16], source.stat()
    return (header[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(header[4:8], "little") == 0
            and int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF)


def test_make_install_compiles_the_package_bytecode() -> None:
    """`make install` (which `make run` and `make test` run first) leaves bytecode for every module
    of the package, even where PYTHONDONTWRITEBYTECODE stops processes from writing it: otherwise a
    run, the UI's run worker and the daemon each compile the whole package from source again."""
    recipe = subprocess.run(["make", "-n", "install"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    assert "compileall" in recipe, recipe
    if "pip install" in recipe:
        pytest.skip("this environment was not installed by `make install`; running it here would reinstall it")
    proc = subprocess.run(["make", "install"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    sources = sorted((PROJECT_ROOT / "saas_metrics").rglob("*.py"))
    assert len(sources) > 100
    stale = [str(s.relative_to(PROJECT_ROOT)) for s in sources if not _fresh_bytecode(s)]
    assert not stale, stale[:10]

def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A reader's shell: none of this test process's SAAS_METRICS_* settings, only the command's own.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SAAS_METRICS_")}
    full = {**inherited, "COLUMNS": "200", **env}
    return subprocess.run([str(BIN / args[0]), *args[1:]], env=full, cwd=cwd, capture_output=True, text=True,
                          timeout=900, check=False)


def _job_steps() -> int:
    """The number of steps of the job (one per node of its graph), as the run summary counts them."""
    return len(build_definitions(Settings()).resolve_job_def(JOB_NAME).graph.node_dict)


def _assert_clean_run(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = re.search(r"run \w+: (\d+) steps succeeded, (\d+) failed, (\d+) skipped", proc.stdout)
    assert summary is not None, proc.stdout[-2000:]
    # Every step of the job ran: one per source system, its freshness checks, and the metric assets.
    assert int(summary.group(1)) == _job_steps() and summary.group(2) == "0" and summary.group(3) == "0", summary.group(0)
    assert "Headline KPIs" in proc.stdout


@pytest.fixture(scope="module")
def defect_demo(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, dict[str, str]]]:
    """The README's data-quality demo for two seeds (the README's default 42 and another)."""
    out: dict[int, tuple[Path, dict[str, str]]] = {}
    start = add_months(last_complete_month(), -2).strftime("%Y-%m")
    for seed in (42, 7):
        root = tmp_path_factory.mktemp(f"defects{seed}")
        gen = _run(["saas-metrics", "generate-sample-data", "--defect-rate", "0.02", "--seed", str(seed),
                    "--customers", "40", "--months", "3", "--out", str(root / "defects")], {}, root)
        assert gen.returncode == 0, gen.stderr[-2000:]
        env = {"SAAS_METRICS_SOURCES_DIR": str(root / "defects"), "DAGSTER_HOME": str(root / "home"),
               "SAAS_METRICS_WAREHOUSE_URL": f"sqlite:///{root / 'defects.db'}", "SAAS_METRICS_START_MONTH": start,
               "SAAS_METRICS_DATA_DIR": str(root / "data")}
        proc = _run(["saas-metrics", "run"], env, root)
        _assert_clean_run(proc)
        out[seed] = (root, env)
    return out


def test_defect_demo_runs_with_several_seeds(defect_demo: dict[int, tuple[Path, dict[str, str]]]) -> None:
    assert sorted(defect_demo) == [7, 42]
    root, env = defect_demo[42]
    month = last_complete_month().strftime("%Y-%m")
    _assert_clean_run(_run(["saas-metrics", "run", "--start", month, "--end", month], env, root))


def test_report_formats_after_a_run(defect_demo: dict[int, tuple[Path, dict[str, str]]]) -> None:
    root, env = defect_demo[7]
    as_csv = _run(["saas-metrics", "report", "--format", "csv"], env, root)
    assert as_csv.returncode == 0 and as_csv.stdout.startswith("metric,unit,"), as_csv.stderr[-2000:]
    as_json = _run(["saas-metrics", "report", "--format", "json"], env, root)
    assert as_json.returncode == 0 and as_json.stdout.lstrip().startswith(("[", "{")), as_json.stderr[-2000:]
    html = _run(["saas-metrics", "report", "--html"], env, root)
    assert html.returncode == 0, html.stderr[-2000:]
    assert (root / "data" / "reports" / "dashboard.html").stat().st_size > 10_000
