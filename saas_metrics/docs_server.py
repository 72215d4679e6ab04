"""A small static HTTP server for the dashboard and the GX Data Docs (standard library only).

``make ui`` (``saas-metrics ui``) starts it next to ``dagster dev`` so that the UI's
metadata links (:mod:`saas_metrics.links`) open: ``/reports/`` serves
``Settings.reports_dir``, ``/gx_docs/`` the Data Docs, ``/`` links both. It listens
on 127.0.0.1 unless told otherwise (``saas-metrics serve --host``) and sends ``Cache-Control: no-cache`` so a rebuilt page is
always fetched again.
"""

from __future__ import annotations

import html
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

from saas_metrics.config import Settings
from saas_metrics.links import served_roots


class DocsRequestHandler(SimpleHTTPRequestHandler):
    """Serves each URL prefix from its folder; anything else is 404 (no directory outside them)."""

    def __init__(self, *args: Any, roots: dict[str, Path], **kwargs: Any) -> None:
        self.roots = roots
        super().__init__(*args, directory=str(Path.cwd()), **kwargs)

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, root in self.roots.items():
            if clean.startswith(prefix):
                self.directory = str(root)
                # The base class decodes %-escapes and drops '..' segments: nothing above the root.
                return super().translate_path("/" + path[len(prefix):])
        return ""

    def send_head(self) -> BinaryIO | None:
        clean = self.path.split("?", 1)[0]
        if clean == "/":
            return self._index()
        if clean in {p.rstrip("/") for p in self.roots}:
            self.send_response(301)
            self.send_header("Location", clean + "/")
            self.end_headers()
            return None
        if not self.translate_path(self.path):
            self.send_error(404, "not a served folder")
            return None
        return super().send_head()

    def _index(self) -> BinaryIO:
        import io

        links = "".join(f'<li><a href="{html.escape(p)}">{html.escape(p)}</a> ({html.escape(str(r))})</li>'
                        for p, r in self.roots.items())
        body = f"<!doctype html><meta charset='utf-8'><title>saas_metrics</title><ul>{links}</ul>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # a quiet server next to dagster dev
        pass


def make_server(settings: Settings, port: int | None = None, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server for the settings' reports and Data Docs folders (``port`` 0: any free port)."""
    handler = partial(DocsRequestHandler, roots=served_roots(settings))
    server = ThreadingHTTPServer((host, settings.docs_server_port if port is None else port), handler)
    server.daemon_threads = True
    return server


def serve_in_background(settings: Settings, port: int | None = None, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start :func:`make_server` in a daemon thread; call ``shutdown()`` to stop it."""
    server = make_server(settings, port, host)
    threading.Thread(target=server.serve_forever, name="saas-metrics-docs", daemon=True).start()
    return server
