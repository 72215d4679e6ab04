"""Links the Dagster UI shows for the dashboard and the GX Data Docs: http URLs on the
local docs server (:mod:`saas_metrics.docs_server`, started by ``make ui``), because a
browser refuses ``file://`` links from an http page.

The server serves ``Settings.reports_dir`` under ``/reports/`` and the Data Docs
(``gx_docs`` next to it) under ``/gx_docs/``; links use ``Settings.docs_base_url``
(default ``http://127.0.0.1:<docs_server_port>``).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from saas_metrics.config import Settings, get_settings

REPORTS_PREFIX = "/reports/"
GX_DOCS_PREFIX = "/gx_docs/"


def docs_base_url(settings: Settings | None = None) -> str:
    """The docs server's base URL, without a trailing slash."""
    settings = settings or get_settings()
    return (settings.docs_base_url or f"http://127.0.0.1:{settings.docs_server_port}").rstrip("/")


def data_docs_root(settings: Settings) -> Path:
    """Where GX Data Docs are built: ``gx_docs`` next to the reports folder (``data/gx_docs``)."""
    return Path(settings.reports_dir).parent / "gx_docs"


def served_roots(settings: Settings) -> dict[str, Path]:
    """URL prefix -> folder, as the docs server serves them."""
    return {REPORTS_PREFIX: Path(settings.reports_dir), GX_DOCS_PREFIX: data_docs_root(settings)}


def link_url(path: Path | str, settings: Settings | None = None) -> str:
    """The http URL of a file under a served folder; a ``file://`` URI for any other file."""
    settings = settings or get_settings()
    resolved = Path(path).resolve()
    for prefix, root in served_roots(settings).items():
        try:
            relative = resolved.relative_to(root.resolve())
        except ValueError:
            continue
        return f"{docs_base_url(settings)}{prefix}{quote(relative.as_posix())}"
    return resolved.as_uri()


def data_docs_page_url(index: Path | str, settings: Settings | None = None) -> str:
    """The URL of a table's Data Docs page ``<docs dir>/<table>/index.html``: its place under
    ``/gx_docs/`` is its table folder, wherever the run wrote the docs (a run and the docs
    server of one deployment share the same folder)."""
    index = Path(index)
    return f"{docs_base_url(settings)}{GX_DOCS_PREFIX}{quote(index.parent.name)}/{quote(index.name)}"
