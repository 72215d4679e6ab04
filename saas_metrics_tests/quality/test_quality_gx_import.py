"""Great Expectations is imported with SciPy's statistics, Altair, jsonschema and mistune deferred
(quality/gx_import.py).

The deferral saves about 1 s of every run that validates, and nothing in GX is patched to get
it, so a GX release that starts using one of the modules at import or in a validation would
silently take that time back. The first test watches for that in a fresh interpreter (this process
may have loaded the modules through other tests) and fails loudly when it happens.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import saas_metrics
from saas_metrics.quality.gx_import import DEFERRED_MODULES, DeferringFinder, is_loaded

PROJECT_ROOT = Path(saas_metrics.__file__).resolve().parents[1]

#: Validates a payments frame with one bad row (a failing expectation: the BOOLEAN_ONLY pass, then
#: the COMPLETE pass) and renders its Data Docs page, the GX work of a real raw step, then uses
#: every deferred module. Prints what it saw as JSON.
_SCRIPT = r"""
import json, sys
from pathlib import Path
from saas_metrics.quality.gx_import import DEFERRED_MODULES, is_loaded
before = {name: name in sys.modules for name in DEFERRED_MODULES}
from saas_metrics.config import QualityPolicy
from saas_metrics.quality.validate import validate_table
from saas_metrics_tests.quality.quality_frames import canonical, context, payment

frame = canonical("billing_payments", [payment(), payment("py_2", amount=-5.0)])
outcome = validate_table(frame, context(policy=QualityPolicy(data_docs=True), data_docs_dir=Path(sys.argv[1])))
seen = {
    "before": before,
    "gx_imported": "great_expectations" in sys.modules,
    "after_validation": {name: is_loaded(name) for name in DEFERRED_MODULES},
    "heavy_submodules": sorted(n for n in ("scipy.stats._stats_py", "altair.vegalite") if n in sys.modules),
    "quarantined": len(outcome.quarantined),
    "docs": str(outcome.data_docs_index),
}
from scipy import stats
import altair
import jsonschema
import mistune
seen["entropy"] = float(stats.entropy([0.5, 0.5], [0.9, 0.1]))
seen["altair_chart"] = altair.Chart.__name__
seen["jsonschema_errors"] = [e.message for e in jsonschema.Draft202012Validator({"type": "integer"}).iter_errors("7")]
seen["markdown"] = mistune.html("*deferred*")
seen["after_use"] = {name: is_loaded(name) for name in DEFERRED_MODULES}
print("SEEN " + json.dumps(seen))
"""


def _run_fresh(tmp_path: Path) -> dict[str, object]:
    env = dict(os.environ, GX_ANALYTICS_ENABLED="false",
               PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "docs")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SEEN ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    seen: dict[str, object] = json.loads(lines[-1].removeprefix("SEEN "))
    return seen


def test_a_validation_and_its_data_docs_never_load_the_deferred_modules(tmp_path: Path) -> None:
    seen = _run_fresh(tmp_path)
    # The check below means something only if nothing had loaded them before GX.
    assert seen["before"] == dict.fromkeys(DEFERRED_MODULES, False)
    assert seen["gx_imported"] is True
    assert seen["quarantined"] == 1  # the negative amount: GX really ran, failing expectation included
    assert Path(str(seen["docs"])).is_file()
    # Fails when GX starts using SciPy's statistics or Altair at import or in our validations: the
    # deferral then no longer saves anything (see quality/gx_import.py).
    assert seen["after_validation"] == dict.fromkeys(DEFERRED_MODULES, False), (
        "Great Expectations now loads a deferred module; drop it from DEFERRED_MODULES or find who uses it")
    assert seen["heavy_submodules"] == []
    # Deferred, not removed: the first use loads the real module.
    # KL(p || q) for p = (1/2, 1/2), q = (9/10, 1/10): 1/2 ln(5/9) + 1/2 ln 5 = 0.5108256...
    assert seen["entropy"] == pytest.approx(0.5 * math.log(5 / 9) + 0.5 * math.log(5), abs=1e-12)
    assert seen["altair_chart"] == "Chart"
    assert seen["jsonschema_errors"] == ["'7' is not of type 'integer'"]
    assert seen["markdown"] == "<p><em>deferred</em></p>\n"
    assert seen["after_use"] == dict.fromkeys(DEFERRED_MODULES, True)


def test_the_finder_defers_only_the_named_modules(tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    for name in ("deferred_probe", "eager_probe"):
        (tmp_path / f"{name}.py").write_text(
            f"from pathlib import Path\nPath({str(ran)!r}).open('a').write('{name}\\n')\nVALUE = 42\n")
    finder = DeferringFinder(["deferred_probe"])
    sys.path.insert(0, str(tmp_path))
    sys.meta_path.insert(0, finder)
    try:
        deferred = importlib.import_module("deferred_probe")
        eager = importlib.import_module("eager_probe")
        assert ran.read_text() == "eager_probe\n"  # the named module's code has not run
        assert not is_loaded("deferred_probe") and is_loaded("eager_probe")
        assert deferred.VALUE == 42 and eager.VALUE == 42  # its first attribute access runs it
        assert ran.read_text() == "eager_probe\ndeferred_probe\n"
        assert is_loaded("deferred_probe")
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(tmp_path))
        for name in ("deferred_probe", "eager_probe"):
            sys.modules.pop(name, None)


def test_a_module_no_finder_can_load_is_left_to_the_import_system() -> None:
    finder = DeferringFinder(["no_such_module_anywhere"])
    assert finder.find_spec("no_such_module_anywhere", None) is None
    assert finder.find_spec("json", None) is None  # not a deferred name
    assert is_loaded("json") and not is_loaded("no_such_module_anywhere")
