"""Import Great Expectations without loading the modules it imports only for expectations we never use.

Importing ``great_expectations`` imports every expectation class it ships. One of them,
``ExpectColumnKlDivergenceToBeLessThan``, imports SciPy's statistics (``from scipy import stats``)
and Altair (``import altair as alt``) at module level, and the two KS-test metrics import
``scipy.stats`` too; each uses them only inside methods that run when such an expectation is
validated or rendered. None of our suites uses them (:mod:`saas_metrics.quality.expectations`),
yet the two imports were about 1 s of GX's 2 s import: paid by the first validating step of every
run, which is most of the fixed cost of a small month. In the same way the JSON-schema expectation
imports ``jsonschema`` and GX's notebook and cloud renderers import ``mistune``: another ~50 ms.

:func:`import_great_expectations` imports GX with those modules *deferred*: while GX imports,
a meta path finder hands the import system each of them with the standard library's
:class:`importlib.util.LazyLoader`, which creates the module object but runs its code only on the
first attribute access. Nothing of GX is patched, and the modules are the real ones: should an
expectation ever call ``stats.entropy`` or ``alt.Chart``, that access loads the module in full
and the call proceeds as it would have. The finder is on ``sys.meta_path`` only during GX's own
import, and only for the names in :data:`DEFERRED_MODULES`; a module already imported is left
as it is.

What keeps working if GX changes: every import still succeeds, and the worst case is the old
cost (a GX release that uses one of the modules at import loads it then). That would go
unnoticed, so ``saas_metrics_tests/quality/test_quality_gx_import.py`` validates and renders a
table in a fresh interpreter and fails when any of the modules has been loaded.

One limit of Python 3.11's ``LazyLoader``: two threads making the first access to the same
deferred module at once can race (fixed in 3.12.3). Nothing in this project uses these modules;
a step validates on one thread.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from functools import cache
from types import ModuleType

from saas_metrics.heap import collector_paused, freeze_new_long_lived_objects

#: Modules GX imports at import time only for expectations and renderers we do not use: SciPy's
#: statistics and Altair (the KL-divergence and KS-test expectations), jsonschema (the JSON-schema
#: expectation; with the ``referencing`` registry it loads, ~36 ms) and mistune (Markdown in
#: notebook and cloud renderers, ~14 ms).
DEFERRED_MODULES: tuple[str, ...] = ("scipy.stats", "altair", "jsonschema", "mistune")


class DeferringFinder(importlib.abc.MetaPathFinder):
    """A meta path finder that gives each module of ``names`` the spec the other finders give it,
    with its loader wrapped in :class:`importlib.util.LazyLoader` (the module's code runs on its
    first attribute access). Any other name, or a module whose loader cannot be wrapped (no
    ``exec_module``), is left to the other finders."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return None  # a namespace package or an old-style loader: imported as usual
            spec.loader = importlib.util.LazyLoader(spec.loader)
            return spec
        return None


@cache
def import_great_expectations() -> ModuleType:
    """The ``great_expectations`` module, imported with :data:`DEFERRED_MODULES` deferred (see the
    module docstring). Every place that may be the first to import GX calls this first.

    The import creates a few hundred thousand objects that live as long as the process: the cyclic
    collector is paused while it runs (it triggered two full collections, walking the whole heap
    for nothing) and, in a run that froze its heap (:func:`saas_metrics.heap.frozen_heap`), they
    are frozen with it, so the run's later full collections skip them (``saas_metrics/heap.py``)."""
    finder = DeferringFinder(DEFERRED_MODULES)
    sys.meta_path.insert(0, finder)
    try:
        with collector_paused():
            import great_expectations
    finally:
        sys.meta_path.remove(finder)
    freeze_new_long_lived_objects()
    return great_expectations


def is_loaded(name: str) -> bool:
    """Whether the code of module ``name`` has run in this process (a deferred module that nothing
    has used yet is in ``sys.modules`` but not loaded)."""
    module = sys.modules.get(name)
    # A module still deferred is of LazyLoader's module class until its first attribute access,
    # which turns it into a plain module; type() does not count as an access.
    return module is not None and type(module) is ModuleType
