"""The UI's links open: the dashboard and GX Data Docs URLs that the kpi_dashboard asset and the
GX checks record point at the docs server (`make ui`), and headless Chromium renders both styled
from there with every request answered by that server (nothing from a CDN, nothing failing)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from saas_metrics.compat import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from saas_metrics.config import get_settings
from saas_metrics.definitions import build_definitions
from saas_metrics.defs.jobs import JOB_NAME
from saas_metrics.defs.partitions import partition_key
from saas_metrics.docs_server import serve_in_background
from saas_metrics_tests.conftest import END_MONTH
from saas_metrics_tests.integration.helpers import make_settings
from saas_metrics_tests.reports.test_dashboard_browser import (
    CHROMIUM_FLAGS,
    chromium_path,
    skip_or_fail,
)

pytestmark = pytest.mark.browser

# Bootstrap styles the body (its system font stack, not the browser's serif default);
# bootstrap-table wraps the tables it builds (so its JS ran).
_STYLE_JS = """() => ({
  font: getComputedStyle(document.body).fontFamily,
  tables: document.querySelectorAll('.bootstrap-table').length,
  header: document.querySelector('header') ? getComputedStyle(document.querySelector('header')).backgroundImage : '',
})"""


def recorded_links(instance: dg.DagsterInstance, defs: dg.Definitions) -> tuple[str, str]:
    """The dashboard URL of kpi_dashboard's materialisation and the Data Docs URL of raw_fx_rates' checks."""
    event = instance.get_latest_materialization_event(dg.AssetKey("kpi_dashboard"))
    dashboard = event.asset_materialization.metadata["url"].value
    docs = set()
    for key in defs.get_repository_def().asset_graph.asset_check_keys:
        if key.asset_key == dg.AssetKey("raw_fx_rates"):
            for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=1):
                metadata = record.event.dagster_event.event_specific_data.metadata
                if "data_docs_url" in metadata:
                    docs.add(metadata["data_docs_url"].value)
    assert len(docs) == 1, docs
    return dashboard, docs.pop()


def open_page(context, url: str, origin: str) -> dict:  # type: ignore[no-untyped-def]
    page = context.new_page()
    failed: list[str] = []
    foreign: list[str] = []
    errors: list[str] = []
    page.on("requestfailed", lambda req: failed.append(f"{req.url}: {req.failure}"))
    page.on("response", lambda resp: failed.append(f"{resp.url}: HTTP {resp.status}") if resp.status >= 400 else None)
    page.on("request", lambda req: foreign.append(req.url) if not req.url.startswith((origin, "data:", "blob:")) else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="networkidle")
    return {"page": page, "failed": failed, "foreign": foreign, "errors": errors, "style": page.evaluate(_STYLE_JS)}


def test_dashboard_and_data_docs_open_from_the_ui_links(tmp_path: Path, small_sources: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    executable = chromium_path()
    if executable is None:
        skip_or_fail("Chromium is not installed (/usr/bin/chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install -e '.[dev]')")

    settings = make_settings(small_sources, f"sqlite:///{tmp_path / 'warehouse.db'}", start=END_MONTH, end=END_MONTH,
                             reports_dir=tmp_path / "data" / "reports")
    server = serve_in_background(settings, port=0)  # a free port, as `make ui` serves 3001
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("SAAS_METRICS_DOCS_BASE_URL", origin)
    get_settings.cache_clear()
    settings = settings.model_copy(update={"docs_base_url": origin})
    try:
        defs = build_definitions(settings)
        with dg.instance_for_test() as instance:
            month = partition_key(END_MONTH)
            result = defs.resolve_job_def(JOB_NAME).execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey("raw_fx_rates"), dg.AssetKey("kpi_dashboard")],
                tags={ASSET_PARTITION_RANGE_START_TAG: month, ASSET_PARTITION_RANGE_END_TAG: month},
            )
            assert result.success
            dashboard_url, docs_url = recorded_links(instance, defs)
        assert dashboard_url == f"{origin}/reports/dashboard.html"
        assert docs_url == f"{origin}/gx_docs/fx_rates/index.html"

        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                user_data_dir=str(tmp_path / "chromium-profile"), executable_path=executable, headless=True,
                args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000},
            )
            try:
                dashboard = open_page(context, dashboard_url, origin)
                docs = open_page(context, docs_url, origin)
                # The site's index lists its validations in a bootstrap-table whose rows open the
                # validation page: click the first, as a reader does (same page, same listeners).
                with docs["page"].expect_navigation(wait_until="networkidle"):
                    docs["page"].locator(".ge-index-page-validation-results-table tbody tr").first.click()
                validation_url = docs["page"].url
                validation_style = docs["page"].evaluate(_STYLE_JS)
            finally:
                context.close()
    finally:
        server.shutdown()
        server.server_close()

    for name, opened in (("dashboard", dashboard), ("data docs and validation page", docs)):
        assert opened["failed"] == [], name
        assert opened["foreign"] == [], name  # every file from the docs server: offline
        assert opened["errors"] == [], name
    assert "linear-gradient" in dashboard["style"]["header"]
    assert validation_url.startswith(f"{origin}/gx_docs/fx_rates/validations/")
    for style in (docs["style"], validation_style):
        assert style["font"].startswith("-apple-system")  # Bootstrap's font stack, not the browser's serif
        assert style["tables"] >= 1  # bootstrap-table's JS built the tables
