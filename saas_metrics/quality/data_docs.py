"""GX Data Docs of the latest validation of each table, offline, as static HTML.

Layout: ``<docs_dir>/<table>/index.html`` is a GX Data Docs site holding the
latest validation of that table's suite; ``<docs_dir>/index.html`` links every
table's site. Each build uses a throw-away ephemeral GX context (a few ms) so a
table's site shows exactly its latest validation, and concurrent steps that
validate different tables never overwrite each other's pages.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import html
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saas_metrics.atomic import write_text_atomically
from saas_metrics.gx_compat import share_compiled_gx_templates
from saas_metrics.quality.gx_import import import_great_expectations
from saas_metrics.quality.offline_docs import OFFLINE_VERSION, localise_site

if TYPE_CHECKING:
    from saas_metrics.quality.validate import ValidationOutcome

SITE_NAME = "saas_metrics"
INDEX_FILE = "index.html"
FINGERPRINT_FILE = ".fingerprint"


def validation_fingerprint(outcome: ValidationOutcome) -> str:
    """What a table's page shows, as a hash: row counts, success percent and every
    expectation's verdict, unexpected count and sample. Run-time values that change on
    every run without changing the verdicts (``now``) are left out, so an unchanged
    validation is not rendered again (rendering a page costs more than the validation it shows)."""
    content = {
        "table": outcome.table,
        "rows": len(outcome.annotated),
        "quarantined": len(outcome.quarantined),
        "success_percent": round(float(outcome.success_percent), 6),
        "expectations": [
            [e.expectation_type, e.column, e.rule, e.success, e.unexpected_count, [str(v) for v in e.sample], e.error]
            for e in outcome.expectations
        ],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _escaped(value: Any) -> Any:
    """``value`` with every string in it HTML-escaped (lists, tuples and dict values too)."""
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_escaped(v) for v in value)
    return value


def escaped_result(result: Any) -> Any:
    """A copy of a GX validation result whose observed data (each expectation's ``result``: unexpected
    values and counts, observed values) is HTML-escaped. GX puts those values into the Data Docs page
    as raw HTML (the sample table's cells), so a failing value ``<script>...</script>`` in a source
    file would run in the reader's browser; escaped, it shows as text. The expectations' own
    parameters are ours and GX escapes them itself."""
    escaped = copy.copy(result)
    escaped.results = []
    for res in result.results:
        one = copy.copy(res)
        one.result = _escaped(res.result or {})
        escaped.results.append(one)
    return escaped


def _build_table_site(table: str, gx_result: Any, site_dir: Path) -> Path:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # Deferred: GX takes seconds to import; a replay renders nothing. Imported by
    # import_great_expectations before share_compiled_gx_templates imports a part of it.
    import_great_expectations()
    share_compiled_gx_templates()
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    if gx_result is None:
        raise ValueError(f"the validation of {table} carries no GX result to render")
    result = escaped_result(gx_result)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        SITE_NAME,
        {
            "class_name": "SiteBuilder",
            # Absolute: GX refuses a relative base directory ("data/gx_docs" from a relative data dir).
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            # Accepted by the SiteBuilder at run time, though GX's TypedDict for the config omits it.
            "site_section_builders": {"expectations": "0", "profiling": "0"},  # type: ignore[typeddict-unknown-key]
        },
    )
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
        run_id=RunIdentifier(run_name=table, run_time=dt.datetime.now(dt.UTC)),
        batch_identifier=table,
    )
    context.validation_results_store.set(key, result)
    context.build_data_docs(site_names=[SITE_NAME])
    return site_dir / INDEX_FILE


def write_root_index(docs_dir: Path) -> Path:
    """``<docs_dir>/index.html``: a link to every table's site."""
    sites = sorted(p.parent for p in docs_dir.glob(f"*/{INDEX_FILE}"))
    items = "\n".join(
        f'<li><a href="{html.escape(site.name)}/{INDEX_FILE}">{html.escape(site.name)}</a> '
        f"(built {dt.datetime.fromtimestamp((site / INDEX_FILE).stat().st_mtime, dt.UTC):%Y-%m-%d %H:%M} UTC)</li>"
        for site in sites
    )
    return write_text_atomically(
        docs_dir / INDEX_FILE,
        "<!doctype html><html><head><meta charset='utf-8'><title>saas_metrics data docs</title></head>"
        f"<body><h1>saas_metrics: latest validation per table</h1><ul>\n{items}\n</ul></body></html>\n",
    )


def page_fingerprint(outcome: ValidationOutcome) -> str:
    """What decides whether a table's page is rendered again: the validation's fingerprint and the
    offline rewrite's version (pages built before it, with CDN links, are rendered again)."""
    return f"{validation_fingerprint(outcome)}|offline-{OFFLINE_VERSION}"


def render_table_page(table: str, gx_result: Any, fingerprint: str, docs_dir: Path | str) -> bool:
    """Render ``gx_result`` as the page of ``table`` under ``docs_dir`` unless the page already shows
    a validation of the same ``fingerprint`` (:func:`page_fingerprint`); True when it rendered. The
    root index is not rewritten (:func:`write_root_index`)."""
    site = Path(docs_dir) / table
    marker = site / FINGERPRINT_FILE
    if (site / INDEX_FILE).is_file() and marker.is_file() and marker.read_text() == fingerprint:
        return False  # the page already shows this validation
    _build_table_site(table, gx_result, site)
    localise_site(site, Path(docs_dir))  # GX's pages load their CSS/JS from CDNs: local copies instead
    marker.write_text(fingerprint)
    return True


def build_data_docs(outcomes: Iterable[ValidationOutcome], docs_dir: Path | str) -> Path:
    """Render the latest validation of each outcome's table under ``docs_dir`` and
    return the path of the root ``index.html`` (each table's page is
    ``<docs_dir>/<table>/index.html``). A table whose page already shows an identical
    validation (:func:`validation_fingerprint`) is not rendered again."""
    docs_dir = Path(docs_dir)
    docs_dir.mkdir(parents=True, exist_ok=True)
    changed = False
    for outcome in outcomes:
        changed |= render_table_page(outcome.table, outcome.gx_result, page_fingerprint(outcome), docs_dir)
    index = docs_dir / INDEX_FILE
    return write_root_index(docs_dir) if changed or not index.is_file() else index


def table_docs_index(docs_dir: Path | str, table: str) -> Path:
    """Where the Data Docs page of ``table`` lives."""
    return Path(docs_dir) / table / INDEX_FILE
