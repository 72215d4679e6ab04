"""The UI's links: http URLs on the docs server, and the server that answers them."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from saas_metrics.config import Settings, get_settings
from saas_metrics.docs_server import serve_in_background
from saas_metrics.links import data_docs_page_url, data_docs_root, docs_base_url, link_url


def settings_in(tmp_path: Path, **kwargs: object) -> Settings:
    return Settings(reports_dir=tmp_path / "data" / "reports", warehouse_url=f"sqlite:///{tmp_path / 'w.db'}", **kwargs)


def test_links_point_at_the_docs_server(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    assert docs_base_url(settings) == "http://127.0.0.1:3001"
    assert data_docs_root(settings) == tmp_path / "data" / "gx_docs"
    assert link_url(tmp_path / "data" / "reports" / "dashboard.html", settings) == "http://127.0.0.1:3001/reports/dashboard.html"
    assert link_url(tmp_path / "data" / "gx_docs" / "fx rates" / "index.html", settings) == (
        "http://127.0.0.1:3001/gx_docs/fx%20rates/index.html")
    # A file outside the served folders keeps its file URI (nothing would serve it).
    assert link_url(tmp_path / "elsewhere.html", settings) == (tmp_path / "elsewhere.html").resolve().as_uri()
    assert data_docs_page_url(Path("/anywhere/gx_docs/billing_payments/index.html"), settings) == (
        "http://127.0.0.1:3001/gx_docs/billing_payments/index.html")


def test_base_url_and_port_are_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert docs_base_url(settings_in(tmp_path, docs_server_port=8123)) == "http://127.0.0.1:8123"
    proxied = settings_in(tmp_path, docs_base_url="https://metrics.example.com/docs/")
    assert link_url(tmp_path / "data" / "reports" / "dashboard.html", proxied) == "https://metrics.example.com/docs/reports/dashboard.html"
    monkeypatch.setenv("SAAS_METRICS_DOCS_SERVER_PORT", "3999")
    get_settings.cache_clear()
    assert docs_base_url() == "http://127.0.0.1:3999"
    with pytest.raises(ValueError, match="docs_server_port"):
        Settings(docs_server_port=70000)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    settings = settings_in(tmp_path)
    (settings.reports_dir).mkdir(parents=True)
    (settings.reports_dir / "dashboard.html").write_text("<h1>dashboard</h1>")
    (data_docs_root(settings) / "fx_rates").mkdir(parents=True)
    (data_docs_root(settings) / "fx_rates" / "index.html").write_text("<h1>fx</h1>")
    (tmp_path / "data" / "secret.txt").write_text("not served")
    server = serve_in_background(settings, port=0)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", settings
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, "", dict(exc.headers)


def test_server_serves_the_reports_and_the_data_docs_only(served: tuple[str, Settings]) -> None:
    base, _ = served
    status, body, headers = get(f"{base}/reports/dashboard.html")
    assert (status, body) == (200, "<h1>dashboard</h1>") and headers["Cache-Control"] == "no-cache"
    assert get(f"{base}/gx_docs/fx_rates/index.html")[:2] == (200, "<h1>fx</h1>")
    assert get(f"{base}/gx_docs/fx_rates/")[:2] == (200, "<h1>fx</h1>")  # a folder's index.html
    index = get(f"{base}/")
    assert index[0] == 200 and 'href="/reports/"' in index[1] and 'href="/gx_docs/"' in index[1]
    # Nothing outside the two folders: another path, or '..' out of a served folder.
    assert get(f"{base}/secret.txt")[0] == 404
    assert get(f"{base}/reports/../secret.txt")[0] == 404
    assert get(f"{base}/reports/%2e%2e/secret.txt")[0] == 404
    assert get(f"{base}/reports/missing.html")[0] == 404
