"""Loading the definitions stays light: Great Expectations and plotly are imported by the steps
that use them (validation, the dashboard), never by the definitions themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import saas_metrics

REPO = Path(saas_metrics.__file__).resolve().parents[1]
HEAVY = ("great_expectations", "plotly")


def imported_after(code: str) -> dict[str, bool]:
    """Which of HEAVY a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_loading_and_building_the_definitions_imports_neither_gx_nor_plotly(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "import saas_metrics.definitions\n"
        "from saas_metrics.config import Settings\n"
        f"saas_metrics.definitions.build_definitions(Settings(sources_dir=Path({str(tmp_path)!r}), "
        f"warehouse_url='sqlite:///{tmp_path}/w.db'))"
    )
    assert imported_after(code) == {"great_expectations": False, "plotly": False}
