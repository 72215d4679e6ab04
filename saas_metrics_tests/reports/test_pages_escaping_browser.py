"""No data value runs as script on any generated page.

Script payloads are planted in every text column of every source file of a small simulated
company; the pipeline runs through the CLI (Data Docs on) and ``report --html`` writes the
dashboard. Headless Chromium then opens the dashboard and every Data Docs page: no planted script
may run (each payload records itself in ``window.__xss`` and would open an alert), and the Data
Docs must show at least one payload as text, so the values did reach the pages.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics_tests.cli.test_cli import run_cli
from saas_metrics_tests.reports.test_dashboard_browser import CHROMIUM_FLAGS, require_browser

pytestmark = pytest.mark.browser

END = dt.date(2025, 6, 1)
#: What every payload does when it runs: the page's window.__xss lists the ones that ran.
_RAN = "window.__xss=(window.__xss||[]).concat('{tag}')"
PAYLOADS = (
    "<script>" + _RAN + "</script>",
    '"><img src=x onerror="' + _RAN + '">',
    "<svg onload=\"" + _RAN + "\"></svg>",
)


def _is_text(values: pd.Series) -> bool:
    """A column of words, ids or codes: not numbers, not dates, not empty."""
    filled = values[values != ""]
    if filled.empty:
        return False
    numbers = pd.to_numeric(filled, errors="coerce").notna().mean()
    dates = pd.to_datetime(filled, errors="coerce", format="mixed").notna().mean()
    return numbers < 0.5 and dates < 0.5


def plant_payloads(sources: Path) -> int:
    """Put a payload into one row of every text column of every source file; returns how many."""
    planted = 0
    for path in sorted(sources.rglob("*.csv")):
        if path.parent.name.startswith("_"):  # the simulator's ground truth, not a source
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if frame.empty:
            continue
        for i, column in enumerate(frame.columns):
            if _is_text(frame[column]):
                tag = f"{path.stem}.{column}"
                frame.loc[(i * 7) % len(frame), column] = PAYLOADS[planted % len(PAYLOADS)].format(tag=tag)
                planted += 1
        frame.to_csv(path, index=False)
    return planted


def test_planted_scripts_run_on_no_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable = require_browser()
    from playwright.sync_api import sync_playwright

    from saas_metrics.sample_data import generate

    sources, out = tmp_path / "sources", tmp_path / "out"
    generate(sources, seed=5, customers=40, months=3, end_month=END)
    assert plant_payloads(sources) >= 60
    monkeypatch.setenv("SAAS_METRICS_REPORTS_DIR", str(out / "reports"))
    monkeypatch.setenv("SAAS_METRICS_LANDING_CACHE_DIR", str(out / "landing_cache"))
    # A payload in a price id leaves many subscription items without their price: that would block
    # the run (integrity check) before the metrics the dashboard shows.
    monkeypatch.setenv("SAAS_METRICS_QUALITY__UNRESOLVED_MAX_FRACTION", "1")
    warehouse = f"sqlite:///{tmp_path / 'w.db'}"
    assert run_cli(monkeypatch, "run", "--sources-dir", str(sources), "--warehouse-url", warehouse,
                   "--start-month", "2025-04", "--end-month", "2025-06") == 0
    assert run_cli(monkeypatch, "report", "--warehouse-url", warehouse, "--html") == 0
    pages = sorted((out / "reports").glob("*.html")) + sorted((out / "gx_docs").rglob("*.html"))
    assert (out / "reports" / "dashboard.html") in pages and len(pages) > 10

    ran: dict[str, object] = {}
    dialogs: list[str] = []
    shown_as_text = 0
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"), executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            # Offline: Data Docs link their CSS and JS from CDNs; only the files themselves load.
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
            page = context.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            for path in pages:
                page.goto(path.as_uri(), wait_until="load")
                page.wait_for_timeout(50)  # let onerror/onload handlers of broken images fire
                result = page.evaluate("() => window.__xss || null")
                if result:
                    ran[str(path.relative_to(out))] = result
                shown_as_text += page.evaluate("() => document.body.innerText.includes(\"concat('\")")
        finally:
            context.close()
    assert ran == {} and dialogs == []
    assert shown_as_text > 0  # some planted payload reached a page, as text
