"""Every use of an API that Great Expectations does not publish (Dagster's are in
:mod:`saas_metrics.compat`). Apart so that the GX companion process (:mod:`saas_metrics.quality.companion`),
which validates and renders Data Docs, does not import Dagster. Great Expectations is held to 1.x
in pyproject.toml; on an upgrade, check this module (the tests that cover each use are named beside it).
"""

from __future__ import annotations

from functools import cache
from typing import Any


class _MemoryBytecodeCache:
    """Jinja bytecode kept in memory, keyed by template name and source checksum (Jinja's own key)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Any) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Any) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


@cache
def share_compiled_gx_templates() -> None:
    """Make GX's Data Docs views share one Jinja bytecode cache, so each template is compiled once
    per process. Replaces: ``DefaultJinjaView.__init__`` (great_expectations.render.view.view, not
    a public module), wrapped to set ``env.bytecode_cache``. Why no public API serves: GX builds a new
    Jinja environment for every page it renders and offers no option for its cache, so without the
    patch it compiled its templates again for every table's page. Rendering itself is unchanged.
    (saas_metrics_tests/quality/test_quality_dagster_checks.py)"""
    # Deferred: Great Expectations loads on the first validation, not when this module is imported.
    import jinja2
    from great_expectations.render.view.view import DefaultJinjaView

    shared = type("SharedBytecodeCache", (_MemoryBytecodeCache, jinja2.BytecodeCache), {})()
    original_init = DefaultJinjaView.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.env.bytecode_cache = shared

    DefaultJinjaView.__init__ = __init__  # type: ignore[method-assign]


