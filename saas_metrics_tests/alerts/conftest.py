"""Fixtures of the alert tests: a real HTTP webhook on 127.0.0.1 and a tiny alert frame."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from saas_metrics.alerts.evaluate import ALERT_COLUMNS


@dataclass
class Webhook:
    """A webhook receiver: fails the first ``fail_first`` requests with 503, never answers (``hang``),
    answers with ``status``, or answers only after ``delay`` seconds (the first ``slow_first`` requests;
    None: all). It takes each request it answers 2xx to, the slow ones too, and keeps in ``taken`` the
    Idempotency-Key of each request it acts on as a receiver honouring the key does: once per key."""

    fail_first: int = 0
    hang: bool = False
    status: int = 200
    delay: float = 0.0
    slow_first: int | None = None
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    @property
    def count(self) -> int:
        return len(self.requests)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.requests.append(json.loads(body))
            hook.headers.append(dict(self.headers))
            if hook.hang:
                hook.release.wait(10)  # never answers within the client's timeout
                return
            status = 503 if hook.count <= hook.fail_first else hook.status
            key = self.headers.get("Idempotency-Key")
            if 200 <= status < 300 and key and key not in hook.taken:
                hook.taken.append(key)
            if hook.delay and (hook.slow_first is None or hook.count <= hook.slow_first):
                hook.release.wait(hook.delay)  # answers after the client stopped waiting
            with contextlib.suppress(OSError):  # the client may have closed the connection by now
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token-abc"
    try:
        yield hook
    finally:
        hook.release.set()
        server.shutdown()
        server.server_close()


def _alert_rows(*subjects: str, rule: str = "churn_high") -> pd.DataFrame:
    rows = [{
        "dedupe_key": f"{rule}|2024-05|all|{s}", "rule": rule, "month": pd.Timestamp("2024-05-01"), "segment": "all",
        "subject": s, "value": 0.062, "threshold": 0.05, "severity": "warning", "owner": "cs",
        "message": f"[WARNING] {rule}: {s} was 6.20% in 2024-05 (segment all), above the threshold 5.00%. Owner: cs.",
    } for s in subjects]
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


@pytest.fixture
def alert_rows() -> Callable[..., pd.DataFrame]:
    """Alert frames with one row per subject (rule churn_high, May 2024)."""
    return _alert_rows
