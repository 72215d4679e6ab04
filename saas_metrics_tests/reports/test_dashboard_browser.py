"""The dashboard in a real browser: headless Chromium (Debian's, driven by Playwright)
renders every chart with no console error and no network request, and a screenshot is
saved to test-artifacts/dashboard.png for a person to look at.

scripts/install_chromium.sh installs the browser (the Makefile and CI run it first).
Without a browser the test skips locally but fails when CI=true.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from saas_metrics.reports.dashboard import (
    AT_RISK_TABLE_ID,
    CHART_IDS,
    KPI_CARDS_ID,
    build_dashboard,
)
from saas_metrics.reports.data import DashboardData

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO_ROOT / "test-artifacts" / "dashboard.png"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # --headless comes from headless=True, the fresh --user-data-dir from launch_persistent_context


def chromium_path() -> str | None:
    """$CHROMIUM_PATH when set, else Debian's /usr/bin/chromium or chromium on PATH."""
    explicit = os.environ.get("CHROMIUM_PATH")
    for candidate in [explicit] if explicit else ["/usr/bin/chromium", shutil.which("chromium")]:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def skip_or_fail(reason: str) -> None:
    """Skip locally; in CI (CI=true) a missing browser is a failure, never a silent skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run; run scripts/install_chromium.sh)")
    pytest.skip(f"{reason}; run scripts/install_chromium.sh")


def require_browser() -> str:
    """The Chromium executable, after checking that Playwright is importable (else skip, or fail in CI)."""
    executable = chromium_path()
    if executable is None:
        skip_or_fail(f"Chromium is not installed ({os.environ.get('CHROMIUM_PATH', '/usr/bin/chromium')})")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("the playwright package is not installed (pip install -e '.[dev]')")
    return str(executable)


# Every chart div has plotly's svg, drew at least one trace with data points, and has
# no 'no data' note in its section.
_RENDERED_JS = """
(ids) => ids.map((id) => {
  const gd = document.getElementById(id);
  if (!gd) return {id, ok: false, why: 'missing div'};
  const svg = gd.querySelector('svg.main-svg');
  const data = gd._fullData || [];  // decoded traces (gd.data may hold base64 typed arrays)
  const points = data.reduce((n, t) => n + ((t.y || t.z || t.x || []).length || 0), 0);
  const marks = gd.querySelectorAll('g.trace, g.hm, g.heatmaplayer image, .point, path.js-line').length;
  return {id, ok: !!svg && data.length > 0 && points > 0 && marks > 0,
          why: `svg=${!!svg} traces=${data.length} points=${points} marks=${marks}`};
})
"""


def test_dashboard_renders_in_headless_chromium(tmp_path: Path, dashboard_data: DashboardData) -> None:
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    page_path = build_dashboard(dashboard_data, tmp_path / "dashboard.html", title="SaaS metrics: synthetic data")
    console_errors: list[str] = []
    network: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.new_page()
            page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: console_errors.append(f"page error: {exc}"))
            page.on("request", lambda req: network.append(req.url) if not req.url.startswith(("file:", "data:", "blob:")) else None)
            page.goto(page_path.as_uri(), wait_until="load")
            ids = list(CHART_IDS.values())
            page.wait_for_function(
                "(ids) => ids.every((id) => document.querySelector(`#${id} svg.main-svg`))", arg=ids, timeout=30_000
            )
            rendered = page.evaluate(_RENDERED_JS, ids)
            cards = page.locator(f"#{KPI_CARDS_ID} .card").count()
            at_risk_rows = page.locator(f"#{AT_RISK_TABLE_ID} tbody tr").count()
            no_data_notes = page.locator(".no-data").count()
            funnel_ticks = page.eval_on_selector_all(
                f"#{CHART_IDS['funnel']} .xtick text", "(ticks) => ticks.map((t) => t.textContent)")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            context.close()

    assert console_errors == []
    assert network == []  # self-contained: works offline
    assert [r for r in rendered if not r["ok"]] == []
    assert cards == 7
    assert at_risk_rows == 6  # the synthetic latest month's at-risk accounts
    assert no_data_notes == 0
    # The funnel's log axis is labelled at powers of ten only (no stray 2, 5, 20, 50 ... ticks).
    assert funnel_ticks and set(funnel_ticks) <= {"1", "10", "100", "1k", "10k", "100k", "1M", "10M"}, funnel_ticks
    assert SCREENSHOT.stat().st_size > 50_000
