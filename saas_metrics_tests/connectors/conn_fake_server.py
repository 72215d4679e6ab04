"""A real HTTP server on 127.0.0.1 (ThreadingHTTPServer in a thread) driven by a route function,
with failure injection (first N responses) and request counting. No mocks of httpx."""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[0]


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Request, "FakeServer"], Response]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (the timeout test) has closed its socket before the delayed answer
        # is written: expected, and not worth a traceback in the test output.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeServer:
    """``with FakeServer(route) as server: server.url``. ``failures`` are answered (in order) before the route."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.failures: list[Response] = []
        self.requests: list[Request] = []
        self.served: Counter[str] = Counter()
        self.delay_first: float = 0.0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = Request(self.command, split.path, parse_qs(split.query, keep_blank_values=True),
                                  {k.lower(): v for k, v in self.headers.items()}, json.loads(raw) if raw else None)
                with server._lock:
                    server.requests.append(request)
                    failure = server.failures.pop(0) if server.failures else None
                    delay, server.delay_first = server.delay_first, 0.0
                if delay:
                    threading.Event().wait(delay)
                response = failure or server.route(request, server)
                payload = json.dumps(response.body).encode() if response.body is not None else b""
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def count(self, ids: list[str]) -> None:
        with self._lock:
            self.served.update(ids)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
